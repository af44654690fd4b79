// Writing messages: forwarded requests and responses (RFC 3261 §16.6, §16.7) and locally
// generated responses (§8.2.6), into a caller-provided buffer. Never allocates. The parts
// not named here are copied byte for byte from the received message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sip/contact_alias.hpp"
#include "sip/message.hpp"

namespace sipline::sip {

enum class WriteError : std::uint8_t {
  None = 0,
  BufferTooSmall,
  NotARequest,
  NotAResponse,
  NoViaToPop
};

struct Written {
  std::size_t size = 0;
  WriteError error = WriteError::None;
  bool ok() const { return error == WriteError::None; }
};

// The Via we push (§16.6 step 8): "Via: SIP/2.0/<transport> <sent_by>;branch=<branch>[;rport]".
struct OurVia {
  std::string_view transport = "UDP";
  std::string_view sent_by;  // "192.0.2.1:5060" or "[2001:db8::1]:5060"
  std::string_view branch;
  bool rport = true;  // RFC 3581: ask the next hop to answer to our source port
};

struct RequestEdits {
  OurVia via;
  std::string_view request_uri;       // empty: keep the received Request-URI
  std::string_view record_route_uri;  // empty: none; else "Record-Route: <uri;lr>" on top
  // Route edits (§16.4, §16.6 step 7), over the Route values in order across all Route lines:
  std::uint8_t pop_top_routes = 0;    // values removed from the top: ours, a strict router's
  bool pop_last_route = false;        // the last value (a strict router sent it as our R-URI)
  bool drop_routes = false;           // every value: a preloaded route not followed
  std::string_view append_route_uri;  // empty: none; else "Route: <uri>" after the last Route
  // Applied to the sender's (top) Via, §18.2.1 and RFC 3581 §4: ";received=<received>" is
  // appended to it when `received` is not empty, and its valueless ";rport" becomes
  // ";rport=<rport>" when rport is not 0. sender_via_stamp() (proxy_rules.hpp) decides both.
  std::string_view received;
  std::uint16_t rport = 0;
  // Complete header lines, each ending in CRLF, written after the received Via lines and
  // before any received Diversion line: our Diversion (RFC 5806 §4: the newest first).
  std::string_view leading_headers;
  // Complete header lines, each ending in CRLF, written after the received ones (our
  // Proxy-Authorization answering a pool member's challenge, §22.2).
  std::string_view extra_headers;
  // Proxy-Authorization lines whose Digest realm is this one are not copied: credentials for
  // our own realm were for us (RFC 7235 §4.4: consumed by the proxy that asked for them),
  // and the next hop must not get them. Empty: every line is copied.
  std::string_view consumed_realm;
  // P-Asserted-Identity and P-Preferred-Identity lines are not copied (RFC 3325 §5: from a
  // source outside the trust domain).
  bool drop_identity = false;
  // Our "P-Asserted-Identity: ...\r\n" line (RFC 3325 §9.1), written before extra_headers
  // in place of every received identity line. Empty: none.
  std::string_view asserted_identity;
  // ";alias=..." after the first Contact's URI (contact_alias.hpp); none when its line is null.
  ContactAliasEdit contact_alias;
  // "Session-Expires: N" after the received lines (RFC 4028 §8.1: a proxy asks for a session
  // timer on a request that has none, without a refresher parameter). 0: none.
  std::uint32_t session_expires = 0;
};

// §16.6: push our Via on top, decrement Max-Forwards (insert 70 when absent), add
// Record-Route, apply the Route edits, replace the Request-URI. Only `message` is written
// (extra octets past Content-Length are dropped).
Written write_forwarded_request(const Message& request, const RequestEdits& edits,
                                std::span<char> out);

struct ResponseEdits {
  // P-Asserted-Identity and P-Preferred-Identity lines are not copied (RFC 3325 §5, §7).
  bool drop_identity = false;
  // A status line of this code and its reason phrase in place of the received one; 0: as
  // received. (§16.7 step 6: a stateful proxy passes a 503 on as 500.)
  std::uint16_t status_code = 0;
  // ";alias=..." after the first Contact's URI (contact_alias.hpp); none when its line is null.
  ContactAliasEdit contact_alias;
  // "Session-Expires: N;refresher=uac" and "Require: timer" after the received lines
  // (RFC 4028 §8.2: the session timer a proxy asked for, in a 2xx from a UAS that does not do
  // session timers, to a caller that does). 0: none.
  std::uint32_t session_expires_uac = 0;
};

// §16.7 step 3: remove the top Via element (the whole line if it holds only that element).
Written write_forwarded_response(const Message& response, const ResponseEdits& edits,
                                 std::span<char> out);

struct LocalResponse {
  std::uint16_t code = 0;
  std::string_view reason;  // empty: reason_phrase(code)
  std::string_view to_tag;  // added to To when the request's To has none (§8.2.6.2)
  std::string_view
      extra_headers;      // complete lines, each ending in CRLF (Contact, WWW-Authenticate,
                          // Min-Expires, Retry-After, Allow, Unsupported, ...)
  std::string_view body;  // with its Content-Type among extra_headers
  // The request's top Via as the response carries it (§18.2.1, RFC 3581 §4): the server
  // transport that received the request stamps it like a forwarded request's sender Via,
  // and the response copies the stamped value. sender_via_stamp() decides both; empty / 0:
  // the Via lines are copied as received.
  std::string_view received;
  std::uint16_t rport = 0;
};

// §8.2.6: status line, Via lines (all of them, in order), From, To (+tag), Call-ID and CSeq
// copied from the request, then extra headers, Content-Length and the body. Works from raw
// header lines, so it can answer 400 to a request whose values failed to parse, as long as
// the lines themselves were indexed.
Written write_local_response(const Message& request, const LocalResponse& response,
                             std::span<char> out);

// §17.1.1.3: the ACK a client transaction sends for a non-2xx final response to an INVITE
// it sent (a stateful proxy's own, hop by hop). Request-URI: the INVITE's (`request_uri`);
// one Via: the response's top Via, ours, as the INVITE carried it; From, Call-ID and the CSeq
// number from the response (which copied them from the INVITE), To with the response's tag;
// Max-Forwards 70, no body. The INVITE had no Route header (a proxy sends an INVITE to a pool
// member only when none was left), so the ACK has none. NotAResponse for anything but a
// parsed final response.
Written write_ack_for_response(const Message& response, std::string_view request_uri,
                               std::span<char> out);

// §9.1, §16.8: the CANCEL a stateful proxy sends for an INVITE it forwarded once the next
// hop answered provisionally, written from that provisional answer (`response`, 1xx): the
// INVITE's Request-URI (`request_uri`); one Via, the response's top Via (ours, as the INVITE
// carried it, so the CANCEL matches the INVITE's transaction, §9.2); From, Call-ID and the CSeq
// number from the response (copied from the INVITE), To without the tag the callee added (the
// INVITE's To had none); Max-Forwards 70, no body, no Route (as for the ACK above).
// NotAResponse for anything but a parsed provisional response.
Written write_cancel_for_provisional(const Message& response, std::string_view request_uri,
                                     std::span<char> out);

}  // namespace sipline::sip

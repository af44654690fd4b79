// The stateless proxy's decisions (RFC 3261 §16): request validation (§16.3), Route
// pre-processing (§16.4), the next hop that Route headers or an in-dialog Request-URI
// impose (§16.5, §16.6 steps 6-7), and response handling (§16.7). Pure functions over a
// parsed Message and our LocalIdentity: they return decisions whose views point into the
// message or into the identity, never allocate, and never touch the network, so a worker
// calls them on every packet.
//
// What a worker does with them, per request:
//   check_request → Respond: write_local_response(check.response(to_tag)); Drop: count it.
//   preprocess_routes → next_hop_for_request → RouteTable: lb::RouteTable::match decides;
//   RouteHeader / RequestUri: forward there. forward_edits() builds the §16.6 RequestEdits.
// Per response: route_response → Forward: write_forwarded_response, send to next_hop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/branch.hpp"
#include "sip/message.hpp"
#include "sip/rewrite.hpp"
#include "sip/siphash.hpp"
#include "sip/uri.hpp"
#include "sip/via.hpp"

namespace sipline::sip {

inline constexpr std::size_t kMaxLocalDomains = 16;
inline constexpr std::size_t kMaxListenAddresses = 16;
// Room for every domain name, together (a DNS name is at most 253 octets).
inline constexpr std::size_t kLocalDomainTextSize = 2048;
// "[" + the longest IPv6 text (45, with an IPv4 tail) + "]" + ":" + 5 port digits.
inline constexpr std::size_t kMaxSentByLength = 53;

// An address we receive on, with the texts we write about it, formatted once.
class ListenAddress {
 public:
  // As URIs and Via write it: "127.0.0.1", "[2001:db8::1]".
  std::string_view host() const { return {text_.data() + kScheme.size(), host_size_}; }
  std::uint16_t port() const { return port_; }
  // "127.0.0.1:5060": the sent-by of the Via we push (§16.6 step 8, §18.2.1).
  std::string_view sent_by() const {
    return {text_.data() + kScheme.size(), size_ - kScheme.size()};
  }
  // "sip:127.0.0.1:5060": our Record-Route URI (the rewriter appends ";lr", §16.6 step 4).
  std::string_view record_route_uri() const { return {text_.data(), size_}; }

 private:
  friend class LocalIdentity;
  static constexpr std::string_view kScheme = "sip:";

  std::array<char, kScheme.size() + kMaxSentByLength> text_{};
  std::uint8_t host_size_ = 0;
  std::uint8_t size_ = 0;
  std::uint16_t port_ = 0;
};

// Who we are, in the form a worker consults per packet: fixed arrays, no pointers to
// outside storage (copying an identity is safe), names compared case-insensitively.
class LocalIdentity {
 public:
  // A domain we are responsible for (§16.4): a host name or IP literal as URIs write it
  // ("sipline.local", "127.0.0.1", "[::1]"). False when empty or when the table is full.
  bool add_domain(std::string_view name);
  // An address we listen on: an IPv4 literal, or an IPv6 literal with or without brackets.
  // False when the host is empty or too long, the port is 0, or the table is full.
  bool add_listen_address(std::string_view host, std::uint16_t port);

  std::size_t domain_count() const { return domain_count_; }
  std::string_view domain(std::size_t index) const {
    return {domain_text_.data() + domains_[index].offset, domains_[index].size};
  }
  std::size_t listen_count() const { return listen_count_; }
  const ListenAddress& listen_address(std::size_t index) const { return listen_[index]; }

  BranchKey branch_key;       // signs our branches (§16.11); per boot
  bool record_route = false;  // add Record-Route to forwarded requests (§16.6 step 4)
  // With record_route: our Record-Route URI carries the Call-ID's token under this key, and
  // in-dialog requests from outside the trust domain must bring it back (route_token.hpp).
  std::optional<SipHashKey> route_key;

 private:
  struct TextSpan {
    std::uint16_t offset = 0;
    std::uint16_t size = 0;
  };

  std::array<char, kLocalDomainTextSize> domain_text_{};
  std::array<TextSpan, kMaxLocalDomains> domains_{};
  std::array<ListenAddress, kMaxListenAddresses> listen_{};
  std::uint16_t domain_text_used_ = 0;
  std::uint8_t domain_count_ = 0;
  std::uint8_t listen_count_ = 0;
};

// ---- who is "us" -----------------------------------------------------------------------

// The URI names us (§16.4): sip or sips, host equal to one of our domains or listen hosts
// (case-insensitive text comparison; IPv6 literals must be written as we were configured),
// and either no port or a port we listen on (for a listen host: that address's own port).
bool uri_is_ours(const Uri& uri, const LocalIdentity& identity);

// The sent-by is one of our listen addresses, port included (absent port = 5060). This is
// what our own Via carries, since we write it from ListenAddress::sent_by().
bool sent_by_is_ours(const HostPort& sent_by, const LocalIdentity& identity);

// The Via was pushed by us: our branch signature (§16.11) and one of our sent-by values.
bool via_is_ours(const Via& via, const LocalIdentity& identity);

// ---- requests: §16.3 validation --------------------------------------------------------

enum class RequestVerdict : std::uint8_t { Proceed, Respond, Drop };

enum class RequestDrop : std::uint8_t {
  None,
  NotARequest,     // a response (or a broken response) was handed to check_request
  Unanswerable,    // malformed, and the lines a response must copy are missing (§8.2.6)
  AckNotAnswered,  // an ACK that earned an error response: ACK is never answered (§17)
};

// One header line for a locally generated response, built in place: "Unsupported: a, b\r\n".
inline constexpr std::size_t kMaxExtraHeaderSize = 256;
struct ExtraHeader {
  std::array<char, kMaxExtraHeaderSize> text;  // only the first `size` octets are meaningful
  std::uint16_t size = 0;

  std::string_view view() const { return {text.data(), size}; }
};

struct RequestCheck {
  RequestVerdict verdict = RequestVerdict::Proceed;
  RequestDrop drop = RequestDrop::None;
  // Respond: the code to answer. Drop of an ACK: the code it would have earned (for logs).
  std::uint16_t code = 0;
  // Empty: the status table's phrase. For 400: the parser's reason (static storage).
  std::string_view reason;
  ExtraHeader extra;  // 420: the Unsupported line; otherwise empty

  bool proceed() const { return verdict == RequestVerdict::Proceed; }
  // The local response to write for a Respond verdict (views into this check: keep it alive
  // while writing). `to_tag` is added to To when the request's To has none (§8.2.6.2).
  LocalResponse response(std::string_view to_tag) const {
    LocalResponse local;
    local.code = code;
    local.reason = reason;
    local.to_tag = to_tag;
    local.extra_headers = extra.view();
    return local;
  }
};

// §16.3 and §8.2.2 for a request, in the RFC's order:
//   1. syntax: a parse error is 400 with describe(error) as reason, UnsupportedVersion is
//      505, both only when answerable (see is_answerable) and otherwise dropped;
//   2. Request-URI scheme other than sip, sips, tel: 416;
//   3. Max-Forwards 0: 483, OPTIONS included (RFC 4475 §3.3.11: a proxy does not answer
//      OPTIONS for the UAS);
//   4. loop detection (see request_has_looped): 482;
//   5. Proxy-Require with any option tag (we support none): 420 with "Unsupported: <tags>".
//      Require is for the UAS and is not looked at (§16.3 step 5; RFC 4475 §3.3.5).
// ACK gets the same checks but is never answered: any error verdict becomes Drop (§17).
// CANCEL is checked like any other request.
RequestCheck check_request(const Message& request, const LocalIdentity& identity);

// A response can be written from the raw lines (§8.2.6): the header section was complete and
// Via, From, To, Call-ID and CSeq lines are all present (even if their values did not parse).
bool is_answerable(const Message& request);

// §16.3 step 4 loop detection. Our branch is derived from the top Via of the request we
// received (branch.hpp), not from the Request-URI, so it cannot tell a loop from a spiral
// once another element has handled the request. We therefore call it a loop only when our
// own Via is on top (the request came straight back to us) and its branch is exactly the
// branch we compute now for the request below it (that Via removed); every other case is
// left to Max-Forwards (483), which bounds any loop.
bool request_has_looped(const Message& request, const LocalIdentity& identity);

// ---- requests: §16.4 Route pre-processing and the next hop -----------------------------

// What §16.4 and §16.6 step 7 ask to change in the Route header and the Request-URI before
// forwarding (RequestEdits applies it, forward_edits() maps it there).
struct RoutePlan {
  // A strict router (RFC 2543, §16.4) put our Record-Route URI into the Request-URI: it is
  // replaced by the last Route value, and that value leaves the Route header. We recognise
  // it as an in-dialog request (To tag) whose Request-URI names us, has no user part (our
  // Record-Route URIs have none) and comes with Route headers.
  bool strict_router = false;
  std::string_view request_uri;  // strict_router: the new Request-URI (no angle brackets)
  // The top Route value (after the strict-router step) names us: remove it (§16.4). Done
  // whether or not it carries ";lr" (§16.4 does not ask for it).
  bool pop_top_route = false;
  // §16.6 step 7: the top Route value left after the steps above is a sip/sips URI without
  // ";lr", so the next hop is a strict router. Its URI becomes the Request-URI and that value
  // leaves the Route header; the Request-URI it displaces (the strict-router step's, else
  // the received one) becomes the last Route value. Empty: the next hop routes loosely.
  std::string_view strict_next_hop_uri;
  std::string_view displaced_request_uri;
  // The rt parameter of our own URI in the request (the popped Route value, or a strict
  // router's Request-URI): the token our Record-Route gave the dialog (route_token.hpp).
  // Empty: none, or tokens are off (no LocalIdentity::route_key).
  std::string_view route_token;
  // The alias parameter of our own popped Route value in a new request (no To tag): the
  // Path we put into a REGISTER we forwarded (RFC 3327) came back as the registrar's Route,
  // and names where the registering UA is (contact_alias.hpp syntax). Empty: none.
  std::string_view path_alias;
  // Every Route value leaves: a new request's preloaded route (RFC 3261 §8.1.2) that the
  // proxy does not follow (Kamailio's default configuration removes them, remove_hf("Route"),
  // before routing a new request): the route table decides where it goes.
  bool drop_routes = false;
};

// The plan for a new request whose preloaded Route is not followed: every value removed.
inline RoutePlan ignoring_preloaded_routes() {
  RoutePlan plan;
  plan.drop_routes = true;
  return plan;
}

RoutePlan preprocess_routes(const Message& request, const LocalIdentity& identity);

// Where to send a message, as found in the message. `host` is bare (an IPv6 address has no
// brackets: it goes straight to inet_pton); `kind` says what it is (Ipv6Reference = IPv6).
struct NextHop {
  std::string_view host;
  HostKind kind = HostKind::None;
  std::uint16_t port = 0;
  std::string_view transport;  // the URI's transport parameter or the Via's; empty = UDP

  bool is_ip() const { return kind == HostKind::Ipv4 || kind == HostKind::Ipv6Reference; }
};

enum class NextHopSource : std::uint8_t {
  RouteTable,   // no Route left and the Request-URI is ours or a new request: lb decides
  RouteHeader,  // the top remaining Route value (§16.6 step 6, loose routing)
  RequestUri,   // an in-dialog request (To tag) to a remote target that is not us (§16.5)
  BadRoute,     // the top remaining Route value does not parse: answer 400 or drop
};

struct RequestNextHop {
  NextHopSource source = NextHopSource::RouteTable;
  NextHop hop;  // RouteHeader and RequestUri only
  // RouteHeader only: the next hop is a strict router (no ";lr"); the plan's
  // strict_next_hop_uri carries the §16.6 step 7 edits.
  bool strict_next_hop = false;
};

// §16.6 steps 6-7 after `plan` has been applied: the top remaining Route value wins (its
// maddr, host, port or the scheme's default port, transport). Without a Route: an in-dialog
// request (To tag; ACK for a 2xx, BYE, re-INVITE...) whose Request-URI (after the strict
// router step) is a sip/sips URI with an IP address that is not ours goes to that address.
// Anything else - new requests, Request-URIs of ours, names we cannot resolve here - is for
// the route table.
RequestNextHop next_hop_for_request(const Message& request, const RoutePlan& plan,
                                    const LocalIdentity& identity);

// What the sender's Via needs before a request is forwarded (§18.2.1, RFC 3581 §4):
// `received` = the source IP when the Via asks for rport or its sent-by host is not that IP
// (and it carries no received yet); `rport` = the source port when it holds a valueless
// rport. The views point into `source_ip`; copy them into RequestEdits.
struct SenderViaStamp {
  std::string_view received;
  std::uint16_t rport = 0;
};
SenderViaStamp sender_via_stamp(const Message& request, std::string_view source_ip,
                                std::uint16_t source_port);

// The §16.6 edits for forwarding a request from our listen address `listen_index` (steps 4,
// 6, 7, 8; the rewriter does step 3): our Via with `branch` (stateless_branch of the request)
// and rport, Record-Route when configured, the plan's Route edits and Request-URI.
// `request_uri`, when not empty, overrides the plan's (location service, §16.5); it is also
// the Request-URI that a strict next hop displaces. The views point into `identity`,
// `plan`'s message and the caller's `branch`/`request_uri`.
RequestEdits forward_edits(const RoutePlan& plan, const LocalIdentity& identity,
                           std::size_t listen_index, std::string_view branch,
                           std::string_view request_uri = {});

// The port a locally generated response to `request` goes to (§18.2.2 with RFC 3581): the
// source port when the top Via asked for rport (or could not be read), else the Via's
// sent-by port or the transport's default. The address is always the source address.
std::uint16_t local_response_port(const Message& request, std::uint16_t source_port);

// ---- responses: §16.7 ------------------------------------------------------------------

enum class ResponseDrop : std::uint8_t {
  None,
  NotAResponse,  // a request was handed to route_response
  Malformed,     // did not parse, or its second Via does not
  NotOurs,       // the top Via is not ours (§16.7 step 3: a proxy does not route it)
  ForUs,         // ours was the only Via: the response ends here (e.g. to our own OPTIONS)
};

struct ResponseRoute {
  ResponseDrop drop = ResponseDrop::None;
  NextHop next_hop;  // valid when forward()

  bool forward() const { return drop == ResponseDrop::None; }
};

// §16.7: the top Via must be ours (via_is_ours), it is popped, and the response goes where
// the next Via says (§18.2.2, RFC 3581): maddr if present (port from sent-by or default);
// else the received address if present, else the sent-by host; the port is the rport value
// if present, else the sent-by port, else 5060 (5061 for TLS).
ResponseRoute route_response(const Message& response, const LocalIdentity& identity);

// The §18.2.2 destination a Via designates (what route_response applies to the second Via).
NextHop via_next_hop(const Via& via);

}  // namespace sipline::sip

// The message view: one pass over a SIP datagram yields (pointer, length) views into the
// caller's buffer; nothing is copied or allocated (RFC 3261 §7, UDP framing of §18.3).
//
// What is parsed eagerly (always valid when error == None):
//   start line (method, Request-URI parsed as a Uri, version; or status code and reason),
//   every header line indexed by HeaderId (compact forms known, folding kept inside values),
//   the Via list split into elements with the top Via parsed, From and To (display name,
//   URI extent, parameters and tag; their URIs are parsed on demand with
//   parse_uri(from.uri_text); ParseScope::Proxy leaves a response's only indexed), Call-ID,
//   CSeq (checked against the request method), Max-Forwards, Content-Length and the body.
// Everything else (Contact, Route, Record-Route, Expires, Require, digest headers, ...) is
// parsed on demand by the parsers in via.hpp, name_addr.hpp, scalar_headers.hpp,
// token_list.hpp and digest.hpp, from the views indexed here.
//
// On error the view still holds what was indexed before the error was found (the header
// lines in particular), so a caller can still build a 400 from the raw Via/From/To/Call-ID/
// CSeq lines when they are present (RFC 3261 §8.2.6, §16.3).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "sip/header_id.hpp"
#include "sip/limits.hpp"
#include "sip/method.hpp"
#include "sip/name_addr.hpp"
#include "sip/parse_error.hpp"
#include "sip/scalar_headers.hpp"
#include "sip/uri.hpp"
#include "sip/via.hpp"

namespace sipline::sip {

inline constexpr std::uint8_t kNoField = 0xFF;

// One header line (with its folded continuation lines). Trivial on purpose: the arrays of
// them in Message are not initialised beyond field_count.
struct HeaderField {
  HeaderId id;
  std::uint8_t next_same;  // index of the next field with the same id, or kNoField
  std::string_view name;   // as written
  std::string_view value;  // LWS-trimmed; may contain folded CRLF SP sequences
  std::string_view raw;    // first octet of the name .. the line's final CRLF, inclusive
};

// One element of the Via list and the header line it was found in.
struct ViaRef {
  std::string_view text;  // the via-parm, LWS-trimmed
  std::uint8_t field;     // index into Message::fields
};

enum class MessageKind : std::uint8_t { Request, Response };

struct Message {
  ParseError error = ParseError::None;
  MessageKind kind = MessageKind::Request;

  std::string_view data;        // what the caller passed in
  std::string_view message;     // start line .. end of body; octets past Content-Length excluded
  std::string_view start_line;  // without its CRLF

  // request line
  Method method = Method::Extension;
  std::string_view method_text;
  std::string_view request_uri_text;
  Uri request_uri;
  // status line
  std::uint16_t status_code = 0;
  std::string_view reason_phrase;  // possibly empty
  std::string_view version;        // "SIP/2.0" as written

  // header index
  std::uint8_t field_count = 0;
  std::array<std::uint8_t, kHeaderIdCount> first_field;  // kNoField when absent
  std::array<std::uint8_t, kHeaderIdCount> last_field;   // for O(1) chain append
  std::array<HeaderField, kMaxHeaders> fields;
  std::string_view headers;     // first header line .. the CRLF before the empty line
  std::size_t body_offset = 0;  // offset of the body in data

  // eagerly parsed values
  std::uint8_t via_count = 0;
  std::array<ViaRef, kMaxVias> vias;
  Via top_via;
  bool addresses_parsed = false;  // from and to below (see ParseScope)
  NameAddr from;
  NameAddr to;
  std::string_view call_id;
  CSeq cseq;
  bool has_max_forwards = false;
  std::uint8_t max_forwards = 0;
  bool has_content_length = false;
  std::uint32_t content_length = 0;
  std::string_view body;

  bool ok() const { return error == ParseError::None; }
  bool is_request() const { return kind == MessageKind::Request; }
  bool is_response() const { return kind == MessageKind::Response; }
  // The header section was terminated and fully indexed (even if a value failed to parse):
  // only then can a response be built from the raw lines.
  bool headers_complete() const { return body_offset != 0; }

  // First occurrence of a header, nullptr when absent.
  const HeaderField* find(HeaderId id) const {
    const std::uint8_t index = first_field[static_cast<std::size_t>(id)];
    return index == kNoField ? nullptr : &fields[index];
  }
  // First header named `name` (case-insensitive); works for unknown headers too.
  const HeaderField* find(std::string_view name) const;
  // How many header lines carry this id.
  std::size_t count(HeaderId id) const;
  // The next occurrence of the same header after `field`, nullptr at the end.
  const HeaderField* next(const HeaderField& field) const {
    return field.next_same == kNoField ? nullptr : &fields[field.next_same];
  }
  // Offset of a view (that lies inside data) from the start of data.
  std::size_t offset_of(std::string_view inner) const {
    return static_cast<std::size_t>(inner.data() - data.data());
  }
};

// How much parse_message_into parses eagerly.
enum class ParseScope : std::uint8_t {
  Full,   // everything listed at the top of this file
  Proxy,  // the same, except a response's From and To: a proxy matches and forwards
          // responses by their Via (RFC 3261 §16.7, §17.1.3) and reads neither, so a
          // response's From and To are indexed, not parsed (addresses_parsed stays false)
};

// Parses one SIP message received as a UDP datagram. A body shorter than Content-Length is
// BodyTruncated; octets beyond it are ignored (RFC 3261 §18.3); without Content-Length the
// body is the rest of the datagram. Requests must carry Via, From, To, Call-ID and CSeq
// (Max-Forwards is optional for RFC 2543 peers, RFC 4475 §3.4.1); responses too (From and
// To only when parsed, see ParseScope).
// NRVO builds the result in the caller's storage; Message is large (about 10 KiB), so keep
// one per worker rather than on a small stack.
Message parse_message(std::string_view data);

// Same, into existing storage (what a worker uses on its hot path: no 10 KiB return value
// on the stack).
void parse_message_into(Message& out, std::string_view data, ParseScope scope = ParseScope::Full);

// Completes what ParseScope::Proxy left of a response: its From and To, parsed in place as
// ParseScope::Full would have (a missing or malformed one is noted as its error and left
// empty). Nothing when they are parsed already.
void parse_addresses(Message& message);

// Responses start with the SIP version (§7.2), requests with a method token, which cannot
// contain '/': a datagram's kind without parsing it (leading CRLFs skipped, §7.5).
bool looks_like_response(std::string_view datagram);

}  // namespace sipline::sip

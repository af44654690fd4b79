// name-addr / addr-spec values: From, To, Contact, Route, Record-Route, Refer-To,
// P-Asserted-Identity (RFC 3261 §20.10, §20.20, §20.39, §25.1).
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/parse_error.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {

struct NameAddr {
  std::string_view display_name;  // as written, quotes kept when quoted; may be empty
  std::string_view uri_text;      // between '<' '>' or the bare addr-spec
  Uri uri;                        // meaningful only when uri_parsed
  bool uri_parsed = false;
  std::string_view params;  // header params after the URI, from the first ';'
  std::string_view tag;     // ;tag= value (From/To)
  bool has_tag = false;
  bool bracketed = false;  // the URI was written in '<' '>'
};

// Parses one name-addr or addr-spec with header parameters. For an addr-spec without
// brackets, parameters after the URI belong to the header (RFC 3261 §20.10), so the URI is
// cut at the first ';' (and must not contain '?' or ',' per §20). Display names: token
// sequence or quoted-string with escapes; an unterminated quote is UnterminatedQuote.
//
// UriDepth::Deferred finds the URI's extent but leaves `uri` unparsed (uri_parsed = false):
// the message parser uses it for From and To, whose URIs a proxy forwarding statelessly never
// looks at; whoever needs them calls parse_uri(uri_text).
enum class UriDepth : std::uint8_t { Full, Deferred };

Parsed<NameAddr> parse_name_addr(std::string_view element, UriDepth depth = UriDepth::Full);

// Contact element (RFC 3261 §20.10): either "*" or a name-addr with q and expires params.
struct ContactValue {
  NameAddr address;
  bool star = false;
  bool has_expires = false;
  std::uint32_t expires = 0;
  bool has_q = false;
  std::uint16_t q_milli = 1000;  // q-value * 1000 (0..1000), default 1.0
};

Parsed<ContactValue> parse_contact(std::string_view element);

}  // namespace sipline::sip

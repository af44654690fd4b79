// The Via header (RFC 3261 §20.42, RFC 3581 rport). One Via element, not a whole list.
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/parse_error.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {

// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
inline constexpr std::string_view kMagicCookie = "z9hG4bK";

struct Via {
  std::string_view protocol_name;     // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;         // "UDP", "TCP", "TLS", "SCTP", other tokens
  HostPort sent_by;
  std::string_view branch;    // value of ;branch (empty when absent)
  std::string_view received;  // ;received
  std::string_view maddr;     // ;maddr
  std::uint16_t rport = 0;    // ;rport=N value, 0 when absent or valueless
  std::uint8_t ttl = 0;       // ;ttl (0-255)
  bool has_branch = false;
  bool has_rport = false;  // ";rport" with or without value (RFC 3581)
  bool has_ttl = false;
  // Counted as parsed, for the rport/received stamp (RFC 3581 §4) without a second walk.
  std::uint8_t param_count = 0;  // every parameter (at most kMaxParams)
  std::uint8_t rport_count = 0;  // rport parameters
  bool last_rport_valueless = false;
  std::string_view params;  // all parameters, from the first ';', for other params
};

// Parses one via-parm: sent-protocol LWS sent-by *( SEMI via-params ). LWS (including folded
// lines) is allowed around the '/' of sent-protocol and around ';' and '=' of the parameters
// (RFC 3261 §25.1 SLASH, SEMI, EQUAL; see RFC 4475 §3.1.1.1). Empty parameters are refused.
Parsed<Via> parse_via(std::string_view element);

// Branch carries the RFC 3261 magic cookie (case-sensitive as in §8.1.1.7).
constexpr bool has_magic_cookie(std::string_view branch) {
  return branch.size() >= kMagicCookie.size() &&
         branch.substr(0, kMagicCookie.size()) == kMagicCookie;
}

}  // namespace sipline::sip

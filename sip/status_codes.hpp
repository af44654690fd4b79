// Status codes and their reason phrases (RFC 3261 §21 and the IANA SIP response code
// registry: RFC 3262, 3265, 3329, 3903, 4412, 4474, 5360, 5393, 5839, 6086, 6228, 6665,
// 7647, 8197, 8224, 8599, 8688).
#pragma once

#include <cstdint>
#include <string_view>

namespace sipline::sip {

// The registered reason phrase, or the class default ("Unknown Client Error"...) for an
// unregistered code in 100-699; "" outside that range.
std::string_view reason_phrase(std::uint16_t code);

// True when `code` is in the registry (not just in range).
bool is_registered_status(std::uint16_t code);

constexpr bool is_provisional(std::uint16_t code) {
  return code >= 100 && code < 200;
}
constexpr bool is_final(std::uint16_t code) {
  return code >= 200 && code < 700;
}
// 401 Unauthorized or 407 Proxy Authentication Required: a digest challenge (§22.2, §22.3),
// a step of a request's set-up that the client answers by sending it again.
constexpr bool is_challenge(std::uint16_t code) {
  return code == 401 || code == 407;
}

}  // namespace sipline::sip

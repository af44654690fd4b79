// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
// hash whose output an attacker who does not know the key cannot predict or forge, at the
// cost of a few dozen nanoseconds for a Call-ID. The proxy signs its Record-Route with it
// (route_token.hpp); XXH3, which the branches use, is fast but not a MAC.
#pragma once

#include <cstdint>
#include <string_view>

namespace sipline::sip {

struct SipHashKey {
  std::uint64_t k0 = 0;  // key octets 0..7, little-endian
  std::uint64_t k1 = 0;  // key octets 8..15, little-endian

  bool operator==(const SipHashKey&) const = default;
};

std::uint64_t siphash24(const SipHashKey& key, std::string_view data) noexcept;

}  // namespace sipline::sip

#include "sip/route_token.hpp"

namespace sipline::sip {
namespace {

// Two fixed, public keys that turn the secret into the token key (a secret of any length
// becomes 128 bits; the secret's own entropy is what protects the tokens).
constexpr SipHashKey kDeriveLow{0x7369706c696e6572ULL, 0x6f7574652d6b6579ULL};
constexpr SipHashKey kDeriveHigh{0x7369706c696e6532ULL, 0x726f7574652d6b32ULL};

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

SipHashKey route_token_key(std::string_view secret) noexcept {
  return {siphash24(kDeriveLow, secret), siphash24(kDeriveHigh, secret)};
}

std::array<char, kRouteTokenSize> route_token(const SipHashKey& key,
                                              std::string_view call_id) noexcept {
  std::uint64_t tag = siphash24(key, call_id);
  std::array<char, kRouteTokenSize> text{};
  for (std::size_t i = kRouteTokenSize; i-- > 0; tag >>= 4)
    text[i] = kHexDigits[tag & 0xf];
  return text;
}

bool route_token_matches(const SipHashKey& key, std::string_view call_id,
                         std::string_view token) noexcept {
  if (token.size() != kRouteTokenSize) return false;
  const std::array<char, kRouteTokenSize> expected = route_token(key, call_id);
  // Compared in full whatever differs first: the time taken tells nothing of the token.
  unsigned char difference = 0;
  for (std::size_t i = 0; i < kRouteTokenSize; ++i) {
    difference |= static_cast<unsigned char>((token[i] | 0x20) ^ expected[i]);
  }
  return difference == 0;
}

}  // namespace sipline::sip

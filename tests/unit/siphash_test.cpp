#include "sip/siphash.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipline::sip {
namespace {

// The reference vectors of the SipHash paper (appendix A, and the reference implementation's
// vectors.h): key 00 01 .. 0f, messages 00 01 .. (n-1).
std::string counting(std::size_t size) {
  std::string text;
  for (std::size_t i = 0; i < size; ++i)
    text.push_back(static_cast<char>(i));
  return text;
}

constexpr SipHashKey kCountingKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

TEST(SipHash24, MatchesTheReferenceVectors) {
  EXPECT_EQ(siphash24(kCountingKey, counting(0)), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(siphash24(kCountingKey, counting(15)), 0xa129ca6149be45e5ULL);  // the paper's
}

TEST(SipHash24, DependsOnEveryOctetAndTheKey) {
  const std::string call_id = "a84b4c76e66710@pc33.atlanta.example.com";
  const std::uint64_t reference = siphash24(kCountingKey, call_id);
  for (std::size_t i = 0; i < call_id.size(); ++i) {
    std::string changed = call_id;
    changed[i] ^= 1;
    EXPECT_NE(siphash24(kCountingKey, changed), reference) << i;
  }
  EXPECT_NE(siphash24(kCountingKey, call_id + '\0'), reference);  // the length counts
  EXPECT_NE(siphash24({kCountingKey.k0 ^ 1, kCountingKey.k1}, call_id), reference);
  EXPECT_NE(siphash24({kCountingKey.k0, kCountingKey.k1 ^ (1ULL << 63)}, call_id), reference);
}

}  // namespace
}  // namespace sipline::sip

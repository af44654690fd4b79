#include "sip/siphash.hpp"

#include <bit>
#include <cstddef>

namespace sipline::sip {
namespace {

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  // Two compression rounds per 8-octet word (the "2" of SipHash-2-4).
  void absorb(std::uint64_t word) noexcept {
    v3 ^= word;
    round();
    round();
    v0 ^= word;
  }
};

std::uint64_t little_endian_word(const unsigned char* at, std::size_t size) noexcept {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < size; ++i)
    word |= static_cast<std::uint64_t>(at[i]) << (8 * i);
  return word;
}

}  // namespace

std::uint64_t siphash24(const SipHashKey& key, std::string_view data) noexcept {
  SipState state{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
                 key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t whole = data.size() / 8 * 8;
  for (std::size_t at = 0; at < whole; at += 8)
    state.absorb(little_endian_word(bytes + at, 8));
  // The last word: the remaining octets, the length's low octet on top.
  state.absorb(little_endian_word(bytes + whole, data.size() - whole) |
               (static_cast<std::uint64_t>(data.size() & 0xff) << 56));
  state.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i)  // four finalisation rounds (the "4")
    state.round();
  return state.v0 ^ state.v1 ^ state.v2 ^ state.v3;
}

}  // namespace sipline::sip

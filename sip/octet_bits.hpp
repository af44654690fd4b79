// Bitmaps of where chosen octets stand among 64 octets of a datagram, 16 octets per SSE2
// compare. The header indexer finds every LF this way, and the Call-ID scan the lines that
// could hold a Call-ID: each LF then costs a bit operation instead of a search per line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sipline::sip {

inline constexpr std::size_t kOctetBlock = 64;

// Bit i is set when octet `at + i` of `data` is one of those `Marks` finds (octets past the
// end are never marked). `Marks` has octet(char) -> bool and, with SSE2, chunk(__m128i) ->
// a 16-bit movemask of the same test. A short last block is read as the last 64 octets of
// the data, shifted, so that no load leaves the datagram; a datagram shorter than one block
// is read octet by octet.
template <class Marks>
std::uint64_t octet_bits(std::string_view data, std::size_t at) {
  const char* octets = data.data() + at;
  unsigned shift = 0;
  if (data.size() - at < kOctetBlock) {
    if (data.size() < kOctetBlock) {
      std::uint64_t bits = 0;
      for (std::size_t i = 0; at + i < data.size(); ++i)
        bits |= std::uint64_t{Marks::octet(data[at + i])} << i;
      return bits;
    }
    shift = static_cast<unsigned>(at - (data.size() - kOctetBlock));
    octets -= shift;
  }
  std::uint64_t bits = 0;
#if defined(__SSE2__)
  for (std::size_t i = 0; i < kOctetBlock; i += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(octets + i));
    bits |= std::uint64_t{Marks::chunk(chunk)} << i;
  }
#else
  for (std::size_t i = 0; i < kOctetBlock; ++i)
    bits |= std::uint64_t{Marks::octet(octets[i])} << i;
#endif
  return bits >> shift;
}

struct LineFeeds {
  static bool octet(char c) { return c == '\n'; }
#if defined(__SSE2__)
  static unsigned chunk(__m128i octets) {
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(octets, _mm_set1_epi8('\n'))));
  }
#endif
};

// The LFs among the 64 octets of `data` from `at` (bit i: octet at + i).
inline std::uint64_t line_feed_bits(std::string_view data, std::size_t at) {
  return octet_bits<LineFeeds>(data, at);
}

}  // namespace sipline::sip

// Where a run of token octets (RFC 3261 §25.1) ends, 16 octets per step. Parameter names and
// values (a Via's branch, a tag) are runs of a few to a few dozen token octets: one SSE2 class
// test per 16 octets replaces a table lookup and a branch per octet.
#pragma once

#include <cstddef>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sip/method.hpp"

namespace sipline::sip {

#if defined(__SSE2__)
namespace detail {

// Bit i set when octet i of the 16 at `at` is a token octet: alphanum / "-" / "." / "!" /
// "%" / "*" / "_" / "+" / "`" / "'" / "~", tested as the ranges "*+", "-.", digits, "_`",
// letters (lower-cased by OR 0x20) and the singles "!", "%", "'", "~".
inline unsigned token_octet_mask(const char* at) {
  const __m128i octets = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  // lo <= c < lo + span as one signed compare: c - lo, moved by -128, is below -128 + span.
  const auto in_range = [](__m128i c, char lo, int span) {
    const __m128i moved = _mm_add_epi8(c, _mm_set1_epi8(static_cast<char>(128 - lo)));
    return _mm_cmplt_epi8(moved, _mm_set1_epi8(static_cast<char>(span - 128)));
  };
  const auto is = [octets](char c) { return _mm_cmpeq_epi8(octets, _mm_set1_epi8(c)); };
  const __m128i letters = in_range(_mm_or_si128(octets, _mm_set1_epi8(0x20)), 'a', 26);
  const __m128i ranges =
      _mm_or_si128(_mm_or_si128(in_range(octets, '*', 2), in_range(octets, '-', 2)),
                   _mm_or_si128(in_range(octets, '0', 10), in_range(octets, '_', 2)));
  const __m128i singles =
      _mm_or_si128(_mm_or_si128(is('!'), is('%')), _mm_or_si128(is('\''), is('~')));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(letters, _mm_or_si128(ranges, singles))));
}

}  // namespace detail
#endif

// The first octet at or after `pos` that is not a token octet, or text.size(). Loads stay
// inside `text`: the last step reads the 16 octets that end it, overlapping octets already
// tested; a text shorter than 16 octets is read octet by octet.
inline std::size_t token_run_end(std::string_view text, std::size_t pos) {
#if defined(__SSE2__)
  if (text.size() >= 16) {
    constexpr unsigned kAll = 0xFFFF;
    for (; text.size() - pos >= 16; pos += 16) {
      const unsigned others = ~detail::token_octet_mask(text.data() + pos) & kAll;
      if (others != 0) return pos + static_cast<std::size_t>(__builtin_ctz(others));
    }
    if (pos == text.size()) return pos;
    const std::size_t last = text.size() - 16;
    const unsigned others = (~detail::token_octet_mask(text.data() + last) & kAll) >> (pos - last);
    return others != 0 ? pos + static_cast<std::size_t>(__builtin_ctz(others)) : text.size();
  }
#endif
  while (pos < text.size() && is_token_char(text[pos]))
    ++pos;
  return pos;
}

}  // namespace sipline::sip

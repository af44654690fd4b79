// Small text helpers shared by the parsers: case-insensitive comparison, LWS trimming,
// bounded decimal conversion. All inline: they run on the hot path.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sipline::sip {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

constexpr bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// Whitespace inside a header value: SP, HTAB, and the CR/LF of a folded line (RFC 3261 §7.3.1
// says a folded line is equivalent to one SP).
constexpr bool is_lws_char(char c) {
  // One range check and one bit test instead of four compares: it runs per octet.
  constexpr std::uint64_t kLws = (std::uint64_t{1} << ' ') | (std::uint64_t{1} << '\t') |
                                 (std::uint64_t{1} << '\r') | (std::uint64_t{1} << '\n');
  const auto octet = static_cast<unsigned char>(c);
  return octet <= ' ' && ((kLws >> octet) & 1) != 0;
}

constexpr std::string_view trim_lws(std::string_view text) {
  while (!text.empty() && is_lws_char(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_lws_char(text.back()))
    text.remove_suffix(1);
  return text;
}

constexpr std::string_view ltrim_lws(std::string_view text) {
  while (!text.empty() && is_lws_char(text.front()))
    text.remove_prefix(1);
  return text;
}

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Parses 1*DIGIT with leading zeros allowed; std::nullopt if empty, not all digits, or above
// `max`. Never overflows.
constexpr std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + std::uint64_t(c - '0');
    if (value > max) return std::nullopt;
  }
  return value;
}

#if defined(__SSE2__)
namespace detail {
// Bit i set when octet i of the 16 at `at` is `a` or `b`.
inline unsigned match_mask(const char* at, __m128i a, __m128i b) {
  const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  return unsigned(
      _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, a), _mm_cmpeq_epi8(chunk, b))));
}
}  // namespace detail
#endif

// First octet in [p, end) equal to `a` or `b`, or `end`. Header values are a few dozen
// octets: an inline 16-octet SSE2 loop (every x86-64 has SSE2) costs less than a call to
// memchr, and finds two octets in one pass. Loads stay inside [p, end): the last chunk is
// the 16 octets that end at `end`, overlapping octets already compared; a range shorter
// than 16 octets is compared octet by octet.
inline const char* find_either(const char* p, const char* end, char a, char b) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i wanted_a = _mm_set1_epi8(a);
    const __m128i wanted_b = _mm_set1_epi8(b);
    for (; end - p >= 16; p += 16) {
      if (const unsigned mask = detail::match_mask(p, wanted_a, wanted_b); mask != 0) {
        return p + __builtin_ctz(mask);
      }
    }
    if (p == end) return end;
    const char* last = end - 16;
    const unsigned mask = detail::match_mask(last, wanted_a, wanted_b) >> (p - last);
    return mask != 0 ? p + __builtin_ctz(mask) : end;
  }
#endif
  for (; p < end; ++p) {
    if (*p == a || *p == b) return p;
  }
  return end;
}

// First octet in [p, end) equal to `c`, or `end`.
inline const char* find_octet(const char* p, const char* end, char c) {
  return find_either(p, end, c, c);
}

// True when some octet of `text` is at most `limit` (unsigned; below 0xFF). Same chunking as
// find_either: 16 octets per compare, the last chunk overlapping, short texts octet by octet.
inline bool has_octet_at_most(std::string_view text, unsigned char limit) {
  const char* p = text.data();
  const char* const end = p + text.size();
#if defined(__SSE2__)
  if (text.size() >= 16) {
    // max(octet, limit + 1) == octet exactly when octet > limit.
    const __m128i above = _mm_set1_epi8(static_cast<char>(limit + 1));
    auto all_above = [above](const char* at) {
      const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      return _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(chunk, above), chunk)) == 0xFFFF;
    };
    for (; end - p >= 16; p += 16) {
      if (!all_above(p)) return true;
    }
    return p != end && !all_above(end - 16);
  }
#endif
  for (; p < end; ++p) {
    if (static_cast<unsigned char>(*p) <= limit) return true;
  }
  return false;
}

}  // namespace sipline::sip

// Small text helpers shared by the parsers: case-insensitive comparison, LWS trimming,
// bounded decimal conversion. All inline: they run on the hot path.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

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
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
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

}  // namespace sipline::sip

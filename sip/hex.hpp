// Lowercase hexadecimal digits for tags, branches, cnonces and digests, written into storage
// the caller owns: several are written per message on the worker's path, so nothing here
// allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sipline::sip {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// The low 4 × out.size() bits of `value`, most significant digit first.
constexpr void write_hex_digits(std::uint64_t value, std::span<char> out) {
  for (std::size_t i = out.size(); i-- > 0; value >>= 4)
    out[i] = kHexDigits[value & 0xF];
}

// Each octet as two digits: `out` holds 2 × bytes.size() characters.
constexpr void write_hex_octets(std::span<const std::uint8_t> bytes, char* out) {
  for (const std::uint8_t octet : bytes) {
    *out++ = kHexDigits[octet >> 4];
    *out++ = kHexDigits[octet & 0x0F];
  }
}

// A 64-bit value as its 16 digits.
struct Hex64 {
  std::array<char, 16> digits{};
  std::string_view view() const { return {digits.data(), digits.size()}; }
};

constexpr Hex64 hex64(std::uint64_t value) {
  Hex64 hex;
  write_hex_digits(value, hex.digits);
  return hex;
}

}  // namespace sipline::sip

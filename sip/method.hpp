// SIP request methods: the 14 of RFC 3261 and its extensions as an enum, any other token as
// Method::Extension (kept by text in the message view).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sipline::sip {

enum class Method : std::uint8_t {
  Extension = 0,  // any other token (RFC 3261 §7.1 extension-method); compare by text
  Invite,
  Ack,
  Bye,
  Cancel,
  Register,
  Options,
  Info,       // RFC 6086
  Message,    // RFC 3428
  Notify,     // RFC 6665
  Prack,      // RFC 3262
  Publish,    // RFC 3903
  Refer,      // RFC 3515
  Subscribe,  // RFC 6665
  Update,     // RFC 3311
};

inline constexpr std::size_t kMethodCount = 15;

// Method names are case-sensitive (RFC 3261 §7.1): "invite" is an extension method.
Method method_from_token(std::string_view token);

// The canonical name; "" for Method::Extension.
std::string_view method_name(Method method);

// RFC 3261 §25.1 token characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" /
// "'" / "~".
namespace detail {
constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c)
    table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c)
    table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    table[c] = true;
  for (char c : std::string_view("-.!%*_+`'~"))
    table[static_cast<unsigned char>(c)] = true;
  return table;
}
inline constexpr std::array<bool, 256> kTokenChars = make_token_table();
}  // namespace detail

// Inline: every header name and many values go through it octet by octet.
constexpr bool is_token_char(char c) {
  return detail::kTokenChars[static_cast<unsigned char>(c)];
}

constexpr bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

}  // namespace sipline::sip

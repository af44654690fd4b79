#include "sip/method.hpp"

#include <array>

namespace sipline::sip {
namespace {

constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "",        "INVITE", "ACK",   "BYE",     "CANCEL", "REGISTER",  "OPTIONS", "INFO",
    "MESSAGE", "NOTIFY", "PRACK", "PUBLISH", "REFER",  "SUBSCRIBE", "UPDATE",
};

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
constexpr std::array<bool, 256> kTokenChars = make_token_table();

}  // namespace

bool is_token_char(char c) {
  return kTokenChars[static_cast<unsigned char>(c)];
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

Method method_from_token(std::string_view token) {
  // 14 candidates: the size test rejects most of them before any octet is compared.
  for (std::size_t i = 1; i < kMethodNames.size(); ++i) {
    if (kMethodNames[i].size() == token.size() && kMethodNames[i] == token) {
      return static_cast<Method>(i);
    }
  }
  return Method::Extension;
}

std::string_view method_name(Method method) {
  return kMethodNames[static_cast<std::size_t>(method)];
}

}  // namespace sipline::sip

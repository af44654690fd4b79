#include "sip/method.hpp"

#include <array>

namespace sipline::sip {
namespace {

constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "",        "INVITE", "ACK",   "BYE",     "CANCEL", "REGISTER",  "OPTIONS", "INFO",
    "MESSAGE", "NOTIFY", "PRACK", "PUBLISH", "REFER",  "SUBSCRIBE", "UPDATE",
};

}  // namespace

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

// SIP request methods: the 14 of RFC 3261 and its extensions as an enum, any other token as
// Method::Extension (kept by text in the message view).
#pragma once

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
bool is_token(std::string_view text);
bool is_token_char(char c);

}  // namespace sipline::sip

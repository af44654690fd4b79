// Number translation of a dial plan (lb/route_table.hpp, RouteRule::strip and ::prepend): the
// Request-URI with its user part rewritten, "sip:+4420712345001@trunk.example" with strip = 9
// and prepend = "" becomes "sip:45001@trunk.example", as Kamailio's strip() and prefix() do.
// Only the user changes: scheme, host, port, parameters and headers stay octet for octet. A
// tel: URI's user is its number and is translated alike.
//
// Written into a fixed buffer (workers do not allocate); the user is counted as written,
// %-escapes included (RFC 3261 §19.1.4: phones do not escape digits).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/message.hpp"

namespace sipline::sip {

// Room for a translated Request-URI; a longer one is answered 414 (RFC 3261 §21.4.12).
inline constexpr std::size_t kMaxTranslatedUriSize = 512;

enum class Translation : std::uint8_t {
  Translated,
  NoUser,   // the Request-URI has no user part: nothing to translate, it goes on as it is
  Empty,    // nothing would be left of the user: 484 Address Incomplete (§21.4.22)
  TooLong,  // the result does not fit kMaxTranslatedUriSize: 414 Request-URI Too Long
};

struct TranslatedUri {
  Translation result = Translation::NoUser;
  std::array<char, kMaxTranslatedUriSize> text;
  std::uint16_t size = 0;
  std::uint16_t user_offset = 0;
  std::uint16_t user_size = 0;

  std::string_view uri() const { return {text.data(), size}; }
  std::string_view user() const { return {text.data() + user_offset, user_size}; }
};

// `request`'s Request-URI with its user's first `strip` octets removed and `prepend` put in
// front. `strip` longer than the user leaves nothing of it (Empty).
TranslatedUri translate_user(const Message& request, std::size_t strip, std::string_view prepend);

// "sip:NUMBER@HOST", translated the same way: the Request-URI of a call placed by service
// rather than by number (an emergency service URN, sip/service_urn.hpp), dialled as `number`
// at our own domain `host`.
TranslatedUri dialled_number_uri(std::string_view number, std::string_view host, std::size_t strip,
                                 std::string_view prepend);

}  // namespace sipline::sip

#include "sip/user_translation.hpp"

#include <algorithm>
#include <functional>

namespace sipline::sip {
namespace {

// The user is a view into the Request-URI's text (the parser is zero-copy); anything else
// would be a parser change this file must not silently mistranslate.
bool user_lies_in(std::string_view user, std::string_view text) {
  const std::less_equal<const char*> not_after;
  return not_after(text.data(), user.data()) &&
         not_after(user.data() + user.size(), text.data() + text.size());
}

// `text` with its `user` (a view into it, not empty) translated.
TranslatedUri translate_user_in(std::string_view text, std::string_view user, std::size_t strip,
                                std::string_view prepend) {
  TranslatedUri translated;
  const std::string_view kept = user.substr(std::min(strip, user.size()));
  if (kept.empty() && prepend.empty()) {
    translated.result = Translation::Empty;
    return translated;
  }
  const std::size_t before = static_cast<std::size_t>(user.data() - text.data());
  const std::string_view after = text.substr(before + user.size());
  const std::size_t size = before + prepend.size() + kept.size() + after.size();
  if (size > translated.text.size()) {
    translated.result = Translation::TooLong;
    return translated;
  }
  char* out = translated.text.data();
  out = std::copy_n(text.data(), before, out);
  out = std::copy(prepend.begin(), prepend.end(), out);
  out = std::copy(kept.begin(), kept.end(), out);
  std::copy(after.begin(), after.end(), out);
  translated.result = Translation::Translated;
  translated.size = static_cast<std::uint16_t>(size);
  translated.user_offset = static_cast<std::uint16_t>(before);
  translated.user_size = static_cast<std::uint16_t>(prepend.size() + kept.size());
  return translated;
}

}  // namespace

TranslatedUri translate_user(const Message& request, std::size_t strip, std::string_view prepend) {
  const std::string_view text = request.request_uri_text;
  const std::string_view user = request.request_uri.user;
  const bool has_user =
      request.request_uri.has_user || request.request_uri.scheme == UriScheme::Tel;
  if (!has_user || user.empty() || !user_lies_in(user, text)) return {};  // NoUser
  return translate_user_in(text, user, strip, prepend);
}

TranslatedUri dialled_number_uri(std::string_view number, std::string_view host, std::size_t strip,
                                 std::string_view prepend) {
  constexpr std::string_view kScheme = "sip:";
  std::array<char, kMaxTranslatedUriSize> written;
  const std::size_t size = kScheme.size() + number.size() + 1 + host.size();
  if (number.empty() || size > written.size()) {
    TranslatedUri refused;
    refused.result = number.empty() ? Translation::Empty : Translation::TooLong;
    return refused;
  }
  char* out = std::copy(kScheme.begin(), kScheme.end(), written.data());
  out = std::copy(number.begin(), number.end(), out);
  *out++ = '@';
  std::copy(host.begin(), host.end(), out);
  const std::string_view text(written.data(), size);
  return translate_user_in(text, text.substr(kScheme.size(), number.size()), strip, prepend);
}

}  // namespace sipline::sip

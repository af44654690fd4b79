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

}  // namespace

TranslatedUri translate_user(const Message& request, std::size_t strip, std::string_view prepend) {
  TranslatedUri translated;
  const std::string_view text = request.request_uri_text;
  const std::string_view user = request.request_uri.user;
  const bool has_user =
      request.request_uri.has_user || request.request_uri.scheme == UriScheme::Tel;
  if (!has_user || user.empty() || !user_lies_in(user, text)) {
    translated.result = Translation::NoUser;
    return translated;
  }
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

}  // namespace sipline::sip

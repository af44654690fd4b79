#include "sip/token_list.hpp"

#include "sip/text.hpp"

namespace sipline::sip {
namespace {

struct ElementEnd {
  std::size_t comma = std::string_view::npos;  // the separating comma, npos for the last
  bool unterminated_quote = false;
};

// Finds the comma that ends the first element of `text`. Commas inside a quoted-string (with
// quoted-pair escapes) or inside '<' '>' (a URI may hold commas) do not separate; quotes do
// not count inside '<' '>' so that a stray '"' in a URI cannot swallow the rest.
ElementEnd find_element_end(std::string_view text) {
  // Fast path: most values (one Via, one Route) hold neither a comma nor a quote; one inline
  // vector scan for both settles them without the octet-by-octet walk below.
  const char* const end = text.data() + text.size();
  if (find_either(text.data(), end, ',', '"') == end) return ElementEnd{};
  bool in_quote = false;
  bool in_angle = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quote = false;
      }
    } else if (c == '"' && !in_angle) {
      in_quote = true;
    } else if (c == '<') {
      in_angle = true;
    } else if (c == '>') {
      in_angle = false;
    } else if (c == ',' && !in_angle) {
      return ElementEnd{i, false};
    }
  }
  return ElementEnd{std::string_view::npos, in_quote};
}

}  // namespace

std::optional<std::string_view> ListCursor::next() {
  if (done_) return std::nullopt;
  const ElementEnd end = find_element_end(rest_);
  if (end.unterminated_quote) return stop(ParseError::UnterminatedQuote);
  const std::string_view element = trim_lws(rest_.substr(0, end.comma));
  if (end.comma == std::string_view::npos) {
    done_ = true;
  } else {
    rest_.remove_prefix(end.comma + 1);
  }
  if (element.empty()) {
    // A value with nothing in it is an empty list; an empty element next to a comma is not.
    if (done_ && !after_comma_) return std::nullopt;
    return stop(ParseError::EmptyListElement);
  }
  after_comma_ = !done_;
  return element;
}

std::optional<std::string_view> ListCursor::stop(ParseError error) {
  error_ = error;
  done_ = true;
  return std::nullopt;
}

bool option_list_contains(std::string_view value, std::string_view tag) {
  ListCursor cursor(value);
  while (const std::optional<std::string_view> element = cursor.next()) {
    if (iequals(*element, tag)) return true;
  }
  return false;
}

}  // namespace sipline::sip

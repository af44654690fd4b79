// Comma-separated lists (RFC 3261 §7.3.1): splitting a header value into its elements while
// respecting quoted strings and <...>, and option-tag lists (Require, Proxy-Require,
// Supported, Unsupported).
#pragma once

#include <optional>
#include <string_view>

#include "sip/parse_error.hpp"

namespace sipline::sip {

// Yields the elements of a comma list, trimmed of LWS. Commas inside a quoted-string (with
// \-escapes) or between '<' and '>' do not split. An empty element (",,") is an error
// (ParseError::EmptyListElement); so is an unterminated quote. A value that is empty or all
// LWS is an empty list: next() returns std::nullopt at once with no error.
class ListCursor {
 public:
  explicit ListCursor(std::string_view value) : rest_(value) {}

  std::optional<std::string_view> next();
  ParseError error() const { return error_; }
  bool done() const { return done_; }

 private:
  std::optional<std::string_view> stop(ParseError error);

  std::string_view rest_;
  ParseError error_ = ParseError::None;
  bool done_ = false;
  bool after_comma_ = false;  // an element was returned and a comma followed it
};

// True when the option-tag list `value` (tokens separated by commas) contains `tag`
// (case-insensitive, RFC 3261 §19.2).
bool option_list_contains(std::string_view value, std::string_view tag);

}  // namespace sipline::sip

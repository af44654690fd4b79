#include "sip/params.hpp"

#include "sip/limits.hpp"
#include "sip/method.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

// Length of a quoted-string at the start of `text` (RFC 3261 §25.1: quoted-pair escapes
// any octet), or npos when it is not terminated.
std::size_t quoted_string_length(std::string_view text) {
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

bool ends_header_value(char c) {
  return c == ';' || c == ',' || is_lws_char(c);
}

}  // namespace

std::optional<Param> ParamCursor::next() {
  const bool header = style_ == Style::Header;
  if (header) rest_ = ltrim_lws(rest_);
  if (rest_.empty() || error_ != ParseError::None) return std::nullopt;
  if (rest_.front() != ';') {
    error_ = ParseError::BadParam;
    return std::nullopt;
  }
  rest_.remove_prefix(1);
  if (header) rest_ = ltrim_lws(rest_);

  std::size_t name_end = 0;
  if (header) {
    while (name_end < rest_.size() && is_token_char(rest_[name_end]))
      ++name_end;
  } else {
    while (name_end < rest_.size() && rest_[name_end] != '=' && rest_[name_end] != ';')
      ++name_end;
  }
  if (name_end == 0) {
    error_ = ParseError::BadParam;
    return std::nullopt;
  }
  Param param;
  param.name = rest_.substr(0, name_end);
  rest_.remove_prefix(name_end);

  std::string_view after_name = header ? ltrim_lws(rest_) : rest_;
  if (after_name.empty() || after_name.front() != '=') return param;
  rest_ = after_name.substr(1);
  if (header) rest_ = ltrim_lws(rest_);

  std::size_t value_end = 0;
  if (header && !rest_.empty() && rest_.front() == '"') {
    value_end = quoted_string_length(rest_);
    if (value_end == std::string_view::npos) {
      error_ = ParseError::BadParam;
      return std::nullopt;
    }
  } else if (header) {
    while (value_end < rest_.size() && !ends_header_value(rest_[value_end]))
      ++value_end;
  } else {
    while (value_end < rest_.size() && rest_[value_end] != ';')
      ++value_end;
  }
  if (value_end == 0) {
    error_ = ParseError::BadParam;
    return std::nullopt;
  }
  param.value = rest_.substr(0, value_end);
  param.has_value = true;
  rest_.remove_prefix(value_end);
  return param;
}

std::optional<Param> find_param(std::string_view params, std::string_view name,
                                ParamCursor::Style style) {
  ParamCursor cursor(params, style);
  while (std::optional<Param> param = cursor.next()) {
    if (iequals(param->name, name)) return param;
  }
  return std::nullopt;
}

ParseError validate_params(std::string_view params, ParamCursor::Style style) {
  ParamCursor cursor(params, style);
  std::size_t count = 0;
  while (cursor.next()) {
    if (++count > kMaxParams) return ParseError::TooManyParams;
  }
  return cursor.error();
}

}  // namespace sipline::sip

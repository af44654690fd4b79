#include "sip/params.hpp"

#include <array>
#include <cstdint>

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

// The octets that end a parameter name or value, by cursor style, one table lookup per octet
// (values such as branch run to dozens of octets).
enum Stop : std::uint8_t {
  kHeaderValueStop = 1,  // ';' ',' and LWS end an unquoted header parameter value
  kUriNameStop = 2,      // '=' ';' end a URI parameter name
  kUriValueStop = 4,     // ';' ends a URI parameter value
};

constexpr std::array<std::uint8_t, 256> make_stop_table() {
  std::array<std::uint8_t, 256> table{};
  for (char c : std::string_view(";, \t\r\n"))
    table[static_cast<unsigned char>(c)] |= kHeaderValueStop;
  table['='] |= kUriNameStop;
  table[';'] |= kUriNameStop | kUriValueStop;
  return table;
}
constexpr std::array<std::uint8_t, 256> kStops = make_stop_table();

// Length of the run of octets at the start of `text` that are not `stop` octets.
std::size_t run_until(std::string_view text, Stop stop) {
  std::size_t i = 0;
  while (i < text.size() && (kStops[static_cast<unsigned char>(text[i])] & stop) == 0)
    ++i;
  return i;
}

std::size_t token_run(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_token_char(text[i]))
    ++i;
  return i;
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

  const std::size_t name_end = header ? token_run(rest_) : run_until(rest_, kUriNameStop);
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
  } else {
    value_end = run_until(rest_, header ? kHeaderValueStop : kUriValueStop);
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

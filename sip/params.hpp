// Generic parameters: the ";name[=value]" sequences of header values (RFC 3261 §25.1
// generic-param, with LWS allowed around ';' and '=') and of URIs (no LWS).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "sip/parse_error.hpp"

namespace sipline::sip {

struct Param {
  std::string_view name;
  std::string_view value;  // quoted-string values keep their quotes
  bool has_value = false;
};

// Walks a parameter sequence. `text` is what follows the value proper and starts at the
// first ';' (or is empty). A header-style cursor skips LWS (SP, HTAB, folded CRLF) around
// ';' and '='; a URI-style cursor does not. An empty name (";;") is ParseError::BadParam.
class ParamCursor {
 public:
  enum class Style : unsigned char { Header, Uri };

  ParamCursor(std::string_view text, Style style) : rest_(text), style_(style) {}

  // The next parameter, std::nullopt at the end or on error (see error()).
  std::optional<Param> next();
  ParseError error() const { return error_; }

 private:
  std::string_view rest_;
  Style style_;
  ParseError error_ = ParseError::None;
};

// First parameter whose name equals `name` case-insensitively, if any.
std::optional<Param> find_param(std::string_view params, std::string_view name,
                                ParamCursor::Style style);

// Validates a whole sequence (no empty names, at most kMaxParams).
ParseError validate_params(std::string_view params, ParamCursor::Style style);

}  // namespace sipline::sip

// A forward-only reader over one header value, shared by the header-value parsers (Via,
// name-addr, digest, CSeq). It understands the separators of RFC 3261 §25.1: LWS (including
// folded lines), tokens and quoted strings. Inline: it runs per octet on the hot path.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "sip/limits.hpp"
#include "sip/method.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"

namespace sipline::sip {

class HeaderScanner {
 public:
  constexpr explicit HeaderScanner(std::string_view text) : text_(text) {}

  constexpr bool at_end() const { return pos_ == text_.size(); }
  // The current octet; only meaningful when !at_end().
  constexpr char peek() const { return at_end() ? '\0' : text_[pos_]; }
  constexpr bool next_is(char c) const { return !at_end() && text_[pos_] == c; }
  constexpr std::size_t position() const { return pos_; }
  constexpr std::string_view rest() const { return text_.substr(pos_); }
  constexpr std::string_view slice(std::size_t from, std::size_t to) const {
    return text_.substr(from, to - from);
  }

  // Skips SP, HTAB and the CRLF of folded lines (RFC 3261 §7.3.1); true if any was skipped.
  constexpr bool skip_lws() {
    const std::size_t start = pos_;
    while (!at_end() && is_lws_char(text_[pos_]))
      ++pos_;
    return pos_ != start;
  }

  constexpr bool consume(char c) {
    if (!next_is(c)) return false;
    ++pos_;
    return true;
  }

  template <class Predicate>
  constexpr std::string_view take_while(Predicate predicate) {
    const std::size_t start = pos_;
    while (!at_end() && predicate(text_[pos_]))
      ++pos_;
    return slice(start, pos_);
  }

  // The longest run of token octets (possibly empty).
  constexpr std::string_view take_token() { return take_while(is_token_char); }

  // A quoted-string starting here, quotes included, with quoted-pair escapes skipped
  // (RFC 3261 §25.1). std::nullopt when not at a '"' or when the closing quote is missing.
  constexpr std::optional<std::string_view> take_quoted_string() {
    if (!next_is('"')) return std::nullopt;
    for (std::size_t i = pos_ + 1; i < text_.size(); ++i) {
      if (text_[i] == '\\') {
        ++i;
      } else if (text_[i] == '"') {
        const std::size_t start = pos_;
        pos_ = i + 1;
        return slice(start, pos_);
      }
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Walks the header parameters `params` (from the first ';', LWS allowed around ';' and '=')
// and hands each to `apply`, which returns ParseError::None to go on. Stops at the first error:
// apply's, the cursor's (e.g. BadParam for ";;"), or TooManyParams past kMaxParams.
template <class Apply>
ParseError for_each_header_param(std::string_view params, Apply apply) {
  ParamCursor cursor(params, ParamCursor::Style::Header);
  std::size_t count = 0;
  while (const std::optional<Param> param = cursor.next()) {
    if (++count > kMaxParams) return ParseError::TooManyParams;
    if (const ParseError error = apply(*param); error != ParseError::None) return error;
  }
  return cursor.error();
}

}  // namespace sipline::sip

// A forward-only reader over one header value, shared by the header-value parsers (Via,
// name-addr, digest, CSeq). It understands the separators of RFC 3261 §25.1: LWS (including
// folded lines), tokens and quoted strings. Inline: it runs per octet on the hot path.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/limits.hpp"
#include "sip/method.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/token_run.hpp"

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

  // Moves past the next `count` octets (at most to the end).
  constexpr void skip(std::size_t count) { pos_ = std::min(pos_ + count, text_.size()); }

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

namespace detail {

// Octet classes of parameter values in the common form, one table lookup per octet.
enum CommonValueOctet : std::uint8_t {
  kValueToken = 1,  // RFC 3261 §25.1 token
  kValueStop = 2,   // ';' ends the value; ',' '"' and LWS need the general rules
};

constexpr std::array<std::uint8_t, 256> make_common_value_octets() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c)
    table[static_cast<std::size_t>(c)] = is_token_char(static_cast<char>(c)) ? kValueToken : 0;
  for (char c : std::string_view(";,\" \t\r\n"))
    table[static_cast<unsigned char>(c)] = kValueStop;
  return table;
}
inline constexpr std::array<std::uint8_t, 256> kCommonValueOctets = make_common_value_octets();

struct CommonValue {
  std::size_t end;  // the first stop octet, or the end of the text
  bool token;       // every octet before it is a token octet
};

inline CommonValue common_value(std::string_view text, std::size_t pos) {
  // Most values are tokens (branches, tags): their run ends at the stop octet.
  pos = token_run_end(text, pos);
  if (pos == text.size() ||
      (kCommonValueOctets[static_cast<unsigned char>(text[pos])] & kValueStop) != 0) {
    return CommonValue{pos, true};
  }
  std::uint8_t all = 0;  // text[pos] is a value octet that is not a token octet
  for (; pos < text.size(); ++pos) {
    const std::uint8_t octet = kCommonValueOctets[static_cast<unsigned char>(text[pos])];
    if ((octet & kValueStop) != 0) break;
    all &= octet;
  }
  return CommonValue{pos, all == kValueToken};
}

// Names (transport, parameter names) are a few octets: an octet loop ends sooner.
inline std::size_t token_end(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_token_char(text[pos]))
    ++pos;
  return pos;
}

}  // namespace detail

// The parameters as nearly everybody writes them: *( ";" token [ "=" value ] ) with no LWS,
// no quoted or empty value, no ',' and at most kMaxParams of them, from the first ';'. Hands
// each to `apply(param, value_is_token)` (the token test of the value comes with the scan
// that finds its end), which returns false to stop. Returns false as soon as the text leaves
// that form or `apply` refuses: the caller then undoes what `apply` did and walks the
// parameters again with for_each_header_param, which handles all of RFC 3261 §25.1 and says
// what is wrong. On the common form both walks see the same parameters.
template <class Apply>
bool for_each_common_param(std::string_view params, Apply apply) {
  std::size_t pos = 0;
  for (std::size_t count = 1; pos < params.size(); ++count) {  // params[pos] == ';'
    if (count > kMaxParams || params[pos] != ';') return false;
    const std::size_t name_end = detail::token_end(params, pos + 1);
    if (name_end == pos + 1) return false;
    Param param;
    param.name = params.substr(pos + 1, name_end - pos - 1);
    pos = name_end;
    bool value_is_token = false;
    if (pos < params.size() && params[pos] == '=') {
      const detail::CommonValue value = detail::common_value(params, pos + 1);
      if (value.end == pos + 1) return false;
      param.value = params.substr(pos + 1, value.end - pos - 1);
      param.has_value = true;
      value_is_token = value.token;
      pos = value.end;
    }
    if ((pos < params.size() && params[pos] != ';') || !apply(param, value_is_token)) {
      return false;
    }
  }
  return true;
}

}  // namespace sipline::sip

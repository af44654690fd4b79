#include "sip/name_addr.hpp"

#include <cstdint>
#include <optional>

#include "sip/header_scanner.hpp"
#include "sip/parse_in_place.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

// Octets of an addr-spec written without '<' '>'. Its header parameters start at ';', and
// RFC 3261 §20 forbids ',' and '?' in that form (they would be ambiguous), so those end it
// too and are then refused by what follows.
constexpr bool is_bare_uri_char(char c) {
  return c != ';' && c != ',' && c != '?' && c != '<' && c != '>' && c != '"' && !is_lws_char(c);
}

// Parses the address part of one name-addr / addr-spec element and locates its header
// parameters; the parameters themselves are interpreted by the callers.
class AddressParser {
 public:
  AddressParser(std::string_view element, UriDepth depth, NameAddr& address)
      : text_(trim_lws(element)), scan_(text_), depth_(depth), address_(address) {}

  ParseError parse() {
    ParseError error = read_address();
    if (error == ParseError::None) error = read_params_start();
    if (error == ParseError::None) error = parse_uri_text();
    return error;
  }

 private:
  ParseError read_address() {
    if (scan_.at_end()) return ParseError::BadNameAddr;
    if (scan_.next_is('"')) return read_quoted_display_name();
    if (scan_.next_is('<')) return read_bracketed_uri();
    return read_token_display_name_or_addr_spec();
  }

  // display-name = quoted-string, followed by LAQUOT = SWS "<".
  ParseError read_quoted_display_name() {
    const std::optional<std::string_view> name = scan_.take_quoted_string();
    if (!name) return ParseError::UnterminatedQuote;
    address_.display_name = *name;
    scan_.skip_lws();
    return read_bracketed_uri();
  }

  // display-name = *(token LWS). RFC 4475 §3.1.1.6 asks to accept a token directly followed
  // by '<' too. Tokens that do not lead to '<' (e.g. "sip" of "sip:bob@biloxi.com") are the
  // start of an addr-spec.
  ParseError read_token_display_name_or_addr_spec() {
    std::size_t name_end = 0;
    while (!scan_.take_token().empty()) {
      name_end = scan_.position();
      scan_.skip_lws();
    }
    if (name_end != 0 && scan_.next_is('<')) {
      address_.display_name = text_.substr(0, name_end);
      return read_bracketed_uri();
    }
    scan_ = HeaderScanner(text_);
    address_.uri_text = scan_.take_while(is_bare_uri_char);
    return ParseError::None;
  }

  ParseError read_bracketed_uri() {
    if (!scan_.consume('<')) return ParseError::BadNameAddr;
    // The URI runs to the first '>' (a URI cannot hold one unescaped): one vector scan.
    const std::string_view rest = scan_.rest();
    const char* const rest_end = rest.data() + rest.size();
    const char* close = find_octet(rest.data(), rest_end, '>');
    if (close == rest_end) return ParseError::BadNameAddr;
    const std::size_t length = static_cast<std::size_t>(close - rest.data());
    address_.uri_text = rest.substr(0, length);
    scan_ = HeaderScanner(
        text_.substr(static_cast<std::size_t>(rest.data() - text_.data()) + length + 1));
    address_.bracketed = true;
    return ParseError::None;
  }

  // After the address: nothing, or header parameters (RAQUOT = ">" SWS, SEMI = SWS ";" SWS).
  ParseError read_params_start() {
    scan_.skip_lws();
    if (scan_.at_end()) return ParseError::None;
    if (!scan_.next_is(';')) return ParseError::BadNameAddr;
    address_.params = scan_.rest();
    return ParseError::None;
  }

  // LWS inside the brackets ("< sip:a@b >", RFC 4475 §3.1.2.14) is refused, not ignored.
  ParseError parse_uri_text() {
    const std::string_view uri = address_.uri_text;
    if (uri.empty() || is_lws_char(uri.front()) || is_lws_char(uri.back())) {
      return ParseError::BadNameAddr;
    }
    if (depth_ == UriDepth::Deferred) return ParseError::None;
    const ParseError error = parse_uri_in_place(uri, address_.uri);
    address_.uri_parsed = error == ParseError::None;
    return error;
  }

  std::string_view text_;
  HeaderScanner scan_;
  UriDepth depth_;
  NameAddr& address_;
};

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 3261 §25.1), in
// thousandths.
std::optional<std::uint16_t> parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1') || text.size() > 5) return std::nullopt;
  unsigned milli = unsigned(text[0] - '0') * 1000;
  if (text.size() == 1) return std::uint16_t(milli);
  if (text[1] != '.') return std::nullopt;
  unsigned scale = 100;
  for (char c : text.substr(2)) {
    if (!is_digit(c)) return std::nullopt;
    milli += unsigned(c - '0') * scale;
    scale /= 10;
  }
  if (milli > 1000) return std::nullopt;
  return std::uint16_t(milli);
}

}  // namespace

namespace {

// tag-param = "tag" EQUAL token (RFC 3261 §25.1); `value_is_token` is that test, done by the
// caller. Other parameters are the callers' business.
bool apply_tag(NameAddr& address, const Param& param, bool value_is_token) {
  if (!iequals(param.name, "tag")) return true;
  address.tag = param.value;
  address.has_tag = true;
  return value_is_token;
}

ParseError parse_name_addr_with_tag(std::string_view element, UriDepth depth, NameAddr& address) {
  if (const ParseError error = AddressParser(element, depth, address).parse();
      error != ParseError::None) {
    return error;
  }
  // The common form first (the token test comes with its scan); anything else, or a refused
  // tag, through the general rule.
  const bool common = for_each_common_param(
      address.params,
      [&address](const Param& param, bool token) { return apply_tag(address, param, token); });
  if (common) return ParseError::None;
  address.tag = {};
  address.has_tag = false;
  return for_each_header_param(address.params, [&address](const Param& param) {
    const bool token = is_token(param.value);
    return apply_tag(address, param, token) ? ParseError::None : ParseError::BadParam;
  });
}

}  // namespace

ParseError parse_name_addr_in_place(std::string_view element, UriDepth depth, NameAddr& out) {
  const ParseError error = parse_name_addr_with_tag(element, depth, out);
  if (error != ParseError::None) out = NameAddr{};
  return error;
}

Parsed<NameAddr> parse_name_addr(std::string_view element, UriDepth depth) {
  Parsed<NameAddr> result;
  result.error = parse_name_addr_in_place(element, depth, result.value);
  return result;
}

Parsed<ContactValue> parse_contact(std::string_view element) {
  ContactValue contact;
  // Contact: * (RFC 3261 §10.2.2, STAR = SWS "*" SWS) removes all bindings.
  if (trim_lws(element) == "*") {
    contact.star = true;
    return Parsed<ContactValue>{contact, ParseError::None};
  }
  if (const ParseError error = AddressParser(element, UriDepth::Full, contact.address).parse();
      error != ParseError::None) {
    return fail<ContactValue>(error);
  }
  // contact-params = c-p-q / c-p-expires / contact-extension (RFC 3261 §20.10).
  const ParseError error =
      for_each_header_param(contact.address.params, [&contact](const Param& param) {
        if (iequals(param.name, "q")) {
          const std::optional<std::uint16_t> q = parse_qvalue(param.value);
          contact.has_q = true;
          contact.q_milli = q.value_or(0);
          return q ? ParseError::None : ParseError::BadContact;
        }
        if (!iequals(param.name, "expires")) return ParseError::None;
        const std::optional<std::uint64_t> expires = parse_decimal(param.value, UINT32_MAX);
        contact.has_expires = true;
        contact.expires = std::uint32_t(expires.value_or(0));
        return expires ? ParseError::None : ParseError::BadContact;
      });
  if (error != ParseError::None) return fail<ContactValue>(error);
  return Parsed<ContactValue>{contact, ParseError::None};
}

}  // namespace sipline::sip

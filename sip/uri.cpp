// SIP/SIPS (RFC 3261 §19.1, §25.1), tel (RFC 3966) and opaque URIs.
//
// parse_uri walks the text forwards once per component, classifying each octet through one
// 256-entry table; the only look-ahead is the search for the '@' that ends the userinfo,
// which stops at the first octet that cannot belong to a userinfo (so usually at the host).
// When a URI is malformed, the first offending octet decides the reported error; any
// whitespace, control octet, '<' or '>' met on the way is BadUri (RFC 4475 §3.1.2.7,
// §3.1.2.8: such a Request-URI is refused, never repaired).
#include "sip/uri.hpp"

#include <array>
#include <optional>

#include "sip/limits.hpp"
#include "sip/params.hpp"
#include "sip/parse_in_place.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// Octet classes of the RFC 3261 §25.1 grammar, one bit each.
enum CharClass : std::uint16_t {
  kAlpha = 1 << 0,
  kDigit = 1 << 1,
  kHex = 1 << 2,
  kMark = 1 << 3,           // - _ . ! ~ * ' ( )
  kUserOnly = 1 << 4,       // user-unreserved beyond password chars: ; ? /  (and '#', see below)
  kPasswordExtra = 1 << 5,  // & = + $ ,  (in user and password)
  kParamExtra = 1 << 6,     // param-unreserved: [ ] / : & + $
  kHeaderExtra = 1 << 7,    // hnv-unreserved: [ ] / ? : + $
  kScheme = 1 << 8,         // + - .  (RFC 3986 §3.1, beside ALPHA / DIGIT)
  kForbidden = 1 << 9,      // whitespace, controls, DEL, '<', '>': never inside a URI
};

constexpr std::uint16_t kAlnum = kAlpha | kDigit;
constexpr std::uint16_t kUnreserved = kAlnum | kMark;
// '#' is a dtmf-digit of telephone-subscriber (RFC 3261 §25.1 via RFC 2806), which a SIP
// user part may be; dial strings such as "*97#" carry it unescaped in practice.
constexpr std::uint16_t kUserChars = kUnreserved | kPasswordExtra | kUserOnly;
constexpr std::uint16_t kPasswordChars = kUnreserved | kPasswordExtra;
constexpr std::uint16_t kParamChars = kUnreserved | kParamExtra;
constexpr std::uint16_t kHeaderChars = kUnreserved | kHeaderExtra;

constexpr std::array<std::uint16_t, 256> make_char_table() {
  std::array<std::uint16_t, 256> table{};
  auto add = [&table](std::string_view chars, std::uint16_t bits) {
    for (char c : chars) {
      table[static_cast<unsigned char>(c)] |= bits;
    }
  };
  for (int c = 'a'; c <= 'z'; ++c) {
    table[c] |= kAlpha;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    table[c] |= kAlpha;
  }
  for (int c = '0'; c <= '9'; ++c) {
    table[c] |= kDigit | kHex;
  }
  add("abcdefABCDEF", kHex);
  add("-_.!~*'()", kMark);
  add(";?/#", kUserOnly);
  add("&=+$,", kPasswordExtra);
  add("[]/:&+$", kParamExtra);
  add("[]/?:+$", kHeaderExtra);
  add("+-.", kScheme);
  for (int c = 0; c <= ' '; ++c) {
    table[c] |= kForbidden;
  }
  table[0x7f] |= kForbidden;
  add("<>", kForbidden);
  return table;
}

constexpr std::array<std::uint16_t, 256> kCharTable = make_char_table();

constexpr bool has_class(char c, std::uint16_t bits) {
  return (kCharTable[static_cast<unsigned char>(c)] & bits) != 0;
}

constexpr bool is_alpha(char c) {
  return has_class(c, kAlpha);
}
constexpr bool is_alnum(char c) {
  return has_class(c, kAlnum);
}
constexpr bool is_hex(char c) {
  return has_class(c, kHex);
}
constexpr bool is_forbidden(char c) {
  return has_class(c, kForbidden);
}

constexpr int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return ascii_lower(c) - 'a' + 10;
}

// True when text[pos] starts a well-formed "%" HEX HEX escape.
constexpr bool is_escape_at(std::string_view text, std::size_t pos) {
  return pos + 2 < text.size() && text[pos] == '%' && is_hex(text[pos + 1]) &&
         is_hex(text[pos + 2]);
}

// The error for a '%' at `pos` that starts no well-formed escape. When whitespace follows
// it, the whitespace is the fault.
ParseError escape_error(std::string_view text, std::size_t pos) {
  for (std::size_t i = pos + 1; i < text.size() && i <= pos + 2; ++i) {
    if (is_forbidden(text[i])) return ParseError::BadUri;
  }
  return ParseError::BadEscape;
}

// The error for the octet at `pos` (or the end) that may not stand where it was found:
// BadUri for the octets no URI contains, BadEscape for a malformed escape, else `otherwise`.
ParseError offending_octet(std::string_view text, std::size_t pos, ParseError otherwise) {
  if (pos < text.size()) {
    if (is_forbidden(text[pos])) return ParseError::BadUri;
    if (text[pos] == '%') return escape_error(text, pos);
  }
  return otherwise;
}

// Length of the run of octets of class `bits` or well-formed escapes starting at `pos`.
std::size_t escaped_run(std::string_view text, std::size_t pos, std::uint16_t bits) {
  std::size_t i = pos;
  while (i < text.size()) {
    if (has_class(text[i], bits)) {
      ++i;
    } else if (is_escape_at(text, i)) {
      i += 3;
    } else {
      break;
    }
  }
  return i - pos;
}

// --- hosts (RFC 3261 §25.1 host, RFC 4291 §2.2 text forms) ------------------------------

using Ipv4Bytes = std::array<std::uint8_t, 4>;
using Ipv6Bytes = std::array<std::uint8_t, 16>;

struct Ipv4Prefix {
  Ipv4Bytes bytes;
  std::size_t length;
};

// IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each at most 255, at the
// start of `text` (what follows it is not looked at).
std::optional<Ipv4Prefix> leading_ipv4(std::string_view text) {
  Ipv4Bytes bytes{};
  std::size_t pos = 0;
  for (std::size_t part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    std::size_t digits = 0;
    unsigned value = 0;
    while (pos < text.size() && is_digit(text[pos]) && digits < 3) {
      value = value * 10 + unsigned(text[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 0 || value > 255) return std::nullopt;
    bytes[part] = std::uint8_t(value);
  }
  return Ipv4Prefix{bytes, pos};
}

// The whole text is an IPv4address.
std::optional<Ipv4Bytes> parse_ipv4(std::string_view text) {
  const std::optional<Ipv4Prefix> prefix = leading_ipv4(text);
  if (!prefix || prefix->length != text.size()) return std::nullopt;
  return prefix->bytes;
}

constexpr bool is_hostname_octet(char c) {
  return is_alnum(c) || c == '-' || c == '.';
}

// Length of the IPv4address that `text` starts with when no hostname octet follows it, else
// 0. Such a dotted quad is exactly the run of hostname octets that the hostname rule would
// take and then classify as IPv4 (its toplabel starts with a digit), so the common Via and
// Contact hosts skip the label walk and the second pass over the same octets.
std::size_t whole_ipv4_run_length(std::string_view text) {
  const std::optional<Ipv4Prefix> prefix = leading_ipv4(text);
  if (!prefix) return 0;
  const bool run_ends = prefix->length == text.size() || !is_hostname_octet(text[prefix->length]);
  return run_ends ? prefix->length : 0;
}

// IPv6address of RFC 3261 §25.1: hex4 groups, at most one "::", optionally ending in a
// dotted IPv4 address that stands for the last two groups. `text` excludes the brackets.
std::optional<Ipv6Bytes> parse_ipv6(std::string_view text) {
  std::array<std::uint16_t, 8> groups{};
  std::size_t count = 0;
  std::size_t gap = npos;  // index in `groups` where "::" stands
  std::size_t pos = 0;
  if (text.substr(0, 2) == "::") {
    gap = 0;
    pos = 2;
  }
  while (pos < text.size()) {
    const std::size_t start = pos;
    std::uint32_t value = 0;
    while (pos < text.size() && is_hex(text[pos])) {
      value = value << 4 | hex_value(text[pos++]);
    }
    if (pos < text.size() && text[pos] == '.') {  // the digits were an IPv4 address's
      std::optional<Ipv4Bytes> ipv4 = parse_ipv4(text.substr(start));
      if (!ipv4 || count > 6) return std::nullopt;
      groups[count++] = std::uint16_t((*ipv4)[0] << 8 | (*ipv4)[1]);
      groups[count++] = std::uint16_t((*ipv4)[2] << 8 | (*ipv4)[3]);
      break;
    }
    if (pos == start || pos - start > 4 || count == 8) return std::nullopt;
    groups[count++] = std::uint16_t(value);
    if (pos == text.size()) break;
    if (text[pos] != ':') return std::nullopt;
    ++pos;
    if (pos < text.size() && text[pos] == ':') {
      if (gap != npos) return std::nullopt;
      gap = count;
      ++pos;
    } else if (pos == text.size()) {
      return std::nullopt;  // trailing single ':'
    }
  }
  // Without "::" all eight groups are written; with it, it stands for at least one.
  if (gap == npos ? count != 8 : count > 7) return std::nullopt;
  Ipv6Bytes bytes{};
  const std::size_t tail = gap == npos ? 0 : count - gap;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t slot = (gap != npos && i >= gap) ? 8 - tail + (i - gap) : i;
    bytes[2 * slot] = std::uint8_t(groups[i] >> 8);
    bytes[2 * slot + 1] = std::uint8_t(groups[i] & 0xff);
  }
  return bytes;
}

// --- the parser ---------------------------------------------------------------------------

// Parses what follows "scheme:" into uri_; each step consumes octets from pos_ onwards.
class UriBodyParser {
 public:
  UriBodyParser(std::string_view body, Uri& uri) : text_(body), uri_(uri) {}

  ParseError parse_sip() {
    ParseError error = parse_userinfo();
    if (error == ParseError::None) error = parse_hostport();
    if (error == ParseError::None) error = parse_params();
    if (error == ParseError::None) error = parse_headers();
    return error;
  }

  ParseError parse_tel() {
    ParseError error = parse_tel_number();
    if (error == ParseError::None) error = parse_params();
    if (error == ParseError::None && pos_ < text_.size()) {
      error = offending_octet(text_, pos_, ParseError::BadParam);
    }
    return error;
  }

  // The host the text starts with (hostname, IPv4address or IPv6reference) and its length.
  HostPrefix classify_leading_host() {
    const bool bracketed = !text_.empty() && text_[0] == '[';
    const HostKind kind = bracketed ? consume_ipv6_reference() : consume_name_or_ipv4();
    return HostPrefix{kind, pos_};
  }

  ParseError parse_opaque() {
    if (text_.empty()) return ParseError::BadUri;
    for (char c : text_) {
      if (is_forbidden(c)) return ParseError::BadUri;
    }
    uri_.opaque = text_;
    return ParseError::None;
  }

 private:
  // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@". Neither user nor
  // password may hold a bare '@' (it must be escaped, as in RFC 4475 semiuri.dat's
  // "user;par=u%40example.net@example.com"), so the first '@' ends the userinfo. The scan
  // stops at the first octet that no userinfo contains: the URI then has no userinfo.
  ParseError parse_userinfo() {
    std::size_t colon = npos;
    std::size_t bad_password_octet = npos;
    std::size_t bad_escape = npos;
    std::size_t i = 0;
    for (; i < text_.size(); ++i) {
      const char c = text_[i];
      if (has_class(c, kPasswordChars)) continue;  // the common case: fine in user and password
      if (c == '@') break;
      if (c == '%') {
        if (bad_escape == npos && !is_escape_at(text_, i)) bad_escape = i;
      } else if (c == ':') {
        if (colon == npos) {
          colon = i;
        } else if (bad_password_octet == npos) {
          bad_password_octet = i;
        }
      } else if (has_class(c, kUserChars)) {
        if (colon != npos && bad_password_octet == npos) bad_password_octet = i;
      } else {
        return ParseError::None;  // no '@' before this octet: no userinfo
      }
    }
    if (i == text_.size()) return ParseError::None;
    if (bad_escape != npos) return offending_octet(text_, bad_escape, ParseError::BadEscape);
    if (bad_password_octet != npos) return ParseError::BadUri;
    uri_.has_user = true;
    uri_.user = text_.substr(0, colon == npos ? i : colon);
    if (colon != npos) uri_.password = text_.substr(colon + 1, i - colon - 1);
    pos_ = i + 1;
    return ParseError::None;
  }

  // hostport = host [ ":" port ]; host = hostname / IPv4address / IPv6reference.
  ParseError parse_hostport() {
    const std::size_t start = pos_;
    const bool bracketed = pos_ < text_.size() && text_[pos_] == '[';
    const HostKind kind = bracketed ? consume_ipv6_reference() : consume_name_or_ipv4();
    // On failure pos_ is at the octet that ended the host: "sip:a b" is BadUri for the
    // space rather than BadHost.
    if (kind == HostKind::None) return offending_octet(text_, pos_, ParseError::BadHost);
    uri_.host_port.host = text_.substr(start, pos_ - start);
    uri_.host_port.kind = kind;
    if (pos_ < text_.size() && text_[pos_] == ':') return parse_port();
    return expect_component_end(ParseError::BadHost);
  }

  // IPv6reference = "[" IPv6address "]", consumed from the '[' at pos_.
  HostKind consume_ipv6_reference() {
    const std::size_t address_start = ++pos_;
    while (pos_ < text_.size() &&
           (is_hex(text_[pos_]) || text_[pos_] == ':' || text_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == text_.size() || text_[pos_] != ']') return HostKind::None;
    if (!parse_ipv6(text_.substr(address_start, pos_ - address_start))) return HostKind::None;
    ++pos_;
    return HostKind::Ipv6Reference;
  }

  // hostname = *( domainlabel "." ) toplabel [ "." ], labels alphanum with inner '-', the
  // toplabel starting with ALPHA. A host whose toplabel starts with a digit can only be an
  // IPv4address, so "256.1.1.1" is neither. Labels are checked as the octets go by.
  HostKind consume_name_or_ipv4() {
    if (const std::size_t length = whole_ipv4_run_length(text_.substr(pos_)); length != 0) {
      pos_ += length;
      return HostKind::Ipv4;
    }
    const std::size_t start = pos_;
    std::size_t label_start = pos_;
    std::size_t toplabel_start = pos_;
    bool labels_ok = true;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (is_alnum(c)) continue;
      if (c == '-') {
        labels_ok &= pos_ != label_start;
      } else if (c == '.') {
        labels_ok &= pos_ != label_start && text_[pos_ - 1] != '-';
        toplabel_start = label_start;
        label_start = pos_ + 1;
      } else {
        break;
      }
    }
    if (pos_ == start) return HostKind::None;
    if (pos_ != label_start) {  // no trailing '.': the last label is the toplabel
      labels_ok &= text_[pos_ - 1] != '-';
      toplabel_start = label_start;
    }
    if (!labels_ok) return HostKind::None;
    if (!is_digit(text_[toplabel_start])) return HostKind::Hostname;
    return parse_ipv4(text_.substr(start, pos_ - start)) ? HostKind::Ipv4 : HostKind::None;
  }

  // port = 1*DIGIT, here bounded to 0-65535 (the UDP/TCP port range).
  ParseError parse_port() {
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      ++pos_;
    }
    if (ParseError error = expect_component_end(ParseError::BadPort); error != ParseError::None) {
      return error;
    }
    std::optional<std::uint64_t> port = parse_decimal(text_.substr(start, pos_ - start), 65535);
    if (!port) return ParseError::BadPort;
    uri_.host_port.port = std::uint16_t(*port);
    uri_.host_port.has_port = true;
    return ParseError::None;
  }

  // After the hostport only parameters, headers or the end may follow.
  ParseError expect_component_end(ParseError otherwise) const {
    if (pos_ == text_.size() || text_[pos_] == ';' || text_[pos_] == '?') {
      return ParseError::None;
    }
    return offending_octet(text_, pos_, otherwise);
  }

  // uri-parameters = *( ";" pname [ "=" pvalue ] ), pname and pvalue 1*paramchar. Checked
  // here in the same pass that finds their end, with the count bound of kMaxParams and the
  // loose-routing flag (RFC 3261 §16.4: "lr" takes no value, yet "lr=on" is seen from
  // older proxies and means the same).
  ParseError parse_params() {
    const std::size_t start = pos_;
    std::size_t count = 0;
    while (pos_ < text_.size() && text_[pos_] == ';') {
      if (++count > kMaxParams) return ParseError::TooManyParams;
      ++pos_;
      const std::size_t name_length = escaped_run(text_, pos_, kParamChars);
      if (name_length == 0) return offending_octet(text_, pos_, ParseError::BadParam);
      if (iequals(text_.substr(pos_, name_length), "lr")) uri_.lr = true;
      pos_ += name_length;
      if (pos_ < text_.size() && text_[pos_] == '=') {
        ++pos_;
        const std::size_t value_length = escaped_run(text_, pos_, kParamChars);
        if (value_length == 0) return offending_octet(text_, pos_, ParseError::BadParam);
        pos_ += value_length;
      }
      if (pos_ < text_.size() && text_[pos_] != ';' && text_[pos_] != '?') {
        return offending_octet(text_, pos_, ParseError::BadParam);
      }
    }
    uri_.params = text_.substr(start, pos_ - start);
    return ParseError::None;
  }

  // headers = "?" header *( "&" header ); header = hname "=" hvalue; hname is not empty.
  ParseError parse_headers() {
    if (pos_ == text_.size()) return ParseError::None;
    const std::size_t start = ++pos_;  // past the '?' that parse_params stopped at
    while (true) {
      const std::size_t name_length = escaped_run(text_, pos_, kHeaderChars);
      pos_ += name_length;
      if (name_length == 0 || pos_ == text_.size() || text_[pos_] != '=') {
        return offending_octet(text_, pos_, ParseError::BadUri);
      }
      ++pos_;
      pos_ += escaped_run(text_, pos_, kHeaderChars);
      if (pos_ == text_.size()) break;
      if (text_[pos_] != '&') return offending_octet(text_, pos_, ParseError::BadUri);
      ++pos_;
    }
    uri_.headers = text_.substr(start);
    return ParseError::None;
  }

  // RFC 3966 §3: global-number-digits = "+" *phonedigit DIGIT *phonedigit, local-number-
  // digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex, visual separators
  // "-" "." "(" ")". A local number should carry a phone-context; this parser does not
  // insist, as deciding what a local number means is the router's business.
  ParseError parse_tel_number() {
    const bool global = !text_.empty() && text_[0] == '+';
    pos_ = global ? 1 : 0;
    bool has_digit = false;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (c == '-' || c == '.' || c == '(' || c == ')') continue;
      const bool digit = global ? is_digit(c) : (is_hex(c) || c == '*' || c == '#');
      if (!digit) break;
      has_digit = true;
    }
    if (!has_digit || (pos_ < text_.size() && text_[pos_] != ';')) {
      return offending_octet(text_, pos_, ParseError::BadUri);
    }
    uri_.user = text_.substr(0, pos_);
    return ParseError::None;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  Uri& uri_;
};

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1), up to the ':'.
Parsed<std::size_t> scheme_length(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (is_alnum(text[i]) || has_class(text[i], kScheme))) {
    ++i;
  }
  if (i < text.size() && is_forbidden(text[i])) return fail<std::size_t>(ParseError::BadUri);
  if (i == 0 || i == text.size() || text[i] != ':' || !is_alpha(text[0])) {
    return fail<std::size_t>(ParseError::BadScheme);
  }
  return Parsed<std::size_t>{i};
}

UriScheme classify_scheme(std::string_view scheme) {
  if (iequals(scheme, "sip")) return UriScheme::Sip;
  if (iequals(scheme, "sips")) return UriScheme::Sips;
  if (iequals(scheme, "tel")) return UriScheme::Tel;
  return UriScheme::Other;
}

// --- comparison (RFC 3261 §19.1.4) ----------------------------------------------------------

// The "reserved" set of RFC 2396 §2.2. §19.1.4: characters other than these are equivalent
// to their %HH encoding; an escaped reserved character stays distinct from the bare one
// ("a%3Bb" is not "a;b").
constexpr bool is_rfc2396_reserved(char c) {
  switch (c) {
    case ';':
    case '/':
    case '?':
    case ':':
    case '@':
    case '&':
    case '=':
    case '+':
    case '$':
    case ',':
      return true;
    default:
      return false;
  }
}

// One comparable unit of an escaped string: an octet, and whether it is an escaped
// reserved character.
struct EscapedUnit {
  char octet;
  bool escaped_reserved;
};

// Decodes an escaped string unit by unit, so two strings compare without a buffer. A '%'
// that starts no well-formed escape counts as itself.
class EscapedReader {
 public:
  explicit EscapedReader(std::string_view text) : text_(text) {}

  std::optional<EscapedUnit> next() {
    if (pos_ >= text_.size()) return std::nullopt;
    if (!is_escape_at(text_, pos_)) return EscapedUnit{text_[pos_++], false};
    const char octet = char(hex_value(text_[pos_ + 1]) << 4 | hex_value(text_[pos_ + 2]));
    pos_ += 3;
    return EscapedUnit{octet, is_rfc2396_reserved(octet)};
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

enum class Case : unsigned char { Sensitive, Insensitive };

bool escaped_equal(std::string_view a, std::string_view b, Case letter_case) {
  EscapedReader reader_a(a);
  EscapedReader reader_b(b);
  while (true) {
    const std::optional<EscapedUnit> unit_a = reader_a.next();
    const std::optional<EscapedUnit> unit_b = reader_b.next();
    if (!unit_a || !unit_b) return !unit_a && !unit_b;
    if (unit_a->escaped_reserved != unit_b->escaped_reserved) return false;
    const bool same = letter_case == Case::Sensitive
                          ? unit_a->octet == unit_b->octet
                          : ascii_lower(unit_a->octet) == ascii_lower(unit_b->octet);
    if (!same) return false;
  }
}

// The address inside "[...]"; empty (and so invalid) for a host without brackets.
std::string_view ipv6_inside_brackets(std::string_view host) {
  if (host.size() < 2 || host.front() != '[' || host.back() != ']') return {};
  return host.substr(1, host.size() - 2);
}

bool hosts_equal(const HostPort& a, const HostPort& b) {
  if (a.kind != b.kind) return false;  // a name never equals the address it resolves to
  switch (a.kind) {
    case HostKind::Ipv4:
      return parse_ipv4(a.host) == parse_ipv4(b.host);
    case HostKind::Ipv6Reference:
      // "[2001:DB8::1]" and "[2001:db8:0:0::1]" are one address.
      return parse_ipv6(ipv6_inside_brackets(a.host)) == parse_ipv6(ipv6_inside_brackets(b.host));
    default:
      return iequals(a.host, b.host);
  }
}

bool param_values_equal(const Param& a, const Param& b) {
  return a.has_value == b.has_value && escaped_equal(a.value, b.value, Case::Insensitive);
}

// When a name repeats (";t;t=tcp"), its first occurrence counts, as for uri_param().
Param first_of_name(std::string_view params, const Param& param) {
  return *find_param(params, param.name, ParamCursor::Style::Uri);
}

// §19.1.4: a parameter in both URIs must match; user, ttl, method, maddr and transport
// must be in both or neither, even with their default value; others in one only are
// ignored. Names are compared as written (case-insensitively), not unescaped.
bool sip_params_match(std::string_view a, std::string_view b) {
  constexpr std::string_view kMustBeInBoth[] = {"user", "ttl", "method", "maddr", "transport"};
  for (std::string_view name : kMustBeInBoth) {
    if (find_param(a, name, ParamCursor::Style::Uri).has_value() !=
        find_param(b, name, ParamCursor::Style::Uri).has_value()) {
      return false;
    }
  }
  ParamCursor cursor(a, ParamCursor::Style::Uri);
  while (std::optional<Param> param = cursor.next()) {
    std::optional<Param> other = find_param(b, param->name, ParamCursor::Style::Uri);
    if (other && !param_values_equal(first_of_name(a, *param), *other)) return false;
  }
  return true;
}

// Every parameter of `a` is in `b` with an equal value (RFC 3966 §4 for tel).
bool params_contained(std::string_view a, std::string_view b) {
  ParamCursor cursor(a, ParamCursor::Style::Uri);
  while (std::optional<Param> param = cursor.next()) {
    std::optional<Param> other = find_param(b, param->name, ParamCursor::Style::Uri);
    if (!other || !param_values_equal(first_of_name(a, *param), *other)) return false;
  }
  return true;
}

// Walks the "&"-separated "hname=hvalue" headers of a URI (escaped '&' stays "%26").
class HeaderCursor {
 public:
  explicit HeaderCursor(std::string_view headers) : rest_(headers) {}

  std::optional<std::string_view> next() {
    if (rest_.empty()) return std::nullopt;
    const std::size_t end = rest_.find('&');
    std::string_view header = rest_.substr(0, end);
    rest_.remove_prefix(end == npos ? rest_.size() : end + 1);
    return header;
  }

 private:
  std::string_view rest_;
};

std::size_t header_count(std::string_view headers) {
  std::size_t count = 0;
  HeaderCursor cursor(headers);
  while (cursor.next()) {
    ++count;
  }
  return count;
}

bool header_in(std::string_view header, std::string_view headers) {
  HeaderCursor cursor(headers);
  while (std::optional<std::string_view> other = cursor.next()) {
    if (escaped_equal(header, *other, Case::Insensitive)) return true;
  }
  return false;
}

// Every header of `a` is among those of `b`.
bool headers_contained(std::string_view a, std::string_view b) {
  HeaderCursor cursor(a);
  while (std::optional<std::string_view> header = cursor.next()) {
    if (!header_in(*header, b)) return false;
  }
  return true;
}

// §19.1.4: header components are never ignored; every one present must be in both URIs,
// in any order, and compare case-insensitively after unescaping. Beyond kMaxParams headers
// the texts must be identical, which keeps the quadratic comparison bounded (such URIs do
// not occur in routing decisions).
bool headers_match(std::string_view a, std::string_view b) {
  const std::size_t count = header_count(a);
  if (count != header_count(b)) return false;
  if (count > kMaxParams) return a == b;
  return headers_contained(a, b) && headers_contained(b, a);
}

// An empty password ("alice:@") counts as none: Uri keeps no separate presence flag.
bool sip_equivalent(const Uri& a, const Uri& b) {
  return a.has_user == b.has_user && escaped_equal(a.user, b.user, Case::Sensitive) &&
         escaped_equal(a.password, b.password, Case::Sensitive) &&
         hosts_equal(a.host_port, b.host_port) && a.host_port.has_port == b.host_port.has_port &&
         a.host_port.port == b.host_port.port && sip_params_match(a.params, b.params) &&
         headers_match(a.headers, b.headers);
}

// RFC 3966 §4: the numbers digit by digit without visual separators (hex digits of a local
// number case-insensitively), and the same set of parameters.
bool tel_equivalent(const Uri& a, const Uri& b) {
  auto is_separator = [](char c) { return c == '-' || c == '.' || c == '(' || c == ')'; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (true) {
    while (i < a.user.size() && is_separator(a.user[i])) {
      ++i;
    }
    while (j < b.user.size() && is_separator(b.user[j])) {
      ++j;
    }
    if (i == a.user.size() || j == b.user.size()) {
      if (i != a.user.size() || j != b.user.size()) return false;
      break;
    }
    if (ascii_lower(a.user[i++]) != ascii_lower(b.user[j++])) return false;
  }
  return params_contained(a.params, b.params) && params_contained(b.params, a.params);
}

}  // namespace

namespace {

ParseError parse_uri_body(std::string_view text, Uri& uri) {
  if (text.empty()) return ParseError::BadUri;
  const Parsed<std::size_t> scheme = scheme_length(text);
  if (!scheme.ok()) return scheme.error;
  uri.scheme_text = text.substr(0, scheme.value);
  uri.scheme = classify_scheme(uri.scheme_text);
  UriBodyParser body(text.substr(scheme.value + 1), uri);
  switch (uri.scheme) {
    case UriScheme::Sip:
    case UriScheme::Sips:
      return body.parse_sip();
    case UriScheme::Tel:
      return body.parse_tel();
    default:
      return body.parse_opaque();
  }
}

}  // namespace

ParseError parse_uri_in_place(std::string_view text, Uri& out) {
  const ParseError error = parse_uri_body(text, out);
  if (error != ParseError::None) out = Uri{};
  return error;
}

Parsed<Uri> parse_uri(std::string_view text) {
  Parsed<Uri> result;
  result.error = parse_uri_in_place(text, result.value);
  return result;
}

std::string_view uri_param(const Uri& uri, std::string_view name, bool* present) {
  std::optional<Param> param = find_param(uri.params, name, ParamCursor::Style::Uri);
  if (present != nullptr) *present = param.has_value();
  return param ? param->value : std::string_view{};
}

std::size_t unescape(std::string_view escaped, char* out, std::size_t out_size) {
  std::size_t length = 0;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char octet = escaped[i];
    if (octet == '%') {
      if (!is_escape_at(escaped, i)) return npos;
      octet = char(hex_value(escaped[i + 1]) << 4 | hex_value(escaped[i + 2]));
      i += 2;
    }
    if (length == out_size) return npos;
    out[length++] = octet;
  }
  return length;
}

bool uri_equivalent(const Uri& a, const Uri& b) {
  // §19.1.4: a SIP and a SIPS URI are never equivalent; other schemes by name.
  if (a.scheme != b.scheme) return false;
  switch (a.scheme) {
    case UriScheme::Sip:
    case UriScheme::Sips:
      return sip_equivalent(a, b);
    case UriScheme::Tel:
      return tel_equivalent(a, b);
    default:
      return iequals(a.scheme_text, b.scheme_text) && a.opaque == b.opaque;
  }
}

HostPrefix classify_host_prefix(std::string_view text) {
  // Dotted quads, the common case, without building a parser.
  if (const std::size_t length = whole_ipv4_run_length(text); length != 0) {
    return HostPrefix{HostKind::Ipv4, length};
  }
  Uri unused;
  return UriBodyParser(text, unused).classify_leading_host();
}

HostKind classify_host(std::string_view host) {
  const HostPrefix prefix = classify_host_prefix(host);
  return prefix.length == host.size() ? prefix.kind : HostKind::None;
}

bool is_ip_address(std::string_view text) {
  return parse_ipv4(text).has_value() || parse_ipv6(text).has_value();
}

}  // namespace sipline::sip

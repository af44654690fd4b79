#include "sip/via.hpp"

#include <optional>

#include "sip/header_scanner.hpp"
#include "sip/limits.hpp"
#include "sip/parse_in_place.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

// via-received = "received" EQUAL (IPv4address / IPv6address); a bracketed IPv6 reference
// is accepted too, because implementations write both forms.
bool is_received_address(std::string_view text) {
  return is_ip_address(text) || classify_host(text) == HostKind::Ipv6Reference;
}

// via-params (RFC 3261 §20.42, RFC 3581): what one parameter means for the Via. Shared by
// the common-form fast path and the general parser, so both apply the same rules.

// via-branch = "branch" EQUAL token; `value_is_token` is that test, done by the caller.
bool apply_branch(Via& via, const Param& param, bool value_is_token) {
  via.branch = param.value;
  via.has_branch = true;
  return value_is_token;
}

// RFC 3581 §3: "rport" alone in requests, "rport=port" once a server filled it in.
bool apply_rport(Via& via, const Param& param) {
  via.has_rport = true;
  ++via.rport_count;
  via.last_rport_valueless = !param.has_value;
  if (!param.has_value) return true;
  const std::optional<std::uint64_t> port = parse_decimal(param.value, 65535);
  via.rport = std::uint16_t(port.value_or(0));
  return port.has_value();
}

// ttl = 1*3DIGIT ; 0 to 255
bool apply_ttl(Via& via, const Param& param) {
  const std::optional<std::uint64_t> ttl = parse_decimal(param.value, 255);
  via.ttl = std::uint8_t(ttl.value_or(0));
  via.has_ttl = true;
  return ttl.has_value();
}

// `value_is_token()` says whether the value is a token (only branch asks; the common-form
// scan already knows).
template <class ValueIsToken>
bool apply_via_param(Via& via, const Param& param, ValueIsToken value_is_token) {
  ++via.param_count;
  if (iequals(param.name, "branch")) return apply_branch(via, param, value_is_token());
  if (iequals(param.name, "received")) {
    via.received = param.value;
    return is_received_address(param.value);
  }
  if (iequals(param.name, "rport")) return apply_rport(via, param);
  if (iequals(param.name, "maddr")) {
    via.maddr = param.value;
    return classify_host(param.value) != HostKind::None;
  }
  if (iequals(param.name, "ttl")) return apply_ttl(via, param);
  return true;  // via-extension = generic-param
}

// --- The common form -----------------------------------------------------------------------

// The parameters of the common form; the token test of branch came with the scan.
bool apply_common_params(std::string_view params, Via& via) {
  return for_each_common_param(params, [&via](const Param& param, bool value_is_token) {
    return apply_via_param(via, param, [value_is_token] { return value_is_token; });
  });
}

// The Via as nearly every implementation writes it:
//   "SIP/2.0/" transport SP host [ ":" port ] *( ";" token [ "=" value ] )
// with that one SP and no other LWS, and no quote or comma among the parameters. Fills `via`
// exactly as ViaParser would (the parameter rules are shared, and fast_paths_test compares
// both paths on every Via of the corpus), in one pass without ViaParser's LWS handling.
// Returns false as soon as the text leaves that form or breaks a rule: the caller then resets
// `via` and lets ViaParser parse the element from the start, and report any error.
bool parse_common_via(std::string_view text, Via& via) {
  constexpr std::string_view kCommon = "SIP/2.0/";
  if (text.substr(0, kCommon.size()) != kCommon) return false;
  const std::size_t transport_end = detail::token_end(text, kCommon.size());
  std::size_t pos = transport_end + 1;  // the host, after one SP
  if (transport_end == kCommon.size() || pos >= text.size() || text[transport_end] != ' ' ||
      is_lws_char(text[pos])) {
    return false;
  }
  via.protocol_name = text.substr(0, 3);
  via.protocol_version = text.substr(4, 3);
  via.transport = text.substr(kCommon.size(), transport_end - kCommon.size());
  const HostPrefix host = classify_host_prefix(text.substr(pos));
  if (host.kind == HostKind::None) return false;
  via.sent_by.host = text.substr(pos, host.length);
  via.sent_by.kind = host.kind;
  pos += host.length;
  if (pos < text.size() && text[pos] == ':') {
    std::size_t digits_end = pos + 1;
    while (digits_end < text.size() && is_digit(text[digits_end]))
      ++digits_end;
    const std::optional<std::uint64_t> port =
        parse_decimal(text.substr(pos + 1, digits_end - pos - 1), 65535);
    if (!port) return false;
    via.sent_by.port = std::uint16_t(*port);
    via.sent_by.has_port = true;
    pos = digits_end;
  }
  if (pos == text.size()) return true;
  if (text[pos] != ';') return false;
  via.params = text.substr(pos);
  return apply_common_params(via.params, via);
}

// --- The general rule ----------------------------------------------------------------------

// Parses one via-parm front to back. Every failure is ParseError::BadVia except more than
// kMaxParams parameters (ParseError::TooManyParams).
class ViaParser {
 public:
  ViaParser(std::string_view element, Via& via) : scan_(trim_lws(element)), via_(via) {}

  ParseError parse() {
    if (!read_sent_protocol() || !read_sent_by() || !read_params()) return error_;
    return ParseError::None;
  }

 private:
  // SLASH = SWS "/" SWS
  bool read_slash() {
    scan_.skip_lws();
    const bool found = scan_.consume('/');
    scan_.skip_lws();
    return found;
  }

  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, then LWS.
  bool read_sent_protocol() {
    via_.protocol_name = scan_.take_token();
    if (via_.protocol_name.empty() || !read_slash()) return false;
    via_.protocol_version = scan_.take_token();
    if (via_.protocol_version.empty() || !read_slash()) return false;
    via_.transport = scan_.take_token();
    return !via_.transport.empty() && scan_.skip_lws();
  }

  // sent-by = host [ COLON port ], COLON = SWS ":" SWS (RFC 3261 §25.1). The host is found
  // and classified in one pass.
  bool read_sent_by() {
    const std::string_view rest = scan_.rest();
    const HostPrefix host = classify_host_prefix(rest);
    if (host.kind == HostKind::None) return false;
    via_.sent_by.host = rest.substr(0, host.length);
    via_.sent_by.kind = host.kind;
    scan_.skip(host.length);
    scan_.skip_lws();
    if (!scan_.consume(':')) return true;
    scan_.skip_lws();
    return read_port();
  }

  bool read_port() {
    const std::optional<std::uint64_t> port = parse_decimal(scan_.take_while(is_digit), 65535);
    if (!port) return false;
    via_.sent_by.port = std::uint16_t(*port);
    via_.sent_by.has_port = true;
    return true;
  }

  bool read_params() {
    scan_.skip_lws();
    if (scan_.at_end()) return true;
    if (!scan_.next_is(';')) return false;
    via_.params = scan_.rest();
    const ParseError error = for_each_header_param(via_.params, [this](const Param& param) {
      const auto value_is_token = [&param] { return is_token(param.value); };
      return apply_via_param(via_, param, value_is_token) ? ParseError::None : ParseError::BadVia;
    });
    if (error == ParseError::TooManyParams) error_ = error;
    return error == ParseError::None;
  }

  HeaderScanner scan_;
  Via& via_;
  ParseError error_ = ParseError::BadVia;
};

}  // namespace

ParseError parse_via_general(std::string_view element, Via& out) {
  const ParseError error = ViaParser(element, out).parse();
  if (error != ParseError::None) out = Via{};
  return error;
}

bool parse_via_common_form(std::string_view element, Via& out) {
  if (parse_common_via(trim_lws(element), out)) return true;
  out = Via{};
  return false;
}

ParseError parse_via_in_place(std::string_view element, Via& out) {
  if (parse_via_common_form(element, out)) return ParseError::None;
  return parse_via_general(element, out);
}

Parsed<Via> parse_via(std::string_view element) {
  Parsed<Via> result;
  result.error = parse_via_in_place(element, result.value);
  return result;
}

}  // namespace sipline::sip

#include "sip/via.hpp"

#include "sip/header_scanner.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

constexpr bool is_hostname_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
}

// via-received = "received" EQUAL (IPv4address / IPv6address); a bracketed IPv6 reference
// is accepted too, because implementations write both forms.
bool is_received_address(std::string_view text) {
  return is_ip_address(text) || classify_host(text) == HostKind::Ipv6Reference;
}

// Parses one via-parm front to back. Every failure is ParseError::BadVia except more than
// kMaxParams parameters (ParseError::TooManyParams).
class ViaParser {
 public:
  explicit ViaParser(std::string_view element) : scan_(trim_lws(element)) {}

  Parsed<Via> parse() {
    if (!read_sent_protocol() || !read_sent_by() || !read_params()) return fail<Via>(error_);
    return Parsed<Via>{via_, ParseError::None};
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

  // sent-by = host [ COLON port ], COLON = SWS ":" SWS (RFC 3261 §25.1).
  bool read_sent_by() {
    const std::size_t start = scan_.position();
    if (scan_.next_is('[')) {
      scan_.take_while([](char c) { return c != ']'; });
      if (!scan_.consume(']')) return false;
    } else {
      scan_.take_while(is_hostname_char);
    }
    via_.sent_by.host = scan_.slice(start, scan_.position());
    via_.sent_by.kind = classify_host(via_.sent_by.host);
    if (via_.sent_by.kind == HostKind::None) return false;
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
      return apply_param(param) ? ParseError::None : ParseError::BadVia;
    });
    if (error == ParseError::TooManyParams) error_ = error;
    return error == ParseError::None;
  }

  bool apply_param(const Param& param) {
    if (iequals(param.name, "branch")) return apply_branch(param);
    if (iequals(param.name, "received")) {
      via_.received = param.value;
      return is_received_address(param.value);
    }
    if (iequals(param.name, "rport")) return apply_rport(param);
    if (iequals(param.name, "maddr")) {
      via_.maddr = param.value;
      return classify_host(param.value) != HostKind::None;
    }
    if (iequals(param.name, "ttl")) return apply_ttl(param);
    return true;  // via-extension = generic-param
  }

  // via-branch = "branch" EQUAL token
  bool apply_branch(const Param& param) {
    via_.branch = param.value;
    via_.has_branch = true;
    return is_token(param.value);
  }

  // RFC 3581 §3: "rport" alone in requests, "rport=port" once a server filled it in.
  bool apply_rport(const Param& param) {
    via_.has_rport = true;
    if (!param.has_value) return true;
    const std::optional<std::uint64_t> port = parse_decimal(param.value, 65535);
    via_.rport = std::uint16_t(port.value_or(0));
    return port.has_value();
  }

  // ttl = 1*3DIGIT ; 0 to 255
  bool apply_ttl(const Param& param) {
    const std::optional<std::uint64_t> ttl = parse_decimal(param.value, 255);
    via_.ttl = std::uint8_t(ttl.value_or(0));
    via_.has_ttl = true;
    return ttl.has_value();
  }

  HeaderScanner scan_;
  Via via_;
  ParseError error_ = ParseError::BadVia;
};

}  // namespace

Parsed<Via> parse_via(std::string_view element) {
  return ViaParser(element).parse();
}

}  // namespace sipline::sip

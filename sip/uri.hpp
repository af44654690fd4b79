// URIs (RFC 3261 §19.1, RFC 3966 tel): zero-copy views into the text they were parsed from.
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/parse_error.hpp"

namespace sipline::sip {

enum class UriScheme : std::uint8_t { Other = 0, Sip, Sips, Tel };

enum class HostKind : std::uint8_t { None = 0, Hostname, Ipv4, Ipv6Reference };

struct HostPort {
  std::string_view host;  // as written; an IPv6 reference keeps its brackets "[2001:db8::1]"
  HostKind kind = HostKind::None;
  std::uint16_t port = 0;  // 0 when absent
  bool has_port = false;
};

struct Uri {
  UriScheme scheme = UriScheme::Other;
  std::string_view scheme_text;  // "sip", "SIPS", "nobodyKnowsThisScheme"
  std::string_view user;         // still %-escaped (RFC 3261 §19.1.4); tel: the number
  std::string_view password;
  HostPort host_port;        // empty for tel and other schemes
  std::string_view params;   // from the first ';' up to '?' or the end, ';' included
  std::string_view headers;  // after '?', '?' excluded
  std::string_view opaque;   // scheme-specific part of an unknown scheme (after ':')
  bool lr = false;           // ";lr" present (RFC 3261 §16.4 loose routing)
  bool has_user = false;     // "@" present (user may still be empty in odd URIs)
};

// Parses an absolute URI. sip/sips are parsed fully (user with escapes validated, password,
// host: IPv4, IPv6 reference, hostname; port 0-65535; parameters; headers); tel keeps the
// number as `user` and its parameters; any other scheme is accepted as opaque when the
// scheme is RFC 3986 conformant (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) and the rest has
// no whitespace.
Parsed<Uri> parse_uri(std::string_view text);

// What `host` is as a whole: hostname (RFC 3261 §25.1, toplabel starting with a letter),
// IPv4address, IPv6reference ("[...]"), or HostKind::None when it is none of them. Shared by
// every parser that meets a host outside a URI (Via sent-by, maddr, received).
HostKind classify_host(std::string_view host);

// The host that `text` starts with, as classify_host() sees it, and how many octets it
// spans: a run of hostname octets (alphanumerics, '-', '.') or "[" IPv6 octets "]". The kind
// is HostKind::None when that run is no valid host. Lets a parser that meets a host inside a
// longer value (Via sent-by) find and classify it in one pass. `length` is meaningful only
// when kind is not HostKind::None.
struct HostPrefix {
  HostKind kind = HostKind::None;
  std::size_t length = 0;
};
HostPrefix classify_host_prefix(std::string_view text);

// An IPv4address or an IPv6address without brackets (Via received, RFC 3261 §20.42).
bool is_ip_address(std::string_view text);

// A URI parameter by name (case-insensitive), searched in Uri::params.
std::string_view uri_param(const Uri& uri, std::string_view name, bool* present = nullptr);

// Decodes %HH escapes of `escaped` into `out` (capacity `out_size`); returns the decoded
// length or std::string_view::npos when an escape is malformed or `out` is too small.
std::size_t unescape(std::string_view escaped, char* out, std::size_t out_size);

// RFC 3261 §19.1.4 URI comparison of user, password, host and port (case rules, escapes,
// and the parameters transport/user/ttl/method/maddr that must match when present in one),
// and of the headers, which must all be in both. tel URIs compare by RFC 3966 §4 (digits
// without visual separators, same parameter set); other schemes by their opaque text.
// Needs no buffer: escapes are decoded while comparing.
bool uri_equivalent(const Uri& a, const Uri& b);

}  // namespace sipline::sip

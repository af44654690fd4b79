// Contact aliases for UAs behind NAT, as Kamailio's nathelper writes them (set_contact_alias,
// handle_ruri_alias): not an RFC, but what every proxy in front of NATed phones does.
//
// A phone behind a NAT writes its private address into Contact ("sip:1001@192.168.1.20:5060"),
// and the other end of the dialog sends its in-dialog requests (ACK, BYE, re-INVITE) to that
// remote target (RFC 3261 §12.1), which nobody outside the NAT can reach. A proxy that
// record-routes sees those requests (§16.6 step 4), so when it forwards a dialog-forming
// message whose Contact names a private address that is not where the message came from, it
// appends ";alias=SOURCE~PORT~1" to that Contact's URI (1: UDP). The in-dialog request then
// carries the alias in its Request-URI: the proxy sends it to SOURCE:PORT, through the NAT
// mapping the phone keeps open, with the alias removed, so the phone gets back its own URI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "sip/message.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {

// "[2001:db8::1]~65535~1" at most.
inline constexpr std::size_t kMaxAliasText = 48;

// The parameter: in a Contact URI or Request-URI (above), and in the URI of the Path we put
// into a REGISTER we forward to another registrar (RFC 3327): where the registering UA is.
inline constexpr std::string_view kAliasParam = "alias";

// The first Contact of a message, where write_forwarded_request/response add the alias.
struct ContactUri {
  const HeaderField* line = nullptr;  // the Contact line holding it
  std::string_view text;              // the URI's octets inside line->raw
  bool bracketed = false;             // written in '<' '>' (else the edit adds them)
  HostPort host_port;
};

// The first Contact element of `message` when it is one URI that could take an alias: a
// sip/sips URI with an IP literal host, no alias yet, no URI headers. std::nullopt otherwise
// ("*", a name, a malformed value).
std::optional<ContactUri> aliasable_contact(const Message& message);

// What the Contact edit writes: ";alias=" + `alias` after the URI (and brackets around it when
// it had none, so that the parameter is the URI's, not the header's, §20.10).
struct ContactAliasEdit {
  ContactUri contact;  // contact.line null: no edit
  std::string_view alias;
};

// An alias parameter's address ("192.0.2.10~5099~1", "[2001:db8::1]~5060~1"): the host as
// written (IPv6 with brackets), the port. Transports other than UDP (1) are refused: sipline
// speaks UDP only.
struct AliasTarget {
  std::string_view host;
  HostKind kind = HostKind::None;
  std::uint16_t port = 0;
};
std::optional<AliasTarget> parse_alias(std::string_view value);

// A Request-URI with an alias parameter: where it points, and the URI's text without that
// parameter, written into `out` (std::nullopt when there is no alias, it does not parse, or
// the URI does not fit `out`).
struct AliasedUri {
  AliasTarget target;
  std::string_view uri;  // in `out`
};
std::optional<AliasedUri> resolve_uri_alias(std::string_view uri_text, const Uri& uri,
                                            std::span<char> out);

// The alias value for an address written "ip:port" ("192.0.2.10:5099", "[2001:db8::1]:5099"):
// "192.0.2.10~5099~1", in `out`; std::nullopt without a port separator or when it does not
// fit.
std::optional<std::string_view> write_alias_value(std::string_view address, std::span<char> out);

// `uri` with ";alias=" and the alias value of `address` appended, in `out`: the Request-URI
// with which another sipline node asks the node that took a NATed contact's REGISTER to relay
// a new request to it (dataplane/README.md, shared registrations). std::nullopt when `uri`
// carries URI headers or an alias already, or as write_alias_value().
std::optional<std::string_view> write_aliased_uri(std::string_view uri, std::string_view address,
                                                  std::span<char> out);

}  // namespace sipline::sip

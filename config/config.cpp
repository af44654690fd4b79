#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <type_traits>
#include <unordered_map>

#include "config/toml_reader.hpp"
#include "sip/method.hpp"
#include "sip/service_urn.hpp"
#include "sip/session_timer.hpp"
#include "sip/text.hpp"

namespace sipline::config {
namespace {

std::string quoted(std::string_view text) {
  // Appended piecewise: g++ 12 -O3 reports a false -Wrestrict on `"\"" + std::string(...)`.
  std::string result;
  result.reserve(text.size() + 2);
  result += '"';
  result += text;
  result += '"';
  return result;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool is_alphanum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3261 §25.1: user = 1*( unreserved / escaped / user-unreserved ). Escapes are not
// accepted: the configuration holds the decoded user name.
bool is_user_char(char c) {
  return is_alphanum(c) || std::string_view("-_.!~*'()&=+$,;?/").find(c) != std::string_view::npos;
}

bool is_user_text(std::string_view text) {
  return std::all_of(text.begin(), text.end(), is_user_char);
}

// RFC 3261 §25.1 hostname = *( domainlabel "." ) toplabel [ "." ].
bool is_hostname(std::string_view text) {
  if (text.ends_with('.')) text.remove_suffix(1);
  if (text.empty()) return false;
  std::string_view label;
  while (!text.empty()) {
    const std::size_t dot = text.find('.');
    label = text.substr(0, dot);
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (label.empty() || !is_alphanum(label.front()) || !is_alphanum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(),
                     [](char c) { return is_alphanum(c) || c == '-'; })) {
      return false;
    }
    if (dot != std::string_view::npos && text.empty()) return false;  // "a..b" or trailing
  }
  // toplabel starts with ALPHA, which tells a name from an IPv4 literal.
  return std::isalpha(static_cast<unsigned char>(label.front())) != 0;
}

// A host as it appears in a Request-URI: hostname, IPv4 literal or [IPv6] reference.
bool is_uri_host(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    const auto address = parse_ip_address(text.substr(1, text.size() - 2));
    return address && address->family == AddressFamily::Ipv6;
  }
  const auto address = parse_ip_address(text);
  if (address) return address->family == AddressFamily::Ipv4;
  return is_hostname(text);
}

// ---- [listen] --------------------------------------------------------------------------

std::string socket_address_problem(SocketAddressError error) {
  switch (error) {
    case SocketAddressError::BadHost:
      return "host must be an IPv4 literal or a bracketed IPv6 literal like [::1]";
    case SocketAddressError::MissingPort:
      return "port is missing (write HOST:PORT)";
    case SocketAddressError::BadPort:
      return "port must be 1..65535";
    case SocketAddressError::None:
      break;
  }
  return "";
}

ListenConfig read_listen(const TableReader& listen) {
  listen.reject_unknown_keys({"udp", "dscp"});
  ListenConfig config;
  config.dscp =
      static_cast<std::uint8_t>(listen.integer("dscp", 0, 63, Presence::Optional).value_or(0));
  const auto items = listen.string_array("udp", Presence::Optional);
  if (!items) {
    config.udp.push_back(SocketAddress{*parse_ip_address("127.0.0.1"), 5060});
    return config;
  }
  if (items->empty()) {
    listen.diagnostics().error(listen.line_of_key("udp"),
                               "listen.udp must list at least one address");
  }
  for (const StringItem& item : *items) {
    const ParsedSocketAddress parsed = parse_socket_address(item.text);
    if (!parsed.ok()) {
      listen.diagnostics().error(item.line, item.path + " " + quoted(item.text) + ": " +
                                                socket_address_problem(parsed.error));
      continue;
    }
    if (std::find(config.udp.begin(), config.udp.end(), parsed.value) != config.udp.end()) {
      listen.diagnostics().error(item.line,
                                 item.path + " " + quoted(item.text) + " is listed twice");
      continue;
    }
    config.udp.push_back(parsed.value);
  }
  return config;
}

// ---- [dataplane] -------------------------------------------------------------------------

std::optional<IpPrefix> read_prefix(const TableReader& table, std::string_view key,
                                    AddressFamily family, Presence presence) {
  const auto text = table.string(key, presence);
  if (!text) return std::nullopt;
  const auto prefix = parse_ip_prefix(*text);
  if (!prefix || prefix->address.family != family) {
    const std::string_view example =
        family == AddressFamily::Ipv4 ? "10.99.0.1/24" : "2001:db8::1/64";
    table.diagnostics().error(table.line_of_key(key),
                              table.key_path(key) + " " + quoted(*text) + " must be an " +
                                  (family == AddressFamily::Ipv4 ? "IPv4" : "IPv6") +
                                  " ADDRESS/PREFIX like " + std::string(example));
    return std::nullopt;
  }
  return prefix;
}

// The six octets of "02:00:00:00:00:fe" (two hex digits each, colons between).
std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  std::array<std::uint8_t, 6> mac{};
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const std::string_view pair = text.substr(i * 3, 2);
    if (i + 1 < mac.size() && text[i * 3 + 2] != ':') return std::nullopt;
    unsigned value = 0;
    for (const char digit : pair) {
      const int nibble = std::isdigit(static_cast<unsigned char>(digit)) ? digit - '0'
                         : (digit >= 'a' && digit <= 'f')                ? digit - 'a' + 10
                         : (digit >= 'A' && digit <= 'F')                ? digit - 'A' + 10
                                                                         : -1;
      if (nibble < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(nibble);
    }
    mac[i] = static_cast<std::uint8_t>(value);
  }
  return mac;
}

// dataplane.static_neighbors = ["10.99.0.254 02:00:00:00:00:fe", ...]: "IP MAC", as
// `arp -s` takes them. For a next hop whose MAC is fixed (a router, an SBC on a link where
// ARP/ND are filtered): the entry never expires and is never re-resolved. The address must
// be on one of our subnets, or IPv6 link-local (only neighbours on the link have a MAC we can
// send to).
std::vector<StaticNeighbor> read_static_neighbors(const TableReader& dataplane,
                                                  const std::optional<IpPrefix>& address,
                                                  const std::optional<IpPrefix>& address6) {
  std::vector<StaticNeighbor> neighbors;
  const auto items = dataplane.string_array("static_neighbors", Presence::Optional);
  if (!items) return neighbors;
  for (const StringItem& item : *items) {
    const std::string_view text = item.text;
    const std::size_t space = text.find(' ');
    const auto ip = parse_ip_address(text.substr(0, space));
    const auto mac =
        space == std::string_view::npos ? std::nullopt : parse_mac(text.substr(space + 1));
    const std::string what = item.path + " " + quoted(item.text);
    if (!ip || !mac) {
      dataplane.diagnostics().error(
          item.line, what + " must be \"IP MAC\" like \"10.99.0.254 02:00:00:00:00:fe\"");
      continue;
    }
    if (((*mac)[0] & 0x01) != 0 || *mac == std::array<std::uint8_t, 6>{}) {
      dataplane.diagnostics().error(item.line, what + ": the MAC must be a unicast address");
      continue;
    }
    const bool v4 = ip->family == AddressFamily::Ipv4;
    const std::optional<IpPrefix>& subnet = v4 ? address : address6;
    // An IPv6 link-local neighbour (a router named by its fe80:: address) is on the link too.
    if (!subnet || !(subnet->contains(*ip) || (!v4 && ip->is_link_local()))) {
      dataplane.diagnostics().error(
          item.line,
          what + " is outside " +
              (ip->family == AddressFamily::Ipv4 ? "dataplane.address" : "dataplane.address6") +
              (subnet ? " " + subnet->to_string() : std::string(" (not set)")));
      continue;
    }
    const auto same_ip = [&](const StaticNeighbor& known) { return known.address == *ip; };
    if (std::find_if(neighbors.begin(), neighbors.end(), same_ip) != neighbors.end()) {
      dataplane.diagnostics().error(item.line, what + ": " + ip->to_string() + " is listed twice");
      continue;
    }
    neighbors.push_back(StaticNeighbor{*ip, *mac});
  }
  return neighbors;
}

// dataplane.gateway / gateway6: the router for destinations off our subnet. Its MAC is
// resolved by ARP / ND, which reach only the attached link: the address lies inside the
// subnet, or is an IPv6 link-local address (routers speak for themselves from theirs, RFC 4861
// §4.2, and that is how operators usually name an IPv6 default router).
std::optional<IpAddress> read_gateway(const TableReader& dataplane, const std::string& key,
                                      AddressFamily family, const std::optional<IpPrefix>& subnet) {
  const auto text = dataplane.string(key, Presence::Optional);
  if (!text) return std::nullopt;
  const bool v4 = family == AddressFamily::Ipv4;
  const std::string what = "dataplane." + key + " " + quoted(*text);
  const std::string subnet_key = v4 ? "dataplane.address" : "dataplane.address6";
  const std::uint32_t line = dataplane.line_of_key(key);
  const auto gateway = parse_ip_address(*text);
  if (!gateway || gateway->family != family) {
    dataplane.diagnostics().error(line,
                                  what + " must be an " + (v4 ? "IPv4" : "IPv6") + " address");
    return std::nullopt;
  }
  if (!subnet) {
    if (!v4) dataplane.diagnostics().error(line, what + " needs " + subnet_key);
    return v4 ? gateway : std::nullopt;  // dataplane.address's own error is reported
  }
  if (!subnet->contains(*gateway) && !(!v4 && gateway->is_link_local())) {
    dataplane.diagnostics().error(line, what + " is outside " + subnet_key + " " +
                                            subnet->to_string() +
                                            (v4 ? "" : " and is not a link-local address"));
    return std::nullopt;
  }
  return gateway;
}

DpdkConfig read_dpdk(const TableReader& dataplane, bool dpdk_mode) {
  // The keys are only needed in DPDK mode, but a wrong value is reported in both modes.
  const Presence needed = dpdk_mode ? Presence::Required : Presence::Optional;
  DpdkConfig config;
  if (const auto eal = dataplane.string_array("eal", needed)) {
    for (const StringItem& item : *eal)
      config.eal.push_back(item.text);
  }
  config.port = static_cast<std::uint16_t>(dataplane.integer("port", 0, 65535, needed).value_or(0));
  const auto address = read_prefix(dataplane, "address", AddressFamily::Ipv4, needed);
  if (address) config.address = *address;
  config.address6 = read_prefix(dataplane, "address6", AddressFamily::Ipv6, Presence::Optional);
  config.gateway = read_gateway(dataplane, "gateway", AddressFamily::Ipv4, address);
  config.gateway6 = read_gateway(dataplane, "gateway6", AddressFamily::Ipv6, config.address6);
  config.mtu = static_cast<std::uint16_t>(
      dataplane.integer("mtu", 576, 9000, Presence::Optional).value_or(1500));
  config.static_neighbors = read_static_neighbors(dataplane, address, config.address6);
  if (const auto exception = dataplane.integer("exception_port", 0, 65535, Presence::Optional)) {
    if (*exception == config.port) {
      dataplane.diagnostics().error(dataplane.line_of_key("exception_port"),
                                    "dataplane.exception_port " + std::to_string(*exception) +
                                        " is dataplane.port: the kernel's TAP must be a port "
                                        "of its own (--vdev=net_tap0,iface=NAME in "
                                        "dataplane.eal)");
    } else {
      config.exception_port = static_cast<std::uint16_t>(*exception);
    }
  }
  config.spread = dataplane.boolean("spread").value_or(false);
  return config;
}

DataplaneConfig read_dataplane(const TableReader& dataplane) {
  dataplane.reject_unknown_keys({"io", "workers", "eal", "port", "address", "address6", "gateway",
                                 "gateway6", "mtu", "static_neighbors", "dispatchers",
                                 "exception_port", "spread"});
  DataplaneConfig config;
  if (const auto io = dataplane.string("io", Presence::Optional)) {
    if (*io == "dpdk") {
      config.io = IoMode::Dpdk;
    } else if (*io != "socket") {
      dataplane.diagnostics().error(
          dataplane.line_of_key("io"),
          "dataplane.io must be \"socket\" or \"dpdk\", not " + quoted(*io));
    }
  }
  config.workers =
      static_cast<unsigned>(dataplane.integer("workers", 1, 64, Presence::Optional).value_or(2));
  config.dispatchers = static_cast<unsigned>(
      dataplane.integer("dispatchers", 0, 63, Presence::Optional).value_or(0));
  if (config.dispatchers >= config.workers) {
    dataplane.diagnostics().error(
        dataplane.line_of_key("dispatchers"),
        "dataplane.dispatchers = " + std::to_string(config.dispatchers) +
            " leaves no worker to own calls: it must be less than dataplane.workers = " +
            std::to_string(config.workers));
  }
  config.dpdk = read_dpdk(dataplane, config.io == IoMode::Dpdk);
  return config;
}

// ---- [domain] ----------------------------------------------------------------------------

std::optional<std::vector<IpPrefix>> read_source_prefixes(const TableReader& table,
                                                          const std::string& key,
                                                          std::string_view when_empty = {});

// Octets of [domain] route_secret at least: 32 hex digits are 128 bits.
constexpr std::size_t kMinRouteSecret = 32;

DomainConfig read_domain(const TableReader& domain) {
  domain.reject_unknown_keys({"names", "record_route", "trust_domain", "route_secret"});
  DomainConfig config;
  if (const auto names = domain.string_array("names", Presence::Required)) {
    if (names->empty()) {
      domain.diagnostics().error(domain.line_of_key("names"),
                                 "domain.names must list at least one domain");
    }
    for (const StringItem& name : *names) {
      const bool repeated = std::any_of(
          config.names.begin(), config.names.end(),
          [&](const std::string& earlier) { return equal_ignoring_case(earlier, name.text); });
      if (!is_uri_host(name.text)) {
        domain.diagnostics().error(name.line, name.path + " " + quoted(name.text) +
                                                  " must be a host name, an IPv4 address or "
                                                  "a bracketed IPv6 address");
      } else if (repeated) {
        domain.diagnostics().error(name.line,
                                   name.path + " " + quoted(name.text) + " is listed twice");
      } else {
        config.names.push_back(name.text);
      }
    }
  }
  config.record_route = domain.boolean("record_route").value_or(false);
  if (auto trusted = read_source_prefixes(domain, "trust_domain")) {
    config.trust_domain = std::move(*trusted);
  }
  if (const auto secret = domain.string("route_secret", Presence::Optional)) {
    // A guessable secret would let anyone compute a dialog's token (sip/route_token.hpp).
    const std::uint32_t line = domain.line_of_key("route_secret");
    if (secret->size() < kMinRouteSecret) {
      domain.diagnostics().error(line, "domain.route_secret must be at least " +
                                           std::to_string(kMinRouteSecret) +
                                           " characters (e.g. openssl rand -hex 16)");
    } else if (!config.record_route) {
      domain.diagnostics().error(line,
                                 "domain.route_secret needs record_route = true (the token "
                                 "travels in the Record-Route URI)");
    } else {
      config.route_secret = *secret;
    }
  }
  return config;
}

// ---- [registrar] -------------------------------------------------------------------------

std::optional<StoreConfig> parse_store(std::string_view text) {
  if (text == "memory") return StoreConfig{StoreKind::Memory, "", {}};
  constexpr std::string_view kSqlite = "sqlite:";
  if (text.starts_with(kSqlite) && text.size() > kSqlite.size()) {
    return StoreConfig{StoreKind::Sqlite, std::string(text.substr(kSqlite.size())), {}};
  }
  return std::nullopt;
}

// RFC 8760 algorithms a challenge may offer; names as they appear on the wire.
std::optional<sip::DigestAlgorithm> parse_algorithm(std::string_view text) {
  if (text == "SHA-256") return sip::DigestAlgorithm::Sha256;
  if (text == "MD5") return sip::DigestAlgorithm::Md5;
  if (text == "SHA-512-256") return sip::DigestAlgorithm::Sha512_256;
  return std::nullopt;
}

std::vector<sip::DigestAlgorithm> read_algorithms(const TableReader& registrar, bool auth) {
  const auto items = registrar.string_array("algorithms", Presence::Optional);
  if (!items) return default_digest_algorithms();
  if (items->empty() && auth) {
    registrar.diagnostics().error(registrar.line_of_key("algorithms"),
                                  "registrar.algorithms must list at least one algorithm "
                                  "when registrar.auth = true");
  }
  std::vector<sip::DigestAlgorithm> algorithms;
  for (const StringItem& item : *items) {
    const auto algorithm = parse_algorithm(item.text);
    if (!algorithm) {
      registrar.diagnostics().error(item.line, item.path + " " + quoted(item.text) +
                                                   " must be \"SHA-256\", \"MD5\" or "
                                                   "\"SHA-512-256\"");
    } else if (std::find(algorithms.begin(), algorithms.end(), *algorithm) != algorithms.end()) {
      registrar.diagnostics().error(item.line,
                                    item.path + " " + quoted(item.text) + " is listed twice");
    } else {
      algorithms.push_back(*algorithm);
    }
  }
  return algorithms;
}

// The first of `keys` present in the table, so an error about a relation between keys points
// at a line the user wrote.
std::uint32_t line_of_first_present(const TableReader& table,
                                    std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    if (table.has(key)) return table.line_of_key(key);
  }
  return table.line();
}

void check_expires(const TableReader& registrar, const RegistrarConfig& config) {
  if (config.min_expires > config.max_expires) {
    registrar.diagnostics().error(line_of_first_present(registrar, {"min_expires", "max_expires"}),
                                  "registrar.min_expires (" + std::to_string(config.min_expires) +
                                      ") must not exceed registrar.max_expires (" +
                                      std::to_string(config.max_expires) + ")");
    return;
  }
  if (config.default_expires < config.min_expires || config.default_expires > config.max_expires) {
    registrar.diagnostics().error(
        line_of_first_present(registrar, {"default_expires", "min_expires", "max_expires"}),
        "registrar.default_expires (" + std::to_string(config.default_expires) +
            ") must be within registrar.min_expires..registrar.max_expires (" +
            std::to_string(config.min_expires) + ".." + std::to_string(config.max_expires) + ")");
  }
}

// nat_ping and nat_ping_timeout: what the keep-alives are, and when a silent contact goes.
void read_nat_ping(const TableReader& registrar, RegistrarConfig& config) {
  const std::string ping = registrar.string("nat_ping", Presence::Optional).value_or("crlf");
  if (ping != "crlf" && ping != "options") {
    registrar.diagnostics().error(
        registrar.line_of_key("nat_ping"),
        "registrar.nat_ping must be \"crlf\" or \"options\", not " + quoted(ping));
  }
  config.nat_ping =
      ping == "options" ? RegistrarConfig::NatPing::Options : RegistrarConfig::NatPing::Crlf;
  const bool pings = config.nat_ping_interval_s != 0;
  if (registrar.has("nat_ping") && !pings) {
    registrar.diagnostics().error(registrar.line_of_key("nat_ping"),
                                  "registrar.nat_ping needs nat_ping_interval");
  }
  if (!registrar.has("nat_ping_timeout")) return;
  config.nat_ping_timeout_s = static_cast<std::uint32_t>(
      registrar.integer("nat_ping_timeout", 0, 86400, Presence::Optional).value_or(0));
  if (config.nat_ping != RegistrarConfig::NatPing::Options || !pings) {
    registrar.diagnostics().error(registrar.line_of_key("nat_ping_timeout"),
                                  "registrar.nat_ping_timeout needs nat_ping_interval and "
                                  "nat_ping = \"options\" (a CRLF gets no answer)");
  } else if (config.nat_ping_timeout_s != 0 &&
             config.nat_ping_timeout_s < config.nat_ping_interval_s) {
    registrar.diagnostics().error(registrar.line_of_key("nat_ping_timeout"),
                                  "registrar.nat_ping_timeout must be 0 or at least "
                                  "nat_ping_interval (" +
                                      std::to_string(config.nat_ping_interval_s) + ")");
  }
}

RegistrarConfig read_registrar(const TableReader& registrar) {
  registrar.reject_unknown_keys({"store", "auth", "algorithms", "min_expires", "max_expires",
                                 "default_expires", "max_contacts", "nat_ping_interval", "nat_ping",
                                 "nat_ping_timeout"});
  RegistrarConfig config;
  if (const auto store_text = registrar.string("store", Presence::Optional)) {
    const auto store = parse_store(*store_text);
    if (store) {
      config.store = *store;
    } else if (store_text->starts_with("redis://")) {
      ParsedRedisEndpoint parsed = parse_redis_url(*store_text);
      if (parsed.endpoint) {
        config.store = StoreConfig{StoreKind::Redis, *store_text, std::move(*parsed.endpoint)};
      } else {
        registrar.diagnostics().error(registrar.line_of_key("store"),
                                      "registrar.store: " + parsed.error);
      }
    } else {
      registrar.diagnostics().error(
          registrar.line_of_key("store"),
          "registrar.store must be \"memory\", \"sqlite:PATH\" or \"redis://HOST:PORT\", not " +
              quoted(*store_text));
    }
  }
  config.auth = registrar.boolean("auth").value_or(true);
  config.algorithms = read_algorithms(registrar, config.auth);
  // RFC 3261 §20.19: Expires is a 32-bit delta-seconds; 0 means "remove", so not a minimum.
  constexpr std::int64_t kMaxDelta = 4294967295;
  const auto expires = [&](std::string_view key, std::uint32_t fallback) {
    return static_cast<std::uint32_t>(
        registrar.integer(key, 1, kMaxDelta, Presence::Optional).value_or(fallback));
  };
  config.min_expires = expires("min_expires", config.min_expires);
  config.max_expires = expires("max_expires", config.max_expires);
  config.default_expires = expires("default_expires", config.default_expires);
  config.max_contacts = static_cast<std::uint32_t>(
      registrar.integer("max_contacts", 1, 1024, Presence::Optional).value_or(10));
  config.nat_ping_interval_s = static_cast<std::uint32_t>(
      registrar.integer("nat_ping_interval", 0, 3600, Presence::Optional).value_or(0));
  read_nat_ping(registrar, config);
  check_expires(registrar, config);
  return config;
}

// ---- [[users]] ---------------------------------------------------------------------------

// max_calls counts a call from its INVITE to its BYE, which passes through the proxy only when
// it record-routes (RFC 3261 §16.6 step 4): without it a call would hold its place until
// [limits] dialog_timeout.
void check_max_calls_record_route(const TableReader& table, bool record_route) {
  if (table.has("max_calls") && !record_route) {
    table.diagnostics().error(table.line_of_key("max_calls"),
                              table.key_path("max_calls") +
                                  " needs [domain] record_route = true (a call is counted until "
                                  "its BYE, which otherwise does not pass through sipline)");
  }
}

std::optional<User> read_user(const TableReader& table, bool record_route) {
  table.reject_unknown_keys({"user", "password", "caller_id", "max_calls"});
  const auto max_calls = table.integer("max_calls", 1, 1000000, Presence::Optional);
  check_max_calls_record_route(table, record_route);
  const auto user = table.string("user", Presence::Required);
  const auto password = table.string("password", Presence::Required);
  const auto caller_id = table.string("caller_id", Presence::Optional);
  bool valid = user && password;
  if (caller_id &&
      (caller_id->empty() || caller_id->size() > kMaxCallerIdSize || !is_user_text(*caller_id))) {
    table.diagnostics().error(table.line_of_key("caller_id"),
                              table.key_path("caller_id") + " " + quoted(*caller_id) +
                                  " must be 1.." + std::to_string(kMaxCallerIdSize) +
                                  " SIP user characters (RFC 3261 §25.1), e.g. \"+442079460001\"");
    valid = false;
  }
  if (user && (user->empty() || !is_user_text(*user))) {
    table.diagnostics().error(table.line_of_key("user"),
                              table.key_path("user") + " " + quoted(*user) +
                                  " must be a SIP user name (RFC 3261 §25.1 user characters)");
    valid = false;
  }
  if (password && password->empty()) {
    table.diagnostics().error(table.line_of_key("password"),
                              table.key_path("password") + " must not be empty");
    valid = false;
  }
  if (!valid) return std::nullopt;
  return User{*user, *password, table.line(), caller_id.value_or(""),
              static_cast<std::uint32_t>(max_calls.value_or(0))};
}

std::vector<User> read_users(const std::vector<TableReader>& tables, bool record_route) {
  std::vector<User> users;
  users.reserve(tables.size());
  // User name → line of its first definition: a subscriber list may hold a million users, so
  // the duplicate check must not be a linear search per user.
  std::unordered_map<std::string, std::uint32_t> first_line;
  first_line.reserve(tables.size());
  for (const TableReader& table : tables) {
    std::optional<User> user = read_user(table, record_route);
    if (!user) continue;
    const auto [earlier, inserted] = first_line.try_emplace(user->user, user->line);
    if (!inserted) {
      table.diagnostics().error(user->line, "duplicate user " + quoted(user->user) +
                                                " (first defined at line " +
                                                std::to_string(earlier->second) + ")");
      continue;
    }
    users.push_back(std::move(*user));
  }
  return users;
}

// ---- next hops: forward route targets and pool members ----------------------------------

// The resolver of the load in progress (load_config_text sets it for its duration), and the
// address families [listen] gives (read before any next hop).
thread_local const HostResolver* current_resolver = nullptr;
thread_local const ServiceResolver* current_services = nullptr;  // null: no SRV lookups
thread_local bool resolved_names = false;  // the load in progress looked a name up
thread_local bool listens_ipv4 = true;
thread_local bool listens_ipv6 = false;

// The address of `name` to send to: the first IPv4 one when sipline listens on IPv4, else the
// first IPv6 one when it listens on IPv6; "" or why there is none.
struct ResolvedHost {
  std::optional<IpAddress> address;
  std::string error;
};
ResolvedHost resolve_host(std::string_view name) {
  resolved_names = true;
  const std::vector<IpAddress> addresses = (*current_resolver)(name);
  if (addresses.empty()) return {std::nullopt, "does not resolve (A or AAAA)"};
  for (const AddressFamily family : {AddressFamily::Ipv4, AddressFamily::Ipv6}) {
    if ((family == AddressFamily::Ipv4 ? listens_ipv4 : listens_ipv6)) {
      for (const IpAddress& address : addresses) {
        if (address.family == family) return {address, {}};
      }
    }
  }
  return {std::nullopt, "resolves only to addresses of a family sipline does not listen on"};
}

std::optional<IpAddress> uri_host_address(const sip::HostPort& host_port) {
  std::string_view host = host_port.host;
  if (host_port.kind == sip::HostKind::Ipv6Reference && host.size() >= 2) {
    host = host.substr(1, host.size() - 2);
  } else if (host_port.kind != sip::HostKind::Ipv4) {
    return std::nullopt;
  }
  return parse_ip_address(host);
}

bool is_sip_scheme(sip::UriScheme scheme) {
  return scheme == sip::UriScheme::Sip || scheme == sip::UriScheme::Sips;
}

// One server of a next hop's SRV records, with the address its target resolved to.
struct ServiceHop {
  ServiceRecord record;
  IpAddress address;
};
struct ServiceHops {
  std::vector<ServiceHop> hops;  // in the resolver's order; empty: no SRV records
  std::string error;             // why the records cannot be used
};

// RFC 3263 §4.2: a sip: URI naming a domain without a port is looked up as the service
// "_sip._udp.DOMAIN" (UDP: the one transport sipline speaks; a sips: URI would need TLS, so
// it is not looked up), each record's target then resolved like any host name. No NAPTR
// (§4.1): with one transport there is nothing to choose. No records: the caller falls back to
// the domain's A/AAAA records, as §4.2 says.
ServiceHops lookup_service_hops(const sip::Uri& uri) {
  const sip::HostPort& host_port = uri.host_port;
  if (current_services == nullptr || uri.scheme != sip::UriScheme::Sip ||
      host_port.kind != sip::HostKind::Hostname || host_port.has_port) {
    return {};
  }
  std::string domain(host_port.host);
  if (domain.ends_with('.')) domain.pop_back();
  const std::string service = "_sip._udp." + domain;
  resolved_names = true;
  const std::vector<ServiceRecord> records = (*current_services)(service);
  ServiceHops result;
  if (records.size() == 1 && records.front().target == ".") {
    result.error = "is not offered: its SRV record " + service + " names \".\" (RFC 2782)";
    return result;
  }
  for (const ServiceRecord& record : records) {
    if (record.target == "." || record.port == 0) continue;
    ResolvedHost resolved = resolve_host(record.target);
    if (!resolved.address) {
      result.error = "has the SRV record " + service + " → " + record.target + ":" +
                     std::to_string(record.port) + ", whose host name " + resolved.error;
      return result;
    }
    result.hops.push_back(ServiceHop{record, *resolved.address});
  }
  return result;
}

// A next hop (a forward route's target, a pool member) as written: a sip/sips URI whose host
// is an IP literal or a name resolved now (the URI keeps the name, so the Request-URI and
// probes carry it). A domain without a port is first its SRV service (lookup_service_hops);
// with records, `servers` holds them and `target` goes to the first (lowest priority,
// heaviest); without, the name's A/AAAA address, and an absent port is 5060 (5061 for sips).
// `path` names the key in messages.
struct NextHop {
  ForwardTarget target;
  std::string domain;               // with SRV records: the domain they belong to
  std::vector<ServiceHop> servers;  // the domain's SRV records, each resolved; or none
};
std::optional<NextHop> read_next_hops(Diagnostics& diagnostics, std::uint32_t line,
                                      const std::string& path, const std::string& text) {
  const std::string what = path + " " + quoted(text);
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(text);
  if (!uri.ok() || !is_sip_scheme(uri.value.scheme)) {
    diagnostics.error(line, what + " must be a sip: or sips: URI");
    return std::nullopt;
  }
  const sip::HostPort& host_port = uri.value.host_port;
  NextHop hop;
  hop.target.uri = text;
  hop.target.scheme = uri.value.scheme;
  ServiceHops service = lookup_service_hops(uri.value);
  if (!service.error.empty()) {
    diagnostics.error(
        line, what + ": the domain \"" + std::string(host_port.host) + "\" " + service.error);
    return std::nullopt;
  }
  if (!service.hops.empty()) {
    const ServiceHop& first = service.hops.front();
    hop.target.next_hop = SocketAddress{first.address, first.record.port};
    hop.domain = std::string(host_port.host);
    hop.servers = std::move(service.hops);
    return hop;
  }
  std::optional<IpAddress> address = uri_host_address(host_port);
  if (!address && host_port.kind == sip::HostKind::Hostname && current_resolver != nullptr) {
    ResolvedHost resolved = resolve_host(host_port.host);
    if (!resolved.address) {
      diagnostics.error(
          line, what + ": the host name \"" + std::string(host_port.host) + "\" " + resolved.error);
      return std::nullopt;
    }
    address = resolved.address;
  }
  if (!address) {
    diagnostics.error(line, what + " must have an IP address or a host name as host");
    return std::nullopt;
  }
  if (host_port.has_port && host_port.port == 0) {
    diagnostics.error(line, what + " must not use port 0");
    return std::nullopt;
  }
  const std::uint16_t default_port = uri.value.scheme == sip::UriScheme::Sips ? 5061 : 5060;
  hop.target.next_hop = SocketAddress{*address, host_port.has_port ? host_port.port : default_port};
  return hop;
}

// A forward route's target: one next hop (of a domain's SRV records, the first).
std::optional<ForwardTarget> read_next_hop(Diagnostics& diagnostics, std::uint32_t line,
                                           const std::string& path, const std::string& text) {
  std::optional<NextHop> hop = read_next_hops(diagnostics, line, path, text);
  if (!hop) return std::nullopt;
  return std::move(hop->target);
}

// ---- [[pools]] ---------------------------------------------------------------------------

// The members a pool member named by a domain with SRV records gives (RFC 3263 §4.2): one per
// record, its URI "sip:TARGET:PORT" (its identity in the Call-ID hash, and the probes'
// Request-URI), its priority the rank of the record's priority among the domain's (lowest
// first: the failover order RFC 2782 gives), its weight the record's (0 → 1, the smallest
// share a member has here; above kMaxMemberWeight → kMaxMemberWeight). `weighted`: the
// member's table gave its own weight or priority, which the records would contradict. Empty:
// an error, reported.
std::vector<lb::PoolMember> service_members(Diagnostics& diagnostics, std::uint32_t line,
                                            const std::string& path, const NextHop& hop, bool drain,
                                            bool weighted) {
  const std::string what =
      path + " " + quoted(hop.target.uri) + ": the domain \"" + hop.domain + "\" ";
  if (weighted) {
    diagnostics.error(line, what +
                                "has SRV records, which give each server's weight and "
                                "priority: leave them out here");
    return {};
  }
  std::vector<std::uint16_t> priorities;
  for (const ServiceHop& server : hop.servers)
    priorities.push_back(server.record.priority);
  std::sort(priorities.begin(), priorities.end());
  priorities.erase(std::unique(priorities.begin(), priorities.end()), priorities.end());
  if (priorities.size() > 256) {
    diagnostics.error(line, what + "has SRV records of more than 256 priorities");
    return {};
  }
  std::vector<lb::PoolMember> members;
  for (const ServiceHop& server : hop.servers) {
    const auto rank =
        std::lower_bound(priorities.begin(), priorities.end(), server.record.priority) -
        priorities.begin();
    lb::PoolMember member;
    member.uri = "sip:" + server.record.target + ":" + std::to_string(server.record.port);
    member.scheme = sip::UriScheme::Sip;
    member.address = SocketAddress{server.address, server.record.port};
    member.weight = std::clamp<std::uint32_t>(server.record.weight, 1, lb::kMaxMemberWeight);
    member.priority = static_cast<std::uint8_t>(rank);
    member.drain = drain;
    members.push_back(std::move(member));
  }
  return members;
}

// One element of pools[i].members: "URI" (weight 1) or { uri = "URI", weight = N, ... }; a
// domain with SRV records gives one member per record. Empty: an error, reported.
std::vector<lb::PoolMember> read_pool_member(const TableReader& pool, const ArrayItem& item) {
  Diagnostics& diagnostics = pool.diagnostics();
  if (const auto* text = item.node->as_string()) {
    const auto hop = read_next_hops(diagnostics, item.line, item.path, text->get());
    if (!hop) return {};
    if (!hop->servers.empty())
      return service_members(diagnostics, item.line, item.path, *hop, false, false);
    return {lb::PoolMember{hop->target.uri, hop->target.scheme, hop->target.next_hop, 1}};
  }
  const auto* table = item.node->as_table();
  if (table == nullptr) {
    diagnostics.error(item.line, item.path + " must be a string or a table, not " +
                                     std::string(type_name(*item.node)));
    return {};
  }
  const TableReader member(*table, item.path, diagnostics);
  member.reject_unknown_keys({"uri", "weight", "priority", "drain"});
  const auto weight = member.integer("weight", 1, lb::kMaxMemberWeight, Presence::Optional);
  const auto priority = member.integer("priority", 0, 255, Presence::Optional);
  const bool drain = member.boolean("drain").value_or(false);
  const auto uri = member.string("uri", Presence::Required);
  if (!uri) return {};
  const auto hop =
      read_next_hops(diagnostics, member.line_of_key("uri"), member.key_path("uri"), *uri);
  if (!hop) return {};
  if (!hop->servers.empty()) {
    return service_members(diagnostics, member.line_of_key("uri"), member.key_path("uri"), *hop,
                           drain, member.has("weight") || member.has("priority"));
  }
  if ((member.has("weight") && !weight) || (member.has("priority") && !priority)) return {};
  const ForwardTarget& target = hop->target;
  return {lb::PoolMember{target.uri, target.scheme, target.next_hop,
                         static_cast<std::uint32_t>(weight.value_or(1)),
                         static_cast<std::uint8_t>(priority.value_or(0)), drain}};
}

std::vector<lb::PoolMember> read_pool_members(const TableReader& pool) {
  std::vector<lb::PoolMember> members;
  const auto items = pool.array("members", Presence::Required);
  if (!items) return members;
  if (items->empty()) {
    pool.diagnostics().error(pool.line_of_key("members"),
                             pool.key_path("members") + " must list at least one member");
  }
  std::vector<std::string> paths;  // of the members kept, for the duplicate message
  for (const ArrayItem& item : *items) {
    for (lb::PoolMember& member : read_pool_member(pool, item)) {
      const auto same_address = std::find_if(
          members.begin(), members.end(),
          [&](const lb::PoolMember& earlier) { return earlier.address == member.address; });
      if (same_address != members.end()) {
        pool.diagnostics().error(
            item.line, item.path + " " + quoted(member.uri) + ": " + member.address.to_string() +
                           " is listed twice (first as " +
                           paths[static_cast<std::size_t>(same_address - members.begin())] + ")");
        continue;
      }
      members.push_back(std::move(member));
      paths.push_back(item.path);
    }
  }
  // Counted after SRV records have become members: one health bit each.
  if (members.size() > lb::kMaxPoolMembers) {
    pool.diagnostics().error(pool.line_of_key("members"),
                             pool.key_path("members") + " must list at most " +
                                 std::to_string(lb::kMaxPoolMembers) + " members, not " +
                                 std::to_string(members.size()));
  }
  return members;
}

// `key` holds SIP user characters (RFC 3261 §25.1), or is absent.
std::optional<std::string> read_user_key(const TableReader& table, std::string_view key,
                                         Presence presence) {
  auto value = table.string(key, presence);
  if (value && (value->empty() || !is_user_text(*value))) {
    table.diagnostics().error(table.line_of_key(key),
                              table.key_path(key) + " " + quoted(*value) +
                                  " must be a SIP user name (RFC 3261 §25.1 user characters)");
    return std::nullopt;
  }
  return value;
}

// failover_codes: final responses (300..599) after which the next member is tried. Not a 6xx:
// it is a global failure, after which a proxy must not create new branches (RFC 3261 §16.7
// step 5).
std::vector<std::uint16_t> read_failover_codes(const TableReader& pool,
                                               std::vector<std::uint16_t> fallback) {
  const auto items = pool.array("failover_codes", Presence::Optional);
  if (!items) return fallback;
  std::vector<std::uint16_t> codes;
  for (const ArrayItem& item : *items) {
    const std::optional<std::int64_t> code = item.node->value<std::int64_t>();
    if (item.node->is_integer() && code && *code >= 600 && *code <= 699) {
      pool.diagnostics().error(item.line, item.path + " is " + std::to_string(*code) +
                                              ": a 6xx is a global failure, no other member "
                                              "may be tried after it (RFC 3261 §16.7 step 5)");
      continue;
    }
    if (!item.node->is_integer() || !code || *code < 300 || *code > 599) {
      pool.diagnostics().error(item.line, item.path + " must be a final status code 300..599");
      continue;
    }
    codes.push_back(static_cast<std::uint16_t>(*code));
  }
  return codes;
}

lb::FailoverSettings read_failover(const TableReader& pool) {
  lb::FailoverSettings failover;
  failover.enabled = pool.boolean("failover").value_or(false);
  failover.codes = read_failover_codes(pool, failover.codes);
  failover.timeout_ms = pool.count_or("failover_timeout_ms", 100, 60000, failover.timeout_ms);
  failover.timer_c_ms = pool.count_or("timer_c_ms", 1000, 3'600'000, failover.timer_c_ms);
  return failover;
}

// credentials: the account of a trunk registration (the carrier's trunk account answers
// both its REGISTER and its calls' challenges), so its password is written once.
std::optional<lb::PoolCredentials> read_trunk_credentials(
    const TableReader& pool, const std::vector<TrunkRegistration>& trunks) {
  const auto name = pool.string("credentials", Presence::Optional);
  if (!name) return std::nullopt;
  if (pool.has("auth_user") || pool.has("password")) {
    pool.diagnostics().error(pool.line_of_key("credentials"),
                             pool.key_path("credentials") +
                                 " names a trunk registration's account: leave out auth_user "
                                 "and password");
    return lb::PoolCredentials{};
  }
  const auto trunk = std::find_if(trunks.begin(), trunks.end(),
                                  [&](const TrunkRegistration& t) { return t.name == *name; });
  if (trunk == trunks.end()) {
    pool.diagnostics().error(pool.line_of_key("credentials"),
                             pool.key_path("credentials") + " " + quoted(*name) +
                                 " names no [[trunk_registrations]] entry");
    return lb::PoolCredentials{};
  }
  return lb::PoolCredentials{trunk->auth_user, trunk->password};
}

// auth_user and password: the account the members' challenges are answered with (both or
// neither; the username defaults to nothing, since a carrier's differs from any of ours), or
// `credentials` naming a trunk registration.
lb::PoolCredentials read_pool_credentials(const TableReader& pool,
                                          const std::vector<TrunkRegistration>& trunks) {
  if (std::optional<lb::PoolCredentials> shared = read_trunk_credentials(pool, trunks)) {
    return *shared;
  }
  const auto auth_user = read_user_key(pool, "auth_user", Presence::Optional);
  const auto password = pool.string("password", Presence::Optional);
  if (password && password->empty()) {
    pool.diagnostics().error(pool.line_of_key("password"),
                             pool.key_path("password") + " must not be empty");
    return {};
  }
  if (password.has_value() != pool.has("auth_user")) {
    const std::string_view given = password ? "password" : "auth_user";
    const std::string_view missing = password ? "auth_user" : "password";
    pool.diagnostics().error(pool.line_of_key(given), pool.key_path(given) + " needs " +
                                                          pool.key_path(missing) +
                                                          " (the account for the members' "
                                                          "401/407 challenges)");
    return {};
  }
  if (!password || !auth_user) return {};
  return lb::PoolCredentials{*auth_user, *password};
}

// Letters, digits, '_', '.' and '-' only: a name that is one word of a counter line.
bool is_one_word(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

std::optional<lb::PoolSpec> read_pool(const TableReader& pool,
                                      const std::vector<TrunkRegistration>& trunks) {
  pool.reject_unknown_keys({"name", "members", "probe_interval", "down_after", "up_after",
                            "failover", "failover_codes", "failover_timeout_ms", "timer_c_ms",
                            "auth_user", "password", "credentials"});
  lb::PoolSpec spec;
  spec.line = pool.line();
  const auto name = pool.string("name", Presence::Required);
  // One word: the name is a field of the counter lines and of `siplinectl drain POOL MEMBER`.
  if (name && name->empty()) {
    pool.diagnostics().error(pool.line_of_key("name"),
                             pool.key_path("name") + " must not be empty");
  } else if (name && !is_one_word(*name)) {
    pool.diagnostics().error(
        pool.line_of_key("name"),
        pool.key_path("name") + " " + quoted(*name) + " must be letters, digits, '_', '.' or '-'");
  }
  spec.members = read_pool_members(pool);
  spec.probe.interval_s = pool.count_or("probe_interval", 0, 3600, spec.probe.interval_s);
  spec.probe.down_after = pool.count_or("down_after", 1, 100, spec.probe.down_after);
  spec.probe.up_after = pool.count_or("up_after", 1, 100, spec.probe.up_after);
  spec.failover = read_failover(pool);
  spec.credentials = read_pool_credentials(pool, trunks);
  // A pool with bad members is still returned (the load fails on its errors anyway), so that
  // routes naming it do not add "unknown pool" errors; one without a name cannot be named.
  if (!name || name->empty()) return std::nullopt;
  spec.name = *name;
  return spec;
}

// [[pools]], [[routes]], [[trunk_registrations]]: each table read by `read_one`; one whose
// name an earlier one has is reported at its name and left out (`what`: "pool", ...).
template <class Read>
auto read_uniquely_named(const std::vector<TableReader>& tables, std::string_view what,
                         Read read_one) {
  using Item = typename std::invoke_result_t<Read, const TableReader&>::value_type;
  std::vector<Item> items;
  for (const TableReader& table : tables) {
    std::optional<Item> item = read_one(table);
    if (!item) continue;
    const auto same_name = std::find_if(items.begin(), items.end(), [&](const Item& earlier) {
      return !item->name.empty() && earlier.name == item->name;
    });
    if (same_name != items.end()) {
      table.diagnostics().error(table.line_of_key("name"),
                                "duplicate " + std::string(what) + " name " + quoted(item->name) +
                                    " (first defined at line " + std::to_string(same_name->line) +
                                    ")");
      continue;
    }
    items.push_back(std::move(*item));
  }
  return items;
}

std::vector<lb::PoolSpec> read_pools(const std::vector<TableReader>& tables,
                                     const std::vector<TrunkRegistration>& trunks) {
  if (tables.size() > lb::kMaxPools) {
    const TableReader& first_extra = tables[lb::kMaxPools];
    first_extra.diagnostics().error(first_extra.line(),
                                    "pools must list at most " + std::to_string(lb::kMaxPools) +
                                        " pools, not " + std::to_string(tables.size()));
  }
  return read_uniquely_named(
      tables, "pool", [&trunks](const TableReader& table) { return read_pool(table, trunks); });
}

// ---- [[routes]] --------------------------------------------------------------------------

std::optional<RouteAction> parse_action(std::string_view text) {
  if (text == "location") return RouteAction::Location;
  if (text == "forward") return RouteAction::Forward;
  if (text == "redirect") return RouteAction::Redirect;
  if (text == "reject") return RouteAction::Reject;
  return std::nullopt;
}

bool read_redirect_contact(const TableReader& route, const std::string& text) {
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(text);
  if (uri.ok() && is_sip_scheme(uri.value.scheme)) return true;
  route.diagnostics().error(
      route.line_of_key("target"),
      route.key_path("target") + " " + quoted(text) + " must be a sip: or sips: URI");
  return false;
}

// "192.0.2.0/24", "2001:db8::/32", or a bare address (one host: /32, /128).
std::optional<IpPrefix> parse_source_prefix(std::string_view text) {
  if (text.find('/') != std::string_view::npos) return parse_ip_prefix(text);
  const auto address = parse_ip_address(text);
  if (!address) return std::nullopt;
  return IpPrefix{*address,
                  static_cast<std::uint8_t>(address->family == AddressFamily::Ipv4 ? 32 : 128)};
}

// The [source_groups] of the file being read, once read (read_document); null while the groups
// themselves are read, so a group cannot name another.
thread_local const std::vector<SourceGroup>* current_source_groups = nullptr;

const SourceGroup* find_source_group(std::string_view name) {
  if (current_source_groups == nullptr) return nullptr;
  for (const SourceGroup& group : *current_source_groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

// `key`, a list of source addresses and prefixes (parse_source_prefix) and [source_groups]
// names; std::nullopt when absent. An entry that is none of them is an error at its line and
// left out; an empty list is one (`key` + `when_empty`) unless `when_empty` is empty.
std::optional<std::vector<IpPrefix>> read_source_prefixes(const TableReader& table,
                                                          const std::string& key,
                                                          std::string_view when_empty) {
  const auto items = table.string_array(key, Presence::Optional);
  if (!items) return std::nullopt;
  if (items->empty() && !when_empty.empty()) {
    table.diagnostics().error(table.line_of_key(key),
                              table.key_path(key) + std::string(when_empty));
  }
  std::vector<IpPrefix> prefixes;
  for (const StringItem& item : *items) {
    if (const auto prefix = parse_source_prefix(item.text)) {
      prefixes.push_back(*prefix);
    } else if (const SourceGroup* group = find_source_group(item.text)) {
      prefixes.insert(prefixes.end(), group->prefixes.begin(), group->prefixes.end());
    } else {
      table.diagnostics().error(
          item.line, item.path + " " + quoted(item.text) +
                         " must be an IP address or ADDRESS/PREFIX like \"192.0.2.0/24\" or "
                         "\"2001:db8::/32\"" +
                         (current_source_groups != nullptr ? ", or a [source_groups] name" : ""));
    }
  }
  return prefixes;
}

// [source_groups]: NAME = [addresses and prefixes]; a name starts with a letter and is letters,
// digits, '-' and '_' (never taken for an address).
bool is_source_group_name(std::string_view name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::vector<SourceGroup> read_source_groups(const TableReader& groups) {
  std::vector<SourceGroup> read;
  for (const std::string& name : groups.keys()) {
    const std::uint32_t line = groups.line_of_key(name);
    if (!is_source_group_name(name)) {
      groups.diagnostics().error(line, groups.key_path(name) +
                                           ": a group name starts with a letter and has only "
                                           "letters, digits, '-' and '_'");
      continue;
    }
    std::optional<std::vector<IpPrefix>> prefixes =
        read_source_prefixes(groups, name, " must list at least one address");
    if (prefixes) read.push_back(SourceGroup{name, std::move(*prefixes)});
  }
  return read;
}

std::vector<std::string> read_methods(const TableReader& route) {
  std::vector<std::string> methods;
  const auto items = route.string_array("methods", Presence::Optional);
  if (!items) return methods;
  if (items->empty()) {
    route.diagnostics().error(
        route.line_of_key("methods"),
        route.key_path("methods") + " must not be empty (leave it out to match any method)");
  }
  for (const StringItem& item : *items) {
    if (sip::is_token(item.text)) {
      methods.push_back(item.text);
    } else {
      route.diagnostics().error(item.line,
                                item.path + " " + quoted(item.text) + " is not a SIP method token");
    }
  }
  return methods;
}

struct ActionArguments {
  std::optional<ForwardTarget> forward;
  std::optional<std::uint16_t> pool;
  std::string redirect_contact;
  std::uint16_t reject_code = 0;
};

// routes[i].pool: the index of the [[pools]] entry of that name.
std::optional<std::uint16_t> read_route_pool(const TableReader& route, const std::string& name,
                                             const std::vector<lb::PoolSpec>& pools) {
  const auto named = std::find_if(pools.begin(), pools.end(),
                                  [&](const lb::PoolSpec& pool) { return pool.name == name; });
  if (named == pools.end()) {
    route.diagnostics().error(
        route.line_of_key("pool"),
        route.key_path("pool") + " " + quoted(name) + " is not the name of any [[pools]]");
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(named - pools.begin());
}

// action = "forward" goes to a fixed next hop (target) or to a server pool (pool): one of them.
void read_forward_destination(const TableReader& route, const std::optional<std::string>& target,
                              const std::optional<std::string>& pool,
                              const std::vector<lb::PoolSpec>& pools, ActionArguments& arguments) {
  if (route.has("target") && route.has("pool")) {
    route.diagnostics().error(route.line_of_key("pool"),
                              route.key_path("target") + " and " + route.key_path("pool") +
                                  " are both set: action \"forward\" takes one or the other");
    return;
  }
  if (!route.has("target") && !route.has("pool")) {
    route.diagnostics().error(
        route.line(), route.key_path("target") + " or pool is required when action = \"forward\"");
    return;
  }
  if (target) {
    arguments.forward = read_next_hop(route.diagnostics(), route.line_of_key("target"),
                                      route.key_path("target"), *target);
  }
  if (pool) arguments.pool = read_route_pool(route, *pool, pools);
}

// target, pool and code belong to particular actions; anywhere else they are a mistake.
ActionArguments read_action_arguments(const TableReader& route, RouteAction action,
                                      std::string_view action_text,
                                      const std::vector<lb::PoolSpec>& pools) {
  const auto target = route.string("target", Presence::Optional);
  const auto pool = route.string("pool", Presence::Optional);
  const auto code = route.integer("code", 400, 699, Presence::Optional);
  const std::string quoted_action = quoted(action_text);
  const bool takes_target = action == RouteAction::Forward || action == RouteAction::Redirect;
  if (target && !takes_target) {
    route.diagnostics().error(route.line_of_key("target"),
                              route.key_path("target") + " is not used by action " + quoted_action +
                                  " (only by \"forward\" and \"redirect\")");
  }
  if (route.has("pool") && action != RouteAction::Forward) {
    route.diagnostics().error(route.line_of_key("pool"),
                              route.key_path("pool") + " is not used by action " + quoted_action +
                                  " (only by \"forward\")");
  }
  if (route.has("code") && action != RouteAction::Reject) {
    route.diagnostics().error(route.line_of_key("code"),
                              route.key_path("code") + " is not used by action " + quoted_action +
                                  " (only by \"reject\")");
  }
  ActionArguments arguments;
  if (action == RouteAction::Forward) {
    read_forward_destination(route, target, pool, pools, arguments);
  }
  if (action == RouteAction::Redirect && target && read_redirect_contact(route, *target)) {
    arguments.redirect_contact = *target;
  }
  if (action == RouteAction::Reject) {
    if (code) {
      arguments.reject_code = static_cast<std::uint16_t>(*code);
    } else if (!route.has("code")) {
      route.diagnostics().error(route.line(),
                                route.key_path("code") + " is required when action = \"reject\"");
    }
  }
  return arguments;
}

// strip and prepend (number translation) change the user that location and redirect look up
// and that a forward sends on; a reject or a redirect to a fixed Contact has no use for them.
void read_user_translation(const TableReader& route, Route& config) {
  const bool translates = route.has("strip") || route.has("prepend");
  const bool redirects_to_contacts =
      config.action == RouteAction::Redirect && config.redirect_contact.empty();
  if (translates && config.action != RouteAction::Location &&
      config.action != RouteAction::Forward && !redirects_to_contacts) {
    const std::string key = route.has("strip") ? "strip" : "prepend";
    route.diagnostics().error(route.line_of_key(key),
                              route.key_path(key) +
                                  " is not used by this route (only by \"location\", \"forward\" "
                                  "and a \"redirect\" to the registered contacts)");
    return;
  }
  const std::size_t prefix_size = config.user_prefix.size();
  config.strip = static_cast<std::uint8_t>(route.count_or("strip", 0, 255, 0));
  if (config.strip > prefix_size) {
    route.diagnostics().error(route.line_of_key("strip"),
                              route.key_path("strip") + " = " + std::to_string(config.strip) +
                                  " is longer than user_prefix " + quoted(config.user_prefix) +
                                  " (" + std::to_string(prefix_size) +
                                  (prefix_size == 1 ? " octet" : " octets") +
                                  "): only what the prefix matched may be stripped");
    config.strip = 0;
  }
  config.prepend = route.string("prepend", Presence::Optional).value_or("");
  if (!is_user_text(config.prepend) || config.prepend.size() > lb::kMaxPrependSize) {
    route.diagnostics().error(route.line_of_key("prepend"),
                              route.key_path("prepend") + " " + quoted(config.prepend) +
                                  " must be at most " + std::to_string(lb::kMaxPrependSize) +
                                  " SIP user characters (RFC 3261 §25.1)");
    config.prepend.clear();
  }
}

// fork, fork_timeout_ms, ring_timeout_ms: a location route's forking.
void read_forking(const TableReader& route, Route& config) {
  const bool timeouts = route.has("fork_timeout_ms") || route.has("ring_timeout_ms");
  if (!route.has("fork") && !timeouts) return;
  const std::string fork = route.string("fork", Presence::Optional).value_or("none");
  if (fork != "none" && fork != "serial" && fork != "parallel" && fork != "q-groups") {
    route.diagnostics().error(route.line_of_key("fork"),
                              route.key_path("fork") +
                                  " must be \"serial\", \"parallel\", \"q-groups\" or "
                                  "\"none\", not " +
                                  quoted(fork));
    return;
  }
  if (config.action != RouteAction::Location && fork != "none") {
    route.diagnostics().error(
        route.line_of_key("fork"),
        route.key_path("fork") + " applies to location routes (a user's registered contacts)");
    return;
  }
  if (timeouts && fork == "none") {
    const std::string key = route.has("fork_timeout_ms") ? "fork_timeout_ms" : "ring_timeout_ms";
    route.diagnostics().error(
        route.line_of_key(key),
        route.key_path(key) + " needs fork = \"serial\", \"parallel\" or \"q-groups\"");
    return;
  }
  lb::Forking& forking = config.fork;
  forking.mode = fork == "serial"     ? lb::Forking::Mode::Serial
                 : fork == "parallel" ? lb::Forking::Mode::Parallel
                 : fork == "q-groups" ? lb::Forking::Mode::QGroups
                                      : lb::Forking::Mode::None;
  forking.no_answer_ms = route.count_or("fork_timeout_ms", 100, 60000, forking.no_answer_ms);
  if (route.has("ring_timeout_ms")) {
    forking.ring_timeout_ms = route.count_or("ring_timeout_ms", 1000, 3'600'000, 0);
  }
}

// fallback_codes: the contacts' final answers (300..599) after which the call goes to the
// fallback. Not a 6xx: no new branch may be created after one (RFC 3261 §16.7 step 5).
std::vector<std::uint16_t> read_fallback_codes(const TableReader& route,
                                               std::vector<std::uint16_t> defaults) {
  const auto items = route.array("fallback_codes", Presence::Optional);
  if (!items) return defaults;
  if (items->empty()) {
    route.diagnostics().error(
        route.line_of_key("fallback_codes"),
        route.key_path("fallback_codes") + " must not be empty (leave fallback out instead)");
  }
  std::vector<std::uint16_t> codes;
  for (const ArrayItem& item : *items) {
    const std::optional<std::int64_t> code = item.node->value<std::int64_t>();
    if (!item.node->is_integer() || !code || *code < 300 || *code > 599) {
      route.diagnostics().error(item.line, item.path +
                                               " must be a final status code 300..599 (after a "
                                               "6xx no new branch may be created, RFC 3261 "
                                               "§16.7 step 5)");
      continue;
    }
    codes.push_back(static_cast<std::uint16_t>(*code));
  }
  return codes;
}

// The Request-URI the fallback gets: the called user in the target's URI, unless that URI
// names a user of its own (an operator, a hunt group).
void split_fallback_uri(lb::Forking::Fallback& fallback) {
  const std::string& text = fallback.target.uri;
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(text);
  fallback.names_user = uri.ok() && uri.value.has_user;
  if (fallback.names_user) {
    fallback.uri_head = text;
    return;
  }
  const std::size_t colon = text.find(':');
  fallback.uri_head = text.substr(0, colon + 1);
  fallback.uri_tail = "@" + text.substr(colon + 1);
}

// fallback, fallback_codes: where a forking location route's INVITE goes when the user cannot
// take it. The proxy must keep the call's state to see every contact fail: fork is required.
void read_fallback(const TableReader& route, Route& config) {
  if (!route.has("fallback")) {
    if (route.has("fallback_codes")) {
      route.diagnostics().error(route.line_of_key("fallback_codes"),
                                route.key_path("fallback_codes") + " needs fallback");
    }
    return;
  }
  if (!config.fork.enabled()) {
    route.diagnostics().error(
        route.line_of_key("fallback"),
        route.key_path("fallback") +
            " needs fork = \"serial\", \"parallel\" or \"q-groups\" on a location route (the "
            "proxy keeps "
            "the call's state to see its contacts fail)");
    return;
  }
  const auto text = route.string("fallback", Presence::Optional);
  if (!text) return;
  std::optional<ForwardTarget> target = read_next_hop(
      route.diagnostics(), route.line_of_key("fallback"), route.key_path("fallback"), *text);
  if (!target) return;
  lb::Forking::Fallback fallback;
  fallback.target = std::move(*target);
  fallback.codes = read_fallback_codes(route, fallback.codes);
  split_fallback_uri(fallback);
  config.fork.fallback = std::move(fallback);
}

// max_calls, max_cps and limit_code, or call_limit naming a [[call_limits]] group: how many
// calls a route that forwards carries at once, and starts per second.
void read_call_limit(const TableReader& route, Route& config, bool record_route,
                     const std::vector<CallLimitGroup>& groups) {
  const auto max_calls = route.integer("max_calls", 1, 10000000, Presence::Optional);
  const auto max_cps = route.integer("max_cps", 1, 1000000, Presence::Optional);
  const auto code = route.integer("limit_code", 400, 699, Presence::Optional);
  const auto group = route.string("call_limit", Presence::Optional);
  for (const char* key : {"max_calls", "max_cps", "limit_code", "call_limit"}) {
    if (route.has(key) && config.action != RouteAction::Location &&
        config.action != RouteAction::Forward) {
      route.diagnostics().error(
          route.line_of_key(key),
          route.key_path(key) + " applies to routes that forward (location, forward)");
      return;
    }
  }
  if (group) {
    for (const char* key : {"max_calls", "max_cps", "limit_code"}) {
      if (!route.has(key)) continue;
      route.diagnostics().error(route.line_of_key(key),
                                route.key_path(key) +
                                    " and call_limit are both set: the "
                                    "limits are the [[call_limits]] entry's");
      return;
    }
    const auto named = std::find_if(groups.begin(), groups.end(),
                                    [&](const CallLimitGroup& g) { return g.name == *group; });
    if (named == groups.end()) {
      route.diagnostics().error(route.line_of_key("call_limit"),
                                route.key_path("call_limit") + " " + quoted(*group) +
                                    " is not the name of any [[call_limits]]");
      return;
    }
    config.call_limit = named->name;
    config.max_calls = named->max_calls;
    config.max_cps = named->max_cps;
    config.limit_code = named->code;
    return;
  }
  if (route.has("limit_code") && !route.has("max_calls") && !route.has("max_cps")) {
    route.diagnostics().error(route.line_of_key("limit_code"),
                              route.key_path("limit_code") + " needs max_calls or max_cps");
  }
  check_max_calls_record_route(route, record_route);
  if (max_calls) config.max_calls = static_cast<std::uint32_t>(*max_calls);
  if (max_cps) config.max_cps = static_cast<std::uint32_t>(*max_cps);
  if (code) config.limit_code = static_cast<std::uint16_t>(*code);
}

// [[call_limits]]: a name, and max_calls and/or max_cps that the routes naming it share.
std::optional<CallLimitGroup> read_call_limit_group(const TableReader& table, bool record_route) {
  table.reject_unknown_keys({"name", "max_calls", "max_cps", "code"});
  CallLimitGroup group;
  group.line = table.line();
  const auto name = table.string("name", Presence::Required);
  const auto max_calls = table.integer("max_calls", 1, 10000000, Presence::Optional);
  const auto max_cps = table.integer("max_cps", 1, 1000000, Presence::Optional);
  const auto code = table.integer("code", 400, 699, Presence::Optional);
  check_max_calls_record_route(table, record_route);
  if (name && (name->empty() || !is_one_word(*name))) {
    table.diagnostics().error(table.line_of_key("name"),
                              table.key_path("name") + " " + quoted(*name) +
                                  " must be letters, digits, '_', '.' or '-' (one word: it is a "
                                  "field of the counter lines)");
    return std::nullopt;
  }
  if (!table.has("max_calls") && !table.has("max_cps")) {
    table.diagnostics().error(table.line(),
                              table.key_path("max_calls") + " or max_cps is required");
    return std::nullopt;
  }
  if (!name) return std::nullopt;
  group.name = *name;
  group.max_calls = static_cast<std::uint32_t>(max_calls.value_or(0));
  group.max_cps = static_cast<std::uint32_t>(max_cps.value_or(0));
  if (code) group.code = static_cast<std::uint16_t>(*code);
  return group;
}

std::vector<CallLimitGroup> read_call_limit_groups(const std::vector<TableReader>& tables,
                                                   bool record_route) {
  return read_uniquely_named(tables, "call limit", [record_route](const TableReader& table) {
    return read_call_limit_group(table, record_route);
  });
}

std::optional<Route> read_route(const TableReader& route, const std::vector<lb::PoolSpec>& pools,
                                bool record_route, const std::vector<CallLimitGroup>& groups) {
  route.reject_unknown_keys({"name",
                             "user_prefix",
                             "methods",
                             "sources",
                             "action",
                             "auth",
                             "target",
                             "pool",
                             "code",
                             "strip",
                             "prepend",
                             "assert_identity",
                             "fork",
                             "fork_timeout_ms",
                             "ring_timeout_ms",
                             "fallback",
                             "fallback_codes",
                             "max_calls",
                             "max_cps",
                             "limit_code",
                             "call_limit"});
  Route config;
  config.line = route.line();
  config.name = route.string("name", Presence::Required).value_or("");
  config.user_prefix = route.string("user_prefix", Presence::Optional).value_or("");
  if (!is_user_text(config.user_prefix)) {
    route.diagnostics().error(route.line_of_key("user_prefix"),
                              route.key_path("user_prefix") + " " + quoted(config.user_prefix) +
                                  " must use SIP user characters (RFC 3261 §25.1)");
  }
  config.methods = read_methods(route);
  if (const auto sources = read_source_prefixes(
          route, "sources", " must not be empty (leave it out to match any source)")) {
    config.sources = *sources;
  }
  config.auth = route.boolean("auth").value_or(false);
  config.assert_identity = route.boolean("assert_identity").value_or(false);
  if (config.assert_identity && !config.auth) {
    route.diagnostics().error(route.line_of_key("assert_identity"),
                              route.key_path("assert_identity") +
                                  " needs auth = true (only an authenticated user's identity is "
                                  "asserted)");
  }
  const auto action_text = route.string("action", Presence::Required);
  if (!action_text) return std::nullopt;
  const auto action = parse_action(*action_text);
  if (!action) {
    route.diagnostics().error(route.line_of_key("action"),
                              route.key_path("action") +
                                  " must be \"location\", \"forward\", \"redirect\" or "
                                  "\"reject\", not " +
                                  quoted(*action_text));
    return std::nullopt;
  }
  config.action = *action;
  if (config.assert_identity &&
      (*action == RouteAction::Redirect || *action == RouteAction::Reject)) {
    route.diagnostics().error(
        route.line_of_key("assert_identity"),
        route.key_path("assert_identity") + " applies to routes that forward (location, forward)");
  }
  ActionArguments arguments = read_action_arguments(route, *action, *action_text, pools);
  config.forward = std::move(arguments.forward);
  config.pool = arguments.pool;
  // The pool's credentials answer its members' challenges for whatever the route lets
  // through: a route open to anyone would let anyone call through the trunk's account.
  if (config.pool && pools[*config.pool].credentials.configured() && !config.auth &&
      config.sources.empty()) {
    route.diagnostics().error(route.line_of_key("pool"),
                              route.key_path("pool") + " " + quoted(pools[*config.pool].name) +
                                  " answers its members' challenges with its credentials: the "
                                  "route needs auth = true or sources (else anyone reaching "
                                  "sipline calls through that account)");
  }
  config.redirect_contact = std::move(arguments.redirect_contact);
  config.reject_code = arguments.reject_code;
  read_user_translation(route, config);
  read_forking(route, config);
  read_fallback(route, config);
  read_call_limit(route, config, record_route, groups);
  return config;
}

// After read_pools: a route names its pool, the rule holds the pool's index.
std::vector<Route> read_routes(const std::vector<TableReader>& tables,
                               const std::vector<lb::PoolSpec>& pools, bool record_route,
                               const std::vector<CallLimitGroup>& groups) {
  return read_uniquely_named(tables, "route",
                             [&pools, record_route, &groups](const TableReader& table) {
                               return read_route(table, pools, record_route, groups);
                             });
}

// ---- [log], [limits] ---------------------------------------------------------------------

// ---- [admin] ----------------------------------------------------------------------------

// A Unix socket path must fit sockaddr_un::sun_path (108 octets with its NUL).
constexpr std::size_t kMaxUnixSocketPath = 107;

DnsConfig read_dns(const TableReader& dns) {
  dns.reject_unknown_keys({"refresh_interval"});
  DnsConfig config;
  config.refresh_interval_s = dns.count_or("refresh_interval", 0, 86400, config.refresh_interval_s);
  return config;
}

// An optional "HOST:PORT" key; a wrong one is reported at its line (and taken as absent).
std::optional<SocketAddress> optional_socket_address(const TableReader& table,
                                                     std::string_view key) {
  const auto text = table.string(key, Presence::Optional);
  if (!text) return std::nullopt;
  const ParsedSocketAddress parsed = parse_socket_address(*text);
  if (parsed.ok()) return parsed.value;
  table.diagnostics().error(
      table.line_of_key(key),
      table.key_path(key) + " " + quoted(*text) + ": " + socket_address_problem(parsed.error));
  return std::nullopt;
}

AdminConfig read_admin(const TableReader& admin) {
  admin.reject_unknown_keys({"socket", "metrics"});
  AdminConfig config;
  config.metrics = optional_socket_address(admin, "metrics");
  config.socket = admin.string("socket", Presence::Optional).value_or("");
  if (config.socket.size() > kMaxUnixSocketPath) {
    admin.diagnostics().error(admin.line_of_key("socket"), "admin.socket " + quoted(config.socket) +
                                                               " is longer than " +
                                                               std::to_string(kMaxUnixSocketPath) +
                                                               " octets (a Unix socket path)");
  }
  return config;
}

AccountingConfig read_accounting(const TableReader& accounting) {
  accounting.reject_unknown_keys({"file"});
  AccountingConfig config;
  config.file = accounting.string("file", Presence::Optional).value_or("");
  if (accounting.has("file") && (config.file.empty() || config.file.back() == '/')) {
    accounting.diagnostics().error(accounting.line_of_key("file"),
                                   "accounting.file " + quoted(config.file) +
                                       " must name a file (call records are appended to it)");
  }
  return config;
}

CaptureConfig read_capture(const TableReader& capture) {
  capture.reject_unknown_keys({"hep", "capture_id", "password"});
  CaptureConfig config;
  config.hep = optional_socket_address(capture, "hep");
  config.capture_id = capture.count_or("capture_id", 0, UINT32_MAX, config.capture_id);
  config.password = capture.string("password", Presence::Optional).value_or("");
  for (const char* key : {"capture_id", "password"}) {
    if (capture.has(key) && !capture.has("hep")) {
      capture.diagnostics().error(capture.line_of_key(key),
                                  std::string("capture.") + key + " needs capture.hep");
    }
  }
  return config;
}

LogLevel read_log_level(const TableReader& log) {
  log.reject_unknown_keys({"level"});
  const auto level = log.string("level", Presence::Optional);
  if (!level) return LogLevel::Info;
  for (LogLevel candidate : {LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug}) {
    if (*level == log_level_name(candidate)) return candidate;
  }
  log.diagnostics().error(
      log.line_of_key("level"),
      "log.level must be \"error\", \"warn\", \"info\" or \"debug\", not " + quoted(*level));
  return LogLevel::Info;
}

// A list of at most `max` strings (`table`'s key `key`, written `name` in messages, its items
// called `items`), each kept when `valid` accepts it and reported at its line otherwise as
// "must be " + `rule`.
template <class Valid>
std::optional<std::vector<std::string>> read_bounded_strings(
    const TableReader& table, const std::string& key, std::string_view name, std::size_t max,
    std::string_view items, const Valid& valid, std::string_view rule) {
  const auto read = table.string_array(key, Presence::Optional);
  if (!read) return std::nullopt;
  if (read->size() > max) {
    table.diagnostics().error(table.line_of_key(key),
                              std::string(name) + " lists at most " + std::to_string(max) + " " +
                                  std::string(items) + ", not " + std::to_string(read->size()));
    return std::nullopt;
  }
  std::vector<std::string> kept;
  for (const StringItem& item : *read) {
    if (!valid(item.text)) {
      table.diagnostics().error(
          item.line, item.path + " " + quoted(item.text) + " must be " + std::string(rule));
      continue;
    }
    kept.push_back(item.text);
  }
  return kept;
}

// [limits] emergency_numbers: dialled numbers as a phone sends them (digits, '+', '*', '#'),
// at most kMaxEmergencyNumbers of at most kMaxEmergencyNumberLength octets: the shed socket
// filter compares each in the kernel (dataplane/shed_filter.hpp).
std::optional<std::vector<std::string>> read_emergency_numbers(const TableReader& limits) {
  const auto dialable = [](const std::string& text) {
    return !text.empty() && text.size() <= kMaxEmergencyNumberLength &&
           text.find_first_not_of("0123456789+*#") == std::string::npos;
  };
  return read_bounded_strings(
      limits, "emergency_numbers", "limits.emergency_numbers", kMaxEmergencyNumbers, "numbers",
      dialable,
      "a number of 1 to " + std::to_string(kMaxEmergencyNumberLength) + " digits, '+', '*' or '#'");
}

// [limits] emergency_service_number: one of the emergency numbers (so that the call passes
// limits and shedding as one), or "" for none; absent: the first emergency number.
std::string read_emergency_service_number(const TableReader& limits,
                                          const std::vector<std::string>& numbers) {
  const std::optional<std::string> number =
      limits.string("emergency_service_number", Presence::Optional);
  if (!number) return numbers.empty() ? std::string() : numbers.front();
  if (!number->empty() && std::find(numbers.begin(), numbers.end(), *number) == numbers.end()) {
    limits.diagnostics().error(limits.line_of_key("emergency_service_number"),
                               "limits.emergency_service_number " + quoted(*number) +
                                   " must be one of limits.emergency_numbers, or \"\" for none");
    return {};
  }
  return *number;
}

// [limits.emergency_services]: "sos.SUB" = one of the emergency numbers, at most
// kMaxEmergencyNumbers of them.
std::vector<std::pair<std::string, std::string>> read_emergency_services(
    const TableReader& limits, const std::vector<std::string>& numbers) {
  std::vector<std::pair<std::string, std::string>> services;
  if (!limits.has("emergency_services")) return services;
  const TableReader table = limits.table("emergency_services");
  const std::vector<std::string> keys = table.keys();
  if (keys.size() > kMaxEmergencyNumbers) {
    table.diagnostics().error(table.line(), "limits.emergency_services lists at most " +
                                                std::to_string(kMaxEmergencyNumbers) +
                                                " services, not " + std::to_string(keys.size()));
    return services;
  }
  for (const std::string& service : keys) {
    const std::optional<std::string> number = table.string(service, Presence::Required);
    if (!number) continue;
    // Service names hold dots: quoted, not joined to the table's path.
    const std::string what = "limits.emergency_services " + quoted(service);
    if (!sip::is_emergency_service_name(service) || sip::general_service(service).empty()) {
      table.diagnostics().error(
          table.line_of_key(service),
          what + " must name a sub-service of sos (RFC 5031), such as \"sos.police\"");
    } else if (std::find(numbers.begin(), numbers.end(), *number) == numbers.end()) {
      table.diagnostics().error(
          table.line_of_key(service),
          what + " = " + quoted(*number) + ": the number must be one of limits.emergency_numbers");
    } else {
      std::string lower(service);
      for (char& c : lower)
        c = sip::ascii_lower(c);
      services.emplace_back(std::move(lower), *number);
    }
  }
  return services;
}

LimitsConfig read_limits(const TableReader& limits) {
  limits.reject_unknown_keys({"transaction_table_size", "ring_size", "call_table_size",
                              "dialog_timeout", "session_expires", "emergency_numbers",
                              "emergency_service_number", "emergency_services"});
  const auto call_table_size =
      limits.integer("call_table_size", 1024, 16777216, Presence::Optional);
  if (call_table_size && (*call_table_size & (*call_table_size - 1)) != 0) {
    limits.diagnostics().error(
        limits.line_of_key("call_table_size"),
        "limits.call_table_size must be a power of two, not " + std::to_string(*call_table_size));
  }
  LimitsConfig config;
  if (const auto size =
          limits.integer("transaction_table_size", 1024, 16777216, Presence::Optional)) {
    config.transaction_table_size = static_cast<std::uint32_t>(*size);
  }
  const auto ring_size = limits.integer("ring_size", 64, 1048576, Presence::Optional);
  if (ring_size && (*ring_size & (*ring_size - 1)) != 0) {
    limits.diagnostics().error(
        limits.line_of_key("ring_size"),
        "limits.ring_size must be a power of two, not " + std::to_string(*ring_size));
  } else if (ring_size) {
    config.ring_size = static_cast<std::uint32_t>(*ring_size);
  }
  if (call_table_size) config.call_table_size = static_cast<std::uint32_t>(*call_table_size);
  config.dialog_timeout_s = limits.count_or("dialog_timeout", 60, 604800, config.dialog_timeout_s);
  if (const auto expires = limits.integer("session_expires", 0, 86400, Presence::Optional)) {
    if (*expires != 0 && *expires < sip::kMinSessionInterval) {
      limits.diagnostics().error(
          limits.line_of_key("session_expires"),
          "limits.session_expires must be 0 (none) or at least 90 seconds (RFC 4028 §5: no "
          "session interval is shorter), not " +
              std::to_string(*expires));
    } else {
      config.session_expires_s = static_cast<std::uint32_t>(*expires);
    }
  }
  if (auto numbers = read_emergency_numbers(limits)) config.emergency_numbers = std::move(*numbers);
  config.emergency_service_number = read_emergency_service_number(limits, config.emergency_numbers);
  config.emergency_services = read_emergency_services(limits, config.emergency_numbers);
  return config;
}

OverloadConfig read_overload(const TableReader& overload) {
  overload.reject_unknown_keys({"enabled", "retry_after", "busy_ms", "queue_high_percent",
                                "queue_low_percent", "register_backlog", "answer_percent", "oc",
                                "oc_validity_ms", "shed_filter_percent"});
  OverloadConfig config;
  config.enabled = overload.boolean("enabled").value_or(config.enabled);
  config.oc = overload.boolean("oc").value_or(config.oc);
  config.retry_after_s = overload.count_or("retry_after", 1, 86400, config.retry_after_s);
  config.busy_ms = overload.count_or("busy_ms", 1, 10000, config.busy_ms);
  config.queue_high_percent =
      overload.count_or("queue_high_percent", 1, 100, config.queue_high_percent);
  config.queue_low_percent =
      overload.count_or("queue_low_percent", 0, 99, config.queue_low_percent);
  config.register_backlog =
      overload.count_or("register_backlog", 1, 1048576, config.register_backlog);
  config.oc_validity_ms = overload.count_or("oc_validity_ms", 0, 3600000, config.oc_validity_ms);
  config.answer_percent = overload.count_or("answer_percent", 0, 100000, config.answer_percent);
  config.shed_filter_percent =
      overload.count_or("shed_filter_percent", 0, 100, config.shed_filter_percent);
  if (config.queue_low_percent >= config.queue_high_percent) {
    overload.diagnostics().error(overload.line_of_key("queue_low_percent"),
                                 "overload.queue_low_percent (" +
                                     std::to_string(config.queue_low_percent) +
                                     ") must be below overload.queue_high_percent (" +
                                     std::to_string(config.queue_high_percent) + ")");
  }
  return config;
}

// ---- [source_limits] --------------------------------------------------------------------

// [source_limits] scanner_user_agents: substrings of User-Agent values, printable ASCII.
std::optional<std::vector<std::string>> read_scanner_user_agents(const TableReader& table) {
  const auto printable = [](const std::string& text) {
    return !text.empty() && text.size() <= kMaxScannerUserAgentLength &&
           std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 127; });
  };
  return read_bounded_strings(table, "scanner_user_agents", "source_limits.scanner_user_agents",
                              kMaxScannerUserAgents, "names", printable,
                              "1 to " + std::to_string(kMaxScannerUserAgentLength) +
                                  " printable characters without spaces");
}

SourceLimitsConfig read_source_limits(const TableReader& table) {
  table.reject_unknown_keys({"requests_per_second", "burst", "failed_auth_limit",
                             "failed_auth_window", "failed_auth_block", "table_size",
                             "trusted_sources", "scanner_user_agents"});
  SourceLimitsConfig config;
  config.requests_per_second =
      table.count_or("requests_per_second", 0, 1000000, config.requests_per_second);
  config.burst = table.count_or("burst", 1, 1000000, config.burst);
  config.failed_auth_limit =
      table.count_or("failed_auth_limit", 0, 1000000, config.failed_auth_limit);
  config.failed_auth_window =
      table.count_or("failed_auth_window", 1, 86400, config.failed_auth_window);
  config.failed_auth_block =
      table.count_or("failed_auth_block", 1, 604800, config.failed_auth_block);
  const auto table_size = table.integer("table_size", 64, 16777216, Presence::Optional);
  if (table_size && (*table_size & (*table_size - 1)) != 0) {
    table.diagnostics().error(
        table.line_of_key("table_size"),
        "source_limits.table_size must be a power of two, not " + std::to_string(*table_size));
  } else if (table_size) {
    config.table_size = static_cast<std::uint32_t>(*table_size);
  }
  if (auto trusted = read_source_prefixes(table, "trusted_sources")) {
    config.trusted_sources = std::move(*trusted);
  }
  if (auto scanners = read_scanner_user_agents(table)) {
    config.scanner_user_agents = std::move(*scanners);
  }
  return config;
}

// ---- whole-document rules ----------------------------------------------------------------

// The shipped demo password is public: serving it beyond this machine would hand out the
// accounts, so it is refused as soon as one listen address is reachable from elsewhere.
void check_demo_password(const Config& config, Diagnostics& diagnostics) {
  const auto exposed =
      std::find_if(config.listen.udp.begin(), config.listen.udp.end(),
                   [](const SocketAddress& address) { return !address.address.is_loopback(); });
  if (exposed == config.listen.udp.end()) return;
  for (const User& user : config.users) {
    if (user.password != kDemoPassword) continue;
    diagnostics.error(user.line, "user " + quoted(user.user) + " has the demo password " +
                                     quoted(kDemoPassword) + ", refused while listening on " +
                                     exposed->to_string() + " (not loopback)");
  }
}

// In DPDK mode the dataplane owns its addresses: a listen address must be one of them (its
// port is then served on that address), since no kernel socket binds anything.
void check_dpdk_listen(const Config& config, const TableReader& listen) {
  const DpdkConfig& dpdk = config.dataplane.dpdk;
  // Without a (valid) dataplane.address that key's own error says what to fix.
  if (config.dataplane.io != IoMode::Dpdk || dpdk.address.address.is_unspecified()) return;
  for (std::size_t i = 0; i < config.listen.udp.size(); ++i) {
    const SocketAddress& address = config.listen.udp[i];
    const bool ours = address.address == dpdk.address.address ||
                      (dpdk.address6 && address.address == dpdk.address6->address);
    if (ours) continue;
    std::string owned = dpdk.address.address.to_string();
    if (dpdk.address6) owned += " or " + dpdk.address6->address.to_string();
    listen.diagnostics().error(listen.line_of_key("udp"),
                               "listen.udp[" + std::to_string(i) + "] " +
                                   quoted(address.to_string()) +
                                   ": with dataplane.io = \"dpdk\" the host must be the "
                                   "dataplane address " +
                                   owned);
  }
}

// ---- [[trunk_registrations]] ---------------------------------------------------------------

// registrar: a sip: URI without user part (§10.2: the Request-URI names the domain).
std::optional<ForwardTarget> read_registrar_uri(const TableReader& table) {
  const auto text = table.string("registrar", Presence::Required);
  if (!text) return std::nullopt;
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(*text);
  if (uri.ok() && uri.value.has_user) {
    table.diagnostics().error(table.line_of_key("registrar"),
                              table.key_path("registrar") + " " + quoted(*text) +
                                  " must name the registrar's domain, without a user part "
                                  "(RFC 3261 §10.2)");
    return std::nullopt;
  }
  return read_next_hop(table.diagnostics(), table.line_of_key("registrar"),
                       table.key_path("registrar"), *text);
}

// outbound_proxy: a sip: URI of the carrier's SBC, without headers (it becomes a Route value).
// Returns whether the key is absent or good; `trunk` gets the target and its Route value.
bool read_outbound_proxy(const TableReader& table, TrunkRegistration& trunk) {
  const auto text = table.string("outbound_proxy", Presence::Optional);
  if (!text) return true;
  const std::uint32_t line = table.line_of_key("outbound_proxy");
  const std::string path = table.key_path("outbound_proxy");
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(*text);
  if (uri.ok() && !uri.value.headers.empty()) {
    table.diagnostics().error(
        line, path + " " + quoted(*text) + " must not carry headers (it becomes a Route value)");
    return false;
  }
  trunk.outbound_proxy = read_next_hop(table.diagnostics(), line, path, *text);
  if (!trunk.outbound_proxy) return false;
  // §16.12.1.1: a loose router's URI carries lr; a proxy without it would be taken for a
  // strict router by the SBC's stack.
  trunk.route = "<" + *text + (uri.value.lr ? ">" : ";lr>");
  return true;
}

std::optional<TrunkRegistration> read_trunk_registration(const TableReader& table) {
  table.reject_unknown_keys({"name", "registrar", "outbound_proxy", "user", "domain", "auth_user",
                             "password", "contact_user", "expires", "retry_interval"});
  TrunkRegistration trunk;
  trunk.line = table.line();
  const auto name = table.string("name", Presence::Required);
  auto registrar = read_registrar_uri(table);
  const bool outbound_proxy_ok = read_outbound_proxy(table, trunk);
  const auto user = read_user_key(table, "user", Presence::Required);
  const auto auth_user = read_user_key(table, "auth_user", Presence::Optional);
  const auto contact_user = read_user_key(table, "contact_user", Presence::Optional);
  const auto password = table.string("password", Presence::Required);
  if (password && password->empty()) {
    table.diagnostics().error(table.line_of_key("password"),
                              table.key_path("password") + " must not be empty");
  }
  const auto domain = table.string("domain", Presence::Optional);
  if (domain && !is_hostname(*domain) && !lb::parse_ip_address(*domain)) {
    table.diagnostics().error(
        table.line_of_key("domain"),
        table.key_path("domain") + " " + quoted(*domain) + " must be a host name or an IP address");
  }
  trunk.expires_s = table.count_or("expires", 60, 86400, trunk.expires_s);
  trunk.retry_interval_s = table.count_or("retry_interval", 5, 3600, trunk.retry_interval_s);
  if (!name || !registrar || !outbound_proxy_ok || !user || !password || password->empty()) {
    return std::nullopt;
  }
  trunk.name = *name;
  trunk.user = *user;
  trunk.auth_user = auth_user.value_or(*user);
  trunk.contact_user = contact_user.value_or(*user);
  trunk.password = *password;
  trunk.domain = domain.value_or(std::string(sip::parse_uri(registrar->uri).value.host_port.host));
  trunk.registrar = std::move(*registrar);
  return trunk;
}

std::vector<TrunkRegistration> read_trunk_registrations(const std::vector<TableReader>& tables) {
  return read_uniquely_named(tables, "trunk registration", read_trunk_registration);
}

// A trunk's Contact (and Via) is a listen address of its first hop's family (the registrar's
// or the outbound proxy's), which must name a host the carrier can send to: 0.0.0.0 and ::
// do not.
void check_trunk_contacts(const Config& config, Diagnostics& diagnostics) {
  for (std::size_t i = 0; i < config.trunk_registrations.size(); ++i) {
    const TrunkRegistration& trunk = config.trunk_registrations[i];
    const AddressFamily family = trunk.first_hop().next_hop.address.family;
    const bool has_contact_address =
        std::any_of(config.listen.udp.begin(), config.listen.udp.end(), [&](const auto& listen) {
          return listen.address.family == family && !listen.address.is_unspecified();
        });
    if (has_contact_address) continue;
    diagnostics.error(trunk.line,
                      "trunk_registrations[" + std::to_string(i) + "] " + quoted(trunk.name) +
                          ": no listen.udp address of the " +
                          (family == AddressFamily::Ipv4 ? "IPv4" : "IPv6") +
                          (trunk.outbound_proxy ? " outbound proxy's" : " registrar's") +
                          " family names a host for our Contact "
                          "(0.0.0.0 and :: do not)");
  }
}

Config read_document(const toml::table& document, std::string_view source_name,
                     Diagnostics& diagnostics) {
  const TableReader root(document, "", diagnostics);
  root.reject_unknown_keys({"listen", "dataplane", "domain", "registrar", "users", "pools",
                            "routes", "trunk_registrations", "log", "limits", "overload",
                            "source_limits", "source_groups", "admin", "dns", "accounting",
                            "capture", "call_limits"});
  Config config;
  config.source = std::string(source_name);
  // First: every list of sources below may name a group.
  current_source_groups = nullptr;
  config.source_groups = read_source_groups(root.table("source_groups"));
  current_source_groups = &config.source_groups;
  const TableReader listen = root.table("listen");
  config.listen = read_listen(listen);
  listens_ipv4 = listens_ipv6 = false;
  for (const SocketAddress& address : config.listen.udp) {
    (address.address.family == AddressFamily::Ipv4 ? listens_ipv4 : listens_ipv6) = true;
  }
  config.dataplane = read_dataplane(root.table("dataplane"));
  config.domain = read_domain(root.table("domain"));
  config.registrar = read_registrar(root.table("registrar"));
  config.users = read_users(root.array_of_tables("users"), config.domain.record_route);
  // Trunks before pools (a pool may use a trunk's account), pools before routes (they name
  // pools).
  config.trunk_registrations =
      read_trunk_registrations(root.array_of_tables("trunk_registrations"));
  config.pools = read_pools(root.array_of_tables("pools"), config.trunk_registrations);
  config.call_limits =
      read_call_limit_groups(root.array_of_tables("call_limits"), config.domain.record_route);
  config.routes = read_routes(root.array_of_tables("routes"), config.pools,
                              config.domain.record_route, config.call_limits);
  check_trunk_contacts(config, diagnostics);
  config.log_level = read_log_level(root.table("log"));
  config.limits = read_limits(root.table("limits"));
  config.overload = read_overload(root.table("overload"));
  config.source_limits = read_source_limits(root.table("source_limits"));
  config.admin = read_admin(root.table("admin"));
  config.dns = read_dns(root.table("dns"));
  config.accounting = read_accounting(root.table("accounting"));
  config.capture = read_capture(root.table("capture"));
  check_demo_password(config, diagnostics);
  check_dpdk_listen(config, listen);
  current_source_groups = nullptr;  // it points into `config`, which moves out
  return config;
}

}  // namespace

std::vector<sip::DigestAlgorithm> default_digest_algorithms() {
  // Built by push_back: g++ 12 -O3 misreports an initializer_list of 1-byte enums as
  // maybe-uninitialized (-Werror).
  std::vector<sip::DigestAlgorithm> algorithms;
  algorithms.push_back(sip::DigestAlgorithm::Sha256);
  algorithms.push_back(sip::DigestAlgorithm::Md5);
  return algorithms;
}

bool Config::uses_demo_password() const {
  return std::any_of(users.begin(), users.end(),
                     [](const User& user) { return user.password == kDemoPassword; });
}

std::string_view io_mode_name(IoMode mode) {
  return mode == IoMode::Dpdk ? "dpdk" : "socket";
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Error:
      return "error";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Info:
      return "info";
    case LogLevel::Debug:
      return "debug";
  }
  return "";
}

LoadResult load_config_text(std::string_view text, std::string_view source_name) {
  return load_config_text(text, source_name, resolve_with_system, lookup_service_with_system);
}

LoadResult load_config_file(const std::string& path) {
  return load_config_file(path, resolve_with_system, lookup_service_with_system);
}

LoadResult load_config_text(std::string_view text, std::string_view source_name,
                            const HostResolver& hosts, const ServiceResolver& services) {
  struct ResolverScope {
    ResolverScope(const HostResolver& hosts, const ServiceResolver& services) {
      current_resolver = &hosts;
      current_services = services ? &services : nullptr;
    }
    ~ResolverScope() {
      current_resolver = nullptr;
      current_services = nullptr;
    }
  } scope(hosts, services);
  resolved_names = false;
  Diagnostics diagnostics{std::string(source_name)};
  toml::table document;
  try {
    document = toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    diagnostics.error(error.source().begin.line, std::string(error.description()));
    return LoadResult{nullptr, diagnostics.formatted()};
  }
  Config config = read_document(document, source_name, diagnostics);
  if (!diagnostics.empty()) return LoadResult{nullptr, diagnostics.formatted()};
  config.resolves_names = resolved_names;
  config.text_hash = std::hash<std::string_view>{}(text);
  return LoadResult{std::make_shared<const Config>(std::move(config)), {}};
}

LoadResult load_config_file(const std::string& path, const HostResolver& hosts,
                            const ServiceResolver& services) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return LoadResult{nullptr, {path + ": cannot open: " + std::strerror(errno)}};
  std::string text;
  char buffer[8192];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0)
    text.append(buffer, count);
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) return LoadResult{nullptr, {path + ": cannot read: " + std::strerror(read_errno)}};
  return load_config_text(text, path, hosts, services);
}

}  // namespace sipline::config

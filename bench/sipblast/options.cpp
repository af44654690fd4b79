#include "bench/sipblast/options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "sip/digest.hpp"
#include "sip/digest_auth.hpp"

namespace sipline::sipblast {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::Uac:
      return "uac";
    case Role::Uas:
      return "uas";
    case Role::Both:
      return "both";
    case Role::Register:
      return "register";
    case Role::Options:
      return "options";
  }
  return "?";
}

std::string Endpoint::text() const {
  return (ipv6() ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

namespace {

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  // from_chars for double is in GCC 12's libstdc++.
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_ipv4(std::string_view address, in_addr* out) {
  const std::string copy(address);
  return inet_pton(AF_INET, copy.c_str(), out) == 1;
}

bool is_ipv6(std::string_view address, in6_addr* out) {
  const std::string copy(address);
  return inet_pton(AF_INET6, copy.c_str(), out) == 1;
}

bool same_address(std::string_view a, std::string_view b) {
  in_addr a4{}, b4{};
  if (is_ipv4(a, &a4) && is_ipv4(b, &b4)) return a4.s_addr == b4.s_addr;
  in6_addr a6{}, b6{};
  if (is_ipv6(a, &a6) && is_ipv6(b, &b6)) return std::memcmp(&a6, &b6, sizeof a6) == 0;
  return false;
}

bool in_prefix(std::uint32_t address, std::uint32_t network, int bits) {
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (address & mask) == (network & mask);
}

constexpr std::uint32_t ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d;
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port) {
  Endpoint endpoint;
  std::string_view address = text;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    address = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return std::nullopt;
      port = rest.substr(1);
    }
  } else if (text.find(':') != text.rfind(':')) {
    address = text;  // bare IPv6 address, no port
  } else if (const std::size_t colon = text.find(':'); colon != std::string_view::npos) {
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  in_addr v4{};
  in6_addr v6{};
  if (!is_ipv4(address, &v4) && !is_ipv6(address, &v6)) return std::nullopt;
  endpoint.address = std::string(address);
  endpoint.port = default_port;
  if (!port.empty()) {
    const auto number = parse_number<std::uint16_t>(port);
    if (!number) return std::nullopt;
    endpoint.port = *number;
  }
  return endpoint;
}

bool address_allowed(std::string_view address, std::span<const std::string> allowed) {
  in_addr v4{};
  if (is_ipv4(address, &v4) && in_prefix(ntohl(v4.s_addr), ipv4(127, 0, 0, 0), 8)) return true;
  in6_addr v6{};
  if (is_ipv6(address, &v6) && IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  for (const std::string& entry : allowed) {
    if (same_address(address, entry)) return true;
  }
  return false;
}

bool netns_address_acceptable(std::string_view address) {
  in_addr v4{};
  if (is_ipv4(address, &v4)) {
    const std::uint32_t a = ntohl(v4.s_addr);
    return in_prefix(a, ipv4(10, 0, 0, 0), 8) || in_prefix(a, ipv4(172, 16, 0, 0), 12) ||
           in_prefix(a, ipv4(192, 168, 0, 0), 16) || in_prefix(a, ipv4(169, 254, 0, 0), 16) ||
           in_prefix(a, ipv4(198, 18, 0, 0), 15) || in_prefix(a, ipv4(192, 0, 2, 0), 24) ||
           in_prefix(a, ipv4(198, 51, 100, 0), 24) || in_prefix(a, ipv4(203, 0, 113, 0), 24) ||
           in_prefix(a, ipv4(127, 0, 0, 0), 8);
  }
  in6_addr v6{};
  if (is_ipv6(address, &v6)) {
    const bool ula = (v6.s6_addr[0] & 0xFE) == 0xFC;                                  // fc00::/7
    const bool link_local = v6.s6_addr[0] == 0xFE && (v6.s6_addr[1] & 0xC0) == 0x80;  // fe80::/10
    const bool documentation = v6.s6_addr[0] == 0x20 && v6.s6_addr[1] == 0x01 &&
                               v6.s6_addr[2] == 0x0D && v6.s6_addr[3] == 0xB8;  // 2001:db8::/32
    return ula || link_local || documentation || IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

UserExpansion expand_users(std::string_view spec) {
  UserExpansion result;
  auto fail = [&](std::string message) {
    result.users.clear();
    result.error = std::move(message);
    return result;
  };
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) return fail("--users: empty item");

    std::string_view prefix, range, suffix;
    const std::size_t open = item.find('{');
    if (open != std::string_view::npos) {
      const std::size_t close = item.find('}', open);
      if (close == std::string_view::npos) return fail("--users: '{' without '}'");
      prefix = item.substr(0, open);
      range = item.substr(open + 1, close - open - 1);
      suffix = item.substr(close + 1);
    } else if (const std::size_t dash = item.find('-');
               dash != std::string_view::npos && dash > 0 &&
               parse_number<std::uint64_t>(item.substr(0, dash)) &&
               parse_number<std::uint64_t>(item.substr(dash + 1))) {
      range = item;
    } else {
      result.users.emplace_back(item);
      continue;
    }
    const std::size_t dash = range.find('-');
    if (dash == std::string_view::npos) return fail("--users: range needs FIRST-LAST");
    const std::string_view first_text = range.substr(0, dash);
    const auto first = parse_number<std::uint64_t>(first_text);
    const auto last = parse_number<std::uint64_t>(range.substr(dash + 1));
    if (!first || !last || *last < *first)
      return fail("--users: bad range '" + std::string(range) + "'");
    if (*last - *first + 1 + result.users.size() > kMaxUsers) {
      return fail("--users: more than " + std::to_string(kMaxUsers) + " users");
    }
    const std::size_t width = first_text.size() > 1 && first_text[0] == '0' ? first_text.size() : 0;
    for (std::uint64_t n = *first; n <= *last; ++n) {
      std::string number = std::to_string(n);
      if (number.size() < width) number.insert(0, width - number.size(), '0');
      result.users.push_back(std::string(prefix) + number + std::string(suffix));
    }
  }
  if (result.users.empty()) return fail("--users: no users");
  return result;
}

std::string usage() {
  return R"(sipblast: SIP over UDP load generator (loopback or namespace addresses only)

  --role uac|uas|both|register|options   (default uac)
  --target ADDR:PORT        proxy or UAS the requests go to (uac, both, register, options)
  --local ADDR[:PORT]       client sockets' address; PORT, PORT+1, ... (0/none: any port)
  --uas-listen ADDR:PORT    UAS address (uas, both; default 127.0.0.1:5070)
  --ruri-user U --ruri-host HOST[:PORT]   Request-URI (default 1002 @ the target)
  --from-user U             caller user (default 1001); --uas-user U: UAS Contact user
  --rate N                  calls/s (uac, both) or transactions/s (options, register)
  --duration S              seconds of generation (default 10 when --calls is absent; max 600)
  --calls N                 stop after N calls/transactions (whichever limit comes first)
  --threads T  --sockets K  worker threads; client sockets in all (K spreads 5-tuples)
  --batch N                 datagrams per sendmmsg/recvmmsg (default 32, max 256)
  --timeout-ms MS           Timer B/F: transaction timeout (default 32000)
  --hold-ms MS              pause between ACK and BYE (default 0)
  --users SPEC              register: 1001-1999, user{0001-0500}, alice, comma lists
  --register-password P     (default secret); --register-domain D; --register-expires S
  --json FILE|-             counters and latency percentiles as JSON
  --quiet                   no per-second lines
  --no-connect              do not connect() client sockets to the target
  --allow-netns-address A   also allow this (private / test-range) address; repeatable
  --idle-exit S             uas: exit after S seconds without traffic (once some arrived)
  --socket-buffer BYTES     SO_RCVBUF/SO_SNDBUF, forced past rmem_max when root (default 16 MiB)
  --uas-auth ALGS           uas: challenge REGISTER with digest, e.g. SHA-256,MD5 (every user's
                            password is --register-password)
  --spin-us US              keep polling this long when idle before sleeping (default 0)
  --busy-poll               never sleep (one full CPU per thread; for ceiling measurements)
  --oc                      RFC 7339 overload control client: offer `oc` in Via, drop the
                            share of new calls the server's oc=X feedback asks for (counted
                            as throttled); 503 answers are counted as shed either way
  --coalesce-us US          after a busy round, pause this long before polling again: larger
                            batches per system call; adds up to US to each hop (default 0)
)";
}

ParsedOptions parse_options(std::span<const std::string_view> args) {
  ParsedOptions parsed;
  Options& options = parsed.options;
  auto fail = [&](std::string message) {
    parsed.error = std::move(message);
    return parsed;
  };
  std::string users_spec;
  std::optional<std::string_view> local_text, listen_text, target_text;
  bool duration_given = false;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view name = args[i];
    if (name == "--help" || name == "-h") {
      parsed.help = true;
      return parsed;
    }
    const bool is_flag =
        name == "--quiet" || name == "--no-connect" || name == "--busy-poll" || name == "--oc";
    if (is_flag) {
      if (name == "--quiet") options.quiet = true;
      if (name == "--no-connect") options.connect = false;
      if (name == "--busy-poll") options.busy_poll = true;
      if (name == "--oc") options.overload_control = true;
      continue;
    }
    if (i + 1 >= args.size()) return fail(std::string(name) + ": missing value");
    const std::string_view value = args[++i];
    auto bad = [&] { return fail(std::string(name) + ": bad value '" + std::string(value) + "'"); };

    if (name == "--role") {
      if (value == "uac")
        options.role = Role::Uac;
      else if (value == "uas")
        options.role = Role::Uas;
      else if (value == "both")
        options.role = Role::Both;
      else if (value == "register")
        options.role = Role::Register;
      else if (value == "options")
        options.role = Role::Options;
      else
        return bad();
    } else if (name == "--target") {
      target_text = value;
    } else if (name == "--local") {
      local_text = value;
    } else if (name == "--uas-listen") {
      listen_text = value;
    } else if (name == "--ruri-user") {
      options.ruri_user = value;
    } else if (name == "--ruri-host") {
      options.ruri_host = value;
    } else if (name == "--from-user") {
      options.from_user = value;
    } else if (name == "--uas-user") {
      options.uas_user = value;
    } else if (name == "--rate") {
      const auto rate = parse_double(value);
      if (!rate || *rate <= 0 || *rate > 10'000'000) return bad();
      options.rate = *rate;
    } else if (name == "--duration") {
      const auto duration = parse_double(value);
      if (!duration || *duration <= 0) return bad();
      if (*duration > kMaxDurationS) return fail("--duration: at most 600 s");
      options.duration_s = *duration;
      duration_given = true;
    } else if (name == "--calls") {
      const auto calls = parse_number<std::uint64_t>(value);
      if (!calls || *calls == 0) return bad();
      options.calls = *calls;
    } else if (name == "--threads") {
      const auto threads = parse_number<int>(value);
      if (!threads || *threads < 1 || *threads > 64) return bad();
      options.threads = *threads;
    } else if (name == "--sockets") {
      const auto sockets = parse_number<int>(value);
      if (!sockets || *sockets < 1 || *sockets > 4096) return bad();
      options.sockets = *sockets;
    } else if (name == "--batch") {
      const auto batch = parse_number<int>(value);
      if (!batch || *batch < 1 || *batch > 256) return bad();
      options.batch = *batch;
    } else if (name == "--timeout-ms") {
      const auto timeout = parse_number<std::uint32_t>(value);
      if (!timeout || *timeout < 10 || *timeout > kMaxTimeoutMs) return bad();
      options.timeout_ms = *timeout;
    } else if (name == "--hold-ms") {
      const auto hold = parse_number<std::uint32_t>(value);
      if (!hold || *hold > kMaxTimeoutMs) return bad();
      options.hold_ms = *hold;
    } else if (name == "--users") {
      users_spec = value;
    } else if (name == "--register-password") {
      options.register_password = value;
    } else if (name == "--register-domain") {
      options.register_domain = value;
    } else if (name == "--register-expires") {
      const auto expires = parse_number<std::uint32_t>(value);
      if (!expires) return bad();
      options.register_expires = *expires;
    } else if (name == "--json") {
      options.json_path = value;
    } else if (name == "--allow-netns-address") {
      if (!netns_address_acceptable(value)) {
        return fail("--allow-netns-address: " + std::string(value) +
                    " is not a private, link-local or test-range address");
      }
      options.allowed_netns_addresses.emplace_back(value);
    } else if (name == "--idle-exit") {
      const auto idle = parse_double(value);
      if (!idle || *idle < 0) return bad();
      options.idle_exit_s = *idle;
    } else if (name == "--uas-auth") {
      options.uas_auth_algorithms.clear();
      std::string_view rest = value;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view algorithm = rest.substr(0, comma);
        if (!sip::digest_algorithm_supported(sip::digest_algorithm_from_text(algorithm))) {
          return bad();
        }
        options.uas_auth_algorithms.emplace_back(algorithm);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    } else if (name == "--coalesce-us") {
      const auto coalesce = parse_number<std::uint32_t>(value);
      if (!coalesce || *coalesce > 10'000) return bad();
      options.coalesce_us = *coalesce;
    } else if (name == "--spin-us") {
      const auto spin = parse_number<std::uint32_t>(value);
      if (!spin || *spin > 1'000'000) return bad();
      options.spin_us = *spin;
    } else if (name == "--socket-buffer") {
      const auto bytes = parse_number<int>(value);
      if (!bytes || *bytes < 65536) return bad();
      options.socket_buffer_bytes = *bytes;
    } else {
      return fail("unknown option " + std::string(name));
    }
  }

  // Addresses: numeric, and loopback or explicitly allowed.
  const auto& allowed = options.allowed_netns_addresses;
  auto check = [&](std::string_view option, const Endpoint& endpoint) -> std::string {
    if (address_allowed(endpoint.address, allowed)) return {};
    return std::string(option) + ": " + endpoint.address +
           " is neither loopback nor allowed with --allow-netns-address";
  };
  if (target_text) {
    const auto target = parse_endpoint(*target_text, 5060);
    if (!target)
      return fail("--target: expected ADDR:PORT, got '" + std::string(*target_text) + "'");
    if (std::string error = check("--target", *target); !error.empty()) return fail(error);
    options.target = *target;
  }
  if (local_text) {
    const auto local = parse_endpoint(*local_text, 0);
    if (!local) return fail("--local: expected ADDR[:PORT]");
    if (std::string error = check("--local", *local); !error.empty()) return fail(error);
    options.local = *local;
  }
  if (listen_text) {
    const auto listen = parse_endpoint(*listen_text, 5070);
    if (!listen) return fail("--uas-listen: expected ADDR:PORT");
    if (std::string error = check("--uas-listen", *listen); !error.empty()) return fail(error);
    options.uas_listen = *listen;
  }
  if (options.generates() && !options.target) return fail("--target is required for this role");
  if (options.target && options.target->port == 0) return fail("--target: port 0");
  if (options.local.port != 0 && options.local.port + options.sockets - 1 > 65535) {
    return fail("--local: port range runs past 65535");
  }
  if (options.sockets < options.threads && options.generates()) {
    options.sockets = options.threads;  // every generating thread needs a socket of its own
  }
  if (options.ruri_host.empty() && options.target) options.ruri_host = options.target->text();
  if (options.register_domain.empty()) {
    // The Request-URI host without its port: sip:127.0.0.1 (RFC 3261 §10.2).
    std::string host = options.ruri_host.empty() ? "127.0.0.1" : options.ruri_host;
    if (host.starts_with('[')) {
      host = host.substr(0, host.find(']') + 1);
    } else if (host.find(':') != host.rfind(':')) {
      // bare IPv6: keep as is
    } else if (const std::size_t colon = host.find(':'); colon != std::string::npos) {
      host = host.substr(0, colon);
    }
    options.register_domain = host;
  }
  if (options.role == Role::Register) {
    UserExpansion expansion = expand_users(users_spec.empty() ? std::string_view(options.from_user)
                                                              : std::string_view(users_spec));
    if (!expansion.error.empty()) return fail(expansion.error);
    options.users = std::move(expansion.users);
  }
  if (!duration_given) options.duration_s = options.calls == 0 ? kDefaultDurationS : kMaxDurationS;
  return parsed;
}

}  // namespace sipline::sipblast

// sipblast's command line: roles, addresses, rate and bounds. Parsing and validation are
// pure functions so the address policy (loopback or an explicitly allowed namespace address
// only) and the bounds are unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sipline::sipblast {

enum class Role : std::uint8_t { Uac, Uas, Both, Register, Options };

std::string_view role_name(Role role);

// Hard bounds: a run never generates for longer, whatever the options say.
inline constexpr double kDefaultDurationS = 10.0;
inline constexpr double kMaxDurationS = 600.0;
inline constexpr std::uint32_t kMaxTimeoutMs = 300'000;
inline constexpr std::size_t kMaxUsers = 10'000'000;

struct Endpoint {
  std::string address;  // numeric IPv4 or IPv6, without brackets
  std::uint16_t port = 0;

  bool ipv6() const { return address.find(':') != std::string::npos; }
  std::string text() const;  // "127.0.0.1:5060", "[::1]:5060"
};

struct Options {
  Role role = Role::Uac;
  std::optional<Endpoint> target;          // where requests go (proxy or UAS)
  Endpoint local{"127.0.0.1", 0};          // client sockets: port, port+1, ... (0: any)
  Endpoint uas_listen{"127.0.0.1", 5070};  // UAS socket(s), SO_REUSEPORT per thread
  std::string ruri_user = "1002";
  std::string ruri_host;  // host[:port] of the Request-URI; empty: the target's
  std::string from_user = "1001";
  std::string uas_user = "1002";  // user part of the UAS Contact
  double rate = 100.0;            // calls/s (uac, both) or transactions/s (options, register)
  double duration_s = 0.0;        // 0 with calls == 0: kDefaultDurationS
  std::uint64_t calls = 0;        // 0: no limit but the duration
  int threads = 1;
  int sockets = 1;  // client sockets in all (spread over threads); UAS: one per thread
  int batch = 32;   // datagrams per sendmmsg/recvmmsg
  std::uint32_t timeout_ms = 32'000;  // RFC 3261 Timer B/F (64*T1)
  std::uint32_t hold_ms = 0;          // ACK -> BYE
  std::vector<std::string> users;     // register: expanded --users
  std::string register_password = "secret";
  std::string register_domain;  // empty: the Request-URI host (without port)
  std::uint32_t register_expires = 3600;
  std::string json_path;  // "" none, "-" stdout
  bool quiet = false;     // no per-second lines
  bool connect = true;    // connect() client sockets to the target
  std::vector<std::string> allowed_netns_addresses;
  double idle_exit_s = 0.0;            // uas: exit after this long without traffic (0: off)
  int socket_buffer_bytes = 16 << 20;  // SO_RCVBUF/SO_SNDBUF (the kernel doubles it)
  // Idle workers keep polling this long before they sleep in epoll. Waking a sleeping
  // receiver costs the sender a cross-CPU wake-up (an IPI, expensive in a VM), so spinning
  // raises the ceiling at the price of CPU time. --busy-poll never sleeps.
  std::uint32_t spin_us = 0;
  bool busy_poll = false;
  // RFC 7339 client: `oc` in our Via; feedback oc=X in responses makes us drop X% of new
  // calls locally while it is valid (counted as throttled, not attempted).
  bool overload_control = false;
  // After a round that did work, wait this long before the next one (interrupt moderation
  // by hand): bigger batches per system call, for ceiling measurements. Adds up to this
  // much to each hop's latency.
  std::uint32_t coalesce_us = 0;
  // uas: challenge REGISTER with digest (RFC 3261 §22.4) using the proxy's verifier, every
  // user with --register-password; the algorithms offered, in order. Empty: no challenge.
  std::vector<std::string> uas_auth_algorithms;

  bool generates() const { return role != Role::Uas; }
  bool answers() const { return role == Role::Uas || role == Role::Both; }
};

struct ParsedOptions {
  Options options;
  std::string error;  // non-empty: refuse to run
  bool help = false;
};

// args excludes the program name.
ParsedOptions parse_options(std::span<const std::string_view> args);
std::string usage();

// "127.0.0.1:5060", "[::1]:5060", "::1" / "127.0.0.1" (port = default_port). Numeric only:
// sipblast never resolves names.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port);

// Loopback (127.0.0.0/8, ::1) or one of `allowed` (exact address match).
bool address_allowed(std::string_view address, std::span<const std::string> allowed);

// Addresses --allow-netns-address accepts: private, link-local, benchmarking (198.18.0.0/15)
// and documentation ranges, IPv6 ULA and link-local. A load generator has no business
// pointing at anything else.
bool netns_address_acceptable(std::string_view address);

// "1001-1999", "user{0001-0500}", "alice", and comma lists of these. A zero-padded lower
// bound ("0001") pads every number to its width. Error text on failure.
struct UserExpansion {
  std::vector<std::string> users;
  std::string error;
};
UserExpansion expand_users(std::string_view spec);

}  // namespace sipline::sipblast

// The proxy's configuration: one immutable snapshot loaded from TOML and validated strictly
// (unknown keys, wrong types and out-of-range values are errors with FILE:LINE), so a typo in
// a proxy config is refused at start-up or reload instead of silently changing behaviour.
// Workers read a std::shared_ptr<const Config>; a reload publishes a new snapshot. Every key,
// its meaning and its default are documented in config/README.md.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/address.hpp"
#include "lb/pool.hpp"
#include "lb/route_table.hpp"
#include "sip/digest.hpp"
#include "sip/uri.hpp"

namespace sipline::config {

// The password the shipped laptop config gives every demo user; refused on any listen
// address that is not loopback.
inline constexpr std::string_view kDemoPassword = "1234567890";

struct ListenConfig {
  std::vector<SocketAddress> udp;
  // The DSCP of every SIP datagram sent (RFC 2474: the IPv4 TOS / IPv6 Traffic Class octet's
  // upper six bits); 0 = default forwarding, unmarked.
  std::uint8_t dscp = 0;

  bool operator==(const ListenConfig&) const = default;
};

enum class IoMode : std::uint8_t { Socket, Dpdk };

// Used only when io = "dpdk"; with io = "socket" the keys are still type-checked.
// A permanent neighbour entry: the next hop is never resolved by ARP/ND and never expires.
struct StaticNeighbor {
  IpAddress address;                  // on dataplane.address's (or address6's) subnet
  std::array<std::uint8_t, 6> mac{};  // a unicast MAC
  bool operator==(const StaticNeighbor&) const = default;
};

struct DpdkConfig {
  std::vector<std::string> eal;  // EAL arguments, passed to rte_eal_init as written
  std::uint16_t port = 0;        // DPDK port id
  IpPrefix address;              // IPv4 interface address and subnet
  std::optional<IpPrefix> address6;
  std::optional<IpAddress> gateway;   // IPv4 next hop for destinations off the subnet
  std::optional<IpAddress> gateway6;  // IPv6 next hop off address6's prefix (or link-local)
  std::uint16_t mtu = 1500;
  std::vector<StaticNeighbor> static_neighbors;  // dataplane.static_neighbors
  // A kernel TAP port (net_tap) for what the dataplane does not serve itself: TCP, other UDP
  // ports, other ICMP, other EtherTypes (dataplane/dpdk/exception_path.hpp). None: dropped.
  std::optional<std::uint16_t> exception_port;
  // A worker whose RX queue comes back full passes whole bursts, unread, to the other
  // workers in turn; each classifies them and hands every call to its Call-ID owner. One
  // trunk (one 5-tuple: RSS puts it on one queue) then loads no core with every frame's
  // classification and Call-ID scan (dataplane/dpdk_worker.hpp, "Spreading").
  bool spread = false;

  bool operator==(const DpdkConfig&) const = default;
};

struct DataplaneConfig {
  IoMode io = IoMode::Socket;
  unsigned workers = 2;
  // The first `dispatchers` workers own no calls: they receive, classify and hand every call
  // to the other workers. One trunk (one 5-tuple, one RX queue) on many cores then leaves the
  // receiving core only the hand-off to do. 0: every worker owns calls.
  unsigned dispatchers = 0;
  DpdkConfig dpdk;

  bool operator==(const DataplaneConfig&) const = default;
};

struct DomainConfig {
  // Hosts we are responsible for (RFC 3261 §16.4); compared case-insensitively with the
  // Request-URI host. IPv6 literals are written as URI references: "[::1]".
  std::vector<std::string> names;
  bool record_route = false;
  // Other elements of the RFC 3325 trust domain (a PBX that reaches us as a registered user,
  // an upstream SBC): their P-Asserted-Identity is passed on and they may receive one kept
  // private. The servers the configuration routes to are always in it.
  std::vector<IpPrefix> trust_domain;
  // With record_route: the secret of the token in our Record-Route URI (sip/route_token.hpp).
  // Empty: no token (in-dialog requests need only carry our Route).
  std::string route_secret;

  const std::string& realm() const { return names.front(); }  // digest realm: first name
};

enum class StoreKind : std::uint8_t { Memory, Sqlite, Redis };

// Where a Redis location store lives: "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]", as
// redis-cli -u takes it (HOST: a name, an IPv4 address or [IPv6]; PORT 6379; DB 0).
struct RedisEndpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string user;      // Redis 6 ACL user ("AUTH user password"); empty: "AUTH password"
  std::string password;  // empty: no AUTH
  std::uint32_t db = 0;  // SELECT

  // "redis://HOST:PORT/DB", without the credentials: for log lines.
  std::string describe() const;
  bool operator==(const RedisEndpoint&) const = default;
};

// The endpoint, or why the text is not one.
struct ParsedRedisEndpoint {
  std::optional<RedisEndpoint> endpoint;
  std::string error;
};
ParsedRedisEndpoint parse_redis_url(std::string_view text);

struct StoreConfig {
  StoreKind kind = StoreKind::Memory;
  std::string location;  // Sqlite: the file path; Redis: the whole "redis://..." as written
  RedisEndpoint redis;   // Redis: location, parsed

  bool operator==(const StoreConfig&) const = default;
};

// SHA-256 then MD5: the strongest widely deployed algorithm first, MD5 for older phones.
std::vector<sip::DigestAlgorithm> default_digest_algorithms();

struct RegistrarConfig {
  StoreConfig store;
  bool auth = true;
  // Challenges offered, in order of preference (RFC 8760: one challenge per algorithm).
  std::vector<sip::DigestAlgorithm> algorithms = default_digest_algorithms();
  std::uint32_t min_expires = 60;
  std::uint32_t max_expires = 3600;
  std::uint32_t default_expires = 3600;
  std::uint32_t max_contacts = 10;  // per address-of-record
  // Every contact registered from behind a NAT (the REGISTER came from another address than
  // its Contact names) gets a keep-alive from the proxy this often, so that the NAT keeps the
  // mapping calls reach it through (Kamailio's natping_interval); 0: none.
  std::uint32_t nat_ping_interval_s = 0;
  // The keep-alive: a double CRLF (RFC 5626 §4.4.1), or an OPTIONS the phone answers
  // (Kamailio's sipping), which shows whether it is still there.
  enum class NatPing : std::uint8_t { Crlf, Options };
  NatPing nat_ping = NatPing::Crlf;
  // With OPTIONS: a contact that has answered none for this long is removed (Kamailio's
  // keepalive_timeout): a laptop gone to sleep no longer takes a fork's branch. 0: never.
  std::uint32_t nat_ping_timeout_s = 0;
};

struct User {
  std::string user;
  std::string password;
  std::uint32_t line = 0;  // the [[users]] header line, for messages
  // The number this user's calls present (P-Asserted-Identity of routes with
  // assert_identity): a DID in E.164, say. Empty: the user name.
  std::string caller_id;
  // At most this many calls the user places at once (authenticated on a route with auth),
  // over every worker; the next is answered 503. 0: no limit (dataplane/call_limits.hpp).
  std::uint32_t max_calls = 0;
};

// The longest caller_id: an E.164 number is at most 15 digits and its '+'.
inline constexpr std::size_t kMaxCallerIdSize = 32;

// [[call_limits]]: limits that several routes share (a carrier trunk's channels, counted over
// its inbound and outbound routes alike), named by their routes' `call_limit`.
struct CallLimitGroup {
  std::string name;
  std::uint32_t max_calls = 0;  // 0: none
  std::uint32_t max_cps = 0;    // 0: none
  std::uint16_t code = 503;
  std::uint32_t line = 0;  // the [[call_limits]] header line, for messages
};

// The [[routes]] rules are lb/'s types (lb/route_table.hpp); these names are config/'s.
using RouteAction = lb::RouteAction;
using ForwardTarget = lb::ForwardTarget;
using Route = lb::RouteRule;
using lb::route_action_name;

enum class LogLevel : std::uint8_t { Error, Warn, Info, Debug };

// [limits] emergency_numbers: how many, how long (the shed socket filter compares each).
inline constexpr std::size_t kMaxEmergencyNumbers = 16;
inline constexpr std::size_t kMaxEmergencyNumberLength = 15;  // E.164's longest number

struct LimitsConfig {
  // Per worker: the INVITE transactions its transaction table (DESIGN.md §4) tracks for the
  // pools with failover, and 1/8 of it (at least 64) requests of 4 KiB kept for resending.
  // Allocated only when some pool has failover; everything else is forwarded statelessly.
  std::uint32_t transaction_table_size = 16384;
  std::uint32_t ring_size = 4096;  // power of two (DPDK rings require it)
  // Per worker: the calls of routes and users with max_calls it keeps (a power of two).
  std::uint32_t call_table_size = 65536;
  // A limited call whose BYE never passed frees its place this long after its answer or its
  // last in-dialog request (Kamailio's dialog default_timeout).
  std::uint32_t dialog_timeout_s = 43200;
  // The Session-Expires sipline inserts into a limited call's INVITE that has none (RFC 4028
  // §8.1), so that a call whose BYE is lost gives its place back after one session interval
  // without a refresh instead of dialog_timeout. 0: none inserted (a session timer the phones
  // negotiate themselves is still read).
  std::uint32_t session_expires_s = 0;
  // Request-URI users (dialled numbers) of emergency calls: no call limit, calls-per-second
  // limit or overload shedding refuses their new requests (RFC 7339 §5.10.1); their calls
  // take their places all the same, so the trunk's count stays true.
  std::vector<std::string> emergency_numbers{"112", "911"};
  // The number an emergency service URN (urn:service:sos and its sub-services, RFC 5031) is
  // placed as: its Request-URI becomes sip:NUMBER@<first domain name> and the route table
  // routes it like that number dialled. One of emergency_numbers; empty: such a request is
  // answered 416 (RFC 3261 §21.4.17).
  std::string emergency_service_number = "112";
  // Sub-services of sos placed as another of emergency_numbers ("sos.police" -> "110",
  // [limits.emergency_services]); a sub-service not listed is placed as its nearest listed
  // parent, else as emergency_service_number (RFC 5031 §3). Service names lower case.
  std::vector<std::pair<std::string, std::string>> emergency_services;

  bool operator==(const LimitsConfig&) const = default;
};

// [overload]: admission control in the workers (dataplane/overload.hpp) and RFC 7339
// overload control feedback to clients that offer it.
struct OverloadConfig {
  bool enabled = true;
  std::uint32_t retry_after_s = 5;        // Retry-After of the 503 we shed with (§20.33)
  std::uint32_t busy_ms = 20;             // worker CPU time spent without draining its socket: shed
  std::uint32_t queue_high_percent = 60;  // socket backlog (of its buffer): shed silently
  std::uint32_t queue_low_percent = 20;   // ... and below this: admit again
  std::uint32_t register_backlog = 512;   // REGISTERs waiting for the control thread
  // While overloaded, 503s per window at most this % of the new requests admitted in it
  // (at least a few); the other shed requests are dropped silently. 0: never answer.
  std::uint32_t answer_percent = 25;
  // Socket mode: while overloaded, this % of datagrams starting "INVITE " or "REGISTER " are
  // dropped by a socket filter in the kernel before the worker reads them
  // (dataplane/shed_filter.hpp). 0: no filter.
  std::uint32_t shed_filter_percent = 75;
  bool oc = true;                      // RFC 7339 feedback in responses to oc clients
  std::uint32_t oc_validity_ms = 500;  // RFC 7339 §5.2 oc-validity

  bool operator==(const OverloadConfig&) const = default;
};

// [source_limits]: per-source request rate and failed-authentication blocking
// (dataplane/source_guard.hpp). 0 turns a limit off.
struct SourceLimitsConfig {
  std::uint32_t requests_per_second = 50;  // token bucket rate per source IP
  std::uint32_t burst = 200;               // ... and its depth
  std::uint32_t failed_auth_limit = 10;    // 403s (wrong password / unknown user) ...
  std::uint32_t failed_auth_window = 60;   // ... within this many seconds ...
  std::uint32_t failed_auth_block = 600;   // ... block the source this many seconds
  std::uint32_t table_size = 65536;        // sources tracked per table, a power of two
  std::vector<IpPrefix> trusted_sources;   // exempt (forward targets and pool members too)
  // Requests whose User-Agent contains one of these (case-sensitive) are dropped silently:
  // the SIP scanners' own names, the list of Kamailio's default configuration (REQINIT).
  std::vector<std::string> scanner_user_agents = {"friendly",   "scanner",         "sipcli",
                                                  "sipvicious", "VaxSIPUserAgent", "pplsip"};

  bool operator==(const SourceLimitsConfig&) const = default;
};

// At most this many scanner_user_agents, of 1 to kMaxScannerUserAgentLength octets each.
inline constexpr std::size_t kMaxScannerUserAgents = 32;
inline constexpr std::size_t kMaxScannerUserAgentLength = 64;

// [dns]: next hops named by host or domain are resolved at load (start, reload); every
// `refresh_interval_s` the control thread resolves them again and applies a change of their
// addresses as a reload would (0: only at load).
struct DnsConfig {
  std::uint32_t refresh_interval_s = 300;

  bool operator==(const DnsConfig&) const = default;
};

// [admin]: the control socket siplinectl talks to (dataplane/admin_socket.hpp) and the
// metrics endpoint.
struct AdminConfig {
  // A Unix datagram socket path; "" (the default): no admin socket. Created at start with
  // mode 0660, removed at exit.
  std::string socket;
  // The Prometheus endpoint's TCP address (dataplane/metrics_endpoint.hpp); none by default.
  std::optional<SocketAddress> metrics;

  bool operator==(const AdminConfig&) const = default;
};

// [accounting]: a JSON line per call event (answered, failed, ended) appended to `file`
// (dataplane/call_records.hpp); "" (the default): none. The file is opened again at every
// reload (logrotate's postrotate sends SIGHUP); turning accounting on or off takes a restart
// (the workers' rings are made at start).
struct AccountingConfig {
  std::string file;

  bool operator==(const AccountingConfig&) const = default;
};

// [capture]: every SIP datagram mirrored to a Homer server as HEP3 (dataplane/hep_capture.hpp),
// as Kamailio's siptrace does.
struct CaptureConfig {
  std::optional<lb::SocketAddress> hep;  // the collector; none: no capture
  std::uint32_t capture_id = 1;          // the capture agent's id (Homer's node id)
  std::string password;                  // HEP's authentication key; empty: none

  bool operator==(const CaptureConfig&) const = default;
};

// [[trunk_registrations]]: sipline registers with a carrier's registrar as a UA does (a
// registration-based SIP trunk, RFC 3261 §10.2), so that the carrier sends the trunk's calls
// to our Contact, and answers its digest challenges (dataplane/trunk_registrar.hpp).
struct TrunkRegistration {
  std::string name;
  // Request-URI of the REGISTER (the registrar's domain, no user part, §10.2) and where it is
  // sent, resolved as a forward target is.
  ForwardTarget registrar;
  // The carrier's outbound proxy (its SBC), when it names one apart from the registrar: the
  // REGISTER goes there instead and carries `Route: <URI;lr>` (RFC 3261 §8.1.2), `route`.
  std::optional<ForwardTarget> outbound_proxy;
  std::string route;      // "<sip:sbc.carrier.example;lr>", or "" without an outbound proxy
  std::string user;       // the address-of-record's user (To and From)
  std::string domain;     // ... and its domain: the registrar URI's host unless given
  std::string auth_user;  // digest username: `user` unless given
  std::string password;
  std::string contact_user;        // Contact: <sip:CONTACT_USER@our address>; `user` unless given
  std::uint32_t expires_s = 3600;  // asked for; the registrar's answer decides
  std::uint32_t retry_interval_s = 60;  // after a failure (refused, timed out)
  std::uint32_t line = 0;

  std::string aor() const { return "sip:" + user + "@" + domain; }
  // Where the REGISTER is sent: the outbound proxy, else the registrar.
  const ForwardTarget& first_hop() const { return outbound_proxy ? *outbound_proxy : registrar; }
  bool operator==(const TrunkRegistration&) const = default;
};

// [source_groups]: a named list of source addresses and prefixes (a carrier's SBCs, an
// office), named instead of an address in routes' `sources`, `trusted_sources` and
// `trust_domain`, which get its prefixes.
struct SourceGroup {
  std::string name;
  std::vector<IpPrefix> prefixes;

  bool operator==(const SourceGroup&) const = default;
};

struct Config {
  std::string source;  // the file (or source name) it was loaded from
  std::vector<SourceGroup> source_groups;
  ListenConfig listen;
  DataplaneConfig dataplane;
  DomainConfig domain;
  RegistrarConfig registrar;
  std::vector<User> users;
  std::vector<lb::PoolSpec> pools;          // [[pools]], in file order (routes name them by index)
  std::vector<CallLimitGroup> call_limits;  // [[call_limits]], in file order
  std::vector<Route> routes;                // first match wins (build an lb::RouteTable from them)
  std::vector<TrunkRegistration> trunk_registrations;
  LogLevel log_level = LogLevel::Info;
  LimitsConfig limits;
  SourceLimitsConfig source_limits;
  OverloadConfig overload;
  AdminConfig admin;
  DnsConfig dns;
  AccountingConfig accounting;
  CaptureConfig capture;
  // Some next hop was named by a host or domain (resolved while loading): what a DNS refresh
  // looks at again.
  bool resolves_names = false;
  // A hash of the text it was loaded from: a DNS refresh reads the file again and applies it
  // only when the text is the one running (an edit waits for the operator's reload).
  std::uint64_t text_hash = 0;

  // Any user still has the shipped demo password.
  bool uses_demo_password() const;
};

// A loaded snapshot, or every error found (each "FILE:LINE: what is wrong", sorted by line).
struct LoadResult {
  std::shared_ptr<const Config> config;  // null exactly when errors is not empty
  std::vector<std::string> errors;

  bool ok() const { return config != nullptr; }
};

// A host name of a forward target or pool member → its addresses (A and AAAA), none when it
// does not resolve. The loader takes the first of a family sipline listens on, IPv4 first.
using HostResolver = std::function<std::vector<IpAddress>(std::string_view name)>;
// The system's (getaddrinfo: /etc/hosts, then DNS), waited for kResolveTimeout at most.
inline constexpr std::chrono::milliseconds kResolveTimeout{2000};
std::vector<IpAddress> resolve_with_system(std::string_view name);

// One DNS SRV record (RFC 2782): where a service of a domain runs.
struct ServiceRecord {
  std::uint16_t priority = 0;  // lower first
  std::uint16_t weight = 0;    // share among records of one priority
  std::uint16_t port = 0;
  std::string target;  // a host name, without the final dot; "." : the service is not offered

  bool operator==(const ServiceRecord&) const = default;
};
// An SRV owner name ("_sip._udp.carrier.example") → its records, lowest priority first and,
// within one priority, heaviest first; none when there are none (or no answer in time).
using ServiceResolver = std::function<std::vector<ServiceRecord>(std::string_view service)>;
// The system's (res_nquery, as resolv.conf says), waited for kResolveTimeout at most. Names
// under "localhost" are never sent to DNS: no records.
std::vector<ServiceRecord> lookup_service_with_system(std::string_view service);
// "localhost" or a name under it, any case, with or without the final dot: resolved locally,
// never by DNS servers (RFC 6761 §6.3).
bool is_localhost_name(std::string_view name);
// The SRV records of a DNS answer (the whole message, as res_nquery returns it), in the order
// above; none when the message does not parse.
std::vector<ServiceRecord> parse_srv_answer(std::span<const unsigned char> message);

// Names are resolved while loading (at start, at each reload, by --check-config): a name that
// does not resolve is an error at its line, like any other. A next hop named by a domain
// without a port is first looked up as an SRV service (RFC 3263 §4.2; config/README.md,
// [[pools]]). Without resolvers: the system's, both.
LoadResult load_config_file(const std::string& path);
LoadResult load_config_text(std::string_view text, std::string_view source_name);
// With injected resolvers (tests): `services` empty means no SRV lookup at all.
LoadResult load_config_file(const std::string& path, const HostResolver& hosts,
                            const ServiceResolver& services = {});
LoadResult load_config_text(std::string_view text, std::string_view source_name,
                            const HostResolver& hosts, const ServiceResolver& services = {});

std::string_view io_mode_name(IoMode mode);       // "socket", "dpdk"
std::string_view log_level_name(LogLevel level);  // "info", ...

}  // namespace sipline::config

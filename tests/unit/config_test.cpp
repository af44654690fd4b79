#include "config/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sipline::config {
namespace {

using Errors = std::vector<std::string>;

// The one key without a default; appended at the END of test documents so the line numbers
// of everything before it are those of the test text.
constexpr std::string_view kDomain = "[domain]\nnames = [\"sipline.local\"]\n";

// Host names in test configurations resolve here, never through the system's resolver (no
// test sends a DNS query): two known names, nothing else.
std::vector<IpAddress> test_resolver(std::string_view name) {
  if (name == "proxy.example.com") return {*parse_ip_address("192.0.2.20")};
  if (name == "pbx.example.com") return {*parse_ip_address("2001:db8::20")};
  if (name == "both.example.com") {
    return {*parse_ip_address("2001:db8::30"), *parse_ip_address("192.0.2.30")};
  }
  return {};
}

// SRV records (RFC 2782) of test domains, likewise never asked of DNS; every query is noted.
std::vector<std::string>& service_queries() {
  static std::vector<std::string> queries;
  return queries;
}
std::vector<ServiceRecord> test_services(std::string_view service) {
  service_queries().emplace_back(service);
  if (service == "_sip._udp.carrier.example") {
    return {{10, 60, 5060, "sbc1.carrier.example"},
            {10, 20, 5070, "sbc2.carrier.example"},
            {20, 0, 5060, "standby.carrier.example"}};
  }
  if (service == "_sip._udp.closed.example") return {{0, 0, 0, "."}};
  if (service == "_sip._udp.broken.example") return {{0, 0, 5060, "nowhere.example.com"}};
  return {};
}

std::vector<IpAddress> test_hosts(std::string_view name) {
  if (name == "sbc1.carrier.example") return {*parse_ip_address("192.0.2.41")};
  if (name == "sbc2.carrier.example") return {*parse_ip_address("192.0.2.42")};
  if (name == "standby.carrier.example") return {*parse_ip_address("192.0.2.43")};
  return test_resolver(name);
}

std::shared_ptr<const Config> load_ok(const std::string& text) {
  LoadResult result = load_config_text(text, "test.toml", test_hosts, test_services);
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  EXPECT_EQ(result.errors, Errors{});
  return result.config;
}

Errors load_errors(const std::string& text) {
  LoadResult result = load_config_text(text, "test.toml", test_hosts, test_services);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.config, nullptr);
  return result.errors;
}

std::string with_domain(std::string_view text) {
  return std::string(text) + std::string(kDomain);
}

IpAddress ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress address;
  address.family = AddressFamily::Ipv4;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

IpAddress ipv6_loopback() {
  IpAddress address;
  address.family = AddressFamily::Ipv6;
  address.bytes[15] = 1;
  return address;
}

// ---- the shipped configuration ---------------------------------------------------------

// The production example in deploy/ stays loadable as the keys evolve.
TEST(ShippedConfig, DeployExampleLoadsWithADispatcher) {
  const LoadResult result =
      load_config_file(SIPLINE_CORPUS_DIR "/../../deploy/sipline-dpdk.example.toml");
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  EXPECT_EQ(result.config->dataplane.io, IoMode::Dpdk);
  EXPECT_EQ(result.config->dataplane.workers, 6u);
  EXPECT_EQ(result.config->dataplane.dispatchers, 1u);
  EXPECT_EQ(result.config->listen.dscp, 40);  // CS5, RFC 4594's signalling class
  // The carrier's inbound route takes requests from its SBCs only.
  ASSERT_FALSE(result.config->routes.empty());
  EXPECT_EQ(result.config->routes[0].name, "did-inbound");
  EXPECT_EQ(result.config->routes[0].sources.size(), 2u);
  // The trunk's 30 channels count its inbound and outbound routes together.
  ASSERT_EQ(result.config->call_limits.size(), 1u);
  EXPECT_EQ(result.config->call_limits[0].max_calls, 30u);
  for (const config::Route& route : result.config->routes) {
    const bool carries_trunk_calls = route.name == "did-inbound" || route.name == "pstn-outbound" ||
                                     route.name == "national-outbound";
    EXPECT_EQ(route.call_limit, carries_trunk_calls ? "carrier" : "") << route.name;
    EXPECT_EQ(route.max_calls, carries_trunk_calls ? 30u : 0u) << route.name;
  }
  // Its calls whose BYE was lost give their channel back after a 30-minute session interval.
  EXPECT_EQ(result.config->limits.session_expires_s, 1800u);
  // The extensions ring together, then go to the PBX's voicemail.
  ASSERT_GE(result.config->routes.size(), 2u);
  EXPECT_EQ(result.config->routes[1].name, "extensions");
  ASSERT_TRUE(result.config->routes[1].fork.fallback);
  EXPECT_EQ(result.config->routes[1].fork.fallback->target.uri, "sip:198.51.100.20:5060");
  EXPECT_EQ(result.config->routes[1].fork.ring_timeout_ms, 25000u);
  EXPECT_EQ(result.config->registrar.nat_ping_interval_s, 25u);
}

TEST(ShippedConfig, LoadsWithTheDocumentedValues) {
  const std::string path = SIPLINE_CORPUS_DIR "/../../config/sipline.toml";
  const LoadResult result = load_config_file(path);
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  const Config& config = *result.config;

  EXPECT_EQ(config.source, path);
  ASSERT_EQ(config.listen.udp.size(), 1u);
  EXPECT_EQ(config.listen.udp[0].address, ipv4(127, 0, 0, 1));
  EXPECT_EQ(config.listen.udp[0].port, 5060);
  EXPECT_EQ(config.listen.udp[0].to_string(), "127.0.0.1:5060");

  EXPECT_EQ(config.dataplane.io, IoMode::Socket);
  EXPECT_EQ(config.dataplane.workers, 2u);

  EXPECT_EQ(config.domain.names, (std::vector<std::string>{"sipline.local", "127.0.0.1"}));
  EXPECT_EQ(config.domain.realm(), "sipline.local");
  EXPECT_FALSE(config.domain.record_route);

  EXPECT_EQ(config.registrar.store.kind, StoreKind::Sqlite);
  EXPECT_EQ(config.registrar.store.location, "state/location.db");
  EXPECT_TRUE(config.registrar.auth);
  EXPECT_EQ(config.registrar.algorithms,
            (std::vector{sip::DigestAlgorithm::Sha256, sip::DigestAlgorithm::Md5}));
  EXPECT_EQ(config.registrar.min_expires, 60u);
  EXPECT_EQ(config.registrar.max_expires, 3600u);
  EXPECT_EQ(config.registrar.default_expires, 3600u);
  EXPECT_EQ(config.registrar.max_contacts, 10u);

  ASSERT_EQ(config.users.size(), 9u);
  for (std::size_t index = 0; index < config.users.size(); ++index) {
    EXPECT_EQ(config.users[index].user, "100" + std::to_string(index + 1));
    EXPECT_EQ(config.users[index].password, "1234567890");
  }
  EXPECT_TRUE(config.uses_demo_password());

  ASSERT_EQ(config.routes.size(), 2u);
  const Route& local = config.routes[0];
  EXPECT_EQ(local.name, "local-users");
  EXPECT_EQ(local.user_prefix, "10");
  EXPECT_TRUE(local.methods.empty());
  EXPECT_EQ(local.action, RouteAction::Location);
  EXPECT_TRUE(local.auth);
  EXPECT_FALSE(local.forward.has_value());
  EXPECT_EQ(local.fork.mode, lb::Forking::Mode::Parallel);  // a user's phones all ring
  const Route& fallback = config.routes[1];
  EXPECT_EQ(fallback.name, "not-found");
  EXPECT_EQ(fallback.user_prefix, "");
  EXPECT_EQ(fallback.action, RouteAction::Reject);
  EXPECT_EQ(fallback.reject_code, 404);
  EXPECT_FALSE(fallback.auth);

  EXPECT_TRUE(config.pools.empty());
  EXPECT_EQ(config.admin.socket, "state/sipline.sock");
  ASSERT_TRUE(config.admin.metrics.has_value());
  EXPECT_EQ(config.admin.metrics->to_string(), "127.0.0.1:9464");

  EXPECT_EQ(config.log_level, LogLevel::Info);
  EXPECT_EQ(config.limits.transaction_table_size, 16384u);
  EXPECT_EQ(config.limits.ring_size, 4096u);
}

// The commented-out pool example at the end of the shipped config, uncommented, loads.
TEST(ShippedConfig, CommentedPoolExampleLoads) {
  std::ifstream file(SIPLINE_CORPUS_DIR "/../../config/sipline.toml");
  std::stringstream contents;
  contents << file.rdbuf();
  std::string text = contents.str();
  const std::size_t example = text.find("# [[pools]]");
  ASSERT_NE(example, std::string::npos);
  std::istringstream lines(text.substr(example));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# ")) line.erase(0, 2);
    if (line == "#") line.clear();
    text += line + "\n";
  }
  const auto config = load_ok(text);
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->pools.size(), 1u);
  EXPECT_EQ(config->pools[0].name, "pbx");
  ASSERT_EQ(config->pools[0].members.size(), 2u);
  EXPECT_EQ(config->pools[0].members[1].weight, 2u);
  ASSERT_EQ(config->routes.size(), 3u);
  EXPECT_EQ(config->routes[2].pool, std::optional<std::uint16_t>(0));
  ASSERT_EQ(config->routes[2].sources.size(), 1u);
  EXPECT_EQ(config->routes[2].sources[0].to_string(), "10.0.0.0/24");
}

// ---- defaults --------------------------------------------------------------------------

TEST(Defaults, AppliedWhenKeysAreAbsent) {
  const auto config = load_ok(with_domain(""));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listen.udp, (std::vector{SocketAddress{ipv4(127, 0, 0, 1), 5060}}));
  EXPECT_EQ(config->listen.dscp, 0);
  EXPECT_EQ(config->dataplane.io, IoMode::Socket);
  EXPECT_EQ(config->dataplane.workers, 2u);
  EXPECT_EQ(config->dataplane.dispatchers, 0u);
  EXPECT_EQ(config->dns.refresh_interval_s, 300u);
  EXPECT_FALSE(config->resolves_names);  // no next hop at all
  EXPECT_NE(config->text_hash, 0u);
  EXPECT_TRUE(config->dataplane.dpdk.eal.empty());
  EXPECT_EQ(config->dataplane.dpdk.mtu, 1500);
  EXPECT_FALSE(config->dataplane.dpdk.gateway.has_value());
  EXPECT_FALSE(config->dataplane.dpdk.exception_port.has_value());
  EXPECT_FALSE(config->dataplane.dpdk.spread);
  EXPECT_FALSE(config->domain.record_route);
  EXPECT_EQ(config->registrar.store.kind, StoreKind::Memory);
  EXPECT_EQ(config->registrar.store.location, "");
  EXPECT_TRUE(config->registrar.auth);
  EXPECT_EQ(config->registrar.algorithms,
            (std::vector{sip::DigestAlgorithm::Sha256, sip::DigestAlgorithm::Md5}));
  EXPECT_EQ(config->registrar.min_expires, 60u);
  EXPECT_EQ(config->registrar.max_expires, 3600u);
  EXPECT_EQ(config->registrar.default_expires, 3600u);
  EXPECT_EQ(config->registrar.max_contacts, 10u);
  EXPECT_EQ(config->registrar.nat_ping_interval_s, 0u);  // no NAT keep-alives
  EXPECT_TRUE(config->users.empty());
  EXPECT_TRUE(config->pools.empty());
  EXPECT_TRUE(config->routes.empty());
  EXPECT_FALSE(config->uses_demo_password());
  EXPECT_EQ(config->log_level, LogLevel::Info);
  EXPECT_EQ(config->limits.transaction_table_size, 16384u);
  EXPECT_EQ(config->limits.ring_size, 4096u);
}

TEST(Defaults, RouteOptionalKeys) {
  const auto config = load_ok(with_domain("[[routes]]\nname = \"all\"\naction = \"location\"\n"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 1u);
  EXPECT_EQ(config->routes[0].user_prefix, "");
  EXPECT_TRUE(config->routes[0].methods.empty());
  EXPECT_FALSE(config->routes[0].auth);
  EXPECT_TRUE(config->routes[0].sources.empty());  // any source
  EXPECT_EQ(config->routes[0].line, 1u);
}

// ---- values parsed into types ----------------------------------------------------------

TEST(Values, RouteSourcesArePrefixesOrSingleAddresses) {
  const auto config = load_ok(with_domain(R"([[routes]]
name = "from-carrier"
sources = ["203.0.113.0/24", "198.51.100.7", "2001:db8:5::/48", "2001:db8::9"]
action = "location"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 1u);
  std::vector<std::string> sources;
  for (const lb::IpPrefix& prefix : config->routes[0].sources)
    sources.push_back(prefix.to_string());
  EXPECT_EQ(sources, (std::vector<std::string>{"203.0.113.0/24", "198.51.100.7/32",
                                               "2001:db8:5::/48", "2001:db8::9/128"}));
}

// [source_groups]: a list of sources written once and named wherever sources are listed.
TEST(Values, SourceGroupsStandForTheirPrefixes) {
  const auto config = load_ok(with_domain(R"([source_groups]
carrier = ["203.0.113.0/24", "2001:db8:5::/48"]
office_2 = ["10.1.0.0/16"]
[source_limits]
trusted_sources = ["office_2"]
[[routes]]
name = "from-carrier"
sources = ["carrier", "198.51.100.7"]
action = "location"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->source_groups.size(), 2u);
  EXPECT_EQ(config->source_groups[0].name, "carrier");
  const auto texts = [](const std::vector<lb::IpPrefix>& prefixes) {
    std::vector<std::string> written;
    for (const lb::IpPrefix& prefix : prefixes)
      written.push_back(prefix.to_string());
    return written;
  };
  EXPECT_EQ(texts(config->routes[0].sources),
            (std::vector<std::string>{"203.0.113.0/24", "2001:db8:5::/48", "198.51.100.7/32"}));
  EXPECT_EQ(texts(config->source_limits.trusted_sources),
            (std::vector<std::string>{"10.1.0.0/16"}));
}

TEST(Values, ForkingOnALocationRoute) {
  const auto config = load_ok(with_domain(R"([[routes]]
name = "hunt"
action = "location"
fork = "serial"
ring_timeout_ms = 20000
[[routes]]
name = "quick"
action = "location"
fork = "serial"
fork_timeout_ms = 800
[[routes]]
name = "plain"
action = "location"
fork = "none"
[[routes]]
name = "ring-all"
action = "location"
fork = "parallel"
[[routes]]
name = "desk-then-mobile"
action = "location"
fork = "q-groups"
ring_timeout_ms = 15000
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 5u);
  using Mode = lb::Forking::Mode;
  EXPECT_EQ(config->routes[0].fork, (lb::Forking{Mode::Serial, 2000, 20000, std::nullopt}));
  EXPECT_EQ(config->routes[1].fork, (lb::Forking{Mode::Serial, 800, 0, std::nullopt}));
  EXPECT_FALSE(config->routes[2].fork.enabled());
  EXPECT_EQ(config->routes[3].fork, (lb::Forking{Mode::Parallel, 2000, 0, std::nullopt}));
  EXPECT_EQ(config->routes[4].fork, (lb::Forking{Mode::QGroups, 2000, 15000, std::nullopt}));
}

TEST(Values, FallbackOfALocationRoute) {
  const auto config = load_ok(with_domain(R"([[routes]]
name = "voicemail"
action = "location"
fork = "parallel"
ring_timeout_ms = 25000
fallback = "sip:127.0.0.1:5090"
[[routes]]
name = "operator"
action = "location"
fork = "serial"
fallback = "sips:operator@[::1];transport=tcp"
fallback_codes = [486, 503]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 2u);
  ASSERT_TRUE(config->routes[0].fork.fallback);
  const lb::Forking::Fallback& voicemail = *config->routes[0].fork.fallback;
  EXPECT_EQ(voicemail.target.next_hop.to_string(), "127.0.0.1:5090");
  EXPECT_EQ(voicemail.codes, (std::vector<std::uint16_t>{408, 480, 486}));
  // The called user goes between them: sip:1002@127.0.0.1:5090.
  EXPECT_FALSE(voicemail.names_user);
  EXPECT_EQ(voicemail.uri_head, "sip:");
  EXPECT_EQ(voicemail.uri_tail, "@127.0.0.1:5090");
  ASSERT_TRUE(config->routes[1].fork.fallback);
  const lb::Forking::Fallback& operator_desk = *config->routes[1].fork.fallback;
  EXPECT_EQ(operator_desk.target.next_hop.to_string(), "[::1]:5061");
  EXPECT_EQ(operator_desk.codes, (std::vector<std::uint16_t>{486, 503}));
  EXPECT_TRUE(operator_desk.names_user);
  EXPECT_EQ(operator_desk.uri_head, "sips:operator@[::1];transport=tcp");
  EXPECT_EQ(operator_desk.uri_tail, "");
}

TEST(Values, RouteNumberTranslation) {
  const auto config = load_ok(with_domain(R"([[routes]]
name = "did"
user_prefix = "+4420712345"
strip = 11
prepend = "5"
action = "location"
[[routes]]
name = "national"
user_prefix = "0"
strip = 1
prepend = "+44"
action = "forward"
target = "sip:127.0.0.1:5070"
[[routes]]
name = "plain"
action = "redirect"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 3u);
  EXPECT_EQ(config->routes[0].strip, 11);
  EXPECT_EQ(config->routes[0].prepend, "5");
  EXPECT_TRUE(config->routes[0].translates_user());
  EXPECT_EQ(config->routes[1].strip, 1);
  EXPECT_EQ(config->routes[1].prepend, "+44");
  EXPECT_EQ(config->routes[2].strip, 0);
  EXPECT_EQ(config->routes[2].prepend, "");
  EXPECT_FALSE(config->routes[2].translates_user());
}

TEST(Values, TrunkRegistrations) {
  const auto config = load_ok(with_domain(R"([[trunk_registrations]]
name = "carrier"
registrar = "sip:192.0.2.50"
user = "+15551230000"
password = "s3cret"
[[trunk_registrations]]
name = "backup"
registrar = "sip:192.0.2.51:5080"
user = "+15551230001"
domain = "carrier.example"
auth_user = "acct-77"
contact_user = "trunk2"
password = "other"
expires = 300
retry_interval = 20
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->trunk_registrations.size(), 2u);
  const config::TrunkRegistration& first = config->trunk_registrations[0];
  EXPECT_EQ(first.registrar.uri, "sip:192.0.2.50");
  EXPECT_EQ(first.registrar.next_hop.to_string(), "192.0.2.50:5060");
  EXPECT_EQ(first.aor(), "sip:+15551230000@192.0.2.50");
  EXPECT_EQ(first.auth_user, "+15551230000");
  EXPECT_EQ(first.contact_user, "+15551230000");
  EXPECT_EQ(first.expires_s, 3600u);
  EXPECT_EQ(first.retry_interval_s, 60u);
  const config::TrunkRegistration& second = config->trunk_registrations[1];
  EXPECT_EQ(second.aor(), "sip:+15551230001@carrier.example");
  EXPECT_EQ(second.auth_user, "acct-77");
  EXPECT_EQ(second.contact_user, "trunk2");
  EXPECT_EQ(second.expires_s, 300u);
  EXPECT_EQ(second.retry_interval_s, 20u);
}

// An outbound proxy (the carrier's SBC in front of its registrar): where the REGISTER goes,
// and the Route it carries, with lr added when the URI lacks it (RFC 3261 §8.1.2).
TEST(Values, TrunkRegistrationThroughAnOutboundProxy) {
  const auto config = load_ok(with_domain(R"([[trunk_registrations]]
name = "carrier"
registrar = "sip:192.0.2.50"
outbound_proxy = "sip:198.51.100.9:5070"
user = "+15551230000"
password = "s3cret"
[[trunk_registrations]]
name = "lr"
registrar = "sip:192.0.2.50"
outbound_proxy = "sip:198.51.100.10;lr"
user = "+15551230001"
password = "s3cret"
[[trunk_registrations]]
name = "direct"
registrar = "sip:192.0.2.51"
user = "+15551230002"
password = "s3cret"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->trunk_registrations.size(), 3u);
  const config::TrunkRegistration& proxied = config->trunk_registrations[0];
  ASSERT_TRUE(proxied.outbound_proxy.has_value());
  EXPECT_EQ(proxied.outbound_proxy->next_hop.to_string(), "198.51.100.9:5070");
  EXPECT_EQ(proxied.first_hop().next_hop.to_string(), "198.51.100.9:5070");
  EXPECT_EQ(proxied.registrar.next_hop.to_string(), "192.0.2.50:5060");
  EXPECT_EQ(proxied.aor(), "sip:+15551230000@192.0.2.50");
  EXPECT_EQ(proxied.route, "<sip:198.51.100.9:5070;lr>");
  EXPECT_EQ(config->trunk_registrations[1].route, "<sip:198.51.100.10;lr>");
  EXPECT_EQ(config->trunk_registrations[1].first_hop().next_hop.to_string(), "198.51.100.10:5060");
  const config::TrunkRegistration& direct = config->trunk_registrations[2];
  EXPECT_FALSE(direct.outbound_proxy.has_value());
  EXPECT_EQ(direct.route, "");
  EXPECT_EQ(direct.first_hop().next_hop.to_string(), "192.0.2.51:5060");
}

TEST(Values, DnsRefreshAndWhetherNamesWereResolved) {
  const config::HostResolver hosts = [](std::string_view) {
    return std::vector<IpAddress>{ipv4(192, 0, 2, 7)};
  };
  const std::string by_name = with_domain(
      "[dns]\nrefresh_interval = 0\n[[routes]]\nname = \"out\"\naction = \"forward\"\n"
      "target = \"sip:sbc.example:5060\"\n");
  const LoadResult named = load_config_text(by_name, "test.toml", hosts);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named.config->dns.refresh_interval_s, 0u);
  EXPECT_TRUE(named.config->resolves_names);
  const LoadResult literal =
      load_config_text(with_domain("[[routes]]\nname = \"out\"\naction = \"forward\"\n"
                                   "target = \"sip:192.0.2.7:5060\"\n"),
                       "test.toml", hosts);
  ASSERT_TRUE(literal.ok());
  EXPECT_FALSE(literal.config->resolves_names);
  // The hash tells one text from another (a DNS refresh applies only an unchanged file).
  EXPECT_EQ(load_config_text(by_name, "test.toml", hosts).config->text_hash,
            named.config->text_hash);
  EXPECT_NE(literal.config->text_hash, named.config->text_hash);
}

TEST(Values, ListenAddressesIncludingIpv6) {
  const auto config =
      load_ok(with_domain("[listen]\nudp = [\"[::1]:5070\", \"192.0.2.10:5080\"]\n"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->listen.udp.size(), 2u);
  EXPECT_EQ(config->listen.udp[0].address, ipv6_loopback());
  EXPECT_EQ(config->listen.udp[0].port, 5070);
  EXPECT_EQ(config->listen.udp[0].to_string(), "[::1]:5070");
  EXPECT_EQ(config->listen.udp[1].address, ipv4(192, 0, 2, 10));
  EXPECT_EQ(config->listen.udp[1].port, 5080);
}

TEST(Values, RouteActionsWithTheirArguments) {
  const auto config = load_ok(with_domain(R"([[routes]]
name = "trunk"
user_prefix = "00"
methods = ["INVITE", "MESSAGE"]
action = "forward"
target = "sip:127.0.0.1:5070"
[[routes]]
name = "secure"
action = "forward"
target = "sips:[2001:db8::5]"
[[routes]]
name = "moved"
action = "redirect"
target = "sip:alice@example.com"
[[routes]]
name = "contacts"
action = "redirect"
[[routes]]
name = "busy"
action = "reject"
code = 486
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 5u);
  const Route& trunk = config->routes[0];
  EXPECT_EQ(trunk.user_prefix, "00");
  EXPECT_EQ(trunk.methods, (std::vector<std::string>{"INVITE", "MESSAGE"}));
  EXPECT_EQ(trunk.action, RouteAction::Forward);
  ASSERT_TRUE(trunk.forward.has_value());
  EXPECT_EQ(trunk.forward->uri, "sip:127.0.0.1:5070");
  EXPECT_EQ(trunk.forward->scheme, sip::UriScheme::Sip);
  EXPECT_EQ(trunk.forward->next_hop, (SocketAddress{ipv4(127, 0, 0, 1), 5070}));

  const Route& secure = config->routes[1];
  ASSERT_TRUE(secure.forward.has_value());
  EXPECT_EQ(secure.forward->scheme, sip::UriScheme::Sips);
  EXPECT_EQ(secure.forward->next_hop.to_string(), "[2001:db8::5]:5061");  // RFC 3261 §19.1 default

  EXPECT_EQ(config->routes[2].action, RouteAction::Redirect);
  EXPECT_EQ(config->routes[2].redirect_contact, "sip:alice@example.com");
  EXPECT_EQ(config->routes[3].redirect_contact, "");
  EXPECT_EQ(config->routes[4].action, RouteAction::Reject);
  EXPECT_EQ(config->routes[4].reject_code, 486);
  EXPECT_EQ(config->routes[4].line, 18u);
}

TEST(Values, PoolsAndTheRoutesToThem) {
  const auto config = load_ok(with_domain(R"([[pools]]
name = "pbx"
members = [
  "sip:10.0.0.11:5060",
  { uri = "sip:10.0.0.12", weight = 2 },
  { uri = "sips:10.0.0.13", weight = 1000, drain = false },
  { uri = "sip:[2001:db8::5]", drain = true, priority = 255 },
]
[[pools]]
name = "sbc"
members = ["sips:192.0.2.1:5071"]
probe_interval = 0
down_after = 100
up_after = 1
[[routes]]
name = "to-sbc"
user_prefix = "00"
action = "forward"
pool = "sbc"
[[routes]]
name = "to-pbx"
action = "forward"
pool = "pbx"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->pools.size(), 2u);
  const lb::PoolSpec& pbx = config->pools[0];
  EXPECT_EQ(pbx.name, "pbx");
  EXPECT_EQ(pbx.line, 1u);
  ASSERT_EQ(pbx.members.size(), 4u);
  EXPECT_EQ(pbx.members[0], (lb::PoolMember{"sip:10.0.0.11:5060", sip::UriScheme::Sip,
                                            SocketAddress{ipv4(10, 0, 0, 11), 5060}, 1}));
  EXPECT_EQ(pbx.members[1], (lb::PoolMember{"sip:10.0.0.12", sip::UriScheme::Sip,
                                            SocketAddress{ipv4(10, 0, 0, 12), 5060}, 2}));
  EXPECT_EQ(pbx.members[2], (lb::PoolMember{"sips:10.0.0.13", sip::UriScheme::Sips,
                                            SocketAddress{ipv4(10, 0, 0, 13), 5061}, 1000}));
  EXPECT_EQ(pbx.members[3].uri, "sip:[2001:db8::5]");
  EXPECT_EQ(pbx.members[3].address.to_string(), "[2001:db8::5]:5060");
  EXPECT_EQ(pbx.members[3].weight, 1u);
  EXPECT_TRUE(pbx.members[3].drain);
  EXPECT_EQ(pbx.members[3].priority, 255);
  EXPECT_EQ(pbx.members[2].priority, 0);
  EXPECT_FALSE(pbx.members[0].drain);
  EXPECT_EQ(pbx.probe, (lb::ProbeSettings{10, 3, 2}));  // the defaults

  const lb::PoolSpec& sbc = config->pools[1];
  EXPECT_EQ(sbc.name, "sbc");
  EXPECT_EQ(sbc.line, 9u);
  ASSERT_EQ(sbc.members.size(), 1u);
  EXPECT_EQ(sbc.members[0].address, (SocketAddress{ipv4(192, 0, 2, 1), 5071}));
  EXPECT_EQ(sbc.probe, (lb::ProbeSettings{0, 100, 1}));

  ASSERT_EQ(config->routes.size(), 2u);
  EXPECT_EQ(config->routes[0].action, RouteAction::Forward);
  EXPECT_EQ(config->routes[0].pool, std::optional<std::uint16_t>(1));
  EXPECT_FALSE(config->routes[0].forward.has_value());
  EXPECT_EQ(config->routes[1].pool, std::optional<std::uint16_t>(0));
  EXPECT_FALSE(config->routes[1].forward.has_value());
}

TEST(Values, MembersAsArrayOfTables) {
  const auto config = load_ok(with_domain(R"([[pools]]
name = "pbx"
[[pools.members]]
uri = "sip:10.0.0.11"
weight = 3
[[pools.members]]
uri = "sip:10.0.0.12"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->pools.size(), 1u);
  ASSERT_EQ(config->pools[0].members.size(), 2u);
  EXPECT_EQ(config->pools[0].members[0].weight, 3u);
  EXPECT_EQ(config->pools[0].members[1].weight, 1u);
}

TEST(Values, ForwardTargetRoutesHaveNoPool) {
  const auto config = load_ok(
      with_domain("[[routes]]\nname = \"t\"\naction = \"forward\"\ntarget = \"sip:10.0.0.1\"\n"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 1u);
  EXPECT_TRUE(config->routes[0].forward.has_value());
  EXPECT_FALSE(config->routes[0].pool.has_value());
}

TEST(Values, RouteMayNameAPoolDefinedFurtherDown) {
  // The loader reads every [[pools]] before the routes, wherever they are in the file.
  const auto config = load_ok(with_domain(R"([[routes]]
name = "to-pbx"
action = "forward"
pool = "pbx"
[[pools]]
name = "pbx"
members = ["sip:10.0.0.11"]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->routes[0].pool, std::optional<std::uint16_t>(0));
}

TEST(Values, DpdkMode) {
  const auto config = load_ok(with_domain(R"([listen]
udp = ["10.99.0.1:5060"]
[dataplane]
io = "dpdk"
workers = 4
dispatchers = 1
eal = ["-l", "0-4", "--in-memory"]
port = 1
address = "10.99.0.1/24"
address6 = "2001:db8::1/64"
gateway = "10.99.0.254"
gateway6 = "fe80::1"
mtu = 9000
static_neighbors = ["10.99.0.254 02:00:00:00:00:FE", "2001:db8::fe 02:00:00:00:01:fe",
                    "fe80::1 02:00:00:00:02:fe"]
exception_port = 0
spread = true
)"));
  ASSERT_NE(config, nullptr);
  const DataplaneConfig& dataplane = config->dataplane;
  ASSERT_EQ(dataplane.dpdk.static_neighbors.size(), 3u);
  EXPECT_EQ(dataplane.dpdk.static_neighbors[2].address.to_string(), "fe80::1");
  EXPECT_EQ(dataplane.dpdk.static_neighbors[0],
            (StaticNeighbor{ipv4(10, 99, 0, 254), {0x02, 0, 0, 0, 0, 0xfe}}));
  EXPECT_EQ(dataplane.dpdk.static_neighbors[1].address.to_string(), "2001:db8::fe");
  EXPECT_EQ(dataplane.dpdk.static_neighbors[1].mac,
            (std::array<std::uint8_t, 6>{0x02, 0, 0, 0, 0x01, 0xfe}));
  EXPECT_EQ(dataplane.io, IoMode::Dpdk);
  EXPECT_EQ(dataplane.workers, 4u);
  EXPECT_EQ(dataplane.dispatchers, 1u);
  EXPECT_EQ(dataplane.dpdk.eal, (std::vector<std::string>{"-l", "0-4", "--in-memory"}));
  EXPECT_EQ(dataplane.dpdk.port, 1);
  EXPECT_EQ(dataplane.dpdk.address, (IpPrefix{ipv4(10, 99, 0, 1), 24}));
  ASSERT_TRUE(dataplane.dpdk.address6.has_value());
  EXPECT_EQ(dataplane.dpdk.address6->to_string(), "2001:db8::1/64");
  EXPECT_EQ(dataplane.dpdk.gateway, ipv4(10, 99, 0, 254));
  ASSERT_TRUE(dataplane.dpdk.gateway6.has_value());
  EXPECT_EQ(dataplane.dpdk.gateway6->to_string(), "fe80::1");
  EXPECT_EQ(dataplane.dpdk.mtu, 9000);
  EXPECT_EQ(dataplane.dpdk.exception_port, std::optional<std::uint16_t>(0));
  EXPECT_TRUE(dataplane.dpdk.spread);
}

TEST(Values, StoresAlgorithmsLogLevel) {
  const auto config = load_ok(with_domain(R"([registrar]
store = "redis://127.0.0.1:6379"
algorithms = ["SHA-512-256", "MD5"]
[log]
level = "debug"
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->registrar.store.kind, StoreKind::Redis);
  EXPECT_EQ(config->registrar.store.location, "redis://127.0.0.1:6379");
  EXPECT_EQ(config->registrar.store.redis, (RedisEndpoint{"127.0.0.1", 6379, "", "", 0}));
  EXPECT_EQ(config->registrar.algorithms,
            (std::vector{sip::DigestAlgorithm::Sha512_256, sip::DigestAlgorithm::Md5}));
  EXPECT_EQ(config->log_level, LogLevel::Debug);
}

// ---- the demo password -----------------------------------------------------------------

TEST(DemoPassword, RefusedOnANonLoopbackListenAddress) {
  EXPECT_EQ(load_errors(with_domain(R"([listen]
udp = ["127.0.0.1:5060", "0.0.0.0:5060"]
[[users]]
user = "1001"
password = "secret-1001"
[[users]]
user = "1002"
password = "1234567890"
)")),
            Errors{"test.toml:6: user \"1002\" has the demo password \"1234567890\", refused "
                   "while listening on 0.0.0.0:5060 (not loopback)"});
}

TEST(DemoPassword, AcceptedOnLoopbackOnly) {
  const auto config = load_ok(with_domain(R"([listen]
udp = ["127.0.0.2:5060", "[::1]:5060"]
[[users]]
user = "1001"
password = "1234567890"
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->uses_demo_password());
}

TEST(DemoPassword, RealPasswordsOnAPublicAddress) {
  const auto config = load_ok(with_domain(R"([listen]
udp = ["0.0.0.0:5060"]
[[users]]
user = "1001"
password = "a-real-secret"
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->uses_demo_password());
}

// ---- validation: one failing case per rule ---------------------------------------------

TEST(Errors, MissingFile) {
  const LoadResult result = load_config_file("/nonexistent/sipline.toml");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.errors,
            Errors{"/nonexistent/sipline.toml: cannot open: No such file or directory"});
}

TEST(Errors, TomlSyntaxErrorCarriesItsLine) {
  const Errors errors = load_errors("[listen]\nudp = [\"127.0.0.1:5060\",,]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "test.toml:2: Error while parsing array: expected value or closing ']', saw comma");
}

TEST(Errors, UnknownKeys) {
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nwrokers = 2\n[listn]\nudp = []\n")),
            (Errors{"test.toml:2: unknown key \"dataplane.wrokers\"",
                    "test.toml:3: unknown key \"listn\""}));
  EXPECT_EQ(load_errors(with_domain("[[routes]]\nname = \"a\"\naction = \"location\"\n"
                                    "auht = true\n")),
            Errors{"test.toml:4: unknown key \"routes[0].auht\""});
}

TEST(Errors, MissingDomain) {
  EXPECT_EQ(load_errors(""), Errors{"test.toml: missing required key \"domain.names\""});
  EXPECT_EQ(load_errors("[domain]\nnames = []\n"),
            Errors{"test.toml:2: domain.names must list at least one domain"});
  EXPECT_EQ(load_errors("[domain]\nnames = [\"bad host\"]\n"),
            Errors{"test.toml:2: domain.names[0] \"bad host\" must be a host name, an IPv4 "
                   "address or a bracketed IPv6 address"});
}

TEST(Values, TrustDomainListsAddressesAndPrefixes) {
  const auto config = load_ok(
      "[domain]\nnames = [\"sipline.local\"]\ntrust_domain = [\"192.0.2.7\", "
      "\"2001:db8:5::/48\"]\n");
  ASSERT_EQ(config->domain.trust_domain.size(), 2u);
  EXPECT_EQ(config->domain.trust_domain[0].to_string(), "192.0.2.7/32");
  EXPECT_EQ(config->domain.trust_domain[1].to_string(), "2001:db8:5::/48");
  EXPECT_TRUE(load_ok(std::string(kDomain))->domain.trust_domain.empty());
  EXPECT_EQ(load_errors("[domain]\nnames = [\"sipline.local\"]\n\ntrust_domain = [\"pbx.lan\"]\n"),
            Errors{"test.toml:4: domain.trust_domain[0] \"pbx.lan\" must be an IP address or "
                   "ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\", or a "
                   "[source_groups] name"});
}

TEST(Values, RouteSecretNeedsRecordRouteAndLength) {
  const std::string secret(32, 'a');
  const auto config = load_ok(
      "[domain]\nnames = [\"sipline.local\"]\nrecord_route = true\n"
      "route_secret = \"" +
      secret + "\"\n");
  EXPECT_EQ(config->domain.route_secret, secret);
  EXPECT_TRUE(load_ok(std::string(kDomain))->domain.route_secret.empty());
  EXPECT_EQ(load_errors("[domain]\nnames = [\"sipline.local\"]\nrecord_route = true\n"
                        "route_secret = \"" +
                        secret.substr(1) + "\"\n"),
            Errors{"test.toml:4: domain.route_secret must be at least 32 characters (e.g. "
                   "openssl rand -hex 16)"});
  EXPECT_EQ(
      load_errors("[domain]\nnames = [\"sipline.local\"]\nroute_secret = \"" + secret + "\"\n"),
      Errors{"test.toml:3: domain.route_secret needs record_route = true (the token "
             "travels in the Record-Route URI)"});
}

TEST(Values, ScannerUserAgents) {
  EXPECT_EQ(load_ok(std::string(kDomain))->source_limits.scanner_user_agents,
            (std::vector<std::string>{"friendly", "scanner", "sipcli", "sipvicious",
                                      "VaxSIPUserAgent", "pplsip"}));
  EXPECT_TRUE(load_ok(with_domain("[source_limits]\nscanner_user_agents = []\n"))
                  ->source_limits.scanner_user_agents.empty());
  EXPECT_EQ(load_ok(with_domain("[source_limits]\nscanner_user_agents = [\"sundayddr\"]\n"))
                ->source_limits.scanner_user_agents,
            std::vector<std::string>{"sundayddr"});
  EXPECT_EQ(load_errors(with_domain("[source_limits]\nscanner_user_agents = [\"\", \"a b\"]\n")),
            (Errors{"test.toml:2: source_limits.scanner_user_agents[0] \"\" must be 1 to 64 "
                    "printable characters without spaces",
                    "test.toml:2: source_limits.scanner_user_agents[1] \"a b\" must be 1 to 64 "
                    "printable characters without spaces"}));
}

TEST(Errors, WrongTypes) {
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nworkers = \"2\"\n")),
            Errors{"test.toml:2: dataplane.workers must be an integer, not a string"});
  EXPECT_EQ(load_errors(with_domain("[domain.x]\n[registrar]\nauth = 1\n")),
            (Errors{"test.toml:1: unknown key \"domain.x\"",
                    "test.toml:3: registrar.auth must be a boolean, not an integer"}));
  EXPECT_EQ(load_errors(with_domain("[listen]\nudp = \"127.0.0.1:5060\"\n")),
            Errors{"test.toml:2: listen.udp must be an array of strings, not a string"});
  EXPECT_EQ(load_errors(with_domain("[listen]\nudp = [5060]\n")),
            Errors{"test.toml:2: listen.udp[0] must be a string, not an integer"});
  EXPECT_EQ(load_errors(with_domain("[users]\nuser = \"1001\"\n")),
            Errors{"test.toml:1: users must be an array of tables ([[users]]), not a table"});
  EXPECT_EQ(load_errors(with_domain("limits = 5\n")),
            Errors{"test.toml:1: limits must be a table, not an integer"});
}

TEST(Errors, BadListenAddresses) {
  const auto listen_error = [](std::string_view address) {
    const Errors errors =
        load_errors(with_domain("[listen]\nudp = [\"" + std::string(address) + "\"]\n"));
    return errors.size() == 1 ? errors[0] : "";
  };
  EXPECT_EQ(listen_error("127.0.0.1:0"),
            "test.toml:2: listen.udp[0] \"127.0.0.1:0\": port must be 1..65535");
  EXPECT_EQ(listen_error("127.0.0.1:65536"),
            "test.toml:2: listen.udp[0] \"127.0.0.1:65536\": port must be 1..65535");
  EXPECT_EQ(listen_error("127.0.0.1:50x"),
            "test.toml:2: listen.udp[0] \"127.0.0.1:50x\": port must be 1..65535");
  EXPECT_EQ(listen_error("127.0.0.1"),
            "test.toml:2: listen.udp[0] \"127.0.0.1\": port is missing (write HOST:PORT)");
  EXPECT_EQ(listen_error("localhost:5060"),
            "test.toml:2: listen.udp[0] \"localhost:5060\": host must be an IPv4 literal or a "
            "bracketed IPv6 literal like [::1]");
  EXPECT_EQ(listen_error("::1:5060"),
            "test.toml:2: listen.udp[0] \"::1:5060\": host must be an IPv4 literal or a "
            "bracketed IPv6 literal like [::1]");
  EXPECT_EQ(load_errors(with_domain("[listen]\nudp = []\n")),
            Errors{"test.toml:2: listen.udp must list at least one address"});
  EXPECT_EQ(load_errors(with_domain("[listen]\nudp = [\"127.0.0.1:5060\",\n"
                                    "  \"127.0.0.1:5060\"]\n")),
            Errors{"test.toml:3: listen.udp[1] \"127.0.0.1:5060\" is listed twice"});
}

TEST(Errors, BadDataplane) {
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nworkers = 0\n")),
            Errors{"test.toml:2: dataplane.workers must be 1..64, not 0"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nworkers = 65\n")),
            Errors{"test.toml:2: dataplane.workers must be 1..64, not 65"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nio = \"netmap\"\n")),
            Errors{"test.toml:2: dataplane.io must be \"socket\" or \"dpdk\", not \"netmap\""});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nworkers = 2\ndispatchers = 2\n")),
            Errors{"test.toml:3: dataplane.dispatchers = 2 leaves no worker to own calls: it "
                   "must be less than dataplane.workers = 2"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\ndispatchers = -1\n")),
            Errors{"test.toml:2: dataplane.dispatchers must be 0..63, not -1"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nworkers = 2\nspread = \"yes\"\n")),
            Errors{"test.toml:3: dataplane.spread must be a boolean, not a string"});
}

// [listen] dscp: the DSCP of what sipline sends (RFC 2474), six bits.
TEST(Values, ListenDscp) {
  const auto config = load_ok(with_domain("[listen]\nudp = [\"127.0.0.1:5060\"]\ndscp = 26\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listen.dscp, 26);
  EXPECT_EQ(load_errors(with_domain("[listen]\ndscp = 64\n")),
            Errors{"test.toml:2: listen.dscp must be 0..63, not 64"});
}

TEST(Errors, DpdkKeys) {
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nio = \"dpdk\"\n")),
            (Errors{"test.toml:1: missing required key \"dataplane.eal\"",
                    "test.toml:1: missing required key \"dataplane.port\"",
                    "test.toml:1: missing required key \"dataplane.address\""}));
  // In socket mode the DPDK keys are optional but still checked.
  EXPECT_EQ(load_errors(with_domain(R"([dataplane]
mtu = 500
address = "10.99.0.1"
address6 = "10.99.0.1/24"
gateway = "10.98.0.254"
)")),
            (Errors{"test.toml:2: dataplane.mtu must be 576..9000, not 500",
                    "test.toml:3: dataplane.address \"10.99.0.1\" must be an IPv4 ADDRESS/PREFIX "
                    "like 10.99.0.1/24",
                    "test.toml:4: dataplane.address6 \"10.99.0.1/24\" must be an IPv6 "
                    "ADDRESS/PREFIX like 2001:db8::1/64"}));
  EXPECT_EQ(load_errors(with_domain("[dataplane]\naddress = \"10.99.0.1/24\"\n"
                                    "gateway = \"10.98.0.254\"\n")),
            Errors{"test.toml:3: dataplane.gateway \"10.98.0.254\" is outside "
                   "dataplane.address 10.99.0.1/24"});
  // gateway6: an IPv6 address on the link (inside address6's prefix, or link-local).
  const auto in_prefix = load_ok(
      with_domain("[dataplane]\naddress6 = \"2001:db8::1/64\"\ngateway6 = \"2001:db8::fe\"\n"));
  ASSERT_NE(in_prefix, nullptr);
  EXPECT_EQ(in_prefix->dataplane.dpdk.gateway6->to_string(), "2001:db8::fe");
  EXPECT_EQ(load_errors(with_domain("[dataplane]\naddress6 = \"2001:db8::1/64\"\n"
                                    "gateway6 = \"2001:db9::fe\"\n")),
            Errors{"test.toml:3: dataplane.gateway6 \"2001:db9::fe\" is outside "
                   "dataplane.address6 2001:db8::1/64 and is not a link-local address"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\naddress6 = \"2001:db8::1/64\"\n"
                                    "gateway6 = \"10.99.0.254\"\n")),
            Errors{"test.toml:3: dataplane.gateway6 \"10.99.0.254\" must be an IPv6 address"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\ngateway6 = \"fe80::1\"\n")),
            Errors{"test.toml:2: dataplane.gateway6 \"fe80::1\" needs dataplane.address6"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\naddress = \"10.99.0.1/24\"\n"
                                    "gateway = \"fe80::1\"\n")),
            Errors{"test.toml:3: dataplane.gateway \"fe80::1\" must be an IPv4 address"});
  EXPECT_EQ(load_errors(with_domain("[dataplane]\nport = 2\nexception_port = 2\n")),
            Errors{"test.toml:3: dataplane.exception_port 2 is dataplane.port: the kernel's TAP "
                   "must be a port of its own (--vdev=net_tap0,iface=NAME in dataplane.eal)"});
}

TEST(Errors, StaticNeighbors) {
  EXPECT_EQ(load_errors(with_domain(R"([dataplane]
address = "10.99.0.1/24"
static_neighbors = [
  "10.99.0.2",
  "10.99.0.3 02:00:00:00:00",
  "10.99.0.4 02-00-00-00-00-04",
  "10.99.0.5 01:00:5e:00:00:05",
  "10.98.0.6 02:00:00:00:00:06",
  "2001:db8::7 02:00:00:00:00:07",
  "10.99.0.8 02:00:00:00:00:08",
  "10.99.0.8 02:00:00:00:00:09",
]
)")),
            (Errors{"test.toml:4: dataplane.static_neighbors[0] \"10.99.0.2\" must be \"IP MAC\" "
                    "like \"10.99.0.254 02:00:00:00:00:fe\"",
                    "test.toml:5: dataplane.static_neighbors[1] \"10.99.0.3 02:00:00:00:00\" must "
                    "be \"IP MAC\" like \"10.99.0.254 02:00:00:00:00:fe\"",
                    "test.toml:6: dataplane.static_neighbors[2] \"10.99.0.4 02-00-00-00-00-04\" "
                    "must be \"IP MAC\" like \"10.99.0.254 02:00:00:00:00:fe\"",
                    "test.toml:7: dataplane.static_neighbors[3] \"10.99.0.5 01:00:5e:00:00:05\": "
                    "the MAC must be a unicast address",
                    "test.toml:8: dataplane.static_neighbors[4] \"10.98.0.6 02:00:00:00:00:06\" "
                    "is outside dataplane.address 10.99.0.1/24",
                    "test.toml:9: dataplane.static_neighbors[5] \"2001:db8::7 02:00:00:00:00:07\" "
                    "is outside dataplane.address6 (not set)",
                    "test.toml:11: dataplane.static_neighbors[7] \"10.99.0.8 02:00:00:00:00:09\": "
                    "10.99.0.8 is listed twice"}));
}

TEST(Errors, DpdkListenMustBeTheDataplaneAddress) {
  const std::string dpdk = R"([dataplane]
io = "dpdk"
eal = ["--no-pci"]
port = 0
address = "10.99.0.1/24"
address6 = "2001:db8::1/64"
)";
  EXPECT_EQ(load_errors(with_domain("[listen]\nudp = [\"10.99.0.1:5060\", \"127.0.0.1:5070\",\n"
                                    "  \"[2001:db8::1]:5060\", \"[::1]:5060\"]\n" +
                                    dpdk)),
            (Errors{"test.toml:2: listen.udp[1] \"127.0.0.1:5070\": with dataplane.io = \"dpdk\" "
                    "the host must be the dataplane address 10.99.0.1 or 2001:db8::1",
                    "test.toml:2: listen.udp[3] \"[::1]:5060\": with dataplane.io = \"dpdk\" the "
                    "host must be the dataplane address 10.99.0.1 or 2001:db8::1"}));
  // The same listen addresses are fine in socket mode.
  std::string socket_mode = dpdk;
  socket_mode.replace(socket_mode.find("dpdk"), 4, "socket");
  EXPECT_NE(load_ok(with_domain("[listen]\nudp = [\"127.0.0.1:5070\"]\n" + socket_mode)), nullptr);
}

TEST(Errors, BadRouteAction) {
  EXPECT_EQ(load_errors(with_domain("[[routes]]\nname = \"a\"\naction = \"bounce\"\n")),
            Errors{"test.toml:3: routes[0].action must be \"location\", \"forward\", "
                   "\"redirect\" or \"reject\", not \"bounce\""});
  EXPECT_EQ(load_errors(with_domain("[[routes]]\nname = \"a\"\n")),
            Errors{"test.toml:1: missing required key \"routes[0].action\""});
}

TEST(Errors, ForwardWithoutTarget) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "local"
action = "location"

[[routes]]
name = "out"
action = "forward"
)")),
            Errors{"test.toml:5: routes[1].target or pool is required when action = \"forward\""});
}

TEST(Errors, ForwardTargetMustBeASipUriWithAnIpHost) {
  const auto target_error = [](std::string_view target) {
    const Errors errors =
        load_errors(with_domain("[[routes]]\nname = \"out\"\naction = \"forward\"\ntarget = \"" +
                                std::string(target) + "\"\n"));
    return errors.size() == 1 ? errors[0] : "";
  };
  EXPECT_EQ(target_error("tel:+15551234"),
            "test.toml:4: routes[0].target \"tel:+15551234\" must be a sip: or sips: URI");
  EXPECT_EQ(target_error("127.0.0.1:5070"),
            "test.toml:4: routes[0].target \"127.0.0.1:5070\" must be a sip: or sips: URI");
  EXPECT_EQ(target_error("sip:nowhere.example.com"),
            "test.toml:4: routes[0].target \"sip:nowhere.example.com\": the host name "
            "\"nowhere.example.com\" does not resolve (A or AAAA)");
  EXPECT_EQ(target_error("sip:127.0.0.1:0"),
            "test.toml:4: routes[0].target \"sip:127.0.0.1:0\" must not use port 0");
}

TEST(Errors, RejectWithoutCode) {
  EXPECT_EQ(load_errors(with_domain("[[routes]]\nname = \"deny\"\naction = \"reject\"\n")),
            Errors{"test.toml:1: routes[0].code is required when action = \"reject\""});
  EXPECT_EQ(
      load_errors(with_domain("[[routes]]\nname = \"deny\"\naction = \"reject\"\ncode = 399\n")),
      Errors{"test.toml:4: routes[0].code must be 400..699, not 399"});
}

TEST(Errors, ArgumentsOfAnotherAction) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
action = "location"
target = "sip:127.0.0.1"
code = 404
)")),
            (Errors{"test.toml:4: routes[0].target is not used by action \"location\" (only by "
                    "\"forward\" and \"redirect\")",
                    "test.toml:5: routes[0].code is not used by action \"location\" (only by "
                    "\"reject\")"}));
}

TEST(Errors, RouteNamesMethodsPrefix) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
action = "location"
[[routes]]
name = "a"
user_prefix = "1 0"
methods = ["INVITE", "BAD METHOD"]
action = "location"
)")),
            (Errors{"test.toml:5: duplicate route name \"a\" (first defined at line 1)",
                    "test.toml:6: routes[1].user_prefix \"1 0\" must use SIP user characters "
                    "(RFC 3261 §25.1)",
                    "test.toml:7: routes[1].methods[1] \"BAD METHOD\" is not a SIP method "
                    "token"}));
  EXPECT_EQ(
      load_errors(with_domain("[[routes]]\nname = \"a\"\nmethods = []\naction = \"location\"\n")),
      Errors{"test.toml:3: routes[0].methods must not be empty (leave it out to match any "
             "method)"});
}

TEST(Errors, AccountingSection) {
  EXPECT_EQ(load_errors(with_domain("[accounting]\nfile = \"\"\n")),
            Errors{"test.toml:2: accounting.file \"\" must name a file (call records are "
                   "appended to it)"});
  EXPECT_EQ(load_errors(with_domain("[accounting]\nfile = \"/var/log/sipline/\"\n")),
            Errors{"test.toml:2: accounting.file \"/var/log/sipline/\" must name a file (call "
                   "records are appended to it)"});
  EXPECT_EQ(load_errors(with_domain("[accounting]\npath = \"calls.jsonl\"\n")),
            Errors{"test.toml:2: unknown key \"accounting.path\""});
}

TEST(Errors, DnsSection) {
  EXPECT_EQ(load_errors(with_domain("[dns]\nrefresh_interval = 86401\n")),
            Errors{"test.toml:2: dns.refresh_interval must be 0..86400, not 86401"});
  EXPECT_EQ(load_errors(with_domain("[dns]\nttl = 5\n")),
            Errors{"test.toml:2: unknown key \"dns.ttl\""});
}

TEST(Errors, RouteSources) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
sources = ["203.0.113.0/33", "carrier.example", "10.0.0.1/8"]
action = "location"
[[routes]]
name = "b"
sources = []
action = "location"
)")),
            (Errors{"test.toml:3: routes[0].sources[0] \"203.0.113.0/33\" must be an IP address or "
                    "ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\", or a "
                    "[source_groups] name",
                    "test.toml:3: routes[0].sources[1] \"carrier.example\" must be an IP address "
                    "or ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\", or a "
                    "[source_groups] name",
                    "test.toml:7: routes[1].sources must not be empty (leave it out to match any "
                    "source)"}));
}

TEST(Errors, SourceGroups) {
  EXPECT_EQ(load_errors(with_domain(R"([source_groups]
"1st" = ["192.0.2.1"]
empty = []
nested = ["empty"]
bad = ["192.0.2.300"]
[[routes]]
name = "a"
sources = ["carrier"]
action = "location"
)")),
            (Errors{"test.toml:2: source_groups.1st: a group name starts with a letter and has "
                    "only letters, digits, '-' and '_'",
                    "test.toml:3: source_groups.empty must list at least one address",
                    "test.toml:4: source_groups.nested[0] \"empty\" must be an IP address or "
                    "ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\"",
                    "test.toml:5: source_groups.bad[0] \"192.0.2.300\" must be an IP address or "
                    "ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\"",
                    "test.toml:8: routes[0].sources[0] \"carrier\" must be an IP address or "
                    "ADDRESS/PREFIX like \"192.0.2.0/24\" or \"2001:db8::/32\", or a "
                    "[source_groups] name"}));
}

TEST(Errors, Forking) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
action = "location"
fork = "everywhere"
[[routes]]
name = "b"
action = "forward"
target = "sip:127.0.0.1:5070"
fork = "serial"
[[routes]]
name = "c"
action = "location"
ring_timeout_ms = 20000
[[routes]]
name = "d"
action = "location"
fork = "serial"
fork_timeout_ms = 50
ring_timeout_ms = 500
)")),
            (Errors{"test.toml:4: routes[0].fork must be \"serial\", \"parallel\", \"q-groups\" "
                    "or \"none\", not \"everywhere\"",
                    "test.toml:9: routes[1].fork applies to location routes (a user's "
                    "registered contacts)",
                    "test.toml:13: routes[2].ring_timeout_ms needs fork = \"serial\", "
                    "\"parallel\" or \"q-groups\"",
                    "test.toml:18: routes[3].fork_timeout_ms must be 100..60000, not 50",
                    "test.toml:19: routes[3].ring_timeout_ms must be 1000..3600000, not 500"}));
}

TEST(Errors, Fallback) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
action = "location"
fallback = "sip:127.0.0.1:5090"
[[routes]]
name = "b"
action = "location"
fork = "serial"
fallback_codes = [486]
[[routes]]
name = "c"
action = "location"
fork = "parallel"
fallback = "sip:127.0.0.1:5090"
fallback_codes = [603, 200, "busy"]
[[routes]]
name = "d"
action = "location"
fork = "parallel"
fallback = "mailto:vm@example.com"
[[routes]]
name = "e"
action = "location"
fork = "parallel"
fallback = "sip:127.0.0.1:5090"
fallback_codes = []
)")),
            (Errors{"test.toml:4: routes[0].fallback needs fork = \"serial\", \"parallel\" or "
                    "\"q-groups\" on a location route (the proxy keeps the call's state to see "
                    "its contacts fail)",
                    "test.toml:9: routes[1].fallback_codes needs fallback",
                    "test.toml:15: routes[2].fallback_codes[0] must be a final status code "
                    "300..599 (after a 6xx no new branch may be created, RFC 3261 §16.7 step 5)",
                    "test.toml:15: routes[2].fallback_codes[1] must be a final status code "
                    "300..599 (after a 6xx no new branch may be created, RFC 3261 §16.7 step 5)",
                    "test.toml:15: routes[2].fallback_codes[2] must be a final status code "
                    "300..599 (after a 6xx no new branch may be created, RFC 3261 §16.7 step 5)",
                    "test.toml:20: routes[3].fallback \"mailto:vm@example.com\" must be a sip: or "
                    "sips: URI",
                    "test.toml:26: routes[4].fallback_codes must not be empty (leave fallback out "
                    "instead)"}));
}

TEST(Errors, RouteNumberTranslation) {
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "a"
user_prefix = "9"
strip = 2
prepend = "+4 4"
action = "location"
[[routes]]
name = "b"
strip = -1
action = "location"
[[routes]]
name = "c"
prepend = "+4444444444444444444444444444444444"
action = "location"
)")),
            (Errors{"test.toml:4: routes[0].strip = 2 is longer than user_prefix \"9\" (1 "
                    "octet): only what the prefix matched may be stripped",
                    "test.toml:5: routes[0].prepend \"+4 4\" must be at most 32 SIP user "
                    "characters (RFC 3261 §25.1)",
                    "test.toml:9: routes[1].strip must be 0..255, not -1",
                    "test.toml:13: routes[2].prepend \"+4444444444444444444444444444444444\" "
                    "must be at most 32 SIP user characters (RFC 3261 §25.1)"}));
  EXPECT_EQ(load_errors(with_domain(R"([[routes]]
name = "deny"
user_prefix = "9"
strip = 1
action = "reject"
code = 403
[[routes]]
name = "fixed"
prepend = "+44"
action = "redirect"
target = "sip:voicemail@127.0.0.1"
)")),
            (Errors{"test.toml:4: routes[0].strip is not used by this route (only by "
                    "\"location\", \"forward\" and a \"redirect\" to the registered contacts)",
                    "test.toml:9: routes[1].prepend is not used by this route (only by "
                    "\"location\", \"forward\" and a \"redirect\" to the registered "
                    "contacts)"}));
}

TEST(Errors, TrunkRegistrations) {
  EXPECT_EQ(load_errors(with_domain(R"([[trunk_registrations]]
name = "a"
registrar = "sip:acct@192.0.2.50"
user = "bad user"
password = ""
expires = 30
[[trunk_registrations]]
name = "b"
registrar = "sip:192.0.2.50"
user = "1"
password = "x"
domain = "not a host"
retry_interval = 0
[[trunk_registrations]]
name = "b"
registrar = "sip:192.0.2.51"
user = "2"
password = "y"
[[trunk_registrations]]
name = "c"
registrar = "sip:192.0.2.52"
)")),
            (Errors{"test.toml:3: trunk_registrations[0].registrar \"sip:acct@192.0.2.50\" must "
                    "name the registrar's domain, without a user part (RFC 3261 §10.2)",
                    "test.toml:4: trunk_registrations[0].user \"bad user\" must be a SIP user name "
                    "(RFC 3261 §25.1 user characters)",
                    "test.toml:5: trunk_registrations[0].password must not be empty",
                    "test.toml:6: trunk_registrations[0].expires must be 60..86400, not 30",
                    "test.toml:12: trunk_registrations[1].domain \"not a host\" must be a host "
                    "name or an IP address",
                    "test.toml:13: trunk_registrations[1].retry_interval must be 5..3600, not 0",
                    "test.toml:15: duplicate trunk registration name \"b\" (first defined at "
                    "line 7)",
                    "test.toml:19: missing required key \"trunk_registrations[3].user\"",
                    "test.toml:19: missing required key \"trunk_registrations[3].password\""}));
}

TEST(Errors, TrunkRegistrationNeedsAContactAddress) {
  EXPECT_EQ(load_errors("[listen]\nudp = [\"0.0.0.0:5060\", \"[::1]:5060\"]\n"
                        "[domain]\nnames = [\"example.test\"]\n"
                        "[[trunk_registrations]]\nname = \"carrier\"\n"
                        "registrar = \"sip:192.0.2.50\"\nuser = \"1\"\npassword = \"p\"\n"),
            Errors{"test.toml:5: trunk_registrations[0] \"carrier\": no listen.udp address of the "
                   "IPv4 registrar's family names a host for our Contact (0.0.0.0 and :: do "
                   "not)"});
}

TEST(Errors, TrunkRegistrationOutboundProxy) {
  EXPECT_EQ(load_errors(with_domain(R"([[trunk_registrations]]
name = "a"
registrar = "sip:192.0.2.50"
outbound_proxy = "http://sbc.example"
user = "1"
password = "p"
[[trunk_registrations]]
name = "b"
registrar = "sip:192.0.2.50"
outbound_proxy = "sip:192.0.2.60?Subject=x"
user = "2"
password = "p"
)")),
            (Errors{"test.toml:4: trunk_registrations[0].outbound_proxy \"http://sbc.example\" "
                    "must be a sip: or sips: URI",
                    "test.toml:10: trunk_registrations[1].outbound_proxy "
                    "\"sip:192.0.2.60?Subject=x\" must not carry headers (it becomes a Route "
                    "value)"}));
  // The Contact's family is the outbound proxy's, the address the REGISTER leaves for.
  EXPECT_EQ(load_errors("[listen]\nudp = [\"192.0.2.1:5060\"]\n"
                        "[domain]\nnames = [\"example.test\"]\n"
                        "[[trunk_registrations]]\nname = \"carrier\"\n"
                        "registrar = \"sip:192.0.2.50\"\noutbound_proxy = \"sip:[2001:db8::9]\"\n"
                        "user = \"1\"\npassword = \"p\"\n"),
            Errors{"test.toml:5: trunk_registrations[0] \"carrier\": no listen.udp address of the "
                   "IPv6 outbound proxy's family names a host for our Contact (0.0.0.0 and :: do "
                   "not)"});
}

// ---- [[pools]] and the routes naming them ----------------------------------------------

TEST(Errors, PoolNames) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
members = ["sip:10.0.0.1"]
[[pools]]
name = ""
members = ["sip:10.0.0.1"]
[[pools]]
name = "pbx"
members = ["sip:10.0.0.1"]

[[pools]]
name = "pbx"
members = ["sip:10.0.0.2"]
)")),
            (Errors{"test.toml:1: missing required key \"pools[0].name\"",
                    "test.toml:4: pools[1].name must not be empty",
                    "test.toml:11: duplicate pool name \"pbx\" (first defined at line 6)"}));
}

TEST(Errors, TooManyPools) {
  std::string text;
  for (std::size_t index = 0; index <= lb::kMaxPools; ++index) {
    text += "[[pools]]\nname = \"p" + std::to_string(index) + "\"\nmembers = [\"sip:10.0.0.1\"]\n";
  }
  // pools[256] starts at line 3 * 256 + 1.
  EXPECT_EQ(load_errors(with_domain(text)),
            Errors{"test.toml:769: pools must list at most 256 pools, not 257"});
}

TEST(Errors, PoolMemberCount) {
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"pbx\"\n")),
            Errors{"test.toml:1: missing required key \"pools[0].members\""});
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"pbx\"\nmembers = []\n")),
            Errors{"test.toml:3: pools[0].members must list at least one member"});
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"pbx\"\nmembers = \"sip:10.0.0.1\"\n")),
            Errors{"test.toml:3: pools[0].members must be an array, not a string"});
  std::string members;
  for (std::size_t index = 0; index <= lb::kMaxPoolMembers; ++index) {
    members += "\"sip:10.0.0." + std::to_string(index + 1) + "\", ";
  }
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"pbx\"\nmembers = [" + members + "]\n")),
            Errors{"test.toml:3: pools[0].members must list at most 64 members, not 65"});
  // 64 is fine.
  members.erase(members.rfind("\"sip:"));
  const auto config =
      load_ok(with_domain("[[pools]]\nname = \"pbx\"\nmembers = [" + members + "]\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].members.size(), lb::kMaxPoolMembers);
}

TEST(Errors, PoolMemberUriFollowsTheForwardTargetRules) {
  const auto member_error = [](std::string_view member) {
    const Errors errors = load_errors(
        with_domain("[[pools]]\nname = \"pbx\"\nmembers = [\n  " + std::string(member) + "\n]\n"));
    return errors.size() == 1 ? errors[0] : "";
  };
  EXPECT_EQ(member_error("\"tel:+15551234\""),
            "test.toml:4: pools[0].members[0] \"tel:+15551234\" must be a sip: or sips: URI");
  EXPECT_EQ(member_error("\"10.0.0.1:5060\""),
            "test.toml:4: pools[0].members[0] \"10.0.0.1:5060\" must be a sip: or sips: URI");
  EXPECT_EQ(member_error("\"sip:nowhere.example.com\""),
            "test.toml:4: pools[0].members[0] \"sip:nowhere.example.com\": the host name "
            "\"nowhere.example.com\" does not resolve (A or AAAA)");
  EXPECT_EQ(member_error("\"sip:10.0.0.1:0\""),
            "test.toml:4: pools[0].members[0] \"sip:10.0.0.1:0\" must not use port 0");
  EXPECT_EQ(member_error("{ uri = \"sip:nowhere.example.com\", weight = 2 }"),
            "test.toml:4: pools[0].members[0].uri \"sip:nowhere.example.com\": the host name "
            "\"nowhere.example.com\" does not resolve (A or AAAA)");
  EXPECT_EQ(member_error("{ weight = 2 }"),
            "test.toml:4: missing required key \"pools[0].members[0].uri\"");
  EXPECT_EQ(member_error("5060"),
            "test.toml:4: pools[0].members[0] must be a string or a table, not an integer");
  EXPECT_EQ(member_error("{ uri = 5060 }"),
            "test.toml:4: pools[0].members[0].uri must be a string, not an integer");
}

TEST(Errors, PoolMemberAddressListedTwice) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "pbx"
members = [
  "sip:10.0.0.11",
  "sips:10.0.0.11",
  "sip:10.0.0.11:5060",
  { uri = "sip:10.0.0.11:5061", weight = 2 },
]
)")),
            (Errors{"test.toml:6: pools[0].members[2] \"sip:10.0.0.11:5060\": 10.0.0.11:5060 "
                    "is listed twice (first as pools[0].members[0])",
                    "test.toml:7: pools[0].members[3] \"sip:10.0.0.11:5061\": 10.0.0.11:5061 "
                    "is listed twice (first as pools[0].members[1])"}));
}

TEST(Errors, PoolMemberWeightsAndUnknownKeys) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "pbx"
members = [
  { uri = "sip:10.0.0.11", weight = 0 },
  { uri = "sip:10.0.0.12", weight = 1001 },
  { uri = "sip:10.0.0.13", weight = "2" },
  { uri = "sip:10.0.0.14", wieght = 2 },
]
probe_intervall = 5
)")),
            (Errors{"test.toml:4: pools[0].members[0].weight must be 1..1000, not 0",
                    "test.toml:5: pools[0].members[1].weight must be 1..1000, not 1001",
                    "test.toml:6: pools[0].members[2].weight must be an integer, not a string",
                    "test.toml:7: unknown key \"pools[0].members[3].wieght\"",
                    "test.toml:9: unknown key \"pools[0].probe_intervall\""}));
}

TEST(Errors, PoolProbeSettings) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "pbx"
members = ["sip:10.0.0.11"]
probe_interval = 3601
down_after = 0
up_after = 101
)")),
            (Errors{"test.toml:4: pools[0].probe_interval must be 0..3600, not 3601",
                    "test.toml:5: pools[0].down_after must be 1..100, not 0",
                    "test.toml:6: pools[0].up_after must be 1..100, not 101"}));
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"pbx\"\nmembers = [\"sip:10.0.0.11\"]\n"
                                    "probe_interval = -1\n")),
            Errors{"test.toml:4: pools[0].probe_interval must be 0..3600, not -1"});
}

TEST(Values, PoolFailover) {
  const auto config = load_ok(with_domain(R"([[pools]]
name = "pbx"
members = ["sip:10.0.0.11", "sip:10.0.0.12"]
failover = true
failover_codes = [503, 480]
failover_timeout_ms = 1500
timer_c_ms = 60000
[[pools]]
name = "sbc"
members = ["sip:192.0.2.1"]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].failover,
            (lb::FailoverSettings{true, std::vector<std::uint16_t>{503, 480}, 1500, 60000}));
  // Off by default, with the default codes and timeout ready for `failover = true`; Timer C
  // as RFC 3261 §16.6 step 11 wants it, more than 3 minutes.
  EXPECT_EQ(
      config->pools[1].failover,
      (lb::FailoverSettings{false, std::vector<std::uint16_t>{500, 502, 503, 504}, 2000, 180000}));
}

TEST(Errors, PoolFailover) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "pbx"
members = ["sip:10.0.0.11"]
failover = "yes"
failover_codes = [503, 200, "500", 603]
failover_timeout_ms = 50
timer_c_ms = 999
)")),
            (Errors{"test.toml:4: pools[0].failover must be a boolean, not a string",
                    "test.toml:5: pools[0].failover_codes[1] must be a final status code 300..599",
                    "test.toml:5: pools[0].failover_codes[2] must be a final status code 300..599",
                    "test.toml:5: pools[0].failover_codes[3] is 603: a 6xx is a global failure, "
                    "no other member may be tried after it (RFC 3261 §16.7 step 5)",
                    "test.toml:6: pools[0].failover_timeout_ms must be 100..60000, not 50",
                    "test.toml:7: pools[0].timer_c_ms must be 1000..3600000, not 999"}));
}

TEST(Values, CallerIdAndAssertedIdentity) {
  const auto config = load_ok(with_domain(R"([[users]]
user = "1001"
password = "pw-1001"
caller_id = "+442079460001"
[[users]]
user = "1002"
password = "pw-1002"
[[routes]]
name = "out"
user_prefix = "0"
action = "forward"
target = "sip:192.0.2.50"
auth = true
assert_identity = true
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->users[0].caller_id, "+442079460001");
  EXPECT_EQ(config->users[1].caller_id, "");
  EXPECT_TRUE(config->routes[0].assert_identity);
}

TEST(Errors, CallerIdAndAssertedIdentity) {
  EXPECT_EQ(load_errors(with_domain(R"([[users]]
user = "1001"
password = "pw-1001"
caller_id = "+44 20"
[[routes]]
name = "a"
action = "forward"
target = "sip:192.0.2.50"
assert_identity = true
[[routes]]
name = "b"
action = "reject"
code = 403
auth = true
assert_identity = true
)")),
            (Errors{"test.toml:4: users[0].caller_id \"+44 20\" must be 1..32 SIP user characters "
                    "(RFC 3261 §25.1), e.g. \"+442079460001\"",
                    "test.toml:9: routes[0].assert_identity needs auth = true (only an "
                    "authenticated user's identity is asserted)",
                    "test.toml:15: routes[1].assert_identity applies to routes that forward "
                    "(location, forward)"}));
}

TEST(Values, PoolCredentials) {
  const auto config = load_ok(with_domain(R"([[pools]]
name = "carrier"
members = ["sip:10.0.0.11"]
auth_user = "acct-77"
password = "trunk-secret"
[[pools]]
name = "pbx"
members = ["sip:10.0.0.12"]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].credentials, (lb::PoolCredentials{"acct-77", "trunk-secret"}));
  // Answering challenges makes the pool transaction-stateful, without failover.
  EXPECT_TRUE(config->pools[0].tracks_transactions());
  EXPECT_FALSE(config->pools[0].failover.enabled);
  EXPECT_FALSE(config->pools[1].credentials.configured());
  EXPECT_FALSE(config->pools[1].tracks_transactions());
}

TEST(Errors, ARouteToAPoolWithCredentialsNeedsAuthOrSources) {
  const std::string pool = R"([[pools]]
name = "carrier"
members = ["sip:10.0.0.11"]
auth_user = "acct"
password = "secret"
[[routes]]
name = "out"
action = "forward"
pool = "carrier"
)";
  EXPECT_EQ(load_errors(with_domain(pool)),
            Errors{"test.toml:9: routes[0].pool \"carrier\" answers its members' challenges with "
                   "its credentials: the route needs auth = true or sources (else anyone "
                   "reaching sipline calls through that account)"});
  EXPECT_NE(load_ok(with_domain(pool + "auth = true\n")), nullptr);
  EXPECT_NE(load_ok(with_domain(pool + "sources = [\"10.1.0.0/16\"]\n")), nullptr);
}

// A pool may answer its members' challenges with a trunk registration's account.
TEST(Values, PoolCredentialsOfATrunk) {
  const auto config = load_ok(with_domain(R"([[trunk_registrations]]
name = "carrier"
registrar = "sip:192.0.2.50"
user = "+15551230000"
auth_user = "acct-4711"
password = "from-the-carrier"
[[pools]]
name = "carrier-sbcs"
members = ["sip:192.0.2.50"]
credentials = "carrier"
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].credentials, (lb::PoolCredentials{"acct-4711", "from-the-carrier"}));
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "a"
members = ["sip:192.0.2.50"]
credentials = "nobody"
[[pools]]
name = "b"
members = ["sip:192.0.2.51"]
credentials = "nobody"
password = "x"
)")),
            (Errors{"test.toml:4: pools[0].credentials \"nobody\" names no [[trunk_registrations]] "
                    "entry",
                    "test.toml:8: pools[1].credentials names a trunk registration's account: "
                    "leave out auth_user and password"}));
}

TEST(Errors, PoolCredentials) {
  EXPECT_EQ(load_errors(with_domain(R"([[pools]]
name = "a"
members = ["sip:10.0.0.11"]
password = "secret"
[[pools]]
name = "b"
members = ["sip:10.0.0.12"]
auth_user = "acct"
[[pools]]
name = "c"
members = ["sip:10.0.0.13"]
auth_user = "acct 7"
password = ""
)")),
            (Errors{"test.toml:4: pools[0].password needs pools[0].auth_user (the account for the "
                    "members' 401/407 challenges)",
                    "test.toml:8: pools[1].auth_user needs pools[1].password (the account for the "
                    "members' 401/407 challenges)",
                    "test.toml:12: pools[2].auth_user \"acct 7\" must be a SIP user name (RFC 3261 "
                    "§25.1 user characters)",
                    "test.toml:13: pools[2].password must not be empty"}));
}

TEST(Errors, AdminSocket) {
  const auto config = load_ok(with_domain("[admin]\nsocket = \"/run/sipline/admin.sock\"\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->admin.socket, "/run/sipline/admin.sock");
  EXPECT_EQ(load_ok(with_domain(""))->admin.socket, "");  // off by default
  EXPECT_EQ(
      load_errors(with_domain("[admin]\nsocket = \"/" + std::string(107, 'a') + "\"\npath = 1\n")),
      (Errors{"test.toml:2: admin.socket \"/" + std::string(107, 'a') +
                  "\" is longer than 107 octets (a Unix socket path)",
              "test.toml:3: unknown key \"admin.path\""}));
}

// A next hop named by host: resolved while loading (here by test_resolver), the URI keeps the
// name (the Request-URI and the probes carry it).
TEST(Values, NextHopsByHostName) {
  const auto config = load_ok(with_domain(R"([listen]
udp = ["127.0.0.1:5060", "[::1]:5060"]
[[pools]]
name = "pbx"
members = ["sip:pbx.example.com", "sip:10.0.0.12"]
[[routes]]
name = "out"
action = "forward"
target = "sip:proxy.example.com:5070"
[[routes]]
name = "farm"
user_prefix = "8"
action = "forward"
pool = "pbx"
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->routes[0].forward.has_value());
  EXPECT_EQ(config->routes[0].forward->uri, "sip:proxy.example.com:5070");
  EXPECT_EQ(config->routes[0].forward->next_hop.to_string(), "192.0.2.20:5070");
  EXPECT_EQ(config->pools[0].members[0].uri, "sip:pbx.example.com");
  EXPECT_EQ(config->pools[0].members[0].address.to_string(), "[2001:db8::20]:5060");
}

// A name with both families: the one sipline listens on (IPv4 first); none of them: an error.
TEST(Values, NextHopsByHostNameTakeAFamilyWeListenOn) {
  const std::string route = "[[routes]]\nname = \"out\"\naction = \"forward\"\n";
  const auto v4 = load_ok(with_domain(route + "target = \"sip:both.example.com\"\n"));
  ASSERT_NE(v4, nullptr);
  EXPECT_EQ(v4->routes[0].forward->next_hop.to_string(), "192.0.2.30:5060");
  const std::string v6_only = "[listen]\nudp = [\"[::1]:5060\"]\n";
  const auto v6 = load_ok(with_domain(v6_only + route + "target = \"sip:both.example.com\"\n"));
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->routes[0].forward->next_hop.to_string(), "[2001:db8::30]:5060");
  EXPECT_EQ(load_errors(with_domain(v6_only + route + "target = \"sip:proxy.example.com\"\n")),
            Errors{"test.toml:6: routes[0].target \"sip:proxy.example.com\": the host name "
                   "\"proxy.example.com\" resolves only to addresses of a family sipline does "
                   "not listen on"});
}

// RFC 3263 §4.2: a pool member named by a domain without a port is its SRV service
// _sip._udp.DOMAIN, one member per record: priorities become the failover order (ranks),
// weights the shares (0 → 1), each target resolved like a host name.
TEST(Values, PoolMemberNamedByADomainBecomesOneMemberPerSrvRecord) {
  service_queries().clear();
  const auto config = load_ok(with_domain(R"([[pools]]
name = "trunk"
members = ["sip:carrier.example", "sip:10.0.0.12"]
[[pools]]
name = "standby"
members = [{ uri = "sip:carrier.example", drain = true }]
)"));
  ASSERT_NE(config, nullptr);
  using lb::PoolMember;
  const auto sip = sip::UriScheme::Sip;
  EXPECT_EQ(config->pools[0].members,
            (std::vector<PoolMember>{
                {"sip:sbc1.carrier.example:5060", sip, {ipv4(192, 0, 2, 41), 5060}, 60, 0, false},
                {"sip:sbc2.carrier.example:5070", sip, {ipv4(192, 0, 2, 42), 5070}, 20, 0, false},
                {"sip:standby.carrier.example:5060", sip, {ipv4(192, 0, 2, 43), 5060}, 1, 1, false},
                {"sip:10.0.0.12", sip, {ipv4(10, 0, 0, 12), 5060}, 1, 0, false}}));
  // A table's drain applies to every server of the domain.
  ASSERT_EQ(config->pools[1].members.size(), 3u);
  for (const PoolMember& member : config->pools[1].members)
    EXPECT_TRUE(member.drain) << member.uri;
  EXPECT_EQ(service_queries(),
            (std::vector<std::string>{"_sip._udp.carrier.example", "_sip._udp.carrier.example"}));
}

// A forward target named by such a domain goes to its first record (lowest priority,
// heaviest) and keeps its URI; a port, a sips: URI or an IP literal means no SRV query; a
// domain without records falls back to its A/AAAA records (RFC 3263 §4.2).
TEST(Values, ForwardTargetNamedByADomainTakesItsFirstSrvRecord) {
  service_queries().clear();
  const std::string route = "[[routes]]\nname = \"out\"\naction = \"forward\"\n";
  const auto srv = load_ok(with_domain(route + "target = \"sip:carrier.example\"\n"));
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->routes[0].forward->uri, "sip:carrier.example");
  EXPECT_EQ(srv->routes[0].forward->next_hop, (SocketAddress{ipv4(192, 0, 2, 41), 5060}));
  EXPECT_EQ(service_queries(), std::vector<std::string>{"_sip._udp.carrier.example"});

  service_queries().clear();
  for (const char* target :
       {"sip:proxy.example.com:5070", "sips:proxy.example.com", "sip:192.0.2.9"}) {
    ASSERT_NE(load_ok(with_domain(route + "target = \"" + target + "\"\n")), nullptr) << target;
  }
  EXPECT_TRUE(service_queries().empty());
  const auto fallback = load_ok(with_domain(route + "target = \"sip:proxy.example.com\"\n"));
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback->routes[0].forward->next_hop, (SocketAddress{ipv4(192, 0, 2, 20), 5060}));
  EXPECT_EQ(service_queries(), std::vector<std::string>{"_sip._udp.proxy.example.com"});

  // A pool member without SRV records is asked for them once, then resolved by A/AAAA.
  service_queries().clear();
  const auto pool = load_ok(
      with_domain("[listen]\nudp = [\"[::1]:5060\"]\n[[pools]]\nname = \"p\"\n"
                  "members = [\"sip:pbx.example.com\", { uri = \"sip:pbx.example.com:5070\" }]\n"));
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->pools[0].members[0].address.to_string(), "[2001:db8::20]:5060");
  EXPECT_EQ(service_queries(), std::vector<std::string>{"_sip._udp.pbx.example.com"});
}

TEST(Errors, SrvRecordsThatCannotBeUsedAreErrorsAtTheirLine) {
  const std::string route = "[[routes]]\nname = \"out\"\naction = \"forward\"\n";
  EXPECT_EQ(load_errors(with_domain(route + "target = \"sip:closed.example\"\n")),
            Errors{"test.toml:4: routes[0].target \"sip:closed.example\": the domain "
                   "\"closed.example\" is not offered: its SRV record _sip._udp.closed.example "
                   "names \".\" (RFC 2782)"});
  EXPECT_EQ(
      load_errors(with_domain("[[pools]]\nname = \"p\"\nmembers = [\"sip:broken.example\"]\n")),
      Errors{"test.toml:3: pools[0].members[0] \"sip:broken.example\": the domain "
             "\"broken.example\" has the SRV record _sip._udp.broken.example → "
             "nowhere.example.com:5060, whose host name does not resolve (A or AAAA)"});
  EXPECT_EQ(load_errors(with_domain("[[pools]]\nname = \"p\"\nmembers = [\n"
                                    "  { uri = \"sip:carrier.example\", weight = 5 },\n]\n")),
            Errors{"test.toml:4: pools[0].members[0].uri \"sip:carrier.example\": the domain "
                   "\"carrier.example\" has SRV records, which give each server's weight and "
                   "priority: leave them out here"});
}

// A DNS answer as res_nquery returns it (RFC 1035 §4.1), built octet by octet: two SRV
// records in the answer section (the second with a compressed target), an A record that is
// skipped; sorted by priority, then heaviest first.
TEST(Values, SrvAnswersAreParsedFromTheDnsMessage) {
  std::vector<unsigned char> message = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0};
  const auto name = [&message](std::initializer_list<std::string_view> labels) {
    for (std::string_view label : labels) {
      message.push_back(static_cast<unsigned char>(label.size()));
      message.insert(message.end(), label.begin(), label.end());
    }
    message.push_back(0);
  };
  const auto u16 = [&message](unsigned value) {
    message.push_back(static_cast<unsigned char>(value >> 8));
    message.push_back(static_cast<unsigned char>(value & 0xff));
  };
  name({"_sip", "_udp", "carrier", "example"});  // the question, at offset 12
  u16(33);
  u16(1);
  const auto record_head = [&](unsigned type, unsigned length) {
    u16(0xc00c);  // the question's name
    u16(type);
    u16(1);
    u16(0);
    u16(300);  // TTL
    u16(length);
  };
  record_head(33, 6 + 5 + 8 + 2);  // priority 20, weight 0, port 5060, sbc9.carrier.example
  u16(20);
  u16(0);
  u16(5060);
  message.push_back(4);
  message.insert(message.end(), {'s', 'b', 'c', '9'});
  message.push_back(7);
  message.insert(message.end(), {'c', 'a', 'r', 'r', 'i', 'e', 'r'});
  message.push_back(0xc0);  // "example", compressed: offset 12 + 5 + 5 + 8
  message.push_back(static_cast<unsigned char>(12 + 5 + 5 + 8));
  record_head(1, 4);  // an A record: not SRV
  message.insert(message.end(), {192, 0, 2, 1});
  record_head(33, 6 + 5 + 2);  // priority 10, weight 5, port 5070, "sbc1" + the question's tail
  u16(10);
  u16(5);
  u16(5070);
  message.push_back(4);
  message.insert(message.end(), {'s', 'b', 'c', '1'});
  message.push_back(0xc0);
  message.push_back(static_cast<unsigned char>(12 + 5 + 5));
  EXPECT_EQ(parse_srv_answer(message),
            (std::vector<ServiceRecord>{{10, 5, 5070, "sbc1.carrier.example"},
                                        {20, 0, 5060, "sbc9.carrier.example"}}));
  message.resize(message.size() - 3);  // truncated inside the last record
  EXPECT_TRUE(parse_srv_answer(message).empty());
}

// Names under localhost are never sent to a DNS server (RFC 6761 §6.3).
TEST(Values, SrvLookupsUnderLocalhostAreNotSent) {
  for (const char* name :
       {"localhost", "_sip._udp.localhost", "_sip._udp.pbx.LOCALHOST.", "LocalHost."}) {
    EXPECT_TRUE(is_localhost_name(name)) << name;
  }
  for (const char* name : {"notlocalhost", "_sip._udp.notlocalhost", "localhost.example",
                           "_sip._udp.carrier.example", "localhos"}) {
    EXPECT_FALSE(is_localhost_name(name)) << name;
  }
  EXPECT_TRUE(lookup_service_with_system("_sip._udp.localhost").empty());
  EXPECT_TRUE(lookup_service_with_system("_sip._udp.pbx.LOCALHOST.").empty());
}

// The system's resolver, on the one name every machine resolves without asking a DNS server
// (/etc/hosts).
TEST(Values, TheSystemResolverReadsEtcHosts) {
  const std::vector<IpAddress> localhost = resolve_with_system("localhost");
  ASSERT_FALSE(localhost.empty());
  EXPECT_NE(std::find_if(localhost.begin(), localhost.end(),
                         [](const IpAddress& a) { return a.to_string() == "127.0.0.1"; }),
            localhost.end());
}

TEST(Errors, PoolNamesAreOneWord) {
  EXPECT_EQ(
      load_errors(with_domain("[[pools]]\nname = \"eu west\"\nmembers = [\"sip:10.0.0.1\"]\n")),
      Errors{"test.toml:2: pools[0].name \"eu west\" must be letters, digits, '_', '.' "
             "or '-'"});
  EXPECT_NE(
      load_ok(with_domain("[[pools]]\nname = \"eu-west_1.a\"\nmembers = [\"sip:10.0.0.1\"]\n")),
      nullptr);
}

TEST(Errors, AdminMetrics) {
  const auto config = load_ok(with_domain("[admin]\nmetrics = \"[::1]:9464\"\n"));
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->admin.metrics.has_value());
  EXPECT_EQ(config->admin.metrics->to_string(), "[::1]:9464");
  EXPECT_FALSE(load_ok(with_domain(""))->admin.metrics.has_value());  // off by default
  EXPECT_EQ(load_errors(with_domain("[admin]\nmetrics = \"localhost:9464\"\n")),
            Errors{"test.toml:2: admin.metrics \"localhost:9464\": host must be an IPv4 literal "
                   "or a bracketed IPv6 literal like [::1]"});
  EXPECT_EQ(load_errors(with_domain("[admin]\nmetrics = \"127.0.0.1\"\n")),
            Errors{"test.toml:2: admin.metrics \"127.0.0.1\": port is missing (write HOST:PORT)"});
}

TEST(Errors, RoutesNamingPools) {
  const std::string pool = "[[pools]]\nname = \"pbx\"\nmembers = [\"sip:10.0.0.11\"]\n";
  EXPECT_EQ(load_errors(with_domain(pool + R"([[routes]]
name = "both"
action = "forward"
target = "sip:10.0.0.1"
pool = "pbx"
[[routes]]
name = "neither"
action = "forward"
[[routes]]
name = "redirect"
action = "redirect"
pool = "pbx"
[[routes]]
name = "unknown"
action = "forward"
pool = "pxb"
[[routes]]
name = "typed"
action = "forward"
pool = 0
)")),
            (Errors{"test.toml:8: routes[0].target and routes[0].pool are both set: action "
                    "\"forward\" takes one or the other",
                    "test.toml:9: routes[1].target or pool is required when action = \"forward\"",
                    "test.toml:15: routes[2].pool is not used by action \"redirect\" (only by "
                    "\"forward\")",
                    "test.toml:19: routes[3].pool \"pxb\" is not the name of any [[pools]]",
                    "test.toml:23: routes[4].pool must be a string, not an integer"}));
}

TEST(Errors, ExpiresOrder) {
  EXPECT_EQ(load_errors(with_domain("[registrar]\nmin_expires = 3600\nmax_expires = 60\n")),
            Errors{"test.toml:2: registrar.min_expires (3600) must not exceed "
                   "registrar.max_expires (60)"});
  EXPECT_EQ(load_errors(with_domain("[registrar]\ndefault_expires = 7200\n")),
            Errors{"test.toml:2: registrar.default_expires (7200) must be within "
                   "registrar.min_expires..registrar.max_expires (60..3600)"});
  EXPECT_EQ(load_errors(with_domain("[registrar]\nmin_expires = 0\n")),
            Errors{"test.toml:2: registrar.min_expires must be 1..4294967295, not 0"});
}

TEST(Values, RedisUrls) {
  const auto parse = [](std::string_view text) {
    const ParsedRedisEndpoint parsed = parse_redis_url(text);
    EXPECT_TRUE(parsed.endpoint.has_value()) << text << ": " << parsed.error;
    return parsed.endpoint.value_or(RedisEndpoint{});
  };
  EXPECT_EQ(parse("redis://localhost"), (RedisEndpoint{"localhost", 6379, "", "", 0}));
  EXPECT_EQ(parse("redis://10.0.0.5:7000/3"), (RedisEndpoint{"10.0.0.5", 7000, "", "", 3}));
  EXPECT_EQ(parse("redis://[::1]:6380"), (RedisEndpoint{"::1", 6380, "", "", 0}));
  EXPECT_EQ(parse("redis://[::1]"), (RedisEndpoint{"::1", 6379, "", "", 0}));
  EXPECT_EQ(parse("redis://:p@ss@h/1"), (RedisEndpoint{"h", 6379, "", "p@ss", 1}));
  EXPECT_EQ(parse("redis://sip:secret@h:1"), (RedisEndpoint{"h", 1, "sip", "secret", 0}));
  EXPECT_EQ(parse("redis://secret@h"), (RedisEndpoint{"h", 6379, "", "secret", 0}));
  EXPECT_EQ(parse("redis://s%69p:p%40ss%3a@h"), (RedisEndpoint{"h", 6379, "sip", "p@ss:", 0}));
  EXPECT_EQ(parse("redis://h/"), (RedisEndpoint{"h", 6379, "", "", 0}));
  // Log lines never show the credentials.
  EXPECT_EQ(parse("redis://sip:secret@[2001:db8::7]:7000/2").describe(),
            "redis://[2001:db8::7]:7000/2");
}

TEST(Errors, RedisStoreUrl) {
  const auto error_of = [](std::string_view url) {
    std::string text = "[registrar]\nstore = \"";
    text.append(url).append("\"\n");
    const Errors errors = load_errors(with_domain(text));
    return errors.size() == 1 ? errors[0] : std::string("not one error");
  };
  const std::string expected = "; expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]";
  EXPECT_EQ(error_of("redis://"),
            "test.toml:2: registrar.store: \"redis://\" is not a Redis URL "
            "(the host is missing)" +
                expected);
  EXPECT_EQ(error_of("redis://h:0"),
            "test.toml:2: registrar.store: \"redis://h:0\" is not a "
            "Redis URL (the port \"0\" is not a number from 1 to "
            "65535)" +
                expected);
  EXPECT_EQ(error_of("redis://h:"),
            "test.toml:2: registrar.store: \"redis://h:\" is not a "
            "Redis URL (the port after ':' is empty)" +
                expected);
  EXPECT_EQ(error_of("redis://h:99999"),
            "test.toml:2: registrar.store: \"redis://h:99999\" is "
            "not a Redis URL (the port \"99999\" is not a number "
            "from 1 to 65535)" +
                expected);
  EXPECT_EQ(error_of("redis://h/x"),
            "test.toml:2: registrar.store: \"redis://h/x\" is not a "
            "Redis URL (the database \"x\" is not a number)" +
                expected);
  EXPECT_EQ(error_of("redis://[::1"),
            "test.toml:2: registrar.store: \"redis://[::1\" is not a "
            "Redis URL (an IPv6 host needs its closing ']')" +
                expected);
  EXPECT_EQ(error_of("redis://user:@h"),
            "test.toml:2: registrar.store: \"redis://***@h\" is "
            "not a Redis URL (the password before '@' is empty)" +
                expected);
  // The credentials never reach an error message.
  EXPECT_EQ(error_of("redis://sip:s3cret@h/x"),
            "test.toml:2: registrar.store: \"redis://***@h/x\" is not a Redis URL (the "
            "database \"x\" is not a number)" +
                expected);
  EXPECT_EQ(error_of("redis://:50%zz@h"),
            "test.toml:2: registrar.store: \"redis://***@h\" is not a Redis URL (a '%' in the "
            "credentials is not followed by two hex digits)" +
                expected);
  EXPECT_EQ(error_of("redis://a b"),
            "test.toml:2: registrar.store: \"redis://a b\" is not a "
            "Redis URL (the host \"a b\" is not a host name or an "
            "address)" +
                expected);
}

TEST(Errors, RegistrarStoreAndAlgorithms) {
  EXPECT_EQ(load_errors(with_domain("[registrar]\nstore = \"sqlite:\"\n")),
            Errors{"test.toml:2: registrar.store must be \"memory\", \"sqlite:PATH\" or "
                   "\"redis://HOST:PORT\", not \"sqlite:\""});
  EXPECT_EQ(load_errors(with_domain("[registrar]\nalgorithms = [\"MD5\", \"SHA1\", \"MD5\"]\n")),
            (Errors{"test.toml:2: registrar.algorithms[1] \"SHA1\" must be \"SHA-256\", \"MD5\" "
                    "or \"SHA-512-256\"",
                    "test.toml:2: registrar.algorithms[2] \"MD5\" is listed twice"}));
  EXPECT_EQ(load_errors(with_domain("[registrar]\nalgorithms = []\n")),
            Errors{"test.toml:2: registrar.algorithms must list at least one algorithm when "
                   "registrar.auth = true"});
}

TEST(Errors, DuplicateUser) {
  EXPECT_EQ(load_errors(with_domain(R"([[users]]
user = "1001"
password = "one"

[[users]]
user = "1001"
password = "two"
)")),
            Errors{"test.toml:5: duplicate user \"1001\" (first defined at line 1)"});
}

TEST(Errors, BadUsers) {
  EXPECT_EQ(load_errors(with_domain(R"([[users]]
user = "10 01"
password = ""
[[users]]
password = "x"
)")),
            (Errors{"test.toml:2: users[0].user \"10 01\" must be a SIP user name (RFC 3261 "
                    "§25.1 user characters)",
                    "test.toml:3: users[0].password must not be empty",
                    "test.toml:4: missing required key \"users[1].user\""}));
}

TEST(Errors, LogAndLimits) {
  EXPECT_EQ(load_errors(with_domain("[log]\nlevel = \"trace\"\n")),
            Errors{"test.toml:2: log.level must be \"error\", \"warn\", \"info\" or \"debug\", "
                   "not \"trace\""});
  EXPECT_EQ(load_errors(with_domain("[limits]\nring_size = 3000\n")),
            Errors{"test.toml:2: limits.ring_size must be a power of two, not 3000"});
  EXPECT_EQ(load_errors(with_domain("[limits]\ntransaction_table_size = 10\n")),
            Errors{"test.toml:2: limits.transaction_table_size must be 1024..16777216, not 10"});
  const auto sized = load_ok(with_domain("[limits]\ntransaction_table_size = 65536\n"));
  ASSERT_NE(sized, nullptr);
  EXPECT_EQ(sized->limits.transaction_table_size, 65536u);
}

TEST(Errors, EveryErrorIsReportedInLineOrder) {
  const Errors errors = load_errors(R"([registrar]
max_contacts = 0
[dataplane]
workers = 99
[log]
level = 3
)");
  EXPECT_EQ(errors, (Errors{"test.toml: missing required key \"domain.names\"",
                            "test.toml:2: registrar.max_contacts must be 1..1024, not 0",
                            "test.toml:4: dataplane.workers must be 1..64, not 99",
                            "test.toml:6: log.level must be a string, not an integer"}));
}

TEST(Values, NatPingInterval) {
  const auto config = load_ok(with_domain("[registrar]\nnat_ping_interval = 30\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->registrar.nat_ping_interval_s, 30u);
  EXPECT_EQ(config->registrar.nat_ping, RegistrarConfig::NatPing::Crlf);
  EXPECT_EQ(config->registrar.nat_ping_timeout_s, 0u);
  const auto options = load_ok(with_domain(
      "[registrar]\nnat_ping_interval = 20\nnat_ping = \"options\"\nnat_ping_timeout = 120\n"));
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options->registrar.nat_ping, RegistrarConfig::NatPing::Options);
  EXPECT_EQ(options->registrar.nat_ping_timeout_s, 120u);
  EXPECT_EQ(load_errors(with_domain("[registrar]\nnat_ping_interval = 3601\n")),
            Errors{"test.toml:2: registrar.nat_ping_interval must be 0..3600, not 3601"});
  EXPECT_EQ(load_errors(with_domain("[registrar]\nnat_ping_interval = 20\nnat_ping = \"sip\"\n")),
            Errors{"test.toml:3: registrar.nat_ping must be \"crlf\" or \"options\", not \"sip\""});
  EXPECT_EQ(load_errors(with_domain("[registrar]\nnat_ping = \"options\"\n")),
            Errors{"test.toml:2: registrar.nat_ping needs nat_ping_interval"});
  EXPECT_EQ(
      load_errors(with_domain("[registrar]\nnat_ping_interval = 20\nnat_ping_timeout = 60\n")),
      Errors{"test.toml:3: registrar.nat_ping_timeout needs nat_ping_interval and nat_ping "
             "= \"options\" (a CRLF gets no answer)"});
  EXPECT_EQ(load_errors(with_domain("[registrar]\nnat_ping_interval = 20\nnat_ping = "
                                    "\"options\"\nnat_ping_timeout = 10\n")),
            Errors{"test.toml:4: registrar.nat_ping_timeout must be 0 or at least "
                   "nat_ping_interval (20)"});
}

// ---- addresses -------------------------------------------------------------------------

TEST(Address, LoopbackAndPrefixes) {
  EXPECT_TRUE(ipv4(127, 255, 0, 1).is_loopback());
  EXPECT_FALSE(ipv4(128, 0, 0, 1).is_loopback());
  EXPECT_TRUE(ipv6_loopback().is_loopback());
  EXPECT_FALSE(parse_ip_address("::")->is_loopback());
  EXPECT_TRUE(parse_ip_address("::")->is_unspecified());
  EXPECT_TRUE(ipv4(0, 0, 0, 0).is_unspecified());
  EXPECT_FALSE(parse_ip_address("01.2.3.4").has_value());
  const IpPrefix subnet = *parse_ip_prefix("10.99.0.1/23");
  EXPECT_TRUE(subnet.contains(ipv4(10, 99, 1, 200)));
  EXPECT_FALSE(subnet.contains(ipv4(10, 99, 2, 1)));
  EXPECT_FALSE(parse_ip_prefix("10.99.0.1/33").has_value());
  EXPECT_EQ(parse_ip_prefix("2001:db8::1/128")->length, 128);
}

}  // namespace
}  // namespace sipline::config

// Per-source limits (dataplane/source_guard.hpp): token buckets, the failed-authentication
// tracker, the block list, eviction when full, IPv6 keys, trusted prefixes, and the
// [source_limits] config section.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/source_guard.hpp"

namespace sipline::dataplane {
namespace {

PeerAddress peer(const char* text) {
  const std::optional<PeerAddress> address = peer_from_text(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(PeerAddress{});
}

SourceKey key(const char* text) {
  return source_key(peer(text));
}

constexpr std::string_view kRequest = "OPTIONS sip:x@192.0.2.1 SIP/2.0\r\n\r\n";
constexpr std::string_view kResponse = "SIP/2.0 200 OK\r\n\r\n";

TEST(RateLimiter, ANewSourceGetsTheBurstThenNothingUntilRefilled) {
  RateLimiter limiter(/*per_second=*/10, /*burst=*/5, /*capacity=*/64, /*seed=*/1);
  const SourceKey source = key("192.0.2.7:5060");
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(limiter.allow(source, 1000)) << i;
  EXPECT_FALSE(limiter.allow(source, 1000));
  EXPECT_FALSE(limiter.allow(source, 1099));  // 10/s: a token every 100 ms
  EXPECT_TRUE(limiter.allow(source, 1100));
  EXPECT_FALSE(limiter.allow(source, 1100));
}

TEST(RateLimiter, RefillStopsAtTheBurst) {
  RateLimiter limiter(10, 5, 64, 1);
  const SourceKey source = key("192.0.2.7:5060");
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.allow(source, 0));
  // An hour idle refills 5 tokens, not 36,000.
  int passed = 0;
  for (int i = 0; i < 20; ++i)
    passed += limiter.allow(source, 3'600'000) ? 1 : 0;
  EXPECT_EQ(passed, 5);
}

TEST(RateLimiter, SustainedRateIsTheConfiguredOne) {
  RateLimiter limiter(50, 10, 64, 1);
  const SourceKey source = key("192.0.2.7:5060");
  int passed = 0;
  // 10 seconds of one request a millisecond (1,000/s offered).
  for (std::int64_t ms = 0; ms < 10'000; ++ms)
    passed += limiter.allow(source, ms) ? 1 : 0;
  EXPECT_GE(passed, 500);
  EXPECT_LE(passed, 510 + 1);  // 50/s for 10 s plus the initial burst
}

TEST(RateLimiter, SourcesHaveTheirOwnBuckets) {
  RateLimiter limiter(1, 1, 64, 1);
  EXPECT_TRUE(limiter.allow(key("192.0.2.1:5060"), 0));
  EXPECT_FALSE(limiter.allow(key("192.0.2.1:5070"), 0));  // same address, other port
  EXPECT_TRUE(limiter.allow(key("192.0.2.2:5060"), 0));
}

TEST(SourceTable, AFullTableEvictsTheLeastRecentlySeenAndCountsIt) {
  struct Entry {
    SourceKey key;
    bool used = false;
    std::int64_t last_seen = 0;
  };
  // One probe window is the whole table: the eviction choice is exact.
  SourceTable<Entry> table(kSourceProbe, 42);
  std::vector<SourceKey> keys;
  for (int i = 0; i < static_cast<int>(kSourceProbe) + 1; ++i) {
    keys.push_back(key(("198.51.100." + std::to_string(i + 1) + ":5060").c_str()));
  }
  bool fresh = false;
  for (std::size_t i = 0; i < kSourceProbe; ++i) {
    table.find_or_insert(keys[i], static_cast<std::int64_t>(10 + i), fresh);
    EXPECT_TRUE(fresh);
  }
  EXPECT_EQ(table.evictions(), 0u);
  EXPECT_EQ(table.size(), kSourceProbe);
  table.find_or_insert(keys[kSourceProbe], 100, fresh);
  EXPECT_TRUE(fresh);
  EXPECT_EQ(table.evictions(), 1u);
  EXPECT_EQ(table.find(keys[0]), nullptr);  // seen at 10: the oldest
  for (std::size_t i = 1; i <= kSourceProbe; ++i)
    EXPECT_NE(table.find(keys[i]), nullptr) << i;
}

TEST(RateLimiter, ManyMoreSourcesThanSlotsOnlyEvict) {
  RateLimiter limiter(1, 1, 64, 7);
  for (int i = 0; i < 5000; ++i) {
    const std::string text =
        "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1:5060";
    EXPECT_TRUE(limiter.allow(key(text.c_str()), i)) << text;  // each new: a full bucket
  }
  EXPECT_GE(limiter.evictions(), 5000u - 64u);
}

TEST(SourceKey, Ipv6AddressesAreKeysOfTheirOwn) {
  const SourceKey a = key("[2001:db8::1]:5060");
  const SourceKey b = key("[2001:db8::2]:5060");
  const SourceKey b_other_port = key("[2001:db8::2]:6000");
  EXPECT_NE(a, b);
  EXPECT_EQ(b, b_other_port);
  // IPv4 192.0.2.1 is ::ffff:192.0.2.1, not ::192.0.2.1.
  EXPECT_EQ(key("192.0.2.1:5060"), key("[::ffff:192.0.2.1]:5060"));
  EXPECT_NE(key("192.0.2.1:5060"), key("[::192.0.2.1]:5060"));
  EXPECT_EQ(source_text(a), "2001:db8::1");
  EXPECT_EQ(source_text(key("192.0.2.1:5060")), "192.0.2.1");

  RateLimiter limiter(1, 1, 64, 1);
  EXPECT_TRUE(limiter.allow(a, 0));
  EXPECT_FALSE(limiter.allow(a, 0));
  EXPECT_TRUE(limiter.allow(b, 0));
}

TEST(FailedAuthTracker, TheLimitWithinTheWindowBlocks) {
  FailedAuthTracker tracker(/*limit=*/3, /*window_s=*/60, 64, 1);
  const SourceKey source = key("203.0.113.9:5060");
  EXPECT_FALSE(tracker.record_failure(source, 1000));
  EXPECT_FALSE(tracker.record_failure(source, 1010));
  EXPECT_TRUE(tracker.record_failure(source, 1020));
  // Counting starts again after a block.
  EXPECT_FALSE(tracker.record_failure(source, 1021));
}

TEST(FailedAuthTracker, FailuresSpreadBeyondTheWindowDoNotBlock) {
  FailedAuthTracker tracker(3, 60, 64, 1);
  const SourceKey source = key("203.0.113.9:5060");
  // A phone with a wrong password retrying every 30 s: two failures per window at most.
  for (std::int64_t t = 0; t < 3600; t += 30)
    EXPECT_FALSE(tracker.record_failure(source, t)) << t;
}

TEST(FailedAuthTracker, ZeroLimitIsOff) {
  FailedAuthTracker tracker(0, 60, 64, 1);
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(tracker.record_failure(key("203.0.113.9:5060"), 0));
}

// No source trusted (the trusted set is the caller's: the configuration's, in the pipeline
// context).
const TrustedSources& no_trust() {
  static const TrustedSources none{std::span<const lb::IpPrefix>()};
  return none;
}

SourceLimits limits(std::uint32_t rate, std::uint32_t burst, std::uint32_t failures,
                    std::uint32_t block_s) {
  SourceLimits result;
  result.requests_per_second = rate;
  result.burst = burst;
  result.failed_auth_limit = failures;
  result.failed_auth_window_s = 60;
  result.failed_auth_block_s = block_s;
  result.table_size = 1024;
  return result;
}

TEST(SourceGuard, BlockedAfterTheLimitAndUnblockedAfterTheBlockTime) {
  SourceGuard guard(limits(0, 1, 3, 600), 1);
  SourceAdmission admission(guard, 0);
  const PeerAddress attacker = peer("203.0.113.9:5099");
  const PeerAddress user = peer("198.51.100.1:5060");
  const std::int64_t t0 = 1'700'000'000;
  guard.record_auth_failure(source_key(attacker), t0, no_trust());
  guard.record_auth_failure(source_key(attacker), t0 + 1, no_trust());
  EXPECT_EQ(admission.admit(kRequest, attacker, t0 + 1, 0, no_trust()), SourceVerdict::Pass);
  guard.record_auth_failure(source_key(attacker), t0 + 2, no_trust());
  EXPECT_EQ(guard.control_counters().blocks.read(), 1u);
  EXPECT_EQ(guard.control_counters().auth_failures.read(), 3u);
  // Every request from any port of that address is dropped; others pass.
  EXPECT_EQ(admission.admit(kRequest, attacker, t0 + 2, 0, no_trust()), SourceVerdict::Blocked);
  EXPECT_EQ(admission.admit(kRequest, peer("203.0.113.9:40000"), t0 + 599, 0, no_trust()),
            SourceVerdict::Blocked);
  EXPECT_EQ(admission.admit(kRequest, user, t0 + 2, 0, no_trust()), SourceVerdict::Pass);
  // Responses are never refused.
  EXPECT_EQ(admission.admit(kResponse, attacker, t0 + 2, 0, no_trust()), SourceVerdict::Pass);
  // The block lasts failed_auth_block seconds.
  EXPECT_EQ(admission.admit(kRequest, attacker, t0 + 2 + 599, 0, no_trust()),
            SourceVerdict::Blocked);
  EXPECT_EQ(admission.admit(kRequest, attacker, t0 + 2 + 600, 0, no_trust()), SourceVerdict::Pass);
  EXPECT_NE(guard.counters_text().find(" blocks=1 "), std::string::npos) << guard.counters_text();
}

TEST(SourceGuard, WorkerReportsReachTheControlThreadsTracker) {
  SourceGuard guard(limits(0, 1, 4, 60), 2);
  const PeerAddress attacker = peer("[2001:db8::66]:5060");
  // Failures seen by two different workers add up to one total.
  guard.report_auth_failure(0, attacker, no_trust());
  guard.report_auth_failure(1, attacker, no_trust());
  guard.report_auth_failure(0, attacker, no_trust());
  EXPECT_TRUE(guard.reports_pending());
  EXPECT_EQ(guard.drain_reports(100, no_trust()), 3u);
  EXPECT_FALSE(guard.block_list().blocked(source_key(attacker), 100));
  guard.report_auth_failure(1, attacker, no_trust());
  EXPECT_EQ(guard.drain_reports(101, no_trust()), 1u);
  EXPECT_FALSE(guard.reports_pending());
  EXPECT_TRUE(guard.block_list().blocked(source_key(attacker), 101));
  EXPECT_FALSE(guard.block_list().blocked(key("[2001:db8::67]:5060"), 101));
  EXPECT_EQ(guard.worker_counters(0).auth_failures_reported.read(), 2u);
}

TEST(SourceGuard, AFullReportRingLosesReportsAndCountsThem) {
  SourceGuard guard(limits(0, 1, 1'000'000, 60), 1);
  const PeerAddress attacker = peer("203.0.113.9:5060");
  for (std::size_t i = 0; i < AuthFailureRing::kCapacity + 10; ++i)
    guard.report_auth_failure(0, attacker, no_trust());
  EXPECT_EQ(guard.worker_counters(0).auth_reports_lost.read(), 10u);
  EXPECT_EQ(guard.drain_reports(0, no_trust()), AuthFailureRing::kCapacity);
}

TEST(SourceGuard, RequestsOverTheRateAreRefusedResponsesAreNot) {
  SourceGuard guard(limits(10, 3, 0, 60), 1);
  SourceAdmission admission(guard, 0);
  const PeerAddress scanner = peer("203.0.113.9:5060");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(admission.admit(kRequest, scanner, 0, 0, no_trust()), SourceVerdict::Pass);
  EXPECT_EQ(admission.admit(kRequest, scanner, 0, 0, no_trust()), SourceVerdict::RateLimited);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(admission.admit(kResponse, scanner, 0, 0, no_trust()), SourceVerdict::Pass);
  EXPECT_EQ(admission.admit(kRequest, scanner, 0, 100, no_trust()), SourceVerdict::Pass);
}

TEST(SourceGuard, TrustedPrefixesAreExemptFromBothLimits) {
  SourceLimits settings = limits(1, 1, 2, 600);
  settings.trusted.push_back(*lb::parse_ip_prefix("10.0.0.0/8"));
  settings.trusted.push_back(*lb::parse_ip_prefix("2001:db8::/32"));
  SourceGuard guard(settings, 1);
  const TrustedSources trusted(settings.trusted);
  SourceAdmission admission(guard, 0);
  for (const char* text : {"10.1.2.3:5060", "[2001:db8:ffff::1]:5060"}) {
    const PeerAddress trunk = peer(text);
    for (int i = 0; i < 1000; ++i)
      ASSERT_EQ(admission.admit(kRequest, trunk, 0, 0, trusted), SourceVerdict::Pass) << text;
    for (int i = 0; i < 10; ++i)
      guard.record_auth_failure(source_key(trunk), 0, trusted);
    guard.report_auth_failure(0, trunk, trusted);
    EXPECT_EQ(admission.admit(kRequest, trunk, 0, 0, trusted), SourceVerdict::Pass) << text;
  }
  EXPECT_EQ(guard.control_counters().blocks.read(), 0u);
  // Just outside the prefixes: limited.
  for (const char* text : {"11.0.0.1:5060", "[2001:db9::1]:5060"}) {
    const PeerAddress other = peer(text);
    EXPECT_EQ(admission.admit(kRequest, other, 0, 0, trusted), SourceVerdict::Pass) << text;
    EXPECT_EQ(admission.admit(kRequest, other, 0, 0, trusted), SourceVerdict::RateLimited) << text;
  }
}

TEST(BlockList, AFullProbeWindowEvictsTheBlockThatEndsFirst) {
  BlockList blocks(4, 3);  // four slots: one probe window
  for (int i = 0; i < 4; ++i) {
    const std::string text = "203.0.113." + std::to_string(i + 1) + ":5060";
    EXPECT_TRUE(blocks.block(key(text.c_str()), 0, 100 + i));
  }
  EXPECT_FALSE(blocks.block(key("203.0.113.50:5060"), 0, 500));
  EXPECT_EQ(blocks.evictions(), 1u);
  EXPECT_FALSE(blocks.blocked(key("203.0.113.1:5060"), 10));  // ended first: evicted
  EXPECT_TRUE(blocks.blocked(key("203.0.113.2:5060"), 10));
  EXPECT_TRUE(blocks.blocked(key("203.0.113.50:5060"), 10));
  // Expired slots are reused without an eviction.
  EXPECT_TRUE(blocks.block(key("203.0.113.60:5060"), 200, 900));
  EXPECT_EQ(blocks.evictions(), 1u);
}

// ---- [source_limits] in the config ---------------------------------------------------------

constexpr const char* kBase = R"toml([domain]
names = ["sipline.test"]
[[routes]]
name = "trunk"
action = "forward"
target = "sip:192.0.2.50:5060"
[[routes]]
name = "pool6"
action = "forward"
target = "sip:[2001:db8::5]:5070"
)toml";

TEST(SourceLimitsConfig, DefaultsAndForwardTargetsAreTrusted) {
  const config::LoadResult loaded = config::load_config_text(kBase, "t.toml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0]);
  const SourceLimits settings = source_limits_from(*loaded.config);
  EXPECT_EQ(settings.requests_per_second, 50u);
  EXPECT_EQ(settings.burst, 200u);
  EXPECT_EQ(settings.failed_auth_limit, 10u);
  EXPECT_EQ(settings.failed_auth_window_s, 60u);
  EXPECT_EQ(settings.failed_auth_block_s, 600u);
  const TrustedSources trusted(settings.trusted);
  EXPECT_TRUE(trusted.contains(key("192.0.2.50:9999")));
  EXPECT_TRUE(trusted.contains(key("[2001:db8::5]:1")));
  EXPECT_FALSE(trusted.contains(key("192.0.2.51:5060")));
}

TEST(SourceLimitsConfig, KeysAreReadAndValidatedWithTheirLine) {
  std::string text = std::string(kBase) + R"toml([source_limits]
requests_per_second = 0
burst = 10
failed_auth_limit = 5
failed_auth_window = 30
failed_auth_block = 120
table_size = 1024
trusted_sources = ["10.0.0.0/8", "198.51.100.7", "2001:db8:1::/48"]
)toml";
  const config::LoadResult loaded = config::load_config_text(text, "t.toml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0]);
  const SourceLimits settings = source_limits_from(*loaded.config);
  EXPECT_FALSE(settings.rate_limited());
  EXPECT_EQ(settings.failed_auth_limit, 5u);
  EXPECT_EQ(settings.failed_auth_block_s, 120u);
  EXPECT_EQ(settings.table_size, 1024u);
  const TrustedSources trusted(settings.trusted);
  EXPECT_TRUE(trusted.contains(key("10.200.0.1:5060")));
  EXPECT_TRUE(trusted.contains(key("198.51.100.7:5060")));
  EXPECT_FALSE(trusted.contains(key("198.51.100.8:5060")));
  EXPECT_TRUE(trusted.contains(key("[2001:db8:1:ffff::1]:5060")));

  const std::string bad = std::string(kBase) + R"toml([source_limits]
table_size = 1000
burst = 0
trusted_sources = ["10.0.0.0/33", "example.com"]
failed_auth_window = "60"
frobnicate = 1
)toml";
  const config::LoadResult refused = config::load_config_text(bad, "t.toml");
  ASSERT_FALSE(refused.ok());
  std::string all;
  for (const std::string& error : refused.errors)
    all += error + "\n";
  EXPECT_NE(all.find("t.toml:12: source_limits.table_size must be a power of two"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("t.toml:13:"), std::string::npos) << all;  // burst out of range
  EXPECT_NE(all.find("t.toml:14: source_limits.trusted_sources[0] \"10.0.0.0/33\""),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("source_limits.trusted_sources[1] \"example.com\""), std::string::npos) << all;
  EXPECT_NE(all.find("t.toml:15:"), std::string::npos) << all;  // wrong type
  EXPECT_NE(all.find("frobnicate"), std::string::npos) << all;
}

TEST(SourceLimitsConfig, TheShippedConfigIsValid) {
  const config::LoadResult loaded =
      config::load_config_file(std::string(SIPLINE_CORPUS_DIR) + "/../../config/sipline.toml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0]);
  EXPECT_GT(source_limits_from(*loaded.config).requests_per_second, 0u);
}

// The servers sipline sends to are exempt from the per-source limits: forward targets, pool
// members, and a trunk's registrar and its outbound proxy (the carrier's SBC, which also sends
// the trunk's calls).
TEST(SourceGuard, ServerPrefixesAreEveryConfiguredNextHop) {
  const config::LoadResult loaded = config::load_config_text(
      "[listen]\nudp = [\"192.0.2.1:5060\"]\n[domain]\nnames = [\"example.test\"]\n"
      "[[pools]]\nname = \"pbx\"\nmembers = [\"sip:10.0.0.1\"]\n"
      "[[routes]]\nname = \"out\"\naction = \"forward\"\ntarget = \"sip:10.0.0.2\"\n"
      "[[trunk_registrations]]\nname = \"carrier\"\nregistrar = \"sip:192.0.2.50\"\n"
      "outbound_proxy = \"sip:198.51.100.9\"\nuser = \"1\"\npassword = \"p\"\n",
      "test.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  std::vector<std::string> prefixes;
  for (const lb::IpPrefix& prefix : server_prefixes(*loaded.config))
    prefixes.push_back(prefix.to_string());
  EXPECT_EQ(prefixes, (std::vector<std::string>{"10.0.0.2/32", "10.0.0.1/32", "192.0.2.50/32",
                                                "198.51.100.9/32"}));
}

}  // namespace
}  // namespace sipline::dataplane

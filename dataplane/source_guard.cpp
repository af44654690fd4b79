#include "dataplane/source_guard.hpp"

#include <arpa/inet.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "config/config.hpp"
#include "dataplane/log.hpp"
#include "dataplane/waker.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::uint32_t kBlockLogsPerMinute = 20;
constexpr std::int64_t kRateLogIntervalS = 60;

std::uint64_t load_word(const std::uint8_t* bytes) {
  std::uint64_t word;
  std::memcpy(&word, bytes, sizeof word);
  return word;
}

SourceKey key_from_bytes(const std::uint8_t* bytes16) {
  return SourceKey{{load_word(bytes16), load_word(bytes16 + 8)}};
}

SourceKey ipv4_key(const std::uint8_t* bytes4) {
  std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  std::memcpy(mapped.data() + 12, bytes4, 4);
  return key_from_bytes(mapped.data());
}

bool is_ipv4_mapped(const SourceKey& key) {
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), key.words.data(), 16);
  static constexpr std::array<std::uint8_t, 12> kPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  return std::equal(kPrefix.begin(), kPrefix.end(), bytes.begin());
}

std::uint64_t mix(std::uint64_t value) {
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1) {
    std::fprintf(stderr, "sipline: error: no randomness from OpenSSL\n");
    std::abort();
  }
  return seed;
}

}  // namespace

SourceKey source_key(const PeerAddress& address) {
  return source_key(address.endpoint().address);
}

SourceKey source_key(const lb::IpAddress& address) {
  if (address.family == lb::AddressFamily::Ipv4) return ipv4_key(address.bytes.data());
  return key_from_bytes(address.bytes.data());
}

std::string source_text(const SourceKey& key) {
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), key.words.data(), 16);
  char text[INET6_ADDRSTRLEN] = {};
  if (is_ipv4_mapped(key)) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

SourceLimits source_limits_from(const config::Config& config) {
  const config::SourceLimitsConfig& section = config.source_limits;
  SourceLimits limits;
  limits.requests_per_second = section.requests_per_second;
  limits.burst = section.burst;
  limits.failed_auth_limit = section.failed_auth_limit;
  limits.failed_auth_window_s = section.failed_auth_window;
  limits.failed_auth_block_s = section.failed_auth_block;
  limits.table_size = section.table_size;
  limits.trusted = section.trusted_sources;
  // A forward target is a trunk or a server: its traffic is everybody's traffic.
  const std::vector<lb::IpPrefix> servers = server_prefixes(config);
  limits.trusted.insert(limits.trusted.end(), servers.begin(), servers.end());
  return limits;
}

std::vector<lb::IpPrefix> server_prefixes(const config::Config& config) {
  std::vector<lb::IpPrefix> prefixes;
  const auto add = [&prefixes](const lb::IpAddress& address) {
    const auto length =
        static_cast<std::uint8_t>(address.family == lb::AddressFamily::Ipv4 ? 32 : 128);
    prefixes.push_back(lb::IpPrefix{address, length});
  };
  for (const config::Route& route : config.routes) {
    if (route.forward) add(route.forward->next_hop.address);
    if (route.fork.fallback) add(route.fork.fallback->target.next_hop.address);
  }
  for (const lb::PoolSpec& pool : config.pools) {
    for (const lb::PoolMember& member : pool.members)
      add(member.address.address);
  }
  // A carrier's registrar is its SBC, which also sends us the trunk's calls.
  for (const config::TrunkRegistration& trunk : config.trunk_registrations) {
    add(trunk.registrar.next_hop.address);
    if (trunk.outbound_proxy) add(trunk.outbound_proxy->next_hop.address);
  }
  return prefixes;
}

// ---- TrustedSources ------------------------------------------------------------------------

TrustedSources::TrustedSources(std::span<const lb::IpPrefix> prefixes) {
  for (const lb::IpPrefix& prefix : prefixes) {
    // Work on the mapped form: an IPv4 /n is an IPv6 /(96 + n) of ::ffff:0:0/96.
    const unsigned length =
        prefix.address.family == lb::AddressFamily::Ipv4 ? 96u + prefix.length : prefix.length;
    std::array<std::uint8_t, 16> mask{};
    for (unsigned bit = 0; bit < length && bit < 128; ++bit)
      mask[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
    Masked masked;
    masked.mask = key_from_bytes(mask.data());
    const SourceKey address = source_key(prefix.address);
    masked.network = SourceKey{
        {address.words[0] & masked.mask.words[0], address.words[1] & masked.mask.words[1]}};
    prefixes_.push_back(masked);
  }
}

bool TrustedSources::contains(const SourceKey& key) const {
  for (const Masked& prefix : prefixes_) {
    if ((key.words[0] & prefix.mask.words[0]) == prefix.network.words[0] &&
        (key.words[1] & prefix.mask.words[1]) == prefix.network.words[1]) {
      return true;
    }
  }
  return false;
}

std::size_t source_slot(const SourceKey& key, std::uint64_t seed) {
  return static_cast<std::size_t>(mix(key.words[0] ^ seed) ^ mix(key.words[1] + seed));
}

// ---- RateLimiter -----------------------------------------------------------------------------

RateLimiter::RateLimiter(std::uint32_t per_second, std::uint32_t burst, std::size_t capacity,
                         std::uint64_t seed)
    : per_second_(per_second),
      capacity_milli_(static_cast<std::uint64_t>(std::max<std::uint32_t>(burst, 1)) * 1000),
      table_(capacity, seed) {}

bool RateLimiter::allow(const SourceKey& key, std::int64_t now_ms) {
  bool fresh = false;
  Entry& entry = table_.find_or_insert(key, now_ms, fresh);
  if (fresh) {
    entry.milli_tokens = capacity_milli_;  // a new source starts with a full burst
  } else if (now_ms > entry.last_seen) {
    // per_second tokens a second = per_second milli-tokens a millisecond.
    const auto elapsed = static_cast<std::uint64_t>(now_ms - entry.last_seen);
    const std::uint64_t refill =
        elapsed >= capacity_milli_ ? capacity_milli_ : elapsed * per_second_;
    entry.milli_tokens = std::min(capacity_milli_, entry.milli_tokens + refill);
    entry.last_seen = now_ms;
  }
  if (entry.milli_tokens < 1000) return false;
  entry.milli_tokens -= 1000;
  return true;
}

// ---- FailedAuthTracker ---------------------------------------------------------------------

FailedAuthTracker::FailedAuthTracker(std::uint32_t limit, std::uint32_t window_s,
                                     std::size_t capacity, std::uint64_t seed)
    : limit_(limit), window_s_(window_s), table_(capacity, seed) {}

bool FailedAuthTracker::record_failure(const SourceKey& key, std::int64_t now) {
  if (limit_ == 0) return false;
  bool fresh = false;
  Entry& entry = table_.find_or_insert(key, now, fresh);
  if (fresh || now - entry.window_start >= window_s_) {
    entry.window_start = now;
    entry.failures = 0;
  }
  entry.last_seen = now;
  if (++entry.failures < limit_) return false;
  entry.failures = 0;
  entry.window_start = now;
  return true;
}

// ---- BlockList -------------------------------------------------------------------------------

BlockList::BlockList(std::size_t capacity, std::uint64_t seed)
    : mask_(capacity - 1), seed_(seed), slots_(std::make_unique<Slot[]>(capacity)) {}

bool BlockList::find_active(const SourceKey& key, std::int64_t now) const {
  const std::size_t start = source_slot(key, seed_);
  for (std::size_t i = 0; i < kProbe; ++i) {
    const Slot& slot = slots_[(start + i) & mask_];
    const std::uint32_t before = slot.sequence.load(std::memory_order_acquire);
    if (before & 1U) continue;  // being written: not blocked for this datagram
    const std::uint64_t word0 = slot.word0.load(std::memory_order_relaxed);
    const std::uint64_t word1 = slot.word1.load(std::memory_order_relaxed);
    const std::int64_t until = slot.until.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) != before) continue;
    if (word0 == key.words[0] && word1 == key.words[1]) return now < until;
  }
  return false;
}

void BlockList::write(Slot& slot, const SourceKey& key, std::int64_t until) {
  // Seqlock, single writer: odd while the fields change.
  const std::uint32_t sequence = slot.sequence.load(std::memory_order_relaxed);
  slot.sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slot.word0.store(key.words[0], std::memory_order_relaxed);
  slot.word1.store(key.words[1], std::memory_order_relaxed);
  slot.until.store(until, std::memory_order_relaxed);
  slot.sequence.store(sequence + 2, std::memory_order_release);
}

bool BlockList::block(const SourceKey& key, std::int64_t now, std::int64_t until) {
  const std::size_t start = source_slot(key, seed_);
  Slot* target = nullptr;
  Slot* soonest = nullptr;
  for (std::size_t i = 0; i < kProbe; ++i) {
    Slot& slot = slots_[(start + i) & mask_];
    const std::int64_t slot_until = slot.until.load(std::memory_order_relaxed);
    const bool same = slot.word0.load(std::memory_order_relaxed) == key.words[0] &&
                      slot.word1.load(std::memory_order_relaxed) == key.words[1];
    if (same && slot_until != 0) {
      target = &slot;
      break;
    }
    if (target == nullptr && slot_until <= now) target = &slot;  // free or expired
    if (soonest == nullptr || slot_until < soonest->until.load(std::memory_order_relaxed)) {
      soonest = &slot;
    }
  }
  bool evicted = false;
  if (target == nullptr) {
    target = soonest;
    evicted = true;
    evictions_.store(evictions_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  write(*target, key, until);
  if (until > latest_until_.load(std::memory_order_relaxed)) {
    latest_until_.store(until, std::memory_order_release);
  }
  return !evicted;
}

// ---- AuthFailureRing ---------------------------------------------------------------------------

bool AuthFailureRing::push(const SourceKey& key) {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail - head_.load(std::memory_order_acquire) >= kCapacity) return false;
  slots_[tail & (kCapacity - 1)] = key;
  tail_.store(tail + 1, std::memory_order_release);
  return true;
}

std::size_t AuthFailureRing::pop(std::span<SourceKey> out) {
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  const std::uint64_t available = tail_.load(std::memory_order_acquire) - head;
  const std::size_t count =
      static_cast<std::size_t>(std::min<std::uint64_t>(available, out.size()));
  for (std::size_t i = 0; i < count; ++i)
    out[i] = slots_[(head + i) & (kCapacity - 1)];
  head_.store(head + count, std::memory_order_release);
  return count;
}

// ---- SourceGuard -----------------------------------------------------------------------------

SourceGuard::SourceGuard(SourceLimits limits, std::size_t workers)
    : limits_(std::move(limits)),
      seed_(random_seed()),
      blocks_(limits_.table_size, seed_ ^ 0x9e3779b97f4a7c15ULL),
      tracker_(limits_.failed_auth_limit, limits_.failed_auth_window_s, limits_.table_size,
               seed_ ^ 0x6a09e667f3bcc909ULL),
      rings_(std::make_unique<AuthFailureRing[]>(workers)),
      worker_counters_(std::make_unique<GuardWorkerCounters[]>(workers)),
      source_evictions_(std::make_unique<PaddedCounter[]>(workers)),
      workers_(workers) {}

void SourceGuard::report_auth_failure(std::size_t worker, const PeerAddress& source,
                                      const TrustedSources& trusted) {
  if (!limits_.auth_limited()) return;
  const SourceKey key = source_key(source);
  if (trusted.contains(key)) return;
  GuardWorkerCounters& counters = worker_counters_[worker];
  if (!rings_[worker].push(key)) {
    counters.auth_reports_lost.add();
    return;
  }
  counters.auth_failures_reported.add();
  if (control_waker_ != nullptr) control_waker_->wake();
}

void SourceGuard::record_auth_failure(const SourceKey& key, std::int64_t now,
                                      const TrustedSources& trusted) {
  if (!limits_.auth_limited() || trusted.contains(key)) return;
  control_counters_.auth_failures.add();
  const std::uint64_t evictions_before = tracker_.evictions();
  const bool reached = tracker_.record_failure(key, now);
  if (tracker_.evictions() != evictions_before) control_counters_.auth_evictions.add();
  if (!reached) return;
  if (!blocks_.block(key, now, now + limits_.failed_auth_block_s)) {
    control_counters_.block_evictions.add();
  }
  control_counters_.blocks.add();
  log_block(key, now);
}

std::size_t SourceGuard::drain_reports(std::int64_t now, const TrustedSources& trusted) {
  std::size_t taken = 0;
  std::array<SourceKey, 32> keys;
  for (std::size_t worker = 0; worker < workers_; ++worker) {
    std::size_t count;
    while ((count = rings_[worker].pop(keys)) > 0) {
      for (std::size_t i = 0; i < count; ++i)
        record_auth_failure(keys[i], now, trusted);
      taken += count;
    }
  }
  return taken;
}

bool SourceGuard::reports_pending() const {
  for (std::size_t worker = 0; worker < workers_; ++worker) {
    if (!rings_[worker].empty_approx()) return true;
  }
  return false;
}

void SourceGuard::log_block(const SourceKey& key, std::int64_t now) {
  // A distributed attack can block thousands of sources: the log gets a bounded share.
  const std::int64_t minute = now / 60;
  if (minute != log_minute_) {
    if (logs_suppressed_ > 0) {
      SIPLINE_LOG_WARN(
          "source limits: %llu more source(s) blocked in the last minute (not "
          "logged one by one)",
          static_cast<unsigned long long>(logs_suppressed_));
    }
    log_minute_ = minute;
    logs_this_minute_ = 0;
    logs_suppressed_ = 0;
  }
  if (logs_this_minute_ >= kBlockLogsPerMinute) {
    ++logs_suppressed_;
    return;
  }
  ++logs_this_minute_;
  SIPLINE_LOG_WARN(
      "source %s blocked for %u s: %u failed authentications within %u s "
      "(requests from it are dropped, counted as drop_blocked_source)",
      source_text(key).c_str(), limits_.failed_auth_block_s, limits_.failed_auth_limit,
      limits_.failed_auth_window_s);
}

std::string SourceGuard::counters_text() const {
  std::uint64_t reported = 0;
  std::uint64_t lost = 0;
  std::uint64_t source_evictions = 0;
  for (std::size_t worker = 0; worker < workers_; ++worker) {
    reported += worker_counters_[worker].auth_failures_reported.read();
    lost += worker_counters_[worker].auth_reports_lost.read();
    source_evictions += source_evictions_[worker].value.read();
  }
  const GuardControlCounters& c = control_counters_;
  char line[512];
  std::snprintf(line, sizeof line,
                "guard: auth_failures=%llu blocks=%llu auth_failures_reported=%llu "
                "auth_reports_lost=%llu source_evictions=%llu auth_evictions=%llu "
                "block_evictions=%llu\n",
                static_cast<unsigned long long>(c.auth_failures.read()),
                static_cast<unsigned long long>(c.blocks.read()),
                static_cast<unsigned long long>(reported), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(source_evictions),
                static_cast<unsigned long long>(c.auth_evictions.read()),
                static_cast<unsigned long long>(c.block_evictions.read()));
  return line;
}

// ---- SourceAdmission ---------------------------------------------------------------------------

SourceAdmission::SourceAdmission(SourceGuard& guard, std::size_t worker)
    : guard_(guard),
      worker_(worker),
      limiter_(guard.limits().requests_per_second, guard.limits().burst,
               guard.limits().rate_limited() ? guard.limits().table_size : 1,
               guard.seed() + worker) {}

SourceVerdict SourceAdmission::admit(std::string_view datagram, const PeerAddress& peer,
                                     std::int64_t now_s, std::int64_t now_ms,
                                     const TrustedSources& trusted) {
  // Responses answer our own requests (RFC 3261 §7.2: they start with the SIP-Version).
  if (datagram.starts_with("SIP/")) return SourceVerdict::Pass;
  const SourceKey key = source_key(peer);
  if (trusted.contains(key)) return SourceVerdict::Pass;
  if (guard_.block_list().blocked(key, now_s)) return SourceVerdict::Blocked;
  if (!guard_.limits().rate_limited()) return SourceVerdict::Pass;
  const bool allowed = limiter_.allow(key, now_ms);
  if (limiter_.evictions() != published_evictions_) {
    guard_.source_evictions(worker_).add(limiter_.evictions() - published_evictions_);
    published_evictions_ = limiter_.evictions();
  }
  if (allowed) return SourceVerdict::Pass;
  if (now_s >= next_log_s_) {
    // The first time, then at most once a minute per worker: a flood must not flood the log.
    next_log_s_ = now_s + kRateLogIntervalS;
    SIPLINE_LOG_WARN(
        "worker %zu: source %s exceeds %u requests/s (burst %u); dropping its "
        "requests (counted as drop_rate_limited, logged at most once a minute)",
        worker_, source_text(key).c_str(), guard_.limits().requests_per_second,
        guard_.limits().burst);
  }
  return SourceVerdict::RateLimited;
}

std::int64_t monotonic_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

}  // namespace sipline::dataplane

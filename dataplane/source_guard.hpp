// Per-source protection against scanners and password guessers (issue #5 §3): the
// `[source_limits]` of the configuration (config/README.md).
//
// Two defences, both keyed by the source IP address (IPv4 and IPv6; the port is ignored, a
// scanner changes it at will):
//
//  1. Request rate. Every receiving worker keeps a token bucket per source (`RateLimiter`):
//     `requests_per_second` tokens a second, at most `burst` saved up. A request that finds
//     the bucket empty is dropped before the Call-ID hand-off and counted
//     (`drop_rate_limited`). Nothing is answered: a 503 would tell a scanner that a SIP
//     server is here (RFC 3261 §21.5.4 allows silence for a request we will not process,
//     and RFC 5390 §7 recommends dropping floods rather than answering them). Responses are
//     never limited: they are the answers to our own requests.
//     SO_REUSEPORT (socket mode) and RSS (DPDK) send one 5-tuple to one worker, so a bucket
//     sees every request of a source port; a source that spreads over many ports can reach
//     several workers, each with its own bucket: the limit is per worker.
//
//  2. Failed authentication. A digest answer with a wrong password or an unknown user
//     (the 403 of sip/digest_auth.hpp) is a failure. `failed_auth_limit` failures from one
//     source within `failed_auth_window` seconds block it for `failed_auth_block` seconds:
//     every request from it is then dropped on the receiving worker (`drop_blocked_source`),
//     and the block is logged once. A success does not clear the count (otherwise one
//     known account would let a guesser go on at limit - 1 guesses per login).
//
// Who counts and who blocks - one tracker, one writer:
//   REGISTER failures are seen by the control thread (RegisterService); proxy-auth failures
//   (407 routes) by the worker that owns the Call-ID. Workers do not count: they post each
//   failure (the source's key, 24 octets) on their own bounded SPSC ring to the control
//   thread (`AuthFailureRing`; full: the report is lost and counted), which runs the only
//   `FailedAuthTracker`. So every failure of a source counts against one total, whichever
//   worker, Call-ID or method it came with, and a guesser cannot multiply its budget by the
//   number of workers. The control thread is then the single writer of the `BlockList`,
//   a fixed table of seqlocked slots that every receiving worker reads without a lock
//   (a reader that meets a slot being written treats it as "not blocked" for that one
//   datagram - the next one sees the block). A worker wakes the control thread after
//   posting (an eventfd write only when it sleeps); the failure rate is itself bounded by
//   the rate limit.
//
// Trusted sources (`trusted_sources` and the IP literal of every `forward` route target: a
// carrier trunk, a SIP server pool) are exempt from both.
//
// Every table is allocated once at start and never grows. A full table evicts the least
// recently seen entry among the slots its probe visits (kProbe of them) and counts the
// eviction (`source_evictions`, `auth_evictions`, `block_evictions`): never a crash, never
// an allocation per packet.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/peer_address.hpp"
#include "dataplane/sizing.hpp"
#include "dataplane/stats.hpp"
#include "lb/address.hpp"

namespace sipline::config {
struct Config;
}

namespace sipline::dataplane {

class Waker;

// A source IP address as 16 octets (IPv4 as ::ffff:a.b.c.d, RFC 4291 §2.5.5.2), in two
// words so that comparing and hashing are a few instructions.
struct SourceKey {
  std::array<std::uint64_t, 2> words{};
  bool operator==(const SourceKey&) const = default;
};

SourceKey source_key(const PeerAddress& address);
SourceKey source_key(const lb::IpAddress& address);
// "192.0.2.1" or "2001:db8::1" (IPv4-mapped keys are written as IPv4), for logs.
std::string source_text(const SourceKey& key);

// The configuration of both defences; 0 turns a defence off.
struct SourceLimits {
  std::uint32_t requests_per_second = 50;
  std::uint32_t burst = 200;
  std::uint32_t failed_auth_limit = 10;
  std::uint32_t failed_auth_window_s = 60;
  std::uint32_t failed_auth_block_s = 600;
  std::uint32_t table_size = 65536;  // sources tracked per table (a power of two)
  std::vector<lb::IpPrefix> trusted;

  bool rate_limited() const { return requests_per_second > 0; }
  bool auth_limited() const { return failed_auth_limit > 0; }
};

// [source_limits] of `config`, with the forward route targets added to `trusted`.
SourceLimits source_limits_from(const config::Config& config);
// The servers the configuration routes to (forward targets, fallbacks, pool members, trunk
// registrars), one host prefix each: trusted by the limits, and the only sources whose
// identity headers (RFC 3325) are passed on.
std::vector<lb::IpPrefix> server_prefixes(const config::Config& config);

// The trusted prefixes, as masks over SourceKey (a few compares each).
class TrustedSources {
 public:
  explicit TrustedSources(std::span<const lb::IpPrefix> prefixes);
  bool contains(const SourceKey& key) const;
  std::size_t size() const { return prefixes_.size(); }

 private:
  struct Masked {
    SourceKey network;
    SourceKey mask;
  };
  std::vector<Masked> prefixes_;
};

// How many slots a lookup visits before it evicts (the least recently seen of them).
inline constexpr std::size_t kSourceProbe = 8;

// Fixed-capacity open-addressing table of per-source entries, for one thread. `Entry` has
// `SourceKey key`, `bool used` and `std::int64_t last_seen` (any clock the owner uses).
template <class Entry>
class SourceTable {
 public:
  SourceTable(std::size_t capacity, std::uint64_t seed)
      : mask_(capacity - 1), seed_(seed), entries_(std::make_unique<Entry[]>(capacity)) {}

  std::size_t capacity() const { return mask_ + 1; }
  std::uint64_t evictions() const { return evictions_; }
  std::size_t size() const { return used_; }

  // The entry of `key`, or nullptr.
  Entry* find(const SourceKey& key) {
    const std::size_t start = slot_of(key);
    for (std::size_t i = 0; i < kSourceProbe; ++i) {
      Entry& entry = entries_[(start + i) & mask_];
      if (entry.used && entry.key == key) return &entry;
    }
    return nullptr;
  }

  // The entry of `key`; a new one (value-initialised, `fresh` set) when there was none,
  // taking a free slot of the probe window or else evicting its least recently seen.
  Entry& find_or_insert(const SourceKey& key, std::int64_t now, bool& fresh) {
    const std::size_t start = slot_of(key);
    Entry* free_slot = nullptr;
    Entry* oldest = nullptr;
    for (std::size_t i = 0; i < kSourceProbe; ++i) {
      Entry& entry = entries_[(start + i) & mask_];
      if (!entry.used) {
        if (free_slot == nullptr) free_slot = &entry;
        continue;
      }
      if (entry.key == key) {
        fresh = false;
        return entry;
      }
      if (oldest == nullptr || entry.last_seen < oldest->last_seen) oldest = &entry;
    }
    Entry* slot = free_slot;
    if (slot == nullptr) {
      slot = oldest;
      ++evictions_;
    } else {
      ++used_;
    }
    *slot = Entry{};
    slot->used = true;
    slot->key = key;
    slot->last_seen = now;
    fresh = true;
    return *slot;
  }

 private:
  std::size_t slot_of(const SourceKey& key) const;

  std::size_t mask_;
  std::uint64_t seed_;  // per boot: a scanner cannot aim its addresses at one probe window
  std::unique_ptr<Entry[]> entries_;
  std::uint64_t evictions_ = 0;
  std::size_t used_ = 0;
};

std::size_t source_slot(const SourceKey& key, std::uint64_t seed);

template <class Entry>
std::size_t SourceTable<Entry>::slot_of(const SourceKey& key) const {
  return source_slot(key, seed_) & mask_;
}

// Token buckets of one receiving worker. Milli-tokens in integers: no floating point.
class RateLimiter {
 public:
  RateLimiter(std::uint32_t per_second, std::uint32_t burst, std::size_t capacity,
              std::uint64_t seed);

  // One request from `key` at `now_ms` (a monotonic millisecond clock): true when it may
  // pass (a token was taken).
  bool allow(const SourceKey& key, std::int64_t now_ms);

  std::uint64_t evictions() const { return table_.evictions(); }

 private:
  struct Entry {
    SourceKey key;
    bool used = false;
    std::int64_t last_seen = 0;  // ms of the last refill
    std::uint64_t milli_tokens = 0;
  };
  std::uint64_t per_second_;
  std::uint64_t capacity_milli_;
  SourceTable<Entry> table_;
};

// The only failed-authentication counter (the control thread's).
class FailedAuthTracker {
 public:
  FailedAuthTracker(std::uint32_t limit, std::uint32_t window_s, std::size_t capacity,
                    std::uint64_t seed);

  // One failure of `key` at `now` (unix seconds); true when it reaches the limit (the
  // count starts again: the caller blocks the source).
  bool record_failure(const SourceKey& key, std::int64_t now);

  std::uint64_t evictions() const { return table_.evictions(); }

 private:
  struct Entry {
    SourceKey key;
    bool used = false;
    std::int64_t last_seen = 0;     // unix s of the last failure
    std::int64_t window_start = 0;  // unix s of the first failure of the window
    std::uint32_t failures = 0;
  };
  std::uint32_t limit_;
  std::int64_t window_s_;
  SourceTable<Entry> table_;
};

// Blocked sources: one writer (the control thread), lock-free readers (the workers).
class BlockList {
 public:
  explicit BlockList(std::size_t capacity, std::uint64_t seed);

  // Writer only. Blocks `key` from `now` until `until` (unix s). False when a still active
  // block had to be evicted to make room (counted in evictions()).
  bool block(const SourceKey& key, std::int64_t now, std::int64_t until);
  // Any thread: is `key` blocked at `now` (unix s)?
  bool blocked(const SourceKey& key, std::int64_t now) const {
    // Almost always nothing is blocked: one load.
    if (now >= latest_until_.load(std::memory_order_acquire)) return false;
    return find_active(key, now);
  }

  std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kProbe = 4;
  struct alignas(32) Slot {
    std::atomic<std::uint32_t> sequence{0};  // odd while being written
    std::atomic<std::uint64_t> word0{0};
    std::atomic<std::uint64_t> word1{0};
    std::atomic<std::int64_t> until{0};  // 0: free
  };
  bool find_active(const SourceKey& key, std::int64_t now) const;
  void write(Slot& slot, const SourceKey& key, std::int64_t until);

  std::size_t mask_;
  std::uint64_t seed_;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<std::int64_t> latest_until_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

// Failures a worker reports to the control thread: bounded single-producer /
// single-consumer ring of keys (fixed slots, no allocation).
class AuthFailureRing {
 public:
  static constexpr std::size_t kCapacity = 256;  // a power of two

  bool push(const SourceKey& key);
  // Consumer: up to out.size() keys; returns how many.
  std::size_t pop(std::span<SourceKey> out);
  bool empty_approx() const {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_relaxed);
  }

 private:
  std::array<SourceKey, kCapacity> slots_{};
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer
};

// What the guard counts besides the drops (which are `drop_rate_limited` and
// `drop_blocked_source` in the workers' lines). Written by one thread each.
struct alignas(kCacheLine) GuardWorkerCounters {
  Counter auth_failures_reported;  // proxy-auth failures posted to the control thread
  Counter auth_reports_lost;       // ... that found the ring full
};

struct GuardControlCounters {
  Counter auth_failures;  // failures counted by the tracker (REGISTER + reported)
  Counter blocks;         // sources blocked
  Counter auth_evictions;
  Counter block_evictions;
};

// Everything the threads share; built by the runtime before any thread starts.
class SourceGuard {
 public:
  SourceGuard(SourceLimits limits, std::size_t workers);

  const SourceLimits& limits() const { return limits_; }
  const BlockList& block_list() const { return blocks_; }
  // Socket mode: the control thread's waker, written after a report (null: it polls).
  void set_control_waker(Waker* waker) { control_waker_ = waker; }

  // The trusted sources are the caller's: those of the configuration it runs with
  // (PipelineContext::trusted_sources, replaced by a reload), never counted or blocked.

  // Worker `worker` (any mode): a proxy-auth failure from `source`.
  void report_auth_failure(std::size_t worker, const PeerAddress& source,
                           const TrustedSources& trusted);

  // Control thread: a REGISTER failure from `source` at `now` (unix s).
  void record_auth_failure(const SourceKey& key, std::int64_t now, const TrustedSources& trusted);
  // Control thread: counts what the workers reported; returns how many it took.
  std::size_t drain_reports(std::int64_t now, const TrustedSources& trusted);
  bool reports_pending() const;

  // "guard: blocks=.. auth_failures=.. ..." and a newline.
  std::string counters_text() const;

  GuardWorkerCounters& worker_counters(std::size_t worker) { return worker_counters_[worker]; }
  const GuardControlCounters& control_counters() const { return control_counters_; }
  std::uint64_t seed() const { return seed_; }

  // Each receiving worker publishes its table's evictions here (one writer each).
  Counter& source_evictions(std::size_t worker) { return source_evictions_[worker].value; }

 private:
  void log_block(const SourceKey& key, std::int64_t now);

  SourceLimits limits_;
  std::uint64_t seed_;
  BlockList blocks_;
  FailedAuthTracker tracker_;  // control thread only
  std::unique_ptr<AuthFailureRing[]> rings_;
  std::unique_ptr<GuardWorkerCounters[]> worker_counters_;
  struct alignas(kCacheLine) PaddedCounter {
    Counter value;
  };
  std::unique_ptr<PaddedCounter[]> source_evictions_;
  std::size_t workers_;
  GuardControlCounters control_counters_;
  Waker* control_waker_ = nullptr;
  // Block log lines: at most kBlockLogsPerMinute a minute, then a count of those left out.
  std::int64_t log_minute_ = 0;
  std::uint32_t logs_this_minute_ = 0;
  std::uint64_t logs_suppressed_ = 0;
};

// The receiving worker's check, before the Call-ID hand-off.
enum class SourceVerdict : std::uint8_t { Pass, RateLimited, Blocked };

class SourceAdmission {
 public:
  SourceAdmission(SourceGuard& guard, std::size_t worker);

  // `datagram` from `peer`; `now_s` unix seconds, `now_ms` a monotonic millisecond clock;
  // `trusted` those of the worker's current configuration.
  SourceVerdict admit(std::string_view datagram, const PeerAddress& peer, std::int64_t now_s,
                      std::int64_t now_ms, const TrustedSources& trusted);

 private:
  SourceGuard& guard_;
  std::size_t worker_;
  RateLimiter limiter_;
  std::int64_t next_log_s_ = 0;
  std::uint64_t published_evictions_ = 0;
};

// A monotonic millisecond clock for the token buckets (CLOCK_MONOTONIC_COARSE: a vDSO read,
// no system call).
std::int64_t monotonic_ms();

}  // namespace sipline::dataplane

// Call limits: concurrent calls ([[routes]] max_calls: a carrier trunk's channels; [[users]]
// max_calls: what one account may place at once, against toll fraud), as Kamailio's dialog
// profiles (get_profile_size) are used for them; and call starts per second ([[routes]]
// max_cps: the carrier's CPS), as Kamailio's pipelimit.
//
// Two parts:
// - CallCounters, shared by every worker: one counter of calls in progress per limited route
//   or user, found by name, so that a reload keeps counting the calls it did not see start.
//   A worker takes a place with a compare-and-swap (only a new INVITE does) and gives it back
//   when the call ends.
// - ActiveCallTable, one per worker: the limited calls whose Call-ID the worker owns (every
//   message of a call reaches its owner, DESIGN.md §3), keyed by a hash of the Call-ID, with
//   the counters they hold and when they are given up if nothing more is seen (RFC 3261
//   Timer B's 64*T1 before any answer, Timer C's 3 minutes after a provisional one,
//   [limits] dialog_timeout once answered).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sipline::dataplane {

inline constexpr std::uint32_t kNoCallCounter = 0xffffffffu;

class CallCounters {
 public:
  static constexpr std::uint32_t kChunkSize = 4096;
  static constexpr std::uint32_t kMaxChunks = 4096;  // 16 M limited names over a process's life

  CallCounters() = default;
  ~CallCounters();
  CallCounters(const CallCounters&) = delete;
  CallCounters& operator=(const CallCounters&) = delete;

  // Control thread (contexts are built there): the counter of `name` ("route:carrier",
  // "user:1001"), the same one for the life of the process; kNoCallCounter when all are taken.
  std::uint32_t counter_for(std::string_view name);

  // Workers: one more call on `counter` if it has fewer than `max`.
  bool try_take(std::uint32_t counter, std::uint32_t max) {
    Counter& c = at(counter);
    std::uint32_t calls = c.calls.load(std::memory_order_relaxed);
    while (calls < max) {
      if (c.calls.compare_exchange_weak(calls, calls + 1, std::memory_order_relaxed)) return true;
    }
    c.refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Workers: one more call started on `counter` within the clock's second `now` if fewer
  // than `max` have started within it (a fixed window, as carriers count calls per second and
  // Kamailio's pipelimit TAILDROP does: its count and its second change together).
  bool try_start(std::uint32_t counter, std::uint32_t max, std::int64_t now) {
    Counter& c = at(counter);
    const auto second = static_cast<std::uint32_t>(now);
    std::uint64_t window = c.window.load(std::memory_order_relaxed);
    for (;;) {
      const bool same_second = static_cast<std::uint32_t>(window >> 32) == second;
      const std::uint32_t started = same_second ? static_cast<std::uint32_t>(window) : 0;
      if (started >= max) {
        c.refused_rate.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      const std::uint64_t next = (std::uint64_t{second} << 32) | (started + 1);
      if (c.window.compare_exchange_weak(window, next, std::memory_order_relaxed)) return true;
    }
  }
  // Workers: one more call on `counter` whatever its limit (an emergency call).
  void take(std::uint32_t counter) { at(counter).calls.fetch_add(1, std::memory_order_relaxed); }
  void give_back(std::uint32_t counter) {
    at(counter).calls.fetch_sub(1, std::memory_order_relaxed);
  }

  std::uint32_t calls(std::uint32_t counter) const {
    return at(counter).calls.load(std::memory_order_relaxed);
  }
  std::uint64_t refused(std::uint32_t counter) const {
    return at(counter).refused.load(std::memory_order_relaxed);
  }
  std::uint64_t refused_rate(std::uint32_t counter) const {
    return at(counter).refused_rate.load(std::memory_order_relaxed);
  }

 private:
  struct Counter {
    std::atomic<std::uint32_t> calls{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> window{0};  // the second (high half), calls started in it
    std::atomic<std::uint64_t> refused_rate{0};
  };
  Counter& at(std::uint32_t counter) const {
    return chunks_[counter / kChunkSize].load(std::memory_order_acquire)[counter % kChunkSize];
  }

  // Chunks are never moved or freed before the counters object: workers index them without
  // a lock while the control thread adds names.
  std::array<std::atomic<Counter*>, kMaxChunks> chunks_{};
  std::unordered_map<std::string, std::uint32_t> names_;  // control thread only
};

// One limited call, as its Call-ID's owner keeps it.
struct ActiveCall {
  // The widest session interval kept (about 194 days): more than any dialog_timeout.
  static constexpr std::uint32_t kMaxSessionInterval = (1u << 24) - 1;

  std::uint64_t key = 0;     // hash of the Call-ID; 0: a free slot
  std::int64_t expires = 0;  // unix seconds
  std::uint32_t route_counter = kNoCallCounter;
  std::uint32_t user_counter = kNoCallCounter;
  // The CSeq of the caller's INVITE, or of its latest refresh (re-INVITE, UPDATE) when it
  // carried the session timer we asked for: a 2xx with it and without Session-Expires gets
  // ours (RFC 4028 §8.2). kNoCSeq: none (no CSeq reaches 2^31, RFC 3261 §8.1.1.5).
  static constexpr std::uint32_t kNoCSeq = 0xffffffffu;
  std::uint32_t timer_answer_cseq = kNoCSeq;
  // RFC 4028: the session interval (seconds) the call's 2xx established, or the one we asked
  // for in its INVITE until then; 0: none, dialog_timeout applies.
  std::uint32_t session_interval : 24 = 0;
  std::uint32_t answered : 1 = 0;
  std::uint32_t timer_requested : 1 = 0;   // we inserted Session-Expires into the INVITE (§8.1)
  std::uint32_t caller_refreshes : 1 = 0;  // the INVITE's Supported lists "timer" (§7.1)

  bool holds_place() const {
    return route_counter != kNoCallCounter || user_counter != kNoCallCounter;
  }
};
static_assert(sizeof(ActiveCall) == 32);

class ActiveCallTable {
 public:
  // A slot is looked for this far from its home at most: a full neighbourhood is "full".
  static constexpr std::size_t kMaxProbe = 64;

  // `capacity`: a power of two. Zeroed pages: resident only as calls use them.
  explicit ActiveCallTable(std::size_t capacity);

  static std::uint64_t key_of(std::string_view call_id);

  ActiveCall* find(std::uint64_t key);
  // A new entry for `key` (not present), or nullptr when its neighbourhood is full.
  ActiveCall* insert(std::uint64_t key);
  // Gives the entry's counters back to `counters` and frees it.
  void end(ActiveCall* call, CallCounters& counters);
  // Ends the calls whose time has passed, looking at one sixteenth of the table per call (a
  // worker calls it once per second). Returns how many ended.
  std::size_t expire(std::int64_t now, CallCounters& counters);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return mask_ + 1; }
  // How many calls hold `counter` (a walk over the whole table: for checks, not the path).
  std::size_t holding(std::uint32_t counter) const;

 private:
  std::size_t home(std::uint64_t key) const { return static_cast<std::size_t>(key) & mask_; }
  // Backward-shift deletion (linear probing without tombstones): entries after the hole
  // move up when that brings them no farther from home.
  void erase_at(std::size_t index);

  struct FreeDeleter {
    void operator()(ActiveCall* calls) const;
  };
  std::unique_ptr<ActiveCall[], FreeDeleter> slots_;
  std::size_t mask_;
  std::size_t size_ = 0;
  std::size_t sweep_ = 0;  // where expire() goes on
};

}  // namespace sipline::dataplane

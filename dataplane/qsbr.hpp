// Quiescent-state-based reclamation (QSBR, the userspace-RCU flavour DPDK's rte_rcu_qsbr
// implements): lets one writer replace data that lock-free readers are using, and free the old
// version only once no reader can still hold a pointer to it.
//
// Readers are the poll-mode workers. Between two calls of quiescent(i) a worker may hold
// pointers it loaded from the shared structure; once per loop iteration (when it holds none)
// it calls quiescent(i), which publishes the global epoch it has observed. The writer unpublishes
// an object first, then retire()s it; the object is tagged with the epoch the writer will
// advance to next, and reclaim() advances the epoch and frees every object whose tag all online
// readers have reached. A reader about to sleep (idle poll loop) calls offline(i) so it does not
// hold reclamation back, and online(i) before touching the structure again.
//
// Readers never block, never take a lock and never allocate: quiescent() is one load and one
// store to the reader's own cache line. Only one thread (the writer, i.e. the control thread)
// may call retire() and reclaim().
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>

namespace sipline::dataplane {

class Qsbr {
 public:
  using Deleter = void (*)(void*);

  // Every reader starts online and "not yet quiescent", so nothing retired is freed before each
  // reader has either passed a quiescent state or gone offline. That is the safe default for a
  // worker that has been created but has not run its first loop iteration yet.
  explicit Qsbr(std::size_t readers) : reader_count_(readers), slots_(new Slot[readers]) {}

  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;

  // Frees everything still retired: the owner guarantees no reader is running any more.
  ~Qsbr() {
    for (const Retired& item : retired_)
      item.deleter(item.object);
  }

  std::size_t reader_count() const noexcept { return reader_count_; }

  // --- reader side (reader `reader` only) ---

  // The reader holds no pointer into the protected structure. Release: everything the reader
  // read before happens-before the writer's free that observes this store.
  void quiescent(std::size_t reader) noexcept {
    slots_[reader].observed.store(epoch_.load(std::memory_order_acquire),
                                  std::memory_order_release);
  }

  // The reader stops taking part (e.g. before sleeping); it must not touch the structure until
  // online().
  void offline(std::size_t reader) noexcept {
    slots_[reader].observed.store(kOffline, std::memory_order_release);
  }

  // The read-modify-write of the epoch orders this reader against the writer's epoch advance in
  // reclaim() (both are RMWs of one atomic, so one reads from the other): either the writer's
  // advance comes first, and this reader then sees every pointer the writer replaced before it,
  // or this RMW comes first, and the writer then sees this reader online and waits for it.
  void online(std::size_t reader) noexcept {
    slots_[reader].observed.store(epoch_.load(std::memory_order_acquire),
                                  std::memory_order_relaxed);
    epoch_.fetch_add(0, std::memory_order_acq_rel);
  }

  // --- writer side (one thread) ---

  // `object` must already be unreachable for readers that start looking now.
  void retire(void* object, Deleter deleter) {
    retired_.push_back({epoch_.load(std::memory_order_relaxed) + 1, object, deleter});
    ++retired_total_;
  }

  // Frees what every reader has moved past; returns how many objects were freed.
  std::size_t reclaim() {
    if (retired_.empty()) return 0;
    if (retired_.back().epoch > epoch_.load(std::memory_order_relaxed)) {
      // Objects retired since the last reclaim: start their grace period now.
      epoch_.fetch_add(1, std::memory_order_acq_rel);
    }
    const std::uint64_t safe = oldest_observed_epoch();
    std::size_t freed = 0;
    while (!retired_.empty() && retired_.front().epoch <= safe) {
      retired_.front().deleter(retired_.front().object);
      retired_.pop_front();
      ++freed;
    }
    freed_total_ += freed;
    return freed;
  }

  std::size_t pending() const noexcept { return retired_.size(); }
  std::uint64_t retired_total() const noexcept { return retired_total_; }
  std::uint64_t freed_total() const noexcept { return freed_total_; }

 private:
  static constexpr std::uint64_t kOffline = std::numeric_limits<std::uint64_t>::max();

  // One cache line per reader, so readers never write to a line another core reads often.
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> observed{0};
  };

  struct Retired {
    std::uint64_t epoch;  // freed once every online reader has observed at least this epoch
    void* object;
    Deleter deleter;
  };

  std::uint64_t oldest_observed_epoch() const noexcept {
    std::uint64_t oldest = kOffline;
    for (std::size_t i = 0; i < reader_count_; ++i) {
      oldest = std::min(oldest, slots_[i].observed.load(std::memory_order_acquire));
    }
    return oldest;
  }

  // Starts at 1 so a reader's initial 0 means "has not passed a quiescent state yet".
  alignas(64) std::atomic<std::uint64_t> epoch_{1};
  std::size_t reader_count_;
  std::unique_ptr<Slot[]> slots_;
  std::deque<Retired> retired_;
  std::uint64_t retired_total_ = 0;
  std::uint64_t freed_total_ = 0;
};

}  // namespace sipline::dataplane

// Waking a consumer that sleeps in poll() when a producer hands it work over a ring.
//
// Socket-mode workers and the control thread sleep when idle (a laptop or CI machine must
// not spin). A producer that enqueues into a sleeping consumer's ring writes its eventfd;
// a consumer that is awake costs the producer one fence and one load, no syscall. The
// sleeping flag and the ring indices form a Dekker pair: the consumer announces sleep, then
// re-checks its rings; the producer publishes its items, then checks the flag; seq_cst fences
// on both sides guarantee at least one of them sees the other, so no wake-up is lost.
#pragma once

#include <atomic>

#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  // The eventfd to poll for POLLIN.
  int fd() const { return fd_; }

  // Consumer, before re-checking its rings and sleeping.
  void announce_sleep() {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // Consumer, after poll() returned (or when the re-check found work): clears the flag and
  // consumes a pending wake-up, if `signalled` says poll() saw one.
  void woke(bool signalled);

  // Producer, after enqueuing.
  void wake() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed) &&
        sleeping_.exchange(false, std::memory_order_acq_rel)) {
      signal();
    }
  }

 private:
  void signal();

  int fd_ = -1;
  alignas(kCacheLine) std::atomic<bool> sleeping_{false};
};

}  // namespace sipline::dataplane

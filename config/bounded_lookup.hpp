// A blocking lookup (getaddrinfo, res_nquery) run on a thread of its own and waited for at
// most a bounded time: a reload runs on the control thread, which must not stall for the
// resolver's own time-outs (glibc: 5 s per attempt and server). A lookup that outlives the
// wait finishes in the background and its result is dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace sipline::config {

// `lookup()`'s result, or a default-constructed Result when it took longer than `timeout`.
template <class Result, class Lookup>
Result bounded_lookup(Lookup lookup, std::chrono::milliseconds timeout) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done_signal;
    bool done = false;
    Result result{};
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, lookup = std::move(lookup)]() mutable {
    Result result = lookup();
    const std::lock_guard lock(shared->mutex);
    shared->result = std::move(result);
    shared->done = true;
    shared->done_signal.notify_one();
  }).detach();
  std::unique_lock lock(shared->mutex);
  if (!shared->done_signal.wait_for(lock, timeout, [&shared] { return shared->done; })) {
    return Result{};
  }
  return std::move(shared->result);
}

}  // namespace sipline::config

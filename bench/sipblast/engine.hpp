// The runtime of sipblast: worker threads, each owning its UDP sockets, its call table, its
// retransmission and timeout timers, its counters and its latency histograms. Nothing is
// shared between workers but a stop flag and the idle clock, so they scale by thread.
//
// Per loop iteration a worker starts the calls that are due (open loop: the schedule is
// t0 + k/rate, whatever the responses do), fires due timers, drains its sockets with
// recvmmsg and answers/advances what arrived, and flushes what it produced with sendmmsg.
// When there is nothing to do it sleeps in epoll until the next call is due, a timer
// expires or a datagram arrives.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/sipblast/options.hpp"
#include "bench/sipblast/stats.hpp"

namespace sipline::sipblast {

class Worker;

struct RunReport {
  Totals totals{};
  std::unique_ptr<LatencySet> latency;
  double elapsed_s = 0;     // start to the last worker's exit
  double generation_s = 0;  // start to the end of call generation (longest worker)
  int threads = 0;
};

class Engine {
 public:
  explicit Engine(const Options& options);
  ~Engine();

  // Opens and binds every socket, then starts the workers. Error text on failure.
  std::string start();
  bool finished() const { return running_.load(std::memory_order_acquire) == 0; }
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  Totals snapshot() const;
  RunReport join();

 private:
  Options options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> running_{0};
  std::atomic<int> generating_{0};                // workers still generating or draining
  std::atomic<std::int64_t> last_traffic_ns_{0};  // for --idle-exit, across workers
  std::int64_t started_ns_ = 0;
};

std::int64_t monotonic_ns();

}  // namespace sipline::sipblast

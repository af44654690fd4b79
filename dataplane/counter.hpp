// A counter with one writer (DESIGN.md §3 "per-core state is owned, not shared"): the lcore or
// worker that owns it increments it with a relaxed load and store (no locked read-modify-write
// instruction), and the control thread reads it with a relaxed load whenever it reports.
#pragma once

#include <atomic>
#include <cstdint>

namespace sipline::dataplane {

class Counter {
 public:
  void add(std::uint64_t amount = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::uint64_t read() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace sipline::dataplane

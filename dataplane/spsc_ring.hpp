// A bounded lock-free single-producer / single-consumer ring of pointers, with burst
// enqueue and dequeue (DESIGN.md §1 step 3, §3 "batch everything").
//
// One thread only enqueues, one thread only dequeues. The producer owns `tail_`, the
// consumer owns `head_`; each lives on its own cache line together with the owner's cached
// copy of the other index, so the two threads only share a line when the cached copy is
// stale (a full or empty ring). Indices grow without wrapping (64-bit: centuries at any
// packet rate) and are masked into the slot array, so every slot is usable.
//
// The acquire/release pairs publish the slot contents: the producer writes the slots, then
// release-stores the tail; the consumer acquire-loads the tail, reads the slots, then
// release-stores the head, which the producer acquire-loads before reusing those slots.
//
// A ring never counts its own drops: the caller knows why an enqueue fell short and counts
// it under that reason.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>

#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

template <class T>
class SpscRing {
 public:
  // `capacity` must be a power of two of at least 2 (a programming error otherwise: sizes
  // come from constants and from config, which validates them).
  explicit SpscRing(std::size_t capacity)
      : mask_(capacity - 1), slots_(std::make_unique<T*[]>(capacity)) {
    if (capacity < 2 || !std::has_single_bit(capacity)) {
      std::fprintf(stderr, "SpscRing: capacity %zu is not a power of two >= 2\n", capacity);
      std::abort();
    }
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  std::size_t capacity() const { return mask_ + 1; }

  // Producer: appends as many of `items` as fit, in order; returns how many.
  std::size_t enqueue_burst(std::span<T* const> items) {
    const std::uint64_t tail = producer_.tail.load(std::memory_order_relaxed);
    std::size_t free_slots = capacity() - static_cast<std::size_t>(tail - producer_.cached_head);
    if (free_slots < items.size()) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      free_slots = capacity() - static_cast<std::size_t>(tail - producer_.cached_head);
    }
    const std::size_t count = std::min(free_slots, items.size());
    for (std::size_t i = 0; i < count; ++i)
      slots_[(tail + i) & mask_] = items[i];
    producer_.tail.store(tail + count, std::memory_order_release);
    return count;
  }

  std::size_t enqueue(T* item) { return enqueue_burst(std::span<T* const>(&item, 1)); }

  // Consumer: takes up to out.size() items, oldest first; returns how many.
  std::size_t dequeue_burst(std::span<T*> out) {
    const std::uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    std::size_t available = static_cast<std::size_t>(consumer_.cached_tail - head);
    if (available < out.size()) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      available = static_cast<std::size_t>(consumer_.cached_tail - head);
    }
    const std::size_t count = std::min(available, out.size());
    for (std::size_t i = 0; i < count; ++i)
      out[i] = slots_[(head + i) & mask_];
    consumer_.head.store(head + count, std::memory_order_release);
    return count;
  }

  // Either side: a snapshot that may be stale by the time it is used; good for deciding
  // whether to sleep (the wake protocol covers the race) and for statistics.
  std::size_t size_approx() const {
    const std::uint64_t head = consumer_.head.load(std::memory_order_acquire);
    const std::uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    return tail >= head ? static_cast<std::size_t>(tail - head) : 0;
  }
  bool empty_approx() const { return size_approx() == 0; }

 private:
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                "the ring relies on lock-free 64-bit atomics");
  static_assert(sizeof(T*) == sizeof(void*), "the ring carries pointers");

  struct alignas(kCacheLine) ProducerSide {
    std::atomic<std::uint64_t> tail{0};
    std::uint64_t cached_head = 0;
  };
  struct alignas(kCacheLine) ConsumerSide {
    std::atomic<std::uint64_t> head{0};
    std::uint64_t cached_tail = 0;
  };
  static_assert(sizeof(ProducerSide) == kCacheLine && sizeof(ConsumerSide) == kCacheLine,
                "each side fills exactly one cache line");

  ProducerSide producer_;
  ConsumerSide consumer_;
  alignas(kCacheLine) const std::size_t mask_;
  const std::unique_ptr<T*[]> slots_;
};

}  // namespace sipline::dataplane

#include "dataplane/spsc_ring.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <thread>
#include <vector>

namespace sipline::dataplane {
namespace {

// The ring carries pointers; the tests use fake ones made from integers and never
// dereference them (the ring does not either).
using Ring = SpscRing<int>;

int* fake(std::uintptr_t value) {
  return reinterpret_cast<int*>(value);
}
std::uintptr_t value_of(int* pointer) {
  return reinterpret_cast<std::uintptr_t>(pointer);
}

TEST(SpscRing, DequeueOfEmptyRingReturnsZero) {
  Ring ring(8);
  std::array<int*, 4> out{};
  EXPECT_EQ(ring.dequeue_burst(out), 0u);
  EXPECT_EQ(ring.size_approx(), 0u);
  EXPECT_TRUE(ring.empty_approx());
}

TEST(SpscRing, BurstComesOutInOrder) {
  Ring ring(8);
  const std::array<int*, 3> in = {fake(1), fake(2), fake(3)};
  EXPECT_EQ(ring.enqueue_burst(in), 3u);
  EXPECT_EQ(ring.size_approx(), 3u);
  std::array<int*, 8> out{};
  ASSERT_EQ(ring.dequeue_burst(out), 3u);
  EXPECT_EQ(out[0], fake(1));
  EXPECT_EQ(out[1], fake(2));
  EXPECT_EQ(out[2], fake(3));
}

TEST(SpscRing, EveryOneOfItsCapacitySlotsIsUsable) {
  Ring ring(4);
  const std::array<int*, 6> in = {fake(1), fake(2), fake(3), fake(4), fake(5), fake(6)};
  // A full ring accepts what fits and reports it; the caller counts the rest as dropped.
  EXPECT_EQ(ring.enqueue_burst(in), 4u);
  EXPECT_EQ(ring.enqueue(fake(7)), 0u);
  std::array<int*, 2> out{};
  ASSERT_EQ(ring.dequeue_burst(out), 2u);
  EXPECT_EQ(out[0], fake(1));
  EXPECT_EQ(out[1], fake(2));
  // Freed slots are reused once the producer sees the consumer's new head.
  EXPECT_EQ(ring.enqueue_burst(std::span(in).subspan(4)), 2u);
  std::array<int*, 8> rest{};
  ASSERT_EQ(ring.dequeue_burst(rest), 4u);
  EXPECT_EQ(rest[0], fake(3));
  EXPECT_EQ(rest[1], fake(4));
  EXPECT_EQ(rest[2], fake(5));
  EXPECT_EQ(rest[3], fake(6));
}

TEST(SpscRing, WrapsAroundManyTimes) {
  Ring ring(4);
  std::uintptr_t next_in = 1;
  std::uintptr_t next_out = 1;
  for (int round = 0; round < 1000; ++round) {
    std::array<int*, 3> in = {fake(next_in), fake(next_in + 1), fake(next_in + 2)};
    ASSERT_EQ(ring.enqueue_burst(in), 3u);
    next_in += 3;
    std::array<int*, 3> out{};
    ASSERT_EQ(ring.dequeue_burst(out), 3u);
    for (int* item : out)
      ASSERT_EQ(value_of(item), next_out++);
  }
}

TEST(SpscRing, DequeueTakesAtMostTheSpanSize) {
  Ring ring(8);
  const std::array<int*, 5> in = {fake(1), fake(2), fake(3), fake(4), fake(5)};
  ASSERT_EQ(ring.enqueue_burst(in), 5u);
  std::array<int*, 2> out{};
  EXPECT_EQ(ring.dequeue_burst(out), 2u);
  EXPECT_EQ(ring.size_approx(), 3u);
}

TEST(SpscRing, HeadAndTailLiveOnSeparateCacheLines) {
  // Producer state, consumer state and the rest each start a cache line.
  EXPECT_EQ(alignof(Ring), kCacheLine);
  EXPECT_GE(sizeof(Ring), 3 * kCacheLine);
}

TEST(SpscRingDeathTest, RefusesACapacityThatIsNotAPowerOfTwo) {
  EXPECT_DEATH(Ring(6), "not a power of two");
  EXPECT_DEATH(Ring(1), "not a power of two");
}

// Two threads pass 10 million items through a small ring (so it is often full and often
// empty) in bursts; the consumer checks every item arrives exactly once, in order.
TEST(SpscRing, TwoThreadsPassTenMillionItemsInOrder) {
  constexpr std::uintptr_t kItems = 10'000'000;
  Ring ring(1024);
  std::thread producer([&ring] {
    std::array<int*, 32> burst{};
    std::uintptr_t next = 1;
    while (next <= kItems) {
      std::size_t count = 0;
      while (count < burst.size() && next + count <= kItems) {
        burst[count] = fake(next + count);
        ++count;
      }
      const std::size_t accepted = ring.enqueue_burst(std::span(burst.data(), count));
      next += accepted;
      if (accepted == 0) std::this_thread::yield();  // 2-core machines: let the consumer run
    }
  });
  std::uintptr_t expected = 1;
  std::uintptr_t out_of_order = 0;
  std::array<int*, 32> burst{};
  while (expected <= kItems) {
    const std::size_t count = ring.dequeue_burst(burst);
    if (count == 0) std::this_thread::yield();
    for (std::size_t i = 0; i < count; ++i) {
      if (value_of(burst[i]) != expected) ++out_of_order;
      ++expected;
    }
  }
  producer.join();
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(expected, kItems + 1);
  EXPECT_EQ(ring.size_approx(), 0u);
}

}  // namespace
}  // namespace sipline::dataplane

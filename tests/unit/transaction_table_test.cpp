#include "sip/transaction_table.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sipline::sip {
namespace {

using Index = TransactionTable::Index;
constexpr Index kNone = TransactionTable::kNone;
constexpr std::size_t kSlotSize = TransactionTable::kStoredRequestSize;

// Pops every expired entry at `now`, in the order the table gives them.
std::vector<Index> drain(TransactionTable& table, std::int64_t now) {
  std::vector<Index> popped;
  for (Index index = table.pop_expired(now); index != kNone; index = table.pop_expired(now)) {
    popped.push_back(index);
    if (popped.size() > table.capacity()) break;  // a runaway heap: stop, the caller fails
  }
  return popped;
}

// --- insert / find / erase ---------------------------------------------------------------

TEST(TransactionTable, NewTableIsEmpty) {
  TransactionTable table(4, 2);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.capacity(), 4u);
  EXPECT_EQ(table.stored_count(), 0u);
  EXPECT_EQ(table.find(0), kNone);
  EXPECT_EQ(table.find(12345), kNone);
  EXPECT_FALSE(table.next_deadline().has_value());
  EXPECT_EQ(table.pop_expired(1'000'000), kNone);
}

TEST(TransactionTable, InsertFindErase) {
  TransactionTable table(4, 0);
  const std::uint64_t keys[] = {10, 20, 30, 40};
  std::set<Index> indices;
  for (std::size_t i = 0; i < std::size(keys); ++i) {
    const Index index = table.insert(keys[i]);
    ASSERT_NE(index, kNone) << "key " << keys[i];
    ASSERT_LT(index, table.capacity());
    EXPECT_TRUE(indices.insert(index).second) << "index " << index << " handed out twice";
    EXPECT_EQ(table.at(index).key, keys[i]);
    EXPECT_EQ(table.size(), i + 1);
    EXPECT_FALSE(table.empty());
  }
  for (const std::uint64_t key : keys) {
    const Index index = table.find(key);
    ASSERT_NE(index, kNone) << "key " << key;
    EXPECT_EQ(table.at(index).key, key);
  }
  EXPECT_EQ(table.find(50), kNone);

  // Full: refused, and nothing changes.
  EXPECT_EQ(table.insert(50), kNone);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.find(50), kNone);

  const Index erased = table.find(20);
  table.erase(erased);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find(20), kNone);
  EXPECT_NE(table.find(10), kNone);
  EXPECT_NE(table.find(30), kNone);
  EXPECT_NE(table.find(40), kNone);

  // Room again.
  const Index added = table.insert(50);
  ASSERT_NE(added, kNone);
  EXPECT_EQ(added, erased);  // the only free entry
  EXPECT_EQ(table.find(50), added);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.insert(60), kNone);

  // Erase everything.
  for (const std::uint64_t key : {10, 30, 40, 50}) {
    const Index index = table.find(key);
    ASSERT_NE(index, kNone) << "key " << key;
    table.erase(index);
    EXPECT_EQ(table.find(key), kNone) << "key " << key;
  }
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.empty());
  for (const std::uint64_t key : {1, 2, 3, 4})
    EXPECT_NE(table.insert(key), kNone);
  EXPECT_EQ(table.insert(5), kNone);
}

TEST(TransactionTable, ReusedEntryStartsFresh) {
  TransactionTable table(1, 1);
  const Index first = table.insert(7);
  ASSERT_NE(first, kNone);
  TransactionTable::Entry& entry = table.at(first);
  entry.branch = 99;
  entry.tried = 0b101;
  entry.pool = 3;
  entry.member = 2;
  entry.attempt = 2;
  entry.phase = TransactionTable::Phase::Completed;
  entry.may_fail_over = false;
  ASSERT_TRUE(table.store_request(first, "INVITE"));
  table.arm(first, 500);
  table.erase(first);

  const Index second = table.insert(8);
  ASSERT_EQ(second, first);  // capacity 1: the same entry
  const TransactionTable::Entry& fresh = table.at(second);
  EXPECT_EQ(fresh.key, 8u);
  EXPECT_EQ(fresh.branch, 0u);
  EXPECT_EQ(fresh.tried, 0u);
  EXPECT_EQ(fresh.pool, 0u);
  EXPECT_EQ(fresh.member, 0u);
  EXPECT_EQ(fresh.attempt, 0u);
  EXPECT_EQ(fresh.phase, TransactionTable::Phase::Calling);
  EXPECT_TRUE(fresh.may_fail_over);
  EXPECT_TRUE(table.stored_request(second).empty());
  EXPECT_EQ(table.stored_count(), 0u);
  EXPECT_FALSE(table.next_deadline().has_value());
  EXPECT_EQ(table.pop_expired(1'000'000), kNone);
}

// --- colliding keys: backward-shift deletion ----------------------------------------------

// Capacity 8 gives 16 buckets (mask 15): the key's low 4 bits are its home bucket.
class CollidingKeys : public ::testing::Test {
 protected:
  void insert_all(const std::vector<std::uint64_t>& keys) {
    for (const std::uint64_t key : keys) {
      ASSERT_NE(table_.insert(key), kNone) << "key " << key;
      live_.insert(key);
    }
  }
  void erase_key(std::uint64_t key) {
    const Index index = table_.find(key);
    ASSERT_NE(index, kNone) << "key " << key;
    table_.erase(index);
    live_.erase(key);
  }
  // Every live key is found at an entry holding it; the erased ones and the probe keys are not.
  void check(const std::vector<std::uint64_t>& absent) {
    EXPECT_EQ(table_.size(), live_.size());
    std::set<Index> seen;
    for (const std::uint64_t key : live_) {
      const Index index = table_.find(key);
      ASSERT_NE(index, kNone) << "live key " << key << " lost";
      EXPECT_EQ(table_.at(index).key, key);
      EXPECT_TRUE(seen.insert(index).second);
    }
    for (const std::uint64_t key : absent) {
      if (live_.count(key) == 0) {
        EXPECT_EQ(table_.find(key), kNone) << "absent key " << key;
      }
    }
  }

  TransactionTable table_{8, 0};
  std::set<std::uint64_t> live_;
};

TEST_F(CollidingKeys, EraseInTheMiddleOfAProbeRun) {
  // Home 5: buckets 5, 6, 7, 8; then a key of home 6 lands in 9 and one of home 7 in 10, and a
  // key of home 9 in 11.
  const std::vector<std::uint64_t> all = {5, 21, 37, 53, 6, 7, 9, 69, 85, 22, 38};
  insert_all({5, 21, 37, 53, 6, 7, 9});
  check(all);

  erase_key(21);  // the second of the run: 37, 53 and the others must shift back
  check(all);
  erase_key(6);  // a displaced key of another home
  check(all);
  erase_key(5);  // the run's head
  check(all);

  // Refill: new colliding keys go into the holes and are found.
  insert_all({69, 85, 22, 38});
  EXPECT_EQ(table_.size(), 8u);
  EXPECT_EQ(table_.insert(101), kNone);
  check(all);

  for (const std::uint64_t key : {37, 22, 9, 53, 85, 7, 69, 38}) {
    erase_key(key);
    check(all);
  }
  EXPECT_TRUE(table_.empty());
}

TEST_F(CollidingKeys, ProbeRunThatWrapsAround) {
  // Home 15: buckets 15, 0, 1; a key of home 0 then sits in 2 and one of home 1 in 3.
  const std::vector<std::uint64_t> all = {15, 31, 47, 0, 1, 16, 63, 14, 17, 33};
  insert_all({14, 15, 31, 47, 0, 1, 16});
  check(all);

  erase_key(15);  // 31 and 47 move back across the wrap, 0 moves home
  check(all);
  erase_key(14);  // a key that was never displaced, just before the run
  check(all);
  erase_key(0);
  check(all);

  insert_all({63, 17, 33, 14});
  check(all);
  for (const std::uint64_t key : {31, 1, 63, 16, 47, 17, 14, 33}) {
    erase_key(key);
    check(all);
  }
  EXPECT_TRUE(table_.empty());
}

TEST_F(CollidingKeys, KeyAtItsHomeStaysAndTheOnesAfterItStillMove) {
  // 3 (home 3) in bucket 3, 4 (home 4) in 4, 19 (home 3) in 5, 20 (home 4) in 6, 6 (home 6)
  // in 7. Erasing 3 leaves a hole in 3: 4 must stay (bucket 3 is before its home), but the scan
  // must go on past it: 19 moves to 3, then 20 to 5 and 6 to its home 6.
  const std::vector<std::uint64_t> all = {3, 4, 19, 20, 6, 35, 36, 22};
  insert_all({3, 4, 19, 20, 6});
  check(all);
  erase_key(3);
  check(all);
  erase_key(4);
  check(all);
  insert_all({35, 36, 22});
  check(all);
  erase_key(19);
  check(all);
  erase_key(6);
  check(all);
  erase_key(20);
  check(all);
}

// Random inserts and erases of keys that collide heavily, checked against a model after every
// operation. Stored requests ride along, to check that a slot follows its entry.
void random_against_model(std::size_t capacity, std::size_t slots, std::uint64_t seed,
                          const std::function<std::uint64_t(std::mt19937_64&)>& make_key,
                          const std::vector<std::uint64_t>& key_space) {
  TransactionTable table(capacity, slots);
  std::unordered_map<std::uint64_t, Index> model;
  std::unordered_map<std::uint64_t, std::string> stored;  // by key
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> live;  // the model's keys, to erase one picked at random
  std::size_t refused = 0;
  std::size_t erased = 0;

  for (int op = 0; op < 100'000; ++op) {
    // Phases that mostly fill and mostly empty the table, so both full and sparse states come.
    const bool filling = (op / 5000) % 2 == 0;
    const bool want_insert = live.empty() || rng() % 100 < (filling ? 70u : 30u);
    if (want_insert) {
      const std::uint64_t key = make_key(rng);
      const auto it = model.find(key);
      if (it != model.end()) {
        ASSERT_EQ(table.find(key), it->second) << "op " << op << " key " << key;
      } else {
        ASSERT_EQ(table.find(key), kNone) << "op " << op << " key " << key;
        const Index index = table.insert(key);
        if (model.size() == capacity) {
          ASSERT_EQ(index, kNone) << "op " << op << ": insert into a full table";
          ++refused;
        } else {
          ASSERT_NE(index, kNone) << "op " << op << " size " << model.size();
          ASSERT_LT(index, capacity);
          ASSERT_EQ(table.at(index).key, key);
          ASSERT_EQ(table.find(key), index) << "op " << op << " key " << key;
          model.emplace(key, index);
          live.push_back(key);
          if (rng() % 2 == 0) {
            const std::string request =
                "INVITE " + std::to_string(key) + " " + std::string(rng() % 64, 'x');
            const bool room = stored.size() < slots;
            ASSERT_EQ(table.store_request(index, request), room) << "op " << op;
            if (room) stored.emplace(key, request);
          }
        }
      }
    } else {
      const std::size_t at = rng() % live.size();
      const std::uint64_t key = live[at];
      live[at] = live.back();
      live.pop_back();
      const auto it = model.find(key);
      ASSERT_EQ(table.find(key), it->second) << "op " << op << " key " << key;
      table.erase(it->second);
      model.erase(it);
      stored.erase(key);
      ++erased;
      ASSERT_EQ(table.find(key), kNone) << "op " << op << " key " << key;
    }
    ASSERT_EQ(table.size(), model.size()) << "op " << op;
    ASSERT_EQ(table.stored_count(), stored.size()) << "op " << op;

    if (op % 1000 == 999) {
      for (const auto& [live_key, index] : model) {
        ASSERT_EQ(table.find(live_key), index) << "op " << op << " key " << live_key;
        const auto request = stored.find(live_key);
        const std::string_view expected =
            request == stored.end() ? std::string_view{} : std::string_view{request->second};
        ASSERT_EQ(table.stored_request(index), expected) << "op " << op << " key " << live_key;
      }
      for (const std::uint64_t other : key_space) {
        if (model.count(other) == 0) {
          ASSERT_EQ(table.find(other), kNone) << "op " << op << " key " << other;
        }
      }
    }
  }
  // The run did reach both a full table and many erasures.
  EXPECT_GT(refused, 0u);
  EXPECT_GT(erased, 10'000u);
}

TEST(TransactionTable, RandomCollidingKeysAgainstModel) {
  // Capacity 256: 512 buckets (mask 511). (n * 1024) has nine zero low bits, so the home bucket
  // is 504 + small, which wraps: homes 504..511 and 0..7, runs of up to 256 entries.
  const auto make_key = [](std::mt19937_64& rng) -> std::uint64_t {
    return (rng() % 64) * 1024 + 504 + rng() % 16;
  };
  std::vector<std::uint64_t> key_space;
  for (std::uint64_t high = 0; high < 64; ++high)
    for (std::uint64_t small = 0; small < 16; ++small)
      key_space.push_back(high * 1024 + 504 + small);
  random_against_model(256, 64, 0x5eed'1234'abcdull, make_key, key_space);
}

TEST(TransactionTable, RandomCollidingKeysSmallTable) {
  // Capacity 8: 16 buckets, homes 12..19 wrap to 12..15 and 0..3.
  const auto make_key = [](std::mt19937_64& rng) -> std::uint64_t {
    return (rng() % 64) * 1024 + 12 + rng() % 8;
  };
  std::vector<std::uint64_t> key_space;
  for (std::uint64_t high = 0; high < 64; ++high)
    for (std::uint64_t small = 0; small < 8; ++small)
      key_space.push_back(high * 1024 + 12 + small);
  random_against_model(8, 3, 0xfeedbeefull, make_key, key_space);
}

// --- stored requests ---------------------------------------------------------------------

TEST(TransactionTable, StoreRequestCopiesTheBytes) {
  TransactionTable table(4, 2);
  const Index index = table.insert(1);
  ASSERT_NE(index, kNone);
  EXPECT_TRUE(table.stored_request(index).empty());

  std::string source = "INVITE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  source.push_back('\0');  // binary-safe
  source += "tail";
  const std::string original = source;
  ASSERT_TRUE(table.store_request(index, source));
  EXPECT_EQ(table.stored_count(), 1u);

  for (char& c : source)
    c = '#';
  source.resize(3);
  source.shrink_to_fit();
  EXPECT_EQ(table.stored_request(index), original);
  EXPECT_NE(table.stored_request(index).data(), source.data());
}

TEST(TransactionTable, RequestLargerThanASlotIsRefused) {
  TransactionTable table(4, 2);
  const Index a = table.insert(1);
  const Index b = table.insert(2);
  ASSERT_NE(a, kNone);
  ASSERT_NE(b, kNone);

  EXPECT_FALSE(table.store_request(a, std::string(kSlotSize + 1, 'a')));
  EXPECT_TRUE(table.stored_request(a).empty());
  EXPECT_EQ(table.stored_count(), 0u);

  const std::string exact(kSlotSize, 'b');
  EXPECT_TRUE(table.store_request(b, exact));
  EXPECT_EQ(table.stored_request(b), exact);
  EXPECT_EQ(table.stored_count(), 1u);
}

TEST(TransactionTable, FullSlotsDoNotOverlap) {
  TransactionTable table(3, 3);
  const Index a = table.insert(1);
  const Index b = table.insert(2);
  const Index c = table.insert(3);
  const std::string ra(kSlotSize, 'a');
  const std::string rb(kSlotSize, 'b');
  const std::string rc(kSlotSize, 'c');
  ASSERT_TRUE(table.store_request(a, ra));
  ASSERT_TRUE(table.store_request(b, rb));
  ASSERT_TRUE(table.store_request(c, rc));
  EXPECT_EQ(table.stored_request(a), ra);
  EXPECT_EQ(table.stored_request(b), rb);
  EXPECT_EQ(table.stored_request(c), rc);
}

TEST(TransactionTable, SlotsRunOutAndAreReused) {
  TransactionTable table(4, 2);
  const Index a = table.insert(1);
  const Index b = table.insert(2);
  const Index c = table.insert(3);
  ASSERT_NE(c, kNone);

  ASSERT_TRUE(table.store_request(a, "request a"));
  ASSERT_TRUE(table.store_request(b, "request b"));
  EXPECT_EQ(table.stored_count(), 2u);

  // No slot left.
  EXPECT_FALSE(table.store_request(c, "request c"));
  EXPECT_TRUE(table.stored_request(c).empty());
  EXPECT_EQ(table.stored_count(), 2u);

  // An entry that has a slot may still replace its content.
  EXPECT_TRUE(table.store_request(a, "request a, second version"));
  EXPECT_EQ(table.stored_request(a), "request a, second version");
  EXPECT_EQ(table.stored_count(), 2u);
  EXPECT_TRUE(table.store_request(a, "a3"));  // shorter: no tail of the previous content
  EXPECT_EQ(table.stored_request(a), "a3");
  EXPECT_EQ(table.stored_count(), 2u);

  // release_request frees a slot.
  table.release_request(a);
  EXPECT_TRUE(table.stored_request(a).empty());
  EXPECT_EQ(table.stored_count(), 1u);
  table.release_request(a);  // nothing stored: no change
  EXPECT_EQ(table.stored_count(), 1u);
  ASSERT_TRUE(table.store_request(c, "request c"));
  EXPECT_EQ(table.stored_request(c), "request c");
  EXPECT_EQ(table.stored_request(b), "request b");
  EXPECT_EQ(table.stored_count(), 2u);
  EXPECT_FALSE(table.store_request(a, "request a again"));

  // erase frees a slot too.
  table.erase(b);
  EXPECT_EQ(table.stored_count(), 1u);
  EXPECT_TRUE(table.store_request(a, "request a again"));
  EXPECT_EQ(table.stored_request(a), "request a again");
  EXPECT_EQ(table.stored_request(c), "request c");
  EXPECT_EQ(table.stored_count(), 2u);

  table.erase(a);
  table.erase(c);
  EXPECT_EQ(table.stored_count(), 0u);
  const Index d = table.insert(4);
  const Index e = table.insert(5);
  EXPECT_TRUE(table.stored_request(d).empty());
  EXPECT_TRUE(table.stored_request(e).empty());
  EXPECT_TRUE(table.store_request(d, "request d"));
  EXPECT_TRUE(table.store_request(e, "request e"));
  EXPECT_EQ(table.stored_request(d), "request d");
  EXPECT_EQ(table.stored_request(e), "request e");
}

TEST(TransactionTable, NoStoredRequestSlots) {
  TransactionTable table(2, 0);
  const Index a = table.insert(1);
  EXPECT_FALSE(table.store_request(a, "INVITE"));
  EXPECT_TRUE(table.stored_request(a).empty());
  EXPECT_EQ(table.stored_count(), 0u);
}

// --- timers ------------------------------------------------------------------------------

TEST(TransactionTable, ExpiredTimersComeOutInDeadlineOrder) {
  TransactionTable table(8, 0);
  std::map<std::int64_t, Index> by_deadline;
  const std::int64_t deadlines[] = {300, 100, 700, 200, 500, 400, 600};
  for (std::size_t i = 0; i < std::size(deadlines); ++i) {
    const Index index = table.insert(1000 + i);
    ASSERT_NE(index, kNone);
    table.arm(index, deadlines[i]);
    EXPECT_EQ(table.at(index).deadline_ms, deadlines[i]);
    by_deadline.emplace(deadlines[i], index);
  }
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{100});
  EXPECT_EQ(table.pop_expired(99), kNone);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{100});

  // Deadline equal to now: expired.
  EXPECT_EQ(table.pop_expired(100), by_deadline.at(100));
  EXPECT_EQ(table.pop_expired(100), kNone);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{200});

  const std::vector<Index> first = drain(table, 450);
  EXPECT_EQ(first,
            (std::vector<Index>{by_deadline.at(200), by_deadline.at(300), by_deadline.at(400)}));
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{500});

  const std::vector<Index> rest = drain(table, 10'000);
  EXPECT_EQ(rest,
            (std::vector<Index>{by_deadline.at(500), by_deadline.at(600), by_deadline.at(700)}));
  EXPECT_FALSE(table.next_deadline().has_value());
  EXPECT_EQ(table.pop_expired(1'000'000), kNone);

  // Popping disarms but keeps the entry.
  EXPECT_EQ(table.size(), std::size(deadlines));
}

TEST(TransactionTable, ReArmMovesTheTimer) {
  TransactionTable table(8, 0);
  const Index a = table.insert(1);
  const Index b = table.insert(2);
  const Index c = table.insert(3);
  const Index d = table.insert(4);
  table.arm(a, 100);
  table.arm(b, 200);
  table.arm(c, 300);
  table.arm(d, 400);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{100});

  table.arm(a, 350);  // later
  EXPECT_EQ(table.at(a).deadline_ms, 350);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{200});
  table.arm(d, 50);  // earlier
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{50});
  table.arm(c, 250);  // earlier, still after b

  EXPECT_EQ(table.pop_expired(100), d);
  EXPECT_EQ(table.pop_expired(100), kNone);
  EXPECT_EQ(drain(table, 1000), (std::vector<Index>{b, c, a}));
  EXPECT_FALSE(table.next_deadline().has_value());

  // A popped entry can be armed again, and only once in the heap however often it is armed.
  table.arm(b, 10);
  table.arm(b, 20);
  table.arm(b, 30);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{30});
  EXPECT_EQ(drain(table, 1000), (std::vector<Index>{b}));
  EXPECT_FALSE(table.next_deadline().has_value());
}

TEST(TransactionTable, EraseCancelsTheTimer) {
  TransactionTable table(8, 0);
  const Index a = table.insert(1);
  const Index b = table.insert(2);
  const Index c = table.insert(3);
  const Index d = table.insert(4);
  table.arm(a, 100);
  table.arm(b, 200);
  table.arm(c, 300);
  table.arm(d, 400);

  table.erase(a);  // the earliest: the heap's root
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{200});
  table.erase(c);  // one in the middle
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{200});

  // A new entry may reuse an erased one's index: it has no timer of its own.
  const Index e = table.insert(5);
  const Index f = table.insert(6);
  ASSERT_NE(e, kNone);
  ASSERT_NE(f, kNone);
  EXPECT_EQ(drain(table, 1000), (std::vector<Index>{b, d}));
  EXPECT_FALSE(table.next_deadline().has_value());
  EXPECT_EQ(table.pop_expired(1'000'000), kNone);

  // Erasing an entry that is not armed leaves the others' timers alone.
  table.arm(e, 70);
  table.erase(f);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{70});
  EXPECT_EQ(drain(table, 70), (std::vector<Index>{e}));
}

TEST(TransactionTable, NegativeAndTiedDeadlines) {
  TransactionTable table(8, 0);
  std::set<Index> tied;
  for (std::uint64_t key = 0; key < 5; ++key) {
    const Index index = table.insert(key);
    table.arm(index, 42);
    tied.insert(index);
  }
  const Index early = table.insert(100);
  table.arm(early, -5);
  EXPECT_EQ(table.next_deadline(), std::optional<std::int64_t>{-5});
  EXPECT_EQ(table.pop_expired(-10), kNone);
  EXPECT_EQ(table.pop_expired(-5), early);
  EXPECT_EQ(table.pop_expired(41), kNone);
  const std::vector<Index> popped = drain(table, 42);
  EXPECT_EQ(std::set<Index>(popped.begin(), popped.end()), tied);
  EXPECT_EQ(popped.size(), tied.size());
}

// Random inserts, erases, arms and re-arms against an ordered model. Deadlines tie often, so
// the order among equal deadlines is not checked, only that deadlines never go down and that
// exactly the expired entries come out.
TEST(TransactionTable, RandomTimersAgainstModel) {
  constexpr std::size_t kCapacity = 64;
  TransactionTable table(kCapacity, 0);
  std::mt19937_64 rng(0xdead'10c0ull);
  std::vector<Index> live;                 // entries in the table
  std::map<Index, std::int64_t> armed;     // entry -> deadline
  std::multimap<std::int64_t, Index> due;  // deadline -> entry, for the earliest
  std::uint64_t next_key = 1;
  std::int64_t now = 0;
  std::size_t popped_total = 0;

  const auto disarm = [&](Index index) {
    const auto it = armed.find(index);
    if (it == armed.end()) return;
    const auto [first, last] = due.equal_range(it->second);
    for (auto d = first; d != last; ++d) {
      if (d->second == index) {
        due.erase(d);
        break;
      }
    }
    armed.erase(it);
  };

  for (int op = 0; op < 100'000; ++op) {
    const std::uint64_t choice = rng() % 100;
    if (choice < 20) {
      const Index index = table.insert(next_key++);
      if (live.size() == kCapacity) {
        ASSERT_EQ(index, kNone);
      } else {
        ASSERT_NE(index, kNone);
        live.push_back(index);
      }
    } else if (choice < 35 && !live.empty()) {
      const std::size_t at = rng() % live.size();
      const Index index = live[at];
      table.erase(index);
      disarm(index);
      live[at] = live.back();
      live.pop_back();
    } else if (choice < 80 && !live.empty()) {
      const Index index = live[rng() % live.size()];
      // Ties are frequent; some deadlines are already past.
      const std::int64_t deadline = now + static_cast<std::int64_t>(rng() % 40) - 5;
      table.arm(index, deadline);
      disarm(index);
      armed.emplace(index, deadline);
      due.emplace(deadline, index);
      ASSERT_EQ(table.at(index).deadline_ms, deadline);
    } else {
      now += static_cast<std::int64_t>(rng() % 8);
      std::set<Index> expected;
      for (auto it = due.begin(); it != due.end() && it->first <= now; ++it)
        expected.insert(it->second);
      const std::vector<Index> popped = drain(table, now);
      ASSERT_EQ(popped.size(), expected.size()) << "op " << op << " now " << now;
      std::int64_t previous = std::numeric_limits<std::int64_t>::min();
      for (const Index index : popped) {
        const auto it = armed.find(index);
        ASSERT_NE(it, armed.end()) << "op " << op << ": popped entry " << index << " not armed";
        ASSERT_LE(it->second, now) << "op " << op;
        ASSERT_GE(it->second, previous) << "op " << op << ": deadlines out of order";
        ASSERT_EQ(expected.count(index), 1u) << "op " << op;
        previous = it->second;
        disarm(index);
      }
      popped_total += popped.size();
    }
    const std::optional<std::int64_t> earliest =
        due.empty() ? std::nullopt : std::optional<std::int64_t>{due.begin()->first};
    ASSERT_EQ(table.next_deadline(), earliest) << "op " << op;
    ASSERT_EQ(table.size(), live.size()) << "op " << op;
  }
  EXPECT_GT(popped_total, 5'000u);
}

TEST(TransactionTableStore, ARequestTakesTheSmallestSlotClassThatFitsIt) {
  TransactionTable table(8, 4);
  const TransactionTable::Index a = table.insert(1);
  const std::string small(100, 's');
  const std::string invite(700, 'i');
  const std::string carrier(3000, 'c');
  ASSERT_TRUE(table.store_request(a, small));
  EXPECT_EQ(table.slot_size(a), 512u);
  ASSERT_TRUE(table.store_request(a, std::string(512, 'x')));  // exactly a class: stays
  EXPECT_EQ(table.slot_size(a), 512u);
  ASSERT_TRUE(table.store_request(a, invite));  // outgrown: moves to 1 KiB, one slot still
  EXPECT_EQ(table.slot_size(a), 1024u);
  EXPECT_EQ(table.stored_request(a), invite);
  EXPECT_EQ(table.stored_count(), 1u);
  ASSERT_TRUE(table.store_request(a, small));  // shrinking keeps the slot it has
  EXPECT_EQ(table.slot_size(a), 1024u);
  EXPECT_EQ(table.stored_request(a), small);
  const TransactionTable::Index b = table.insert(2);
  ASSERT_TRUE(table.store_request(b, carrier));
  EXPECT_EQ(table.slot_size(b), 4096u);
  EXPECT_EQ(table.stored_request(b), carrier);
  EXPECT_EQ(table.stored_request(a), small);
  // The count of stored requests bounds all classes together: 4 here, whatever their sizes.
  const TransactionTable::Index c = table.insert(3);
  const TransactionTable::Index d = table.insert(4);
  const TransactionTable::Index e = table.insert(5);
  EXPECT_TRUE(table.store_request(c, small));
  EXPECT_TRUE(table.store_request(d, carrier));
  EXPECT_FALSE(table.store_request(e, small));
  EXPECT_EQ(table.slot_size(e), 0u);
  table.release_request(d);
  EXPECT_EQ(table.slot_size(d), 0u);
  EXPECT_TRUE(table.store_request(e, invite));
  EXPECT_EQ(table.stored_request(b), carrier);
  EXPECT_EQ(table.stored_request(c), small);
  EXPECT_EQ(table.stored_request(e), invite);
}

// A trailer (our Authorization line) goes after the stored request, in the same slot or, when
// both do not fit it, in one of a larger class; the request's bytes stay as they were.
TEST(TransactionTableStore, ATrailerFollowsTheRequestAndMayMoveItToALargerSlot) {
  TransactionTable table(8, 2);
  const TransactionTable::Index a = table.insert(1);
  EXPECT_FALSE(table.attach_trailer(a, "Authorization: x\r\n"));  // nothing stored
  const std::string request(400, 'r');
  ASSERT_TRUE(table.store_request(a, request));
  ASSERT_TRUE(table.attach_trailer(a, std::string(100, 't')));  // 500: fits its 512 slot
  EXPECT_EQ(table.slot_size(a), 512u);
  EXPECT_EQ(table.stored_request(a), request);
  EXPECT_EQ(table.stored_trailer(a), std::string(100, 't'));
  const std::string longer(300, 'u');
  ASSERT_TRUE(table.attach_trailer(a, longer));  // 700: moves to 1 KiB, one slot still
  EXPECT_EQ(table.slot_size(a), 1024u);
  EXPECT_EQ(table.stored_count(), 1u);
  EXPECT_EQ(table.stored_request(a), request);
  EXPECT_EQ(table.stored_trailer(a), longer);
  // The 512 slot went back: another request takes it.
  const TransactionTable::Index b = table.insert(2);
  ASSERT_TRUE(table.store_request(b, std::string(500, 'b')));
  EXPECT_EQ(table.stored_request(a), request);
  EXPECT_EQ(table.stored_trailer(a), longer);
  // Too large for any slot together: refused, nothing changed.
  EXPECT_FALSE(table.attach_trailer(a, std::string(4096 - 399, 'v')));
  EXPECT_EQ(table.stored_trailer(a), longer);
  table.drop_trailer(a);
  EXPECT_TRUE(table.stored_trailer(a).empty());
  EXPECT_EQ(table.stored_request(a), request);
  // Storing a request again, and releasing it, drops the trailer too.
  ASSERT_TRUE(table.attach_trailer(a, longer));
  ASSERT_TRUE(table.store_request(a, request));
  EXPECT_TRUE(table.stored_trailer(a).empty());
  ASSERT_TRUE(table.attach_trailer(a, longer));
  table.release_request(a);
  EXPECT_TRUE(table.stored_trailer(a).empty());
}

}  // namespace
}  // namespace sipline::sip

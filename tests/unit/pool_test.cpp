// Server pools (lb/pool.hpp): which member a Call-ID goes to, how weights share the calls,
// and what moves when a member goes down or comes back.
#include "lb/pool.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace sipline::lb {
namespace {

PoolMember member(std::string uri, std::uint8_t last_octet, std::uint32_t weight = 1) {
  PoolMember result;
  result.uri = std::move(uri);
  result.address.address = *parse_ip_address("10.0.0." + std::to_string(last_octet));
  result.address.port = 5060;
  result.weight = weight;
  return result;
}

PoolSpec pool_of(std::vector<PoolMember> members) {
  PoolSpec pool;
  pool.name = "pbx";
  pool.members = std::move(members);
  return pool;
}

PoolSet three_members(std::uint32_t third_weight = 1) {
  return PoolSet({pool_of({member("sip:10.0.0.1", 1), member("sip:10.0.0.2", 2),
                           member("sip:10.0.0.3", 3, third_weight)})});
}

std::string call_id(int n) {
  return "a84b4c76e66710-" + std::to_string(n) + "@pc33.atlanta.example.com";
}

constexpr int kCalls = 30'000;

std::array<int, 3> shares(const PoolSet& pools) {
  std::array<int, 3> counts{};
  for (int n = 0; n < kCalls; ++n)
    ++counts.at(*pools.choose(0, call_id(n)));
  return counts;
}

TEST(PoolSet, EveryMemberStartsUp) {
  const PoolSet pools = three_members();
  EXPECT_EQ(pools.up_members(0), 0b111u);
  EXPECT_EQ(pools.all_members(0), 0b111u);
}

TEST(PoolSet, TheSameCallIdAlwaysGoesToTheSameMember) {
  const PoolSet pools = three_members();
  for (int n = 0; n < 100; ++n)
    EXPECT_EQ(pools.choose(0, call_id(n)), pools.choose(0, call_id(n)));
}

TEST(PoolSet, EqualWeightsShareTheCallsEqually) {
  const std::array<int, 3> counts = shares(three_members());
  for (int count : counts) {
    EXPECT_GT(count, kCalls / 3 * 95 / 100);
    EXPECT_LT(count, kCalls / 3 * 105 / 100);
  }
}

TEST(PoolSet, WeightsShareTheCallsInProportion) {
  // Weights 1, 1, 2: the third member takes half of the calls.
  const std::array<int, 3> counts = shares(three_members(2));
  EXPECT_GT(counts[2], kCalls / 2 * 95 / 100);
  EXPECT_LT(counts[2], kCalls / 2 * 105 / 100);
  EXPECT_GT(counts[0], kCalls / 4 * 93 / 100);
  EXPECT_GT(counts[1], kCalls / 4 * 93 / 100);
}

TEST(PoolSet, ADownMemberGetsNoCallsAndOnlyItsCallsMove) {
  PoolSet pools = three_members();
  std::vector<std::size_t> before;
  for (int n = 0; n < 3000; ++n)
    before.push_back(*pools.choose(0, call_id(n)));
  pools.set_up_members(0, 0b101);  // member 1 down
  int moved = 0;
  for (int n = 0; n < 3000; ++n) {
    const std::size_t now = *pools.choose(0, call_id(n));
    EXPECT_NE(now, 1u);
    if (before[n] != 1) {
      EXPECT_EQ(now, before[n]) << "a call of a member that stayed up moved";
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 800);
  pools.set_up_members(0, 0b111);  // back: its calls return to it
  for (int n = 0; n < 3000; ++n)
    EXPECT_EQ(*pools.choose(0, call_id(n)), before[n]);
}

TEST(PoolSet, ADrainedMemberGetsNoNewCallsWhateverItsHealth) {
  std::vector<PoolMember> members = {member("sip:10.0.0.1", 1), member("sip:10.0.0.2", 2),
                                     member("sip:10.0.0.3", 3)};
  members[1].drain = true;
  PoolSet drained({pool_of(members)});
  EXPECT_EQ(drained.up_members(0), 0b101u);
  drained.set_up_members(0, 0b111);  // the prober finds it up: still out
  EXPECT_EQ(drained.up_members(0), 0b101u);
  // Its calls move as if it were down; the others' stay.
  PoolSet down = three_members();
  down.set_up_members(0, 0b101);
  for (int n = 0; n < 1000; ++n)
    EXPECT_EQ(drained.choose(0, call_id(n)), down.choose(0, call_id(n)));
}

TEST(PoolSet, AHigherPriorityTakesCallsOnlyWhileNoLowerOneIsUp) {
  // An active pair of SBCs (priority 0) and a standby (priority 1).
  std::vector<PoolMember> members = {member("sip:10.0.0.1", 1), member("sip:10.0.0.2", 2),
                                     member("sip:10.0.0.3", 3)};
  members[2].priority = 1;
  PoolSet pools({pool_of(members)});
  std::array<int, 3> counts{};
  for (int n = 0; n < 2000; ++n)
    ++counts.at(*pools.choose(0, call_id(n)));
  EXPECT_EQ(counts[2], 0);
  EXPECT_GT(counts[0], 800);
  EXPECT_GT(counts[1], 800);
  pools.set_up_members(0, 0b101);  // one active left: still no call for the standby
  for (int n = 0; n < 200; ++n)
    EXPECT_EQ(pools.choose(0, call_id(n)), 0u);
  pools.set_up_members(0, 0b100);  // both active down: the standby takes every call
  for (int n = 0; n < 200; ++n)
    EXPECT_EQ(pools.choose(0, call_id(n)), 2u);
  pools.set_up_members(0, 0b111);  // back: the calls return to the same active members
  const PoolSet without_standby({pool_of({members[0], members[1]})});
  for (int n = 0; n < 200; ++n)
    EXPECT_EQ(pools.choose(0, call_id(n)), without_standby.choose(0, call_id(n)));
}

TEST(PoolSet, NoMemberUpChoosesNone) {
  PoolSet pools = three_members();
  pools.set_up_members(0, 0);
  EXPECT_FALSE(pools.choose(0, call_id(1)).has_value());
}

TEST(PoolSet, AddingAMemberMovesCallsOnlyToIt) {
  // A member's identity in the hash is its URI: a new member takes its share from every
  // other member, and no call moves between the old members.
  const PoolSet before = three_members();
  PoolSet after({pool_of({member("sip:10.0.0.1", 1), member("sip:10.0.0.2", 2),
                          member("sip:10.0.0.3", 3), member("sip:10.0.0.4", 4)})});
  int to_new = 0;
  for (int n = 0; n < 4000; ++n) {
    const std::size_t now = *after.choose(0, call_id(n));
    if (now == 3) {
      ++to_new;
    } else {
      EXPECT_EQ(now, *before.choose(0, call_id(n)));
    }
  }
  EXPECT_GT(to_new, 800);
  EXPECT_LT(to_new, 1200);
}

TEST(PoolSet, SixtyFourMembersUseTheWholeHealthWord) {
  std::vector<PoolMember> members;
  for (int i = 0; i < 64; ++i)
    members.push_back(
        member("sip:10.0.0." + std::to_string(i + 1), static_cast<std::uint8_t>(i + 1)));
  PoolSet pools({pool_of(std::move(members))});
  EXPECT_EQ(pools.up_members(0), ~std::uint64_t{0});
  pools.set_up_members(0, std::uint64_t{1} << 63);
  EXPECT_EQ(pools.choose(0, call_id(7)), 63u);
}

TEST(Rendezvous, UniformAndWeightedPathsAgreeForEqualWeights) {
  // Weights all 3 take the uniform path; weights 3, 3, 3 + a zero-up fourth of weight 1 take
  // the weighted path with the fourth never eligible: both must choose alike.
  const std::vector<PoolMember> uniform = {member("sip:a", 1, 3), member("sip:b", 2, 3),
                                           member("sip:c", 3, 3)};
  std::vector<PoolMember> weighted = uniform;
  weighted.push_back(member("sip:d", 4, 1));
  const std::vector<std::uint64_t> seeds = {11, 22, 33, 44};
  for (int n = 0; n < 2000; ++n) {
    const std::uint64_t key = pool_key_hash(call_id(n));
    EXPECT_EQ(rendezvous_member(uniform, seeds, 0b111, key),
              rendezvous_member(weighted, seeds, 0b0111, key));
  }
}

}  // namespace
}  // namespace sipline::lb

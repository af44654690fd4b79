// The health decisions of pool members (lb/health_check.hpp): probes due per interval, lost
// and 5xx-answered probes taking a member down after down_after, answers bringing it back
// after up_after, and stale or foreign answers changing nothing.
#include "lb/health_check.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sipline::lb {
namespace {

PoolSet two_member_pool(std::uint32_t interval_s = 10) {
  PoolSpec pool;
  pool.name = "pbx";
  for (int i = 1; i <= 2; ++i) {
    PoolMember member;
    member.uri = "sip:10.0.0." + std::to_string(i);
    member.address.address = *parse_ip_address("10.0.0." + std::to_string(i));
    member.address.port = 5060;
    pool.members.push_back(member);
  }
  pool.probe.interval_s = interval_s;
  pool.probe.down_after = 3;
  pool.probe.up_after = 2;
  return PoolSet({pool});
}

// The probe of member `index` among `due`.
ProbeId probe_of(const HealthChecker::Due& due, std::uint16_t index) {
  for (const ProbeId& probe : due.probes) {
    if (probe.member == index) return probe;
  }
  ADD_FAILURE() << "no probe for member " << index;
  return {};
}

// Three rounds in which only member 0 answers: member 1 is down (down_after = 3).
void take_member_1_down(HealthChecker& checker) {
  for (int round = 0; round < 3; ++round) {
    const HealthChecker::Due due = checker.poll(round * 10'000);
    checker.answer(probe_of(due, 0), 200);
  }
  checker.poll(30'000);
}

TEST(ProbeId, TokenRoundTrips) {
  const ProbeId probe{255, 63, 0xfffffffe, 0xbeef};
  EXPECT_EQ(ProbeId::from_token(probe.token()), probe);
}

TEST(HealthChecker, ProbesEveryMemberAtOnceThenEveryInterval) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  const HealthChecker::Due first = checker.poll(1000);
  ASSERT_EQ(first.probes.size(), 2u);
  EXPECT_EQ(first.probes[0].sequence, 1u);
  EXPECT_TRUE(checker.poll(1000 + 9999).probes.empty());
  EXPECT_EQ(checker.next_due_ms(), 11'000);
  const HealthChecker::Due second = checker.poll(11'000);
  ASSERT_EQ(second.probes.size(), 2u);
  EXPECT_EQ(second.probes[1].sequence, 2u);
}

TEST(HealthChecker, ThreeLostProbesTakeAMemberDown) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  std::int64_t now = 0;
  for (int round = 0; round < 3; ++round) {
    const HealthChecker::Due due = checker.poll(now);
    EXPECT_TRUE(due.changes.empty()) << "round " << round;
    EXPECT_TRUE(checker.answer(probe_of(due, 0), 200).counted);  // member 0 answers
    now += 10'000;
  }
  // Member 1's third probe is found lost when the fourth is due.
  const HealthChecker::Due fourth = checker.poll(now);
  ASSERT_EQ(fourth.changes.size(), 1u);
  EXPECT_EQ(fourth.changes[0].member, 1u);
  EXPECT_FALSE(fourth.changes[0].up);
  EXPECT_EQ(fourth.changes[0].streak, 3u);
  EXPECT_EQ(pools.up_members(0), 0b01u);
  EXPECT_EQ(checker.member(0, 1).lost, 3u);
  EXPECT_FALSE(checker.member(0, 1).up);
  // It is still probed while down, and two answers in a row bring it back.
  EXPECT_FALSE(checker.answer(probe_of(fourth, 1), 200).change.has_value());
  const HealthChecker::Due fifth = checker.poll(now + 10'000);
  const HealthChecker::Answer back = checker.answer(probe_of(fifth, 1), 404);
  ASSERT_TRUE(back.change.has_value());
  EXPECT_TRUE(back.change->up);
  EXPECT_EQ(back.change->streak, 2u);
  EXPECT_EQ(pools.up_members(0), 0b11u);
}

TEST(HealthChecker, FiveHundredAnswersCountAsFailures) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  std::optional<HealthChange> change;
  for (int round = 0; round < 3; ++round) {
    const HealthChecker::Due due = checker.poll(round * 10'000);
    change = checker.answer(probe_of(due, 0), 503).change;
  }
  ASSERT_TRUE(change.has_value());
  EXPECT_FALSE(change->up);
  EXPECT_EQ(change->last_status, 503);
  EXPECT_EQ(checker.member(0, 0).answered_5xx, 3u);
  EXPECT_EQ(pools.up_members(0) & 1, 0u);
}

TEST(HealthChecker, AFailureStreakIsBrokenByAnAnswer) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  for (int round = 0; round < 10; ++round) {
    const HealthChecker::Due due = checker.poll(round * 10'000);
    EXPECT_TRUE(due.changes.empty());
    // Member 0 answers every other probe: never three failures in a row.
    if (round % 2 == 0) checker.answer(probe_of(due, 0), 200);
    checker.answer(probe_of(due, 1), 200);
  }
  EXPECT_EQ(pools.up_members(0), 0b11u);
}

// A worker's failover found member 1 not answering an INVITE (PoolSet::mark_unanswering):
// it is out at once, stays out through the prober's stores, and its next answered probe
// brings it back (reported as a change, for the log).
TEST(HealthChecker, AMemberMarkedUnansweringIsBackAtItsNextAnsweredProbe) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  const HealthChecker::Due first = checker.poll(0);
  EXPECT_TRUE(pools.mark_unanswering(0, 1));
  EXPECT_FALSE(pools.mark_unanswering(0, 1));  // once
  EXPECT_EQ(pools.up_members(0), 0b01u);
  checker.answer(probe_of(first, 0), 200);  // the prober publishes: member 1 stays out
  checker.set_admin_drained(0, 0, false);
  EXPECT_EQ(pools.up_members(0), 0b01u);
  EXPECT_EQ(checker.member(0, 1).up, true);  // the probes never found it down
  const HealthChecker::Answer back = checker.answer(probe_of(first, 1), 200);
  EXPECT_TRUE(back.counted);
  ASSERT_TRUE(back.change.has_value());
  EXPECT_TRUE(back.change->up);
  EXPECT_EQ(back.change->member, 1);
  EXPECT_EQ(pools.unanswering_members(0), 0u);
  EXPECT_EQ(pools.up_members(0), 0b11u);
  // A 5xx answer does not bring it back.
  EXPECT_TRUE(pools.mark_unanswering(0, 1));
  const HealthChecker::Due second = checker.poll(10'000);
  EXPECT_FALSE(checker.answer(probe_of(second, 1), 503).change.has_value());
  EXPECT_EQ(pools.up_members(0), 0b01u);
}

TEST(HealthChecker, StaleDuplicateProvisionalAndForeignAnswersChangeNothing) {
  PoolSet pools = two_member_pool();
  HealthChecker checker(pools);
  const ProbeId first = probe_of(checker.poll(0), 0);
  EXPECT_FALSE(checker.answer(first, 100).counted);  // provisional
  EXPECT_TRUE(checker.answer(first, 200).counted);
  EXPECT_FALSE(checker.answer(first, 200).counted);  // duplicate
  const ProbeId second = probe_of(checker.poll(10'000), 0);
  EXPECT_FALSE(checker.answer(first, 200).counted);  // late: not the outstanding probe
  EXPECT_FALSE(checker.answer(ProbeId{7, 0, second.sequence}, 200).counted);  // no pool 7
  EXPECT_FALSE(checker.answer(ProbeId{0, 9, second.sequence}, 200).counted);  // no member 9
  EXPECT_FALSE(checker.answer(ProbeId{0, 0, 0}, 200).counted);
  EXPECT_TRUE(checker.answer(second, 200).counted);
  EXPECT_EQ(checker.member(0, 0).answered, 2u);
}

TEST(HealthChecker, APoolWithoutProbesIsNeverProbed) {
  PoolSet pools = two_member_pool(0);
  HealthChecker checker(pools);
  EXPECT_EQ(checker.next_due_ms(), INT64_MAX);
  EXPECT_TRUE(checker.poll(1'000'000).probes.empty());
  EXPECT_EQ(pools.up_members(0), 0b11u);
}

TEST(HealthChecker, AReloadKeepsTheStateOfMembersStillConfigured) {
  PoolSet before = two_member_pool();
  HealthChecker old_checker(before);
  take_member_1_down(old_checker);
  ASSERT_EQ(before.up_members(0), 0b01u);
  const ProbeId in_flight = ProbeId{0, 0, old_checker.member(0, 0).outstanding, 0};

  // The reloaded pool: member 1 (down) listed first now, member 0 dropped, a new member.
  PoolSpec spec = before.pool(0);
  std::swap(spec.members[0], spec.members[1]);
  spec.members[1].uri = "sip:10.0.0.9";
  PoolSet after({spec});
  HealthChecker checker(after, 1);
  checker.carry_over(old_checker);
  EXPECT_FALSE(checker.member(0, 0).up);
  EXPECT_EQ(checker.member(0, 0).lost, old_checker.member(0, 1).lost);
  EXPECT_EQ(checker.member(0, 0).next_due_ms, 40'000);
  EXPECT_TRUE(checker.member(0, 1).up);
  EXPECT_EQ(checker.member(0, 1).sent, 0u);
  EXPECT_EQ(after.up_members(0), 0b10u);
  EXPECT_EQ(checker.next_due_ms(), 0);  // the new member is probed at once
  // An answer to a probe of the old checker is not counted, whatever it names.
  EXPECT_FALSE(checker.answer(in_flight, 200).counted);
  EXPECT_FALSE(checker.answer(ProbeId{0, 1, 1, 0}, 200).counted);
  const HealthChecker::Due due = checker.poll(0);
  ASSERT_EQ(due.probes.size(), 1u);
  EXPECT_EQ(due.probes[0].epoch, 1u);
  EXPECT_TRUE(checker.answer(due.probes[0], 200).counted);
}

TEST(HealthChecker, AReloadThatTurnsProbingOffBringsDownMembersBack) {
  PoolSet before = two_member_pool();
  HealthChecker old_checker(before);
  take_member_1_down(old_checker);
  ASSERT_EQ(before.up_members(0), 0b01u);
  PoolSet after = two_member_pool(0);  // probe_interval = 0
  HealthChecker checker(after, 1);
  checker.carry_over(old_checker);
  EXPECT_TRUE(checker.member(0, 1).up);
  EXPECT_EQ(after.up_members(0), 0b11u);
}

TEST(HealthChecker, AnAdminDrainTakesAnUpMemberOutAndStaysAcrossAReload) {
  PoolSet before = two_member_pool();
  HealthChecker old_checker(before);
  old_checker.set_admin_drained(0, 1, true);
  EXPECT_EQ(before.up_members(0), 0b01u);
  EXPECT_TRUE(old_checker.member(0, 1).up);  // still probed and healthy, just not chosen

  PoolSet after({before.pool(0)});
  HealthChecker checker(after, 1);
  checker.carry_over(old_checker);
  EXPECT_TRUE(checker.member(0, 1).admin_drained);
  EXPECT_EQ(after.up_members(0), 0b01u);
  checker.set_admin_drained(0, 1, false);
  EXPECT_EQ(after.up_members(0), 0b11u);

  // A member the config drains stays out whatever the operator says.
  PoolSpec spec = before.pool(0);
  spec.members[0].drain = true;
  PoolSet configured({spec});
  HealthChecker third(configured, 2);
  third.set_admin_drained(0, 0, false);
  EXPECT_EQ(configured.up_members(0), 0b10u);
}

}  // namespace
}  // namespace sipline::lb

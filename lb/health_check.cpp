#include "lb/health_check.hpp"

#include <algorithm>
#include <limits>

namespace sipline::lb {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

bool probed(const PoolSpec& pool) {
  return pool.probe.interval_s > 0;
}

}  // namespace

static_assert(kMaxPools <= 1u << 8 && kMaxPoolMembers <= 1u << 8,
              "a probe token holds the pool and the member in 8 bits each");

std::uint64_t ProbeId::token() const {
  return std::uint64_t{epoch} << 48 | std::uint64_t{pool} << 40 | std::uint64_t{member} << 32 |
         sequence;
}

ProbeId ProbeId::from_token(std::uint64_t token) {
  return ProbeId{static_cast<std::uint16_t>(token >> 40 & 0xFF),
                 static_cast<std::uint16_t>(token >> 32 & 0xFF), static_cast<std::uint32_t>(token),
                 static_cast<std::uint16_t>(token >> 48)};
}

HealthChecker::HealthChecker(PoolSet& pools, std::uint16_t epoch)
    : pools_(pools), next_due_ms_(kNever), epoch_(epoch) {
  for (std::size_t pool = 0; pool < pools.size(); ++pool)
    members_.emplace_back(pools.pool(pool).members.size());
  schedule();
}

// The earliest due time over the probed members (a member never probed is due at once).
void HealthChecker::schedule() {
  next_due_ms_ = kNever;
  for (std::size_t pool = 0; pool < members_.size(); ++pool) {
    if (!probed(pools_.pool(pool))) continue;
    for (const MemberHealth& member : members_[pool])
      next_due_ms_ = std::min(next_due_ms_, member.next_due_ms);
  }
}

void HealthChecker::carry_over(const HealthChecker& previous) {
  for (std::size_t pool = 0; pool < members_.size(); ++pool) {
    const PoolSpec& spec = pools_.pool(pool);
    for (std::size_t old_pool = 0; old_pool < previous.members_.size(); ++old_pool) {
      const PoolSpec& old_spec = previous.pools_.pool(old_pool);
      if (old_spec.name != spec.name) continue;
      for (std::size_t index = 0; index < spec.members.size(); ++index) {
        for (std::size_t old = 0; old < old_spec.members.size(); ++old) {
          if (old_spec.members[old].uri != spec.members[index].uri) continue;
          MemberHealth& member = members_[pool][index];
          member = previous.members_[old_pool][old];
          // Its probe in flight was numbered for the old layout: not counted either way.
          member.outstanding = 0;
          if (!probed(spec)) {
            // Probing turned off: nothing would ever bring a member back that is down now.
            member.up = true;
            member.failure_streak = member.success_streak = 0;
          } else if (spec.probe.interval_s != old_spec.probe.interval_s) {
            member.next_due_ms = 0;  // the new interval starts now, not after the old one
          }
        }
      }
    }
    publish(pool);
  }
  schedule();
}

HealthChecker::Due HealthChecker::poll(std::int64_t now_ms) {
  Due due;
  if (now_ms < next_due_ms_) return due;
  for (std::size_t pool = 0; pool < members_.size(); ++pool) {
    const PoolSpec& spec = pools_.pool(pool);
    if (!probed(spec)) continue;
    const std::int64_t interval_ms = std::int64_t{spec.probe.interval_s} * 1000;
    for (std::size_t index = 0; index < members_[pool].size(); ++index) {
      MemberHealth& member = members_[pool][index];
      if (member.next_due_ms <= now_ms) {
        if (member.outstanding != 0) {
          ++member.lost;
          if (auto change = record_failure(pool, index, 0)) due.changes.push_back(*change);
        }
        member.outstanding = static_cast<std::uint32_t>(member.sent + 1);
        ++member.sent;
        due.probes.push_back(ProbeId{static_cast<std::uint16_t>(pool),
                                     static_cast<std::uint16_t>(index), member.outstanding,
                                     epoch_});
        member.next_due_ms = now_ms + interval_ms;
      }
    }
  }
  schedule();
  return due;
}

HealthChecker::Answer HealthChecker::answer(ProbeId probe, std::uint16_t status) {
  if (probe.epoch != epoch_ || probe.pool >= members_.size() ||
      probe.member >= members_[probe.pool].size()) {
    return {};
  }
  MemberHealth& member = members_[probe.pool][probe.member];
  if (status < 200 || probe.sequence == 0 || probe.sequence != member.outstanding) return {};
  member.outstanding = 0;
  member.last_status = status;
  if (status >= 500 && status < 600) {
    ++member.answered_5xx;
    return {true, record_failure(probe.pool, probe.member, status)};
  }
  ++member.answered;
  Answer counted{true, record_success(probe.pool, probe.member, status)};
  // A member a worker's failover took out for not answering an INVITE answers again.
  if (pools_.clear_unanswering(probe.pool, probe.member) && member.up) {
    publish(probe.pool);
    if (!counted.change) {
      counted.change = HealthChange{probe.pool, probe.member, true, member.success_streak, status};
    }
  }
  return counted;
}

std::optional<HealthChange> HealthChecker::record_failure(std::size_t pool, std::size_t index,
                                                          std::uint16_t status) {
  MemberHealth& member = members_[pool][index];
  member.success_streak = 0;
  ++member.failure_streak;
  if (!member.up || member.failure_streak < pools_.pool(pool).probe.down_after) {
    return std::nullopt;
  }
  member.up = false;
  publish(pool);
  return HealthChange{static_cast<std::uint16_t>(pool), static_cast<std::uint16_t>(index), false,
                      member.failure_streak, status};
}

std::optional<HealthChange> HealthChecker::record_success(std::size_t pool, std::size_t index,
                                                          std::uint16_t status) {
  MemberHealth& member = members_[pool][index];
  member.failure_streak = 0;
  ++member.success_streak;
  if (member.up || member.success_streak < pools_.pool(pool).probe.up_after) return std::nullopt;
  member.up = true;
  publish(pool);
  return HealthChange{static_cast<std::uint16_t>(pool), static_cast<std::uint16_t>(index), true,
                      member.success_streak, status};
}

void HealthChecker::set_admin_drained(std::size_t pool, std::size_t index, bool drained) {
  members_[pool][index].admin_drained = drained;
  publish(pool);
}

void HealthChecker::publish(std::size_t pool) {
  std::uint64_t up = 0;
  for (std::size_t index = 0; index < members_[pool].size(); ++index) {
    const MemberHealth& member = members_[pool][index];
    if (member.up && !member.admin_drained) up |= std::uint64_t{1} << index;
  }
  pools_.set_up_members(pool, up);
}

}  // namespace sipline::lb

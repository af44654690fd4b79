// The health of pool members, as OPTIONS probes find it (RFC 3261 §11: a server answers
// OPTIONS like any request, so an answer shows it is there and serving). This is the
// decision logic only: which probes are due, what an answer or its absence means, when a
// member goes down or comes back. The control thread sends the probes and hands the answers
// in (dataplane/health_prober.hpp); the verdicts go to the PoolSet the workers read.
//
// Per member, one probe every `interval_s`; a probe still unanswered when the next is due is
// lost (one OPTIONS per interval, not retransmitted: a lost datagram is what down_after
// absorbs). `down_after` consecutive lost probes, or probes answered 5xx (the server is there
// but says it cannot serve: 503 Service Unavailable, 500), take a member down; `up_after`
// consecutive answers below 500 bring it back. Provisional answers (1xx) are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "lb/pool.hpp"

namespace sipline::lb {

// Which probe an answer belongs to, carried in the probe's branch (signed by the proxy, so
// an answer cannot be forged without its key).
struct ProbeId {
  std::uint16_t pool = 0;
  std::uint16_t member = 0;
  std::uint32_t sequence = 0;  // counts the probes sent to that member, from 1
  std::uint16_t epoch = 0;     // the checker's: an answer from before a reload is not counted

  std::uint64_t token() const;
  static ProbeId from_token(std::uint64_t token);
  bool operator==(const ProbeId&) const = default;
};

// What the prober knows about one member; counters only grow.
struct MemberHealth {
  bool up = true;
  std::uint32_t failure_streak = 0;  // consecutive lost or 5xx-answered probes
  std::uint32_t success_streak = 0;  // consecutive answered probes
  std::uint32_t outstanding = 0;     // the sequence of the probe awaiting an answer, 0: none
  std::int64_t next_due_ms = 0;
  std::uint16_t last_status = 0;  // of the last answer, 0 before any
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;  // answers below 500
  std::uint64_t answered_5xx = 0;
  std::uint64_t lost = 0;
  // Taken out of new calls by an operator (siplinectl drain), on top of the config's
  // `drain`; still probed. Kept across reloads with the rest of the member's state.
  bool admin_drained = false;
};

// A member that went down or came up, for the log.
struct HealthChange {
  std::uint16_t pool = 0;
  std::uint16_t member = 0;
  bool up = false;
  std::uint32_t streak = 0;       // the failures (down) or answers (up) in a row that decided it
  std::uint16_t last_status = 0;  // down on 5xx answers: the last one; 0 when lost
};

class HealthChecker {
 public:
  // Every member starts up; its first probe is due at once. `epoch` tells this checker's
  // probes from those of the checker it replaced (a reload renumbers pools and members).
  explicit HealthChecker(PoolSet& pools, std::uint16_t epoch = 0);

  // A reload: every member of `previous` that is still configured (same pool name, same URI)
  // keeps its state, counters and probe schedule; new members start up and are probed at
  // once. The pools' health words are written accordingly.
  void carry_over(const HealthChecker& previous);
  std::uint16_t epoch() const { return epoch_; }

  struct Due {
    std::vector<ProbeId> probes;  // to send now
    std::vector<HealthChange> changes;
  };
  // The probes due at `now_ms` (a monotonic clock); before each, the member's previous probe,
  // if still unanswered, counts as lost. Cheap when nothing is due.
  Due poll(std::int64_t now_ms);

  // A response to a probe. Counts only when it is final and answers the member's outstanding
  // probe (a late answer to a lost one, a duplicate, or a token we never issued changes
  // nothing).
  struct Answer {
    bool counted = false;
    std::optional<HealthChange> change;
  };
  Answer answer(ProbeId probe, std::uint16_t status);

  const MemberHealth& member(std::size_t pool, std::size_t index) const {
    return members_[pool][index];
  }
  // siplinectl drain / undrain: the member stops (or resumes) taking new calls at once.
  void set_admin_drained(std::size_t pool, std::size_t index, bool drained);
  // The earliest time a probe is due, or INT64_MAX when no pool is probed.
  std::int64_t next_due_ms() const { return next_due_ms_; }

 private:
  std::optional<HealthChange> record_failure(std::size_t pool, std::size_t index,
                                             std::uint16_t status);
  std::optional<HealthChange> record_success(std::size_t pool, std::size_t index,
                                             std::uint16_t status);
  void publish(std::size_t pool);

  void schedule();

  PoolSet& pools_;
  std::vector<std::vector<MemberHealth>> members_;
  std::int64_t next_due_ms_;
  std::uint16_t epoch_;
};

}  // namespace sipline::lb

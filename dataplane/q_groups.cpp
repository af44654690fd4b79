// Forking by q groups (a location route's fork = "q-groups"): RFC 3261 §16.6 step 1 lets a
// proxy process its target set in q-value order, and a phone registers its q (§10.2.1.2):
// a user's desk phone and softphone with q=1.0, the mobile with q=0.5. The contacts of the
// highest q ring at once, as fork = "parallel" rings them (parallel_fork.cpp: a branch each);
// when every one of them failed (a 3xx-5xx, silence, or ringing past `ring_timeout_ms`), the
// contacts of the next q ring, and so on. This is Kamailio's t_load_contacts() +
// t_next_contacts() in their standard mode, OpenSIPS' serialize_branches().
//   - The user is looked up again for each group (a phone that registered meanwhile rings in
//     its q's turn); a contact rung once is not rung again (HuntState::tried).
//   - A 2xx, a 6xx (§16.7 step 5: no new branch after one) or the caller's CANCEL ends the
//     call as in any fork; the best answer is weighed over every group (step 6).
//   - A group's contacts ring for `ring_timeout_ms` while a later group or the fallback (for
//     408) takes over from them; the last group's for Timer C, as a serial hunt's last contact.
//   - After the last group, the route's fallback (call_diversion.cpp) as after any fork.
// At most HuntState::kMaxContacts branches in all (one kept for a fallback).
#include <algorithm>

#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {

Pipeline::ForkTargets Pipeline::q_group_targets(const Inbound& in, const ContactsView& contacts,
                                                std::span<const std::uint32_t> rung,
                                                std::size_t limit) const {
  ForkTargets targets;
  std::uint16_t group_q = 0;
  // The table's order is highest q first: the group is the first q met among the rest.
  for (const ContactView& contact : contacts) {
    if (targets.count == std::min(limit, targets.contacts.size())) break;
    const std::uint32_t hash = contact_hash(contact.uri);
    if (std::find(rung.begin(), rung.end(), hash) != rung.end()) continue;
    if (targets.count != 0 && contact.q_milli != group_q) break;
    std::optional<ContactChoice> choice = fork_contact(in, contact);
    if (!choice) continue;
    group_q = contact.q_milli;
    choice->hash = hash;
    targets.contacts[targets.count++] = *choice;
  }
  return targets;
}

bool Pipeline::q_group_follows(const Inbound& in, const ContactsView& contacts,
                               std::span<const std::uint32_t> rung, std::size_t limit) const {
  return limit != 0 && q_group_targets(in, contacts, rung, limit).count != 0;
}

std::uint32_t Pipeline::q_group_ring_timeout_ms(TxIndex index, bool group_follows) const {
  if (group_follows || fallback_for(index, 408) != nullptr) return hunts_[index].ring_timeout_ms;
  return 0;  // Timer C
}

std::optional<Outcome> Pipeline::ring_next_q_group(TxIndex index, const OutputBuffers& out) {
  HuntState& state = hunts_[index];
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (!state.rings_by_q() || state.fell_back || state.answered || entry.cancelled ||
      state.best_code >= 600) {
    return std::nullopt;
  }
  // A branch is kept for the fallback while the route has one.
  const std::size_t reserved = state.route != HuntState::kNoRoute ? 1 : 0;
  if (state.branch_count + reserved >= HuntState::kMaxContacts) return std::nullopt;
  const std::size_t room = HuntState::kMaxContacts - reserved - state.branch_count;
  // Valid until this worker's next quiescent state: used before it.
  const ContactsView contacts = context_->location->lookup(state.aor_view());
  const TxOrigin& origin = origins_[index];
  const Inbound caller{{}, origin.source, origin.socket};
  const ForkTargets group = q_group_targets(caller, contacts, state.tried_view(), room);
  if (group.count == 0) return std::nullopt;
  for (std::size_t i = 0; i < group.count; ++i) {
    state.tried[state.tried_count + i] = group.contacts[i].hash;
  }
  const bool group_follows = q_group_follows(
      caller, contacts, {state.tried.data(), state.tried_count + group.count}, room - group.count);
  const std::uint32_t ring_timeout_ms = q_group_ring_timeout_ms(index, group_follows);
  const std::size_t first = state.branch_count;
  for (std::size_t i = 0; i < group.count; ++i) {
    if (!open_branch(index, caller, group.contacts[i], state.no_answer_ms, ring_timeout_ms)) {
      count(&WorkerCounters::failover_untracked);  // the table is full: fewer phones ring
      break;
    }
    ++state.tried_count;
  }
  if (state.branch_count == first) return std::nullopt;
  state.open_branches = static_cast<std::uint8_t>(state.branch_count - first);
  count(&WorkerCounters::q_groups_rung);
  const std::uint64_t key = entry.key;
  for (std::size_t i = first + 1; i < state.branch_count; ++i) {
    queue(PendingKind::Branch, transactions_->find(fork_branch_key(key, i)));
  }
  return send_branch(transactions_->find(fork_branch_key(key, first)), out);
}

}  // namespace sipline::dataplane

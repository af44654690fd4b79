// Parallel forking over a user's registered contacts (a location route's fork = "parallel"):
// RFC 3261 §16.6-§16.7, every contact rings at once (a desk phone, a softphone, a mobile).
//
// The caller's INVITE gets an entry of the worker's transaction table as a failover pool's
// does (its stored copy, our 100 Trying, the caller's CANCEL and ACK matched by its branch),
// flagged `forks`: it is never sent anywhere itself. Each contact gets a client transaction
// of its own (§16.6 step 8), an entry flagged `fork_branch`, keyed fork_branch_key(key, i),
// with its own branch, destination and Request-URI (the contact's URI), its own timers
// (Timer A's copies until `fork_timeout_ms`, Timer C or the route's `ring_timeout_ms`) and its
// own CANCEL, written from its first provisional answer (pool_failover.cpp does all of that
// per entry; the branch's request is the caller's entry's stored INVITE). Then (§16.7):
//   - provisional answers above 100 go to the caller, each with its contact's To tag (an
//     early dialog each, §12.1); a 100 is not passed on (step 5), we sent ours;
//   - the first 2xx goes to the caller and every other branch is cancelled (step 10), those
//     that have not answered yet once they do (§9.1), with RFC 3326's "Call completed
//     elsewhere" so that those phones show no missed call; a later 2xx goes to the caller too;
//   - a 3xx-6xx is ACKed (§17.1.1.3) and kept as the branch's outcome; a 6xx cancels the
//     others (a global answer);
//   - a branch silent for `fork_timeout_ms`, or cancelled by its ring timeout, settles as 408;
//   - when every branch settled without a 2xx and the route has a fallback for the best
//     answer's code (voicemail, call_diversion.cpp), one more branch goes there;
//   - else, when every branch settled without a 2xx, the caller gets the best answer (step 6: a
//     6xx, else the lowest class; in the 4xx class a 401, 407, 415, 420 or 484 first, then a
//     phone's own answer, then the 408 of a silent branch): the phone's response as it wrote
//     it (a 3xx with its Contact: a phone's call forwarding), kept in the branch's slot and
//     relayed, sent again by us until the caller's ACK (Timer G); our own answer with the best
//     code when none was kept (408, or no slot free); a relayed 401 or 407 carries the
//     WWW-Authenticate and Proxy-Authenticate lines of every other branch's 401/407 (step 7);
//   - the caller's CANCEL is answered 200 and cancels every branch; the answer is then 487.
#include <algorithm>
#include <cstring>

#include "dataplane/pipeline.hpp"
#include "sip/branch.hpp"
#include "sip/status_codes.hpp"

namespace sipline::dataplane {
namespace {

// Timer C (§16.6 step 11), and the wait after the last branch settled before the caller's
// entry goes (Timer D, §17.1.1.2: its branches' late answers are still ACKed meanwhile).
constexpr std::int64_t kForkTimerCMs = 180'000;
constexpr std::int64_t kForkTimerDMs = 32'000;
// T1 (§17.1.1.1) and Timer H (64 x T1, §17.2.1): the relayed answer's retransmissions.
constexpr std::int64_t kT1Ms = 500;
constexpr std::int64_t kTimerHMs = 32'000;

using sip::is_challenge;

// Higher is better (§16.7 step 6): a 6xx, else the lowest class; within the 4xx class the
// answers the caller can act on by sending the request again (401, 407, 415, 420, 484), then
// a contact's own other answers, then the 408 of a branch that said nothing.
int rank(std::uint16_t code) {
  if (code == 0) return -1;
  if (code >= 600) return 1000;
  const bool resubmittable = is_challenge(code) || code == 415 || code == 420 || code == 484;
  return (7 - code / 100) * 10 + (code == 408 ? 0 : resubmittable ? 2 : 1);
}

}  // namespace

std::optional<Pipeline::ContactChoice> Pipeline::sendable_contact(
    const Inbound& in, const ContactView& contact) const {
  const ContactChoice choice = choose_contact(contact);
  if (choice.destination.empty() || is_our_address(choice.destination) ||
      socket_for(in, choice.destination) < 0) {
    return std::nullopt;
  }
  return choice;
}

std::optional<Pipeline::ContactChoice> Pipeline::fork_contact(const Inbound& in,
                                                              const ContactView& contact) const {
  std::optional<ContactChoice> choice = sendable_contact(in, contact);
  if (!choice || !fits_origin(*choice)) return std::nullopt;
  return choice;
}

Pipeline::ForkTargets Pipeline::fork_targets(const Inbound& in, const ContactsView& contacts,
                                             std::size_t limit) const {
  ForkTargets targets;
  for (const ContactView& contact : contacts) {
    if (targets.count == std::min(limit, targets.contacts.size())) break;
    if (const std::optional<ContactChoice> choice = fork_contact(in, contact)) {
      targets.contacts[targets.count++] = *choice;
    }
  }
  return targets;
}

Outcome Pipeline::fork_parallel(const Inbound& in, const sip::RoutePlan& plan,
                                const lb::RouteRule& route, std::string_view aor,
                                const ContactsView& contacts, const Dialled& dialled,
                                const OutputBuffers& out) {
  const lb::Forking& fork = route.fork;
  // With a fallback, one branch is kept for it; and one contact is forked too, to see it fail.
  const bool falls_back = fork.fallback.has_value();
  const std::size_t room = HuntState::kMaxContacts - (falls_back ? 1 : 0);
  // By q groups: the highest q's contacts now, the next q's when they all failed (the user is
  // looked up again then, by name: one too long to keep rings every contact at once).
  const bool by_q =
      fork.mode == lb::Forking::Mode::QGroups && aor.size() <= HuntState::kAorCapacity;
  const ForkTargets targets =
      by_q ? q_group_targets(in, contacts, {}, room) : fork_targets(in, contacts, room);
  if (targets.count == 0) return unavailable(in, plan, route, aor, dialled, out);
  std::array<std::uint32_t, HuntState::kMaxContacts> rung{};
  for (std::size_t i = 0; by_q && i < targets.count; ++i)
    rung[i] = targets.contacts[i].hash;
  const bool group_follows =
      by_q && q_group_follows(in, contacts, {rung.data(), targets.count}, room - targets.count);
  const ContactChoice& first = targets.contacts[0];
  const TxIndex index = targets.count > 1 || falls_back || group_follows
                            ? open_transaction(in, {})
                            : sip::TransactionTable::kNone;
  if (index == sip::TransactionTable::kNone) {
    const std::optional<std::string_view> uri = choice_request_uri(first, contact_uri_);
    if (!uri) return unavailable(in, plan, route, aor, dialled, out);
    if (!first.alias_address.empty()) count(&WorkerCounters::node_relays_out);
    return forward(in, plan, first.destination, *uri, out, dialled.forward_extras());
  }
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  entry.forks = true;
  entry.asserts_identity = !dialled.asserted_identity.empty();
  TxOrigin& origin = origins_[index];
  origin.source = in.peer;
  origin.socket = in.socket;
  origin.request_uri_size = 0;
  HuntState& state = hunts_[index];
  state = HuntState{};
  keep_route(index, route, aor);
  state.no_answer_ms = fork.no_answer_ms;
  state.ring_timeout_ms = fork.ring_timeout_ms;
  if (by_q) {
    std::copy(aor.begin(), aor.end(), state.aor.begin());
    state.aor_size = static_cast<std::uint8_t>(aor.size());
  }
  const std::uint32_t ring_timeout_ms =
      by_q ? q_group_ring_timeout_ms(index, group_follows) : fork.ring_timeout_ms;
  for (std::size_t i = 0; i < targets.count; ++i) {
    if (!open_branch(index, in, targets.contacts[i], fork.no_answer_ms, ring_timeout_ms)) {
      count(&WorkerCounters::failover_untracked);  // the table is full: fewer phones ring
      break;
    }
    if (by_q) state.tried[state.tried_count++] = targets.contacts[i].hash;
  }
  state.open_branches = state.branch_count;
  if (state.branch_count == 0) {
    transactions_->erase(index);
    return forward(in, plan, first.destination, first.uri, out, dialled.forward_extras());
  }
  const Outcome sent =
      send_attempt(transactions_->find(fork_branch_key(entry.key, 0)), in, plan, out);
  if (sent.verdict != Verdict::Send || sent.kind != SendKind::ForwardedRequest) {
    for (std::size_t i = 0; i < state.branch_count; ++i) {
      transactions_->erase(transactions_->find(fork_branch_key(entry.key, i)));
    }
    transactions_->erase(index);
    return sent;
  }
  count(&WorkerCounters::failover_tracked);
  count(&WorkerCounters::contacts_forked);
  // §17.2.1: our 100 Trying at once, then the other contacts' INVITEs.
  queued_outcome_ = respond(in, 100, {}, {}, OutputBuffers{queued_, {}});
  if (queued_outcome_.verdict == Verdict::Send) queue(PendingKind::Written, index);
  for (std::size_t i = 1; i < state.branch_count; ++i) {
    queue(PendingKind::Branch, transactions_->find(fork_branch_key(entry.key, i)));
  }
  return sent;
}

bool Pipeline::open_branch(TxIndex index, const Inbound& in, const ContactChoice& target,
                           std::uint32_t no_answer_ms, std::uint32_t ring_timeout_ms) {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  HuntState& state = hunts_[index];
  const TxIndex branch = transactions_->insert(fork_branch_key(entry.key, state.branch_count));
  if (branch == sip::TransactionTable::kNone) return false;
  sip::TransactionTable::Entry& client = transactions_->at(branch);
  client.fork_branch = true;
  client.branch = attempt_branch(entry.key, state.branch_count);
  client.asserts_identity = entry.asserts_identity;
  TxOrigin& origin = origins_[branch];
  origin.source = in.peer;
  origin.socket = in.socket;
  origin.member = target.destination;
  origin.dialled = true;
  // Fits: fork_contact() said so.
  const std::string_view uri = choice_request_uri(target, origin.request_uri).value_or("");
  if (uri.data() != origin.request_uri.data())
    std::copy(uri.begin(), uri.end(), origin.request_uri.begin());
  origin.request_uri_size = static_cast<std::uint8_t>(uri.size());
  if (!target.alias_address.empty()) count(&WorkerCounters::node_relays_out);
  HuntState& branch_state = hunts_[branch];
  branch_state = HuntState{};
  branch_state.parent = index;
  branch_state.no_answer_ms = no_answer_ms;
  branch_state.ring_timeout_ms = ring_timeout_ms;
  ++state.branch_count;
  return true;
}

Outcome Pipeline::send_branch(TxIndex branch, const OutputBuffers& out) {
  const Inbound in = reparse_stored(branch);
  Outcome sent =
      in.bytes.empty()
          ? dropped(DropReason::Parse)
          : send_attempt(branch, in, sip::preprocess_routes(*message_, context_->identity), out);
  if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
    if (!hunts_[branch].fell_back) count(&WorkerCounters::contacts_forked);
    return sent;
  }
  // It could not be written (the checks before forking make this unlikely): the branch is lost.
  sip::TransactionTable::Entry& entry = transactions_->at(branch);
  entry.phase = sip::TransactionTable::Phase::Completed;
  transactions_->arm(branch, now_ms_);
  settle_branch(branch, 480);
  if (sent.verdict == Verdict::Send) sent = dropped(DropReason::TooLarge);
  return sent;
}

Pipeline::TxIndex Pipeline::fork_branch_for(TxIndex index,
                                            std::optional<std::uint64_t> attempt) const {
  if (!attempt) return sip::TransactionTable::kNone;
  const std::uint64_t key = transactions_->at(index).key;
  for (std::size_t i = 0; i < hunts_[index].branch_count; ++i) {
    const TxIndex branch = transactions_->find(fork_branch_key(key, i));
    if (branch != sip::TransactionTable::kNone && transactions_->at(branch).branch == *attempt) {
      return branch;
    }
  }
  return sip::TransactionTable::kNone;
}

Pipeline::TrackedResponse Pipeline::on_branch_response(TxIndex index,
                                                       std::optional<std::uint64_t> attempt,
                                                       const Inbound& in,
                                                       const OutputBuffers& out) {
  const std::uint16_t code = message_->status_code;
  const TxIndex branch = fork_branch_for(index, attempt);
  if (branch == sip::TransactionTable::kNone) {
    // A branch that is gone: a 2xx still goes to the caller (§16.7 step 5), the rest not.
    if (code >= 200 && code < 300) return {};
    return {dropped(DropReason::FailedOver)};
  }
  sip::TransactionTable::Entry& entry = transactions_->at(branch);
  using Phase = sip::TransactionTable::Phase;
  if (code < 200) {
    if (entry.phase == Phase::Completed) return {dropped(DropReason::FailedOver)};
    if (entry.phase == Phase::Calling) {
      entry.phase = Phase::Proceeding;
      transactions_->arm(branch, now_ms_ + timer_c_ms(branch));
    } else if (code > 100 && !entry.cancel_sent) {
      transactions_->arm(branch, now_ms_ + timer_c_ms(branch));  // §16.7 step 2
    }
    keep_cancel(branch);
    if (entry.cancelled && !entry.cancel_sent) queue(PendingKind::Cancel, branch);
    if (code == 100) return {absorbed(Absorb::Trying)};
    // Once the caller has our final answer, or a 2xx, more ringing means nothing to it.
    if (transactions_->at(index).answered_here || hunts_[index].answered) {
      return {dropped(DropReason::FailedOver)};
    }
    return {};
  }
  const bool first_final = entry.phase != Phase::Completed;
  if (first_final) {
    entry.phase = Phase::Completed;
    transactions_->arm(branch, now_ms_ + kForkTimerDMs);  // absorbs its retransmissions
  }
  if (code < 300) {
    if (first_final) settle_branch(branch, code);
    return {};  // to the caller; its ACK is end to end (§13.2.2.4)
  }
  if (first_final) settle_branch(branch, weigh_branch_answer(branch, in.bytes));
  return {send_ack(in, branch, out.primary)};  // each copy, until the contact has it
}

std::uint16_t Pipeline::weigh_branch_answer(TxIndex branch, std::string_view bytes) {
  const sip::TransactionTable::Entry& entry = transactions_->at(branch);
  // Our own ring timeout's CANCEL brought this answer: the branch timed out (§16.7 step 6).
  if (entry.cancel_sent && !entry.cancelled) return 408;
  const std::uint16_t code = message_->status_code;
  HuntState& state = hunts_[hunts_[branch].parent];
  // Not the best, or the call was answered (nothing but the 2xx goes to the caller).
  if (state.answered || rank(code) <= rank(state.best_code)) {
    // §16.7 step 7: the challenge that goes to the caller carries every other one.
    if (!state.answered && is_challenge(code) && is_challenge(state.best_code)) {
      add_challenges(state.best_branch);
    }
    return code < 400 ? 480 : code;
  }
  // The best so far: kept as the phone wrote it (a 3xx's Contact, a Reason, a Retry-After).
  if (state.best_branch != sip::TransactionTable::kNone) {
    transactions_->release_request(state.best_branch);
  }
  state.best_branch =
      transactions_->store_request(branch, bytes) ? branch : sip::TransactionTable::kNone;
  // A redirection we could not keep is no answer of ours to give: the phone was unavailable.
  if (state.best_branch == sip::TransactionTable::kNone && code < 400) return 480;
  return code;
}

void Pipeline::add_challenges(TxIndex kept) {
  if (kept == sip::TransactionTable::kNone) return;
  const std::string_view answer = transactions_->stored_request(kept);
  const std::size_t blank_line = answer.find("\r\n\r\n");
  if (blank_line == std::string_view::npos) return;
  // The kept answer's header lines, this answer's WWW-Authenticate and Proxy-Authenticate
  // lines as received (§16.7 step 7: without modification), the empty line and the body.
  const std::string_view head = answer.substr(0, blank_line + 2);
  const std::string_view rest = answer.substr(blank_line + 2);
  std::size_t size = head.size();
  std::copy(head.begin(), head.end(), kept_answer_.begin());
  for (const sip::HeaderId id :
       {sip::HeaderId::WWWAuthenticate, sip::HeaderId::ProxyAuthenticate}) {
    for (const sip::HeaderField* field = message_->find(id); field != nullptr;
         field = message_->next(*field)) {
      if (size + field->raw.size() + rest.size() > kept_answer_.size()) {
        count(&WorkerCounters::challenges_not_aggregated);
        return;  // the kept answer stays as it was
      }
      std::copy(field->raw.begin(), field->raw.end(), kept_answer_.begin() + size);
      size += field->raw.size();
    }
  }
  std::copy(rest.begin(), rest.end(), kept_answer_.begin() + size);
  size += rest.size();
  // In place, or in a larger slot after freeing its own: it cannot fail.
  transactions_->store_request(kept, std::string_view(kept_answer_.data(), size));
}

void Pipeline::settle_branch(TxIndex branch, std::uint16_t code) {
  HuntState& outcome = hunts_[branch];
  if (outcome.settled) return;
  outcome.settled = true;
  const TxIndex index = outcome.parent;
  HuntState& state = hunts_[index];
  if (code >= 200 && code < 300) {
    if (!state.answered) cancel_branches(index, branch, true);  // §16.7 step 10
    state.answered = true;
    state.best_branch = sip::TransactionTable::kNone;  // no failure is relayed now
  } else if (rank(code) > rank(state.best_code)) {
    if (code >= 600 && !state.answered) cancel_branches(index, branch);  // §16.7 step 9
    state.best_code = code;
    // A better outcome without bytes of its own (a silent branch's 408 outranks a 503): the
    // answer kept from another branch is no longer the one to relay.
    if (state.best_branch != sip::TransactionTable::kNone && state.best_branch != branch) {
      transactions_->release_request(state.best_branch);
      state.best_branch = sip::TransactionTable::kNone;
    }
  }
  if (state.open_branches != 0) --state.open_branches;
  if (state.open_branches != 0) return;
  if (state.answered) {
    // Kept a while for the caller's retransmitted INVITE (100 again), then dropped.
    transactions_->arm(index, now_ms_ + kForkTimerDMs + 1);
    return;
  }
  queue(PendingKind::ForkAnswer, index);
}

void Pipeline::cancel_branches(TxIndex index, TxIndex except, bool answered_elsewhere) {
  const std::uint64_t key = transactions_->at(index).key;
  using Phase = sip::TransactionTable::Phase;
  for (std::size_t i = 0; i < hunts_[index].branch_count; ++i) {
    const TxIndex branch = transactions_->find(fork_branch_key(key, i));
    if (branch == sip::TransactionTable::kNone || branch == except) continue;
    sip::TransactionTable::Entry& entry = transactions_->at(branch);
    if (entry.phase == Phase::Completed || entry.cancelled) continue;
    entry.cancelled = true;
    hunts_[branch].answered_elsewhere = answered_elsewhere;
    if (entry.phase == Phase::Calling) {
      // No more INVITE copies (Timer A); its CANCEL goes once it answers (§9.1), else the
      // branch ends at its no-answer timeout.
      transactions_->arm(branch, origins_[branch].attempt_deadline_ms);
    } else if (!entry.cancel_sent && !transactions_->stored_cancel(branch).empty()) {
      queue(PendingKind::Cancel, branch);
    }
  }
}

std::size_t Pipeline::add_completed_elsewhere(std::span<char> out, std::size_t size) {
  // RFC 3326 §2, with the cause and text phones and SBCs know (RFC 3326's example, §3).
  constexpr std::string_view kReason =
      "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n";
  const std::string_view written(out.data(), size);
  if (!written.ends_with("\r\n\r\n") || size + kReason.size() > out.size()) return size;
  // Before the empty line that ends the header (a CANCEL has no body).
  char* const blank_line = out.data() + size - 2;
  std::memmove(blank_line + kReason.size(), blank_line, 2);
  std::memcpy(blank_line, kReason.data(), kReason.size());
  return size + kReason.size();
}

Outcome Pipeline::cancel_fork(TxIndex index, const Inbound& in, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (!entry.cancelled && !hunts_[index].answered) {
    entry.cancelled = true;
    cancel_branches(index, sip::TransactionTable::kNone);
  }
  return respond(in, 200, {}, {}, out);  // §16.10
}

std::optional<Outcome> Pipeline::branch_timed_out(TxIndex branch, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(branch);
  entry.phase = sip::TransactionTable::Phase::Completed;
  transactions_->arm(branch, now_ms_ + kForkTimerDMs);  // a late final answer is still ACKed
  settle_branch(branch, 408);
  if (pending_count_ != 0) return take_pending(out);
  return std::nullopt;
}

Outcome Pipeline::answer_fork(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  // The next q group rings; after the last, voicemail or an operator: the route's fallback
  // before any failure goes to the caller.
  if (std::optional<Outcome> next_group = ring_next_q_group(index, out)) return *next_group;
  const std::uint16_t best_code = hunts_[index].best_code;
  if (std::optional<Outcome> diverted =
          fork_to_fallback(index, best_code != 0 ? best_code : 408, out)) {
    return *diverted;
  }
  const TxIndex best = hunts_[index].best_branch;
  if (!entry.cancelled && best != sip::TransactionTable::kNone &&
      !transactions_->stored_request(best).empty()) {
    // §16.7 step 6: the best answer goes to the caller; we ACKed the phone, so we send it
    // again ourselves until the caller's ACK (Timer G), as our own (§17.2.1).
    entry.phase = sip::TransactionTable::Phase::Completed;
    entry.answered_here = true;
    entry.last_code = hunts_[index].best_code;
    entry.retransmits = 0;
    origins_[index].attempt_deadline_ms = now_ms_ + kTimerHMs;
    transactions_->arm(index, now_ms_ + kT1Ms);
    hunts_[index].relays = true;
    return relay_fork_answer(index, out);
  }
  hunts_[index].best_branch = sip::TransactionTable::kNone;  // not relayed: it may go
  const Inbound in = reparse_stored_or_erase(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  entry.last_code = hunts_[index].best_code;
  return answer_exhausted(index, in, out);  // 487 after a CANCEL, else that code (or 408)
}

Outcome Pipeline::relay_fork_answer(TxIndex index, const OutputBuffers& out) {
  // Kept in the best branch's slot: that branch stays while the caller's entry keeps it.
  const TxIndex best = hunts_[index].best_branch;
  if (best == sip::TransactionTable::kNone) return dropped(DropReason::Parse);
  const std::string_view answer = transactions_->stored_request(best);
  sip::parse_message_into(*message_, answer, sip::ParseScope::Proxy);
  if (!message_->ok() || !message_->is_response()) return dropped(DropReason::Parse);
  const sip::ResponseRoute route = sip::route_response(*message_, context_->identity);
  if (!route.forward()) return dropped(DropReason::Parse);  // it was forwardable when kept
  sip::ResponseEdits edits;
  if (message_->status_code == 503) edits.status_code = 500;  // §16.7 step 6
  const TxOrigin& origin = origins_[best];
  return relay_response(Inbound{answer, origin.member, origin.socket}, route, edits, out);
}

void Pipeline::note_fork_answer_acked(TxIndex index) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.caller_acked) return;
  entry.caller_acked = true;  // Timer G stops; Timer H's wait absorbs late copies
  transactions_->arm(index, origins_[index].attempt_deadline_ms);
}

std::int64_t Pipeline::fork_timer_c_ms(TxIndex branch) const {
  const std::uint32_t ring = hunts_[branch].ring_timeout_ms;
  return ring != 0 ? ring : kForkTimerCMs;
}

}  // namespace sipline::dataplane

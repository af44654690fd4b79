// Per-call failover for the server pools (lb::FailoverSettings): the part of the pipeline
// that is transaction-stateful (RFC 3261 §16.6-§16.8, §17), on the worker's own transaction
// table (sip/transaction_table.hpp, DESIGN.md §4).
//
// A new request (no To tag; not ACK or CANCEL) for a pool with `failover = true` (or with
// credentials for its members' challenges: pool_challenge.cpp) gets an entry keyed by its
// transaction (the caller's branch and sent-by, §17.2.3) and a copy of its bytes. Then:
//   - a member's final answer in `failover_codes` is not passed on: for an INVITE we ACK it
//     (§17.1.1.3: the client transaction's own ACK, hop by hop); the request goes to the next
//     member up, with a new branch (a new client transaction, §16.6 step 8), the members
//     tried left out;
//   - no answer at all within `failover_timeout_ms`: the same, without an ACK; in a probed
//     pool the member also takes no new call until it answers a probe again;
//   - for an INVITE, a provisional above 100 ends failover (the callee may be ringing), and
//     so does CANCEL;
//   - any other final answer, or the last member's, goes to the caller as it is (a 503 as
//     500, §16.7 step 6), and the caller's ACK for it goes on to the member on the attempt's
//     branch: the member's own retransmissions (until that ACK) cover a lost answer on either
//     leg, as statelessly;
//   - nothing left to try and no answer: 408 to the caller (§16.7 step 6 treats a timeout
//     as a 408), 487 if it cancelled; that answer is ours, so our server transaction sends
//     it again (Timer G, §17.2.1: the caller stopped retransmitting at our 100) until the
//     caller's ACK, which ends here, or Timer H; a member's late final answer is then ACKed
//     by us and dropped.
// The proxy answers an INVITE 100 Trying at once (§17.2.1) and its retransmissions with 100
// again (a member's own 100 is not passed on, §16.7 step 5); so it retransmits the INVITE to the
// member itself (Timer A, §17.1.1.2: after T1, then at doubling intervals, on the same branch)
// until the member answers anything, the caller cancels, or the failover timer (in Timer B's
// place) runs out: a lost datagram costs T1, not a failover and the member's place in the pool. A
// non-INVITE gets no 100 (§16.2 advises against it) and its own retransmissions go on to the
// current member. CANCEL and ACK find the INVITE's entry before routing: the caller's CANCEL is
// answered 200 here and the member gets our own CANCEL once it answered provisionally
// (§16.10, §9.1); the ACK goes to the current attempt's member with its branch. A 2xx goes to the
// caller and ends the entry (an INVITE's ACK is end to end, §13.2.2.4); answers to an earlier
// attempt are ACKed (INVITE, non-2xx) or dropped (other non-2xx, any 1xx), or relayed (2xx: a late
// second dialog is the caller's to end, §13.2.2.4).
//
// Timer C (§16.8): once the member answered an INVITE provisionally, it runs from its last
// answer from 101 to 199 (§16.7 step 2); when it runs out, the proxy sends the member a CANCEL
// of its own (written from the member's first provisional answer, so it matches the INVITE it
// got, §9.1) and again at Timer E's intervals until the INVITE's final answer (a 487, which
// goes to the caller like any final answer) or Timer F; the member's answer to that CANCEL is
// absorbed.
//
// What it does not do: fork (one member at a time), or retransmit a non-INVITE itself
// (Timer E: the caller's own retransmissions reach the current member).
#include <algorithm>
#include <cstring>

#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/branch.hpp"
#include "sip/call_id_scan.hpp"
#include "sip/proxy_rules.hpp"
#include "sip/status_codes.hpp"
#include "sip/via.hpp"

namespace sipline::dataplane {
namespace {

// Timer C (§16.6 step 11: more than 3 minutes) for a call whose pool a reload changed; the
// pool's own `timer_c_ms` (lb::FailoverSettings) otherwise.
constexpr std::int64_t kTimerCMs = 180'000;
// How long a completed transaction is kept to absorb the caller's ACK and re-ACK the member's
// retransmitted answer: Timer D's 32 s for unreliable transports (§17.1.1.2).
constexpr std::int64_t kTimerDMs = 32'000;
// A non-INVITE: the final answer is due within Timer F (64 x T1, §17.1.2.2) even after a
// provisional; a completed one absorbs retransmissions for Timer K (T4, 5 s).
constexpr std::int64_t kTimerFMs = 32'000;
constexpr std::int64_t kTimerKMs = 5'000;
// T1 (§17.1.1.1), the round-trip estimate: an INVITE the member has not answered goes again
// T1 after it was sent, then after 2 T1, 4 T1, ... (Timer A, §17.1.1.2).
constexpr std::int64_t kT1Ms = 500;
// T2 (§17.1.2.2): the longest interval between two copies of our final answer (Timer G).
constexpr std::int64_t kT2Ms = 4'000;
// Timer H (64 x T1, §17.2.1): how long our final answer to an INVITE waits for its ACK.
constexpr std::int64_t kTimerHMs = 32'000;
// Timer B (and F for a non-INVITE), 64 x T1 (§17.1.1.2): how long an attempt to a pool that
// does not fail over (one tracked to answer challenges) waits for any answer.
constexpr std::int64_t kTimerBMs = 32'000;
// More than fit in the longest failover_timeout_ms (60 s: 7); bounds the shift.
constexpr std::uint8_t kMaxRetransmits = 16;

// The Request-URI of a stored request: between the request line's first and last SP.
std::string_view stored_request_uri(std::string_view request) {
  const std::string_view line = request.substr(0, request.find('\r'));
  const std::size_t first = line.find(' ');
  const std::size_t last = line.rfind(' ');
  if (first == std::string_view::npos || last <= first) return {};
  return line.substr(first + 1, last - first - 1);
}

}  // namespace

void Pipeline::prepare_transactions(const PipelineContext& context) {
  const bool pools_track =
      std::any_of(context.pools.specs().begin(), context.pools.specs().end(),
                  [](const lb::PoolSpec& pool) { return pool.tracks_transactions(); });
  const bool routes_hunt =
      std::any_of(context.routes.rules().begin(), context.routes.rules().end(),
                  [](const lb::RouteRule& route) { return route.fork.enabled(); });
  if (!pools_track && !routes_hunt) return;
  // Once, at start or at the reload that first enables failover or forking: between two
  // iterations, never per packet.
  if (!transactions_) {
    const std::size_t capacity = context.config->limits.transaction_table_size;
    transactions_ =
        std::make_unique<sip::TransactionTable>(capacity, std::max<std::size_t>(64, capacity / 8));
    origins_.resize(capacity);
  }
  if (routes_hunt && hunts_.empty()) hunts_.resize(transactions_->capacity());
}

std::optional<Outcome> Pipeline::match_transaction(const Inbound& in, const OutputBuffers& out) {
  const sip::Message& request = *message_;
  const sip::Method method = request.method;
  const bool ack_or_cancel = method == sip::Method::Ack || method == sip::Method::Cancel;
  // In-dialog requests (To tag) are tracked only when sent to a member with credentials
  // (track_for_challenges); ACK and CANCEL carry the INVITE's branch.
  if (request.to.has_tag && !ack_or_cancel && context_->challenging_members.empty()) {
    return std::nullopt;
  }
  const std::optional<std::uint64_t> key = sip::cookie_transaction_hash(request.top_via);
  if (!key) return std::nullopt;
  const TxIndex index = transactions_->find(*key);
  if (index == sip::TransactionTable::kNone) return std::nullopt;
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (ack_or_cancel ? !entry.invite : (method == sip::Method::Invite) != entry.invite) {
    return std::nullopt;  // not this transaction's (a peer reusing a branch)
  }
  const bool completed = entry.phase == sip::TransactionTable::Phase::Completed;
  if (completed && entry.answered_here) {
    // Our own final answer: the caller's ACK for it ends here (§17.2.1); a retransmission of
    // the request gets the answer again (§17.2.1, §17.2.2).
    if (method == sip::Method::Ack) {
      if (entry.forks) note_fork_answer_acked(index);  // (a phone's answer: its To tag)
      return absorbed(Absorb::Ack);
    }
    if (method != sip::Method::Cancel) {
      if (entry.forks && hunts_[index].relays) return relay_fork_answer(index, out);
      return respond(in, entry.last_code, {}, {}, out);
    }
  }
  if (entry.forks) {
    // A forked INVITE: its CANCEL cancels every branch; the INVITE again gets 100 again; an
    // ACK before our final answer has nowhere to go (a 2xx's ACK has a branch of its own).
    if (method == sip::Method::Cancel) return cancel_fork(index, in, out);
    if (method == sip::Method::Invite) return respond(in, 100, {}, {}, out);
    return absorbed(Absorb::Ack);
  }
  // A member's final answer went to the caller as it was: the caller's ACK goes on to the
  // member on the attempt's branch (below), and stops the member's retransmissions, which
  // reach the caller too (so a lost answer on either leg is sent again, as statelessly).
  if (method == sip::Method::Invite && !completed) {
    // A retransmission: our server transaction answers it with 100 again (§17.2.1); the
    // member has the INVITE (a completed one goes on, to make the member repeat its answer).
    return respond(in, 100, {}, {}, out);
  }
  if (method == sip::Method::Cancel) {
    if (std::optional<Outcome> answered = answer_cancel(index, in, out)) return *answered;
  }
  return forward_to_attempt(index, in, sip::preprocess_routes(request, context_->identity), out);
}

std::optional<Outcome> Pipeline::answer_cancel(TxIndex index, const Inbound& in,
                                               const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  const bool pending = entry.phase != sip::TransactionTable::Phase::Completed;
  const bool calling = entry.phase == sip::TransactionTable::Phase::Calling;
  // Ringing, but no CANCEL of ours was kept (larger than its slot): the caller's goes on to
  // the member on the attempt's branch instead, and the member answers it.
  if (pending && !calling && !entry.cancel_sent && transactions_->stored_cancel(index).empty()) {
    entry.cancelled = true;
    entry.may_fail_over = false;
    return std::nullopt;
  }
  // §16.10: a stateful proxy answers a CANCEL that matches a transaction 200 itself, and
  // cancels its own client transaction: at once when the member answered provisionally,
  // else when it does (§9.1: a CANCEL must not overtake the INVITE).
  if (pending && !entry.cancelled) {
    entry.cancelled = true;
    entry.may_fail_over = false;
    if (calling) {
      // No more INVITE copies (Timer A) either: one reaching the member after the CANCEL
      // would ring a call the caller gave up. The failover timer still ends an unanswered
      // attempt (487 to the caller).
      transactions_->arm(index, origins_[index].attempt_deadline_ms);
    } else if (!entry.cancel_sent) {
      queue(PendingKind::Cancel, index);
    }
  }
  return respond(in, 200, {}, {}, out);
}

Outcome Pipeline::track_request(const Inbound& in, const sip::RoutePlan& plan, std::uint16_t pool,
                                std::size_t member, const Dialled& dialled,
                                const OutputBuffers& out, bool pinned) {
  const PeerAddress destination =
      to_peer_address(context_->pools.pool(pool).members[member].address);
  const TxIndex index = open_transaction(in, dialled.request_uri);
  if (index == sip::TransactionTable::kNone) {
    return forward(in, plan, destination, dialled.request_uri, out, dialled.forward_extras());
  }
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  entry.pool = pool;
  entry.member = static_cast<std::uint16_t>(member);
  entry.tried = std::uint64_t{1} << member;
  entry.pinned = pinned;
  return start_transaction(index, in, plan, destination, dialled, out);
}

Pipeline::TxIndex Pipeline::open_transaction(const Inbound& in, std::string_view request_uri) {
  const std::optional<std::uint64_t> key = sip::cookie_transaction_hash(message_->top_via);
  // Untracked: an RFC 2543 peer's request (no usable branch: its answers cannot be matched),
  // one too large to keep for a resend, and one whose branch another transaction of ours
  // holds (a peer reusing a branch for another method).
  // A translated Request-URI lives in the origin only: it must fit there.
  const bool trackable = key && in.bytes.size() <= sip::TransactionTable::kStoredRequestSize &&
                         request_uri.size() <= TxOrigin::kRequestUriCapacity;
  const bool fresh = trackable && transactions_->find(*key) == sip::TransactionTable::kNone;
  TxIndex index = fresh ? transactions_->insert(*key) : sip::TransactionTable::kNone;
  if (index != sip::TransactionTable::kNone && !transactions_->store_request(index, in.bytes)) {
    transactions_->erase(index);
    index = sip::TransactionTable::kNone;
  }
  if (index != sip::TransactionTable::kNone) return index;
  count(&WorkerCounters::failover_untracked);
  if (fresh && !logged_table_full_) {
    logged_table_full_ = true;
    SIPLINE_LOG_WARN(
        "worker %zu: transaction table full (%zu calls, %zu requests stored): requests to "
        "failover pools and forked calls are forwarded statelessly (counted as "
        "failover_untracked); see [limits] transaction_table_size",
        worker_index_, transactions_->size(), transactions_->stored_count());
  }
  return index;
}

Outcome Pipeline::start_transaction(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                                    const PeerAddress& destination, const Dialled& dialled,
                                    const OutputBuffers& out) {
  const std::string_view dialled_uri = dialled.request_uri;
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  entry.branch = attempt_branch(entry.key, 0);
  entry.epoch = pools_epoch_;
  entry.invite = message_->method == sip::Method::Invite;
  entry.asserts_identity = !dialled.asserted_identity.empty();
  TxOrigin& origin = origins_[index];
  origin.source = in.peer;
  origin.member = destination;
  origin.socket = in.socket;
  origin.dialled = !dialled_uri.empty();
  const std::string_view request_uri = origin.dialled ? dialled_uri : message_->request_uri_text;
  origin.request_uri_size = 0;
  if (request_uri.size() <= origin.request_uri.size()) {
    std::copy(request_uri.begin(), request_uri.end(), origin.request_uri.begin());
    origin.request_uri_size = static_cast<std::uint8_t>(request_uri.size());
  }
  // Attempt 0's branch is the stateless one (branch.hpp), so a call whose entry is gone
  // still sends CANCEL and ACK where its INVITE went.
  const Outcome outcome = send_attempt(index, in, plan, out);
  if (outcome.verdict != Verdict::Send || outcome.kind != SendKind::ForwardedRequest) {
    transactions_->erase(index);  // answered locally (482, ...) or dropped: nothing to track
    return outcome;
  }
  count(&WorkerCounters::failover_tracked);
  if (!entry.invite) return outcome;
  // §17.2.1: the INVITE server transaction answers 100 Trying at once (the answer may be
  // seconds of failover away); it also stops the caller's retransmissions (§17.1.1.2).
  queued_outcome_ = respond(in, 100, {}, {}, OutputBuffers{queued_, {}});
  if (queued_outcome_.verdict == Verdict::Send) queue(PendingKind::Written, index);
  return outcome;
}

Pipeline::TrackedResponse Pipeline::on_tracked_response(const Inbound& in,
                                                        const OutputBuffers& out) {
  const sip::Message& response = *message_;
  if (response.via_count < 2) return {};
  const sip::Parsed<sip::Via> caller_via = sip::parse_via(response.vias[1].text);
  if (!caller_via.ok()) return {};
  const std::optional<std::uint64_t> key = sip::cookie_transaction_hash(caller_via.value);
  if (!key) return {};
  const TxIndex index = transactions_->find(*key);
  if (index == sip::TransactionTable::kNone) return {};
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  // The answer to this transaction's request (an INVITE's CANCEL has its own answers).
  if ((response.cseq.method == sip::Method::Invite) != entry.invite ||
      response.cseq.method == sip::Method::Cancel) {
    return {};
  }
  const std::uint16_t code = response.status_code;
  const std::optional<std::uint64_t> attempt =
      sip::our_branch_transaction(response.top_via.branch, context_->identity.branch_key);
  if (entry.forks) return on_branch_response(index, attempt, in, out);
  if (attempt != entry.branch || entry.answered_here) {
    // An attempt we already left, or one the caller already has our answer for: ACK an
    // INVITE's final answer, let a 2xx through, drop the rest.
    if (code >= 300 && entry.invite) return {send_ack(in, index, out.primary)};
    if (code >= 200 && code < 300) return {};
    return {dropped(DropReason::FailedOver)};
  }
  if (code < 200) {
    if (entry.phase == sip::TransactionTable::Phase::Calling) {
      entry.phase = sip::TransactionTable::Phase::Proceeding;
      transactions_->arm(index, now_ms_ + (entry.invite ? timer_c_ms(index) : kTimerFMs));
    } else if (code > 100 && entry.invite && !entry.cancel_sent &&
               entry.phase == sip::TransactionTable::Phase::Proceeding) {
      // §16.7 step 2: every provisional from 101 to 199 resets Timer C; a callee that keeps
      // ringing (or sends early media) keeps its entry, for the hop-by-hop ACK of its answer.
      // (Once our CANCEL went, Timer E and F run instead.)
      transactions_->arm(index, now_ms_ + timer_c_ms(index));
    }
    // §16.8: once the member answered provisionally, Timer C cancels the attempt; its
    // CANCEL is written now, from this answer, while the stored INVITE may still go.
    if (entry.invite) {
      keep_cancel(index);
      // The caller cancelled before this answer: our CANCEL may go now (§9.1).
      if (entry.cancelled && !entry.cancel_sent) queue(PendingKind::Cancel, index);
    }
    // (A hunted INVITE goes on to the next contact after a ringing one's final answer.)
    if (code > 100 && entry.invite && !entry.hunts) {
      entry.may_fail_over = false;
      release_when_settled(index);
    }
    // §16.7 step 5: a 100 is not passed on; we answered the caller's INVITE 100 ourselves.
    // (A non-INVITE got none from us, §16.2: the member's tells its client to retransmit
    // less often, §17.1.2.2.)
    if (code == 100 && entry.invite) return {absorbed(Absorb::Trying)};
    return {};
  }
  if (code < 300) {
    transactions_->erase(index);
    return {};
  }
  const bool challenge = sip::is_challenge(code);
  if (challenge && entry.phase != sip::TransactionTable::Phase::Completed) {
    const bool answered_before = entry.challenge_answered;
    if (answer_challenge(index)) {
      entry.last_code = code;  // what the caller gets should the resend fail (cannot happen)
      if (!entry.invite) return {resend_with_credentials(index, out)};  // no ACK (§17.1.2)
      queue(PendingKind::Authenticated, index);
      return {send_ack(in, index, out.primary)};
    }
    if (answered_before) note_challenge_refused(index);
  }
  if (entry.hunts) {
    // What the fallback sees: our ring timeout's CANCEL brought this answer (no answer), a
    // phone's challenge is not passed on (unavailable).
    const bool ring_timeout = entry.cancel_sent && !entry.cancelled;
    hunts_[index].outcome = ring_timeout ? 408 : challenge ? 480 : code;
  }
  if (entry.phase != sip::TransactionTable::Phase::Completed && fails_over_on(index, code) &&
      next_member(index)) {
    // A hunt may answer the caller with this code itself (its last contact silent): not a
    // redirection or a challenge, whose headers it would not have, nor the 487 our ring
    // timeout's CANCEL brought (the caller cancelled nothing: 408, the contact did not answer).
    const bool headless = code < 400 || code == 401 || code == 407;
    entry.last_code = !entry.hunts ? code : headless ? 480 : hunts_[index].outcome;
    if (!entry.invite) return {resend_to_next_member(index, out)};  // no ACK for a non-INVITE
    queue(PendingKind::Resend, index);
    return {send_ack(in, index, out.primary)};
  }
  if (entry.phase != sip::TransactionTable::Phase::Completed) {
    if (fails_over_on(index, code)) count(&WorkerCounters::failover_exhausted);
    entry.phase = sip::TransactionTable::Phase::Completed;
    transactions_->arm(index, now_ms_ + (entry.invite ? kTimerDMs : kTimerKMs));
  }
  release_when_settled(index);
  // The answer goes to the caller, and the caller's ACK to the member (match_transaction). A
  // 503 goes as 500 (§16.7 step 6): the member is unavailable, not the proxy, and the caller
  // must not take it for ours and keep away from the proxy (§21.5.4).
  return {std::nullopt, code == 503 ? std::uint16_t{500} : std::uint16_t{0}};
}

bool Pipeline::fails_over_on(TxIndex index, std::uint16_t code) const {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  // §16.7 steps 5-6: every contact's non-2xx final answer below 600 leads to the next one (a
  // 6xx is a global failure: no new branch after it).
  if (entry.hunts) return entry.may_fail_over && code >= 300 && code < 600;
  if (entry.forks || entry.fork_branch) return false;  // parallel_fork.cpp
  if (!entry.may_fail_over || entry.epoch != pools_epoch_) return false;
  const lb::FailoverSettings& failover = context_->pools.pool(entry.pool).failover;
  if (!failover.enabled || entry.pinned) return false;  // tracked to answer challenges only
  const std::vector<std::uint16_t>& codes = failover.codes;
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

std::int64_t Pipeline::attempt_timeout_ms(TxIndex index) const {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.hunts || entry.fork_branch) return hunts_[index].no_answer_ms;
  const lb::FailoverSettings* failover =
      entry.epoch == pools_epoch_ ? &context_->pools.pool(entry.pool).failover : nullptr;
  if (failover != nullptr && failover->enabled && !entry.pinned) return failover->timeout_ms;
  return kTimerBMs;
}

std::int64_t Pipeline::timer_c_ms(TxIndex index) const {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.hunts) return hunt_timer_c_ms(index);
  if (entry.fork_branch) return fork_timer_c_ms(index);
  if (entry.epoch != pools_epoch_) return kTimerCMs;  // its pool may be gone
  return context_->pools.pool(entry.pool).failover.timer_c_ms;
}

std::optional<std::size_t> Pipeline::next_member(TxIndex index) const {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.hunts) {
    if (!entry.may_fail_over || !hunt_goes_on(index)) return std::nullopt;
    return hunts_[index].tried_count;  // the contact's place in the hunt
  }
  if (entry.forks || entry.fork_branch) return std::nullopt;
  if (!entry.may_fail_over || entry.epoch != pools_epoch_) return std::nullopt;
  if (!context_->pools.pool(entry.pool).failover.enabled || entry.pinned) return std::nullopt;
  const std::string_view call_id = sip::scan_call_id(transactions_->stored_request(index));
  return context_->pools.choose(entry.pool, call_id, entry.tried);
}

std::string_view Pipeline::request_uri_of(TxIndex index) const {
  const TxOrigin& origin = origins_[index];
  if (origin.request_uri_size != 0) return {origin.request_uri.data(), origin.request_uri_size};
  return stored_request_uri(transactions_->stored_request(index));
}

void Pipeline::release_when_settled(TxIndex index) {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.answered_here) return;  // our answer is written again from it
  const bool settled =
      entry.phase == sip::TransactionTable::Phase::Completed || !entry.may_fail_over;
  if (settled && origins_[index].request_uri_size != 0) transactions_->release_request(index);
}

Outcome Pipeline::send_ack(const Inbound& in, TxIndex index, std::span<char> out) {
  const std::string_view request_uri = request_uri_of(index);
  const sip::Written written = sip::write_ack_for_response(*message_, request_uri, out);
  if (!written.ok() || request_uri.empty()) return dropped(DropReason::TooLarge);
  const int socket = socket_for(in, in.peer);
  if (socket < 0) return dropped(DropReason::NoSocket);
  count(&WorkerCounters::acks_sent);
  return send(SendKind::ForwardedRequest, 0, Output{written, false}, in.peer,
              static_cast<std::uint8_t>(socket));
}

void Pipeline::queue(PendingKind kind, TxIndex index) {
  // Drained after every process() call, which queues at most one of each kind.
  if (pending_count_ < pending_.size()) pending_[pending_count_++] = Pending{kind, index};
}

std::optional<Outcome> Pipeline::next_transaction_outcome(std::int64_t now_ms,
                                                          const OutputBuffers& out) {
  set_clock_ms(now_ms);  // kPendingSendsOnly leaves it as it is
  if (pending_count_ != 0) return take_pending(out);
  if (!transactions_) return std::nullopt;
  for (;;) {
    const TxIndex index = transactions_->pop_expired(now_ms);
    if (index == sip::TransactionTable::kNone) return std::nullopt;
    if (std::optional<Outcome> outcome = expire(index, out)) return outcome;
  }
}

Outcome Pipeline::take_pending(const OutputBuffers& out) {
  const Pending pending = pending_[0];
  std::copy(pending_.begin() + 1, pending_.begin() + static_cast<std::ptrdiff_t>(pending_count_),
            pending_.begin());
  --pending_count_;
  if (pending.kind == PendingKind::Resend) return resend_to_next_member(pending.index, out);
  if (pending.kind == PendingKind::Authenticated) {
    return resend_with_credentials(pending.index, out);
  }
  if (pending.kind == PendingKind::Cancel) return send_cancel(pending.index, out);
  if (pending.kind == PendingKind::Branch) return send_branch(pending.index, out);
  if (pending.kind == PendingKind::ForkAnswer) return answer_fork(pending.index, out);
  if (queued_outcome_.size > out.primary.size()) return dropped(DropReason::TooLarge);
  std::copy_n(queued_.data(), queued_outcome_.size, out.primary.data());
  return queued_outcome_;
}

Inbound Pipeline::stored_inbound(TxIndex index) {
  const TxOrigin& origin = origins_[index];
  return Inbound{transactions_->stored_request(request_owner(index)), origin.source, origin.socket};
}

void Pipeline::mark_unanswering(TxIndex index) {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  // A contact is not probed.
  if (entry.hunts || entry.fork_branch || entry.epoch != pools_epoch_) return;
  const lb::PoolSpec& pool = context_->pools.pool(entry.pool);
  if (pool.probe.interval_s == 0 || !context_->pools.mark_unanswering(entry.pool, entry.member)) {
    return;
  }
  count(&WorkerCounters::failover_unanswering);
  SIPLINE_LOG_WARN(
      "worker %zu: pool \"%s\": member %s did not answer %s within %u ms (%u retransmissions): no "
      "new calls to it until it answers a probe",
      worker_index_, pool.name.c_str(), pool.members[entry.member].uri.c_str(),
      entry.invite ? "an INVITE" : "a request", static_cast<unsigned>(attempt_timeout_ms(index)),
      static_cast<unsigned>(entry.retransmits));
}

Inbound Pipeline::reparse_stored(TxIndex index) {
  Inbound in = stored_inbound(index);
  if (in.bytes.empty()) return in;
  sip::parse_message_into(*message_, in.bytes, sip::ParseScope::Proxy);
  if (!message_->ok()) in.bytes = {};  // it parsed when it came in: cannot happen
  return in;
}

Inbound Pipeline::reparse_stored_or_erase(TxIndex index) {
  const Inbound in = reparse_stored(index);
  if (in.bytes.empty()) transactions_->erase(index);
  return in;
}

Outcome Pipeline::forward_to_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                                     const OutputBuffers& out) {
  const sip::Branch branch =
      sip::signed_branch(transactions_->at(index).branch, context_->identity.branch_key);
  // The INVITE's Request-URI as the dial plan translated it, for the INVITE again and for its
  // CANCEL and ACK alike (§9.1, §17.1.1.3: theirs equals the INVITE's).
  const std::string_view request_uri = origins_[index].dialled ? request_uri_of(index) : "";
  // Credentials answering the member's challenge go with the request itself, not with its
  // CANCEL or ACK (§22.1: neither can be challenged).
  const sip::Method method = message_->method;
  const bool request_itself = method != sip::Method::Ack && method != sip::Method::Cancel;
  const std::string_view credentials =
      request_itself ? transactions_->stored_trailer(index) : std::string_view{};
  // Our P-Asserted-Identity again, for the user whose credentials the request carries (they
  // passed when it came in; the stored bytes and the caller's copies are the same request).
  ForwardExtras extras;
  extras.branch = &branch;
  extras.trailer = credentials;
  extras.stored_copy =
      in.bytes.data() == transactions_->stored_request(request_owner(index)).data();
  if (request_itself) extras.diversion = diversion_for(index);  // call_diversion.cpp
  if (request_itself && transactions_->at(index).asserts_identity) {
    const std::string_view user =
        sip::credentials_user(*message_, context_->config->domain.realm());
    if (!user.empty()) extras.asserted_identity = asserted_identity_for(user);
  }
  return forward(in, plan, origins_[index].member, request_uri, out, extras);
}

Outcome Pipeline::send_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                               const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  TxOrigin& origin = origins_[index];
  const Outcome sent = forward_to_attempt(index, in, plan, out);
  if (sent.verdict != Verdict::Send || sent.kind != SendKind::ForwardedRequest) return sent;
  entry.phase = sip::TransactionTable::Phase::Calling;
  entry.retransmits = 0;
  origin.attempt_deadline_ms = now_ms_ + attempt_timeout_ms(index);
  transactions_->arm(index, entry.invite ? std::min(now_ms_ + kT1Ms, origin.attempt_deadline_ms)
                                         : origin.attempt_deadline_ms);
  return sent;
}

Outcome Pipeline::send_next_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                                    const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  entry.attempt = static_cast<std::uint8_t>(entry.attempt + 1);
  entry.branch = attempt_branch(entry.key, entry.attempt);
  transactions_->keep_cancel(index, 0);  // the last attempt's, for its branch and member
  entry.cancel_sent = false;             // (a hunt moves on after its ring timeout's CANCEL)
  return send_attempt(index, in, plan, out);
}

Outcome Pipeline::retransmit(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  const TxOrigin& origin = origins_[index];
  // Timer A fired at the entry's deadline; it runs twice as long each time (§17.1.1.2).
  entry.retransmits = static_cast<std::uint8_t>(entry.retransmits + 1);
  const std::int64_t next = entry.deadline_ms + (kT1Ms << entry.retransmits);
  transactions_->arm(index, std::min(next, origin.attempt_deadline_ms));
  const Inbound in = reparse_stored(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  const Outcome sent =
      forward_to_attempt(index, in, sip::preprocess_routes(*message_, context_->identity), out);
  if (sent.verdict == Verdict::Send) count(&WorkerCounters::failover_retransmits);
  return sent;
}

Outcome Pipeline::resend_to_next_member(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  const Inbound in = reparse_stored_or_erase(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  const sip::RoutePlan plan = sip::preprocess_routes(*message_, context_->identity);
  if (entry.hunts) return send_to_next_contact(index, in, plan, out);
  while (const std::optional<std::size_t> member = next_member(index)) {
    const lb::PoolSpec& pool = context_->pools.pool(entry.pool);
    entry.member = static_cast<std::uint16_t>(*member);
    // The last member's credentials answered its own nonce; the next one challenges anew.
    entry.challenge_answered = false;
    entry.stale_answered = false;
    transactions_->drop_trailer(index);
    entry.tried |= std::uint64_t{1} << *member;
    origins_[index].member = to_peer_address(pool.members[*member].address);
    const Outcome sent = send_next_attempt(index, in, plan, out);
    if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
      count(&WorkerCounters::failover_retries);
      return sent;
    }
    // A member it cannot be sent to (one of our own addresses: forward() answered 482; no
    // socket of its family): the next one.
  }
  return answer_exhausted(index, in, out);
}

Outcome Pipeline::answer_exhausted(TxIndex index, const Inbound& in, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  // We answer the caller ourselves: 487 Request Terminated after a CANCEL (§9.2), else the
  // failover code the last member answered (swallowed, §16.7 step 6 would have sent it on;
  // a 503 as 500), else 408 (§16.7 step 6 takes a timeout for a 408).
  const std::uint16_t last = entry.last_code == 503 ? 500 : entry.last_code;  // §16.7 step 6
  const std::uint16_t code = entry.cancelled ? 487 : last != 0 ? last : 408;
  if (!entry.cancelled) count(&WorkerCounters::failover_exhausted);
  entry.phase = sip::TransactionTable::Phase::Completed;
  entry.answered_here = true;
  entry.last_code = code;
  if (entry.invite) {
    // §17.2.1: the caller stopped retransmitting at our 100, so a lost final answer would
    // never be asked for again: it goes again after T1, 2 T1, ... (at most T2 apart) until
    // the caller's ACK, or Timer H.
    entry.retransmits = 0;
    origins_[index].attempt_deadline_ms = now_ms_ + kTimerHMs;
    transactions_->arm(index, now_ms_ + kT1Ms);
  } else {
    transactions_->arm(index, now_ms_ + kTimerKMs);
  }
  return respond(in, code, {}, {}, out);
}

Outcome Pipeline::retransmit_answer(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  entry.retransmits = static_cast<std::uint8_t>(entry.retransmits + 1);
  const std::int64_t next = entry.deadline_ms + std::min(kT1Ms << entry.retransmits, kT2Ms);
  transactions_->arm(index, std::min(next, origins_[index].attempt_deadline_ms));
  count(&WorkerCounters::answers_retransmitted);
  if (entry.forks && hunts_[index].relays) return relay_fork_answer(index, out);
  const Inbound in = reparse_stored(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  return respond(in, entry.last_code, {}, {}, out);
}

void Pipeline::keep_cancel(TxIndex index) {
  if (!transactions_->stored_cancel(index).empty()) return;
  const sip::Written written = sip::write_cancel_for_provisional(
      *message_, request_uri_of(index), transactions_->cancel_space(index));
  if (written.ok()) transactions_->keep_cancel(index, written.size);
}

std::optional<Outcome> Pipeline::cancel_ringing(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.cancel_sent) {
    // Timer F of our CANCEL ran out and no final answer came: the call goes on statelessly
    // (a hunt goes on to its next contact).
    if (now_ms_ >= origins_[index].attempt_deadline_ms) {
      if (entry.hunts) hunts_[index].outcome = 408;
      if (entry.hunts && next_member(index)) return resend_to_next_member(index, out);
      if (entry.fork_branch) return branch_timed_out(index, out);
      transactions_->erase(index);
      return std::nullopt;
    }
    return send_cancel(index, out);  // Timer E
  }
  count(&WorkerCounters::timer_c_fired);
  if (transactions_->stored_cancel(index).empty()) {
    count(&WorkerCounters::cancels_unsent);
    if (entry.fork_branch) return branch_timed_out(index, out);  // it may ring on, unheard
    transactions_->erase(index);  // the caller's own timers end the call
    return std::nullopt;
  }
  return send_cancel(index, out);
}

Outcome Pipeline::send_cancel(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  TxOrigin& origin = origins_[index];
  const std::string_view cancel = transactions_->stored_cancel(index);
  if (cancel.empty() || cancel.size() > out.primary.size()) {
    count(&WorkerCounters::cancels_unsent);
    return dropped(DropReason::TooLarge);
  }
  if (!entry.cancel_sent) {
    // A CANCEL is a non-INVITE client transaction of its own (§9.1): Timer E from T1,
    // doubling up to T2, until Timer F (64 x T1).
    entry.cancel_sent = true;
    entry.retransmits = 0;
    origin.attempt_deadline_ms = now_ms_ + kTimerFMs;
    count(&WorkerCounters::cancels_sent);
  } else {
    entry.retransmits = static_cast<std::uint8_t>(std::min<int>(entry.retransmits + 1, 8));
  }
  const std::int64_t interval = std::min(kT1Ms << entry.retransmits, kT2Ms);
  transactions_->arm(index, std::min(now_ms_ + interval, origin.attempt_deadline_ms));
  std::memcpy(out.primary.data(), cancel.data(), cancel.size());
  std::size_t size = cancel.size();
  if (entry.fork_branch && hunts_[index].answered_elsewhere) {
    size = add_completed_elsewhere(out.primary, size);
  }
  const int socket = socket_for(Inbound{{}, origin.member, origin.socket}, origin.member);
  if (socket < 0) return dropped(DropReason::NoSocket);
  return send(SendKind::ForwardedRequest, 0, Output{sip::Written{size}, false}, origin.member,
              static_cast<std::uint8_t>(socket));
}

void Pipeline::note_ack_for_our_answer() {
  const std::optional<std::uint64_t> key = sip::cookie_transaction_hash(message_->top_via);
  if (!key) return;
  const TxIndex index = transactions_->find(*key);
  if (index == sip::TransactionTable::kNone) return;
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (!entry.answered_here || entry.caller_acked) return;
  // Timer G stops; the entry stays until Timer H's end to ACK a member's late answer.
  entry.caller_acked = true;
  transactions_->arm(index, origins_[index].attempt_deadline_ms);
  // Nothing is written from the stored INVITE any more (our ACKs take the Request-URI kept
  // beside the entry, when it fitted): its slot goes back for new calls.
  if (origins_[index].request_uri_size != 0) transactions_->release_request(index);
}

std::optional<Outcome> Pipeline::expire(TxIndex index, const OutputBuffers& out) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.forks && !entry.answered_here) {
    // A branch answered 2xx and every branch has settled: the wait after it ran out.
    transactions_->erase(index);
    return std::nullopt;
  }
  if (entry.phase != sip::TransactionTable::Phase::Calling) {
    if (entry.answered_here && entry.invite && !entry.caller_acked &&
        entry.deadline_ms < origins_[index].attempt_deadline_ms &&
        entry.retransmits < kMaxRetransmits) {
      return retransmit_answer(index, out);  // Timer G
    }
    if (entry.phase == sip::TransactionTable::Phase::Proceeding && entry.invite &&
        !entry.answered_here) {
      return cancel_ringing(index, out);  // Timer C, then Timer E's copies
    }
    // The completed transaction's wait (D, H, K) or a non-INVITE's Timer F ran out: the call
    // goes on statelessly. (A branch keeping its fork's best answer waits for the fork.)
    if (entry.fork_branch && keeps_best_answer(index)) {
      transactions_->arm(index, now_ms_ + kTimerDMs);
      return std::nullopt;
    }
    if (entry.forks) hunts_[index].best_branch = sip::TransactionTable::kNone;  // it may go
    transactions_->erase(index);
    return std::nullopt;
  }
  if (entry.deadline_ms < origins_[index].attempt_deadline_ms &&
      entry.retransmits < kMaxRetransmits) {
    return retransmit(index, out);
  }
  count(&WorkerCounters::failover_timeouts);
  if (entry.fork_branch) return branch_timed_out(index, out);
  mark_unanswering(index);
  // This member said nothing; a hunt keeps an earlier contact's answer for the caller.
  if (!entry.hunts) entry.last_code = 0;
  if (entry.hunts) hunts_[index].outcome = 408;
  if (next_member(index)) return resend_to_next_member(index, out);
  // No member answered and none is left (or the caller cancelled and the member did not
  // answer its CANCEL with a 487).
  const Inbound in = reparse_stored_or_erase(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  return answer_exhausted(index, in, out);
}

}  // namespace sipline::dataplane

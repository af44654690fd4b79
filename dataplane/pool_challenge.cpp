// Answering a pool member's challenge (lb::PoolCredentials): a carrier's SBC that answers
// our INVITE (or MESSAGE, OPTIONS, ...) with 401 or 407 gets the request again, with
// credentials for its realm, instead of the caller getting a challenge it has no password
// for (RFC 3261 §22.2, §22.3; what Kamailio's uac_auth() does from a failure route).
//
// The request is tracked in the worker's transaction table as for failover
// (pool_failover.cpp). When the current attempt's member challenges it:
//   - an INVITE's 401/407 is ACKed by us (§17.1.1.3, hop by hop: the caller never sees it);
//   - the Authorization (or Proxy-Authorization) line for the first challenge we support
//     (sip/digest_client.hpp: SHA-256 or MD5, qop=auth with a fresh cnonce, nc=1) is kept
//     after the stored request, and the request goes to the same member again on a new
//     branch: a new client transaction (§16.6 step 8). Timer A's copies of it carry the line
//     too; the caller's CANCEL and ACK go on the new branch without it (§22.1: neither can
//     be challenged);
//   - once per attempt: a second challenge means the member refused the credentials; it
//     goes to the caller as any final answer, counted and logged. Except once with
//     stale=true (RFC 7616 §3.3: right credentials, an expired nonce): answered again.
// Requests within a dialog (a BYE, a re-INVITE) reach the carrier by their Route or
// Request-URI, not through the route table: one whose next hop is a member of a pool with
// credentials is tracked too (track_for_challenges), pinned to that member (no failover).
// The CSeq stays the caller's (§22.2 would have a UA increase it): the caller's CANCEL,
// ACK and later requests carry its own numbers, and a proxy that changed one would have to
// change them all for the rest of the dialog; the challenged transaction is over (we ACKed
// its final answer), so the member takes the new branch as a new request. Kamailio's
// uac_auth() keeps the CSeq too, by default.
#include <xxhash.h>

#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/digest_client.hpp"
#include "sip/hex.hpp"

namespace sipline::dataplane {
namespace {

// RFC 7616 §3.4: the cnonce is the client's own nonce, unpredictable to the server: a keyed
// hash of a per-worker counter (the key is random per start), 16 hex digits.
sip::Hex64 make_cnonce(std::uint64_t counter, std::uint64_t key) {
  return sip::hex64(XXH3_64bits_withSeed(&counter, sizeof counter, key));
}

}  // namespace

std::optional<Outcome> Pipeline::track_for_challenges(const Inbound& in, const sip::RoutePlan& plan,
                                                      const PeerAddress& hop,
                                                      const OutputBuffers& out) {
  const sip::Method method = message_->method;
  // Only within a dialog (To tag): a new request that names the carrier itself skipped the
  // route table, and with it the route's auth and sources; its challenge goes back to its
  // sender, as any other hop's. Never a REGISTER: the trunk's account is not a phone's.
  if (!transactions_ || !message_->to.has_tag || method == sip::Method::Ack ||
      method == sip::Method::Cancel || method == sip::Method::Register) {
    return std::nullopt;
  }
  for (const PipelineContext::ChallengingMember& member : context_->challenging_members) {
    if (same_peer(member.address, hop)) {
      return track_request(in, plan, member.pool, member.member, Dialled{}, out, true);
    }
  }
  return std::nullopt;
}

bool Pipeline::answer_challenge(TxIndex index) {
  sip::TransactionTable::Entry& entry = transactions_->at(index);
  // Not once the callee may be ringing or the caller cancelled (may_fail_over is cleared by
  // both), nor for a pool a reload changed since the request came.
  // A registered phone's challenge is not ours to answer (a pool's credentials are a trunk's).
  if (entry.hunts || entry.fork_branch || entry.epoch != pools_epoch_ || !entry.may_fail_over) {
    return false;
  }
  const lb::PoolCredentials& credentials = context_->pools.pool(entry.pool).credentials;
  if (!credentials.configured() || transactions_->stored_request(index).empty()) return false;
  const sip::PickedChallenge picked = sip::pick_challenge(*message_);
  if (picked.error != sip::ChallengeError::None) {
    if (!entry.challenge_answered) count(&WorkerCounters::pool_challenges_refused);
    return false;  // (a second challenge is counted by the caller)
  }
  if (entry.challenge_answered) {
    // Once per attempt, and once more for a stale nonce (RFC 7616 §3.3: the credentials
    // were right, the nonce had expired in between).
    if (!picked.challenge.stale || entry.stale_answered) return false;
    entry.stale_answered = true;
  }
  const sip::Hex64 cnonce = make_cnonce(++cnonces_, context_->to_tag_key ^ entry.key);
  const sip::CredentialsInput input{
      credentials.auth_user, credentials.password, message_->cseq.method_text,
      request_uri_of(index), cnonce.view(),        1};
  const std::size_t size = sip::write_authorization(authorization_, picked.challenge, input);
  if (size == 0 || !transactions_->attach_trailer(index, {authorization_.data(), size})) {
    count(&WorkerCounters::pool_challenges_refused);
    return false;
  }
  entry.challenge_answered = true;
  return true;
}

Outcome Pipeline::resend_with_credentials(TxIndex index, const OutputBuffers& out) {
  const Inbound in = reparse_stored_or_erase(index);
  if (in.bytes.empty()) return dropped(DropReason::Parse);
  const Outcome sent =
      send_next_attempt(index, in, sip::preprocess_routes(*message_, context_->identity), out);
  if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
    count(&WorkerCounters::pool_challenges_answered);
    return sent;
  }
  // It went to this member a moment ago, so this cannot fail; if it does, the caller gets
  // the member's answer code from us.
  return answer_exhausted(index, in, out);
}

void Pipeline::note_challenge_refused(TxIndex index) {
  count(&WorkerCounters::pool_challenges_refused);
  if (logged_challenge_refused_) return;
  logged_challenge_refused_ = true;
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if (entry.hunts || entry.fork_branch || entry.epoch != pools_epoch_) return;
  const lb::PoolSpec& pool = context_->pools.pool(entry.pool);
  SIPLINE_LOG_WARN(
      "worker %zu: pool \"%s\": member %s challenged our credentials (auth_user \"%s\") again "
      "with %u: passed to the caller (counted as pool_challenges_refused; logged once)",
      worker_index_, pool.name.c_str(), pool.members[entry.member].uri.c_str(),
      pool.credentials.auth_user.c_str(), static_cast<unsigned>(message_->status_code));
}

}  // namespace sipline::dataplane

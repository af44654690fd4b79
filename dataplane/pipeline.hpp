// The per-packet pipeline a worker runs on the messages it owns (DESIGN.md §1 step 4, §4):
// parse → §16.3 checks → ACK absorption → §16.4 Route pre-processing → REGISTER to the
// control thread → route table → location / forward / redirect / reject (+ proxy auth) →
// §16.6 rewrite; responses: §16.7 Via check and pop → next hop.
//
// A Pipeline belongs to one worker: it owns the parsed Message, the proxy authenticator
// (nonce counts are per worker, see sip/digest_auth.hpp) and its scratch buffers, so process()
// allocates nothing and locks nothing. It writes what is to be sent straight into the
// caller's transmit buffer and says where it goes; the worker does the I/O and counting.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/call_limits.hpp"
#include "dataplane/call_records.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/overload.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/stats.hpp"
#include "lb/pool.hpp"
#include "lb/route_table.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"
#include "sip/proxy_rules.hpp"
#include "sip/rewrite.hpp"
#include "sip/route_token.hpp"
#include "sip/substring_set.hpp"
#include "sip/transaction_table.hpp"
#include "sip/user_translation.hpp"

namespace sipline::dataplane {

class SourceGuard;     // source_guard.hpp
class TrustedSources;  // source_guard.hpp

// What every worker's pipeline reads; immutable once the workers run (except the location
// table, which is RCU-protected).
struct PipelineContext {
  std::shared_ptr<const config::Config> config;
  sip::LocalIdentity identity;      // domains, listen addresses, branch key, RR flag
  std::vector<PeerAddress> listen;  // socket index → bound address
  // A listen address is loopback or unspecified: a next hop a message names may be loopback
  // too (may_send_to).
  bool loopback_peers = false;
  std::unique_ptr<sip::UserTable> users;  // who may authenticate (and who exists: 404)
  lb::RouteTable routes;                  // [[routes]], first match wins
  // [[pools]] and their members' health (written by the control thread's prober).
  lb::PoolSet pools;
  sip::NonceSecret nonce_secret{};  // shared with the registrar: nonces validate anywhere
  std::uint64_t to_tag_key = 0;     // per boot: keys the To tags of local responses
  LocationTable* location = nullptr;
  // Per-source limits (source_guard.hpp): proxy-auth failures are reported to it. Null: none.
  SourceGuard* guard = nullptr;
  // The sources the guard never limits: [source_limits] trusted_sources, every forward
  // target and every pool member of this configuration (so a reload that adds a pool member
  // trusts it at once). Never null.
  std::shared_ptr<const TrustedSources> trusted_sources;
  // [source_limits] scanner_user_agents, for the User-Agent of every request.
  sip::SubstringSet scanner_user_agents;
  // The trust domain of RFC 3325 §5: whose P-Asserted-Identity and P-Preferred-Identity are
  // passed on, and who may receive one the user keeps private (§7): the servers of this
  // configuration (server_prefixes()) and [domain] trust_domain. Never null.
  std::shared_ptr<const TrustedSources> identity_sources;
  // The members of the pools with credentials (lb::PoolCredentials): a request routed to one
  // by its Route or Request-URI (a BYE, a re-INVITE) is tracked too, so that the member's
  // challenge to it is answered.
  struct ChallengingMember {
    PeerAddress address;
    std::uint16_t pool = 0;
    std::uint16_t member = 0;
  };
  std::vector<ChallengingMember> challenging_members;
  // [[users]] caller_id, sorted by user: what an asserted identity names (assert_identity).
  std::vector<std::pair<std::string, std::string>> caller_ids;
  // The caller ID of `user`, else `user` itself. Never allocates.
  std::string_view caller_id_of(std::string_view user) const;

  // Concurrent-call limits (max_calls, call_limits.hpp): the shared counters (null: no limit
  // is applied), the counter and limit of each route (by index; max 0: none) and of each
  // user with one (sorted by user). Filled by attach_call_counters.
  CallCounters* call_counters = nullptr;
  struct CallLimit {
    std::uint32_t counter = kNoCallCounter;
    std::uint32_t max = 0;      // calls at once; 0: none
    std::uint32_t max_cps = 0;  // routes: calls started per second; 0: none
    bool limits() const { return max != 0 || max_cps != 0; }
  };
  std::vector<CallLimit> route_limits;
  std::vector<std::pair<std::string, CallLimit>> user_limits;
  std::vector<std::pair<std::string, CallLimit>> group_limits;  // [[call_limits]], in order
  // The counters of this configuration's limited routes ("route:NAME") and users ("user:NAME")
  // from `counters`, which keeps them by name across reloads. Control thread.
  void attach_call_counters(CallCounters& counters);
  // `user`'s limit, or nullptr. Never allocates.
  const CallLimit* user_limit(std::string_view user) const;
  // Counter lines: "call_limit route NAME: calls=N max=M refused=R max_cps=C refused_cps=RC"
  // per route with limits of its own, "call_limit group NAME: ..." per [[call_limits]], and
  // "call_limit users: limited=U calls=N refused=R" for the limited users together.
  std::string call_limits_text() const;

  // Builds everything but `location` from the config; random secrets from OpenSSL.
  static std::unique_ptr<PipelineContext> create(std::shared_ptr<const config::Config> config,
                                                 LocationTable* location);
  // For a reload: a context from `config` that keeps `current`'s per-boot secrets (branches,
  // local To tags and nonces handed out before stay valid), location table and source guard.
  static std::unique_ptr<PipelineContext> reloaded(std::shared_ptr<const config::Config> config,
                                                   const PipelineContext& current);
};

enum class Verdict : std::uint8_t {
  Send,       // bytes written into the transmit buffer: send them to `destination`
  Drop,       // nothing to send; counted under `drop`
  ToControl,  // a REGISTER for us, or the answer to a probe we sent: to the control thread
  // Nothing to send and nothing lost (which: Outcome::absorb).
  Absorbed,
};

enum class SendKind : std::uint8_t {
  ForwardedRequest,
  ForwardedResponse,
  LocalResponse,
  StunAnswer,  // to a STUN Binding request on the SIP port (RFC 5626 §4.4.2, sip/stun.hpp)
};

// What an Absorbed outcome took in.
enum class Absorb : std::uint8_t {
  Ack,        // the ACK for our own non-2xx response (RFC 3261 §17.2.1)
  Trying,     // a member's 100 Trying to an INVITE we answered 100 ourselves (§16.7 step 5)
  Keepalive,  // a CRLF keep-alive (RFC 5626 §4.4.1, sent over UDP too) or a STUN indication
  // A member's answer to a CANCEL of ours (Timer C's, §16.8, or for the caller's, §16.10):
  // the INVITE's own final answer (487) is what goes to the caller.
  CancelAnswer,
};

// A received datagram as the pipeline reads it, whichever port received it: its bytes (a view
// into the receive buffer - a Packet in socket mode, the mbuf itself or the lcore's scratch
// copy of a reassembled chain in DPDK mode), where it came from, and the listen address
// (index into PipelineContext::listen) it arrived on.
struct Inbound {
  std::string_view bytes;
  PeerAddress peer;
  std::uint8_t socket = 0;
};

// Where process() writes what is to be sent. `primary` is tried first; a message that does
// not fit it is written again into `fallback` (when not empty). DPDK workers pass the data
// room of a fresh mbuf as primary (the one copy out goes straight into the frame) and a
// 64 KiB per-lcore buffer as fallback for the rare larger message; socket workers pass one
// transmit slot that fits any datagram.
struct OutputBuffers {
  std::span<char> primary;
  std::span<char> fallback;
};

// A request the overload gate refused (dataplane/overload.hpp): answered 503 when `verdict`
// is Send, unanswered (counted) otherwise.
enum class Shed : std::uint8_t { None, NewRequest, Register };

struct Outcome {
  Verdict verdict = Verdict::Drop;
  Shed shed = Shed::None;
  DropReason drop = DropReason::Parse;
  SendKind kind = SendKind::LocalResponse;
  std::uint16_t code = 0;       // LocalResponse: the status code (counters by class)
  Absorb absorb = Absorb::Ack;  // Absorbed: what
  std::uint8_t socket = 0;      // Send: the listen socket to send from
  std::uint32_t size = 0;       // Send: octets written
  bool in_fallback = false;     // Send: written into OutputBuffers::fallback, not primary
  // A request for a pool with no member up (answered 503, lb/pool.hpp).
  bool pool_unavailable = false;
  PeerAddress destination;  // Send
};

// The counters of an outcome beyond its verdict: the overload gate shed it (answered 503, or
// not: shed silently or no room for the 503), or its pool had no member up; both workers
// count through this.
inline void count_outcome_notes(const Outcome& outcome, WorkerCounters& counters) {
  if (outcome.pool_unavailable) counters.pool_unavailable.add();
  if (outcome.shed == Shed::None) return;
  (outcome.shed == Shed::Register ? counters.shed_register : counters.shed_new).add();
  if (outcome.verdict != Verdict::Send) counters.shed_unanswered.add();
}

// The counters of an outcome that sends nothing: a drop by its reason, an absorbed ACK, 100,
// keep-alive or answer to our CANCEL (not a drop: nothing was lost). Send and ToControl are the
// worker's to count when it has done them (count_sent).
inline void count_unsent(const Outcome& outcome, WorkerCounters& counters) {
  if (outcome.verdict == Verdict::Drop) counters.count_drop(outcome.drop);
  if (outcome.verdict != Verdict::Absorbed) return;
  switch (outcome.absorb) {
    case Absorb::Ack:
      counters.acks_absorbed.add();
      break;
    case Absorb::Trying:
      counters.trying_absorbed.add();
      break;
    case Absorb::Keepalive:
      counters.keepalives.add();
      break;
    case Absorb::CancelAnswer:
      counters.cancel_answers.add();
      break;
  }
}

// The counter of a message the kernel (or the TX queue) accepted.
inline void count_sent(SendKind kind, std::uint16_t code, WorkerCounters& counters) {
  switch (kind) {
    case SendKind::ForwardedRequest:
      counters.forwarded_requests.add();
      break;
    case SendKind::ForwardedResponse:
      counters.forwarded_responses.add();
      break;
    case SendKind::LocalResponse:
      counters.count_local(code);
      break;
    case SendKind::StunAnswer:
      counters.stun_answered.add();
      break;
  }
}

// An outcome that sends nothing, counted under `reason`.
inline Outcome dropped(DropReason reason) {
  Outcome outcome;
  outcome.verdict = Verdict::Drop;
  outcome.drop = reason;
  return outcome;
}

// An outcome that sends nothing and loses nothing.
inline Outcome absorbed(Absorb what) {
  Outcome outcome;
  outcome.verdict = Verdict::Absorbed;
  outcome.absorb = what;
  return outcome;
}

// Pipeline::next_transaction_send's clock for "only what the last process() set off": no
// timer is due before it.
inline constexpr std::int64_t kPendingSendsOnly = std::numeric_limits<std::int64_t>::min();

// What a forwarded request carries beyond the received one and the route's edits.
struct ForwardExtras {
  // Ours for this request (a tracked attempt's); null: the stateless one (§16.11).
  const sip::Branch* branch = nullptr;
  // "P-Asserted-Identity: ...\r\n" in place of any identity header (RFC 3325 §9.1).
  std::string_view asserted_identity;
  // Complete lines after the received ones: our answer to a member's challenge.
  std::string_view trailer;
  // "Diversion: ...\r\n" before the received lines: the call goes to a location route's
  // fallback (RFC 5806).
  std::string_view diversion;
  // Sent again from a tracked transaction's stored request (Timer A, the next member, our
  // credentials): what was done to it was counted when it came in.
  bool stored_copy = false;
};

// The To tag of every response we generate for a Call-ID: "sl" + 16 hex digits of a keyed
// hash of the Call-ID. Deterministic, so a retransmitted request gets the same tag, and an
// ACK for our response is recognised by recomputing it (§17.2.1, no transaction state).
struct ToTag {
  std::array<char, 18> text{};
  std::string_view view() const { return {text.data(), text.size()}; }
};
ToTag local_to_tag(std::string_view call_id, std::uint64_t key);

// The number an emergency service URN (sip/service_urn.hpp) is placed as: its service's in
// [limits.emergency_services], else its nearest listed parent's, else
// emergency_service_number. Empty when `uri` is no such URN or the number is "" (416).
std::string_view emergency_number_for(const sip::Uri& uri, const config::LimitsConfig& limits);

// A registered contact's address: where the REGISTER came from when the registrar recorded
// it (a UA behind NAT is reachable there, not at the private address in its Contact), else
// the Contact URI's host and port; one sipline may send to (std::nullopt: none).
std::optional<PeerAddress> contact_destination(const ContactView& contact,
                                               const PipelineContext& context);
// The address a Contact URI names: its IP literal host and its port (5060, 5061 for sips:
// when absent); std::nullopt for a host name (resolving it would block a worker) or a URI
// that does not parse.
std::optional<PeerAddress> contact_uri_address(std::string_view uri);
// The first of the context's listen addresses of `to`'s family, -1 when there is none: where
// the control thread's own requests (probes, keep-alives) leave from.
int listen_socket_for(const PipelineContext& context, const PeerAddress& to);

class Pipeline {
 public:
  Pipeline(const PipelineContext& context, std::size_t worker_index);

  // `now`: unix seconds, read once per loop iteration by the worker.
  Outcome process(const Inbound& in, std::int64_t now, const OutputBuffers& out) {
    now_s_ = now;
    const Outcome outcome = process_datagram(in, now, out);
    if (is_final_local_answer(outcome)) on_final_local_answer(outcome);
    return outcome;
  }
  // Socket mode: the packet's bytes, peer and socket, written into `out`.
  Outcome process(const Packet& packet, std::int64_t now, std::span<char> out) {
    return process(Inbound{packet.bytes(), packet.peer, packet.socket}, now,
                   OutputBuffers{out, {}});
  }

  const sip::Message& message() const { return *message_; }
  const PipelineContext& context() const { return *context_; }

  // A reloaded configuration (context_exchange.hpp): routes with `context` from now on. Done
  // by the worker between two iterations, never during one.
  void rebind(const PipelineContext& context);

  // Admission control (overload.hpp): the worker's gate, consulted for every request and
  // for RFC 7339 feedback in responses to clients that offered it. Null: admit everything.
  void set_overload_gate(OverloadGate* gate) { gate_ = gate; }

  // The worker's counters, for what the failover transactions do beyond one outcome
  // (failover_*, acks_sent). Null: not counted.
  void set_counters(WorkerCounters* counters) { counters_ = counters; }

  // Call accounting ([accounting], call_records.hpp): the calls' events go to `ring` for the
  // control thread. Null: none are made.
  void set_call_records(CallRecordRing* ring) { call_records_ = ring; }

  // Concurrent-call limits (call_limits.hpp): once per loop iteration with the unix time the
  // worker read; once a second it ends the limited calls whose time has passed.
  void expire_calls(std::int64_t now) {
    now_s_ = now;  // for the timers' answers, between two process() calls
    if (active_calls_ == nullptr || now == calls_swept_at_) return;
    calls_swept_at_ = now;
    if (active_calls_->size() != 0) expire_limited_calls(now);
  }
  // The worker's limited calls, for tests and statistics (null without call counters).
  const ActiveCallTable* active_calls() const { return active_calls_.get(); }

  // Failover (lb::FailoverSettings, pool_failover.cpp): sends that follow from the last
  // process() call (our ACK to a member's non-2xx answer, the INVITE again to the next
  // member) or from a timer that expired by `now_ms` (a monotonic clock). The worker asks
  // after every process() and once per loop iteration, and sends each outcome until there is
  // none. Without a pool that fails over, there never is any.
  // The failover timers' clock (monotonic ms), set by the worker once per loop iteration
  // before it asks for transaction work; new timers are armed from it.
  void set_clock_ms(std::int64_t now_ms) { now_ms_ = std::max(now_ms_, now_ms); }  // monotonic
  bool has_transaction_work(std::int64_t now_ms) const {
    if (pending_count_ != 0) return true;
    if (!transactions_ || transactions_->empty()) return false;
    const std::optional<std::int64_t> deadline = transactions_->next_deadline();
    return deadline && *deadline <= now_ms;
  }
  std::optional<Outcome> next_transaction_send(std::int64_t now_ms, const OutputBuffers& out) {
    std::optional<Outcome> outcome = next_transaction_outcome(now_ms, out);
    if (outcome && is_final_local_answer(*outcome)) on_final_local_answer(*outcome);
    return outcome;
  }
  // The table (null until a pool with failover is configured), for tests and statistics.
  const sip::TransactionTable* transactions() const { return transactions_.get(); }

 private:
  Outcome process_datagram(const Inbound& in, std::int64_t now, const OutputBuffers& out);
  std::optional<Outcome> next_transaction_outcome(std::int64_t now_ms, const OutputBuffers& out);
  Outcome process_request(const Inbound& in, std::int64_t now, const OutputBuffers& out);
  // --- call accounting (call_accounting.cpp) ---
  static bool is_final_local_answer(const Outcome& outcome) {
    return outcome.verdict == Verdict::Send && outcome.kind == SendKind::LocalResponse &&
           outcome.code >= 300;
  }
  // Our own final answer to an INVITE (message_) in `outcome`: a failed call's record.
  void note_local_answer(const Outcome& outcome);
  void on_final_local_answer(const Outcome& outcome) {
    if (call_records_ != nullptr) note_local_answer(outcome);
    if (active_calls_ != nullptr && active_calls_->size() != 0) note_limited_local_answer(outcome);
  }
  // --- concurrent-call limits (call_admission.cpp) ---
  // A new INVITE (message_) on `route`, placed by `caller` (authenticated; empty: unknown):
  // the refusal, or none when it may go on (`key` not 0: it started now and took its places).
  struct CallAdmission {
    std::optional<Outcome> refusal;
    std::uint64_t key = 0;
  };
  CallAdmission admit_call(const Inbound& in, const lb::RouteRule& route, std::string_view caller,
                           const OutputBuffers& out);
  CallAdmission remember_call(ActiveCall& call, std::uint32_t route_counter,
                              std::uint32_t user_counter);
  CallAdmission admit_emergency_call(std::uint64_t key, std::uint32_t route_counter,
                                     std::uint32_t user_counter);
  // A new INVITE (message_) to a [limits] emergency_numbers number: no call limit or overload
  // shedding refuses it (RFC 7339 §5.10.1).
  bool is_emergency_request() const;
  // The call admitted as `key` went nowhere: its places back, its entry gone.
  void forget_call(std::uint64_t key);
  // An in-dialog request (message_) of a limited call: a BYE ends it, others keep it alive.
  void note_limited_request();
  // The limited call a response (message_) to an INVITE or UPDATE belongs to; null: none.
  ActiveCall* limited_call_of_response();
  // A response (message_) of `call` relayed with status `code`: an INVITE's answer moves its
  // call on. `inserted_interval`: the Session-Expires we added to it (RFC 4028 §8.2), else 0.
  void note_limited_response(ActiveCall* call, std::uint16_t code, std::uint32_t inserted_interval);
  void note_session_refreshed(ActiveCall& call, std::uint32_t inserted_interval);
  void note_refresh_request(ActiveCall& call);
  std::int64_t answered_call_lifetime(const ActiveCall& call) const;
  // RFC 4028 §8.1-§8.2: the Session-Expires to add to the INVITE being forwarded (message_),
  // and the one (with refresher=uac and Require: timer) to add to a 2xx being relayed with
  // `code`, for a limited call we asked a session timer for; 0: none.
  std::uint32_t session_expires_to_request();
  std::uint32_t session_expires_to_answer(const ActiveCall& call, std::uint16_t code);
  void note_limited_local_answer(const Outcome& outcome);
  void expire_limited_calls(std::int64_t now);
  // A response (message_) from `callee` relayed to `caller` with status `code`: the record
  // of an INVITE's final answer or a BYE's 2xx.
  void note_relayed_response(const PeerAddress& callee, const PeerAddress& caller,
                             std::uint16_t code);
  // The record's Call-ID, tags and users from message_ (its To tag: `to_tag` when not empty).
  void fill_call_record(CallRecord& record, std::string_view to_tag);
  // A STUN message on the SIP port: its answer (sip/stun.hpp), or nothing.
  Outcome answer_stun(const Inbound& in, const OutputBuffers& out);
  Outcome process_response(const Inbound& in, const OutputBuffers& out);
  // The response in message_ (its top Via ours, `route` from route_response) to the next
  // Via's address, with `edits`.
  Outcome relay_response(const Inbound& in, const sip::ResponseRoute& route,
                         sip::ResponseEdits edits, const OutputBuffers& out);
  bool is_keepalive_options(const sip::Message& request) const;
  std::optional<Outcome> forward_to_uri_alias(const Inbound& in, const sip::RoutePlan& plan,
                                              const OutputBuffers& out);
  std::optional<Outcome> relay_for_trust_domain(const Inbound& in, const sip::RoutePlan& plan,
                                                const OutputBuffers& out);
  // "Path: <sip:HOST:PORT;lr;alias=SOURCE~PORT~1>\r\n" for a REGISTER we forward, in
  // path_line_; empty when it does not fit.
  std::string_view path_line(std::size_t listen_index, const PeerAddress& source);
  // An in-dialog request from outside the trust domain, to the host its Request-URI names,
  // that did not come through our Route although we record-route.
  bool is_foreign_dialog_request(const Inbound& in, const sip::RoutePlan& plan) const;
  bool lacks_route_token(const Inbound& in, const sip::RoutePlan& plan) const;
  bool is_dialog_request_for_the_table(const Inbound& in) const;
  bool is_from_a_scanner() const;
  std::string_view signed_record_route_uri(std::size_t listen_index);
  sip::ContactAliasEdit contact_alias_for(const PeerAddress& source);
  Outcome route_by_table(const Inbound& in, const sip::RoutePlan& plan, std::int64_t now,
                         const OutputBuffers& out);
  // What the route made of the request: the dial plan's Request-URI (its strip and prepend,
  // sip/user_translation.hpp) to send on (empty: as received), the user, as written, that
  // location and redirect look up, and the P-Asserted-Identity line it puts in for the
  // authenticated caller (assert_identity, RFC 3325 §9.1; empty: none).
  struct Dialled {
    std::string_view request_uri;
    std::string_view user;
    std::string_view asserted_identity;
    ForwardExtras forward_extras() const {
      ForwardExtras extras;
      extras.asserted_identity = asserted_identity;
      return extras;
    }
  };
  // The route's number translation applied to message_ (into translated_), or the answer to
  // give instead (484 when nothing is left of the user, 414 when the result is too long).
  struct DialPlanResult {
    Dialled dialled;
    std::optional<std::uint16_t> refusal;
  };
  // `service_number`: the number an emergency service URN is placed as (else empty).
  DialPlanResult dial(const lb::RouteRule& route, std::string_view service_number);
  // The route's action on the request in message_.
  Outcome take_route(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
                     const Dialled& dialled, const OutputBuffers& out);
  Outcome to_location(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
                      const Dialled& dialled, const OutputBuffers& out);
  Outcome redirect(const Inbound& in, const lb::RouteRule& route, const Dialled& dialled,
                   const OutputBuffers& out);
  // A new request for a server pool: to the member its Call-ID picks among those up, or 503
  // + Retry-After when none is (RFC 3261 §21.5.4).
  Outcome to_pool(const Inbound& in, const sip::RoutePlan& plan, std::uint16_t pool,
                  const Dialled& dialled, const OutputBuffers& out);
  // Proxy authentication for a route with auth = true: `passed`, or the answer to give
  // instead (Send of a 407/403/400, or Drop when it cannot be written).
  struct AuthGate {
    bool passed = true;
    std::string_view user;  // passed with credentials: whose (a view into the request)
    Outcome answer;
  };
  // What a write_* call produced and into which buffer.
  struct Output {
    sip::Written written;
    bool in_fallback = false;
  };

  // 503 + Retry-After for a request the gate refused (RFC 3261 §21.5.4, §20.33).
  Outcome shed(const Inbound& in, Shed why, const OutputBuffers& out);
  // RFC 7339 §5.2: the gate's feedback into the Via of `output` whose text is `element`.
  void add_oc_feedback(Output& output, const OutputBuffers& out, std::size_t offset,
                       std::string_view element, const sip::Via& via) const;
  void add_oc_feedback_stamped(Output& output, const OutputBuffers& out, std::size_t offset,
                               std::string_view element, const sip::LocalResponse& response) const;
  void add_oc_feedback_forwarded(Output& output, const OutputBuffers& out) const;

  AuthGate authenticate(const Inbound& in, std::int64_t now, const OutputBuffers& out);

  // RFC 3325 §5 at the edge of the trust domain (identity_sources: the servers we route to)
  // for message_ going from `from` to `to`: an identity from outside it is removed (counted
  // identity_removed); one the user asked to keep private (Privacy: id, §7), received or
  // `asserting` ours, does not leave it (identity_withheld). `count`: false for our copies.
  struct IdentityEdits {
    bool drop_received = false;  // no P-Asserted-Identity / P-Preferred-Identity line copied
    bool withhold_ours = false;  // nor ours written
  };
  IdentityEdits identity_edits(const PeerAddress& from, const PeerAddress& to, bool asserting,
                               bool count_it);
  Outcome forward(const Inbound& in, const sip::RoutePlan& plan, const PeerAddress& next_hop,
                  std::string_view request_uri, const OutputBuffers& out,
                  const ForwardExtras& extras = {});
  Outcome respond(const Inbound& in, std::uint16_t code, std::string_view reason,
                  std::string_view extra_headers, const OutputBuffers& out);
  Outcome respond_check(const Inbound& in, const sip::RequestCheck& check,
                        const OutputBuffers& out);
  Outcome send(SendKind kind, std::uint16_t code, const Output& written, const PeerAddress& to,
               std::uint8_t socket) const;
  // Runs `write` (a sip::write_* call) into out.primary, and again into out.fallback when the
  // message did not fit.
  template <class Write>
  static Output write_out(const OutputBuffers& out, Write&& write);

  // The socket to send to `destination` from: the one the packet came in on when the
  // families match, else the first of the destination's family; -1 when there is none.
  int socket_for(const Inbound& in, const PeerAddress& destination) const;
  bool is_our_address(const PeerAddress& address) const;

  // --- failover transactions (pool_failover.cpp) ---
  using TxIndex = sip::TransactionTable::Index;
  // The transaction number in our branch of attempt `attempt`: the first is the stateless
  // branch's (so a call whose entry is gone still sends CANCEL and ACK where its INVITE
  // went), the next ones differ by an odd multiplier.
  static std::uint64_t attempt_branch(std::uint64_t key, std::uint8_t attempt) {
    return attempt == 0 ? key : key ^ (0x9E3779B97F4A7C15ull * attempt);
  }
  // What a transaction needs beyond the table's entry: where its INVITE came from and where
  // its current attempt went (addresses are the dataplane's, so they live here, not in sip/).
  struct TxOrigin {
    PeerAddress source;  // the caller (or the proxy before us)
    PeerAddress member;  // the current attempt's destination
    // When the current attempt's failover timer runs out; the table's timer runs to the
    // INVITE's next retransmission before that (Timer A, §17.1.1.2).
    std::int64_t attempt_deadline_ms = 0;
    std::uint8_t socket = 0;
    // The INVITE's Request-URI, for our ACKs once the stored INVITE is released (a call that
    // can no longer fail over); 0: longer than this, the stored INVITE is kept instead.
    std::uint8_t request_uri_size = 0;
    // The dial plan translated the Request-URI (then always kept in request_uri): every
    // request of the transaction goes to a member with that one, not the received one.
    bool dialled = false;
    static constexpr std::size_t kRequestUriCapacity = 96;
    std::array<char, kRequestUriCapacity> request_uri{};
  };
  // Written: a message written when its cause was processed (our ACK to a member, our 100
  // Trying to the caller), in queued_; Resend: the INVITE to the next member; Authenticated:
  // the INVITE to the same member again, with the credentials answering its challenge;
  // Cancel: our CANCEL to the member, for the caller's.
  // Branch: a forked INVITE's first copy to a contact; ForkAnswer: our final answer to a
  // forked INVITE none of whose branches succeeded.
  enum class PendingKind : std::uint8_t {
    Written,
    Resend,
    Authenticated,
    Cancel,
    Branch,
    ForkAnswer
  };
  struct Pending {
    PendingKind kind = PendingKind::Written;
    TxIndex index = sip::TransactionTable::kNone;
  };

  // What on_tracked_response made of a response: an outcome of its own, or none: forward it
  // as any response, with `relayed_code` in place of its status code when not 0.
  struct TrackedResponse {
    std::optional<Outcome> outcome;
    std::uint16_t relayed_code = 0;
  };
  void prepare_transactions(const PipelineContext& context);
  // A request that belongs to a transaction we track (its INVITE again, CANCEL, ACK): where
  // it goes; std::nullopt when it belongs to none.
  std::optional<Outcome> match_transaction(const Inbound& in, const OutputBuffers& out);
  // A new request for a pool with failover: tracked, then sent to `member`. `pinned`: the
  // request named the member itself (track_for_challenges), it never fails over.
  Outcome track_request(const Inbound& in, const sip::RoutePlan& plan, std::uint16_t pool,
                        std::size_t member, const Dialled& dialled, const OutputBuffers& out,
                        bool pinned = false);
  // The entry and stored copy of a new request whose current attempt goes with `request_uri`
  // ("": the one received); kNone when it cannot be tracked (counted failover_untracked, a
  // full table logged once): the caller forwards it statelessly.
  TxIndex open_transaction(const Inbound& in, std::string_view request_uri);
  // The first attempt of the transaction open_transaction gave, to `destination`; our 100
  // Trying to the caller of an INVITE queued behind it.
  Outcome start_transaction(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                            const PeerAddress& destination, const Dialled& dialled,
                            const OutputBuffers& out);
  // --- serial forking over a user's contacts (serial_fork.cpp) ---
  // What a hunted transaction keeps beyond the entry and its origin.
  struct HuntState {
    static constexpr std::size_t kMaxContacts = 8;  // contacts tried per call
    static constexpr std::size_t kAorCapacity = 64;
    // Hashes of the contact URIs tried (serial), or rung so far on the caller's entry of a
    // fork by q groups (tried_count != 0 marks one: rings_by_q()).
    std::array<std::uint32_t, kMaxContacts> tried{};
    std::uint8_t tried_count = 0;
    std::uint8_t aor_size = 0;
    // The call's route (its fallback), while `routes_epoch` is the pipeline's; kNoRoute: none.
    std::uint16_t route = kNoRoute;
    std::uint32_t no_answer_ms = 0;     // lb::Forking, as when the call came
    std::uint32_t ring_timeout_ms = 0;  // 0: Timer C
    std::array<char, kAorCapacity> aor{};
    // Parallel forking, on the caller's entry: its branches (entries keyed
    // fork_branch_key(key, i), i < branch_count), those not settled yet, the best final answer
    // so far (§16.7 step 6) and whether a branch answered 2xx.
    std::uint8_t branch_count = 0;
    std::uint8_t open_branches = 0;
    std::uint16_t best_code = 0;
    bool answered = false;
    // ... on a branch's entry: the caller's entry, whether its outcome was counted, and
    // whether another branch answered 2xx (its CANCEL then says so, RFC 3326).
    bool settled = false;
    bool answered_elsewhere = false;
    // ... on the caller's entry: the caller's final answer is a phone's, relayed; the branch
    // keeping the best answer in its slot (it stays as long as the caller's entry names it).
    bool relays = false;
    sip::TransactionTable::Index parent = sip::TransactionTable::kNone;
    sip::TransactionTable::Index best_branch = sip::TransactionTable::kNone;
    // The route's fallback (call_diversion.cpp): the hunt or fork went to it (on a branch:
    // this branch is it), and the failure that sent it there (408 for silence).
    std::uint8_t routes_epoch = 0;
    bool fell_back = false;
    std::uint16_t outcome = 0;
    static constexpr std::uint16_t kNoRoute = 0xFFFF;
    std::string_view aor_view() const { return {aor.data(), aor_size}; }
    bool rings_by_q() const { return tried_count != 0; }
    std::span<const std::uint32_t> tried_view() const { return {tried.data(), tried_count}; }
  };
  // Beside every entry of the table once a route forks (config/README.md counts it per call).
  static_assert(sizeof(HuntState) == 128);
  struct ContactChoice {
    PeerAddress destination;
    std::string_view uri;  // into the location table: valid until the next quiescent state
    std::uint32_t hash = 0;
    // A contact behind NAT whose REGISTER another node took (Binding::node_address):
    // `destination` is that node, and the Request-URI is `uri` aliased to this address, the
    // contact's NAT mapping there ("ip:port", into the location table). Empty: none.
    std::string_view alias_address = {};
  };
  // Where a request for `contact` goes (contact_route()), with `contact.uri`; no hash.
  ContactChoice choose_contact(const ContactView& contact) const;
  // The Request-URI of a request to `choice`: its URI, or that URI aliased, written into
  // `out`; std::nullopt when the aliased one does not fit.
  static std::optional<std::string_view> choice_request_uri(const ContactChoice& choice,
                                                            std::span<char> out);
  // ... and whether it fits a transaction's origin (our CANCEL and ACK carry it from there).
  static bool fits_origin(const ContactChoice& choice);
  // A new request (not ACK or CANCEL, no To tag) may open a hunted transaction.
  bool may_hunt() const;
  // A new request for a user with several contacts on a route with fork = "serial": tracked
  // and sent to the first contact it can go to, the others in turn after it.
  Outcome hunt(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
               std::string_view aor, const ContactsView& contacts, const Dialled& dialled,
               const OutputBuffers& out);
  // The user's next contact, in the table's order, not yet tried; none when every one was
  // (or kMaxContacts were, or the hunt went to its fallback).
  std::optional<ContactChoice> next_contact(TxIndex index) const;
  // Where a hunt goes after its current contact failed with hunts_[index].outcome: the next
  // contact, else the route's fallback.
  bool hunt_goes_on(TxIndex index) const;
  // The stored request (in message_, `in`) to the next contact, or our final answer when none
  // is left.
  Outcome send_to_next_contact(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                               const OutputBuffers& out);
  // Timer C of a hunted INVITE: the route's ring timeout while another contact is left.
  std::int64_t hunt_timer_c_ms(TxIndex index) const;
  // --- parallel forking over a user's contacts (parallel_fork.cpp) ---
  static std::uint64_t fork_branch_key(std::uint64_t key, std::size_t branch) {
    return key ^ (0xC2B2AE3D27D4EB4Full * (branch + 1));
  }
  // The contacts an INVITE can be forked to, in the table's order (at most kMaxContacts).
  struct ForkTargets {
    std::array<ContactChoice, HuntState::kMaxContacts> contacts;
    std::size_t count = 0;
  };
  ForkTargets fork_targets(const Inbound& in, const ContactsView& contacts,
                           std::size_t limit) const;
  // Where a contact can be sent to: not a name (no lookup on a worker), not ourselves (a loop,
  // 482 if sent), with a socket of its family.
  std::optional<ContactChoice> sendable_contact(const Inbound& in,
                                                const ContactView& contact) const;
  // ... and forked to: also a Request-URI its branch's origin can keep for our CANCEL and ACK.
  std::optional<ContactChoice> fork_contact(const Inbound& in, const ContactView& contact) const;
  // --- forking by q groups (q_groups.cpp, fork = "q-groups") ---
  // The next q group: the contacts not rung yet (`rung` holds their contact_hash) that can be
  // forked to and whose q is the highest among those, in the table's order, at most `limit`.
  ForkTargets q_group_targets(const Inbound& in, const ContactsView& contacts,
                              std::span<const std::uint32_t> rung, std::size_t limit) const;
  // Another q group would follow the contacts in `rung` (room for `limit` more branches).
  bool q_group_follows(const Inbound& in, const ContactsView& contacts,
                       std::span<const std::uint32_t> rung, std::size_t limit) const;
  // How long a group's contacts ring: the route's ring timeout when a later group or the
  // fallback (for 408) takes over from them, else Timer C.
  std::uint32_t q_group_ring_timeout_ms(TxIndex index, bool group_follows) const;
  // Every branch of the fork at `index` failed, the caller did not cancel, no 6xx: the next
  // q group's contacts ring (none: std::nullopt, and the fallback or the best answer follows).
  std::optional<Outcome> ring_next_q_group(TxIndex index, const OutputBuffers& out);
  static std::uint32_t contact_hash(std::string_view uri);
  // The client transaction of the fork at `index` for its next contact: false when the table
  // is full.
  bool open_branch(TxIndex index, const Inbound& in, const ContactChoice& target,
                   std::uint32_t no_answer_ms, std::uint32_t ring_timeout_ms);
  // A new INVITE for a user with several contacts on a route with fork = "parallel": one
  // client transaction per contact, all sent at once, the caller's own entry above them.
  Outcome fork_parallel(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
                        std::string_view aor, const ContactsView& contacts, const Dialled& dialled,
                        const OutputBuffers& out);
  // Timer C of a branch: the route's ring timeout, else 180 s.
  std::int64_t fork_timer_c_ms(TxIndex branch) const;
  // The branch of the forked INVITE at `index` whose transaction number is `attempt`.
  TxIndex fork_branch_for(TxIndex index, std::optional<std::uint64_t> attempt) const;
  // A response (message_) to a forked INVITE: what a branch's answer becomes (§16.7).
  TrackedResponse on_branch_response(TxIndex index, std::optional<std::uint64_t> attempt,
                                     const Inbound& in, const OutputBuffers& out);
  // A branch has its final outcome (`code`; 408 for silence or our own ring timeout).
  void settle_branch(TxIndex branch, std::uint16_t code);
  // Every branch of the fork at `index` but `except` that has not settled is cancelled;
  // `answered_elsewhere`: because `except` answered 2xx.
  void cancel_branches(TxIndex index, TxIndex except, bool answered_elsewhere = false);
  // The CANCEL of `size` octets in `out` with "Reason: SIP;cause=200;text="Call completed
  // elsewhere"" (RFC 3326), so that the phone shows no missed call; its new size.
  static std::size_t add_completed_elsewhere(std::span<char> out, std::size_t size);
  // The caller's CANCEL for a forked INVITE (§16.10): 200, and every branch cancelled.
  Outcome cancel_fork(TxIndex index, const Inbound& in, const OutputBuffers& out);
  // A branch's timer ran out in state Calling: it settles as a 408.
  std::optional<Outcome> branch_timed_out(TxIndex branch, const OutputBuffers& out);
  // A queued branch's first INVITE; the fork's answer to the caller once every branch failed.
  Outcome send_branch(TxIndex branch, const OutputBuffers& out);
  Outcome answer_fork(TxIndex index, const OutputBuffers& out);
  // A branch's final answer (message_, `bytes`) as the fork weighs it; the best one is kept
  // in the branch's slot so that it can be relayed as the phone wrote it (§16.7 step 6).
  std::uint16_t weigh_branch_answer(TxIndex branch, std::string_view bytes);
  // A branch's 401/407 (message_) while the kept best answer is a challenge too: its
  // WWW-Authenticate and Proxy-Authenticate lines are added to the kept one (§16.7 step 7).
  void add_challenges(TxIndex kept);
  // The best branch's answer, relayed to the caller (again at Timer G, and for the caller's
  // INVITE again).
  Outcome relay_fork_answer(TxIndex index, const OutputBuffers& out);
  // The caller's ACK for the answer to its forked INVITE: Timer G stops.
  void note_fork_answer_acked(TxIndex index);
  // The branch keeps the best answer of a fork still open: it stays until the fork answers.
  bool keeps_best_answer(TxIndex branch) const {
    return hunts_[hunts_[branch].parent].best_branch == branch;
  }
  // The entry whose stored request a transaction sends: the caller's entry for a branch.
  TxIndex request_owner(TxIndex index) const {
    return transactions_->at(index).fork_branch ? hunts_[index].parent : index;
  }
  // --- a location route's fallback: voicemail, an operator (call_diversion.cpp) ---
  // The hunt or fork at `index` keeps its route for the fallback (and the user, for its
  // Request-URI and our Diversion).
  void keep_route(TxIndex index, const lb::RouteRule& route, std::string_view aor);
  // The route's fallback, when the call at `index` (not cancelled, not yet diverted) may go
  // there after a failure `code`; null when not.
  const lb::Forking::Fallback* fallback_for(TxIndex index, std::uint16_t code) const;
  // The fallback as a target: its address and the Request-URI with the called user
  // (written into fallback_uri_).
  ContactChoice fallback_target(const lb::Forking::Fallback& fallback, std::string_view user);
  // A new INVITE (or its CANCEL or ACK) for a user with no contact to send it to: to the
  // route's fallback with our Diversion (reason "unavailable"), tracked when the table has
  // room; else 480.
  Outcome unavailable(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
                      std::string_view user, const Dialled& dialled, const OutputBuffers& out);
  // unavailable()'s INVITE, tracked: to the fallback `target` as a hunt with no contact left;
  // std::nullopt when the table has no room (it then goes statelessly).
  std::optional<Outcome> track_to_fallback(const Inbound& in, const sip::RoutePlan& plan,
                                           const lb::RouteRule& route, std::string_view user,
                                           const ContactChoice& target, const Dialled& dialled,
                                           const OutputBuffers& out);
  // Every branch of the fork at `index` failed with its best code `code`: a new branch to the
  // route's fallback, or std::nullopt when the fork has none to go to.
  std::optional<Outcome> fork_to_fallback(TxIndex index, std::uint16_t code,
                                          const OutputBuffers& out);
  // "Diversion: <sip:USER@REALM>;reason=...;counter=1\r\n" (RFC 5806) for a call diverted after
  // `code` (0: the user had no contact), written into diversion_.
  std::string_view diversion_line(std::string_view user, std::uint16_t code);
  // Our Diversion for a copy of the INVITE at `index` when it goes to the fallback; else empty.
  std::string_view diversion_for(TxIndex index);
  TrackedResponse on_tracked_response(const Inbound& in, const OutputBuffers& out);
  // Timer C of the entry's pool (lb::FailoverSettings::timer_c_ms).
  std::int64_t timer_c_ms(TxIndex index) const;
  std::optional<std::size_t> next_member(TxIndex index) const;
  bool fails_over_on(TxIndex index, std::uint16_t code) const;
  // How long the current attempt may go unanswered: the pool's failover timeout, or Timer B
  // (Timer F for a non-INVITE) in a pool that does not fail over.
  std::int64_t attempt_timeout_ms(TxIndex index) const;
  // --- answering a member's 401/407 with the pool's credentials (pool_challenge.cpp) ---
  // A request (not ACK or CANCEL) routed by its Route or Request-URI to `hop`: tracked when
  // `hop` is a member of a pool with credentials; std::nullopt otherwise (forward it).
  std::optional<Outcome> track_for_challenges(const Inbound& in, const sip::RoutePlan& plan,
                                              const PeerAddress& hop, const OutputBuffers& out);
  // The response in message_ is a challenge to the current attempt that the pool's
  // credentials answer: the Authorization line is attached to the stored request.
  bool answer_challenge(TxIndex index);
  // The stored request to the same member again, on a new branch, with that line.
  Outcome resend_with_credentials(TxIndex index, const OutputBuffers& out);
  // The member challenged the credentials we answered with: counted, logged once.
  void note_challenge_refused(TxIndex index);
  // --- asserting the caller's identity (RFC 3325, route assert_identity) ---
  // "P-Asserted-Identity: <sip:CALLER_ID@REALM>\r\n" for `user`, in asserted_line_.
  std::string_view asserted_identity_for(std::string_view user);
  std::array<char, 320> asserted_line_{};
  // Our Authorization line, written when the challenge came.
  std::array<char, 1024> authorization_{};
  std::uint64_t cnonces_ = 0;  // cnonces drawn by this worker
  // The stored request to the next member it can be sent to, or our final answer when none
  // is left (answer_exhausted).
  Outcome resend_to_next_member(TxIndex index, const OutputBuffers& out);
  // No member left: 487 after a CANCEL, the last failover code answered, or 408.
  Outcome answer_exhausted(TxIndex index, const Inbound& in, const OutputBuffers& out);
  // The attempt's member did not answer at all: out of new calls until it answers a probe
  // (probed pools only: nothing else would bring it back).
  void mark_unanswering(TxIndex index);
  // message_ (the request, its ACK or CANCEL) to the current attempt's member on the
  // attempt's branch.
  Outcome forward_to_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                             const OutputBuffers& out);
  // Sends the current attempt's request to `member` (our branch of the attempt) and starts
  // its timers: the failover timer, and for an INVITE Timer A's retransmissions before it.
  Outcome send_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                       const OutputBuffers& out);
  // A new client transaction for the stored request (§16.6 step 8): the next attempt's
  // branch, then send_attempt to the entry's member.
  Outcome send_next_attempt(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                            const OutputBuffers& out);
  // Timer A fired (§17.1.1.2): the INVITE to the current member again, on the same branch.
  Outcome retransmit(TxIndex index, const OutputBuffers& out);
  // Timer G fired (§17.2.1): our own final answer to the caller again.
  Outcome retransmit_answer(TxIndex index, const OutputBuffers& out);
  // The member's first provisional answer to the current attempt (message_): the CANCEL
  // that Timer C would send is written from it now, while the answer is at hand (§16.8).
  void keep_cancel(TxIndex index);
  // Timer C ran out while the callee rang (§16.8): our CANCEL to the member, then again at
  // Timer E's intervals until the INVITE's final answer ends it or Timer F runs out.
  std::optional<Outcome> cancel_ringing(TxIndex index, const OutputBuffers& out);
  // Our CANCEL (kept by keep_cancel) to the member: its first copy starts Timer E and F.
  Outcome send_cancel(TxIndex index, const OutputBuffers& out);
  // The caller's CANCEL (message_) for the tracked INVITE at `index`: answered 200 by us
  // (§16.10), our own CANCEL sent once the member answered provisionally (§9.1);
  // std::nullopt when the caller's goes on to the member instead (no CANCEL of ours kept).
  std::optional<Outcome> answer_cancel(TxIndex index, const Inbound& in, const OutputBuffers& out);
  // The ACK in message_ carries our To tag: when it is for our final answer to a tracked
  // INVITE, that answer is not sent again.
  void note_ack_for_our_answer();
  // The stored request, parsed again into message_ (it parsed when it came in); empty
  // bytes when there is none.
  Inbound reparse_stored(TxIndex index);
  // reparse_stored for a transaction that cannot go on without it: erased when it is empty.
  Inbound reparse_stored_or_erase(TxIndex index);
  // An expired timer: what to send, std::nullopt when nothing (the entry is dropped).
  std::optional<Outcome> expire(TxIndex index, const OutputBuffers& out);
  // Our ACK for the final response in message_, to where it came from; written into `out`.
  Outcome send_ack(const Inbound& in, TxIndex index, std::span<char> out);
  void queue(PendingKind kind, TxIndex index);
  Outcome take_pending(const OutputBuffers& out);
  Inbound stored_inbound(TxIndex index);
  std::string_view request_uri_of(TxIndex index) const;
  // A call that can no longer fail over needs its stored INVITE no more (only the
  // Request-URI, kept in its origin when it fits): the slot goes back for new calls.
  void release_when_settled(TxIndex index);
  void count(Counter WorkerCounters::*counter) const {
    if (counters_ != nullptr) (counters_->*counter).add();
  }

  std::unique_ptr<sip::TransactionTable> transactions_;
  std::vector<TxOrigin> origins_;  // per table entry
  std::vector<HuntState> hunts_;   // per table entry, when a route forks
  // Room for one of each kind and a CANCEL or first INVITE per branch of a fork.
  std::array<Pending, 4 + 2 * HuntState::kMaxContacts> pending_{};
  std::size_t pending_count_ = 0;
  std::array<char, 2048> queued_{};  // the PendingKind::Written message (one at a time)
  Outcome queued_outcome_;
  std::int64_t now_ms_ = 0;
  std::uint8_t pools_epoch_ = 0;   // changes when a reload changes the pools
  std::uint8_t routes_epoch_ = 0;  // changes at every reload (HuntState::route)
  bool logged_table_full_ = false;
  bool logged_challenge_refused_ = false;
  WorkerCounters* counters_ = nullptr;
  CallRecordRing* call_records_ = nullptr;
  std::unique_ptr<ActiveCallTable> active_calls_;  // with context_->call_counters
  std::int64_t now_s_ = 0;                         // process()'s unix time
  std::int64_t calls_swept_at_ = 0;

  const PipelineContext* context_;
  std::size_t worker_index_;
  std::unique_ptr<sip::Message> message_;
  sip::DigestAuthenticator authenticator_;
  // Extra header lines of local responses: Proxy-Authenticate (one per algorithm), Contact
  // lines of a 302 (one per registered contact).
  std::array<char, 8192> extra_{};
  sip::TranslatedUri translated_;  // the Request-URI a route's number translation wrote
  OverloadGate* gate_ = nullptr;
  std::array<char, 32> retry_after_{};                 // "Retry-After: N\r\n"
  std::array<char, sip::kMaxAliasText> alias_text_{};  // the Contact alias being written
  std::array<char, 1024> aliased_uri_{};               // a Request-URI without its alias
  std::array<char, 1024> contact_uri_{};  // a Request-URI with an alias: to another node
  std::array<char, 32 + sip::kMaxSentByLength + sip::kMaxAliasText> path_line_{};
  // signed_record_route_uri()'s: "sip:" HOST:PORT ";rt=" TOKEN
  std::array<char, 4 + sip::kMaxSentByLength + 4 + sip::kRouteTokenSize> record_route_uri_{};
  std::size_t retry_after_size_ = 0;
  std::array<char, TxOrigin::kRequestUriCapacity> fallback_uri_{};  // fallback_target()'s
  std::array<char, 256> diversion_{};                               // diversion_line()'s
  std::array<char, sip::TransactionTable::kStoredRequestSize> kept_answer_{};  // add_challenges()'s
};

}  // namespace sipline::dataplane

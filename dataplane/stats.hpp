// Per-worker counters (DESIGN.md §3 "per-core state is owned, not shared").
//
// Each worker writes only its own WorkerCounters, with plain relaxed load + store (one
// writer, so no read-modify-write instruction and no lock prefix); the control thread reads
// them with relaxed loads whenever it prints. Each block is cache-line aligned so two
// workers' counters never share a line.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/counter.hpp"
#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

// Why a worker dropped a datagram. Every drop is counted under exactly one reason.
enum class DropReason : std::uint8_t {
  Parse,          // not a SIP message we can answer (no response possible, RFC 3261 §16.3)
  NoCallId,       // no Call-ID to pick an owner by
  NotOurs,        // a response whose top Via is not ours (§16.7 step 3)
  NoRouteBack,    // a response with no Via left to send it to, or an unusable one
  Unroutable,     // a next hop we cannot turn into an address (host name, bad port)
  NoSocket,       // no listen socket of the destination's address family
  RingFull,       // the owner's hand-off ring was full
  ControlFull,    // the control thread's REGISTER ring was full
  TooLarge,       // the rewritten message does not fit a datagram
  SendFailed,     // sendmmsg refused it (socket buffer full, unreachable, ...)
  Loop,           // an ACK that would go back to ourselves (others are answered 482)
  AckUnrouted,    // an ACK with nowhere to go (no route, unknown user...): never answered (§17)
  Overload,       // a new request shed without an answer: the worker was far behind (overload.hpp)
  RateLimited,    // a request over its source's rate (source_guard.hpp), before hand-off
  BlockedSource,  // a request from a source blocked after failed authentications
  FailedOver,     // a provisional answer from a member the call already failed over from
  Scanner,        // a request whose User-Agent names a SIP scanner ([source_limits])
  kCount
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

// "parse", "no_call_id", ... (the suffix of the drop_* fields of the counters line).
std::string_view drop_reason_name(DropReason reason);

struct alignas(kCacheLine) WorkerCounters {
  Counter received;              // datagrams read from this worker's sockets
  Counter forwarded_requests;    // requests sent on (§16.6)
  Counter forwarded_responses;   // responses sent back (§16.7)
  std::array<Counter, 6> local;  // responses we generated, by class: [0] = 1xx .. [5] = 6xx
  std::array<Counter, kDropReasonCount> dropped;
  Counter handed_off;  // received here, owned by another worker
  Counter handed_in;   // received by another worker, owned here
  Counter to_control;  // REGISTERs and probe answers passed to the control thread
  // ACKs for non-2xx responses we generated ourselves (§17.2.1: the transaction ends here).
  // Not a drop: nothing was lost.
  Counter acks_absorbed;
  // Requests the overload gate refused (dataplane/overload.hpp), answered 503 + Retry-After
  // (also counted in local_5xx): new dialogs / out-of-dialog requests, REGISTERs (control
  // backlog or overload); shed_unanswered: of those, the ones no 503 could be written for.
  Counter shed_new;
  Counter shed_register;
  Counter shed_unanswered;
  // Socket mode: times the shed filter was attached (shed_filter.hpp), and datagrams the
  // kernel dropped for this worker's sockets (the filter's and full buffers'; SO_MEMINFO,
  // read when the worker samples its queue and when the filter comes off).
  Counter shed_filter_on;
  Counter kernel_drops;
  // Requests routed to a server pool whose members were all down (answered 503).
  Counter pool_unavailable;
  // Pool failover (lb::FailoverSettings): INVITEs tracked in the transaction table; sent
  // again to another member; attempts that got no answer in time; calls whose members all
  // failed (the last answer, or our 408, went to the caller); INVITEs forwarded untracked
  // because the table or its stored-request slots were full; ACKs we sent to members for
  // the non-2xx answers we did not pass on (a failover code, a late answer; §17.1.1.3).
  Counter failover_tracked;
  Counter failover_retries;
  Counter failover_timeouts;
  Counter failover_exhausted;
  Counter failover_untracked;
  Counter acks_sent;
  // Pool members this worker took out of new calls for not answering an INVITE at all
  // (lb::PoolSet::mark_unanswering), until they answer a probe.
  Counter failover_unanswering;
  // INVITEs sent again to the member that has not answered them yet (Timer A, §17.1.1.2).
  Counter failover_retransmits;
  // A pool member's 401/407 answered with the pool's credentials (the request sent to it again,
  // lb::PoolCredentials); challenges not answered: the member challenged our credentials
  // again, or offered no challenge we can answer (passed to the caller).
  Counter pool_challenges_answered;
  Counter pool_challenges_refused;
  // Requests and responses forwarded without the P-Asserted-Identity / P-Preferred-Identity
  // they came with: from a source outside the trust domain (RFC 3325 §5).
  Counter identity_removed;
  // ... or without the identity (received or ours) they would have carried: the user asked
  // for privacy (Privacy: id) and the next hop is outside the trust domain (RFC 3325 §7).
  Counter identity_withheld;
  // Contacts of UAs behind NAT given an alias (contact_alias.hpp): requests and 18x/2xx
  // forwarded while record-routing whose Contact named a private address not their source.
  Counter contacts_aliased;
  // Requests another node sent us for a NATed contact registered here, relayed to its alias
  // (shared registrations); and the requests this node sent through another node so.
  Counter node_relays_in;
  Counter node_relays_out;
  // Requests a registrar sent along the Path we put into a REGISTER we forwarded to it,
  // relayed to where that REGISTER came from.
  Counter path_relays;
  // A hunted call went on to the user's next contact (a location route's fork = "serial").
  Counter contacts_hunted;
  // INVITEs sent to a user's contacts at once (fork = "parallel", "q-groups"), one per branch.
  Counter contacts_forked;
  // Call accounting ([accounting]): events put on the ring for the control thread, and those
  // that found it full (lost: the control thread did not drain it in time).
  Counter call_records;
  Counter call_records_dropped;
  // A forked call went on to the user's contacts of the next lower q (fork = "q-groups").
  Counter q_groups_rung;
  // Concurrent-call limits (max_calls, call_limits.hpp): new INVITEs refused because their
  // route or their caller had its calls; refused because the worker's table of limited calls
  // had no room near the Call-ID's place; limited calls given up when nothing ended them in
  // time (no final answer, a BYE never seen: dialog_timeout).
  Counter calls_limited;
  // New INVITEs refused because their route had started max_cps calls within that second.
  Counter calls_rate_limited;
  // New requests from outside the trust domain whose preloaded Route named another host:
  // routed by the route table without it (pipeline.cpp, process_request).
  Counter preloaded_routes_dropped;
  // In-dialog requests from outside the trust domain that did not come through our Route
  // although we record-route (a dialog we did not set up): answered 403, an ACK dropped.
  Counter foreign_dialog_refused;
  Counter call_table_full;
  Counter calls_expired;
  // New requests to a [limits] emergency_numbers number: admitted past the overload gate and
  // the call limits (RFC 7339 §5.10.1).
  Counter emergency_requests;
  // A branch's challenge (401/407) that could not be added to the one relayed to the caller
  // (§16.7 step 7): the two would not fit the 4 KiB a kept answer may take.
  Counter challenges_not_aggregated;
  // INVITEs sent to a location route's fallback (voicemail, an operator) because the user had
  // no contact to take them, or every contact failed.
  Counter calls_diverted;
  // Our own final answers (408, 487, a failover code) to a tracked INVITE sent again to the
  // caller until its ACK (Timer G, §17.2.1).
  Counter answers_retransmitted;
  // Our own CANCELs to pool members (§16.8, §16.10; first copies, not Timer E's): when Timer C
  // ran out after a provisional answer (also counted timer_c_fired), or for the caller's
  // CANCEL, which the proxy answered 200 itself; not sent because none was kept (larger than
  // sip::TransactionTable::kCancelSize); the members' answers to them (absorbed).
  Counter cancels_sent;
  Counter timer_c_fired;
  Counter cancels_unsent;
  Counter cancel_answers;
  // A member's 100 Trying to an INVITE the proxy answered 100 itself: not relayed (§16.7).
  Counter trying_absorbed;
  // Keep-alives on the SIP port (RFC 5626 §4.4): CRLF-only datagrams and STUN indications
  // taken in without an answer; STUN Binding requests answered.
  Counter keepalives;
  Counter stun_answered;

  void count_local(std::uint16_t code) {
    if (code >= 100 && code < 700) local[code / 100 - 1].add();
  }
  void count_drop(DropReason reason) { dropped[static_cast<std::size_t>(reason)].add(); }
};

struct alignas(kCacheLine) ControlCounters {
  Counter registers;            // REGISTERs handled
  Counter responses;            // answers the kernel (or the DPDK TX queue) accepted
  Counter dropped_no_buffer;    // an answer that did not fit its buffer (or no mbuf, DPDK)
  Counter dropped_send_failed;  // sendmmsg refused an answer (socket mode)
  Counter dropped_parse;        // REGISTERs that no longer parsed (should not happen)
  Counter store_errors;         // location store writes that failed
  Counter reloads;              // configuration reloads applied (SIGHUP)
  Counter dns_refreshes;        // DNS refreshes that changed a next hop's address
};

// One worker's line, in the format the end-to-end tests parse:
//   worker N: received=.. forwarded=.. local_2xx=.. local_3xx=.. local_4xx=.. local_5xx=..
//   local_6xx=.. dropped=.. handed_off=.. handed_in=.. <extra fields>
// "forwarded" counts requests and responses; "dropped" is the sum over every reason. Extra
// key=value fields follow the fixed ones (to_control, the forwarded split, acks_absorbed,
// drop_<reason>).
std::string format_worker_counters(std::size_t worker, const WorkerCounters& counters);

// The same fields summed over all workers, starting with "total:".
std::string format_total_counters(std::span<const WorkerCounters> workers);

std::string format_control_counters(const ControlCounters& counters);

}  // namespace sipline::dataplane

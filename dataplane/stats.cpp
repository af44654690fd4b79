#include "dataplane/stats.hpp"

#include <cstdio>

namespace sipline::dataplane {
namespace {

// A plain snapshot, so the formatting below is the same for one worker and for the total.
struct Snapshot {
  std::uint64_t received = 0;
  std::uint64_t forwarded_requests = 0;
  std::uint64_t forwarded_responses = 0;
  std::array<std::uint64_t, 6> local{};
  std::array<std::uint64_t, kDropReasonCount> dropped{};
  std::uint64_t handed_off = 0;
  std::uint64_t handed_in = 0;
  std::uint64_t to_control = 0;
  std::uint64_t acks_absorbed = 0;
  std::uint64_t shed_new = 0;
  std::uint64_t shed_register = 0;
  std::uint64_t shed_unanswered = 0;
  std::uint64_t shed_filter_on = 0;
  std::uint64_t kernel_drops = 0;
  std::uint64_t pool_unavailable = 0;
  std::uint64_t failover_tracked = 0;
  std::uint64_t failover_retries = 0;
  std::uint64_t failover_timeouts = 0;
  std::uint64_t failover_exhausted = 0;
  std::uint64_t failover_untracked = 0;
  std::uint64_t acks_sent = 0;
  std::uint64_t failover_unanswering = 0;
  std::uint64_t failover_retransmits = 0;
  std::uint64_t pool_challenges_answered = 0;
  std::uint64_t pool_challenges_refused = 0;
  std::uint64_t identity_removed = 0;
  std::uint64_t identity_withheld = 0;
  std::uint64_t contacts_aliased = 0;
  std::uint64_t node_relays_in = 0;
  std::uint64_t node_relays_out = 0;
  std::uint64_t path_relays = 0;
  std::uint64_t contacts_hunted = 0;
  std::uint64_t contacts_forked = 0;
  std::uint64_t call_records = 0;
  std::uint64_t call_records_dropped = 0;
  std::uint64_t q_groups_rung = 0;
  std::uint64_t preloaded_routes_dropped = 0;
  std::uint64_t foreign_dialog_refused = 0;
  std::uint64_t calls_limited = 0;
  std::uint64_t calls_rate_limited = 0;
  std::uint64_t call_table_full = 0;
  std::uint64_t calls_expired = 0;
  std::uint64_t emergency_requests = 0;
  std::uint64_t challenges_not_aggregated = 0;
  std::uint64_t calls_diverted = 0;
  std::uint64_t answers_retransmitted = 0;
  std::uint64_t cancels_sent = 0;
  std::uint64_t timer_c_fired = 0;
  std::uint64_t cancels_unsent = 0;
  std::uint64_t cancel_answers = 0;
  std::uint64_t trying_absorbed = 0;
  std::uint64_t keepalives = 0;
  std::uint64_t stun_answered = 0;

  void add(const WorkerCounters& counters) {
    received += counters.received.read();
    forwarded_requests += counters.forwarded_requests.read();
    forwarded_responses += counters.forwarded_responses.read();
    for (std::size_t i = 0; i < local.size(); ++i)
      local[i] += counters.local[i].read();
    for (std::size_t i = 0; i < dropped.size(); ++i)
      dropped[i] += counters.dropped[i].read();
    handed_off += counters.handed_off.read();
    handed_in += counters.handed_in.read();
    to_control += counters.to_control.read();
    acks_absorbed += counters.acks_absorbed.read();
    shed_new += counters.shed_new.read();
    shed_register += counters.shed_register.read();
    shed_unanswered += counters.shed_unanswered.read();
    shed_filter_on += counters.shed_filter_on.read();
    kernel_drops += counters.kernel_drops.read();
    pool_unavailable += counters.pool_unavailable.read();
    failover_tracked += counters.failover_tracked.read();
    failover_retries += counters.failover_retries.read();
    failover_timeouts += counters.failover_timeouts.read();
    failover_exhausted += counters.failover_exhausted.read();
    failover_untracked += counters.failover_untracked.read();
    acks_sent += counters.acks_sent.read();
    failover_unanswering += counters.failover_unanswering.read();
    failover_retransmits += counters.failover_retransmits.read();
    pool_challenges_answered += counters.pool_challenges_answered.read();
    pool_challenges_refused += counters.pool_challenges_refused.read();
    identity_removed += counters.identity_removed.read();
    identity_withheld += counters.identity_withheld.read();
    contacts_aliased += counters.contacts_aliased.read();
    node_relays_in += counters.node_relays_in.read();
    node_relays_out += counters.node_relays_out.read();
    path_relays += counters.path_relays.read();
    contacts_hunted += counters.contacts_hunted.read();
    contacts_forked += counters.contacts_forked.read();
    call_records += counters.call_records.read();
    call_records_dropped += counters.call_records_dropped.read();
    q_groups_rung += counters.q_groups_rung.read();
    preloaded_routes_dropped += counters.preloaded_routes_dropped.read();
    foreign_dialog_refused += counters.foreign_dialog_refused.read();
    calls_limited += counters.calls_limited.read();
    calls_rate_limited += counters.calls_rate_limited.read();
    call_table_full += counters.call_table_full.read();
    calls_expired += counters.calls_expired.read();
    emergency_requests += counters.emergency_requests.read();
    challenges_not_aggregated += counters.challenges_not_aggregated.read();
    calls_diverted += counters.calls_diverted.read();
    answers_retransmitted += counters.answers_retransmitted.read();
    cancels_sent += counters.cancels_sent.read();
    timer_c_fired += counters.timer_c_fired.read();
    cancels_unsent += counters.cancels_unsent.read();
    cancel_answers += counters.cancel_answers.read();
    trying_absorbed += counters.trying_absorbed.read();
    keepalives += counters.keepalives.read();
    stun_answered += counters.stun_answered.read();
  }
};

void append(std::string& line, std::string_view key, std::uint64_t value) {
  char text[32];
  const int size = std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(value));
  line += ' ';
  line += key;
  line += '=';
  line.append(text, static_cast<std::size_t>(size));
}

std::string format_fields(std::string line, const Snapshot& s) {
  std::uint64_t dropped = 0;
  for (std::uint64_t count : s.dropped)
    dropped += count;
  append(line, "received", s.received);
  append(line, "forwarded", s.forwarded_requests + s.forwarded_responses);
  append(line, "local_2xx", s.local[1]);
  append(line, "local_3xx", s.local[2]);
  append(line, "local_4xx", s.local[3]);
  append(line, "local_5xx", s.local[4]);
  append(line, "local_6xx", s.local[5]);
  append(line, "dropped", dropped);
  append(line, "handed_off", s.handed_off);
  append(line, "handed_in", s.handed_in);
  append(line, "to_control", s.to_control);
  append(line, "forwarded_requests", s.forwarded_requests);
  append(line, "forwarded_responses", s.forwarded_responses);
  append(line, "local_1xx", s.local[0]);
  append(line, "acks_absorbed", s.acks_absorbed);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string key = "drop_" + std::string(drop_reason_name(static_cast<DropReason>(i)));
    append(line, key, s.dropped[i]);
  }
  append(line, "shed_new", s.shed_new);
  append(line, "shed_register", s.shed_register);
  append(line, "shed_unanswered", s.shed_unanswered);
  append(line, "shed_filter_on", s.shed_filter_on);
  append(line, "kernel_drops", s.kernel_drops);
  append(line, "pool_unavailable", s.pool_unavailable);
  append(line, "failover_tracked", s.failover_tracked);
  append(line, "failover_retries", s.failover_retries);
  append(line, "failover_timeouts", s.failover_timeouts);
  append(line, "failover_exhausted", s.failover_exhausted);
  append(line, "failover_untracked", s.failover_untracked);
  append(line, "acks_sent", s.acks_sent);
  append(line, "failover_unanswering", s.failover_unanswering);
  append(line, "failover_retransmits", s.failover_retransmits);
  append(line, "pool_challenges_answered", s.pool_challenges_answered);
  append(line, "pool_challenges_refused", s.pool_challenges_refused);
  append(line, "identity_removed", s.identity_removed);
  append(line, "identity_withheld", s.identity_withheld);
  append(line, "contacts_aliased", s.contacts_aliased);
  append(line, "node_relays_in", s.node_relays_in);
  append(line, "node_relays_out", s.node_relays_out);
  append(line, "path_relays", s.path_relays);
  append(line, "contacts_hunted", s.contacts_hunted);
  append(line, "contacts_forked", s.contacts_forked);
  append(line, "call_records", s.call_records);
  append(line, "call_records_dropped", s.call_records_dropped);
  append(line, "q_groups_rung", s.q_groups_rung);
  append(line, "preloaded_routes_dropped", s.preloaded_routes_dropped);
  append(line, "foreign_dialog_refused", s.foreign_dialog_refused);
  append(line, "calls_limited", s.calls_limited);
  append(line, "calls_rate_limited", s.calls_rate_limited);
  append(line, "call_table_full", s.call_table_full);
  append(line, "calls_expired", s.calls_expired);
  append(line, "emergency_requests", s.emergency_requests);
  append(line, "challenges_not_aggregated", s.challenges_not_aggregated);
  append(line, "calls_diverted", s.calls_diverted);
  append(line, "answers_retransmitted", s.answers_retransmitted);
  append(line, "cancels_sent", s.cancels_sent);
  append(line, "timer_c_fired", s.timer_c_fired);
  append(line, "cancels_unsent", s.cancels_unsent);
  append(line, "cancel_answers", s.cancel_answers);
  append(line, "trying_absorbed", s.trying_absorbed);
  append(line, "keepalives", s.keepalives);
  append(line, "stun_answered", s.stun_answered);
  line += '\n';
  return line;
}

}  // namespace

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::Parse:
      return "parse";
    case DropReason::NoCallId:
      return "no_call_id";
    case DropReason::NotOurs:
      return "not_ours";
    case DropReason::NoRouteBack:
      return "no_route_back";
    case DropReason::Unroutable:
      return "unroutable";
    case DropReason::NoSocket:
      return "no_socket";
    case DropReason::RingFull:
      return "ring_full";
    case DropReason::ControlFull:
      return "control_full";
    case DropReason::TooLarge:
      return "too_large";
    case DropReason::SendFailed:
      return "send_failed";
    case DropReason::Loop:
      return "loop";
    case DropReason::AckUnrouted:
      return "ack_unrouted";
    case DropReason::Overload:
      return "overload";
    case DropReason::RateLimited:
      return "rate_limited";
    case DropReason::BlockedSource:
      return "blocked_source";
    case DropReason::FailedOver:
      return "failed_over";
    case DropReason::Scanner:
      return "scanner";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

std::string format_worker_counters(std::size_t worker, const WorkerCounters& counters) {
  Snapshot snapshot;
  snapshot.add(counters);
  return format_fields("worker " + std::to_string(worker) + ":", snapshot);
}

std::string format_total_counters(std::span<const WorkerCounters> workers) {
  Snapshot snapshot;
  for (const WorkerCounters& counters : workers)
    snapshot.add(counters);
  return format_fields("total:", snapshot);
}

std::string format_control_counters(const ControlCounters& c) {
  std::string line = "control:";
  append(line, "registers", c.registers.read());
  append(line, "responses", c.responses.read());
  append(line, "dropped_no_buffer", c.dropped_no_buffer.read());
  append(line, "dropped_send_failed", c.dropped_send_failed.read());
  append(line, "dropped_parse", c.dropped_parse.read());
  append(line, "store_errors", c.store_errors.read());
  append(line, "reloads", c.reloads.read());
  append(line, "dns_refreshes", c.dns_refreshes.read());
  line += '\n';
  return line;
}

}  // namespace sipline::dataplane

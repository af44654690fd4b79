#include "bench/sipblast/stats.hpp"

#include <iterator>

namespace sipline::sipblast {

std::string_view stat_name(Stat stat) {
  static constexpr std::string_view kNames[] = {
      "attempted",
      "completed",
      "failed",
      "timeouts",
      "failed_status",
      "abandoned",
      "retransmissions",
      "msgs_sent",
      "msgs_recv",
      "bytes_sent",
      "bytes_recv",
      "responses_1xx",
      "responses_2xx",
      "responses_3xx",
      "responses_4xx",
      "responses_5xx",
      "responses_6xx",
      "requests_recv",
      "invites_recv",
      "acks_recv",
      "byes_recv",
      "other_requests_recv",
      "auth_challenges",
      "auth_rejected",
      "duplicate_responses",
      "acks_resent",
      "unmatched_responses",
      "bad_responses",
      "parse_errors",
      "send_errors",
      "recv_truncated",
      "too_large",
      "skipped_table_full",
      "timer_overflow",
      "recv_calls",
      "send_calls",
      "sleeps",
      "shed_503",
      "throttled_oc",
  };
  static_assert(std::size(kNames) == kStatCount, "one name per Stat");
  return kNames[static_cast<std::size_t>(stat)];
}

std::string_view latency_name(Latency latency) {
  switch (latency) {
    case Latency::Invite:
      return "invite_200";
    case Latency::Bye:
      return "bye_200";
    case Latency::Register:
      return "register_200";
    case Latency::Options:
      return "options_200";
    case Latency::kCount:
      break;
  }
  return "?";
}

}  // namespace sipline::sipblast

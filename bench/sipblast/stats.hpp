// Counters and latency histograms of a run. Each worker thread owns one Counters block and
// writes it with relaxed stores (no read-modify-write bus locks: one writer per block); the
// reporter thread reads every block once per second and sums them.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bench/sipblast/histogram.hpp"

namespace sipline::sipblast {

enum class Stat : std::uint8_t {
  Attempted,        // calls / transactions started
  Completed,        // ... that ended well (BYE answered 2xx, OPTIONS/REGISTER 2xx)
  Failed,           // ... that did not: timeouts, final responses >= 300, broken responses
  Timeouts,         // Timer B / F fired (part of Failed)
  FailedStatus,     // a final response >= 300 ended it (part of Failed)
  Abandoned,        // still open when the drain deadline passed (part of Failed)
  Retransmissions,  // requests sent again by Timer A / E
  MsgsSent,
  MsgsRecv,
  BytesSent,
  BytesRecv,
  Responses1xx,
  Responses2xx,
  Responses3xx,
  Responses4xx,
  Responses5xx,
  Responses6xx,
  RequestsRecv,  // requests answered by the UAS side
  InvitesRecv,
  AcksRecv,
  ByesRecv,
  OtherRequestsRecv,
  AuthChallenges,      // 401/407 answered with credentials
  AuthRejected,        // a challenge to a request that already carried credentials
  DuplicateResponses,  // responses to a finished transaction (e.g. 200 retransmitted)
  AcksResent,          // ACK sent again for a retransmitted 2xx (RFC 3261 §13.2.2.4)
  UnmatchedResponses,  // responses whose branch is not one of ours
  BadResponses,        // ours but unusable (2xx without To tag, challenge we cannot answer)
  ParseErrors,
  SendErrors,  // datagrams the kernel refused (EAGAIN, ECONNREFUSED, ...)
  RecvTruncated,
  TooLarge,          // a message that did not fit the send buffer
  SkippedTableFull,  // a start skipped because its slot was still busy
  TimerOverflow,     // a retransmission/timeout/hold timer that found its FIFO full
  RecvCalls,         // recvmmsg calls that returned datagrams (msgs_recv / this = batch size)
  SendCalls,         // sendmmsg calls
  Sleeps,            // times the worker slept in epoll
  Shed,              // a 503 (Service Unavailable) ended a transaction (part of FailedStatus)
  Throttled,         // new calls not started: RFC 7339 oc feedback asked for it (--oc)
  kCount
};

inline constexpr std::size_t kStatCount = static_cast<std::size_t>(Stat::kCount);

std::string_view stat_name(Stat stat);

using Totals = std::array<std::uint64_t, kStatCount>;

class alignas(64) Counters {
 public:
  void add(Stat stat, std::uint64_t amount = 1) {
    std::atomic<std::uint64_t>& value = values_[static_cast<std::size_t>(stat)];
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::uint64_t get(Stat stat) const {
    return values_[static_cast<std::size_t>(stat)].load(std::memory_order_relaxed);
  }
  void add_to(Totals& totals) const {
    for (std::size_t i = 0; i < kStatCount; ++i) {
      totals[i] += values_[i].load(std::memory_order_relaxed);
    }
  }

 private:
  std::array<std::atomic<std::uint64_t>, kStatCount> values_{};
};

inline std::uint64_t total(const Totals& totals, Stat stat) {
  return totals[static_cast<std::size_t>(stat)];
}

// What latency is measured: from the first transmission of the request to its final 2xx.
// REGISTER spans the whole registration, challenge round trip included.
enum class Latency : std::uint8_t { Invite, Bye, Register, Options, kCount };
inline constexpr std::size_t kLatencyCount = static_cast<std::size_t>(Latency::kCount);
std::string_view latency_name(Latency latency);  // "invite_200", ...

using LatencySet = std::array<LatencyHistogram, kLatencyCount>;

}  // namespace sipline::sipblast

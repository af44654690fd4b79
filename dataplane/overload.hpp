// Admission control for one worker (issue #5 §3): notice overload cheaply, shed new work
// with 503 + Retry-After (RFC 3261 §21.5.4, §20.33), keep everything that finishes work
// already admitted, and tell RFC 7339 clients by how much to reduce (loss algorithm).
//
// Why: on UDP a proxy that falls behind lets the kernel drop datagrams at random. A lost
// 200, ACK or BYE of an admitted call makes its peers retransmit (RFC 3261 Timers A, E, G),
// which adds load while no call completes: retransmission collapse. Refusing new dialogs
// early with a 503 costs one parse and one short answer, ends the caller's transaction (no
// retransmission), and keeps the socket backlog short enough that admitted calls finish.
//
// Signals (per receive batch, no per-packet syscall):
//   - a short recvmmsg batch: the socket was drained, so there is no backlog: not overloaded;
//   - full batches while the worker spent busy_ms of its own CPU time (the thread's CPU
//     clock, read once per iteration) without draining the socket: the backlog holds more
//     than busy_ms of its work, so it does not keep up. CPU time, not wall time or queue
//     length: a worker that gets its CPU in slices (a CFS quota, a busy hypervisor, other
//     threads on its core) finds a long queue after every pause even when it keeps up on
//     average, and drains it within its slice;
//   - at most once per kQueueSampleBatches full batches the socket's receive queue is read
//     (SO_MEMINFO: bytes queued / buffer size): above queue_high_percent the worker is
//     severely overloaded (the kernel would soon drop at random) until it falls below
//     queue_low_percent or a batch comes back short. Then new requests are dropped without
//     an answer (counted): a 503 costs a send and the ACK that follows it, about a quarter
//     of a forwarded call, and answering 4x capacity worth of excess would leave nothing for
//     the calls admitted. The client's retransmission meets a shorter queue later.
//   - a DPDK worker has a second input, its inbox of frames other workers handed off (with
//     dataplane.dispatchers, an owner's only input): full inbox bursts for busy_ms of its
//     time trip the same state. Either input backing up is overload; the inbox is not
//     sampled for the severe state (it holds frame pointers, not bytes);
//   - REGISTERs waiting for the control thread (its ring's occupancy) above
//     register_backlog: REGISTERs are shed, so the control thread and the worker's pool
//     are never exhausted by them.
//
// Decisions (per request, after the pipeline's parse and §16.3 checks):
//   always admitted: ACK, CANCEL, BYE, PRACK and every in-dialog request (To tag): they end
//   or advance work we already accepted (and responses never reach the gate);
//   REGISTER for our domains: shed when the control backlog is high or the worker is
//   overloaded; any other request: shed while overloaded.
//
// In socket mode the worker also lets the kernel shed (shed_filter.hpp): while overloaded,
// a socket filter drops [overload] shed_filter_percent of the INVITEs and REGISTERs before
// they are queued, and the gate decides only about the rest.
//
// RFC 7339 loss algorithm (§7): every kWindowMs the gate compares the new requests it saw
// with those it shed and moves the reduction half-way towards the one at which what the
// client still sends would all have been admitted (at least kDecayPercent up); without
// shedding the reduction decays by an eighth (at least kDecayPercent) per window. oc-seq
// changes with the value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "config/config.hpp"
#include "sip/message.hpp"
#include "sip/overload_control.hpp"

namespace sipline::dataplane {

// Shed: answer 503 + Retry-After. ShedSilently: the worker is so far behind (its socket
// buffer is filling: the kernel is about to drop at random) that even the 503s would take
// the capacity the admitted calls need; the request is dropped and counted.
enum class Admission : std::uint8_t { Admit, Shed, ShedSilently };

// What kind of request the gate is asked about.
// Where a batch came from: the socket / RX queue (sampled for the severe state), a DPDK
// worker's inbox of handed-off frames, or its ring of frames another worker spread to it
// (dataplane.spread).
enum class Input : std::uint8_t { Receive, Inbox, Spread };
inline constexpr std::size_t kInputCount = 3;

enum class RequestClass : std::uint8_t {
  Continuing,  // ACK, CANCEL, BYE, PRACK, or any request with a To tag
  // The second half of a digest round trip (RFC 3261 §22.2, §22.3): a request that carries
  // Authorization / Proxy-Authorization answers a challenge we already paid to send. Shedding
  // it would waste that work and restart the round trip, so it passes unless the worker is
  // severely overloaded (or, for a REGISTER, the control thread cannot take it).
  CredentialedRegister,  // a REGISTER for us with Authorization
  Credentialed,          // any other new request with credentials
  RegisterForUs,         // a REGISTER the control thread would handle
  New,                   // anything else: a new dialog or an out-of-dialog transaction
};
RequestClass classify_request(const sip::Message& request, bool register_for_us);

class OverloadGate {
 public:
  static constexpr std::size_t kQueueSampleBatches = 4;
  static constexpr std::int64_t kWindowMs = 100;
  static constexpr std::uint8_t kDecayPercent = 2;
  static constexpr std::uint8_t kMaxReduction = 95;  // keep probing: never ask for 100%
  // 503s per window that answer_percent never goes below: a client is told at least this
  // often that it is being shed, even when almost nothing is admitted.
  static constexpr std::uint64_t kMinAnswersPerWindow = 8;

  explicit OverloadGate(const config::OverloadConfig& settings) : settings_(settings) {}

  // --- detection (the worker, once per batch / iteration) ---
  // A recvmmsg (or burst dequeue) that asked for `wanted` and got `received`. Returns whether
  // the caller should now read the socket's queue and report it with on_queue_sample().
  bool on_batch(std::size_t received, std::size_t wanted, Input input = Input::Receive);
  void on_queue_sample(std::size_t queued_bytes, std::size_t buffer_bytes);
  // REGISTERs handed to the control thread and not yet taken (ring occupancy).
  void set_register_backlog(std::size_t waiting) { register_backlog_ = waiting; }
  // Once per iteration: closes the RFC 7339 window when due. `now_ms`: a monotonic clock;
  // `unix_ms`: wall clock for oc-seq.
  void tick(std::int64_t now_ms, std::int64_t unix_ms);
  // The worker thread's CPU time (microseconds), which on_batch() measures busy_ms with.
  void set_cpu_time(std::int64_t cpu_us) { cpu_us_ = cpu_us; }

  // --- decisions (the pipeline, per request) ---
  Admission admit(RequestClass request);

  bool enabled() const { return settings_.enabled; }
  bool overloaded() const { return overloaded_; }
  bool severe() const { return severe_; }
  bool register_backlog_high() const { return register_backlog_ >= settings_.register_backlog; }
  std::uint32_t retry_after_s() const { return settings_.retry_after_s; }
  // RFC 7339 feedback to give oc clients now; `active` is false when there is nothing to say
  // (never overloaded, or the end of overload already announced for a full validity).
  bool feedback_active() const { return settings_.oc && feedback_active_; }
  const sip::OcFeedback& feedback() const { return feedback_; }
  std::uint8_t reduction_percent() const { return feedback_.reduction_percent; }

 private:
  void set_reduction(std::uint8_t percent, std::int64_t unix_ms);
  // Whether some input has gone busy_ms of CPU time without a short batch.
  bool undrained_too_long() const;

  config::OverloadConfig settings_;
  bool overloaded_ = false;
  bool severe_ = false;
  std::size_t full_batches_ = 0;
  std::int64_t cpu_us_ = 0;
  // Per Input: the CPU time of its last short batch (-1: not yet seen), and whether its
  // latest batch came back full (only then is it backing up).
  std::int64_t last_drained_cpu_us_[kInputCount] = {-1, -1, -1};
  bool backing_up_[kInputCount] = {false, false, false};
  std::size_t register_backlog_ = 0;
  // RFC 7339 window
  std::int64_t window_start_ms_ = 0;
  std::uint64_t window_new_ = 0;
  std::uint64_t window_shed_ = 0;
  std::uint64_t window_answered_ = 0;  // Shed (503) decisions in this window
  bool window_overloaded_ = false;
  sip::OcFeedback feedback_{};
  bool feedback_active_ = false;
  std::int64_t zero_announced_until_ms_ = 0;
};

}  // namespace sipline::dataplane

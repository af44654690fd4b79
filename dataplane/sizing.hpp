// Sizing constants of the runtime, in one place, with the invariants they rely on.
//
// Every buffer a worker touches per packet is allocated once at start from these numbers
// (DESIGN.md §3: no malloc per packet, bounded everything).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "sip/limits.hpp"

namespace sipline::dataplane {

inline constexpr std::size_t kCacheLine = 64;

// Datagrams are received and processed in bursts of this many (recvmmsg/sendmmsg vlen, ring
// burst size).
inline constexpr std::size_t kBurst = 32;

// Room a forwarded message may grow by: our Via (with a 34-octet branch and rport), a
// Record-Route line and an inserted Max-Forwards, with margin. A locally generated response
// grows by a To tag and a few extra lines (Contact, Proxy-Authenticate for each algorithm).
inline constexpr std::size_t kPacketHeadroom = 4096;

// One packet buffer holds the largest UDP payload we accept (RFC 768 length field) plus the
// headroom; a rewrite that still does not fit is dropped and counted.
inline constexpr std::size_t kPacketCapacity = sip::kMaxMessageSize + kPacketHeadroom;

// The largest payload the kernel sends in one IPv4 UDP datagram without jumbograms
// (65,535 - 20 IP - 8 UDP); larger rewrites are dropped and counted.
inline constexpr std::size_t kMaxUdpSendPayload = 65507;

// Received packets owned by one worker's pool. A packet handed to another worker (or to the
// control thread) stays out of its pool until it comes back on a return ring, so this also
// bounds what a worker can have in flight. Most of each buffer is never touched (a SIP
// datagram is usually under 4 KiB), so the resident cost is about a page per packet.
inline constexpr std::size_t kPacketsPerWorker = 1024;

// Output buffers a worker writes forwarded messages and local responses into before one
// sendmmsg per socket; a full arena is flushed before the next packet is processed.
inline constexpr std::size_t kTxSlots = kBurst;

// How long an idle worker sleeps in poll() when neither its sockets nor its rings have
// work (socket mode must not spin a core of a laptop or CI machine; DPDK mode busy-polls).
// Datagrams wake it through poll(), ring producers through its eventfd (waker.hpp), and it
// is offline for QSBR while asleep, so the timeout only bounds how late it notices a stop.
inline constexpr int kIdlePollTimeoutMs = 10;

// Worker threads at most (config/ validates 1..64).
inline constexpr std::size_t kMaxWorkers = 64;

// Listen addresses (sockets per worker) at most; a packet records its socket in 8 bits.
inline constexpr std::size_t kMaxListenSockets = 16;

// Call records ([accounting]) a worker may hold for the control thread, which drains them at
// least every kCallRecordDrainMs: room for 16,384 / 0.05 s = 320,000 records a second per
// worker (two per call). About 0.5 KiB each: 8 MiB per worker, allocated only with
// accounting on.
inline constexpr std::size_t kCallRecordRingSize = 16384;
inline constexpr int kCallRecordDrainMs = 50;

static_assert(std::has_single_bit(kCallRecordRingSize));
static_assert(kPacketCapacity >= sip::kMaxMessageSize + kPacketHeadroom);
static_assert(kMaxUdpSendPayload <= kPacketCapacity);
// Return rings are sized to the pool they return to, so a return never finds its ring full;
// ring capacities must be powers of two.
static_assert(std::has_single_bit(kPacketsPerWorker));
static_assert(kBurst <= kPacketsPerWorker / 4,
              "a worker must be able to receive while packets are away");
static_assert(kTxSlots >= kBurst);
static_assert(kMaxListenSockets <= 255);

}  // namespace sipline::dataplane

// Sizing constants of the DPDK packet layer, in one place, with the invariants they rely on.
//
// Every mbuf, table and queue the packet layer uses is sized here at compile time and
// allocated once at start (DESIGN.md §3: no malloc per packet, bounded everything).
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace sipline::dataplane::dpdk {

// Descriptors per NIC queue (l3fwd's RX_DESC_DEFAULT / TX_DESC_DEFAULT).
inline constexpr std::uint16_t kRxDescriptors = 1024;
inline constexpr std::uint16_t kTxDescriptors = 1024;

// Frames moved per rte_eth_rx_burst (l3fwd's MAX_PKT_BURST).
inline constexpr std::uint16_t kBurst = 32;

// Frames an lcore collects before one rte_eth_tx_burst; a datagram fragmented on send adds
// all its fragments at once, so this holds a burst of replies plus one fragmented message.
inline constexpr std::uint16_t kTxBatch = 64;

// Per-lcore mempool cache (l3fwd's MEMPOOL_CACHE_SIZE): most alloc/free never touch the
// shared ring.
inline constexpr std::uint32_t kMempoolCache = 256;

// One mbuf holds one whole frame at MTU 1500 (2048 octets of data after the headroom), so
// received frames are never chained except after reassembly.
inline constexpr std::uint16_t kMbufDataRoom = RTE_MBUF_DEFAULT_BUF_SIZE;

// Below this the pool is rounded up: l3fwd's floor, which absorbs bursts of hand-offs.
inline constexpr std::uint32_t kMinPacketPool = 8192;

// Interface MTU accepted by the packet layer. 1280 is the IPv6 minimum (RFC 8200 §5); a
// larger frame than 9000 needs scattered receive, which we do not configure.
inline constexpr std::uint16_t kMinMtu = 1280;
inline constexpr std::uint16_t kMaxMtu = 9000;

// IP reassembly (rte_ip_frag), per lcore: datagrams being reassembled at once, and how long
// a datagram may wait for its missing fragments. SIP retransmits a lost message (Timer A/E,
// 500 ms doubling) as a new datagram with a new IP ID, so a short timeout loses nothing.
inline constexpr std::uint32_t kFragBuckets = 64;
inline constexpr std::uint32_t kFragBucketEntries = 4;  // associativity (power of two)
inline constexpr std::uint32_t kFragMaxEntries = 128;
inline constexpr std::uint32_t kFragTimeoutMs = 2000;

// rte_ip_frag keeps at most this many fragments per datagram (a compile-time constant of the
// DPDK build: 8 in Debian's 22.11). At MTU 1500 that bounds a reassembled IPv4 datagram to
// 8 x 1480 octets; MTU 9000 reaches the full 65,535.
inline constexpr std::uint32_t kMaxFragmentsReassembled = RTE_LIBRTE_IP_FRAG_MAX_FRAG;

// Fragments one outgoing datagram may be cut into: 65,535 octets at the smallest MTU we
// accept (1280 - 40 - 8 = 1232 octets of payload per IPv6 fragment).
inline constexpr std::uint16_t kMaxFragments = 64;

// Datagrams an lcore holds while their next hop is being resolved (ARP / neighbour
// discovery), how often the request is repeated, and how long a datagram may wait.
inline constexpr std::uint32_t kPendingPerLcore = 64;
inline constexpr std::uint32_t kResolveRetryMs = 200;
inline constexpr std::uint32_t kResolveHoldMs = 1000;

// Neighbour cache (ARP and IPv6 neighbour discovery together): entries, and how long a
// learned entry is trusted without hearing from that neighbour again. Peers refresh us
// with their own ARP traffic; an expired entry is resolved again on the next send.
inline constexpr std::uint32_t kNeighborCapacity = 1024;
inline constexpr std::uint32_t kNeighborLifetimeMs = 60'000;

// A received datagram linearised for the SIP parser, or a payload assembled for sending:
// the largest UDP payload (RFC 768 length field) fits.
inline constexpr std::size_t kScratchSize = 65536;

// Largest UDP payload sent in one datagram: IPv4 total length 65,535 - 20 - 8; IPv6
// payload length 65,535 - 8.
inline constexpr std::size_t kMaxUdpPayloadIpv4 = 65507;
inline constexpr std::size_t kMaxUdpPayloadIpv6 = 65527;

// Durations are kept in TSC cycles (the `now` every per-packet call takes is rte_rdtsc()).
constexpr std::uint64_t milliseconds_to_ticks(std::uint64_t tsc_hz, std::uint64_t milliseconds) {
  return tsc_hz / 1000 * milliseconds;
}

// mbufs the packet pool needs for `workers` worker lcores plus the control lcore, by the
// l3fwd rule (every descriptor of every queue filled, a burst in hand and a full cache on
// every lcore), plus what this layer itself holds: fragments waiting for reassembly,
// datagrams waiting for a next hop (each may be a chain: counted twice), and the mbufs the
// caller keeps in flight on hand-off rings. Rounded up to 2^n - 1 (the mempool's optimum).
constexpr std::uint32_t packet_pool_size(std::uint32_t workers, std::uint32_t handoff_in_flight) {
  const std::uint32_t lcores = workers + 1;
  const std::uint32_t rx_rings = workers * kRxDescriptors;
  const std::uint32_t tx_rings = lcores * kTxDescriptors;
  const std::uint32_t in_hand = lcores * (kBurst + kTxBatch);
  const std::uint32_t caches = lcores * kMempoolCache;
  const std::uint32_t reassembly = workers * kFragMaxEntries * kMaxFragmentsReassembled;
  const std::uint32_t pending = lcores * kPendingPerLcore * 2;
  const std::uint32_t total =
      rx_rings + tx_rings + in_hand + caches + reassembly + pending + handoff_in_flight;
  return std::bit_ceil(std::max(total, kMinPacketPool) + 1) - 1;
}

// Indirect mbufs (no data room) that fragmentation on send attaches to the datagram's data:
// at most two per fragment (a fragment may straddle two segments of the datagram), for every
// TX descriptor and every fragment an lcore has in hand.
constexpr std::uint32_t indirect_pool_size(std::uint32_t workers) {
  const std::uint32_t lcores = workers + 1;
  const std::uint32_t total =
      2 * lcores * (kTxDescriptors + kTxBatch + kMaxFragments) + lcores * kMempoolCache;
  return std::bit_ceil(total + 1) - 1;
}

static_assert(std::has_single_bit(kRxDescriptors) && std::has_single_bit(kTxDescriptors));
static_assert(kBurst <= RTE_IP_FRAG_DEATH_ROW_LEN,
              "the reassembly death row is emptied once per burst and holds this many");
static_assert(kTxBatch >= kBurst);
static_assert(kMempoolCache <= RTE_MEMPOOL_CACHE_MAX_SIZE);
static_assert(kMempoolCache * 3 / 2 <= kMinPacketPool, "mempool cache must be <= n / 1.5");
static_assert(kMbufDataRoom >= RTE_PKTMBUF_HEADROOM + 1500 + 14 + 4,
              "a 1500-octet MTU frame with a VLAN tag fits one mbuf");
static_assert(std::has_single_bit(kFragBucketEntries));
static_assert(kFragMaxEntries <= kFragBuckets * kFragBucketEntries);
static_assert(kMaxFragments * ((kMinMtu - 48) & ~7u) >= 65535,
              "the largest datagram splits into at most kMaxFragments at the smallest MTU");
static_assert(kScratchSize >= 65535);
static_assert(kResolveRetryMs < kResolveHoldMs);
static_assert(std::has_single_bit(kNeighborCapacity));
static_assert(packet_pool_size(1, 0) >= kMinPacketPool);
static_assert(std::has_single_bit(packet_pool_size(64, 4096) + 1));
static_assert(indirect_pool_size(1) * 2 / 3 >= kMempoolCache);

}  // namespace sipline::dataplane::dpdk

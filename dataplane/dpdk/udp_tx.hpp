// The send side of the packet layer: a SIP payload becomes an Ethernet/IP/UDP frame (or
// several fragments) with correct checksums, addressed to the next hop's MAC from the
// neighbour table, and queued for one TX burst.
//
// A datagram whose next hop is not resolved yet is parked in a small per-lcore queue (never
// more than kPendingPerLcore, overflow dropped and counted) while an ARP request or
// neighbour solicitation goes out; poll() sends it as soon as the control lcore has learned
// the answer, repeats the request every kResolveRetryMs, and gives up after kResolveHoldMs.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/net_counters.hpp"
#include "dataplane/dpdk/net_headers.hpp"
#include "dataplane/dpdk/port.hpp"

namespace sipline::dataplane::dpdk {

// Frames an lcore has ready, sent in one burst on its own TX queue. Without a port (unit
// tests) frames collect here until the caller takes them.
class TxBatch {
 public:
  TxBatch(Port* port, std::uint16_t queue, NetCounters& counters)
      : port_(port), queue_(queue), counters_(counters) {}
  ~TxBatch();
  TxBatch(const TxBatch&) = delete;
  TxBatch& operator=(const TxBatch&) = delete;

  // Takes the frame; a full batch is flushed first (without a port: the frame is dropped and
  // counted as TxFull).
  void push(rte_mbuf* frame);
  // One TX burst of everything collected (nothing without a port).
  void flush();

  std::size_t size() const { return count_; }
  // Without a port: the collected frames, now the caller's (the batch forgets them).
  std::span<rte_mbuf*> take();

 private:
  Port* port_;
  std::uint16_t queue_;
  NetCounters& counters_;
  std::array<rte_mbuf*, kTxBatch> frames_{};
  std::uint16_t count_ = 0;
  std::array<rte_mbuf*, kTxBatch> taken_{};
};

// Which checksums the NIC fills in for a frame we build; the rest are computed here.
struct ChecksumPlan {
  bool ipv4_offload = false;
  bool udp_offload = false;
};

// Prepends UDP and IP headers to `datagram`, whose data is exactly the UDP payload (with at
// least 48 octets of headroom for the headers and 18 more for Ethernet). `from` and `to` are
// of the same family; `ipv4_id` is the IPv4 identification, `dscp` the DSCP (RFC 2474) of
// the TOS / Traffic Class octet. Checksums per `plan` (offloaded ones get the pseudo-header
// sum and the TX flags). False when the headroom is missing.
bool add_udp_ip_headers(rte_mbuf* datagram, const Endpoint& from, const Endpoint& to,
                        std::uint16_t ipv4_id, std::uint8_t dscp, ChecksumPlan plan);

// Copies `payload` into a chain of mbufs from `pool` with headroom for all headers; nullptr
// when the pool runs dry.
rte_mbuf* copy_payload(rte_mempool* pool, std::string_view payload);

// Prepends the Ethernet header (and VLAN tag) to a frame whose data starts at its IP header.
bool add_ethernet(rte_mbuf* frame, const rte_ether_addr& destination, const Interface& interface,
                  bool ipv6);

// The same frame in one segment, for a PMD without multi-segment TX; consumes `frame`.
// nullptr when it does not fit one mbuf of `pool` or the pool is empty.
rte_mbuf* linearize(rte_mbuf* frame, rte_mempool* pool);

// A buffer the caller writes a payload into directly (one copy out, DESIGN.md §3).
struct PayloadBuffer {
  rte_mbuf* mbuf = nullptr;  // null when the pool is empty
  std::span<char> room;      // up to ~2 KB; a larger message goes through send()
};

struct SenderSettings {
  const Interface* interface = nullptr;
  const NeighborTable* neighbors = nullptr;
  rte_mempool* pool = nullptr;           // datagrams, ARP/NS requests, fragment headers
  rte_mempool* indirect_pool = nullptr;  // fragment views into datagrams
  TxOffloads offloads;
  std::uint16_t lcore_index = 0;  // IP identifications are spread over lcores
  std::uint16_t lcore_count = 1;
  std::uint64_t tsc_hz = 0;
};

enum class SendStatus : std::uint8_t {
  Sent,     // queued for the NIC
  Held,     // waiting for the next hop to resolve; poll() sends it
  Dropped,  // freed, counted under `drop`
};

struct SendResult {
  SendStatus status = SendStatus::Dropped;
  NetDrop drop = NetDrop::NoBuffer;
};

class UdpSender {
 public:
  UdpSender(const SenderSettings& settings, TxBatch& tx, NetCounters& counters);
  ~UdpSender();
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;

  // `payload` from our address (of `to`'s family) and `source_port` to `to`.
  SendResult send(std::string_view payload, std::uint16_t source_port, const Endpoint& to,
                  std::uint64_t now);

  PayloadBuffer allocate_payload();
  // Sends `length` octets written into `buffer.room` (consumes the buffer in every case).
  SendResult send_payload(PayloadBuffer buffer, std::size_t length, std::uint16_t source_port,
                          const Endpoint& to, std::uint64_t now);

  // Sends parked datagrams whose next hop resolved, repeats requests, drops expired ones.
  void poll(std::uint64_t now);
  std::size_t held() const { return pending_count_; }

 private:
  struct Pending {
    rte_mbuf* datagram = nullptr;
    IpAddress next_hop;
    std::uint64_t held_since = 0;
    std::uint64_t last_request = 0;
  };

  // A next hop the caller has just found in the neighbour table.
  struct Resolved {
    IpAddress next_hop;
    rte_ether_addr mac;
  };

  SendResult send_datagram(rte_mbuf* payload, std::uint16_t source_port, const Endpoint& to,
                           std::uint64_t now);
  void emit(rte_mbuf* datagram, const rte_ether_addr& mac, bool ipv6);
  void request_resolution(const IpAddress& next_hop);
  // Sends parked datagrams whose next hop resolves (`resolved`'s without a second lookup),
  // never one ahead of another parked earlier for the same next hop; drops expired ones.
  void release_resolved(std::uint64_t now, const Resolved* resolved);
  // Whether one of the first `count` parked datagrams waits for `next_hop`.
  bool parked_for(const IpAddress& next_hop, std::size_t count) const;

  SenderSettings settings_;
  TxBatch& tx_;
  NetCounters& counters_;
  std::uint64_t retry_ticks_;
  std::uint64_t hold_ticks_;
  std::uint16_t next_ipv4_id_;
  std::uint32_t next_ipv6_id_;
  std::array<Pending, kPendingPerLcore> pending_{};
  std::size_t pending_count_ = 0;
  std::array<rte_mbuf*, kMaxFragments> fragments_{};
};

}  // namespace sipline::dataplane::dpdk

// One DPDK ethdev port as the dataplane uses it: one RX queue per worker, one TX queue per
// worker plus one for the control lcore (its ARP/ICMP/ND replies), RSS over IPv4/IPv6/UDP
// when the PMD offers it (fragments hash on the IP pair, so they stay together), IPv4/UDP
// checksum offload when offered, our MTU, promiscuous mode off, link up.
//
// receive/transmit wrap the burst calls; transmit frees and counts what the NIC did not
// take, so a caller never holds on to an unsent frame.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/net_counters.hpp"

namespace sipline::dataplane::dpdk {

struct PortSettings {
  std::uint16_t port_id = 0;
  std::uint16_t workers = 1;  // RX queues; TX queues are workers + 1 (see control_queue)
  std::uint16_t mtu = 1500;
  rte_mempool* rx_pool = nullptr;  // mbufs the NIC receives into
  std::uint16_t rx_descriptors = kRxDescriptors;
  std::uint16_t tx_descriptors = kTxDescriptors;
  // One TX queue more than RX queues, for the control lcore. Off for a port that only the
  // control lcore uses (the kernel's TAP, whose PMD wants as many TX as RX queues).
  bool control_queue = true;
};

// What the NIC computes for us on send; anything false is done in software.
struct TxOffloads {
  bool ipv4_checksum = false;
  bool udp_checksum = false;
  bool multi_segment = false;  // chained mbufs (fragments point into their datagram)
};

class Port {
 public:
  struct Opened {
    std::unique_ptr<Port> port;  // null on failure
    std::string error;           // "port 0: rte_eth_dev_configure: ..."
  };
  static Opened open(const PortSettings& settings);

  ~Port();  // stops and closes the port
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  std::uint16_t id() const { return id_; }
  const rte_ether_addr& mac() const { return mac_; }
  std::uint16_t mtu() const { return mtu_; }
  std::uint16_t workers() const { return workers_; }
  // The TX queue of the control lcore (worker i uses RX and TX queue i).
  std::uint16_t control_queue() const { return workers_; }
  // RX queues configured: one per worker, except for a PMD whose queues come in pairs that
  // all receive (af_packet), which has one more.
  std::uint16_t rx_queue_count() const { return rx_queues_; }
  // The RX queues worker `worker` polls: its own, plus any queue beyond the workers' (q mod
  // workers == worker). Returns how many were written to `out`.
  std::uint16_t rx_queues_of(std::uint16_t worker, std::span<std::uint16_t> out) const;
  std::uint64_t rss_hash_functions() const { return rss_hf_; }  // 0: RSS off
  bool rx_checksum_offload() const { return rx_checksum_; }
  const TxOffloads& tx_offloads() const { return tx_offloads_; }
  // One line for the start-up log: driver, MAC, queues, MTU, RSS and offloads.
  std::string describe() const;

  std::uint16_t receive(std::uint16_t queue, std::span<rte_mbuf*> frames) {
    return rte_eth_rx_burst(
        id_, queue, frames.data(),
        static_cast<std::uint16_t>(std::min<std::size_t>(frames.size(), kBurst)));
  }

  // Sends `frames` on `queue` (owned by the calling lcore). Frames the PMD refuses in
  // tx_prepare or the NIC does not take are freed and counted; returns how many were taken.
  std::uint16_t transmit(std::uint16_t queue, std::span<rte_mbuf*> frames);

  std::uint64_t transmitted(std::uint16_t queue) const { return queues_[queue].sent.read(); }
  std::uint64_t tx_dropped(std::uint16_t queue) const { return queues_[queue].dropped.read(); }

 private:
  Port() = default;

  struct alignas(64) QueueCounters {
    Counter sent;
    Counter dropped;
  };

  std::uint16_t id_ = 0;
  std::uint16_t workers_ = 0;
  std::uint16_t rx_queues_ = 0;
  std::uint16_t tx_queues_ = 0;
  std::uint16_t mtu_ = 0;
  rte_ether_addr mac_{};
  std::uint64_t rss_hf_ = 0;
  bool rx_checksum_ = false;
  TxOffloads tx_offloads_;
  std::string driver_;
  bool started_ = false;
  std::unique_ptr<QueueCounters[]> queues_;
};

}  // namespace sipline::dataplane::dpdk

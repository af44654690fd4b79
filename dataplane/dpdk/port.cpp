#include "dataplane/dpdk/port.hpp"

#include <rte_errno.h>

#include <cstdio>
#include <string_view>

namespace sipline::dataplane::dpdk {
namespace {

// RSS over addresses and UDP ports; fragments (which carry no port) hash on the IP pair
// (RTE_ETH_RSS_FRAG_*), so all fragments of one datagram land on one queue and one
// reassembly table.
constexpr std::uint64_t kWantedRss = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 |
                                     RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV6 |
                                     RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_UDP;

std::string failure(std::uint16_t port, const char* call, int error) {
  return "port " + std::to_string(port) + ": " + call + " failed: " + rte_strerror(-error);
}

std::string mac_text(const rte_ether_addr& mac) {
  char text[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(text, sizeof text, &mac);
  return text;
}

}  // namespace

Port::Opened Port::open(const PortSettings& settings) {
  const std::uint16_t id = settings.port_id;
  if (!rte_eth_dev_is_valid_port(id)) {
    return {nullptr, "port " + std::to_string(id) + " does not exist (EAL found " +
                         std::to_string(rte_eth_dev_count_avail()) +
                         " ports: check --vdev / --allow in [dataplane] eal)"};
  }
  if (settings.workers == 0 || settings.rx_pool == nullptr) {
    return {nullptr, "port " + std::to_string(id) + ": needs at least one worker and a pool"};
  }
  rte_eth_dev_info info{};
  if (const int error = rte_eth_dev_info_get(id, &info); error != 0) {
    return {nullptr, failure(id, "rte_eth_dev_info_get", error)};
  }
  // af_packet opens one kernel socket per queue pair at probe time and the kernel spreads
  // received frames over all of them (PACKET_FANOUT_HASH), configured or not: every RX queue
  // it has must be polled, so it gets as many RX as TX queues (workers + 1, qpairs=), and the
  // extra one is polled by a worker (rx_queues_of()).
  const bool paired_queues = std::string_view(info.driver_name) == "net_af_packet";
  const auto tx_queues = static_cast<std::uint16_t>(settings.workers + settings.control_queue);
  const std::uint16_t rx_queues = paired_queues ? tx_queues : settings.workers;
  if (rx_queues > info.max_rx_queues || tx_queues > info.max_tx_queues ||
      (paired_queues && info.max_rx_queues != rx_queues)) {
    return {nullptr, "port " + std::to_string(id) + " (" + info.driver_name + ") has " +
                         std::to_string(info.max_rx_queues) + " RX / " +
                         std::to_string(info.max_tx_queues) + " TX queues; " +
                         std::to_string(settings.workers) + " workers need " +
                         std::to_string(rx_queues) + " / " + std::to_string(tx_queues) +
                         (paired_queues ? " (af_packet: qpairs=" + std::to_string(tx_queues) + ")"
                                        : std::string())};
  }
  if (settings.mtu < info.min_mtu || settings.mtu > info.max_mtu) {
    return {nullptr, "port " + std::to_string(id) + ": MTU " + std::to_string(settings.mtu) +
                         " outside what the NIC accepts (" + std::to_string(info.min_mtu) + ".." +
                         std::to_string(info.max_mtu) + ")"};
  }
  const std::uint32_t frame_room =
      rte_pktmbuf_data_room_size(settings.rx_pool) - RTE_PKTMBUF_HEADROOM;
  if (std::uint32_t{settings.mtu} + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN >
      frame_room) {
    return {nullptr, "port " + std::to_string(id) + ": MTU " + std::to_string(settings.mtu) +
                         " frames do not fit one mbuf of the pool (scattered RX is not used)"};
  }

  auto port = std::unique_ptr<Port>(new Port());
  port->id_ = id;
  port->workers_ = settings.workers;
  port->rx_queues_ = rx_queues;
  port->tx_queues_ = tx_queues;
  port->mtu_ = settings.mtu;
  port->driver_ = info.driver_name;

  rte_eth_conf conf{};  // members assigned one by one: designated initializers must be in order
  conf.rxmode.mtu = settings.mtu;
  if (settings.workers > 1 && !paired_queues) {
    port->rss_hf_ = kWantedRss & info.flow_type_rss_offloads;
    if (port->rss_hf_ != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // the PMD's default key
      conf.rx_adv_conf.rss_conf.rss_hf = port->rss_hf_;
    }
  }
  constexpr std::uint64_t kRxChecksum =
      RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  if ((info.rx_offload_capa & kRxChecksum) == kRxChecksum) {
    conf.rxmode.offloads |= kRxChecksum;
    port->rx_checksum_ = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    port->tx_offloads_.ipv4_checksum = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    port->tx_offloads_.udp_checksum = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    port->tx_offloads_.multi_segment = true;
  }

  if (const int error = rte_eth_dev_configure(id, rx_queues, tx_queues, &conf); error != 0) {
    return {nullptr, failure(id, "rte_eth_dev_configure", error)};
  }
  std::uint16_t rx_descriptors = settings.rx_descriptors;
  std::uint16_t tx_descriptors = settings.tx_descriptors;
  if (const int error = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rx_descriptors, &tx_descriptors);
      error != 0) {
    return {nullptr, failure(id, "rte_eth_dev_adjust_nb_rx_tx_desc", error)};
  }
  const int socket = rte_eth_dev_socket_id(id);
  const unsigned socket_id = socket < 0 ? static_cast<unsigned>(SOCKET_ID_ANY) : socket;
  rte_eth_rxconf rxconf = info.default_rxconf;
  rxconf.offloads = conf.rxmode.offloads;
  for (std::uint16_t queue = 0; queue < rx_queues; ++queue) {
    if (const int error =
            rte_eth_rx_queue_setup(id, queue, rx_descriptors, socket_id, &rxconf, settings.rx_pool);
        error != 0) {
      return {nullptr, failure(id, "rte_eth_rx_queue_setup", error)};
    }
  }
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (std::uint16_t queue = 0; queue < tx_queues; ++queue) {
    if (const int error = rte_eth_tx_queue_setup(id, queue, tx_descriptors, socket_id, &txconf);
        error != 0) {
      return {nullptr, failure(id, "rte_eth_tx_queue_setup", error)};
    }
  }
  if (const int error = rte_eth_dev_start(id); error != 0) {
    return {nullptr, failure(id, "rte_eth_dev_start", error)};
  }
  port->started_ = true;
  // We own one address: frames for other stations are not ours to see. Some vdevs cannot
  // change either setting (-ENOTSUP); that is harmless, classify() checks the MAC anyway.
  if (const int error = rte_eth_promiscuous_disable(id); error != 0 && error != -ENOTSUP) {
    return {nullptr, failure(id, "rte_eth_promiscuous_disable", error)};
  }
  if (const int error = rte_eth_dev_set_link_up(id); error != 0 && error != -ENOTSUP) {
    return {nullptr, failure(id, "rte_eth_dev_set_link_up", error)};
  }
  if (const int error = rte_eth_macaddr_get(id, &port->mac_); error != 0) {
    return {nullptr, failure(id, "rte_eth_macaddr_get", error)};
  }
  port->queues_ = std::make_unique<QueueCounters[]>(tx_queues);
  return {std::move(port), {}};
}

Port::~Port() {
  if (started_) rte_eth_dev_stop(id_);
  rte_eth_dev_close(id_);
}

std::string Port::describe() const {
  std::string text = "port " + std::to_string(id_) + " (" + driver_ + "): mac " + mac_text(mac_) +
                     ", " + std::to_string(rx_queues_) + " RX / " + std::to_string(tx_queues_) +
                     " TX queues, mtu " + std::to_string(mtu_) + ", rss ";
  if (workers_ == 1) {
    text += "not needed";
  } else if (rss_hf_ == 0) {
    text += "OFF (the PMD offers none: every flow arrives on queue 0)";
  } else {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(rss_hf_));
    text += hex;
  }
  text += ", rx checksum ";
  text += rx_checksum_ ? "offloaded" : "software";
  text += ", tx checksum ";
  text += tx_offloads_.ipv4_checksum && tx_offloads_.udp_checksum ? "offloaded"
          : tx_offloads_.ipv4_checksum || tx_offloads_.udp_checksum
              ? (tx_offloads_.ipv4_checksum ? "ipv4 offloaded, udp software"
                                            : "udp offloaded, ipv4 software")
              : "software";
  text += ", multi-segment tx ";
  text += tx_offloads_.multi_segment ? "yes" : "no (fragments are copied)";
  return text;
}

std::uint16_t Port::rx_queues_of(std::uint16_t worker, std::span<std::uint16_t> out) const {
  std::uint16_t count = 0;
  for (std::uint16_t queue = worker; queue < rx_queues_ && count < out.size();
       queue = static_cast<std::uint16_t>(queue + workers_)) {
    out[count++] = queue;
  }
  return count;
}

std::uint16_t Port::transmit(std::uint16_t queue, std::span<rte_mbuf*> frames) {
  const auto count = static_cast<std::uint16_t>(std::min<std::size_t>(frames.size(), UINT16_MAX));
  if (count == 0) return 0;
  const std::uint16_t prepared = rte_eth_tx_prepare(id_, queue, frames.data(), count);
  std::uint16_t sent = 0;
  // A full descriptor ring gets a second chance (the NIC may have completed some since);
  // never more: a worker does not wait for the wire.
  for (int attempt = 0; attempt < 2 && sent < prepared; ++attempt) {
    sent += rte_eth_tx_burst(id_, queue, frames.data() + sent, prepared - sent);
  }
  if (sent < count) {
    rte_pktmbuf_free_bulk(frames.data() + sent, count - sent);
    queues_[queue].dropped.add(count - sent);
  }
  queues_[queue].sent.add(sent);
  return sent;
}

}  // namespace sipline::dataplane::dpdk

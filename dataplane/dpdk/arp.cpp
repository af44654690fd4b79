#include "dataplane/dpdk/arp.hpp"

#include <rte_arp.h>

#include <algorithm>

namespace sipline::dataplane::dpdk {
namespace {

// Offsets inside the Ethernet/IPv4 ARP body (RFC 826).
constexpr std::size_t kOpcode = 6;
constexpr std::size_t kSenderMac = 8;
constexpr std::size_t kSenderIp = 14;
constexpr std::size_t kTargetMac = 18;
constexpr std::size_t kTargetIp = 24;

ArpResult drop_for(NetDrop reason, bool learned = false) {
  return {ArpVerdict::Drop, reason, learned};
}

void write_arp_body(std::uint8_t* arp, std::uint16_t opcode, const rte_ether_addr& sender_mac,
                    rte_be32_t sender_ip, const rte_ether_addr& target_mac, rte_be32_t target_ip) {
  store_be16(arp, RTE_ARP_HRD_ETHER);
  store_be16(arp + 2, kEtherTypeIpv4);
  arp[4] = RTE_ETHER_ADDR_LEN;
  arp[5] = 4;
  store_be16(arp + kOpcode, opcode);
  store_mac(arp + kSenderMac, sender_mac);
  std::memcpy(arp + kSenderIp, &sender_ip, 4);
  store_mac(arp + kTargetMac, target_mac);
  std::memcpy(arp + kTargetIp, &target_ip, 4);
}

}  // namespace

ArpResult handle_arp(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                     NeighborTable& neighbors, std::uint64_t now) {
  auto* bytes = rte_pktmbuf_mtod(frame, std::uint8_t*);
  std::uint8_t* arp = bytes + parsed.l2_length;
  const std::uint16_t opcode = load_be16(arp + kOpcode);
  if (opcode != RTE_ARP_OP_REQUEST && opcode != RTE_ARP_OP_REPLY) {
    return drop_for(NetDrop::ArpMalformed);
  }
  const rte_ether_addr sender_mac = load_mac(arp + kSenderMac);
  rte_be32_t sender_ip;
  rte_be32_t target_ip;
  std::memcpy(&sender_ip, arp + kSenderIp, 4);
  std::memcpy(&target_ip, arp + kTargetIp, 4);
  if (!rte_is_unicast_ether_addr(&sender_mac) || rte_is_zero_ether_addr(&sender_mac)) {
    return drop_for(NetDrop::ArpMalformed);
  }
  // Someone else claiming our address (RFC 5227 §2.4 conflict): never learn or answer it.
  if (sender_ip == interface.ipv4) return drop_for(NetDrop::ArpMalformed);

  // Sender 0.0.0.0 is an address probe (RFC 5227 §2.1.1): answered, never learned.
  const bool sender_usable = sender_ip != 0 && interface.ipv4_on_link(sender_ip);
  const IpAddress sender = ipv4_address_at(&sender_ip);
  bool learned = sender_usable && neighbors.update_if_present(sender, sender_mac, now);
  if (target_ip != interface.ipv4) return drop_for(NetDrop::ArpNotForUs, learned);
  if (sender_usable && !learned) {
    const auto outcome = neighbors.learn(sender, sender_mac, now);
    learned =
        outcome == NeighborTable::Learned::Added || outcome == NeighborTable::Learned::Updated;
  }
  if (opcode != RTE_ARP_OP_REQUEST) return {ArpVerdict::Consumed, NetDrop::ArpNotForUs, learned};

  // The reply goes back the way the request came (same VLAN tag), to the asker's MAC.
  store_mac(bytes, sender_mac);
  store_mac(bytes + 6, interface.mac);
  write_arp_body(arp, RTE_ARP_OP_REPLY, interface.mac, interface.ipv4, sender_mac, sender_ip);
  frame->ol_flags = 0;
  return {ArpVerdict::Reply, NetDrop::ArpNotForUs, learned};
}

rte_mbuf* build_arp_request(rte_mempool* pool, const Interface& interface, rte_be32_t target) {
  rte_mbuf* frame = rte_pktmbuf_alloc(pool);
  if (frame == nullptr) return nullptr;
  const std::size_t length =
      std::max(ethernet_length(interface.vlan) + kArpLength, std::size_t{kMinFrame});
  auto* bytes = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(frame, length));
  std::memset(bytes, 0, length);
  rte_ether_addr broadcast;
  std::memset(broadcast.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  const std::size_t l2 =
      write_ethernet(bytes, broadcast, interface.mac, interface.vlan, kEtherTypeArp);
  const rte_ether_addr unknown{};
  write_arp_body(bytes + l2, RTE_ARP_OP_REQUEST, interface.mac, interface.ipv4, unknown, target);
  return frame;
}

rte_mbuf* build_arp_announcement(rte_mempool* pool, const Interface& interface) {
  return build_arp_request(pool, interface, interface.ipv4);
}

}  // namespace sipline::dataplane::dpdk

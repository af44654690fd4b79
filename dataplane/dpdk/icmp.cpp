#include "dataplane/dpdk/icmp.hpp"

#include <rte_ip.h>

namespace sipline::dataplane::dpdk {
namespace {

constexpr std::uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::uint8_t kNaSolicited = 0x40;  // RFC 4861 §4.4 S flag
constexpr std::uint8_t kNaOverride = 0x20;   // O flag

IcmpResult drop_for(NetDrop reason) {
  return {IcmpVerdict::Drop, reason, false};
}

bool is_unspecified(const std::uint8_t* address) {
  static constexpr std::uint8_t kZero[16] = {};
  return std::memcmp(address, kZero, 16) == 0;
}

// Cuts the frame to exactly `length` octets (Ethernet padding off, a reply shorter or longer
// than the request). False when the frame cannot be resized in place.
bool resize(rte_mbuf* frame, std::uint32_t length) {
  if (frame->nb_segs != 1) return false;
  if (frame->pkt_len > length) return rte_pktmbuf_trim(frame, frame->pkt_len - length) == 0;
  if (frame->pkt_len < length) {
    return rte_pktmbuf_append(frame, static_cast<std::uint16_t>(length - frame->pkt_len)) !=
           nullptr;
  }
  return true;
}

// The link-layer address option of `type` among the ND options at [begin, end).
struct LinkLayerOption {
  bool valid = true;  // false: an option of length 0 or running past the end (§7.1.1)
  bool present = false;
  rte_ether_addr mac{};
};

LinkLayerOption find_link_layer_option(const std::uint8_t* begin, const std::uint8_t* end,
                                       std::uint8_t type) {
  LinkLayerOption found;
  for (const std::uint8_t* option = begin; option < end;) {
    if (end - option < 2 || option[1] == 0 || option + option[1] * 8 > end) {
      found.valid = false;
      return found;
    }
    if (option[0] == type && option[1] == 1) {
      found.present = true;
      found.mac = load_mac(option + 2);
    }
    option += option[1] * 8;
  }
  return found;
}

void write_ipv6_header(std::uint8_t* ip, std::uint16_t payload_length, std::uint8_t next_header,
                       std::uint8_t hop_limit, const std::uint8_t* source,
                       const std::uint8_t* destination) {
  store_be32(ip, 6u << 28);
  store_be16(ip + 4, payload_length);
  ip[6] = next_header;
  ip[7] = hop_limit;
  std::memmove(ip + 8, source, 16);
  std::memmove(ip + 24, destination, 16);
}

void set_icmp6_checksum(rte_mbuf* frame, std::uint16_t l2) {
  auto* ip = rte_pktmbuf_mtod_offset(frame, rte_ipv6_hdr*, l2);
  auto* icmp = rte_pktmbuf_mtod_offset(frame, std::uint8_t*, l2 + kIpv6Header);
  store_checksum(icmp + 2, 0);
  store_checksum(icmp + 2, rte_ipv6_udptcp_cksum_mbuf(frame, ip, l2 + kIpv6Header));
}

IcmpResult answer_echo6(rte_mbuf* frame, const Frame& parsed, const Interface& interface) {
  const std::uint8_t* destination = parsed.destination.address.bytes.data();
  const std::uint8_t* source = parsed.source.address.bytes.data();
  if (!interface.is_our_ipv6(destination)) return drop_for(NetDrop::NotOurAddress);
  if (is_unspecified(source)) return drop_for(NetDrop::BadSource);
  if (!resize(frame, parsed.l2_length + parsed.ip_length)) return drop_for(NetDrop::Truncated);
  auto* bytes = rte_pktmbuf_mtod(frame, std::uint8_t*);
  const rte_ether_addr asker = load_mac(bytes + 6);
  store_mac(bytes, asker);
  store_mac(bytes + 6, interface.mac);
  std::uint8_t* ip = bytes + parsed.l2_length;
  write_ipv6_header(ip, static_cast<std::uint16_t>(parsed.ip_length - kIpv6Header), kProtoIcmp6,
                    kDefaultTtl, interface.ipv6.data(), source);
  ip[kIpv6Header] = kIcmp6EchoReply;
  set_icmp6_checksum(frame, parsed.l2_length);
  frame->ol_flags = 0;
  return {IcmpVerdict::Reply, NetDrop::IcmpType, false};
}

IcmpResult answer_solicitation(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                               NeighborTable& neighbors, std::uint64_t now) {
  auto* bytes = rte_pktmbuf_mtod(frame, std::uint8_t*);
  const std::uint16_t l2 = parsed.l2_length;
  const std::uint8_t* ip = bytes + l2;
  const std::uint8_t* icmp = ip + kIpv6Header;
  const std::uint16_t icmp_length = parsed.ip_length - kIpv6Header;
  if (ip[7] != kNdHopLimit || icmp[1] != 0 || icmp_length < kNdMessage ||
      l2 + parsed.ip_length > frame->data_len) {
    return drop_for(NetDrop::NdInvalid);
  }
  const std::uint8_t* target = icmp + 8;
  if (target[0] == 0xff) return drop_for(NetDrop::NdInvalid);
  const std::uint8_t* source = parsed.source.address.bytes.data();
  const bool from_unspecified = is_unspecified(source);
  const auto option =
      find_link_layer_option(icmp + kNdMessage, icmp + icmp_length, kNdOptionSourceLinkLayer);
  if (!option.valid) return drop_for(NetDrop::NdInvalid);
  // Duplicate address detection (RFC 4862 §5.4.3) comes from :: to the solicited-node group
  // and carries no link-layer option.
  if (from_unspecified &&
      (option.present || std::memcmp(parsed.destination.address.bytes.data(),
                                     interface.ipv6_solicited_node.data(), 16) != 0)) {
    return drop_for(NetDrop::NdInvalid);
  }
  if (!interface.is_our_ipv6(target)) return drop_for(NetDrop::NotOurAddress);

  bool learned = false;
  if (!from_unspecified && option.present && interface.ipv6_on_link(source)) {
    const auto outcome = neighbors.learn(parsed.source.address, option.mac, now);
    learned =
        outcome == NeighborTable::Learned::Added || outcome == NeighborTable::Learned::Updated;
  }

  // The advertisement (§7.2.4): to the soliciting unicast address, or to all nodes for DAD.
  std::uint8_t reply_to[16];
  std::memcpy(reply_to, from_unspecified ? kAllNodes : source, 16);
  const rte_ether_addr asker_mac = load_mac(bytes + 6);
  const rte_ether_addr reply_mac = from_unspecified ? ipv6_multicast_mac(kAllNodes)
                                   : option.present ? option.mac
                                                    : asker_mac;
  constexpr std::uint16_t kAdvertisement = kNdMessage + kNdLinkLayerOption;
  if (!resize(frame, l2 + kIpv6Header + kAdvertisement)) return drop_for(NetDrop::Truncated);
  bytes = rte_pktmbuf_mtod(frame, std::uint8_t*);
  store_mac(bytes, reply_mac);
  store_mac(bytes + 6, interface.mac);
  std::uint8_t* reply_ip = bytes + l2;
  write_ipv6_header(reply_ip, kAdvertisement, kProtoIcmp6, kNdHopLimit, interface.ipv6.data(),
                    reply_to);
  std::uint8_t* advertisement = reply_ip + kIpv6Header;
  std::memset(advertisement, 0, kAdvertisement);
  advertisement[0] = kIcmp6NeighborAdvertisement;
  advertisement[4] = static_cast<std::uint8_t>((from_unspecified ? 0 : kNaSolicited) | kNaOverride);
  std::memcpy(advertisement + 8, interface.ipv6.data(), 16);
  advertisement[kNdMessage] = kNdOptionTargetLinkLayer;
  advertisement[kNdMessage + 1] = 1;
  store_mac(advertisement + kNdMessage + 2, interface.mac);
  set_icmp6_checksum(frame, l2);
  frame->ol_flags = 0;
  return {IcmpVerdict::Reply, NetDrop::IcmpType, learned};
}

IcmpResult learn_advertisement(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                               NeighborTable& neighbors, std::uint64_t now) {
  const auto* bytes = rte_pktmbuf_mtod(frame, const std::uint8_t*);
  const std::uint8_t* ip = bytes + parsed.l2_length;
  const std::uint8_t* icmp = ip + kIpv6Header;
  const std::uint16_t icmp_length = parsed.ip_length - kIpv6Header;
  if (ip[7] != kNdHopLimit || icmp[1] != 0 || icmp_length < kNdMessage ||
      parsed.l2_length + parsed.ip_length > frame->data_len) {
    return drop_for(NetDrop::NdInvalid);
  }
  const std::uint8_t* target = icmp + 8;
  const bool to_us = interface.is_our_ipv6(parsed.destination.address.bytes.data());
  // §7.1.2: the target is not multicast; a multicast advertisement is never "solicited".
  if (target[0] == 0xff || (!to_us && (icmp[4] & kNaSolicited) != 0)) {
    return drop_for(NetDrop::NdInvalid);
  }
  const auto option =
      find_link_layer_option(icmp + kNdMessage, icmp + icmp_length, kNdOptionTargetLinkLayer);
  if (!option.valid) return drop_for(NetDrop::NdInvalid);
  // Another node advertising our own address: a duplicate, never learned.
  if (interface.is_our_ipv6(target)) return drop_for(NetDrop::NdInvalid);
  bool learned = false;
  if (option.present && interface.ipv6_on_link(target)) {
    const IpAddress neighbor = ipv6_address_at(target);
    if (to_us) {
      const auto outcome = neighbors.learn(neighbor, option.mac, now);
      learned =
          outcome == NeighborTable::Learned::Added || outcome == NeighborTable::Learned::Updated;
    } else {
      learned = neighbors.update_if_present(neighbor, option.mac, now);
    }
  }
  return {IcmpVerdict::Consumed, NetDrop::IcmpType, learned};
}

}  // namespace

IcmpResult answer_icmp_echo(rte_mbuf* frame, const Frame& parsed, const Interface& interface) {
  if (!resize(frame, parsed.l2_length + parsed.ip_length)) return drop_for(NetDrop::Truncated);
  auto* bytes = rte_pktmbuf_mtod(frame, std::uint8_t*);
  const rte_ether_addr asker = load_mac(bytes + 6);
  store_mac(bytes, asker);
  store_mac(bytes + 6, interface.mac);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(bytes + parsed.l2_length);
  const rte_be32_t asker_ip = ip->src_addr;
  ip->src_addr = interface.ipv4;
  ip->dst_addr = asker_ip;
  ip->time_to_live = kDefaultTtl;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);

  const std::uint32_t icmp_offset = parsed.l4_offset();
  auto* icmp = bytes + icmp_offset;
  icmp[0] = kIcmpEchoReply;
  icmp[1] = 0;
  store_checksum(icmp + 2, 0);
  std::uint16_t sum = 0;
  rte_raw_cksum_mbuf(frame, icmp_offset, parsed.ip_length - parsed.l3_length, &sum);
  store_checksum(icmp + 2, static_cast<std::uint16_t>(~sum));
  frame->ol_flags = 0;
  return {IcmpVerdict::Reply, NetDrop::IcmpType, false};
}

IcmpResult handle_icmp6(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                        NeighborTable& neighbors, std::uint64_t now) {
  const std::uint8_t type =
      rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, parsed.l4_offset())[0];
  switch (type) {
    case kIcmp6EchoRequest:
      return answer_echo6(frame, parsed, interface);
    case kIcmp6NeighborSolicitation:
      return answer_solicitation(frame, parsed, interface, neighbors, now);
    case kIcmp6NeighborAdvertisement:
      return learn_advertisement(frame, parsed, interface, neighbors, now);
    default:
      return drop_for(NetDrop::IcmpType);
  }
}

namespace {

// The neighbour discovery messages we originate (RFC 4861 §4.3, §4.4): `type` with `flags`
// about `target`, from our IPv6 address to the multicast group `group`, with our MAC in
// link-layer option `option`. nullptr when the pool is empty.
struct NdMessage {
  std::uint8_t type;
  std::uint8_t flags;
  const std::uint8_t* target;
  const std::uint8_t* group;
  std::uint8_t option;
};
rte_mbuf* build_nd_message(rte_mempool* pool, const Interface& interface,
                           const NdMessage& message) {
  rte_mbuf* frame = rte_pktmbuf_alloc(pool);
  if (frame == nullptr) return nullptr;
  constexpr std::uint16_t kMessage = kNdMessage + kNdLinkLayerOption;
  const std::size_t l2 = ethernet_length(interface.vlan);
  const std::size_t length = l2 + kIpv6Header + kMessage;
  auto* bytes = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(frame, length));
  std::memset(bytes, 0, length);
  write_ethernet(bytes, ipv6_multicast_mac(message.group), interface.mac, interface.vlan,
                 kEtherTypeIpv6);
  write_ipv6_header(bytes + l2, kMessage, kProtoIcmp6, kNdHopLimit, interface.ipv6.data(),
                    message.group);
  std::uint8_t* icmp = bytes + l2 + kIpv6Header;
  icmp[0] = message.type;
  icmp[4] = message.flags;
  std::memcpy(icmp + 8, message.target, 16);
  icmp[kNdMessage] = message.option;
  icmp[kNdMessage + 1] = 1;  // in units of 8 octets
  store_mac(icmp + kNdMessage + 2, interface.mac);
  set_icmp6_checksum(frame, static_cast<std::uint16_t>(l2));
  return frame;
}

}  // namespace

rte_mbuf* build_neighbor_solicitation(rte_mempool* pool, const Interface& interface,
                                      const IpAddress& target) {
  if (!interface.has_ipv6 || !is_ipv6(target)) return nullptr;
  const auto group = solicited_node_group(target.bytes.data());
  return build_nd_message(
      pool, interface,
      {kIcmp6NeighborSolicitation, 0, target.bytes.data(), group.data(), kNdOptionSourceLinkLayer});
}

rte_mbuf* build_unsolicited_advertisement(rte_mempool* pool, const Interface& interface) {
  if (!interface.has_ipv6) return nullptr;
  // Not solicited, override (§7.2.6): neighbours replace what they cached for our address.
  return build_nd_message(pool, interface,
                          {kIcmp6NeighborAdvertisement, kNaOverride, interface.ipv6.data(),
                           kAllNodes, kNdOptionTargetLinkLayer});
}

}  // namespace sipline::dataplane::dpdk

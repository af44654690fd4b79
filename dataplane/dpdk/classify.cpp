#include "dataplane/dpdk/classify.hpp"

#include <rte_arp.h>
#include <rte_ip.h>

#include "dataplane/dpdk/checksum.hpp"

namespace sipline::dataplane::dpdk {
namespace {

// The helpers fill one Frame in place: copying it from layer to layer costs store-forwarding
// stalls on its address bytes, per frame.
Frame& dropped(Frame& frame, NetDrop reason) {
  frame.kind = FrameKind::Drop;
  frame.drop = reason;
  return frame;
}

// The PMD's verdict on a checksum, from the two-bit RX flag fields of rte_mbuf_core.h.
enum class Offloaded : std::uint8_t { Unknown, Good, Bad };

Offloaded ip_checksum_flag(const rte_mbuf* frame) {
  switch (frame->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
    case RTE_MBUF_F_RX_IP_CKSUM_NONE:  // not in the packet, but integrity verified
      return Offloaded::Good;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
      return Offloaded::Bad;
    default:
      return Offloaded::Unknown;
  }
}

Offloaded l4_checksum_flag(const rte_mbuf* frame) {
  switch (frame->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:
      return Offloaded::Good;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      return Offloaded::Bad;
    default:
      return Offloaded::Unknown;
  }
}

bool mac_is_for_us(const rte_ether_addr& destination, const Interface& interface) {
  if (same_mac(destination, interface.mac)) return true;
  if (rte_is_broadcast_ether_addr(&destination)) return true;
  // IPv6 multicast (RFC 2464 §7): solicited-node and all-nodes groups for ND.
  return destination.addr_bytes[0] == 0x33 && destination.addr_bytes[1] == 0x33;
}

// A source a reply could never go to, or one that claims to be us (RFC 1122 §3.2.1.3).
bool bad_ipv4_source(rte_be32_t source, const Interface& interface) {
  return source == interface.ipv4 || !interface.is_unicast_peer4(source);
}

bool is_unspecified6(const std::uint8_t* address) {
  static constexpr std::uint8_t kZero[16] = {};
  return std::memcmp(address, kZero, 16) == 0;
}

bool bad_ipv6_source(const std::uint8_t* source, const Interface& interface) {
  static constexpr std::uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return source[0] == 0xff || std::memcmp(source, kLoopback, 16) == 0 ||
         interface.is_our_ipv6(source);
}

// The UDP checksum of a datagram whose headers lie in the first segment (`checksum`: the
// field's value). Over IPv4 zero means the sender computed none (RFC 768); over IPv6 it is
// mandatory (RFC 8200 §8.1). One segment (every frame of our MTU): summed here from the
// headers' own bytes (checksum.hpp); a chain (a reassembled datagram): DPDK's mbuf walk.
bool udp_checksum_correct(const rte_mbuf* mbuf, bool ipv6, const std::uint8_t* ip,
                          std::uint16_t l4_offset, std::uint16_t checksum) {
  if (checksum == 0) return !ipv6;
  const std::uint8_t* udp = rte_pktmbuf_mtod(mbuf, const std::uint8_t*) + l4_offset;
  const std::uint16_t udp_length = load_be16(udp + 4);
  if (l4_offset + udp_length <= mbuf->data_len) {
    const std::uint64_t pseudo = ipv6 ? ipv6_pseudo_header_sum(ip, udp_length, kProtoUdp)
                                      : ipv4_pseudo_header_sum(ip, udp_length, kProtoUdp);
    return udp_checksum_verifies(pseudo, udp, udp_length);
  }
  return ipv6 ? rte_ipv6_udptcp_cksum_mbuf_verify(mbuf, reinterpret_cast<const rte_ipv6_hdr*>(ip),
                                                  l4_offset) == 0
              : rte_ipv4_udptcp_cksum_mbuf_verify(mbuf, reinterpret_cast<const rte_ipv4_hdr*>(ip),
                                                  l4_offset) == 0;
}

// UDP after either IP version: length, port, checksum (RFC 768; RFC 8200 §8.1).
Frame& classify_udp(const rte_mbuf* mbuf, Frame& frame, const Interface& interface,
                    const void* ip_header, UdpChecksumCheck check) {
  const auto* bytes = rte_pktmbuf_mtod(mbuf, const std::uint8_t*);
  const std::uint16_t l4 = frame.l4_offset();
  if (l4 + kUdpHeader > mbuf->data_len) return dropped(frame, NetDrop::Truncated);
  const std::uint8_t* udp = bytes + l4;
  const std::uint16_t udp_length = load_be16(udp + 4);
  // The UDP length must match the IP payload exactly: the checksum helpers (and the
  // pseudo-header) use the IP length, and no honest stack pads between the two.
  if (udp_length < kUdpHeader || udp_length != frame.ip_length - frame.l3_length) {
    return dropped(frame, NetDrop::UdpLength);
  }
  frame.source.port = load_be16(udp);
  frame.destination.port = load_be16(udp + 2);
  if (!interface.serves_port(frame.destination.port)) return dropped(frame, NetDrop::UnknownPort);
  if (frame.source.port == 0) return dropped(frame, NetDrop::BadSource);

  const std::uint16_t checksum = load_be16(udp + 6);
  switch (l4_checksum_flag(mbuf)) {
    case Offloaded::Bad:
      return dropped(frame, NetDrop::UdpChecksum);
    case Offloaded::Good:
      break;
    case Offloaded::Unknown:
      if (check == UdpChecksumCheck::Deferred) {
        frame.udp_checksum_pending = true;
        break;
      }
      if (!udp_checksum_correct(mbuf, frame.ipv6, static_cast<const std::uint8_t*>(ip_header), l4,
                                checksum)) {
        return dropped(frame, NetDrop::UdpChecksum);
      }
      break;
  }
  frame.kind = FrameKind::Sip;
  frame.payload_offset = static_cast<std::uint16_t>(l4 + kUdpHeader);
  frame.payload_length = static_cast<std::uint16_t>(udp_length - kUdpHeader);
  return frame;
}

Frame& classify_ipv4(const rte_mbuf* mbuf, Frame& frame, const Interface& interface,
                     UdpChecksumCheck check) {
  const auto* bytes = rte_pktmbuf_mtod(mbuf, const std::uint8_t*);
  const std::uint16_t l2 = frame.l2_length;
  if (l2 + kIpv4Header > mbuf->data_len) return dropped(frame, NetDrop::Truncated);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(bytes + l2);
  const std::uint8_t version_ihl = ip->version_ihl;
  const std::uint16_t header_length = (version_ihl & 0x0f) * 4;
  if ((version_ihl >> 4) != 4 || header_length < kIpv4Header) {
    return dropped(frame, NetDrop::Ipv4Header);
  }
  if (l2 + header_length > mbuf->data_len) return dropped(frame, NetDrop::Truncated);
  const std::uint16_t total_length = rte_be_to_cpu_16(ip->total_length);
  if (total_length < header_length) return dropped(frame, NetDrop::Ipv4Header);
  if (l2 + total_length > mbuf->pkt_len) return dropped(frame, NetDrop::Truncated);

  switch (ip_checksum_flag(mbuf)) {
    case Offloaded::Bad:
      return dropped(frame, NetDrop::Ipv4Checksum);
    case Offloaded::Good:
      break;
    case Offloaded::Unknown:
      if (rte_raw_cksum(ip, header_length) != 0xffff) {
        return dropped(frame, NetDrop::Ipv4Checksum);
      }
      break;
  }

  frame.l3_length = header_length;
  frame.ip_length = total_length;
  const rte_be32_t source = ip->src_addr;
  const rte_be32_t destination = ip->dst_addr;
  assign_ipv4_address(frame.source.address, &source);
  assign_ipv4_address(frame.destination.address, &destination);
  if (destination != interface.ipv4) return dropped(frame, NetDrop::NotOurAddress);
  if (bad_ipv4_source(source, interface)) return dropped(frame, NetDrop::BadSource);

  const std::uint8_t protocol = ip->next_proto_id;
  const std::uint16_t fragment_field = rte_be_to_cpu_16(ip->fragment_offset);
  const bool more_fragments = (fragment_field & RTE_IPV4_HDR_MF_FLAG) != 0;
  const std::uint32_t fragment_offset = (fragment_field & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
  if (more_fragments || fragment_offset != 0) {
    // Only SIP datagrams are worth reassembling; a fragmented ping is not answered.
    if (protocol != kProtoUdp) return dropped(frame, NetDrop::Protocol);
    const std::uint32_t data_length = total_length - header_length;
    if (data_length == 0 || (more_fragments && data_length % 8 != 0) ||
        fragment_offset + data_length + header_length > 65535) {
      return dropped(frame, NetDrop::BadFragment);
    }
    frame.kind = FrameKind::Fragment;
    return frame;
  }

  if (protocol == kProtoUdp) return classify_udp(mbuf, frame, interface, ip, check);
  if (protocol != kProtoIcmp) return dropped(frame, NetDrop::Protocol);
  const std::uint16_t icmp_length = total_length - header_length;
  if (icmp_length < kIcmpHeader || l2 + header_length + kIcmpHeader > mbuf->data_len) {
    return dropped(frame, NetDrop::Truncated);
  }
  const std::uint8_t* icmp = bytes + l2 + header_length;
  if (icmp[0] != kIcmpEchoRequest || icmp[1] != 0) return dropped(frame, NetDrop::IcmpType);
  std::uint16_t sum = 0;
  if (rte_raw_cksum_mbuf(mbuf, l2 + header_length, icmp_length, &sum) != 0 || sum != 0xffff) {
    return dropped(frame, NetDrop::IcmpChecksum);
  }
  frame.kind = FrameKind::IcmpEcho;
  return frame;
}

Frame& classify_ipv6(const rte_mbuf* mbuf, Frame& frame, const Interface& interface,
                     UdpChecksumCheck check) {
  const auto* bytes = rte_pktmbuf_mtod(mbuf, const std::uint8_t*);
  const std::uint16_t l2 = frame.l2_length;
  frame.ipv6 = true;
  if (l2 + kIpv6Header > mbuf->data_len) return dropped(frame, NetDrop::Truncated);
  const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(bytes + l2);
  if ((bytes[l2] >> 4) != 6) return dropped(frame, NetDrop::Ipv6Header);
  const std::uint16_t payload_length = rte_be_to_cpu_16(ip->payload_len);
  if (payload_length + kIpv6Header > 65535) return dropped(frame, NetDrop::Ipv6Header);
  if (l2 + kIpv6Header + payload_length > mbuf->pkt_len) return dropped(frame, NetDrop::Truncated);
  frame.l3_length = kIpv6Header;
  frame.ip_length = static_cast<std::uint16_t>(kIpv6Header + payload_length);
  const std::uint8_t* source = bytes + l2 + 8;
  const std::uint8_t* destination = bytes + l2 + 24;
  assign_ipv6_address(frame.source.address, source);
  assign_ipv6_address(frame.destination.address, destination);
  if (!interface.has_ipv6) return dropped(frame, NetDrop::NotOurAddress);
  const bool unicast_to_us = interface.is_our_ipv6(destination);
  if (bad_ipv6_source(source, interface)) return dropped(frame, NetDrop::BadSource);

  const std::uint8_t next_header = ip->proto;
  if (next_header == kProtoIcmp6) {
    // To us, or to a group ND uses (our solicited-node group, all-nodes); the ICMPv6
    // handler checks which message may arrive on which.
    static constexpr std::uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                   0,    0,    0, 0, 0, 0, 0, 1};
    if (!unicast_to_us && std::memcmp(destination, interface.ipv6_solicited_node.data(), 16) != 0 &&
        std::memcmp(destination, kAllNodes, 16) != 0) {
      return dropped(frame, NetDrop::NotOurAddress);
    }
    if (payload_length < kIcmpHeader || l2 + kIpv6Header + kIcmpHeader > mbuf->data_len) {
      return dropped(frame, NetDrop::Truncated);
    }
    const std::uint8_t type = bytes[l2 + kIpv6Header];
    if (type != kIcmp6EchoRequest && type != kIcmp6NeighborSolicitation &&
        type != kIcmp6NeighborAdvertisement) {
      return dropped(frame, NetDrop::IcmpType);
    }
    if (rte_ipv6_udptcp_cksum_mbuf_verify(mbuf, ip, l2 + kIpv6Header) != 0) {
      return dropped(frame, NetDrop::IcmpChecksum);
    }
    frame.kind = FrameKind::Icmp6;
    return frame;
  }
  if (!unicast_to_us) return dropped(frame, NetDrop::NotOurAddress);
  if (is_unspecified6(source)) return dropped(frame, NetDrop::BadSource);
  if (next_header == kProtoUdp) return classify_udp(mbuf, frame, interface, ip, check);
  if (next_header != kProtoIpv6Fragment) {
    // Hop-by-hop, routing, destination options, ... (RFC 8200 §4) are not processed.
    const bool extension = next_header == 0 || next_header == 43 || next_header == 60 ||
                           next_header == 51 || next_header == 50 || next_header == 135 ||
                           next_header == 139 || next_header == 140;
    return dropped(frame, extension ? NetDrop::Ipv6Extension : NetDrop::Protocol);
  }
  if (payload_length < kIpv6FragmentHeader ||
      l2 + kIpv6Header + kIpv6FragmentHeader > mbuf->data_len) {
    return dropped(frame, NetDrop::Truncated);
  }
  const auto* fragment = reinterpret_cast<const rte_ipv6_fragment_ext*>(bytes + l2 + kIpv6Header);
  if (fragment->next_header != kProtoUdp) {
    return dropped(
        frame, fragment->next_header == kProtoIcmp6 ? NetDrop::Protocol : NetDrop::Ipv6Extension);
  }
  const std::uint16_t fragment_field = rte_be_to_cpu_16(fragment->frag_data);
  const bool more_fragments = (fragment_field & RTE_IPV6_EHDR_MF_MASK) != 0;
  const std::uint32_t fragment_offset = fragment_field & RTE_IPV6_EHDR_FO_MASK;
  const std::uint32_t data_length = payload_length - kIpv6FragmentHeader;
  if (data_length == 0 || (more_fragments && data_length % 8 != 0) ||
      fragment_offset + data_length > 65535) {
    return dropped(frame, NetDrop::BadFragment);
  }
  frame.l3_length = kIpv6Header + kIpv6FragmentHeader;
  frame.kind = FrameKind::Fragment;
  return frame;
}

Frame& classify_into(const rte_mbuf* mbuf, Frame& frame, const Interface& interface,
                     UdpChecksumCheck check) {
  const auto* bytes = rte_pktmbuf_mtod(mbuf, const std::uint8_t*);
  if (mbuf->data_len < kEthernetHeader) return dropped(frame, NetDrop::Truncated);
  const rte_ether_addr destination_mac = load_mac(bytes);
  if (!mac_is_for_us(destination_mac, interface)) return dropped(frame, NetDrop::NotOurMac);
  std::uint16_t ether_type = load_be16(bytes + 12);
  frame.l2_length = kEthernetHeader;
  if (ether_type == kEtherTypeVlan) {
    if (mbuf->data_len < kEthernetHeader + kVlanTag) return dropped(frame, NetDrop::Truncated);
    ether_type = load_be16(bytes + 16);
    frame.l2_length = kEthernetHeader + kVlanTag;
  }
  switch (ether_type) {
    case kEtherTypeIpv4:
      return classify_ipv4(mbuf, frame, interface, check);
    case kEtherTypeIpv6:
      return classify_ipv6(mbuf, frame, interface, check);
    case kEtherTypeArp: {
      if (frame.l2_length + kArpLength > mbuf->data_len) return dropped(frame, NetDrop::Truncated);
      const std::uint8_t* arp = bytes + frame.l2_length;
      if (load_be16(arp) != RTE_ARP_HRD_ETHER || load_be16(arp + 2) != kEtherTypeIpv4 ||
          arp[4] != RTE_ETHER_ADDR_LEN || arp[5] != 4) {
        return dropped(frame, NetDrop::ArpMalformed);
      }
      frame.kind = FrameKind::Arp;
      return frame;
    }
    default:
      return dropped(frame, NetDrop::EtherType);  // also a second (QinQ) tag
  }
}

}  // namespace

Frame classify(const rte_mbuf* mbuf, const Interface& interface, UdpChecksumCheck check) {
  Frame frame;
  classify_into(mbuf, frame, interface, check);
  return frame;
}

std::string_view contiguous_bytes(const rte_mbuf* frame, std::uint32_t offset, std::uint32_t length,
                                  std::span<char> scratch) {
  if (length == 0) return {};
  if (offset + length <= frame->data_len) {
    return {rte_pktmbuf_mtod_offset(frame, const char*, offset), length};
  }
  if (length > scratch.size() || offset + length > frame->pkt_len) return {};
  const void* at = rte_pktmbuf_read(frame, offset, length, scratch.data());
  if (at == nullptr) return {};
  return {static_cast<const char*>(at), length};
}

bool udp_checksum_ok(const rte_mbuf* frame) {
  switch (l4_checksum_flag(frame)) {
    case Offloaded::Good:
      return true;
    case Offloaded::Bad:
      return false;
    case Offloaded::Unknown:
      break;
  }
  const auto* ip = rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, frame->l2_len);
  const auto l4 = static_cast<std::uint16_t>(frame->l2_len + frame->l3_len);
  const std::uint16_t checksum = load_be16(ip + frame->l3_len + 6);
  return udp_checksum_correct(frame, RTE_ETH_IS_IPV6_HDR(frame->packet_type), ip, l4, checksum);
}

}  // namespace sipline::dataplane::dpdk

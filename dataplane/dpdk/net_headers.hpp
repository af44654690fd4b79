// Wire formats and the interface the DPDK dataplane owns: its MAC, IPv4 (and optionally
// IPv6) address, next hop, MTU and SIP ports, in the byte order the packets use, so the
// per-packet checks are plain compares.
//
// Header fields are read and written by value through the helpers below: DPDK's header
// structs are packed, and a packed field cannot bind to a reference (std::swap on one fails).
#pragma once

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "lb/address.hpp"

namespace sipline::dataplane::dpdk {

// A UDP endpoint: address (network byte order, IPv4 in the first 4 bytes) and port (host
// order). The same type the configuration uses for listen addresses.
using Endpoint = lb::SocketAddress;
using IpAddress = lb::IpAddress;

inline constexpr std::size_t kEthernetHeader = 14;
inline constexpr std::size_t kVlanTag = 4;
inline constexpr std::size_t kArpLength = 28;  // Ethernet/IPv4 ARP body (RFC 826)
inline constexpr std::size_t kIpv4Header = 20;
inline constexpr std::size_t kIpv6Header = 40;
inline constexpr std::size_t kIpv6FragmentHeader = 8;
inline constexpr std::size_t kUdpHeader = 8;
inline constexpr std::size_t kIcmpHeader = 8;
inline constexpr std::size_t kNdMessage = 24;  // NS/NA without options (RFC 4861 §4.3, §4.4)
inline constexpr std::size_t kNdLinkLayerOption = 8;
inline constexpr std::size_t kMinFrame = 60;  // RFC 894: 64 octets on the wire with the FCS

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88A8;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIpv6Fragment = 44;
inline constexpr std::uint8_t kProtoIcmp6 = 58;

inline constexpr std::uint8_t kIcmpEchoReply = 0;
inline constexpr std::uint8_t kIcmpEchoRequest = 8;
inline constexpr std::uint8_t kIcmp6EchoRequest = 128;
inline constexpr std::uint8_t kIcmp6EchoReply = 129;
inline constexpr std::uint8_t kIcmp6NeighborSolicitation = 135;
inline constexpr std::uint8_t kIcmp6NeighborAdvertisement = 136;
inline constexpr std::uint8_t kNdOptionSourceLinkLayer = 1;
inline constexpr std::uint8_t kNdOptionTargetLinkLayer = 2;

inline constexpr std::uint8_t kDefaultTtl = 64;
inline constexpr std::uint8_t kNdHopLimit = 255;  // RFC 4861 §7.1: ND only from on-link

inline constexpr std::size_t kMaxSipPorts = 8;

// --- unaligned big-endian access -----------------------------------------------------------
inline std::uint16_t load_be16(const void* at) {
  std::uint16_t value;
  std::memcpy(&value, at, sizeof value);
  return rte_be_to_cpu_16(value);
}
inline std::uint32_t load_be32(const void* at) {
  std::uint32_t value;
  std::memcpy(&value, at, sizeof value);
  return rte_be_to_cpu_32(value);
}
inline void store_be16(void* at, std::uint16_t value) {
  const std::uint16_t wire = rte_cpu_to_be_16(value);
  std::memcpy(at, &wire, sizeof wire);
}
inline void store_be32(void* at, std::uint32_t value) {
  const std::uint32_t wire = rte_cpu_to_be_32(value);
  std::memcpy(at, &wire, sizeof wire);
}

// DPDK's checksum helpers return the value as it sits in memory (they sum native-order
// words), so it is stored as is, without a byte swap.
inline void store_checksum(void* at, std::uint16_t checksum) {
  std::memcpy(at, &checksum, sizeof checksum);
}

inline rte_ether_addr load_mac(const void* at) {
  rte_ether_addr mac;
  std::memcpy(mac.addr_bytes, at, RTE_ETHER_ADDR_LEN);
  return mac;
}
inline void store_mac(void* at, const rte_ether_addr& mac) {
  std::memcpy(at, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
}
inline bool same_mac(const rte_ether_addr& a, const rte_ether_addr& b) {
  return std::memcmp(a.addr_bytes, b.addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

// Writes an Ethernet header (with an 802.1Q tag when `vlan` is not 0) at `at`; returns its
// length.
inline std::size_t write_ethernet(std::uint8_t* at, const rte_ether_addr& destination,
                                  const rte_ether_addr& source, std::uint16_t vlan,
                                  std::uint16_t ether_type) {
  store_mac(at, destination);
  store_mac(at + 6, source);
  if (vlan == 0) {
    store_be16(at + 12, ether_type);
    return kEthernetHeader;
  }
  store_be16(at + 12, kEtherTypeVlan);
  store_be16(at + 14, vlan);
  store_be16(at + 16, ether_type);
  return kEthernetHeader + kVlanTag;
}

inline std::size_t ethernet_length(std::uint16_t vlan) {
  return vlan == 0 ? kEthernetHeader : kEthernetHeader + kVlanTag;
}

inline IpAddress ipv4_address(std::uint32_t host_order) {
  IpAddress address;
  address.family = lb::AddressFamily::Ipv4;
  store_be32(address.bytes.data(), host_order);
  return address;
}
inline IpAddress ipv4_address_at(const void* at) {
  IpAddress address;
  address.family = lb::AddressFamily::Ipv4;
  std::memcpy(address.bytes.data(), at, 4);
  return address;
}
inline IpAddress ipv6_address_at(const void* at) {
  IpAddress address;
  address.family = lb::AddressFamily::Ipv6;
  std::memcpy(address.bytes.data(), at, 16);
  return address;
}
// The same, written in place: an IpAddress built on the stack and copied costs a
// store-forwarding stall (narrow stores read back as one 16-octet load) per address, and a
// worker reads two addresses per frame.
inline void assign_ipv4_address(IpAddress& address, const void* at) {
  address.family = lb::AddressFamily::Ipv4;
  std::memcpy(address.bytes.data(), at, 4);
  std::memset(address.bytes.data() + 4, 0, 12);
}
inline void assign_ipv6_address(IpAddress& address, const void* at) {
  address.family = lb::AddressFamily::Ipv6;
  std::memcpy(address.bytes.data(), at, 16);
}
inline bool is_ipv6(const IpAddress& address) {
  return address.family == lb::AddressFamily::Ipv6;
}

// ff02::1:ffXX:XXXX, the solicited-node multicast group of `address` (RFC 4291 §2.7.1), and
// its Ethernet group 33:33:ff:XX:XX:XX (RFC 2464 §7).
std::array<std::uint8_t, 16> solicited_node_group(const std::uint8_t* address);
rte_ether_addr ipv6_multicast_mac(const std::uint8_t* group);

// --- the interface we own -------------------------------------------------------------------
struct InterfaceSettings {
  lb::IpPrefix address;                  // IPv4 address and subnet ([dataplane] address)
  std::optional<lb::IpPrefix> address6;  // [dataplane] address6
  std::optional<IpAddress> gateway;      // IPv4 next hop off the subnet ([dataplane] gateway)
  std::optional<IpAddress> gateway6;     // IPv6 next hop off address6's prefix ([dataplane])
  std::uint16_t mtu = 1500;
  std::uint16_t vlan = 0;  // 802.1Q VLAN id put on frames we originate; 0 = untagged
  std::span<const std::uint16_t> sip_ports;  // UDP ports we serve ([listen] udp)
  std::uint8_t dscp = 0;                     // of the SIP datagrams we send ([listen] dscp)
};

struct Interface {
  rte_ether_addr mac{};
  rte_be32_t ipv4 = 0;  // network byte order, like the headers
  rte_be32_t ipv4_mask = 0;
  rte_be32_t gateway4 = 0;  // 0: none
  bool has_ipv6 = false;
  std::array<std::uint8_t, 16> ipv6{};
  std::uint8_t ipv6_prefix_length = 0;
  bool has_gateway6 = false;
  std::array<std::uint8_t, 16> gateway6{};
  std::array<std::uint8_t, 16> ipv6_solicited_node{};  // ff02::1:ffXX:XXXX of ipv6
  std::uint16_t mtu = 1500;
  std::uint16_t vlan = 0;
  std::uint8_t dscp = 0;  // RFC 2474, 0..63
  std::array<std::uint16_t, kMaxSipPorts> sip_ports{};
  std::uint8_t sip_port_count = 0;

  bool serves_port(std::uint16_t port) const {
    for (std::uint8_t i = 0; i < sip_port_count; ++i) {
      if (sip_ports[i] == port) return true;
    }
    return false;
  }
  bool is_our_ipv6(const std::uint8_t* address) const {
    return has_ipv6 && std::memcmp(address, ipv6.data(), 16) == 0;
  }
  bool ipv4_on_link(rte_be32_t address) const {
    return (address & ipv4_mask) == (ipv4 & ipv4_mask);
  }
  // Inside address6's prefix, or link-local (fe80::/10 is on every link, RFC 4291 §2.5.6).
  bool ipv6_on_link(const std::uint8_t* address) const;
  // An IPv4 address that a datagram may come from or be sent to: lb::ipv4_is_unicast, not
  // loopback (127/8 "MUST NOT appear outside a host", RFC 1122 §3.2.1.3) nor our subnet's
  // broadcast address (none on a /31 or /32, RFC 3021).
  bool is_unicast_peer4(rte_be32_t address) const;
  // The same for IPv6: lb::ipv6_is_unicast, not ::1.
  static bool is_unicast_peer6(const std::uint8_t* address);
  // The neighbour a datagram to `destination` is handed to: the destination itself when it
  // is on our subnet, else the gateway of its family. std::nullopt when there is none (no
  // gateway configured: router discovery is not implemented) or when no datagram may go
  // there (not is_unicast_peer4/6: a Route or Via naming 127.0.0.1 or ::1 must not send a
  // frame to the gateway).
  std::optional<IpAddress> next_hop(const IpAddress& destination) const;
  // Our address of the destination's family (nullopt: IPv6 destination, no IPv6 address).
  std::optional<IpAddress> source_for(const IpAddress& destination) const;
};

struct InterfaceMade {
  Interface value;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

InterfaceMade make_interface(const InterfaceSettings& settings, const rte_ether_addr& mac);

}  // namespace sipline::dataplane::dpdk

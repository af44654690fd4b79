// Receive-side parsing of one Ethernet frame: Ethernet (with at most one 802.1Q tag), ARP,
// IPv4 (options allowed, header checksum verified), IPv6 (no extension header but one
// Fragment header), ICMP/ICMPv6 and UDP (checksum verified in software unless the NIC did).
// The verdict says what the frame is for and where its parts are; nothing is copied.
//
// Headers must sit in the first segment (every PMD puts a frame of our MTU in one mbuf);
// the UDP payload and checksums may span a chain (a reassembled datagram).
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/dpdk/net_counters.hpp"
#include "dataplane/dpdk/net_headers.hpp"

namespace sipline::dataplane::dpdk {

enum class FrameKind : std::uint8_t {
  Drop,      // see Frame::drop
  Arp,       // Ethernet/IPv4 ARP (whom it is about is decided by the ARP handler)
  IcmpEcho,  // ICMP echo request to our IPv4 address, checksum verified
  Icmp6,     // ICMPv6 echo request, neighbour solicitation or advertisement, checksum verified
  Sip,       // a UDP datagram to our address and one of our SIP ports, checksum verified
  Fragment,  // a fragment of a UDP datagram to our address, for the reassembly table
};

// Where a datagram to a SIP port has its UDP checksum verified (when the NIC did not): at
// once (classify drops a bad one), or later by whoever processes the datagram
// (udp_checksum_ok). Deferring takes the checksum off the lcore that receives a whole trunk
// (one 5-tuple, one RX queue) and spreads it over the Call-ID owners, which read the
// payload anyway.
enum class UdpChecksumCheck : std::uint8_t { Now, Deferred };

struct Frame {
  FrameKind kind = FrameKind::Drop;
  NetDrop drop = NetDrop::Truncated;  // why, when kind == Drop
  bool ipv6 = false;
  std::uint16_t l2_length = 0;       // Ethernet header and VLAN tag
  std::uint16_t l3_length = 0;       // IPv4 header with options; IPv6 header (+ Fragment header)
  std::uint16_t ip_length = 0;       // the IP datagram, header included, as the header says
  std::uint16_t payload_offset = 0;  // Sip: the UDP payload, from the start of the frame
  std::uint16_t payload_length = 0;
  Endpoint source;  // ports only for Sip
  Endpoint destination;
  bool udp_checksum_pending = false;  // Sip with UdpChecksumCheck::Deferred: not verified yet

  std::uint16_t l4_offset() const { return l2_length + l3_length; }
};

// Classifies `frame` for the interface; never modifies it. RX checksum flags the PMD set are
// trusted (GOOD / NONE skip the software check, BAD drops); UNKNOWN means software.
Frame classify(const rte_mbuf* frame, const Interface& interface,
               UdpChecksumCheck check = UdpChecksumCheck::Now);

// A frame LcoreNet::receive returned as Sip (l2_len, l3_len and packet_type set): whether its
// UDP checksum is right - from the RX flags when the NIC or an earlier check set them, else
// computed here over the whole datagram (RFC 768; RFC 8200 §8.1: never zero over IPv6).
bool udp_checksum_ok(const rte_mbuf* frame);

// The bytes [offset, offset + length) of `frame` as one contiguous view: into the mbuf when
// they lie in one segment, else copied into `scratch` (which must hold `length` octets).
// Empty when the range lies outside the frame or does not fit `scratch`.
std::string_view contiguous_bytes(const rte_mbuf* frame, std::uint32_t offset, std::uint32_t length,
                                  std::span<char> scratch);

}  // namespace sipline::dataplane::dpdk

// Per-lcore counters of the DPDK packet layer: what came in, what went out, and every
// dropped frame under exactly one reason (DESIGN.md §3: bounded everything, counted).
//
// Each lcore writes only its own NetCounters, with a relaxed load + store (one writer, so
// no locked read-modify-write); the control thread reads them with relaxed loads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/counter.hpp"

namespace sipline::dataplane::dpdk {

enum class NetDrop : std::uint8_t {
  // receive: layer 2
  Truncated,     // shorter than its headers say, or headers not in the first segment
  NotOurMac,     // unicast to another station (af_packet sees the whole segment)
  EtherType,     // not ARP, IPv4 or IPv6, or more than one VLAN tag
  ArpMalformed,  // not Ethernet/IPv4 ARP, or a sender address no one may use
  ArpNotForUs,   // a request or reply about another host's address
  // receive: layer 3
  Ipv4Header,     // bad version, header length or total length
  Ipv4Checksum,   // header checksum wrong (RFC 791)
  Ipv6Header,     // bad version or payload length
  Ipv6Extension,  // an extension header other than one Fragment header
  NotOurAddress,  // destination is not our address (broadcast and multicast included)
  BadSource,      // a source no reply may go to: multicast, broadcast, loopback, ours, port 0
  Protocol,       // neither UDP nor ICMP/ICMPv6 (or a fragment of something else)
  BadFragment,    // a fragment whose offset/length cannot be right (RFC 791, RFC 8200 §4.5)
  Reassembly,     // fragments discarded by the reassembly table (timeout, overflow, overlap)
  // receive: ICMP / neighbour discovery
  IcmpType,      // ICMP other than echo request; ICMPv6 other than echo request, NS, NA
  IcmpChecksum,  // ICMP or ICMPv6 checksum wrong
  NdInvalid,     // neighbour discovery message failing RFC 4861 §7.1 validation
  // receive: UDP
  UdpLength,    // UDP length disagrees with the IP length
  UdpChecksum,  // UDP checksum wrong (or zero over IPv6, RFC 8200 §8.1)
  UnknownPort,  // UDP to a port we do not serve
  // send
  NoBuffer,        // the mempool ran dry
  Unroutable,      // no next hop: IPv6 off-link, IPv4 off-subnet without a gateway, or a
                   // destination no datagram may go to (loopback, multicast, broadcast, ...)
  PendingFull,     // the per-lcore queue of datagrams waiting for a next hop is full
  PendingTimeout,  // the next hop never answered ARP / neighbour solicitation
  TooLarge,        // payload larger than one UDP datagram can carry
  FragmentFailed,  // rte_ip_frag could not cut the datagram (pool empty)
  TxFull,          // the NIC queue did not take the frame
  // hand-over between lcores
  ControlRingFull,  // an ARP / ICMP / ND frame found the control lcore's ring full
  KernelRingFull,   // a frame for the kernel (exception path) found its ring full
  SpreadRingFull,   // a fragment found the spread ring of the lcore reassembling it full
  kCount
};

inline constexpr std::size_t kNetDropCount = static_cast<std::size_t>(NetDrop::kCount);

// "truncated", "not_our_mac", ... (stable names for the statistics line).
std::string_view net_drop_name(NetDrop reason);

struct alignas(64) NetCounters {
  Counter rx_frames;          // frames handed to receive()
  Counter sip_datagrams;      // complete UDP datagrams for the SIP pipeline
  Counter control_frames;     // ARP / ICMP / ND frames for the control lcore
  Counter kernel_frames;      // frames for the kernel (exception path), via the control lcore
  Counter fragments;          // IP fragments taken by the reassembly table
  Counter reassembled;        // datagrams completed from fragments
  Counter arp_replies;        // ARP replies sent for our address
  Counter arp_requests;       // ARP requests sent to resolve a next hop
  Counter neighbors_learned;  // neighbour entries added or refreshed
  Counter icmp_echo_replies;  // ICMP and ICMPv6 echo replies sent
  Counter nd_advertisements;  // neighbour advertisements sent for our IPv6 address
  Counter nd_solicitations;   // neighbour solicitations sent to resolve a next hop
  Counter announcements;      // ARP announcements and unsolicited advertisements sent
  Counter udp_sent;           // UDP datagrams handed to the NIC (after resolution)
  Counter udp_fragmented;     // of those, datagrams cut into fragments
  Counter tx_frames;          // frames the NIC accepted
  Counter held;               // datagrams parked while their next hop resolved
  // dataplane.spread (dpdk_worker.hpp, "Spreading"): frames passed unread to another worker,
  // frames taken from the other workers that way, and fragments passed to the worker that
  // reassembles their IP pair.
  Counter spread_out;
  Counter spread_in;
  Counter fragments_steered;
  std::array<Counter, kNetDropCount> dropped;

  void drop(NetDrop reason, std::uint64_t amount = 1) {
    dropped[static_cast<std::size_t>(reason)].add(amount);
  }
  std::uint64_t dropped_for(NetDrop reason) const {
    return dropped[static_cast<std::size_t>(reason)].read();
  }
};

// One line of every counter, for the statistics print-out:
//   "<name>: rx_frames=.. sip_datagrams=.. ... tx_frames=.. held=.. drop_<reason>=.. ..."
// Drop reasons that never happened are left out, so the line stays readable.
std::string format_net_counters(std::string_view name, const NetCounters& counters);

}  // namespace sipline::dataplane::dpdk

#include "dataplane/dpdk/net_counters.hpp"

namespace sipline::dataplane::dpdk {

std::string_view net_drop_name(NetDrop reason) {
  switch (reason) {
    case NetDrop::Truncated:
      return "truncated";
    case NetDrop::NotOurMac:
      return "not_our_mac";
    case NetDrop::EtherType:
      return "ether_type";
    case NetDrop::ArpMalformed:
      return "arp_malformed";
    case NetDrop::ArpNotForUs:
      return "arp_not_for_us";
    case NetDrop::Ipv4Header:
      return "ipv4_header";
    case NetDrop::Ipv4Checksum:
      return "ipv4_checksum";
    case NetDrop::Ipv6Header:
      return "ipv6_header";
    case NetDrop::Ipv6Extension:
      return "ipv6_extension";
    case NetDrop::NotOurAddress:
      return "not_our_address";
    case NetDrop::BadSource:
      return "bad_source";
    case NetDrop::Protocol:
      return "protocol";
    case NetDrop::BadFragment:
      return "bad_fragment";
    case NetDrop::Reassembly:
      return "reassembly";
    case NetDrop::IcmpType:
      return "icmp_type";
    case NetDrop::IcmpChecksum:
      return "icmp_checksum";
    case NetDrop::NdInvalid:
      return "nd_invalid";
    case NetDrop::UdpLength:
      return "udp_length";
    case NetDrop::UdpChecksum:
      return "udp_checksum";
    case NetDrop::UnknownPort:
      return "unknown_port";
    case NetDrop::NoBuffer:
      return "no_buffer";
    case NetDrop::Unroutable:
      return "unroutable";
    case NetDrop::PendingFull:
      return "pending_full";
    case NetDrop::PendingTimeout:
      return "pending_timeout";
    case NetDrop::TooLarge:
      return "too_large";
    case NetDrop::FragmentFailed:
      return "fragment_failed";
    case NetDrop::TxFull:
      return "tx_full";
    case NetDrop::ControlRingFull:
      return "control_ring_full";
    case NetDrop::KernelRingFull:
      return "kernel_ring_full";
    case NetDrop::SpreadRingFull:
      return "spread_ring_full";
    case NetDrop::kCount:
      break;
  }
  return "unknown";
}

std::string format_net_counters(std::string_view name, const NetCounters& counters) {
  std::string line(name);
  line += ":";
  const auto field = [&line](std::string_view key, std::uint64_t value) {
    line += ' ';
    line += key;
    line += '=';
    line += std::to_string(value);
  };
  field("rx_frames", counters.rx_frames.read());
  field("sip_datagrams", counters.sip_datagrams.read());
  field("control_frames", counters.control_frames.read());
  field("kernel_frames", counters.kernel_frames.read());
  field("fragments", counters.fragments.read());
  field("reassembled", counters.reassembled.read());
  field("udp_sent", counters.udp_sent.read());
  field("udp_fragmented", counters.udp_fragmented.read());
  field("tx_frames", counters.tx_frames.read());
  field("held", counters.held.read());
  field("arp_replies", counters.arp_replies.read());
  field("arp_requests", counters.arp_requests.read());
  field("neighbors_learned", counters.neighbors_learned.read());
  field("icmp_echo_replies", counters.icmp_echo_replies.read());
  field("nd_advertisements", counters.nd_advertisements.read());
  field("nd_solicitations", counters.nd_solicitations.read());
  field("announcements", counters.announcements.read());
  field("spread_out", counters.spread_out.read());
  field("spread_in", counters.spread_in.read());
  field("fragments_steered", counters.fragments_steered.read());
  std::uint64_t dropped = 0;
  for (const Counter& counter : counters.dropped)
    dropped += counter.read();
  field("dropped", dropped);
  for (std::size_t i = 0; i < kNetDropCount; ++i) {
    const std::uint64_t value = counters.dropped[i].read();
    if (value == 0) continue;
    line += " drop_";
    line += net_drop_name(static_cast<NetDrop>(i));
    line += '=';
    line += std::to_string(value);
  }
  line += '\n';
  return line;
}

}  // namespace sipline::dataplane::dpdk

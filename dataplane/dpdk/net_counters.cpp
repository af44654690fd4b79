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
    case NetDrop::kCount:
      break;
  }
  return "unknown";
}

}  // namespace sipline::dataplane::dpdk

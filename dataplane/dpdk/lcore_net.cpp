#include "dataplane/dpdk/lcore_net.hpp"

#include <rte_cycles.h>
#include <rte_ip.h>

#include <cstring>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/icmp.hpp"

namespace sipline::dataplane::dpdk {

LcoreSettings lcore_settings(const LcoreCommon& common, std::uint16_t lcore_index,
                             std::uint16_t tx_queue) {
  LcoreSettings settings;
  settings.interface = common.interface;
  settings.neighbors = common.neighbors;
  settings.pool = common.pools->packets();
  settings.indirect_pool = common.pools->indirect();
  settings.port = common.port;
  settings.tx_queue = tx_queue;
  if (common.port != nullptr) settings.offloads = common.port->tx_offloads();
  settings.lcore_index = lcore_index;
  settings.lcore_count = static_cast<std::uint16_t>(common.workers + 1);
  settings.tsc_hz = rte_get_tsc_hz();
  settings.socket_id = common.socket_id;
  settings.defer_udp_checksum = lcore_index < common.workers;
  settings.exception_path = common.exception_path;
  if (lcore_index == common.workers) {
    settings.exception_port = common.exception_port;
    settings.announce = common.announce;
  } else if (common.spread && common.workers > 1) {
    settings.fragment_owners = common.workers;
  }
  return settings;
}

std::uint16_t fragment_owner(const Frame& fragment, std::uint16_t owners) {
  // The addresses' 32 bytes folded into one word, then scaled onto the owners by a
  // multiply-shift (no division).
  std::uint64_t words[4];
  std::memcpy(&words[0], fragment.source.address.bytes.data(), 16);
  std::memcpy(&words[2], fragment.destination.address.bytes.data(), 16);
  std::uint64_t hash = 0;
  for (const std::uint64_t word : words)
    hash = (hash ^ word) * 0x9e3779b97f4a7c15ULL;
  hash ^= hash >> 32;
  return static_cast<std::uint16_t>(((hash & 0xffffffffULL) * owners) >> 32);
}

Datagram read_datagram(const rte_mbuf* frame, std::span<char> scratch) {
  Datagram datagram;
  if ((frame->packet_type & RTE_PTYPE_L4_MASK) != RTE_PTYPE_L4_UDP) return datagram;
  const bool ipv6 = RTE_ETH_IS_IPV6_HDR(frame->packet_type);
  const auto* ip = rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, frame->l2_len);
  const std::uint8_t* udp = ip + frame->l3_len;
  if (ipv6) {
    assign_ipv6_address(datagram.source.address, ip + 8);
    assign_ipv6_address(datagram.destination.address, ip + 24);
  } else {
    assign_ipv4_address(datagram.source.address, ip + 12);
    assign_ipv4_address(datagram.destination.address, ip + 16);
  }
  datagram.source.port = load_be16(udp);
  datagram.destination.port = load_be16(udp + 2);
  const std::uint16_t payload_length = load_be16(udp + 4) - kUdpHeader;
  datagram.payload =
      contiguous_bytes(frame, frame->l2_len + frame->l3_len + kUdpHeader, payload_length, scratch);
  return datagram;
}

LcoreNet::Created LcoreNet::create(const LcoreSettings& settings) {
  if (settings.interface == nullptr || settings.neighbors == nullptr || settings.pool == nullptr ||
      settings.indirect_pool == nullptr || settings.tsc_hz == 0 || settings.lcore_count == 0) {
    return {nullptr, "LcoreNet needs an interface, a neighbour table, both pools and tsc_hz"};
  }
  auto reassembler = Reassembler::create(settings.tsc_hz, settings.socket_id);
  if (!reassembler.value) return {nullptr, reassembler.error};
  return {std::unique_ptr<LcoreNet>(new LcoreNet(settings, std::move(reassembler.value))), {}};
}

LcoreNet::LcoreNet(const LcoreSettings& settings, std::unique_ptr<Reassembler> reassembler)
    : settings_(settings),
      tx_(settings.port, settings.tx_queue, counters_),
      sender_(SenderSettings{settings.interface, settings.neighbors, settings.pool,
                             settings.indirect_pool, settings.offloads, settings.lcore_index,
                             settings.lcore_count, settings.tsc_hz},
              tx_, counters_),
      reassembler_(std::move(reassembler)),
      scratch_(std::make_unique<char[]>(kScratchSize)) {
  // The control lcore (the last one) talks to the kernel; workers only hand frames to it.
  const bool control_lcore = settings.lcore_index + 1u == settings.lcore_count;
  if (settings.exception_path && control_lcore) {
    exception_ = std::make_unique<ExceptionPath>(settings.exception_port);
  }
  if (settings.announce) announcements_left_ = kAnnounceNum;
}

LcoreNet::~LcoreNet() = default;

void LcoreNet::drop(rte_mbuf* frame, NetDrop reason) {
  counters_.drop(reason);
  rte_pktmbuf_free(frame);
}

void LcoreNet::consumed(rte_mbuf* frame) {
  if (exception_) return exception_->to_kernel(frame);
  rte_pktmbuf_free(frame);
}

// Records where the datagram's parts are in the mbuf itself, so whichever lcore ends up
// processing it (after a hand-off) finds them without parsing again.
LcoreNet::Received LcoreNet::accept_sip(rte_mbuf* frame, const Frame& parsed) {
  if (!parsed.udp_checksum_pending) {
    // Checked (by the NIC or by classify): nobody needs to look again.
    frame->ol_flags =
        (frame->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  }
  frame->l2_len = parsed.l2_length;
  frame->l3_len = parsed.l3_length;
  frame->l4_len = kUdpHeader;
  frame->packet_type =
      RTE_PTYPE_L2_ETHER | RTE_PTYPE_L4_UDP | (parsed.ipv6 ? RTE_PTYPE_L3_IPV6 : RTE_PTYPE_L3_IPV4);
  counters_.sip_datagrams.add();
  return {Verdict::Sip, frame};
}

LcoreNet::Received LcoreNet::receive(rte_mbuf* frame, std::uint64_t now) {
  counters_.rx_frames.add();
  const UdpChecksumCheck check =
      settings_.defer_udp_checksum ? UdpChecksumCheck::Deferred : UdpChecksumCheck::Now;
  const Frame parsed = classify(frame, *settings_.interface, check);
  switch (parsed.kind) {
    case FrameKind::Sip:
      return accept_sip(frame, parsed);
    case FrameKind::Arp:
    case FrameKind::IcmpEcho:
    case FrameKind::Icmp6:
      counters_.control_frames.add();
      return {Verdict::Control, frame};
    case FrameKind::Fragment: {
      if (settings_.fragment_owners > 1) {
        const std::uint16_t owner = fragment_owner(parsed, settings_.fragment_owners);
        if (owner != settings_.lcore_index) {
          counters_.fragments_steered.add();
          return {Verdict::Steer, frame, owner};
        }
      }
      counters_.fragments.add();
      rte_mbuf* whole = reassembler_->add(frame, parsed, now);
      if (whole == nullptr) return {};
      counters_.reassembled.add();
      const Frame datagram = classify(whole, *settings_.interface, check);
      if (datagram.kind != FrameKind::Sip) {
        drop(whole, datagram.kind == FrameKind::Drop ? datagram.drop : NetDrop::Protocol);
        return {};
      }
      return accept_sip(whole, datagram);
    }
    case FrameKind::Drop:
      if (settings_.exception_path && punted_to_kernel(parsed.drop)) {
        counters_.kernel_frames.add();
        return {Verdict::Kernel, frame};
      }
      drop(frame, parsed.drop);
      return {};
  }
  drop(frame, NetDrop::Protocol);
  return {};
}

bool LcoreNet::verify_udp_checksum(rte_mbuf* frame) {
  if (udp_checksum_ok(frame)) {
    frame->ol_flags =
        (frame->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    return true;
  }
  counters_.drop(NetDrop::UdpChecksum);
  return false;
}

void LcoreNet::answer(rte_mbuf* frame, std::uint64_t now) {
  const Interface& interface = *settings_.interface;
  const Frame parsed = classify(frame, interface);
  switch (parsed.kind) {
    case FrameKind::Arp: {
      const ArpResult result = handle_arp(frame, parsed, interface, *settings_.neighbors, now);
      if (result.learned) counters_.neighbors_learned.add();
      if (result.verdict == ArpVerdict::Reply) {
        counters_.arp_replies.add();
        tx_.push(frame);
      } else if (result.verdict == ArpVerdict::Consumed) {
        consumed(frame);
      } else {
        drop(frame, result.drop);
      }
      return;
    }
    case FrameKind::IcmpEcho: {
      const IcmpResult result = answer_icmp_echo(frame, parsed, interface);
      if (result.verdict != IcmpVerdict::Reply) return drop(frame, result.drop);
      counters_.icmp_echo_replies.add();
      tx_.push(frame);
      return;
    }
    case FrameKind::Icmp6: {
      const IcmpResult result = handle_icmp6(frame, parsed, interface, *settings_.neighbors, now);
      if (result.learned) counters_.neighbors_learned.add();
      if (result.verdict == IcmpVerdict::Reply) {
        const std::uint8_t type =
            rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, parsed.l4_offset())[0];
        (type == kIcmp6EchoReply ? counters_.icmp_echo_replies : counters_.nd_advertisements).add();
        tx_.push(frame);
      } else if (result.verdict == IcmpVerdict::Consumed) {
        consumed(frame);
      } else {
        drop(frame, result.drop);
      }
      return;
    }
    case FrameKind::Drop:
      return drop(frame, parsed.drop);
    case FrameKind::Sip:
    case FrameKind::Fragment:
      break;
  }
  drop(frame, NetDrop::Protocol);  // not a control frame: the caller's mistake, still counted
}

// RFC 5227 §2.3 for IPv4, RFC 4861 §7.2.6 for IPv6; a frame the pool cannot give is counted.
void LcoreNet::announce_addresses(std::uint64_t now) {
  --announcements_left_;
  next_announcement_ = now + milliseconds_to_ticks(settings_.tsc_hz, kAnnounceIntervalMs);
  const auto send = [this](rte_mbuf* frame) {
    if (frame == nullptr) return counters_.drop(NetDrop::NoBuffer);
    counters_.announcements.add();
    tx_.push(frame);
  };
  const Interface& interface = *settings_.interface;
  send(build_arp_announcement(settings_.pool, interface));
  if (interface.has_ipv6) send(build_unsolicited_advertisement(settings_.pool, interface));
}

void LcoreNet::to_kernel(rte_mbuf* frame) {
  if (!exception_) return drop(frame, NetDrop::Protocol);
  exception_->to_kernel(frame);
}

void LcoreNet::poll(std::uint64_t now) {
  sender_.poll(now);
  reassembler_->expire(now);
  if (const std::uint32_t discarded = reassembler_->free_discarded(); discarded != 0) {
    counters_.drop(NetDrop::Reassembly, discarded);
  }
  if (exception_) {
    exception_->flush();
    exception_->from_kernel(tx_);
  }
  if (announcements_left_ != 0 && now >= next_announcement_) announce_addresses(now);
  tx_.flush();
}

}  // namespace sipline::dataplane::dpdk

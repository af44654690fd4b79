#include "dataplane/dpdk/udp_tx.hpp"

#include <rte_ip.h>
#include <rte_random.h>

#include <algorithm>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/icmp.hpp"
#include "dataplane/dpdk/ip_frag.hpp"

namespace sipline::dataplane::dpdk {
namespace {

// Room kept in front of a payload for the largest IP + UDP header (IPv6: 40 + 8); the
// mbuf's own headroom (RTE_PKTMBUF_HEADROOM) then still holds Ethernet and a VLAN tag.
constexpr std::uint16_t kHeaderRoom = kIpv6Header + kUdpHeader;
static_assert(RTE_PKTMBUF_HEADROOM >= kEthernetHeader + kVlanTag);

}  // namespace

// --- TxBatch --------------------------------------------------------------------------------

TxBatch::~TxBatch() {
  if (count_ != 0) rte_pktmbuf_free_bulk(frames_.data(), count_);
}

void TxBatch::push(rte_mbuf* frame) {
  if (count_ == frames_.size()) {
    if (port_ == nullptr) {
      rte_pktmbuf_free(frame);
      counters_.drop(NetDrop::TxFull);
      return;
    }
    flush();
  }
  frames_[count_++] = frame;
}

void TxBatch::flush() {
  if (port_ == nullptr || count_ == 0) return;
  const std::uint16_t sent = port_->transmit(queue_, {frames_.data(), count_});
  counters_.tx_frames.add(sent);
  if (sent < count_) counters_.drop(NetDrop::TxFull, count_ - sent);
  count_ = 0;
}

std::span<rte_mbuf*> TxBatch::take() {
  const std::uint16_t count = count_;
  std::copy_n(frames_.begin(), count, taken_.begin());
  count_ = 0;
  return {taken_.data(), count};
}

// --- frame building -------------------------------------------------------------------------

bool add_udp_ip_headers(rte_mbuf* datagram, const Endpoint& from, const Endpoint& to,
                        std::uint16_t ipv4_id, std::uint8_t dscp, ChecksumPlan plan) {
  const bool ipv6 = is_ipv6(to.address);
  const std::uint32_t udp_length = kUdpHeader + datagram->pkt_len;
  auto* udp = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(datagram, kUdpHeader));
  if (udp == nullptr) return false;
  const std::uint16_t header_length = ipv6 ? kIpv6Header : kIpv4Header;
  auto* ip = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(datagram, header_length));
  if (ip == nullptr) return false;
  store_be16(udp, from.port);
  store_be16(udp + 2, to.port);
  store_be16(udp + 4, static_cast<std::uint16_t>(udp_length));
  store_checksum(udp + 6, 0);

  std::uint64_t flags = 0;
  const bool offloading = plan.udp_offload || (!ipv6 && plan.ipv4_offload);
  if (ipv6) {
    // Version 6, Traffic Class (DSCP, ECN not capable), flow label 0 (RFC 8200 §3).
    store_be32(ip, 6u << 28 | std::uint32_t{dscp} << 22);
    store_be16(ip + 4, static_cast<std::uint16_t>(udp_length));
    ip[6] = kProtoUdp;
    ip[7] = kDefaultTtl;
    std::memcpy(ip + 8, from.address.bytes.data(), 16);
    std::memcpy(ip + 24, to.address.bytes.data(), 16);
    if (offloading) flags |= RTE_MBUF_F_TX_IPV6;
  } else {
    ip[0] = 0x45;                                  // version 4, 5 words, no options
    ip[1] = static_cast<std::uint8_t>(dscp << 2);  // DSCP, ECN not capable (RFC 2474, 3168)
    store_be16(ip + 2, static_cast<std::uint16_t>(kIpv4Header + udp_length));
    store_be16(ip + 4, ipv4_id);
    store_be16(ip + 6, 0);  // DF clear: a path with a smaller MTU may fragment further
    ip[8] = kDefaultTtl;
    ip[9] = kProtoUdp;
    store_checksum(ip + 10, 0);
    std::memcpy(ip + 12, from.address.bytes.data(), 4);
    std::memcpy(ip + 16, to.address.bytes.data(), 4);
    if (offloading) flags |= RTE_MBUF_F_TX_IPV4;
    if (plan.ipv4_offload) {
      flags |= RTE_MBUF_F_TX_IP_CKSUM;
    } else {
      store_checksum(ip + 10, ipv4_header_checksum(ip, kIpv4Header));
    }
  }
  datagram->l3_len = header_length;
  datagram->l4_len = kUdpHeader;
  const auto length16 = static_cast<std::uint16_t>(udp_length);
  if (plan.udp_offload) {
    // The NIC expects the pseudo-header sum in the checksum field (rte_mbuf_core.h); the
    // plan offloads only datagrams that fit one frame, so the length fits 16 bits.
    flags |= RTE_MBUF_F_TX_UDP_CKSUM;
    store_checksum(udp + 6, checksum_fold(ipv6 ? ipv6_pseudo_header_sum(ip, udp_length, kProtoUdp)
                                               : ipv4_pseudo_header_sum(ip, length16, kProtoUdp)));
  } else if (datagram->nb_segs == 1) {
    // The payload was just written into this mbuf: the sum reads it from L1.
    store_checksum(udp + 6, udp_checksum(ipv6 ? ipv6_pseudo_header_sum(ip, udp_length, kProtoUdp)
                                              : ipv4_pseudo_header_sum(ip, length16, kProtoUdp),
                                         udp, length16));
  } else {
    store_checksum(udp + 6,
                   ipv6 ? rte_ipv6_udptcp_cksum_mbuf(datagram, reinterpret_cast<rte_ipv6_hdr*>(ip),
                                                     header_length)
                        : rte_ipv4_udptcp_cksum_mbuf(datagram, reinterpret_cast<rte_ipv4_hdr*>(ip),
                                                     header_length));
  }
  datagram->ol_flags = flags;
  return true;
}

rte_mbuf* copy_payload(rte_mempool* pool, std::string_view payload) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool);
  if (head == nullptr) return nullptr;
  head->data_off += kHeaderRoom;
  rte_mbuf* last = head;
  std::size_t copied = 0;
  while (true) {
    const std::size_t chunk =
        std::min<std::size_t>(payload.size() - copied, rte_pktmbuf_tailroom(last));
    if (chunk != 0) {
      std::memcpy(rte_pktmbuf_mtod_offset(last, char*, last->data_len), payload.data() + copied,
                  chunk);
      last->data_len += chunk;
      head->pkt_len += chunk;
      copied += chunk;
    }
    if (copied == payload.size()) return head;
    rte_mbuf* next = rte_pktmbuf_alloc(pool);
    if (next == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    next->data_off = 0;  // continuation segments need no headroom
    last->next = next;
    last = next;
    head->nb_segs++;
  }
}

bool add_ethernet(rte_mbuf* frame, const rte_ether_addr& destination, const Interface& interface,
                  bool ipv6) {
  const auto length = static_cast<std::uint16_t>(ethernet_length(interface.vlan));
  auto* header = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(frame, length));
  if (header == nullptr) return false;
  write_ethernet(header, destination, interface.mac, interface.vlan,
                 ipv6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
  frame->l2_len = length;
  return true;
}

rte_mbuf* linearize(rte_mbuf* frame, rte_mempool* pool) {
  if (frame->nb_segs == 1) return frame;
  rte_mbuf* single = rte_pktmbuf_alloc(pool);
  if (single == nullptr || frame->pkt_len > rte_pktmbuf_tailroom(single)) {
    rte_pktmbuf_free(single);
    rte_pktmbuf_free(frame);
    return nullptr;
  }
  char* data = rte_pktmbuf_append(single, static_cast<std::uint16_t>(frame->pkt_len));
  const void* bytes = rte_pktmbuf_read(frame, 0, frame->pkt_len, data);
  if (bytes != data) std::memcpy(data, bytes, frame->pkt_len);
  single->ol_flags = frame->ol_flags;
  single->tx_offload = frame->tx_offload;
  rte_pktmbuf_free(frame);
  return single;
}

// --- UdpSender ------------------------------------------------------------------------------

UdpSender::UdpSender(const SenderSettings& settings, TxBatch& tx, NetCounters& counters)
    : settings_(settings),
      tx_(tx),
      counters_(counters),
      retry_ticks_(milliseconds_to_ticks(settings.tsc_hz, kResolveRetryMs)),
      hold_ticks_(milliseconds_to_ticks(settings.tsc_hz, kResolveHoldMs)),
      // Identifications start at a random point (RFC 7739: not predictable) and step by the
      // lcore count from this lcore's own residue, so two lcores never pick the same one.
      next_ipv4_id_(static_cast<std::uint16_t>(
          settings.lcore_index + settings.lcore_count * static_cast<std::uint16_t>(rte_rand()))),
      next_ipv6_id_(settings.lcore_index +
                    settings.lcore_count * static_cast<std::uint32_t>(rte_rand() >> 40)) {}

UdpSender::~UdpSender() {
  for (std::size_t i = 0; i < pending_count_; ++i)
    rte_pktmbuf_free(pending_[i].datagram);
}

SendResult UdpSender::send(std::string_view payload, std::uint16_t source_port, const Endpoint& to,
                           std::uint64_t now) {
  const std::size_t limit = is_ipv6(to.address) ? kMaxUdpPayloadIpv6 : kMaxUdpPayloadIpv4;
  if (payload.size() > limit) {
    counters_.drop(NetDrop::TooLarge);
    return {SendStatus::Dropped, NetDrop::TooLarge};
  }
  rte_mbuf* datagram = copy_payload(settings_.pool, payload);
  if (datagram == nullptr) {
    counters_.drop(NetDrop::NoBuffer);
    return {SendStatus::Dropped, NetDrop::NoBuffer};
  }
  return send_datagram(datagram, source_port, to, now);
}

PayloadBuffer UdpSender::allocate_payload() {
  rte_mbuf* mbuf = rte_pktmbuf_alloc(settings_.pool);
  if (mbuf == nullptr) return {};
  mbuf->data_off += kHeaderRoom;
  return {mbuf, {rte_pktmbuf_mtod(mbuf, char*), rte_pktmbuf_tailroom(mbuf)}};
}

SendResult UdpSender::send_payload(PayloadBuffer buffer, std::size_t length,
                                   std::uint16_t source_port, const Endpoint& to,
                                   std::uint64_t now) {
  if (buffer.mbuf == nullptr) {
    counters_.drop(NetDrop::NoBuffer);
    return {SendStatus::Dropped, NetDrop::NoBuffer};
  }
  if (length > buffer.room.size()) {
    rte_pktmbuf_free(buffer.mbuf);
    counters_.drop(NetDrop::TooLarge);
    return {SendStatus::Dropped, NetDrop::TooLarge};
  }
  rte_pktmbuf_append(buffer.mbuf, static_cast<std::uint16_t>(length));
  return send_datagram(buffer.mbuf, source_port, to, now);
}

SendResult UdpSender::send_datagram(rte_mbuf* payload, std::uint16_t source_port,
                                    const Endpoint& to, std::uint64_t now) {
  const Interface& interface = *settings_.interface;
  const auto source = interface.source_for(to.address);
  const auto next_hop = interface.next_hop(to.address);
  const bool to_ourselves = source && *source == to.address;
  if (!source || !next_hop || to_ourselves || to.port == 0) {
    rte_pktmbuf_free(payload);
    counters_.drop(NetDrop::Unroutable);
    return {SendStatus::Dropped, NetDrop::Unroutable};
  }
  const bool ipv6 = is_ipv6(to.address);
  const std::uint32_t ip_length =
      (ipv6 ? kIpv6Header : kIpv4Header) + kUdpHeader + payload->pkt_len;
  const bool one_frame = ip_length <= interface.mtu;
  const ChecksumPlan plan{one_frame && !ipv6 && settings_.offloads.ipv4_checksum,
                          one_frame && settings_.offloads.udp_checksum};
  const std::uint16_t ipv4_id = next_ipv4_id_;
  next_ipv4_id_ = static_cast<std::uint16_t>(next_ipv4_id_ + settings_.lcore_count);
  if (!add_udp_ip_headers(payload, Endpoint{*source, source_port}, to, ipv4_id, interface.dscp,
                          plan)) {
    rte_pktmbuf_free(payload);
    counters_.drop(NetDrop::NoBuffer);
    return {SendStatus::Dropped, NetDrop::NoBuffer};
  }
  rte_mbuf* datagram = payload;

  // Datagrams parked earlier for this next hop go first: messages to one peer stay in order.
  // When this lookup finds the next hop, the parked ones for it leave with the MAC it found:
  // a second lookup for them could miss (the control lcore rewriting the entry that moment),
  // which would leave a parked 180 behind the 200 sent now.
  const std::optional<rte_ether_addr> mac = settings_.neighbors->lookup(*next_hop, now);
  if (pending_count_ != 0) {
    const Resolved resolved{*next_hop, mac.value_or(rte_ether_addr{})};
    release_resolved(now, mac ? &resolved : nullptr);
  }
  if (mac) {
    emit(datagram, *mac, ipv6);
    return {SendStatus::Sent, NetDrop::NoBuffer};
  }
  if (pending_count_ == pending_.size()) {
    rte_pktmbuf_free(datagram);
    counters_.drop(NetDrop::PendingFull);
    return {SendStatus::Dropped, NetDrop::PendingFull};
  }
  Pending parked{datagram, *next_hop, now, now};
  const auto same_hop = std::find_if(pending_.begin(), pending_.begin() + pending_count_,
                                     [&](const Pending& p) { return p.next_hop == *next_hop; });
  if (same_hop != pending_.begin() + pending_count_) {
    parked.last_request = same_hop->last_request;  // a request is already out
  } else {
    request_resolution(*next_hop);
  }
  pending_[pending_count_++] = parked;
  counters_.held.add();
  return {SendStatus::Held, NetDrop::NoBuffer};
}

void UdpSender::emit(rte_mbuf* datagram, const rte_ether_addr& mac, bool ipv6) {
  const Interface& interface = *settings_.interface;
  const bool multi_segment = settings_.offloads.multi_segment;
  if (datagram->pkt_len <= interface.mtu) {
    rte_mbuf* frame = multi_segment ? datagram : linearize(datagram, settings_.pool);
    if (frame == nullptr || !add_ethernet(frame, mac, interface, ipv6)) {
      rte_pktmbuf_free(frame);
      counters_.drop(NetDrop::NoBuffer);
      return;
    }
    counters_.udp_sent.add();
    tx_.push(frame);
    return;
  }
  const std::uint32_t ipv6_id = next_ipv6_id_;
  next_ipv6_id_ += settings_.lcore_count;
  const std::uint16_t count = fragment_datagram(
      datagram, ipv6, interface.mtu, ipv6_id, settings_.pool, settings_.indirect_pool, fragments_);
  if (count == 0) {
    counters_.drop(NetDrop::FragmentFailed);
    return;
  }
  counters_.udp_sent.add();
  counters_.udp_fragmented.add();
  for (std::uint16_t i = 0; i < count; ++i) {
    rte_mbuf* frame = multi_segment ? fragments_[i] : linearize(fragments_[i], settings_.pool);
    if (frame == nullptr || !add_ethernet(frame, mac, interface, ipv6)) {
      rte_pktmbuf_free(frame);
      counters_.drop(NetDrop::NoBuffer);
      continue;
    }
    tx_.push(frame);
  }
}

void UdpSender::request_resolution(const IpAddress& next_hop) {
  const Interface& interface = *settings_.interface;
  rte_mbuf* request = nullptr;
  if (is_ipv6(next_hop)) {
    request = build_neighbor_solicitation(settings_.pool, interface, next_hop);
    if (request != nullptr) counters_.nd_solicitations.add();
  } else {
    rte_be32_t target;
    std::memcpy(&target, next_hop.bytes.data(), 4);
    request = build_arp_request(settings_.pool, interface, target);
    if (request != nullptr) counters_.arp_requests.add();
  }
  if (request == nullptr) {
    counters_.drop(NetDrop::NoBuffer);
    return;
  }
  tx_.push(request);
}

bool UdpSender::parked_for(const IpAddress& next_hop, std::size_t count) const {
  return std::any_of(pending_.begin(), pending_.begin() + count,
                     [&](const Pending& p) { return p.next_hop == next_hop; });
}

void UdpSender::release_resolved(std::uint64_t now, const Resolved* resolved) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < pending_count_; ++i) {
    const Pending parked = pending_[i];
    // One parked earlier for the same next hop still waits (its lookup missed): this one
    // waits behind it, whatever its own lookup would say.
    const bool behind_one_kept = parked_for(parked.next_hop, kept);
    std::optional<rte_ether_addr> mac;
    if (!behind_one_kept) {
      mac = resolved != nullptr && resolved->next_hop == parked.next_hop
                ? std::optional(resolved->mac)
                : settings_.neighbors->lookup(parked.next_hop, now);
    }
    if (mac) {
      emit(parked.datagram, *mac, is_ipv6(parked.next_hop));
      continue;
    }
    if (now - parked.held_since >= hold_ticks_) {
      rte_pktmbuf_free(parked.datagram);
      counters_.drop(NetDrop::PendingTimeout);
      continue;
    }
    pending_[kept++] = parked;
  }
  pending_count_ = kept;
}

void UdpSender::poll(std::uint64_t now) {
  if (pending_count_ == 0) return;
  release_resolved(now, nullptr);
  for (std::size_t i = 0; i < pending_count_; ++i) {
    if (now - pending_[i].last_request < retry_ticks_) continue;
    const IpAddress next_hop = pending_[i].next_hop;
    request_resolution(next_hop);
    for (std::size_t j = i; j < pending_count_; ++j) {
      if (pending_[j].next_hop == next_hop) pending_[j].last_request = now;
    }
  }
}

}  // namespace sipline::dataplane::dpdk

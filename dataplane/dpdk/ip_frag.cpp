#include "dataplane/dpdk/ip_frag.hpp"

#include <rte_errno.h>
#include <rte_ip.h>

#include "dataplane/dpdk/dpdk_sizing.hpp"

namespace sipline::dataplane::dpdk {

Reassembler::Created Reassembler::create(std::uint64_t tsc_hz, int socket_id) {
  const std::uint64_t max_cycles = milliseconds_to_ticks(tsc_hz, kFragTimeoutMs);
  rte_ip_frag_tbl* table = rte_ip_frag_table_create(kFragBuckets, kFragBucketEntries,
                                                    kFragMaxEntries, max_cycles, socket_id);
  if (table == nullptr) {
    return {nullptr, std::string("rte_ip_frag_table_create failed: ") + rte_strerror(rte_errno)};
  }
  return {std::unique_ptr<Reassembler>(new Reassembler(table)), {}};
}

Reassembler::~Reassembler() {
  free_discarded();
  rte_ip_frag_table_destroy(table_);  // frees the fragments still held
}

rte_mbuf* Reassembler::add(rte_mbuf* fragment, const Frame& parsed, std::uint64_t now) {
  fragment->l2_len = parsed.l2_length;
  fragment->l3_len = parsed.l3_length;
  rte_mbuf* whole = nullptr;
  if (parsed.ipv6) {
    auto* ip = rte_pktmbuf_mtod_offset(fragment, rte_ipv6_hdr*, parsed.l2_length);
    auto* header = reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 1);
    whole = rte_ipv6_frag_reassemble_packet(table_, &death_row_, fragment, now, ip, header);
  } else {
    auto* ip = rte_pktmbuf_mtod_offset(fragment, rte_ipv4_hdr*, parsed.l2_length);
    whole = rte_ipv4_frag_reassemble_packet(table_, &death_row_, fragment, now, ip);
  }
  if (whole == nullptr) return nullptr;
  if (!parsed.ipv6) {
    // rte_ip_frag rewrites total length and offset and leaves the header checksum 0.
    auto* ip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, parsed.l2_length);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
  whole->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
  return whole;
}

void Reassembler::expire(std::uint64_t now) {
  rte_ip_frag_table_del_expired_entries(table_, &death_row_, now);
}

std::uint32_t Reassembler::free_discarded() {
  const std::uint32_t discarded = death_row_.cnt;
  if (discarded != 0) rte_ip_frag_free_death_row(&death_row_, 3);
  return discarded;
}

std::uint16_t fragment_datagram(rte_mbuf* datagram, bool ipv6, std::uint16_t mtu,
                                std::uint32_t ipv6_id, rte_mempool* direct, rte_mempool* indirect,
                                std::span<rte_mbuf*> out) {
  const auto capacity = static_cast<std::uint16_t>(std::min<std::size_t>(out.size(), UINT16_MAX));
  const std::int32_t made =
      ipv6 ? rte_ipv6_fragment_packet(datagram, out.data(), capacity, mtu, direct, indirect)
           : rte_ipv4_fragment_packet(datagram, out.data(), capacity, mtu, direct, indirect);
  // The fragments hold references to the datagram's data; the datagram itself goes.
  rte_pktmbuf_free(datagram);
  if (made <= 0) return 0;
  for (std::int32_t i = 0; i < made; ++i) {
    rte_mbuf* fragment = out[i];
    if (ipv6) {
      auto* header = rte_pktmbuf_mtod_offset(fragment, rte_ipv6_fragment_ext*, kIpv6Header);
      header->id = rte_cpu_to_be_32(ipv6_id);
    } else {
      auto* ip = rte_pktmbuf_mtod(fragment, rte_ipv4_hdr*);
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
  }
  return static_cast<std::uint16_t>(made);
}

}  // namespace sipline::dataplane::dpdk

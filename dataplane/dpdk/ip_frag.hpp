// IP fragments in and out (RFC 791 §2.3, RFC 8200 §4.5), with DPDK's rte_ip_frag.
//
// In: each lcore owns one reassembly table (rte_ip_frag tables are single-threaded). RSS
// hashes fragments on the IP pair only, so every fragment of a datagram reaches the same
// queue and therefore the same table. A completed datagram comes back as an mbuf chain; the
// SIP parser gets contiguous bytes through contiguous_bytes() (classify.hpp), which copies a
// chain into the lcore's 64 KiB scratch buffer.
//
// Limit: rte_ip_frag keeps at most RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments per datagram (8 in
// Debian's DPDK 22.11 build), so at MTU 1500 a datagram of more than 8 x 1480 octets is
// discarded (counted under NetDrop::Reassembly); at MTU 9000 the whole 65,535 fits.
//
// Out: a datagram larger than the MTU is cut with rte_ipv4_fragment_packet /
// rte_ipv6_fragment_packet: each fragment is a small direct mbuf holding its IP header plus
// indirect mbufs pointing into the original payload (no copy).
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "dataplane/dpdk/classify.hpp"

namespace sipline::dataplane::dpdk {

class Reassembler {
 public:
  struct Created {
    std::unique_ptr<Reassembler> value;  // null on failure
    std::string error;
  };
  // Sized by dpdk_sizing.hpp; fragments older than kFragTimeoutMs are given up.
  static Created create(std::uint64_t tsc_hz, int socket_id);

  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Takes `fragment` (classify() kind Fragment). Returns the whole datagram as one
  // unfragmented IP packet - IPv4 header checksum recomputed, IPv6 Fragment header removed,
  // RX checksum flags cleared so the UDP checksum is verified over the whole datagram - or
  // nullptr while fragments are missing or when the table discarded the fragment.
  rte_mbuf* add(rte_mbuf* fragment, const Frame& parsed, std::uint64_t now);

  // Gives up on datagrams that waited longer than the timeout (the table otherwise notices
  // only when their bucket is needed again).
  void expire(std::uint64_t now);

  // Frees the fragments the table gave up on since the last call (expired, evicted,
  // overlapping, too many, table full); returns how many. Call once per burst.
  std::uint32_t free_discarded();

 private:
  explicit Reassembler(rte_ip_frag_tbl* table) : table_(table) {}

  rte_ip_frag_tbl* table_;
  rte_ip_frag_death_row death_row_{};
};

// Cuts `datagram` (data starting at its IP header, UDP checksum already final) into
// fragments of at most `mtu` octets of IP each, written to `out`; consumes `datagram`.
// Each fragment starts at its IP header with headroom for Ethernet; IPv4 fragments carry a
// correct header checksum, IPv6 fragments the identification `ipv6_id` (rte_ipv6_fragment_packet
// leaves it 0). Returns how many fragments were written; 0 on failure (pool empty, `out` too
// small), when nothing is left to free.
std::uint16_t fragment_datagram(rte_mbuf* datagram, bool ipv6, std::uint16_t mtu,
                                std::uint32_t ipv6_id, rte_mempool* direct, rte_mempool* indirect,
                                std::span<rte_mbuf*> out);

}  // namespace sipline::dataplane::dpdk

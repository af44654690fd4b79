// The Internet checksum (RFC 1071) for UDP over IPv4 (RFC 768) and IPv6 (RFC 8200 §8.1) on
// bytes that lie in one buffer — every datagram a worker receives or builds in one mbuf.
//
// Why not DPDK's rte_ipv4_udptcp_cksum_mbuf & co.: they build the pseudo-header as a struct
// on the stack with byte-sized stores and read it back as 16-bit words (a store-forwarding
// stall per field), and walk the mbuf chain even for one segment. Here the pseudo-header is
// summed straight from the IP header's own bytes. The data loop adds 32-bit words into a
// 64-bit sum (no carry to propagate until the end; the compiler vectorises it).
//
// Sums are of native-order 16-bit words, as DPDK's are: the folded value is stored in the
// header as it is, with no byte swap (store_checksum in net_headers.hpp), and the results
// equal DPDK's (tests/unit/dpdk_udp_tx_test.cpp checks them against each other).
#pragma once

#include <rte_byteorder.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sipline::dataplane::dpdk {

// `sum` plus the bytes [data, data + length), as 16-bit words; an odd last byte is padded
// with a zero octet after it (RFC 1071 §4.1). Any length up to 2^32 words cannot overflow.
inline std::uint64_t checksum_add(const void* data, std::size_t length, std::uint64_t sum) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::size_t at = 0;
  for (; at + 4 <= length; at += 4) {
    std::uint32_t word;
    std::memcpy(&word, bytes + at, 4);
    sum += word;
  }
  if (at + 2 <= length) {
    std::uint16_t half;
    std::memcpy(&half, bytes + at, 2);
    sum += half;
    at += 2;
  }
  if (at < length) {
    std::uint16_t last = 0;
    std::memcpy(&last, bytes + at, 1);  // the byte first in memory, whatever the byte order
    sum += last;
  }
  return sum;
}

// checksum_add() for a datagram's payload: the same sum, 64 octets per step with AVX2 where
// the CPU has it (checked once at start; the build targets corei7, which lacks it). A SIP
// message of 600 octets costs about 20 cycles there against 38 (EPYC VM, both measured); a
// forwarded message is summed twice in software (received, sent).
std::uint64_t checksum_add_payload(const void* data, std::size_t length, std::uint64_t sum);

namespace detail {
// The AVX2 form, for tests that compare it with checksum_add(); only where cpu_has_avx2().
std::uint64_t checksum_add_avx2(const void* data, std::size_t length, std::uint64_t sum);
bool cpu_has_avx2();
}  // namespace detail

// The one's-complement sum folded to 16 bits (not complemented).
inline std::uint16_t checksum_fold(std::uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// The pseudo-header of a UDP datagram of `udp_length` octets, from the IP header at `ip`
// (IPv4: source and destination at 12 and 16; IPv6: at 8 and 24).
inline std::uint64_t ipv4_pseudo_header_sum(const std::uint8_t* ip, std::uint16_t udp_length,
                                            std::uint8_t protocol) {
  std::uint32_t source;
  std::uint32_t destination;
  std::memcpy(&source, ip + 12, 4);
  std::memcpy(&destination, ip + 16, 4);
  return std::uint64_t{source} + destination + rte_cpu_to_be_16(std::uint16_t{protocol}) +
         rte_cpu_to_be_16(udp_length);
}
inline std::uint64_t ipv6_pseudo_header_sum(const std::uint8_t* ip, std::uint32_t udp_length,
                                            std::uint8_t next_header) {
  return checksum_add(ip + 8, 32, 0) + rte_cpu_to_be_32(udp_length) +
         rte_cpu_to_be_32(std::uint32_t{next_header});
}

// The value for the UDP checksum field of the datagram at `udp` (`udp_length` octets, header
// included, checksum field zero): complemented, and 0xffff for a zero result (RFC 768).
inline std::uint16_t udp_checksum(std::uint64_t pseudo_header_sum, const std::uint8_t* udp,
                                  std::uint16_t udp_length) {
  const auto checksum = static_cast<std::uint16_t>(
      ~checksum_fold(checksum_add_payload(udp, udp_length, pseudo_header_sum)));
  return checksum == 0 ? 0xffff : checksum;
}

// Whether a received datagram's checksum (its field included in `udp`) is right: the sum of
// everything is all ones.
inline bool udp_checksum_verifies(std::uint64_t pseudo_header_sum, const std::uint8_t* udp,
                                  std::uint16_t udp_length) {
  return checksum_fold(checksum_add_payload(udp, udp_length, pseudo_header_sum)) == 0xffff;
}

// The IPv4 header checksum field's value for the header at `ip` (field zero while summed).
inline std::uint16_t ipv4_header_checksum(const std::uint8_t* ip, std::size_t header_length) {
  return static_cast<std::uint16_t>(~checksum_fold(checksum_add(ip, header_length, 0)));
}

}  // namespace sipline::dataplane::dpdk

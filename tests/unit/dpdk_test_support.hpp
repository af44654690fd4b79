// Shared by the tests/unit/dpdk_*_test.cpp programs: one EAL per test program (EAL can start
// only once per process), a small mbuf pool, the interface the tests own, and frame builders
// written byte by byte from the RFCs - independent of the code under test, so a checksum or
// offset mistake there cannot cancel out here.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/net_headers.hpp"
#include "tests/unit/private_eal.hpp"

namespace sipline::dataplane::dpdk::testing {

using Bytes = std::vector<std::uint8_t>;

// No root, no NIC, no hugepages, nothing shared with other processes (TESTING.md).
class EalEnvironment : public ::testing::Environment {
 public:
  explicit EalEnvironment(std::string name) : name_(std::move(name)) {}
  void SetUp() override {
    std::vector<std::string> args = private_eal_args(name_);
    args.insert(args.end(),
                {"--vdev=net_ring0", "--log-level=lib.eal:error", "--log-level=user1:warning"});
    const auto started = start_eal(args, "test_" + name_);
    ASSERT_TRUE(started.ok()) << started.error;
  }
  void TearDown() override { stop_eal(); }

 private:
  std::string name_;
};

// One pool per test program (mempool names are process-wide), created on first use.
inline rte_mempool* test_pool() {
  static rte_mempool* pool =
      rte_pktmbuf_pool_create("test_pkt", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  return pool;
}
inline rte_mempool* test_indirect_pool() {
  static rte_mempool* pool = rte_pktmbuf_pool_create("test_ind", 1023, 0, 0, 0, SOCKET_ID_ANY);
  return pool;
}

inline rte_mbuf* to_mbuf(std::span<const std::uint8_t> bytes) {
  rte_mbuf* mbuf = rte_pktmbuf_alloc(test_pool());
  if (mbuf == nullptr) return nullptr;
  char* data = rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(bytes.size()));
  std::memcpy(data, bytes.data(), bytes.size());
  return mbuf;
}

inline Bytes bytes_of(const rte_mbuf* mbuf) {
  Bytes bytes(mbuf->pkt_len);
  const void* at = rte_pktmbuf_read(mbuf, 0, mbuf->pkt_len, bytes.data());
  if (at != bytes.data()) std::memcpy(bytes.data(), at, bytes.size());
  return bytes;
}

// --- the interface under test and its peer --------------------------------------------------

inline const rte_ether_addr kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline const rte_ether_addr kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
inline const rte_ether_addr kGatewayMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}};
inline const std::uint8_t kOurIp[4] = {10, 99, 0, 1};
inline const std::uint8_t kPeerIp[4] = {10, 99, 0, 2};
inline const std::uint8_t kGatewayIp[4] = {10, 99, 0, 254};
inline const std::uint8_t kRemoteIp[4] = {192, 0, 2, 7};  // off-subnet: via the gateway
// An IPv6 router named by its link-local address, and a destination behind it.
inline const std::uint8_t kGatewayIp6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline const std::uint8_t kRemoteIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x0f, 0, 0, 0,
                                            0,    0,    0,    0,    0,    0, 0, 7};
inline const std::uint8_t kOurIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 1};
inline const std::uint8_t kPeerIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                          0,    0,    0,    0,    0, 0, 0, 2};
inline constexpr std::uint16_t kSipPort = 5060;
inline constexpr std::uint16_t kPeerPort = 5062;
inline const std::uint16_t kOurPorts[] = {5060, 5080};

inline IpAddress ip4(const std::uint8_t* bytes) {
  return ipv4_address_at(bytes);
}
inline IpAddress ip6(const std::uint8_t* bytes) {
  return ipv6_address_at(bytes);
}

// An lcore on `interface` with the test pools, no port (frames collect in tx()) and a 1 MHz
// clock; the caller adds what its test needs (lcore index, exception path).
inline LcoreSettings test_lcore_settings(const Interface& interface, NeighborTable& neighbors) {
  LcoreSettings settings;
  settings.interface = &interface;
  settings.neighbors = &neighbors;
  settings.pool = test_pool();
  settings.indirect_pool = test_indirect_pool();
  settings.tsc_hz = 1'000'000;
  return settings;
}

inline Interface make_test_interface(std::uint16_t mtu = 1500, std::uint16_t vlan = 0,
                                     std::optional<IpAddress> gateway6 = std::nullopt) {
  InterfaceSettings settings;
  settings.address = *lb::parse_ip_prefix("10.99.0.1/24");
  settings.address6 = *lb::parse_ip_prefix("2001:db8::1/64");
  settings.gateway = *lb::parse_ip_address("10.99.0.254");
  settings.gateway6 = gateway6;
  settings.mtu = mtu;
  settings.vlan = vlan;
  settings.sip_ports = kOurPorts;
  auto made = make_interface(settings, kOurMac);
  EXPECT_TRUE(made.ok()) << made.error;
  return made.value;
}

// --- frame builders (RFC 791, 768, 8200, 826, 792, 4443, 4861) ------------------------------

inline void put16(Bytes& bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value);
}
inline std::uint16_t get16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}
// resize + memcpy rather than insert: g++ 12 reports a false -Warray-bounds on
// vector::insert of a span at -O2.
inline void append(Bytes& bytes, std::span<const std::uint8_t> more) {
  const std::size_t at = bytes.size();
  bytes.resize(at + more.size());
  if (!more.empty()) std::memcpy(bytes.data() + at, more.data(), more.size());
}
inline void append_mac(Bytes& bytes, const rte_ether_addr& mac) {
  append(bytes, {mac.addr_bytes, 6});
}

// RFC 1071: the 16-bit one's complement of the one's complement sum.
inline std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2)
    sum += bytes[i] << 8 | bytes[i + 1];
  if (bytes.size() % 2) sum += bytes.back() << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}
inline std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> source,
                                       std::span<const std::uint8_t> destination,
                                       std::uint8_t protocol, std::uint32_t length) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < source.size(); i += 2)
    sum += source[i] << 8 | source[i + 1];
  for (std::size_t i = 0; i < destination.size(); i += 2) {
    sum += destination[i] << 8 | destination[i + 1];
  }
  return sum + protocol + (length >> 16) + (length & 0xffff);
}

inline Bytes ethernet(const rte_ether_addr& destination, const rte_ether_addr& source,
                      std::uint16_t ether_type, std::span<const std::uint8_t> body,
                      std::uint16_t vlan = 0) {
  Bytes frame;
  append_mac(frame, destination);
  append_mac(frame, source);
  if (vlan != 0) {
    frame.push_back(0x81);
    frame.push_back(0x00);
    frame.push_back(static_cast<std::uint8_t>(vlan >> 8));
    frame.push_back(static_cast<std::uint8_t>(vlan));
  }
  frame.push_back(static_cast<std::uint8_t>(ether_type >> 8));
  frame.push_back(static_cast<std::uint8_t>(ether_type));
  append(frame, body);
  return frame;
}

// UDP header + payload with the checksum over the pseudo-header (RFC 768; RFC 8200 §8.1).
inline Bytes udp(std::span<const std::uint8_t> source_ip, std::span<const std::uint8_t> dest_ip,
                 std::uint16_t source_port, std::uint16_t dest_port, std::string_view payload) {
  Bytes segment(8);
  put16(segment, 0, source_port);
  put16(segment, 2, dest_port);
  put16(segment, 4, static_cast<std::uint16_t>(8 + payload.size()));
  append(segment, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  std::uint16_t checksum = internet_checksum(
      segment,
      pseudo_header_sum(source_ip, dest_ip, 17, static_cast<std::uint32_t>(segment.size())));
  if (checksum == 0) checksum = 0xffff;
  put16(segment, 6, checksum);
  return segment;
}

inline Bytes ipv4(std::span<const std::uint8_t> source, std::span<const std::uint8_t> destination,
                  std::uint8_t protocol, std::span<const std::uint8_t> payload,
                  std::uint16_t id = 0x1234, std::uint16_t fragment_field = 0,
                  std::span<const std::uint8_t> options = {}) {
  Bytes packet(20 + options.size());
  packet[0] = static_cast<std::uint8_t>(0x40 | (20 + options.size()) / 4);
  put16(packet, 2, static_cast<std::uint16_t>(packet.size() + payload.size()));
  put16(packet, 4, id);
  put16(packet, 6, fragment_field);
  packet[8] = 64;
  packet[9] = protocol;
  std::memcpy(packet.data() + 12, source.data(), 4);
  std::memcpy(packet.data() + 16, destination.data(), 4);
  if (!options.empty()) std::memcpy(packet.data() + 20, options.data(), options.size());
  put16(packet, 10, internet_checksum(packet));
  append(packet, payload);
  return packet;
}

inline Bytes ipv6(std::span<const std::uint8_t> source, std::span<const std::uint8_t> destination,
                  std::uint8_t next_header, std::span<const std::uint8_t> payload,
                  std::uint8_t hop_limit = 64) {
  Bytes packet(40);
  packet[0] = 0x60;
  put16(packet, 4, static_cast<std::uint16_t>(payload.size()));
  packet[6] = next_header;
  packet[7] = hop_limit;
  std::memcpy(packet.data() + 8, source.data(), 16);
  std::memcpy(packet.data() + 24, destination.data(), 16);
  append(packet, payload);
  return packet;
}

// An ICMPv6 message with its checksum over the IPv6 pseudo-header (RFC 4443 §2.3).
inline Bytes icmp6(std::span<const std::uint8_t> source, std::span<const std::uint8_t> destination,
                   Bytes message) {
  put16(message, 2, 0);
  put16(message, 2,
        internet_checksum(message, pseudo_header_sum(source, destination, 58,
                                                     static_cast<std::uint32_t>(message.size()))));
  return message;
}

// A UDP/IPv4 SIP frame from the peer to us.
inline Bytes sip_frame_v4(std::string_view payload, std::uint16_t dest_port = kSipPort) {
  const Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, dest_port, payload);
  return ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, segment));
}

// The corpus carrier INVITE, padded with an X-Pad header line to exactly `size` octets (the
// packet layer treats it as opaque bytes; the padding keeps it a valid SIP message).
inline std::string padded_invite(std::size_t size) {
  std::ifstream file(std::string(SIPLINE_CORPUS_DIR) + "/carrier/invite-carrier-sdp.sip",
                     std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  std::string invite = content.str();
  const std::size_t line_end = invite.find("\r\n") + 2;
  const std::string prefix = "X-Pad: ";
  const std::size_t pad = size - invite.size() - prefix.size() - 2;
  invite.insert(line_end, prefix + std::string(pad, 'p') + "\r\n");
  return invite;
}

// --- IPv4 fragments (RFC 791 §2.3) -----------------------------------------------------------

// The UDP segment cut into IPv4 fragments of `piece` octets (RFC 791 §2.3).
inline std::vector<Bytes> ipv4_fragments(const Bytes& segment, std::uint16_t id,
                                         std::size_t piece = 1480) {
  std::vector<Bytes> frames;
  for (std::size_t offset = 0; offset < segment.size(); offset += piece) {
    const std::size_t length = std::min(piece, segment.size() - offset);
    const bool more = offset + length < segment.size();
    const auto field = static_cast<std::uint16_t>((more ? 0x2000 : 0) | offset / 8);
    frames.push_back(
        ethernet(kOurMac, kPeerMac, 0x0800,
                 ipv4(kPeerIp, kOurIp, 17, std::span(segment).subspan(offset, length), id, field)));
  }
  return frames;
}

// --- fragments the code under test sent -----------------------------------------------------

struct Reassembled {
  Bytes segment;
  std::vector<std::uint16_t> ip_lengths;
  std::uint16_t id = 0;
};

// Checks every fragment as a receiver would (Ethernet, IPv4 header and its checksum, flags,
// offsets) and puts the UDP segment back together by offset.
inline Reassembled check_ipv4_fragments(std::span<rte_mbuf* const> frames,
                                        const rte_ether_addr& destination = kPeerMac) {
  Reassembled result;
  std::map<std::size_t, Bytes> pieces;
  bool saw_last = false;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Bytes frame = bytes_of(frames[i]);
    EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 6),
              Bytes(destination.addr_bytes, destination.addr_bytes + 6));
    EXPECT_EQ(Bytes(frame.begin() + 6, frame.begin() + 12),
              Bytes(kOurMac.addr_bytes, kOurMac.addr_bytes + 6));
    EXPECT_EQ(get16(frame, 12), 0x0800);
    const auto ip = std::span(frame).subspan(14);
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(internet_checksum(ip.first(20)), 0) << "IPv4 header checksum of fragment " << i;
    const std::uint16_t total = get16(ip, 2);
    EXPECT_EQ(total + 14u, frame.size());
    result.ip_lengths.push_back(total);
    if (i == 0) result.id = get16(ip, 4);
    EXPECT_EQ(get16(ip, 4), result.id) << "one identification for every fragment";
    const std::uint16_t field = get16(ip, 6);
    EXPECT_EQ(field & 0x4000, 0) << "DF clear";
    const bool more = field & 0x2000;
    if (!more) saw_last = true;
    pieces[(field & 0x1fff) * 8u] = Bytes(ip.begin() + 20, ip.begin() + total);
  }
  EXPECT_TRUE(saw_last);
  for (const auto& [offset, piece] : pieces) {
    EXPECT_EQ(offset, result.segment.size()) << "no hole, no overlap";
    append(result.segment, piece);
  }
  return result;
}

}  // namespace sipline::dataplane::dpdk::testing

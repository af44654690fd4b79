// IP fragments: a 4 KB SIP INVITE arriving in three fragments is reassembled into the same
// bytes (rte_ip_frag, per-lcore table); a 4 KB message leaving at MTU 1500 is cut into three
// fragments whose checksums verify and whose reassembly gives the message back.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "dataplane/dpdk/lcore_net.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_ip_frag"));

constexpr std::uint64_t kHz = 1'000'000;  // 1 tick = 1 us

// The same with an IPv6 Fragment header (RFC 8200 §4.5).
std::vector<Bytes> ipv6_fragments(const Bytes& segment, std::uint32_t id,
                                  std::size_t piece = 1448) {
  std::vector<Bytes> frames;
  for (std::size_t offset = 0; offset < segment.size(); offset += piece) {
    const std::size_t length = std::min(piece, segment.size() - offset);
    const bool more = offset + length < segment.size();
    Bytes body = {17, 0, 0, 0, 0, 0, 0, 0};
    put16(body, 2, static_cast<std::uint16_t>(offset | (more ? 1 : 0)));
    put16(body, 4, static_cast<std::uint16_t>(id >> 16));
    put16(body, 6, static_cast<std::uint16_t>(id));
    append(body, std::span(segment).subspan(offset, length));
    frames.push_back(ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 44, body)));
  }
  return frames;
}

std::string_view text(const Bytes& bytes, std::size_t offset = 0) {
  return {reinterpret_cast<const char*>(bytes.data()) + offset, bytes.size() - offset};
}

class DpdkIpFrag : public ::testing::Test {
 protected:
  DpdkIpFrag() : interface_(make_test_interface()), neighbors_(64, 60 * kHz) {
    neighbors_.add_static(ip4(kPeerIp), kPeerMac);
    neighbors_.add_static(ip6(kPeerIp6), kPeerMac);
    net_ = make_net(interface_);
  }

  std::unique_ptr<LcoreNet> make_net(const Interface& interface) {
    LcoreSettings settings;
    settings.interface = &interface;
    settings.neighbors = &neighbors_;
    settings.pool = test_pool();
    settings.indirect_pool = test_indirect_pool();
    settings.tsc_hz = kHz;
    settings.offloads.multi_segment = true;
    auto created = LcoreNet::create(settings);
    EXPECT_TRUE(created.value) << created.error;
    return std::move(created.value);
  }

  // Feeds the frames in the given order; the datagram that came out, if any.
  rte_mbuf* feed(const std::vector<Bytes>& frames, std::initializer_list<std::size_t> order,
                 std::uint64_t now = 1000) {
    rte_mbuf* whole = nullptr;
    for (const std::size_t index : order) {
      const auto received = net_->receive(to_mbuf(frames[index]), now);
      if (received.verdict == LcoreNet::Verdict::Sip) whole = received.frame;
      EXPECT_NE(received.verdict, LcoreNet::Verdict::Control);
    }
    return whole;
  }

  Interface interface_;
  NeighborTable neighbors_;
  std::unique_ptr<LcoreNet> net_;
};

TEST_F(DpdkIpFrag, InviteOf4KbInThreeIpv4FragmentsIsReassembledIntact) {
  const std::string invite = padded_invite(4096);
  ASSERT_EQ(invite.size(), 4096u);
  const auto frames = ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, invite), 0x5151);
  ASSERT_EQ(frames.size(), 3u);  // 1480 + 1480 + 1144 octets of UDP segment
  rte_mbuf* whole = feed(frames, {0, 1, 2});
  ASSERT_NE(whole, nullptr);
  const Datagram datagram = read_datagram(whole, net_->scratch());
  EXPECT_EQ(datagram.payload, invite);
  EXPECT_EQ(datagram.payload.data(), net_->scratch().data()) << "a chain is linearised";
  EXPECT_EQ(datagram.source.to_string(), "10.99.0.2:5062");
  EXPECT_EQ(datagram.destination.to_string(), "10.99.0.1:5060");
  rte_pktmbuf_free(whole);
  EXPECT_EQ(net_->counters().fragments.read(), 3u);
  EXPECT_EQ(net_->counters().reassembled.read(), 1u);
  EXPECT_EQ(net_->counters().sip_datagrams.read(), 1u);
}

TEST_F(DpdkIpFrag, FragmentsInAnyOrderGiveTheSameDatagram) {
  const std::string invite = padded_invite(4096);
  const auto frames = ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, invite), 7);
  rte_mbuf* whole = feed(frames, {2, 0, 1});
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(read_datagram(whole, net_->scratch()).payload, invite);
  rte_pktmbuf_free(whole);
}

TEST_F(DpdkIpFrag, InviteInIpv6FragmentsIsReassembledIntact) {
  const std::string invite = padded_invite(4096);
  const auto frames =
      ipv6_fragments(udp(kPeerIp6, kOurIp6, kPeerPort, kSipPort, invite), 0xabcdef01);
  ASSERT_EQ(frames.size(), 3u);
  rte_mbuf* whole = feed(frames, {1, 2, 0});
  ASSERT_NE(whole, nullptr);
  const Datagram datagram = read_datagram(whole, net_->scratch());
  EXPECT_EQ(datagram.payload, invite);
  EXPECT_EQ(datagram.source.to_string(), "[2001:db8::2]:5062");
  rte_pktmbuf_free(whole);
}

TEST_F(DpdkIpFrag, CorruptFragmentFailsTheWholeDatagramsChecksum) {
  const std::string invite = padded_invite(4096);
  const Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, kSipPort, invite);
  Bytes damaged = segment;
  damaged[2000] ^= 0x01;  // in the second fragment; its own IP header stays valid
  const auto frames = ipv4_fragments(damaged, 9);
  EXPECT_EQ(feed(frames, {0, 1, 2}), nullptr);
  EXPECT_EQ(net_->counters().reassembled.read(), 1u);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::UdpChecksum), 1u);
}

TEST_F(DpdkIpFrag, UnfinishedDatagramIsDiscardedAfterTheTimeoutAndCounted) {
  const unsigned before = rte_mempool_avail_count(test_pool());
  const auto frames =
      ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, padded_invite(4096)), 11);
  EXPECT_EQ(feed(frames, {0, 2}, 1000), nullptr);
  net_->poll(1000 + kHz);  // one second later: still waiting
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::Reassembly), 0u);
  net_->poll(1000 + 3 * kHz);  // past the 2 s timeout
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::Reassembly), 2u);
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before) << "held fragments are freed";
}

// rte_ip_frag keeps at most RTE_LIBRTE_IP_FRAG_MAX_FRAG (8) fragments per datagram: the
// documented limit (ip_frag.hpp) is counted, never silent, and leaks nothing.
TEST_F(DpdkIpFrag, DatagramOfNineFragmentsIsDiscardedAndCounted) {
  const unsigned before = rte_mempool_avail_count(test_pool());
  const auto frames =
      ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, std::string(13000, 'x')), 13);
  ASSERT_EQ(frames.size(), 9u);
  EXPECT_EQ(feed(frames, {0, 1, 2, 3, 4, 5, 6, 7, 8}), nullptr);
  net_->poll(1000 + 3 * kHz);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::Reassembly), 9u);
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}

// --- fragmentation on send ---------------------------------------------------------------------

TEST_F(DpdkIpFrag, OutgoingMessageOf4KbLeavesAsThreeFragmentsThatReassemble) {
  const std::string invite = padded_invite(4096);
  const Endpoint peer{ip4(kPeerIp), kPeerPort};
  const SendResult sent = net_->send(invite, kSipPort, peer, 1000);
  ASSERT_EQ(sent.status, SendStatus::Sent);
  const auto frames = net_->tx().take();
  ASSERT_EQ(frames.size(), 3u);
  const Reassembled whole = check_ipv4_fragments(frames);
  EXPECT_EQ(whole.ip_lengths, (std::vector<std::uint16_t>{1500, 1500, 20 + 1144}));
  ASSERT_EQ(whole.segment.size(), 8u + 4096u);
  EXPECT_EQ(get16(whole.segment, 0), kSipPort);
  EXPECT_EQ(get16(whole.segment, 2), kPeerPort);
  EXPECT_EQ(get16(whole.segment, 4), 8 + 4096);
  EXPECT_EQ(internet_checksum(whole.segment, pseudo_header_sum(kOurIp, kPeerIp, 17, 4104)), 0)
      << "UDP checksum over the reassembled datagram";
  EXPECT_EQ(text(whole.segment, 8), invite);
  EXPECT_EQ(net_->counters().udp_fragmented.read(), 1u);

  // The peer's own stack (rte_ip_frag again) gets the message back from the wire bytes.
  InterfaceSettings settings;
  settings.address = *lb::parse_ip_prefix("10.99.0.2/24");
  settings.sip_ports = std::span(&kPeerPort, 1);
  const Interface peer_interface = make_interface(settings, kPeerMac).value;
  auto receiver = make_net(peer_interface);
  rte_mbuf* delivered = nullptr;
  for (rte_mbuf* frame : frames) {
    const auto received = receiver->receive(to_mbuf(bytes_of(frame)), 2000);
    rte_pktmbuf_free(frame);
    if (received.verdict == LcoreNet::Verdict::Sip) delivered = received.frame;
  }
  ASSERT_NE(delivered, nullptr);
  EXPECT_EQ(read_datagram(delivered, receiver->scratch()).payload, invite);
  rte_pktmbuf_free(delivered);
}

TEST_F(DpdkIpFrag, OutgoingIpv6MessageGetsOneFragmentIdPerDatagram) {
  const std::string invite = padded_invite(4096);
  const Endpoint peer{ip6(kPeerIp6), kPeerPort};
  std::vector<std::uint32_t> ids;
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(net_->send(invite, kSipPort, peer, 1000).status, SendStatus::Sent);
    const auto frames = net_->tx().take();
    ASSERT_EQ(frames.size(), 3u);  // 1448 + 1448 + 1208 octets at MTU 1500
    Bytes segment;
    std::uint32_t id = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Bytes frame = bytes_of(frames[i]);
      rte_pktmbuf_free(frames[i]);
      EXPECT_EQ(frame[14 + 6], 44) << "Fragment header follows the IPv6 header";
      EXPECT_LE(frame.size() - 14, 1500u);
      const auto fragment = std::span(frame).subspan(14 + 40, 8);
      const std::uint32_t this_id = std::uint32_t{get16(fragment, 4)} << 16 | get16(fragment, 6);
      if (i == 0) id = this_id;
      EXPECT_EQ(this_id, id);
      EXPECT_EQ(get16(fragment, 2) & ~7u, segment.size()) << "in order, no hole";
      append(segment, std::span(frame).subspan(14 + 48));
    }
    ids.push_back(id);
    EXPECT_EQ(
        internet_checksum(segment, pseudo_header_sum(kOurIp6, kPeerIp6, 17,
                                                     static_cast<std::uint32_t>(segment.size()))),
        0);
    EXPECT_EQ(text(segment, 8), invite);
  }
  EXPECT_NE(ids[0], ids[1]) << "rte_ipv6_fragment_packet leaves the id 0; we set our own";
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

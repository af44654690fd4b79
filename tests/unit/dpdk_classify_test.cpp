// classify(): what each received frame is, where its parts are, and why a frame is dropped;
// LcoreNet::receive() counting every drop under its reason.
#include <gtest/gtest.h>
#include <rte_cycles.h>

#include <array>

#include "dataplane/dpdk/classify.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_classify"));

constexpr std::string_view kOptions =
    "OPTIONS sip:10.99.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK1\r\n"
    "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

Frame classify_bytes(const Bytes& bytes, std::uint64_t ol_flags = 0) {
  const Interface interface = make_test_interface();
  rte_mbuf* mbuf = to_mbuf(bytes);
  mbuf->ol_flags = ol_flags;
  const Frame frame = classify(mbuf, interface);
  rte_pktmbuf_free(mbuf);
  return frame;
}

TEST(DpdkClassify, SipOverIpv4HasItsOffsetsAndEndpoints) {
  const Bytes bytes = sip_frame_v4(kOptions);
  const Interface interface = make_test_interface();
  rte_mbuf* mbuf = to_mbuf(bytes);
  const Frame frame = classify(mbuf, interface);
  EXPECT_EQ(frame.kind, FrameKind::Sip);
  EXPECT_FALSE(frame.ipv6);
  EXPECT_EQ(frame.l2_length, 14);
  EXPECT_EQ(frame.l3_length, 20);
  EXPECT_EQ(frame.l4_offset(), 34);
  EXPECT_EQ(frame.ip_length, 20 + 8 + kOptions.size());
  EXPECT_EQ(frame.payload_offset, 42);
  EXPECT_EQ(frame.payload_length, kOptions.size());
  EXPECT_EQ(frame.source.to_string(), "10.99.0.2:5062");
  EXPECT_EQ(frame.destination.to_string(), "10.99.0.1:5060");
  std::array<char, 64> scratch{};
  EXPECT_EQ(contiguous_bytes(mbuf, frame.payload_offset, frame.payload_length, scratch), kOptions);
  rte_pktmbuf_free(mbuf);
}

TEST(DpdkClassify, VlanTagAndIpv4OptionsMoveTheOffsets) {
  const Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, 5080, kOptions);
  const std::uint8_t options[4] = {1, 1, 1, 0};  // NOP NOP NOP EOL (RFC 791)
  const Bytes bytes =
      ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, segment, 7, 0, options), 100);
  const Frame frame = classify_bytes(bytes);
  EXPECT_EQ(frame.kind, FrameKind::Sip);
  EXPECT_EQ(frame.l2_length, 18);
  EXPECT_EQ(frame.l3_length, 24);
  EXPECT_EQ(frame.payload_offset, 18 + 24 + 8);
  EXPECT_EQ(frame.destination.port, 5080);
}

TEST(DpdkClassify, SipOverIpv6HasItsOffsetsAndEndpoints) {
  const Bytes segment = udp(kPeerIp6, kOurIp6, kPeerPort, kSipPort, kOptions);
  const Bytes bytes = ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 17, segment));
  const Frame frame = classify_bytes(bytes);
  EXPECT_EQ(frame.kind, FrameKind::Sip);
  EXPECT_TRUE(frame.ipv6);
  EXPECT_EQ(frame.l3_length, 40);
  EXPECT_EQ(frame.payload_offset, 14 + 40 + 8);
  EXPECT_EQ(frame.payload_length, kOptions.size());
  EXPECT_EQ(frame.source.to_string(), "[2001:db8::2]:5062");
  EXPECT_EQ(frame.destination.to_string(), "[2001:db8::1]:5060");
}

TEST(DpdkClassify, BadUdpChecksumIsDropped) {
  Bytes bytes = sip_frame_v4(kOptions);
  bytes[50] ^= 0x20;  // one payload octet changed after the checksum was computed
  EXPECT_EQ(classify_bytes(bytes).drop, NetDrop::UdpChecksum);
  EXPECT_EQ(classify_bytes(bytes).kind, FrameKind::Drop);
}

TEST(DpdkClassify, ZeroUdpChecksumMeansNoneOverIpv4ButIsInvalidOverIpv6) {
  Bytes v4 = sip_frame_v4(kOptions);
  put16(v4, 34 + 6, 0);
  EXPECT_EQ(classify_bytes(v4).kind, FrameKind::Sip);

  Bytes segment = udp(kPeerIp6, kOurIp6, kPeerPort, kSipPort, kOptions);
  put16(segment, 6, 0);
  const Bytes v6 = ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 17, segment));
  EXPECT_EQ(classify_bytes(v6).drop, NetDrop::UdpChecksum);
}

TEST(DpdkClassify, NicChecksumVerdictsAreTrusted) {
  Bytes corrupted = sip_frame_v4(kOptions);
  corrupted[50] ^= 0x20;
  EXPECT_EQ(classify_bytes(corrupted, RTE_MBUF_F_RX_L4_CKSUM_GOOD).kind, FrameKind::Sip);
  const Bytes good = sip_frame_v4(kOptions);
  EXPECT_EQ(classify_bytes(good, RTE_MBUF_F_RX_L4_CKSUM_BAD).drop, NetDrop::UdpChecksum);
  EXPECT_EQ(classify_bytes(good, RTE_MBUF_F_RX_IP_CKSUM_BAD).drop, NetDrop::Ipv4Checksum);
}

TEST(DpdkClassify, UnknownPortAndOtherProtocolsAreDropped) {
  EXPECT_EQ(classify_bytes(sip_frame_v4(kOptions, 5070)).drop, NetDrop::UnknownPort);
  const Bytes tcp(20, 0);
  EXPECT_EQ(classify_bytes(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 6, tcp))).drop,
            NetDrop::Protocol);
  const Bytes lldp(46, 0);
  EXPECT_EQ(classify_bytes(ethernet(kOurMac, kPeerMac, 0x88CC, lldp)).drop, NetDrop::EtherType);
}

TEST(DpdkClassify, WrongIpv4HeaderChecksumIsDropped) {
  Bytes bytes = sip_frame_v4(kOptions);
  bytes[14 + 8] = 63;  // TTL changed, header checksum not updated
  EXPECT_EQ(classify_bytes(bytes).drop, NetDrop::Ipv4Checksum);
}

TEST(DpdkClassify, FramesForOthersAreDropped) {
  const Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, kSipPort, kOptions);
  const rte_ether_addr other_mac{{0x02, 0, 0, 0, 0, 0x03}};
  EXPECT_EQ(
      classify_bytes(ethernet(other_mac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, segment)))
          .drop,
      NetDrop::NotOurMac);
  const std::uint8_t other_ip[4] = {10, 99, 0, 3};
  const Bytes to_other = udp(kPeerIp, other_ip, kPeerPort, kSipPort, kOptions);
  EXPECT_EQ(
      classify_bytes(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, other_ip, 17, to_other)))
          .drop,
      NetDrop::NotOurAddress);
  const std::uint8_t broadcast[4] = {10, 99, 0, 255};
  const Bytes to_broadcast = udp(kPeerIp, broadcast, kPeerPort, kSipPort, kOptions);
  const rte_ether_addr all{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  EXPECT_EQ(
      classify_bytes(ethernet(all, kPeerMac, 0x0800, ipv4(kPeerIp, broadcast, 17, to_broadcast)))
          .drop,
      NetDrop::NotOurAddress);
}

TEST(DpdkClassify, SourcesNoReplyCanReachAreDropped) {
  for (const std::array<std::uint8_t, 4> source : {std::array<std::uint8_t, 4>{127, 0, 0, 1},
                                                   {10, 99, 0, 255},
                                                   {224, 0, 0, 1},
                                                   {10, 99, 0, 1}}) {
    const Bytes segment = udp(source, kOurIp, kPeerPort, kSipPort, kOptions);
    EXPECT_EQ(
        classify_bytes(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(source, kOurIp, 17, segment))).drop,
        NetDrop::BadSource)
        << int(source[0]) << "." << int(source[3]);
  }
  const Bytes port_zero = udp(kPeerIp, kOurIp, 0, kSipPort, kOptions);
  EXPECT_EQ(
      classify_bytes(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, port_zero)))
          .drop,
      NetDrop::BadSource);
}

TEST(DpdkClassify, LengthsThatDisagreeAreDropped) {
  Bytes cut = sip_frame_v4(kOptions);
  cut.resize(cut.size() - 10);  // IP total length now claims more than the frame holds
  EXPECT_EQ(classify_bytes(cut).drop, NetDrop::Truncated);
  Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, kSipPort, kOptions);
  put16(segment, 4, static_cast<std::uint16_t>(segment.size() - 4));
  EXPECT_EQ(
      classify_bytes(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, segment))).drop,
      NetDrop::UdpLength);
  Bytes padded = sip_frame_v4("x");  // 43 octets: Ethernet padding to 60 follows the datagram
  padded.resize(60, 0);
  EXPECT_EQ(classify_bytes(padded).kind, FrameKind::Sip);
}

TEST(DpdkClassify, Ipv6ExtensionHeadersAndStackedVlanTagsAreDropped) {
  Bytes hop_by_hop(8, 0);
  hop_by_hop[0] = 17;
  EXPECT_EQ(
      classify_bytes(ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 0, hop_by_hop)))
          .drop,
      NetDrop::Ipv6Extension);
  const Bytes qinq =
      ethernet(kOurMac, kPeerMac, 0x8100, Bytes{0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00});
  EXPECT_EQ(classify_bytes(qinq).drop, NetDrop::EtherType);
}

TEST(DpdkClassify, FragmentsAreRecognisedAndImpossibleOnesDropped) {
  const Bytes piece(64, 0xab);
  const auto fragment = [&](std::uint16_t field, std::size_t length, std::uint8_t protocol) {
    return ethernet(kOurMac, kPeerMac, 0x0800,
                    ipv4(kPeerIp, kOurIp, protocol, std::span(piece).first(length), 9, field));
  };
  EXPECT_EQ(classify_bytes(fragment(0x2000, 64, 17)).kind, FrameKind::Fragment);  // MF, offset 0
  EXPECT_EQ(classify_bytes(fragment(0x0010, 60, 17)).kind,
            FrameKind::Fragment);  // last, offset 128
  EXPECT_EQ(classify_bytes(fragment(0x2000, 60, 17)).drop, NetDrop::BadFragment);  // not 8n
  EXPECT_EQ(classify_bytes(fragment(0x1fff, 64, 17)).drop, NetDrop::BadFragment);  // past 65,535
  EXPECT_EQ(classify_bytes(fragment(0x2000, 64, 1)).drop, NetDrop::Protocol);      // a big ping
}

TEST(DpdkClassify, ChainedPayloadIsCopiedIntoScratch) {
  rte_mbuf* head = to_mbuf(Bytes{'a', 'b', 'c'});
  rte_mbuf* tail = to_mbuf(Bytes{'d', 'e'});
  ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
  std::array<char, 8> scratch{};
  const std::string_view bytes = contiguous_bytes(head, 1, 4, scratch);
  EXPECT_EQ(bytes, "bcde");
  EXPECT_EQ(bytes.data(), scratch.data());
  EXPECT_EQ(contiguous_bytes(head, 0, 2, scratch).data(), rte_pktmbuf_mtod(head, char*));
  EXPECT_TRUE(contiguous_bytes(head, 3, 3, scratch).empty());  // past the end
  rte_pktmbuf_free(head);
}

// --- LcoreNet::receive: every drop counted under its reason -----------------------------------

class DpdkReceive : public ::testing::Test {
 protected:
  DpdkReceive() : neighbors_(64, 1'000'000) {
    interface_ = make_test_interface();
    auto created = LcoreNet::create(test_lcore_settings(interface_, neighbors_));
    EXPECT_TRUE(created.value) << created.error;
    net_ = std::move(created.value);
  }

  Interface interface_;
  NeighborTable neighbors_;
  std::unique_ptr<LcoreNet> net_;
};

TEST_F(DpdkReceive, SipDatagramIsMarkedForWhicheverLcoreProcessesIt) {
  const auto received = net_->receive(to_mbuf(sip_frame_v4(kOptions)), 1);
  ASSERT_EQ(received.verdict, LcoreNet::Verdict::Sip);
  std::array<char, 16> too_small_but_unused{};
  const Datagram datagram = read_datagram(received.frame, too_small_but_unused);
  EXPECT_EQ(datagram.payload, kOptions);
  EXPECT_EQ(datagram.source.to_string(), "10.99.0.2:5062");
  EXPECT_EQ(datagram.destination.to_string(), "10.99.0.1:5060");
  rte_pktmbuf_free(received.frame);
  EXPECT_EQ(net_->counters().rx_frames.read(), 1u);
  EXPECT_EQ(net_->counters().sip_datagrams.read(), 1u);
}

TEST_F(DpdkReceive, BadChecksumUnknownPortAndNonUdpAreCountedByReason) {
  Bytes bad_checksum = sip_frame_v4(kOptions);
  bad_checksum[60] ^= 1;
  const Bytes tcp(20, 0);
  const unsigned before = rte_mempool_avail_count(test_pool());
  for (const Bytes& bytes :
       {bad_checksum, sip_frame_v4(kOptions, 9999), sip_frame_v4(kOptions, 9999),
        ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 6, tcp))}) {
    const auto received = net_->receive(to_mbuf(bytes), 1);
    EXPECT_EQ(received.verdict, LcoreNet::Verdict::Consumed);
    EXPECT_EQ(received.frame, nullptr);
  }
  const NetCounters& counters = net_->counters();
  EXPECT_EQ(counters.dropped_for(NetDrop::UdpChecksum), 1u);
  EXPECT_EQ(counters.dropped_for(NetDrop::UnknownPort), 2u);
  EXPECT_EQ(counters.dropped_for(NetDrop::Protocol), 1u);
  EXPECT_EQ(counters.sip_datagrams.read(), 0u);
  EXPECT_EQ(counters.rx_frames.read(), 4u);
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before) << "dropped frames are freed";
}

TEST_F(DpdkReceive, ArpAndPingGoToTheControlLcore) {
  Bytes arp(28, 0);
  put16(arp, 0, 1);
  put16(arp, 2, 0x0800);
  arp[4] = 6;
  arp[5] = 4;
  put16(arp, 6, 1);
  const rte_ether_addr all{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  const auto received = net_->receive(to_mbuf(ethernet(all, kPeerMac, 0x0806, arp)), 1);
  EXPECT_EQ(received.verdict, LcoreNet::Verdict::Control);
  rte_pktmbuf_free(received.frame);
  EXPECT_EQ(net_->counters().control_frames.read(), 1u);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

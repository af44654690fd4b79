// ICMP echo (RFC 792, RFC 4443) and IPv6 neighbour discovery (RFC 4861), answered in place.
#include <gtest/gtest.h>

#include "dataplane/dpdk/icmp.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_icmp"));

const std::uint8_t kOurGroup[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0x01};
const std::uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const std::uint8_t kUnspecified[16] = {};
const rte_ether_addr kOurGroupMac{{0x33, 0x33, 0xff, 0x00, 0x00, 0x01}};

// ICMP echo message: type, code, checksum, identifier 0x4242, sequence 7, data.
Bytes echo(std::uint8_t type, std::string_view data) {
  Bytes message = {type, 0, 0, 0, 0x42, 0x42, 0x00, 0x07};
  append(message, {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
  return message;
}
Bytes with_icmp_checksum(Bytes message) {
  put16(message, 2, internet_checksum(message));
  return message;
}

// Neighbour solicitation / advertisement body (RFC 4861 §4.3, §4.4) with one link-layer
// option (type 1 source, 2 target) unless `option` is 0.
Bytes nd(std::uint8_t type, std::uint8_t flags, const std::uint8_t* target, std::uint8_t option,
         const rte_ether_addr& mac) {
  Bytes message = {type, 0, 0, 0, flags, 0, 0, 0};
  append(message, {target, 16});
  if (option != 0) {
    message.push_back(option);
    message.push_back(1);
    append_mac(message, mac);
  }
  return message;
}

class DpdkIcmp : public ::testing::Test {
 protected:
  DpdkIcmp() : interface_(make_test_interface()), neighbors_(64, 1000) {}

  // Classifies and handles `bytes`; the frame's bytes afterwards (the reply, if any).
  IcmpResult handle(const Bytes& bytes, Bytes* after = nullptr) {
    rte_mbuf* frame = to_mbuf(bytes);
    const Frame parsed = classify(frame, interface_);
    IcmpResult result{IcmpVerdict::Drop, parsed.drop, false};
    if (parsed.kind == FrameKind::IcmpEcho) result = answer_icmp_echo(frame, parsed, interface_);
    if (parsed.kind == FrameKind::Icmp6) {
      result = handle_icmp6(frame, parsed, interface_, neighbors_, 10);
    }
    if (after != nullptr) *after = bytes_of(frame);
    rte_pktmbuf_free(frame);
    return result;
  }

  Interface interface_;
  NeighborTable neighbors_;
};

TEST_F(DpdkIcmp, EchoRequestBecomesTheExactReplyWithCorrectChecksums) {
  const Bytes request = with_icmp_checksum(echo(8, "ping"));
  Bytes frame = ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 1, request, 0x77));
  frame.resize(60, 0);  // Ethernet padding: the reply must not echo it as ICMP data
  Bytes reply;
  const IcmpResult result = handle(frame, &reply);
  ASSERT_EQ(result.verdict, IcmpVerdict::Reply);
  const Bytes expected =
      ethernet(kPeerMac, kOurMac, 0x0800,
               ipv4(kOurIp, kPeerIp, 1, with_icmp_checksum(echo(0, "ping")), 0x77));
  EXPECT_EQ(reply, expected);
  EXPECT_EQ(internet_checksum(std::span(reply).subspan(14, 20)), 0) << "IPv4 header checksum";
  EXPECT_EQ(internet_checksum(std::span(reply).subspan(34)), 0) << "ICMP checksum";
}

TEST_F(DpdkIcmp, CorruptOrOtherIcmpIsDropped) {
  Bytes corrupt = with_icmp_checksum(echo(8, "ping"));
  corrupt[9] ^= 1;
  EXPECT_EQ(handle(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 1, corrupt))).drop,
            NetDrop::IcmpChecksum);
  const Bytes timestamp = with_icmp_checksum(echo(13, "0123456789ab"));
  EXPECT_EQ(handle(ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 1, timestamp))).drop,
            NetDrop::IcmpType);
}

TEST_F(DpdkIcmp, NeighbourSolicitationBecomesTheExactAdvertisement) {
  const Bytes solicitation = icmp6(kPeerIp6, kOurGroup, nd(135, 0, kOurIp6, 1, kPeerMac));
  const Bytes frame =
      ethernet(kOurGroupMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurGroup, 58, solicitation, 255));
  Bytes reply;
  const IcmpResult result = handle(frame, &reply);
  ASSERT_EQ(result.verdict, IcmpVerdict::Reply);
  EXPECT_TRUE(result.learned);
  // Solicited + Override, our address as target, our MAC as target link-layer option.
  const Bytes advertisement = icmp6(kOurIp6, kPeerIp6, nd(136, 0x60, kOurIp6, 2, kOurMac));
  const Bytes expected =
      ethernet(kPeerMac, kOurMac, 0x86DD, ipv6(kOurIp6, kPeerIp6, 58, advertisement, 255));
  EXPECT_EQ(reply, expected);
  const auto mac = neighbors_.lookup(ip6(kPeerIp6), 11);
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(same_mac(*mac, kPeerMac));
}

TEST_F(DpdkIcmp, DuplicateAddressProbeIsAnsweredToAllNodes) {
  const Bytes solicitation =
      icmp6(kUnspecified, kOurGroup, nd(135, 0, kOurIp6, 0, rte_ether_addr{}));
  Bytes reply;
  const IcmpResult result = handle(ethernet(kOurGroupMac, kPeerMac, 0x86DD,
                                            ipv6(kUnspecified, kOurGroup, 58, solicitation, 255)),
                                   &reply);
  ASSERT_EQ(result.verdict, IcmpVerdict::Reply);
  EXPECT_FALSE(result.learned);
  const Bytes advertisement = icmp6(kOurIp6, kAllNodes, nd(136, 0x20, kOurIp6, 2, kOurMac));
  const rte_ether_addr all_nodes_mac{{0x33, 0x33, 0, 0, 0, 1}};
  EXPECT_EQ(reply, ethernet(all_nodes_mac, kOurMac, 0x86DD,
                            ipv6(kOurIp6, kAllNodes, 58, advertisement, 255)));
}

TEST_F(DpdkIcmp, InvalidOrForeignSolicitationsAreDropped) {
  const Bytes solicitation = icmp6(kPeerIp6, kOurGroup, nd(135, 0, kOurIp6, 1, kPeerMac));
  // Hop limit below 255: it crossed a router (RFC 4861 §7.1.1).
  EXPECT_EQ(handle(ethernet(kOurGroupMac, kPeerMac, 0x86DD,
                            ipv6(kPeerIp6, kOurGroup, 58, solicitation, 64)))
                .drop,
            NetDrop::NdInvalid);
  const std::uint8_t other[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  const Bytes for_other = icmp6(kPeerIp6, kOurIp6, nd(135, 0, other, 1, kPeerMac));
  EXPECT_EQ(
      handle(ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 58, for_other, 255))).drop,
      NetDrop::NotOurAddress);
  Bytes zero_length_option = nd(135, 0, kOurIp6, 1, kPeerMac);
  zero_length_option[25] = 0;
  EXPECT_EQ(handle(ethernet(kOurMac, kPeerMac, 0x86DD,
                            ipv6(kPeerIp6, kOurIp6, 58,
                                 icmp6(kPeerIp6, kOurIp6, zero_length_option), 255)))
                .drop,
            NetDrop::NdInvalid);
  EXPECT_FALSE(neighbors_.lookup(ip6(kPeerIp6), 11).has_value());
}

TEST_F(DpdkIcmp, AdvertisementToUsResolvesTheNeighbour) {
  const Bytes advertisement = icmp6(kPeerIp6, kOurIp6, nd(136, 0x60, kPeerIp6, 2, kPeerMac));
  const IcmpResult result =
      handle(ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 58, advertisement, 255)));
  EXPECT_EQ(result.verdict, IcmpVerdict::Consumed);
  EXPECT_TRUE(result.learned);
  EXPECT_TRUE(neighbors_.lookup(ip6(kPeerIp6), 11).has_value());
}

// A router answers our solicitation for its link-local address (how gateway6 is usually
// named) from that address: it is on the link, so it is learned.
TEST_F(DpdkIcmp, AdvertisementFromALinkLocalRouterResolvesIt) {
  const Bytes advertisement =
      icmp6(kGatewayIp6, kOurIp6, nd(136, 0xe0, kGatewayIp6, 2, kGatewayMac));  // R, S, O
  const IcmpResult result = handle(
      ethernet(kOurMac, kGatewayMac, 0x86DD, ipv6(kGatewayIp6, kOurIp6, 58, advertisement, 255)));
  EXPECT_EQ(result.verdict, IcmpVerdict::Consumed);
  EXPECT_TRUE(result.learned);
  const auto mac = neighbors_.lookup(ip6(kGatewayIp6), 11);
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(rte_is_same_ether_addr(&*mac, &kGatewayMac));
}

TEST_F(DpdkIcmp, Icmp6EchoRequestBecomesTheExactReply) {
  const Bytes request = icmp6(kPeerIp6, kOurIp6, echo(128, "ping6"));
  Bytes reply;
  ASSERT_EQ(
      handle(ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 58, request)), &reply)
          .verdict,
      IcmpVerdict::Reply);
  const Bytes expected =
      ethernet(kPeerMac, kOurMac, 0x86DD,
               ipv6(kOurIp6, kPeerIp6, 58, icmp6(kOurIp6, kPeerIp6, echo(129, "ping6"))));
  EXPECT_EQ(reply, expected);
}

TEST_F(DpdkIcmp, SolicitationWeSendAsksTheTargetsGroup) {
  rte_mbuf* frame = build_neighbor_solicitation(test_pool(), interface_, ip6(kPeerIp6));
  ASSERT_NE(frame, nullptr);
  const std::uint8_t peer_group[16] = {0xff, 0x02, 0, 0,    0,    0, 0, 0,
                                       0,    0,    0, 0x01, 0xff, 0, 0, 0x02};
  const rte_ether_addr peer_group_mac{{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}};
  const Bytes expected =
      ethernet(peer_group_mac, kOurMac, 0x86DD,
               ipv6(kOurIp6, peer_group, 58,
                    icmp6(kOurIp6, peer_group, nd(135, 0, kPeerIp6, 1, kOurMac)), 255));
  EXPECT_EQ(bytes_of(frame), expected);
  rte_pktmbuf_free(frame);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

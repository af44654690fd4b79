// Sending a SIP payload: the exact frame, checksums (software or offloaded), the next hop's
// MAC, parking while ARP resolves it, and the bounded queue's drops.
#include <gtest/gtest.h>

#include <rte_ip.h>
#include <rte_pause.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dpdk/checksum.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/udp_tx.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_udp_tx"));

constexpr std::uint64_t kHz = 1'000'000;  // 1 tick = 1 us
constexpr std::uint64_t kMs = kHz / 1000;
constexpr std::string_view kResponse =
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK1\r\nCall-ID: c1\r\n"
    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

class DpdkUdpTx : public ::testing::Test {
 protected:
  DpdkUdpTx() : neighbors_(64, 60 * kHz) {
    rebuild(make_test_interface(), TxOffloads{false, false, true});
  }

  void rebuild(const Interface& interface, TxOffloads offloads) {
    net_.reset();
    interface_ = interface;
    LcoreSettings settings;
    settings.interface = &interface_;
    settings.neighbors = &neighbors_;
    settings.pool = test_pool();
    settings.indirect_pool = test_indirect_pool();
    settings.tsc_hz = kHz;
    settings.offloads = offloads;
    auto created = LcoreNet::create(settings);
    ASSERT_TRUE(created.value) << created.error;
    net_ = std::move(created.value);
  }

  // The frames queued for the NIC, as bytes (the mbufs are freed).
  std::vector<Bytes> sent_frames() {
    std::vector<Bytes> frames;
    for (rte_mbuf* frame : net_->tx().take()) {
      frames.push_back(bytes_of(frame));
      rte_pktmbuf_free(frame);
    }
    return frames;
  }

  Interface interface_;
  NeighborTable neighbors_;
  std::unique_ptr<LcoreNet> net_;
  const Endpoint peer_{ip4(kPeerIp), kPeerPort};
};

TEST_F(DpdkUdpTx, ResponseToAKnownPeerIsOneExactFrame) {
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  ASSERT_EQ(net_->send(kResponse, kSipPort, peer_, 100).status, SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  const std::uint16_t id = get16(frames[0], 14 + 4);  // random start (RFC 7739)
  const Bytes expected =
      ethernet(kPeerMac, kOurMac, 0x0800,
               ipv4(kOurIp, kPeerIp, 17, udp(kOurIp, kPeerIp, kSipPort, kPeerPort, kResponse), id));
  EXPECT_EQ(frames[0], expected);
  EXPECT_EQ(net_->counters().udp_sent.read(), 1u);
}

TEST_F(DpdkUdpTx, Ipv6ResponseIsOneExactFrame) {
  neighbors_.add_static(ip6(kPeerIp6), kPeerMac);
  ASSERT_EQ(net_->send(kResponse, 5080, Endpoint{ip6(kPeerIp6), kPeerPort}, 100).status,
            SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], ethernet(kPeerMac, kOurMac, 0x86DD,
                                ipv6(kOurIp6, kPeerIp6, 17,
                                     udp(kOurIp6, kPeerIp6, 5080, kPeerPort, kResponse))));
}

// [listen] dscp: the DSCP in the upper six bits of the IPv4 TOS octet (its header checksum
// over it) and of the IPv6 Traffic Class, ECN bits clear (RFC 2474, RFC 3168), on every
// fragment of a datagram larger than the MTU too.
TEST_F(DpdkUdpTx, DatagramsCarryTheConfiguredDscp) {
  Interface marked = make_test_interface();
  marked.dscp = 26;  // AF31
  rebuild(marked, TxOffloads{false, false, true});
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  neighbors_.add_static(ip6(kPeerIp6), kPeerMac);
  ASSERT_EQ(net_->send(kResponse, kSipPort, peer_, 100).status, SendStatus::Sent);
  ASSERT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip6(kPeerIp6), kPeerPort}, 100).status,
            SendStatus::Sent);
  const std::string large(3000, 'x');
  ASSERT_EQ(net_->send(large, kSipPort, peer_, 100).status, SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 2u + 3u);

  const std::uint16_t id = get16(frames[0], 14 + 4);
  Bytes expected4 =
      ethernet(kPeerMac, kOurMac, 0x0800,
               ipv4(kOurIp, kPeerIp, 17, udp(kOurIp, kPeerIp, kSipPort, kPeerPort, kResponse), id));
  expected4[14 + 1] = 26 << 2;
  put16(expected4, 14 + 10, 0);
  put16(expected4, 14 + 10, internet_checksum(std::span(expected4).subspan(14, 20)));
  EXPECT_EQ(frames[0], expected4);

  Bytes expected6 =
      ethernet(kPeerMac, kOurMac, 0x86DD,
               ipv6(kOurIp6, kPeerIp6, 17, udp(kOurIp6, kPeerIp6, kSipPort, kPeerPort, kResponse)));
  expected6[14 + 0] = 0x60 | (26 << 2) >> 4;
  expected6[14 + 1] = static_cast<std::uint8_t>(((26 << 2) & 0x0f) << 4);
  EXPECT_EQ(frames[1], expected6);

  for (std::size_t i = 2; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i][14 + 1], 26 << 2) << "fragment " << i - 2;
    EXPECT_EQ(internet_checksum(std::span(frames[i]).subspan(14, 20)), 0) << "fragment " << i - 2;
  }
}

TEST_F(DpdkUdpTx, ZeroCopyPayloadGivesTheSameFrame) {
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  PayloadBuffer buffer = net_->allocate_payload();
  ASSERT_NE(buffer.mbuf, nullptr);
  ASSERT_GE(buffer.room.size(), 1900u);
  std::copy(kResponse.begin(), kResponse.end(), buffer.room.begin());
  ASSERT_EQ(net_->send_payload(buffer, kResponse.size(), kSipPort, peer_, 100).status,
            SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  const std::uint16_t id = get16(frames[0], 14 + 4);
  EXPECT_EQ(frames[0], ethernet(kPeerMac, kOurMac, 0x0800,
                                ipv4(kOurIp, kPeerIp, 17,
                                     udp(kOurIp, kPeerIp, kSipPort, kPeerPort, kResponse), id)));
}

TEST_F(DpdkUdpTx, OffloadedChecksumsCarryThePseudoHeaderSumAndFlags) {
  rebuild(make_test_interface(), TxOffloads{true, true, true});
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  ASSERT_EQ(net_->send(kResponse, kSipPort, peer_, 100).status, SendStatus::Sent);
  const auto taken = net_->tx().take();
  ASSERT_EQ(taken.size(), 1u);
  rte_mbuf* frame = taken[0];
  EXPECT_EQ(
      frame->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM),
      RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM);
  EXPECT_EQ(frame->l2_len, 14u);
  EXPECT_EQ(frame->l3_len, 20u);
  const Bytes bytes = bytes_of(frame);
  EXPECT_EQ(get16(bytes, 14 + 10), 0) << "IPv4 checksum left to the NIC";
  // The NIC adds the segment to the (uncomplemented) pseudo-header sum it finds there.
  const std::uint16_t pseudo = static_cast<std::uint16_t>(
      ~internet_checksum({}, pseudo_header_sum(kOurIp, kPeerIp, 17, 8 + kResponse.size())));
  EXPECT_EQ(get16(bytes, 34 + 6), pseudo);
  rte_pktmbuf_free(frame);
}

TEST_F(DpdkUdpTx, VlanInterfaceTagsItsFrames) {
  rebuild(make_test_interface(1500, 42), TxOffloads{false, false, true});
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  ASSERT_EQ(net_->send(kResponse, kSipPort, peer_, 100).status, SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(get16(frames[0], 12), 0x8100);
  EXPECT_EQ(get16(frames[0], 14), 42);
  EXPECT_EQ(get16(frames[0], 16), 0x0800);
}

TEST_F(DpdkUdpTx, UnknownNextHopIsHeldWhileArpResolvesIt) {
  const auto status = net_->send(kResponse, kSipPort, peer_, 100);
  EXPECT_EQ(status.status, SendStatus::Held);
  EXPECT_EQ(net_->held(), 1u);
  auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(get16(frames[0], 12), 0x0806);
  EXPECT_EQ(get16(frames[0], 14 + 6), 1) << "who-has";
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 24, frames[0].begin() + 14 + 28),
            Bytes(kPeerIp, kPeerIp + 4));

  neighbors_.learn(ip4(kPeerIp), kPeerMac, 150);  // the control lcore heard the reply
  net_->poll(160);
  EXPECT_EQ(net_->held(), 0u);
  frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(get16(frames[0], 12), 0x0800);
  EXPECT_EQ(Bytes(frames[0].begin(), frames[0].begin() + 6),
            Bytes(kPeerMac.addr_bytes, kPeerMac.addr_bytes + 6));
}

TEST_F(DpdkUdpTx, HeldMessagesKeepTheirOrderAndShareOneRequest) {
  EXPECT_EQ(net_->send("first", kSipPort, peer_, 100).status, SendStatus::Held);
  EXPECT_EQ(net_->send("second", kSipPort, peer_, 110).status, SendStatus::Held);
  EXPECT_EQ(sent_frames().size(), 1u) << "one ARP request for both";
  neighbors_.learn(ip4(kPeerIp), kPeerMac, 120);
  EXPECT_EQ(net_->send("third", kSipPort, peer_, 130).status, SendStatus::Sent);
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(std::string(frames[0].begin() + 42, frames[0].end()), "first");
  EXPECT_EQ(std::string(frames[1].begin() + 42, frames[1].end()), "second");
  EXPECT_EQ(std::string(frames[2].begin() + 42, frames[2].end()), "third");
}

// The control lcore refreshes a neighbour entry (every ARP reply or NA its owner sends) while
// a worker sends to it, here as fast as a thread can. A refresh that keeps the MAC must never
// make the worker's lookup miss: a miss parks a datagram, and a datagram parked while a later
// one to the same peer leaves would reorder them (a 200 ahead of its 180 ends SIPp's call).
// Every datagram leaves, at once and in order.
TEST_F(DpdkUdpTx, RefreshingANeighbourNeverParksOrReordersDatagramsToIt) {
  neighbors_.learn(ip4(kPeerIp), kPeerMac, 0);
  std::atomic<bool> stop{false};
  std::atomic<bool> refreshing{false};
  std::thread control([&] {  // bounded: stops when the sender is done, or after 20 s
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < give_up) {
      for (int i = 0; i < 1000; ++i)
        neighbors_.learn(ip4(kPeerIp), kPeerMac, 0);
      refreshing = true;
    }
  });
  while (!refreshing)
    std::this_thread::yield();
  constexpr int kDatagrams = 100'000;
  std::vector<int> order;
  order.reserve(kDatagrams);
  for (int i = 0; i < kDatagrams; ++i) {
    net_->send(std::to_string(i), kSipPort, peer_, 100);
    for (rte_mbuf* frame : net_->tx().take()) {
      const Bytes bytes = bytes_of(frame);
      rte_pktmbuf_free(frame);
      if (get16(bytes, 12) == 0x0800)
        order.push_back(std::stoi(std::string(bytes.begin() + 42, bytes.end())));
    }
  }
  stop = true;
  control.join();
  EXPECT_EQ(net_->counters().held.read(), 0u) << "a lookup missed during a refresh";
  ASSERT_EQ(order.size(), static_cast<std::size_t>(kDatagrams));
  const auto overtaken = std::is_sorted_until(order.begin(), order.end());
  EXPECT_EQ(overtaken, order.end()) << "datagram " << *overtaken << " left after a later one";
}

// Datagrams parked for two next hops: each hop's leave in the order they were parked, one
// hop's resolution releases only its own, and a datagram sent once its hop resolves follows
// those parked before it.
TEST_F(DpdkUdpTx, ParkedDatagramsLeavePerNextHopInTheirOrder) {
  const Endpoint other{ip4(kRemoteIp), 5060};  // off-subnet: through the gateway
  EXPECT_EQ(net_->send("a1", kSipPort, peer_, 100).status, SendStatus::Held);
  EXPECT_EQ(net_->send("g1", kSipPort, other, 100).status, SendStatus::Held);
  EXPECT_EQ(net_->send("a2", kSipPort, peer_, 110).status, SendStatus::Held);
  EXPECT_EQ(net_->send("g2", kSipPort, other, 110).status, SendStatus::Held);
  EXPECT_EQ(sent_frames().size(), 2u) << "one ARP request per next hop";
  neighbors_.learn(ip4(kGatewayIp), kGatewayMac, 120);
  net_->poll(130);
  auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(std::string(frames[0].begin() + 42, frames[0].end()), "g1");
  EXPECT_EQ(std::string(frames[1].begin() + 42, frames[1].end()), "g2");
  EXPECT_EQ(net_->held(), 2u);
  neighbors_.learn(ip4(kPeerIp), kPeerMac, 140);
  EXPECT_EQ(net_->send("a3", kSipPort, peer_, 150).status, SendStatus::Sent);
  frames = sent_frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(std::string(frames[0].begin() + 42, frames[0].end()), "a1");
  EXPECT_EQ(std::string(frames[1].begin() + 42, frames[1].end()), "a2");
  EXPECT_EQ(std::string(frames[2].begin() + 42, frames[2].end()), "a3");
  EXPECT_EQ(net_->held(), 0u);
}

TEST_F(DpdkUdpTx, UnansweredRequestIsRepeatedThenTheMessageDropped) {
  const unsigned before = rte_mempool_avail_count(test_pool());
  EXPECT_EQ(net_->send(kResponse, kSipPort, peer_, 0).status, SendStatus::Held);
  EXPECT_EQ(sent_frames().size(), 1u);
  net_->poll(150 * kMs);
  EXPECT_EQ(sent_frames().size(), 0u) << "not yet time to ask again";
  net_->poll(250 * kMs);
  EXPECT_EQ(sent_frames().size(), 1u) << "asked again after 200 ms";
  net_->poll(1000 * kMs);
  EXPECT_EQ(net_->held(), 0u);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::PendingTimeout), 1u);
  EXPECT_EQ(net_->counters().arp_requests.read(), 2u);
  sent_frames();
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}

TEST_F(DpdkUdpTx, FullHoldQueueDropsAndCounts) {
  for (std::size_t i = 0; i < kPendingPerLcore; ++i) {
    EXPECT_EQ(net_->send("x", kSipPort, peer_, 100).status, SendStatus::Held);
  }
  const SendResult overflow = net_->send("x", kSipPort, peer_, 100);
  EXPECT_EQ(overflow.status, SendStatus::Dropped);
  EXPECT_EQ(overflow.drop, NetDrop::PendingFull);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::PendingFull), 1u);
  EXPECT_EQ(net_->counters().held.read(), kPendingPerLcore);
  sent_frames();
}

TEST_F(DpdkUdpTx, OffSubnetDestinationGoesToTheGatewaysMac) {
  const Endpoint remote{ip4(kRemoteIp), 5060};
  EXPECT_EQ(net_->send(kResponse, kSipPort, remote, 100).status, SendStatus::Held);
  auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 24, frames[0].begin() + 14 + 28),
            Bytes(kGatewayIp, kGatewayIp + 4))
      << "ARP asks for the gateway, not the destination";
  neighbors_.add_static(ip4(kGatewayIp), kGatewayMac);
  net_->poll(200);
  frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Bytes(frames[0].begin(), frames[0].begin() + 6),
            Bytes(kGatewayMac.addr_bytes, kGatewayMac.addr_bytes + 6));
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 16, frames[0].begin() + 14 + 20),
            Bytes(kRemoteIp, kRemoteIp + 4));
}

// [dataplane] gateway6 given as the router's link-local address: an off-link IPv6 destination
// goes to the router's MAC, found by a neighbour solicitation for that address.
TEST_F(DpdkUdpTx, OffLinkIpv6DestinationGoesToTheGateway6Mac) {
  rebuild(make_test_interface(1500, 0, ip6(kGatewayIp6)), TxOffloads{false, false, true});
  const Endpoint remote{ip6(kRemoteIp6), 5060};
  EXPECT_EQ(net_->send(kResponse, kSipPort, remote, 100).status, SendStatus::Held);
  auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(get16(frames[0], 12), 0x86DD);
  EXPECT_EQ(frames[0][14 + 40], 135) << "a neighbour solicitation";
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 40 + 8, frames[0].begin() + 14 + 40 + 24),
            Bytes(kGatewayIp6, kGatewayIp6 + 16))
      << "for the gateway, not the destination";
  neighbors_.add_static(ip6(kGatewayIp6), kGatewayMac);
  net_->poll(200);
  frames = sent_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Bytes(frames[0].begin(), frames[0].begin() + 6),
            Bytes(kGatewayMac.addr_bytes, kGatewayMac.addr_bytes + 6));
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 8, frames[0].begin() + 14 + 24),
            Bytes(kOurIp6, kOurIp6 + 16));
  EXPECT_EQ(Bytes(frames[0].begin() + 14 + 24, frames[0].begin() + 14 + 40),
            Bytes(kRemoteIp6, kRemoteIp6 + 16));
  // Addresses no datagram may go to stay refused with a gateway: loopback, unspecified,
  // multicast, IPv4-mapped.
  const std::uint8_t martians[][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                       {},
                                       {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9}};
  for (const auto& martian : martians) {
    EXPECT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip6(martian), 5060}, 300).drop,
              NetDrop::Unroutable)
        << int(martian[0]) << ':' << int(martian[15]);
  }
  EXPECT_TRUE(sent_frames().empty());
}

TEST_F(DpdkUdpTx, DestinationsWithNoPathOrTooMuchDataAreRefused) {
  const std::uint8_t off_link6[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  EXPECT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip6(off_link6), 5060}, 1).drop,
            NetDrop::Unroutable);
  EXPECT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip4(kOurIp), 5060}, 1).drop,
            NetDrop::Unroutable);
  EXPECT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip4(kPeerIp), 0}, 1).drop,
            NetDrop::Unroutable);
  // Addresses no datagram may go to (RFC 1122 §3.2.1.3), though a gateway is configured: a
  // Route or Via naming one must not put a frame on the wire.
  const std::uint8_t martians[][4] = {
      {127, 0, 0, 1}, {0, 0, 0, 0}, {224, 0, 0, 75}, {255, 255, 255, 255}, {10, 99, 0, 255}};
  for (const auto& martian : martians) {
    EXPECT_EQ(net_->send(kResponse, kSipPort, Endpoint{ip4(martian), 5060}, 1).drop,
              NetDrop::Unroutable)
        << int(martian[0]) << '.' << int(martian[3]);
  }
  const std::string huge(kMaxUdpPayloadIpv4 + 1, 'x');
  EXPECT_EQ(net_->send(huge, kSipPort, peer_, 1).drop, NetDrop::TooLarge);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::Unroutable), 8u);
  EXPECT_EQ(net_->counters().dropped_for(NetDrop::TooLarge), 1u);
  EXPECT_EQ(sent_frames().size(), 0u);
}

TEST_F(DpdkUdpTx, WithoutMultiSegmentTxEveryFrameIsOneSegment) {
  rebuild(make_test_interface(), TxOffloads{false, false, false});
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  const std::string invite = padded_invite(4096);
  ASSERT_EQ(net_->send(invite, kSipPort, peer_, 100).status, SendStatus::Sent);
  const auto taken = net_->tx().take();
  ASSERT_EQ(taken.size(), 3u);
  std::size_t total = 0;
  for (rte_mbuf* frame : taken) {
    EXPECT_EQ(frame->nb_segs, 1u);
    total += frame->pkt_len - 14 - 20;
    rte_pktmbuf_free(frame);
  }
  EXPECT_EQ(total, 8 + invite.size());
}

TEST_F(DpdkUdpTx, LargestDatagramLeavesInFortyFiveFragments) {
  neighbors_.add_static(ip4(kPeerIp), kPeerMac);
  const std::string largest(kMaxUdpPayloadIpv4, 'L');
  ASSERT_EQ(net_->send(largest, kSipPort, peer_, 100).status, SendStatus::Sent);
  // 65,515 octets of UDP segment / 1480 per fragment; the batch (64) holds them all.
  const auto frames = sent_frames();
  ASSERT_EQ(frames.size(), 45u);
  std::size_t total = 0;
  for (const Bytes& frame : frames)
    total += frame.size() - 14 - 20;
  EXPECT_EQ(total, 8u + kMaxUdpPayloadIpv4);
}

// checksum.hpp against DPDK's own routines, for every datagram length up to a full frame,
// starting at an even and an odd address (the sum is byte-order and alignment independent).
TEST(DpdkChecksum, UdpChecksumsEqualDpdksForEveryLengthAndAlignment) {
  std::mt19937 random(1071);
  alignas(64) std::array<std::uint8_t, 2 * 1600> buffer{};
  for (const std::size_t start : {std::size_t{0}, std::size_t{1}}) {
    for (std::uint16_t udp_length = kUdpHeader; udp_length <= 1480; ++udp_length) {
      for (auto& byte : buffer)
        byte = static_cast<std::uint8_t>(random());
      std::uint8_t* ip4 = buffer.data() + start;
      ip4[0] = 0x45;
      ip4[9] = kProtoUdp;
      store_be16(ip4 + 2, static_cast<std::uint16_t>(kIpv4Header + udp_length));
      std::uint8_t* udp4 = ip4 + kIpv4Header;
      store_be16(udp4 + 4, udp_length);
      store_checksum(udp4 + 6, 0);
      const auto* header4 = reinterpret_cast<const rte_ipv4_hdr*>(ip4);
      const std::uint16_t expected4 = rte_ipv4_udptcp_cksum(header4, udp4);
      const std::uint16_t ours4 =
          udp_checksum(ipv4_pseudo_header_sum(ip4, udp_length, kProtoUdp), udp4, udp_length);
      ASSERT_EQ(ours4, expected4) << "IPv4, " << udp_length << " octets at +" << start;
      store_checksum(udp4 + 6, ours4);
      EXPECT_TRUE(udp_checksum_verifies(ipv4_pseudo_header_sum(ip4, udp_length, kProtoUdp), udp4,
                                        udp_length));
      udp4[udp_length - 1] ^= 0x10;  // one bit of the last octet
      EXPECT_FALSE(udp_checksum_verifies(ipv4_pseudo_header_sum(ip4, udp_length, kProtoUdp), udp4,
                                         udp_length));
      store_checksum(ip4 + 10, 0);
      EXPECT_EQ(ipv4_header_checksum(ip4, kIpv4Header), rte_ipv4_cksum(header4));

      std::uint8_t* ip6 = buffer.data() + start;
      ip6[0] = 0x60;
      ip6[6] = kProtoUdp;
      store_be16(ip6 + 4, udp_length);
      std::uint8_t* udp6 = ip6 + kIpv6Header;
      store_checksum(udp6 + 6, 0);
      const auto* header6 = reinterpret_cast<const rte_ipv6_hdr*>(ip6);
      ASSERT_EQ(udp_checksum(ipv6_pseudo_header_sum(ip6, udp_length, kProtoUdp), udp6, udp_length),
                rte_ipv6_udptcp_cksum(header6, udp6))
          << "IPv6, " << udp_length << " octets at +" << start;
    }
  }
}

// The AVX2 payload sum folds to the same value as the portable one for every length and
// start, and its 32-bit lanes do not overflow over more octets than any datagram holds
// (all-ones octets are the largest words).
TEST(DpdkChecksum, Avx2PayloadSumEqualsThePortableOne) {
  if (!detail::cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  std::mt19937 random(1624);
  std::vector<std::uint8_t> buffer(4096);
  for (auto& byte : buffer)
    byte = static_cast<std::uint8_t>(random());
  for (const std::size_t start : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    for (std::size_t length = 0; length + start <= buffer.size(); ++length) {
      const std::uint8_t* data = buffer.data() + start;
      ASSERT_EQ(checksum_fold(detail::checksum_add_avx2(data, length, 0x1234)),
                checksum_fold(checksum_add(data, length, 0x1234)))
          << length << " octets at +" << start;
    }
  }
  const std::vector<std::uint8_t> ones(3 << 20, 0xff);
  EXPECT_EQ(checksum_fold(detail::checksum_add_avx2(ones.data(), ones.size(), 0)),
            checksum_fold(checksum_add(ones.data(), ones.size(), 0)));
  EXPECT_EQ(checksum_fold(checksum_add_payload(ones.data(), 65535, 0)),
            checksum_fold(checksum_add(ones.data(), 65535, 0)));
}

// A datagram whose sum is all ones would get the checksum 0, which means "none" over IPv4:
// it is sent as 0xffff instead (RFC 768).
TEST(DpdkChecksum, ZeroSumIsSentAsAllOnes) {
  std::array<std::uint8_t, kIpv4Header + kUdpHeader> bytes{};
  // Pseudo-header sum of protocol and length cancelled by a crafted source address.
  const std::uint16_t udp_length = kUdpHeader;
  store_be16(bytes.data() + kIpv4Header + 4, udp_length);
  const std::uint16_t cancel = static_cast<std::uint16_t>(
      ~checksum_fold(ipv4_pseudo_header_sum(bytes.data(), udp_length, kProtoUdp) +
                     checksum_add(bytes.data() + kIpv4Header, udp_length, 0)));
  store_checksum(bytes.data() + 12, cancel);
  EXPECT_EQ(udp_checksum(ipv4_pseudo_header_sum(bytes.data(), udp_length, kProtoUdp),
                         bytes.data() + kIpv4Header, udp_length),
            0xffff);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

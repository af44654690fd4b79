// ARP (RFC 826) answers and learning, ARP requests, and the neighbour table they fill.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dataplane/dpdk/arp.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_arp"));

const rte_ether_addr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// An Ethernet/IPv4 ARP body (RFC 826 field order).
Bytes arp_body(std::uint16_t opcode, const rte_ether_addr& sender_mac,
               const std::uint8_t* sender_ip, const rte_ether_addr& target_mac,
               const std::uint8_t* target_ip) {
  Bytes body = {0x00, 0x01, 0x08, 0x00, 6, 4, 0, 0};
  put16(body, 6, opcode);
  append_mac(body, sender_mac);
  append(body, {sender_ip, 4});
  append_mac(body, target_mac);
  append(body, {target_ip, 4});
  return body;
}

class DpdkArp : public ::testing::Test {
 protected:
  DpdkArp() : interface_(make_test_interface()), neighbors_(64, 1000) {}

  ArpResult handle(const Bytes& bytes, std::uint64_t now, Bytes* reply = nullptr) {
    rte_mbuf* frame = to_mbuf(bytes);
    const Frame parsed = classify(frame, interface_);
    EXPECT_EQ(parsed.kind, FrameKind::Arp);
    const ArpResult result = handle_arp(frame, parsed, interface_, neighbors_, now);
    if (reply != nullptr) *reply = bytes_of(frame);
    rte_pktmbuf_free(frame);
    return result;
  }

  Interface interface_;
  NeighborTable neighbors_;
};

TEST_F(DpdkArp, RequestForOurAddressBecomesTheExactReply) {
  const rte_ether_addr unknown{};
  const Bytes request =
      ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, kPeerMac, kPeerIp, unknown, kOurIp));
  Bytes reply;
  const ArpResult result = handle(request, 5, &reply);
  EXPECT_EQ(result.verdict, ArpVerdict::Reply);
  EXPECT_TRUE(result.learned);
  const Bytes expected = {
      0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // to the asker
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // from us
      0x08, 0x06,                          // ARP
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet / IPv4
      0x00, 0x02,                          // reply
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender: our MAC
      10,   99,   0,    1,                 //         our address
      0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // target: the asker's MAC
      10,   99,   0,    2,                 //         and address
  };
  EXPECT_EQ(reply, expected);
  // RFC 826: the asker is now known, so our answer to it needs no ARP of our own.
  const auto mac = neighbors_.lookup(ip4(kPeerIp), 6);
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(same_mac(*mac, kPeerMac));
}

TEST_F(DpdkArp, VlanTaggedRequestIsAnsweredOnTheSameVlan) {
  const rte_ether_addr unknown{};
  const Bytes request =
      ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, kPeerMac, kPeerIp, unknown, kOurIp), 42);
  Bytes reply;
  EXPECT_EQ(handle(request, 5, &reply).verdict, ArpVerdict::Reply);
  ASSERT_EQ(reply.size(), request.size());
  EXPECT_EQ(get16(reply, 12), 0x8100);
  EXPECT_EQ(get16(reply, 14), 42);
  EXPECT_EQ(get16(reply, 18 + 6), 2);  // opcode: reply
}

TEST_F(DpdkArp, RequestForAnotherHostIsNotAnsweredNorLearned) {
  const rte_ether_addr unknown{};
  const std::uint8_t other[4] = {10, 99, 0, 9};
  const ArpResult result = handle(
      ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, kPeerMac, kPeerIp, unknown, other)), 5);
  EXPECT_EQ(result.verdict, ArpVerdict::Drop);
  EXPECT_EQ(result.drop, NetDrop::ArpNotForUs);
  EXPECT_FALSE(neighbors_.lookup(ip4(kPeerIp), 6).has_value());
}

TEST_F(DpdkArp, KnownSenderIsRefreshedByAnyArpItSends) {
  ASSERT_EQ(neighbors_.learn(ip4(kPeerIp), kPeerMac, 0), NeighborTable::Learned::Added);
  const rte_ether_addr moved{{0x02, 0, 0, 0, 0, 0x22}};
  // A gratuitous announcement (sender = target, RFC 5227 §2.3) after a fail-over.
  const ArpResult result = handle(
      ethernet(kBroadcast, moved, 0x0806, arp_body(1, moved, kPeerIp, kBroadcast, kPeerIp)), 900);
  EXPECT_EQ(result.drop, NetDrop::ArpNotForUs);
  EXPECT_TRUE(result.learned);
  const auto mac = neighbors_.lookup(ip4(kPeerIp), 1500);  // lifetime restarted at 900
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(same_mac(*mac, moved));
}

TEST_F(DpdkArp, ReplyToUsTeachesTheTableWithoutAnswering) {
  const ArpResult result = handle(
      ethernet(kOurMac, kGatewayMac, 0x0806, arp_body(2, kGatewayMac, kGatewayIp, kOurMac, kOurIp)),
      5);
  EXPECT_EQ(result.verdict, ArpVerdict::Consumed);
  EXPECT_TRUE(result.learned);
  EXPECT_TRUE(neighbors_.lookup(ip4(kGatewayIp), 6).has_value());
}

TEST_F(DpdkArp, ClaimsOnOurAddressAndMulticastSendersAreRefused) {
  const rte_ether_addr unknown{};
  const ArpResult conflict = handle(
      ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, kPeerMac, kOurIp, unknown, kOurIp)), 5);
  EXPECT_EQ(conflict.drop, NetDrop::ArpMalformed);
  const rte_ether_addr multicast{{0x01, 0, 0x5e, 0, 0, 1}};
  const ArpResult bad_sender = handle(
      ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, multicast, kPeerIp, unknown, kOurIp)), 5);
  EXPECT_EQ(bad_sender.drop, NetDrop::ArpMalformed);
  EXPECT_FALSE(neighbors_.lookup(ip4(kPeerIp), 6).has_value());
}

TEST_F(DpdkArp, AddressProbeIsAnsweredButNotLearned) {
  const rte_ether_addr unknown{};
  const std::uint8_t zero[4] = {};
  Bytes reply;
  const ArpResult result =
      handle(ethernet(kBroadcast, kPeerMac, 0x0806, arp_body(1, kPeerMac, zero, unknown, kOurIp)),
             5, &reply);
  EXPECT_EQ(result.verdict, ArpVerdict::Reply);
  EXPECT_FALSE(result.learned);
  EXPECT_EQ(Bytes(reply.begin() + 38, reply.begin() + 42), Bytes(4, 0));  // target IP 0.0.0.0
}

TEST_F(DpdkArp, RequestWeSendIsABroadcastWhoHas) {
  rte_be32_t target;
  std::memcpy(&target, kGatewayIp, 4);
  rte_mbuf* frame = build_arp_request(test_pool(), interface_, target);
  ASSERT_NE(frame, nullptr);
  Bytes expected = ethernet(kBroadcast, kOurMac, 0x0806,
                            arp_body(1, kOurMac, kOurIp, rte_ether_addr{}, kGatewayIp));
  expected.resize(60, 0);  // padded to the Ethernet minimum (RFC 894)
  EXPECT_EQ(bytes_of(frame), expected);
  rte_pktmbuf_free(frame);
}

// --- the neighbour table ---------------------------------------------------------------------

TEST(DpdkNeighborTable, LearnedEntriesExpireStaticOnesDoNot) {
  NeighborTable table(16, 100);
  EXPECT_EQ(table.learn(ip4(kPeerIp), kPeerMac, 1000), NeighborTable::Learned::Added);
  EXPECT_TRUE(table.add_static(ip4(kGatewayIp), kGatewayMac));
  EXPECT_TRUE(table.lookup(ip4(kPeerIp), 1099).has_value());
  EXPECT_FALSE(table.lookup(ip4(kPeerIp), 1100).has_value());
  EXPECT_TRUE(table.lookup(ip4(kGatewayIp), 1'000'000'000).has_value());
  EXPECT_EQ(table.learn(ip4(kGatewayIp), kPeerMac, 5), NeighborTable::Learned::Static);
  EXPECT_TRUE(same_mac(*table.lookup(ip4(kGatewayIp), 6), kGatewayMac));
  EXPECT_EQ(table.learn(ip4(kPeerIp), kPeerMac, 2000), NeighborTable::Learned::Updated);
  EXPECT_TRUE(table.lookup(ip4(kPeerIp), 2050).has_value());
}

// The control lcore refreshes an entry at every ARP reply or NA from its owner while workers
// look it up. A refresh that keeps the MAC moves only the expiry, so a lookup never misses
// during one: a miss would park the worker's datagram and could reorder it behind a later one.
// A new MAC is a rewrite, seen by the next lookup.
TEST(DpdkNeighborTable, RefreshesNeverHideTheEntryFromReaders) {
  NeighborTable table(16, 1'000'000);
  table.learn(ip4(kPeerIp), kPeerMac, 0);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups{0};
  std::atomic<std::uint64_t> misses{0};
  std::thread worker([&] {  // bounded: until the writer is done, or 20 s
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < give_up) {
      for (int i = 0; i < 1000; ++i) {
        if (!table.lookup(ip4(kPeerIp), 1)) misses.fetch_add(1, std::memory_order_relaxed);
      }
      lookups.fetch_add(1000, std::memory_order_relaxed);
    }
  });
  while (lookups.load() == 0)
    std::this_thread::yield();
  for (std::uint64_t i = 0; i < 2'000'000; ++i)
    table.learn(ip4(kPeerIp), kPeerMac, i % 1000);
  stop = true;
  worker.join();
  EXPECT_EQ(misses.load(), 0u) << "of " << lookups.load() << " lookups during refreshes";
  EXPECT_EQ(table.learn(ip4(kPeerIp), kGatewayMac, 5), NeighborTable::Learned::Updated);
  EXPECT_TRUE(same_mac(*table.lookup(ip4(kPeerIp), 6), kGatewayMac)) << "a new MAC is seen";
  EXPECT_TRUE(table.update_if_present(ip4(kPeerIp), kPeerMac, 2'000'000));
  EXPECT_TRUE(same_mac(*table.lookup(ip4(kPeerIp), 2'500'000), kPeerMac)) << "expiry moved";
}

TEST(DpdkNeighborTable, Ipv4AndIpv6KeysNeverCollide) {
  NeighborTable table(16, 100);
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 0, 2};
  EXPECT_EQ(table.learn(ip4(kPeerIp), kPeerMac, 0), NeighborTable::Learned::Added);
  EXPECT_FALSE(table.lookup(ip6(kPeerIp6), 1).has_value());
  EXPECT_EQ(table.learn(ip6(kPeerIp6), kGatewayMac, 0), NeighborTable::Learned::Added);
  EXPECT_TRUE(same_mac(*table.lookup(ip6(kPeerIp6), 1), kGatewayMac));
  EXPECT_TRUE(same_mac(*table.lookup(ip4(kPeerIp), 1), kPeerMac));
  EXPECT_FALSE(table.lookup(ip6(mapped), 1).has_value()) << "::ffff:10.99.0.2 is not 10.99.0.2";
}

TEST(DpdkNeighborTable, FullBucketEvictsTheEntryClosestToExpiry) {
  NeighborTable table(8, 1000);  // one bucket of eight
  for (std::uint8_t host = 1; host <= 8; ++host) {
    const std::uint8_t address[4] = {10, 99, 0, host};
    EXPECT_EQ(table.learn(ip4(address), kPeerMac, host), NeighborTable::Learned::Added);
  }
  const std::uint8_t ninth[4] = {10, 99, 0, 9};
  EXPECT_EQ(table.learn(ip4(ninth), kPeerMac, 20), NeighborTable::Learned::Added);
  const std::uint8_t first[4] = {10, 99, 0, 1};
  const std::uint8_t second[4] = {10, 99, 0, 2};
  EXPECT_FALSE(table.lookup(ip4(first), 21).has_value());  // learned earliest: evicted
  EXPECT_TRUE(table.lookup(ip4(second), 21).has_value());
  EXPECT_TRUE(table.lookup(ip4(ninth), 21).has_value());
}

TEST(DpdkNeighborTable, BucketOfStaticEntriesRefusesDynamicOnes) {
  NeighborTable table(8, 1000);
  for (std::uint8_t host = 1; host <= 8; ++host) {
    const std::uint8_t address[4] = {10, 99, 0, host};
    EXPECT_TRUE(table.add_static(ip4(address), kPeerMac));
  }
  const std::uint8_t ninth[4] = {10, 99, 0, 9};
  EXPECT_EQ(table.learn(ip4(ninth), kPeerMac, 0), NeighborTable::Learned::Full);
  EXPECT_FALSE(table.add_static(ip4(ninth), kPeerMac));
}

// --- LcoreNet::answer on the control lcore ------------------------------------------------------

TEST(DpdkArpControl, AnswerQueuesTheReplyAndCountsIt) {
  const Interface interface = make_test_interface();
  NeighborTable neighbors(64, 1'000'000);
  auto created = LcoreNet::create(test_lcore_settings(interface, neighbors));
  ASSERT_TRUE(created.value) << created.error;
  LcoreNet& control = *created.value;
  const rte_ether_addr unknown{};
  control.answer(to_mbuf(ethernet(kBroadcast, kPeerMac, 0x0806,
                                  arp_body(1, kPeerMac, kPeerIp, unknown, kOurIp))),
                 10);
  const std::uint8_t other[4] = {10, 99, 0, 9};
  control.answer(to_mbuf(ethernet(kBroadcast, kPeerMac, 0x0806,
                                  arp_body(1, kPeerMac, kPeerIp, unknown, other))),
                 11);
  const auto frames = control.tx().take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(get16(bytes_of(frames[0]), 20), 2);  // a reply
  rte_pktmbuf_free(frames[0]);
  EXPECT_EQ(control.counters().arp_replies.read(), 1u);
  EXPECT_EQ(control.counters().neighbors_learned.read(), 2u);  // added, then refreshed
  EXPECT_EQ(control.counters().dropped_for(NetDrop::ArpNotForUs), 1u);
}

// RFC 5227 §2.3 / RFC 4861 §7.2.6: the control lcore of a running dataplane announces its
// addresses from its first poll, twice, two seconds apart (a host taking over an address is
// found at once, not when neighbours' caches time out).
TEST(DpdkArpControl, ControlLcoreAnnouncesItsAddressesTwiceTwoSecondsApart) {
  const Interface interface = make_test_interface();
  NeighborTable neighbors(64, 1'000'000);
  LcoreSettings settings = test_lcore_settings(interface, neighbors);  // 1 MHz clock
  settings.announce = true;
  auto created = LcoreNet::create(settings);
  ASSERT_TRUE(created.value) << created.error;
  LcoreNet& control = *created.value;

  Bytes announcement =
      ethernet(kBroadcast, kOurMac, 0x0806, arp_body(1, kOurMac, kOurIp, rte_ether_addr{}, kOurIp));
  announcement.resize(60, 0);  // the minimum Ethernet frame (RFC 894)
  const std::uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  Bytes body = {136, 0, 0, 0, 0x20, 0, 0, 0};  // override, not solicited
  append(body, {kOurIp6, 16});
  body.push_back(2);  // target link-layer address
  body.push_back(1);
  append_mac(body, kOurMac);
  const rte_ether_addr all_nodes_mac{{0x33, 0x33, 0, 0, 0, 1}};
  const Bytes advertisement =
      ethernet(all_nodes_mac, kOurMac, 0x86DD,
               ipv6(kOurIp6, all_nodes, 58, icmp6(kOurIp6, all_nodes, body), 255));

  const auto sent_at = [&control](std::uint64_t now) {
    control.poll(now);
    std::vector<Bytes> frames;
    for (rte_mbuf* frame : control.tx().take()) {
      frames.push_back(bytes_of(frame));
      rte_pktmbuf_free(frame);
    }
    return frames;
  };
  EXPECT_EQ(sent_at(10), (std::vector<Bytes>{announcement, advertisement}));
  EXPECT_TRUE(sent_at(1'000'010).empty()) << "one second later";
  EXPECT_EQ(sent_at(2'000'010), (std::vector<Bytes>{announcement, advertisement}));
  EXPECT_TRUE(sent_at(9'000'000).empty()) << "twice only";
  EXPECT_EQ(control.counters().announcements.read(), 4u);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

// The ethdev port over a net_ring vdev (no root, no NIC): net_ring's TX queue i is the same
// ring as its RX queue i, so what a worker transmits comes back on its RX queue, and what
// the control lcore transmits (its own TX queue, 1 with one worker) waits in ring 1.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/port.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_port"));

constexpr std::uint64_t kHz = 1'000'000;
const rte_ether_addr kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

class DpdkPort : public ::testing::Test {
 protected:
  // A port can be configured once per process (closing it removes the vdev), so the suite
  // shares it.
  static void SetUpTestSuite() {
    std::uint16_t id = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name("net_ring0", &id), 0);
    PortSettings settings;
    settings.port_id = id;
    settings.workers = 1;
    settings.rx_pool = test_pool();
    auto opened = Port::open(settings);
    ASSERT_TRUE(opened.port) << opened.error;
    port_ = std::move(opened.port);
  }
  static void TearDownTestSuite() { port_.reset(); }

  static std::unique_ptr<LcoreNet> make_net(const Interface& interface, NeighborTable& neighbors,
                                            std::uint16_t tx_queue) {
    LcoreSettings settings;
    settings.interface = &interface;
    settings.neighbors = &neighbors;
    settings.pool = test_pool();
    settings.indirect_pool = test_indirect_pool();
    settings.port = port_.get();
    settings.tx_queue = tx_queue;
    settings.offloads = port_->tx_offloads();
    settings.tsc_hz = kHz;
    auto created = LcoreNet::create(settings);
    EXPECT_TRUE(created.value) << created.error;
    return std::move(created.value);
  }

  // Puts a frame on the wire of RX queue 0 (through TX queue 0 of the ring).
  static void inject(const Bytes& bytes) {
    rte_mbuf* frame = to_mbuf(bytes);
    ASSERT_EQ(port_->transmit(0, {&frame, 1}), 1);
  }

  static std::vector<rte_mbuf*> receive_all() {
    std::array<rte_mbuf*, kBurst> burst{};
    const std::uint16_t count = port_->receive(0, burst);
    return {burst.begin(), burst.begin() + count};
  }

  static std::unique_ptr<Port> port_;
};

std::unique_ptr<Port> DpdkPort::port_;

TEST_F(DpdkPort, OpensOneRxQueuePerWorkerAndOneMoreTxQueue) {
  EXPECT_EQ(port_->workers(), 1);
  EXPECT_EQ(port_->control_queue(), 1);
  EXPECT_EQ(port_->mtu(), 1500);
  const std::string description = port_->describe();
  EXPECT_NE(description.find("(net_ring): mac "), std::string::npos) << description;
  EXPECT_NE(description.find("1 RX / 2 TX queues, mtu 1500, rss not needed"), std::string::npos)
      << description;
}

TEST_F(DpdkPort, ImpossibleSettingsAreRefusedWithTheReason) {
  PortSettings missing;
  missing.port_id = 7;
  missing.rx_pool = test_pool();
  EXPECT_EQ(Port::open(missing).error.rfind("port 7 does not exist", 0), 0u);
  PortSettings too_many;
  too_many.port_id = port_->id();
  too_many.workers = 20;  // net_ring has 16 queues
  too_many.rx_pool = test_pool();
  const auto refused = Port::open(too_many);
  EXPECT_FALSE(refused.port);
  EXPECT_NE(refused.error.find("20 workers need 20 / 21"), std::string::npos) << refused.error;
}

TEST_F(DpdkPort, ArpThenSipRoundTripThroughTheRings) {
  InterfaceSettings settings;
  settings.address = *lb::parse_ip_prefix("10.99.0.1/24");
  settings.sip_ports = kOurPorts;
  const Interface interface = make_interface(settings, port_->mac()).value;
  NeighborTable neighbors(64, 60 * kHz);
  auto worker = make_net(interface, neighbors, 0);
  auto control = make_net(interface, neighbors, port_->control_queue());

  // 1. The peer asks who has 10.99.0.1: the worker hands the frame to the control lcore,
  //    whose reply leaves on the control TX queue.
  Bytes ask = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  append_mac(ask, kPeerMac);
  append(ask, {kPeerIp, 4});
  append(ask, Bytes(6, 0));
  append(ask, {kOurIp, 4});
  inject(ethernet(kBroadcast, kPeerMac, 0x0806, ask));
  auto frames = receive_all();
  ASSERT_EQ(frames.size(), 1u);
  const auto received = worker->receive(frames[0], 1);
  ASSERT_EQ(received.verdict, LcoreNet::Verdict::Control);
  control->answer(received.frame, 2);
  control->poll(3);
  rte_ring* control_ring = rte_ring_lookup("ETH_RXTX1_net_ring0");
  ASSERT_NE(control_ring, nullptr);
  void* reply_pointer = nullptr;
  ASSERT_EQ(rte_ring_dequeue(control_ring, &reply_pointer), 0);
  const Bytes reply = bytes_of(static_cast<rte_mbuf*>(reply_pointer));
  rte_pktmbuf_free(static_cast<rte_mbuf*>(reply_pointer));
  EXPECT_EQ(Bytes(reply.begin(), reply.begin() + 6),
            Bytes(kPeerMac.addr_bytes, kPeerMac.addr_bytes + 6));
  EXPECT_EQ(get16(reply, 20), 2) << "ARP reply";
  EXPECT_EQ(Bytes(reply.begin() + 22, reply.begin() + 28),
            Bytes(port_->mac().addr_bytes, port_->mac().addr_bytes + 6));
  EXPECT_EQ(control->counters().tx_frames.read(), 1u);

  // 2. The peer sends OPTIONS; the worker answers it. The peer's MAC was learned from its
  //    ARP request, so the answer leaves at once, through TX queue 0 and back to RX queue 0.
  const std::string_view options = "OPTIONS sip:10.99.0.1 SIP/2.0\r\nCall-ID: p1\r\n\r\n";
  const Bytes segment = udp(kPeerIp, kOurIp, kPeerPort, kSipPort, options);
  inject(ethernet(port_->mac(), kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, segment)));
  frames = receive_all();
  ASSERT_EQ(frames.size(), 1u);
  const auto sip = worker->receive(frames[0], 10);
  ASSERT_EQ(sip.verdict, LcoreNet::Verdict::Sip);
  const Datagram datagram = read_datagram(sip.frame, worker->scratch());
  EXPECT_EQ(datagram.payload, options);
  const std::string_view answer = "SIP/2.0 200 OK\r\nCall-ID: p1\r\n\r\n";
  EXPECT_EQ(worker->send(answer, datagram.destination.port, datagram.source, 11).status,
            SendStatus::Sent);
  rte_pktmbuf_free(sip.frame);
  worker->poll(12);
  frames = receive_all();
  ASSERT_EQ(frames.size(), 1u);
  const Bytes wire = bytes_of(frames[0]);
  rte_pktmbuf_free(frames[0]);
  const std::uint16_t id = get16(wire, 14 + 4);
  const Bytes expected =
      ethernet(kPeerMac, port_->mac(), 0x0800,
               ipv4(kOurIp, kPeerIp, 17, udp(kOurIp, kPeerIp, kSipPort, kPeerPort, answer), id));
  EXPECT_EQ(wire, expected);
  EXPECT_EQ(port_->tx_dropped(0), 0u);
  EXPECT_EQ(worker->counters().tx_frames.read(), 1u);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

// The exception path to the kernel (dataplane/dpdk/exception_path.hpp): what a worker would
// drop as "not ours to serve" reaches the kernel's TAP unchanged through the control lcore,
// ARP replies are copied there, and what the kernel sends leaves by the NIC. The TAP is a
// net_ring port here (rte_eth_from_rings), so the test reads and writes the kernel's side as
// rings.
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>

#include <memory>
#include <vector>

#include "dataplane/dpdk/exception_path.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/port.hpp"
#include "tests/unit/dpdk_test_support.hpp"

namespace sipline::dataplane::dpdk {
namespace {

using namespace testing;  // NOLINT: the test support vocabulary

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("dpdk_exception_path"));

// Frames a host serves but the dataplane does not: TCP (over IPv4 and IPv6), UDP to another
// port, ICMP timestamp, LLDP (to our MAC).
std::vector<Bytes> frames_for_the_kernel() {
  const Bytes tcp_syn = {0xc3, 0x50, 0x00, 0x16, 0,    0,    0, 1, 0, 0,
                         0,    0,    0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
  Bytes timestamp = {13, 0, 0, 0, 0x42, 0x42, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  put16(timestamp, 2, internet_checksum(timestamp));
  const Bytes snmp = udp(kPeerIp, kOurIp, 40000, 161, "snmp get-request");
  return {ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 6, tcp_syn)),
          ethernet(kOurMac, kPeerMac, 0x86DD, ipv6(kPeerIp6, kOurIp6, 6, tcp_syn)),
          ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 17, snmp)),
          ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 1, timestamp)),
          ethernet(kOurMac, kPeerMac, 0x88cc, Bytes(46, 0x02))};
}

Bytes arp_frame(std::uint16_t opcode, const rte_ether_addr& destination) {
  Bytes body = {0x00, 0x01, 0x08, 0x00, 6, 4, 0, 0};
  put16(body, 6, opcode);
  append_mac(body, kPeerMac);
  append(body, {kPeerIp, 4});
  append_mac(body, opcode == 1 ? rte_ether_addr{} : kOurMac);
  append(body, {kOurIp, 4});
  return ethernet(destination, kPeerMac, 0x0806, body);
}

Bytes taken_bytes(TxBatch& batch) {
  const std::span<rte_mbuf*> frames = batch.take();
  if (frames.size() != 1) {
    ADD_FAILURE() << frames.size() << " frames where one was expected";
    for (rte_mbuf* frame : frames)
      rte_pktmbuf_free(frame);
    return {};
  }
  Bytes bytes = bytes_of(frames[0]);
  rte_pktmbuf_free(frames[0]);
  return bytes;
}

// A worker lcore (0) and the control lcore (1) of one port, no NIC (frames collect in tx()).
class DpdkExceptionPath : public ::testing::Test {
 protected:
  DpdkExceptionPath() : interface_(make_test_interface()), neighbors_(64, 1'000'000) {}

  std::unique_ptr<LcoreNet> make(std::uint16_t lcore_index, bool exception_path,
                                 Port* tap = nullptr) {
    LcoreSettings settings = test_lcore_settings(interface_, neighbors_);
    settings.lcore_index = lcore_index;
    settings.lcore_count = 2;
    settings.exception_path = exception_path;
    settings.exception_port = tap;
    auto created = LcoreNet::create(settings);
    EXPECT_TRUE(created.value) << created.error;
    return std::move(created.value);
  }

  // What the control lcore sends the kernel for `bytes` received by the worker.
  Bytes punted(LcoreNet& worker, LcoreNet& control, const Bytes& bytes) {
    const LcoreNet::Received received = worker.receive(to_mbuf(bytes), 1);
    EXPECT_EQ(received.verdict, LcoreNet::Verdict::Kernel);
    if (received.verdict != LcoreNet::Verdict::Kernel) return {};
    control.to_kernel(received.frame);
    return taken_bytes(control.exception()->to_kernel_batch());
  }

  Interface interface_;
  NeighborTable neighbors_;
};

TEST_F(DpdkExceptionPath, WhatTheDataplaneDoesNotServeReachesTheKernelUnchanged) {
  const auto worker = make(0, true);
  const auto control = make(1, true);
  ASSERT_EQ(worker->exception(), nullptr) << "only the control lcore talks to the kernel";
  ASSERT_NE(control->exception(), nullptr);
  const unsigned before = rte_mempool_avail_count(test_pool());
  const std::vector<Bytes> frames = frames_for_the_kernel();
  for (const Bytes& frame : frames)
    EXPECT_EQ(punted(*worker, *control, frame), frame);
  EXPECT_EQ(worker->counters().kernel_frames.read(), frames.size());
  EXPECT_EQ(worker->counters().control_frames.read(), 0u);
  for (std::size_t reason = 0; reason < kNetDropCount; ++reason) {
    EXPECT_EQ(worker->counters().dropped[reason].read(), 0u) << net_drop_name(NetDrop(reason));
    EXPECT_EQ(control->counters().dropped[reason].read(), 0u) << net_drop_name(NetDrop(reason));
  }
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}

TEST_F(DpdkExceptionPath, WithoutItTheSameFramesAreDroppedByReason) {
  const auto worker = make(0, false);
  for (const Bytes& frame : frames_for_the_kernel())
    EXPECT_EQ(worker->receive(to_mbuf(frame), 1).verdict, LcoreNet::Verdict::Consumed);
  const NetCounters& counters = worker->counters();
  EXPECT_EQ(counters.dropped_for(NetDrop::Protocol), 2u);
  EXPECT_EQ(counters.dropped_for(NetDrop::UnknownPort), 1u);
  EXPECT_EQ(counters.dropped_for(NetDrop::IcmpType), 1u);
  EXPECT_EQ(counters.dropped_for(NetDrop::EtherType), 1u);
}

// Broken or foreign frames are not the kernel's business either: still dropped and counted.
TEST_F(DpdkExceptionPath, BrokenAndForeignFramesStayDropped) {
  const auto worker = make(0, true);
  Bytes bad_checksum = sip_frame_v4("OPTIONS sip:x SIP/2.0\r\n\r\n");
  bad_checksum[50] ^= 0x20;
  const std::uint8_t other_host[4] = {10, 99, 0, 77};
  const Bytes tcp(20, 0);
  const Bytes foreign = ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, other_host, 6, tcp));
  Bytes bad_header = ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 6, tcp));
  bad_header[14 + 8] = 1;  // TTL changed, header checksum not updated
  for (const Bytes& frame : {bad_checksum, foreign, bad_header})
    EXPECT_EQ(worker->receive(to_mbuf(frame), 1).verdict, LcoreNet::Verdict::Consumed);
  EXPECT_EQ(worker->counters().dropped_for(NetDrop::UdpChecksum), 1u);
  EXPECT_EQ(worker->counters().dropped_for(NetDrop::NotOurAddress), 1u);
  EXPECT_EQ(worker->counters().dropped_for(NetDrop::Ipv4Checksum), 1u);
  EXPECT_EQ(worker->counters().kernel_frames.read(), 0u);
}

// The kernel resolves its own next hops: it gets the ARP replies sent to our address (after
// the dataplane learned from them), never the requests the dataplane answers itself.
TEST_F(DpdkExceptionPath, ArpRepliesAreCopiedToTheKernelRequestsAreAnswered) {
  const auto control = make(1, true);
  const Bytes reply = arp_frame(2, kOurMac);
  control->answer(to_mbuf(reply), 5);
  EXPECT_EQ(taken_bytes(control->exception()->to_kernel_batch()), reply);
  EXPECT_TRUE(neighbors_.lookup(ipv4_address_at(kPeerIp), 5).has_value()) << "learned as well";

  const rte_ether_addr broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  control->answer(to_mbuf(arp_frame(1, broadcast)), 6);
  EXPECT_EQ(control->exception()->to_kernel_batch().size(), 0u);
  EXPECT_EQ(control->tx().take().size(), 1u) << "the dataplane's own ARP reply";
}

// The same for IPv6: a solicited neighbour advertisement to us (RFC 4861 §4.4, with the
// target's link-layer address) is learned and copied to the kernel.
TEST_F(DpdkExceptionPath, NeighbourAdvertisementsAreCopiedToTheKernel) {
  const auto control = make(1, true);
  Bytes advertisement = {136, 0, 0, 0, 0x60, 0, 0, 0};  // solicited, override
  append(advertisement, {kPeerIp6, 16});
  advertisement.push_back(2);  // target link-layer address option, 8 octets
  advertisement.push_back(1);
  append_mac(advertisement, kPeerMac);
  const Bytes frame =
      ethernet(kOurMac, kPeerMac, 0x86DD,
               ipv6(kPeerIp6, kOurIp6, 58, icmp6(kPeerIp6, kOurIp6, advertisement), 255));
  const unsigned before = rte_mempool_avail_count(test_pool());
  control->answer(to_mbuf(frame), 5);
  EXPECT_EQ(taken_bytes(control->exception()->to_kernel_batch()), frame);
  EXPECT_TRUE(neighbors_.lookup(ipv6_address_at(kPeerIp6), 5).has_value()) << "learned as well";
  EXPECT_EQ(rte_mempool_avail_count(test_pool()), before);
}

// --- with a TAP port (net_ring standing in for net_tap) ---------------------------------------

struct RingTap {
  rte_ring* from_kernel = nullptr;  // the port's RX ring: what the kernel sends
  rte_ring* to_kernel = nullptr;    // the port's TX rings: what the kernel receives
  rte_ring* to_kernel_spare = nullptr;
  std::unique_ptr<Port> port;
};

RingTap make_ring_tap() {
  RingTap tap;
  tap.from_kernel = rte_ring_create("ex_rx", 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  tap.to_kernel = rte_ring_create("ex_tx0", 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  tap.to_kernel_spare =
      rte_ring_create("ex_tx1", 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* rx[] = {tap.from_kernel};
  rte_ring* tx[] = {tap.to_kernel, tap.to_kernel_spare};
  const int id = rte_eth_from_rings("ex_tap", rx, 1, tx, 2, SOCKET_ID_ANY);
  EXPECT_GE(id, 0);
  auto opened = Port::open(PortSettings{static_cast<std::uint16_t>(id), 1, 1500, test_pool()});
  EXPECT_TRUE(opened.port) << opened.error;
  tap.port = std::move(opened.port);
  return tap;
}

TEST_F(DpdkExceptionPath, FramesCrossTheTapBothWays) {
  RingTap tap = make_ring_tap();
  ASSERT_TRUE(tap.port);
  const auto worker = make(0, true);
  const auto control = make(1, true, tap.port.get());

  // NIC -> kernel: punted by the worker, sent to the TAP by the control lcore's poll().
  const Bytes syn = frames_for_the_kernel()[0];
  const LcoreNet::Received received = worker->receive(to_mbuf(syn), 1);
  ASSERT_EQ(received.verdict, LcoreNet::Verdict::Kernel);
  control->to_kernel(received.frame);
  // Kernel -> NIC: the kernel's SYN-ACK (any frame) read from the TAP, out on the NIC.
  const Bytes syn_ack = ethernet(kPeerMac, kOurMac, 0x0800, ipv4(kOurIp, kPeerIp, 6, Bytes(20, 1)));
  ASSERT_EQ(rte_ring_enqueue(tap.from_kernel, to_mbuf(syn_ack)), 0);
  control->poll(2);

  void* to_kernel = nullptr;
  ASSERT_EQ(rte_ring_dequeue(tap.to_kernel, &to_kernel), 0);
  EXPECT_EQ(bytes_of(static_cast<rte_mbuf*>(to_kernel)), syn);
  rte_pktmbuf_free(static_cast<rte_mbuf*>(to_kernel));
  EXPECT_EQ(rte_ring_count(tap.to_kernel) + rte_ring_count(tap.to_kernel_spare), 0u);
  // No NIC port in this test: the control lcore's NIC batch keeps the frame.
  EXPECT_EQ(taken_bytes(control->tx()), syn_ack);

  const NetCounters& kernel = control->exception()->counters();
  EXPECT_EQ(kernel.tx_frames.read(), 1u);
  EXPECT_EQ(kernel.rx_frames.read(), 1u);
}

}  // namespace
}  // namespace sipline::dataplane::dpdk

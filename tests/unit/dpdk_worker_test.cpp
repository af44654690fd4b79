// The DPDK workers and the control lcore's duty on a real ethdev without a NIC: a net_ring
// port (rte_eth_from_rings) whose RX rings the test fills with frames written byte by byte
// and whose TX rings it reads back, so every assertion is on the exact bytes a NIC would put
// on the wire. Two workers (RX/TX queues 0 and 1) and the control lcore (TX queue 2), driven
// step by step from the test thread.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/dpdk/classify.hpp"
#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/pools.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk_worker.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/source_guard.hpp"
#include "sip/branch.hpp"
#include "sip/call_id_scan.hpp"
#include "sip/message.hpp"
#include "tests/unit/dpdk_test_support.hpp"
#include "tests/unit/loopback_socket.hpp"

namespace sipline::dataplane {
namespace {

using namespace dpdk::testing;  // NOLINT: the test support vocabulary
using dpdk::Interface;

[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new dpdk::testing::EalEnvironment("dpdk_worker"));

constexpr std::uint16_t kWorkers = 2;
constexpr std::uint16_t kNextHopPort = 5070;
const rte_ether_addr kNextHopMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}};
const std::uint8_t kNextHopIp[4] = {10, 99, 0, 3};

constexpr const char* kConfig = R"toml(
[listen]
udp = ["10.99.0.1:5060"]
[dataplane]
io = "dpdk"
workers = 2
eal = ["--no-pci"]
port = 0
address = "10.99.0.1/24"
[domain]
names = ["sipline.test", "10.99.0.1"]
[registrar]
store = "memory"
auth = false
[[users]]
user = "1002"
password = "pw-1002"
[[routes]]
name = "trunk"
user_prefix = "7"
action = "forward"
target = "sip:10.99.0.3:5070"
)toml";

// The port, its rings and the pools: EAL objects live as long as the process, so they are
// made once for the whole program.
struct RingPort {
  std::array<rte_ring*, kWorkers> rx{};
  std::array<rte_ring*, kWorkers + 1> tx{};
  std::unique_ptr<dpdk::PacketPools> pools;
  std::unique_ptr<dpdk::Port> port;

  static RingPort& get() {
    static RingPort* instance = make();
    return *instance;
  }

 private:
  static RingPort* make() {
    auto* made = new RingPort();
    for (std::size_t i = 0; i < made->rx.size(); ++i) {
      made->rx[i] = rte_ring_create(("wt_rx" + std::to_string(i)).c_str(), 1024, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    for (std::size_t i = 0; i < made->tx.size(); ++i) {
      made->tx[i] = rte_ring_create(("wt_tx" + std::to_string(i)).c_str(), 1024, SOCKET_ID_ANY,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    const int port_id = rte_eth_from_rings("wt_ring", made->rx.data(), kWorkers, made->tx.data(),
                                           kWorkers + 1, SOCKET_ID_ANY);
    EXPECT_GE(port_id, 0);
    auto pools = dpdk::PacketPools::create(kWorkers, 3 * 64, SOCKET_ID_ANY, "wt");
    EXPECT_TRUE(pools.pools) << pools.error;
    made->pools = std::move(pools.pools);
    auto opened = dpdk::Port::open(dpdk::PortSettings{static_cast<std::uint16_t>(port_id), kWorkers,
                                                      1500, made->pools->packets()});
    EXPECT_TRUE(opened.port) << opened.error;
    made->port = std::move(opened.port);
    return made;
  }
};

rte_ring* make_ring(const std::string& name) {
  static int serial = 0;
  return rte_ring_create((name + std::to_string(serial++)).c_str(), 64, SOCKET_ID_ANY,
                         RING_F_SC_DEQ | RING_F_EXACT_SZ);
}

// A Call-ID that worker `owner` of kWorkers owns.
std::string call_id_owned_by(std::size_t owner, const std::string& stem) {
  for (int i = 0;; ++i) {
    const std::string call_id = stem + "-" + std::to_string(i) + "@10.99.0.2";
    if (sip::owner_of(call_id, kWorkers) == owner) return call_id;
  }
}

std::string invite(const std::string& call_id, const std::string& extra = {}) {
  return "INVITE sip:7000@10.99.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.test>;tag=from-1\r\n"
         "To: <sip:7000@10.99.0.1>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 INVITE\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

// The UDP payload of an unfragmented IPv4 frame.
std::string payload_of(const Bytes& frame) {
  return std::string(frame.begin() + 14 + 20 + 8, frame.end());
}

class DpdkWorkerTest : public ::testing::Test {
 protected:
  DpdkWorkerTest()
      : world_(RingPort::get()),
        neighbors_(64, 3600 * rte_get_tsc_hz()),
        location_(kWorkers),
        store_(std::make_unique<MemoryStore>()),
        counters_(new WorkerCounters[kWorkers]) {
    const config::LoadResult loaded = config::load_config_text(kConfig, "dpdk_worker_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    interface_ = make_test_interface();
    neighbors_.add_static(ip4(kPeerIp), kPeerMac);
    neighbors_.add_static(ip4(kNextHopIp), kNextHopMac);
    for (std::uint16_t i = 0; i < kWorkers; ++i)
      rings_.inbox.push_back(make_ring("wt_in"));
    rings_.control_frames = make_ring("wt_ctl");
    rings_.registers = make_ring("wt_reg");
    drain_tx();

    shared_.pipeline = context_.get();
    shared_.location = &location_;
    shared_.counters = counters_.get();
    shared_.port = world_.port.get();
    shared_.rings = &rings_;
    shared_.workers = kWorkers;
    shared_.clock = TscClock::now();
    shared_.stop = &stop_;
    for (std::uint16_t i = 0; i < kWorkers; ++i) {
      workers_.push_back(std::make_unique<DpdkWorker>(i, shared_, make_net(i, i)));
    }
    control_net_ = make_net(kWorkers, world_.port->control_queue());
    registers_ = std::make_unique<RegisterService>(*context_, location_, store_, control_counters_);
    control_ = make_control(*control_net_, {workers_[0].get(), workers_[1].get()});
  }

  // The control duty on `net`, as the runtime sets it up.
  std::unique_ptr<DpdkControl> make_control(dpdk::LcoreNet& net,
                                            std::vector<const DpdkWorker*> workers = {}) {
    DpdkControl::Settings settings;
    settings.net = &net;
    settings.rings = &rings_;
    settings.registers = registers_.get();
    settings.counters = &control_counters_;
    settings.clock = shared_.clock;
    settings.workers = std::move(workers);
    return std::make_unique<DpdkControl>(std::move(settings));
  }

  ~DpdkWorkerTest() override {
    control_.reset();
    workers_.clear();
    control_net_.reset();
    for (rte_ring* ring : rings_.inbox)
      rte_ring_free(ring);
    for (rte_ring* ring : rings_.spread) {
      void* frame = nullptr;
      while (rte_ring_dequeue(ring, &frame) == 0)
        rte_pktmbuf_free(static_cast<rte_mbuf*>(frame));
      rte_ring_free(ring);
    }
    rte_ring_free(rings_.control_frames);
    rte_ring_free(rings_.registers);
    drain_tx();
  }

  // As the runtime makes them; with `exception_path`, the kernel's frames collect in the
  // control lcore's exception()->to_kernel_batch() (no TAP port here).
  std::unique_ptr<dpdk::LcoreNet> make_net(std::uint16_t lcore, std::uint16_t tx_queue,
                                           bool exception_path = false, bool spread = false) {
    dpdk::LcoreCommon common{&interface_, &neighbors_, world_.pools.get(), world_.port.get(),
                             kWorkers};
    common.exception_path = exception_path;
    common.spread = spread;
    auto created = dpdk::LcoreNet::create(dpdk::lcore_settings(common, lcore, tx_queue));
    EXPECT_TRUE(created.value) << created.error;
    return std::move(created.value);
  }

  // Puts frames on RX queue `queue` as the NIC would.
  void arrive(std::uint16_t queue, const std::vector<Bytes>& frames) {
    for (const Bytes& bytes : frames) {
      rte_mbuf* frame = to_mbuf(bytes);
      ASSERT_NE(frame, nullptr);
      ASSERT_EQ(rte_ring_enqueue(world_.rx[queue], frame), 0);
    }
  }
  void arrive(std::uint16_t queue, const Bytes& frame) { arrive(queue, std::vector<Bytes>{frame}); }

  // What left on TX queue `queue`, as mbufs (freed by the caller) or bytes.
  std::vector<rte_mbuf*> sent_mbufs(std::uint16_t queue) {
    std::vector<rte_mbuf*> frames;
    void* frame = nullptr;
    while (rte_ring_dequeue(world_.tx[queue], &frame) == 0)
      frames.push_back(static_cast<rte_mbuf*>(frame));
    return frames;
  }
  std::vector<Bytes> sent(std::uint16_t queue) {
    std::vector<Bytes> frames;
    for (rte_mbuf* frame : sent_mbufs(queue)) {
      frames.push_back(bytes_of(frame));
      rte_pktmbuf_free(frame);
    }
    return frames;
  }
  void drain_tx() {
    for (std::uint16_t queue = 0; queue <= kWorkers; ++queue)
      sent(queue);
  }

  // dataplane.dispatchers = 1 (and `extra` appended to the config): worker 0 dispatches,
  // worker 1 owns every call. A null context when the config does not load.
  struct DispatcherAndOwner {
    std::unique_ptr<PipelineContext> context;
    std::unique_ptr<DpdkWorker> dispatcher;
    std::unique_ptr<DpdkWorker> owner;
  };
  DispatcherAndOwner dispatcher_and_owner(const std::string& extra) {
    std::string text = std::string(kConfig) + extra;
    text.replace(text.find("workers = 2\n"), 12, "workers = 2\ndispatchers = 1\n");
    const config::LoadResult loaded = config::load_config_text(text, "dispatchers.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    if (!loaded.ok()) return {};
    DispatcherAndOwner made;
    made.context = PipelineContext::create(loaded.config, &location_);
    DpdkWorkerShared shared = shared_;
    shared.pipeline = made.context.get();
    made.dispatcher = std::make_unique<DpdkWorker>(0, shared, make_net(0, 0));
    made.owner = std::make_unique<DpdkWorker>(1, shared, make_net(1, 1));
    return made;
  }

  // dataplane.spread = true: a spread ring per worker (64 slots), fragments steered.
  struct SpreadPair {
    std::unique_ptr<PipelineContext> context;
    std::array<std::unique_ptr<DpdkWorker>, kWorkers> workers;
    void step(std::uint16_t worker) { workers[worker]->poll_once(rte_rdtsc()); }
    const dpdk::NetCounters& net(std::uint16_t worker) const {
      return workers[worker]->net().counters();
    }
  };
  SpreadPair spread_pair() {
    std::string text = kConfig;
    text.replace(text.find("workers = 2\n"), 12, "workers = 2\nspread = true\n");
    const config::LoadResult loaded = config::load_config_text(text, "spread.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    if (!loaded.ok()) return {};
    EXPECT_TRUE(loaded.config->dataplane.dpdk.spread);
    SpreadPair made;
    made.context = PipelineContext::create(loaded.config, &location_);
    for (std::uint16_t i = 0; i < kWorkers; ++i)
      rings_.spread.push_back(make_ring("wt_sp"));
    DpdkWorkerShared shared = shared_;
    shared.pipeline = made.context.get();
    for (std::uint16_t i = 0; i < kWorkers; ++i)
      made.workers[i] = std::make_unique<DpdkWorker>(i, shared, make_net(i, i, false, true));
    return made;
  }

  // The payloads of every frame sent on the workers' TX queues, sorted.
  std::vector<std::string> sent_payloads() {
    std::vector<std::string> payloads;
    for (std::uint16_t queue = 0; queue < kWorkers; ++queue) {
      for (const Bytes& frame : sent(queue))
        payloads.push_back(payload_of(frame));
    }
    std::sort(payloads.begin(), payloads.end());
    return payloads;
  }

  void step(std::uint16_t worker) { workers_[worker]->poll_once(rte_rdtsc()); }

  // The forwarded INVITE the pipeline writes for `request` (our Via with its §16.11 branch,
  // the sender's Via stamped with received/rport, Max-Forwards decremented).
  std::string forwarded_invite(const std::string& request) const {
    return forwarded_invite(request, *context_);
  }
  // The same for a request with the same Via, by a worker of `context`.
  static std::string forwarded_invite(const std::string& request, const PipelineContext& context) {
    const sip::Message parsed = sip::parse_message(request);
    const sip::Branch branch = sip::stateless_branch(parsed, context.identity.branch_key);
    std::string expected = request;
    const std::string old_via = "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport\r\n";
    expected.replace(expected.find(old_via), old_via.size(),
                     "Via: SIP/2.0/UDP 10.99.0.1:5060;branch=" + std::string(branch.view()) +
                         ";rport\r\n"
                         "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport=5062;"
                         "received=10.99.0.2\r\n");
    expected.replace(expected.find("Max-Forwards: 70"), 16, "Max-Forwards: 69");
    return expected;
  }

  RingPort& world_;
  Interface interface_;
  dpdk::NeighborTable neighbors_;
  LocationTable location_;
  AsyncStore store_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<WorkerCounters[]> counters_;
  ControlCounters control_counters_;
  DpdkRings rings_;
  std::atomic<bool> stop_{false};
  DpdkWorkerShared shared_;  // what every worker of the fixture was built with
  std::vector<std::unique_ptr<DpdkWorker>> workers_;
  std::unique_ptr<dpdk::LcoreNet> control_net_;
  std::unique_ptr<RegisterService> registers_;
  std::unique_ptr<DpdkControl> control_;
};

TEST_F(DpdkWorkerTest, InviteIsForwardedWithOurViaAndCorrectChecksums) {
  const std::string request = invite(call_id_owned_by(0, "fwd"));
  arrive(0, sip_frame_v4(request));
  step(0);

  const std::vector<Bytes> frames = sent(0);
  ASSERT_EQ(frames.size(), 1u);
  const std::string expected_payload = forwarded_invite(request);
  ASSERT_EQ(payload_of(frames[0]), expected_payload);
  // The whole frame as the test support writes it from the RFCs: Ethernet to the next hop's
  // MAC, IPv4 header with its checksum, UDP 5060 → 5070 with the checksum over the
  // pseudo-header. Only the IP identification is the sender's choice (RFC 7739).
  const std::uint16_t id = get16(frames[0], 14 + 4);
  const Bytes expected =
      ethernet(kNextHopMac, kOurMac, 0x0800,
               ipv4(kOurIp, kNextHopIp, 17,
                    udp(kOurIp, kNextHopIp, kSipPort, kNextHopPort, expected_payload), id));
  EXPECT_EQ(frames[0], expected);
  EXPECT_EQ(internet_checksum(std::span(frames[0]).subspan(14, 20)), 0);
  EXPECT_EQ(counters_[0].received.read(), 1u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 1u);
  EXPECT_EQ(counters_[0].handed_off.read(), 0u);
  EXPECT_EQ(workers_[0]->net().counters().tx_frames.read(), 1u);
}

// [capture] in DPDK mode: what the worker receives and sends reaches the HEP collector (a
// loopback socket here, a kernel socket as in production), with the frame's addresses.
TEST_F(DpdkWorkerTest, CapturedMessagesReachTheHepCollector) {
  const test::LoopbackSocket collector;
  config::CaptureConfig settings;
  settings.hep = lb::parse_socket_address("127.0.0.1:" + std::to_string(collector.port)).value;
  std::vector<std::string> payloads;
  {
    HepCapture::Opened capture = HepCapture::open(settings, kWorkers + 1);
    ASSERT_TRUE(capture.capture) << capture.error;
    DpdkWorkerShared shared = shared_;
    shared.capture = capture.capture.get();
    DpdkWorker worker(0, shared, make_net(0, 0));
    const std::string request = invite(call_id_owned_by(0, "hep"));
    arrive(0, sip_frame_v4(request));
    worker.poll_once(rte_rdtsc());
    ASSERT_EQ(sent(0).size(), 1u);
    for (int i = 0; i < 2; ++i)
      payloads.push_back(collector.receive());
    // HEP3 chunk 3/4 (IPv4 source, destination) and 7/8 (ports) of each: client to us, us to
    // the next hop; chunk 15 (the message) last.
    const auto ends_with = [](const std::string& packet, const std::string& message) {
      return packet.size() > message.size() &&
             packet.compare(packet.size() - message.size(), message.size(), message) == 0;
    };
    EXPECT_TRUE(ends_with(payloads[0], request));
    EXPECT_TRUE(ends_with(payloads[1], forwarded_invite(request)));
    const std::string ours(reinterpret_cast<const char*>(kOurIp), 4);
    const std::string next_hop(reinterpret_cast<const char*>(kNextHopIp), 4);
    EXPECT_NE(payloads[0].find(std::string("\0\0\0\x04\0\x0a", 6) + ours), std::string::npos);
    EXPECT_NE(payloads[1].find(std::string("\0\0\0\x03\0\x0a", 6) + ours), std::string::npos);
    EXPECT_NE(payloads[1].find(std::string("\0\0\0\x04\0\x0a", 6) + next_hop), std::string::npos);
  }
}

TEST_F(DpdkWorkerTest, ResponseForAnotherWorkersCallIsHandedOffAndSentByTheOwner) {
  const std::string call_id = call_id_owned_by(1, "handoff");
  const std::string request = invite(call_id);
  // The INVITE arrives on worker 0's queue (one 5-tuple: RSS cannot spread it) and is
  // handed to worker 1, which owns the call and forwards it from its own TX queue.
  arrive(0, sip_frame_v4(request));
  step(0);
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(counters_[0].handed_off.read(), 1u);
  step(1);
  const std::vector<Bytes> forwarded = sent(1);
  ASSERT_EQ(forwarded.size(), 1u);
  const std::string forwarded_text = payload_of(forwarded[0]);
  ASSERT_EQ(forwarded_text, forwarded_invite(request));
  EXPECT_EQ(counters_[1].handed_in.read(), 1u);

  // The callee answers with both Vias (RFC 3261 §8.2.6.2); the 200 also arrives on queue 0.
  const sip::Message parsed = sip::parse_message(forwarded_text);
  const sip::Branch branch =
      sip::stateless_branch(sip::parse_message(request), context_->identity.branch_key);
  const std::string response =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 10.99.0.1:5060;branch=" +
      std::string(branch.view()) +
      ";rport\r\n"
      "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport=5062;received=10.99.0.2\r\n"
      "From: <sip:1001@sipline.test>;tag=from-1\r\n"
      "To: <sip:7000@10.99.0.1>;tag=callee-1\r\n"
      "Call-ID: " +
      call_id +
      "\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:7000@10.99.0.3:5070>\r\n"
      "Content-Length: 0\r\n\r\n";
  ASSERT_TRUE(parsed.ok());
  const Bytes segment = udp(kNextHopIp, kOurIp, kNextHopPort, kSipPort, response);
  arrive(0, ethernet(kOurMac, kNextHopMac, 0x0800, ipv4(kNextHopIp, kOurIp, 17, segment)));
  step(0);
  EXPECT_TRUE(sent(0).empty()) << "worker 0 does not own the call";
  EXPECT_EQ(counters_[0].handed_off.read(), 2u);
  step(1);
  const std::vector<Bytes> answered = sent(1);
  ASSERT_EQ(answered.size(), 1u);
  // Our Via popped, sent to the UA's received address and rport (RFC 3581 §4).
  std::string expected_payload = response;
  expected_payload.erase(
      expected_payload.find("Via: SIP/2.0/UDP 10.99.0.1"),
      response.find("Via: SIP/2.0/UDP 10.99.0.2") - response.find("Via: SIP/2.0/UDP 10.99.0.1"));
  const std::uint16_t id = get16(answered[0], 14 + 4);
  EXPECT_EQ(answered[0],
            ethernet(kPeerMac, kOurMac, 0x0800,
                     ipv4(kOurIp, kPeerIp, 17,
                          udp(kOurIp, kPeerIp, kSipPort, kPeerPort, expected_payload), id)));
  EXPECT_EQ(counters_[1].forwarded_requests.read(), 1u);
  EXPECT_EQ(counters_[1].forwarded_responses.read(), 1u);
  EXPECT_EQ(counters_[1].handed_in.read(), 2u);
  EXPECT_EQ(counters_[0].forwarded_requests.read() + counters_[0].forwarded_responses.read(), 0u);
}

// dataplane.dispatchers = 1: worker 0 owns no call. Both INVITEs arrive on its queue (one
// 5-tuple) and go to worker 1, including the one worker 0 would own without the setting; the
// dispatcher sends nothing itself.
TEST_F(DpdkWorkerTest, DispatcherHandsEveryCallToTheOwningWorkers) {
  const DispatcherAndOwner pair = dispatcher_and_owner("");
  ASSERT_NE(pair.context, nullptr);
  DpdkWorker& dispatcher = *pair.dispatcher;
  DpdkWorker& owner = *pair.owner;
  const PipelineContext* context = pair.context.get();
  const std::string requests[] = {invite(call_id_owned_by(0, "dispatch")),
                                  invite(call_id_owned_by(1, "dispatch"))};

  for (const std::string& request : requests)
    arrive(0, sip_frame_v4(request));
  dispatcher.poll_once(rte_rdtsc());
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(counters_[0].handed_off.read(), 2u);
  owner.poll_once(rte_rdtsc());
  const std::vector<Bytes> forwarded = sent(1);
  ASSERT_EQ(forwarded.size(), 2u);
  EXPECT_EQ(payload_of(forwarded[0]), forwarded_invite(requests[0], *context));
  EXPECT_EQ(payload_of(forwarded[1]), forwarded_invite(requests[1], *context));
  EXPECT_EQ(counters_[1].handed_in.read(), 2u);
}

// An owner fed only by its inbox (dataplane.dispatchers = 1; its own RX queue stays empty)
// detects overload from full inbox bursts: after busy_ms (1) of full bursts it sheds new
// INVITEs (503 within the answer budget, the rest dropped and counted).
TEST_F(DpdkWorkerTest, OwnerFedOnlyByHandOffsShedsWhenItsInboxBacksUp) {
  const DispatcherAndOwner pair = dispatcher_and_owner("[overload]\nbusy_ms = 1\n");
  ASSERT_NE(pair.context, nullptr);
  DpdkWorker& dispatcher = *pair.dispatcher;
  DpdkWorker& owner = *pair.owner;

  // Two full bursts of new INVITEs fill the owner's inbox (64 slots in this fixture).
  std::vector<Bytes> invites;
  for (int call = 0; call < 2 * int{dpdk::kBurst}; ++call)
    invites.push_back(sip_frame_v4(invite("overload-" + std::to_string(call) + "@10.99.0.2")));
  arrive(0, invites);
  dispatcher.poll_once(rte_rdtsc());
  ASSERT_EQ(counters_[0].handed_off.read(), 2u * dpdk::kBurst);

  const std::uint64_t ms = rte_get_tsc_hz() / 1000;
  const std::uint64_t t0 = rte_rdtsc();
  owner.poll_once(t0);  // the first full burst starts the clock: all forwarded
  EXPECT_EQ(counters_[1].forwarded_requests.read(), std::uint64_t{dpdk::kBurst});
  owner.poll_once(t0 + 2 * ms);  // still full 2 ms later: overloaded
  EXPECT_EQ(counters_[1].forwarded_requests.read(), std::uint64_t{dpdk::kBurst});
  const std::uint64_t silently =
      counters_[1].dropped[static_cast<std::size_t>(DropReason::Overload)].read();
  const std::uint64_t answered = counters_[1].local[4].read();  // 503s, within the budget
  EXPECT_EQ(counters_[1].shed_new.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_GE(answered, 1u);
  EXPECT_EQ(answered + silently, std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(sent(1).size(), dpdk::kBurst + answered);
}

// dataplane.spread: a full RX burst on worker 0's queue (one trunk) goes, unread, to worker
// 1's spread ring; worker 1 classifies it, forwards the calls it owns and hands worker 0's
// back; every INVITE leaves exactly once, rewritten as without spreading.
TEST_F(DpdkWorkerTest, SpreadPassesAFullBurstUnreadToTheOtherWorker) {
  SpreadPair pair = spread_pair();
  ASSERT_NE(pair.context, nullptr);
  std::vector<Bytes> frames;
  std::vector<std::string> expected;
  std::uint64_t owned_by_0 = 0;
  for (int call = 0; call < int{dpdk::kBurst}; ++call) {
    const std::string call_id = "spread-" + std::to_string(call) + "@10.99.0.2";
    owned_by_0 += sip::owner_of(call_id, kWorkers) == 0 ? 1 : 0;
    frames.push_back(sip_frame_v4(invite(call_id)));
    expected.push_back(forwarded_invite(invite(call_id), *pair.context));
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_GT(owned_by_0, 0u);
  ASSERT_LT(owned_by_0, std::uint64_t{dpdk::kBurst});

  arrive(0, frames);
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_out.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(pair.net(0).rx_frames.read(), 0u) << "passed on unread";
  EXPECT_EQ(counters_[0].received.read(), 0u);
  pair.step(1);
  EXPECT_EQ(pair.net(1).spread_in.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(pair.net(1).rx_frames.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(counters_[1].received.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(counters_[1].handed_off.read(), owned_by_0);
  pair.step(0);
  EXPECT_EQ(counters_[0].handed_in.read(), owned_by_0);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), owned_by_0);
  EXPECT_EQ(counters_[1].forwarded_requests.read(), dpdk::kBurst - owned_by_0);
  EXPECT_EQ(sent_payloads(), expected);
}

// A short burst means the queue is keeping up: the receiving worker handles it itself.
TEST_F(DpdkWorkerTest, SpreadLeavesAShortBurstWithTheReceivingWorker) {
  SpreadPair pair = spread_pair();
  ASSERT_NE(pair.context, nullptr);
  const std::string request = invite(call_id_owned_by(0, "short"));
  arrive(0, {sip_frame_v4(request), sip_frame_v4(request), sip_frame_v4(request)});
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_out.read(), 0u);
  EXPECT_EQ(pair.net(0).rx_frames.read(), 3u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 3u);
  pair.step(1);
  EXPECT_EQ(pair.net(1).spread_in.read(), 0u);
  EXPECT_EQ(sent(0).size(), 3u);
}

// The other worker's spread ring is full (that worker is behind): the burst stays here and
// is handled as without spreading; nothing is lost.
TEST_F(DpdkWorkerTest, SpreadKeepsABurstThatTheFullSpreadRingRefuses) {
  SpreadPair pair = spread_pair();
  ASSERT_NE(pair.context, nullptr);
  const Bytes filler = sip_frame_v4(invite(call_id_owned_by(1, "filler")));
  while (rte_ring_free_count(rings_.spread[1]) > 0) {
    rte_mbuf* frame = to_mbuf(filler);
    ASSERT_NE(frame, nullptr);
    ASSERT_EQ(rte_ring_enqueue(rings_.spread[1], frame), 0);
  }
  std::vector<Bytes> frames;
  for (int call = 0; call < int{dpdk::kBurst}; ++call)
    frames.push_back(sip_frame_v4(invite(call_id_owned_by(0, "kept-" + std::to_string(call)))));
  arrive(0, frames);
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_out.read(), 0u);
  EXPECT_EQ(pair.net(0).rx_frames.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(counters_[0].forwarded_requests.read(), std::uint64_t{dpdk::kBurst});
  EXPECT_EQ(sent(0).size(), dpdk::kBurst);
}

// Several busy trunks: a worker that was itself handed spread bursts keeps its own full
// bursts (passing them on would only swap work between busy workers).
TEST_F(DpdkWorkerTest, SpreadStopsWhileOtherWorkersSpreadToThisOne) {
  SpreadPair pair = spread_pair();
  ASSERT_NE(pair.context, nullptr);
  rte_mbuf* passed = to_mbuf(sip_frame_v4(invite(call_id_owned_by(0, "passed"))));
  ASSERT_NE(passed, nullptr);
  ASSERT_EQ(rte_ring_enqueue(rings_.spread[0], passed), 0);
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_in.read(), 1u);

  std::vector<Bytes> frames;
  for (int call = 0; call < int{dpdk::kBurst}; ++call)
    frames.push_back(sip_frame_v4(invite(call_id_owned_by(0, "own-" + std::to_string(call)))));
  arrive(0, frames);
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_out.read(), 0u);
  EXPECT_EQ(pair.net(0).rx_frames.read(), 1u + dpdk::kBurst);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 1u + dpdk::kBurst);

  // Nothing more arrived from the other worker: the next full burst is passed on again.
  arrive(0, frames);
  pair.step(0);
  EXPECT_EQ(pair.net(0).spread_out.read(), std::uint64_t{dpdk::kBurst});
}

// With spreading, the fragments of one datagram may reach any worker: each passes the
// fragments whose IP pair another worker reassembles to that worker's spread ring, so they
// meet there, and the datagram is reassembled and forwarded once.
TEST_F(DpdkWorkerTest, SpreadSteersFragmentsToTheWorkerThatReassemblesTheirIpPair) {
  SpreadPair pair = spread_pair();
  ASSERT_NE(pair.context, nullptr);
  const std::vector<Bytes> first =
      ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, std::string(3000, 'x')), 0x4343);
  rte_mbuf* probe = to_mbuf(first[0]);
  ASSERT_NE(probe, nullptr);
  const std::uint16_t reassembler =
      dpdk::fragment_owner(dpdk::classify(probe, interface_), kWorkers);
  rte_pktmbuf_free(probe);
  const auto other = static_cast<std::uint16_t>(1 - reassembler);

  const std::string request = invite(call_id_owned_by(reassembler, "big-spread"),
                                     "X-Pad: " + std::string(3900, 'p') + "\r\n");
  arrive(other, ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, request), 0x4242));
  pair.step(other);
  EXPECT_EQ(pair.net(other).fragments_steered.read(), 3u);
  EXPECT_EQ(pair.net(other).fragments.read(), 0u);
  EXPECT_TRUE(sent(other).empty());
  pair.step(reassembler);
  EXPECT_EQ(pair.net(reassembler).spread_in.read(), 3u);
  EXPECT_EQ(pair.net(reassembler).fragments.read(), 3u);
  EXPECT_EQ(pair.net(reassembler).reassembled.read(), 1u);

  const std::vector<rte_mbuf*> frames = sent_mbufs(reassembler);
  ASSERT_EQ(frames.size(), 3u);
  const Reassembled whole = check_ipv4_fragments(frames, kNextHopMac);
  for (rte_mbuf* frame : frames)
    rte_pktmbuf_free(frame);
  EXPECT_EQ(std::string(whole.segment.begin() + 8, whole.segment.end()),
            forwarded_invite(request, *pair.context));
}

TEST_F(DpdkWorkerTest, FragmentedInviteIsReassembledForwardedAndFragmentedAgain) {
  // 4 KB: larger than one mbuf, so the rewrite goes through the 64 KiB output buffer.
  const std::string request =
      invite(call_id_owned_by(0, "big"), "X-Pad: " + std::string(3900, 'p') + "\r\n");
  ASSERT_GT(request.size(), 4000u);
  arrive(0, ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, request), 0x4242));
  step(0);

  const std::vector<rte_mbuf*> frames = sent_mbufs(0);
  ASSERT_EQ(frames.size(), 3u);
  const Reassembled whole = check_ipv4_fragments(frames, kNextHopMac);
  for (rte_mbuf* frame : frames)
    rte_pktmbuf_free(frame);
  const std::string expected_payload = forwarded_invite(request);
  ASSERT_EQ(whole.segment.size(), 8 + expected_payload.size());
  EXPECT_EQ(get16(whole.segment, 0), kSipPort);
  EXPECT_EQ(get16(whole.segment, 2), kNextHopPort);
  EXPECT_EQ(internet_checksum(whole.segment,
                              pseudo_header_sum(kOurIp, kNextHopIp, 17,
                                                static_cast<std::uint32_t>(whole.segment.size()))),
            0)
      << "UDP checksum over the reassembled datagram";
  EXPECT_EQ(std::string(whole.segment.begin() + 8, whole.segment.end()), expected_payload);
  const dpdk::NetCounters& net = workers_[0]->net().counters();
  EXPECT_EQ(net.fragments.read(), 3u);
  EXPECT_EQ(net.reassembled.read(), 1u);
  EXPECT_EQ(net.udp_fragmented.read(), 1u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 1u);
}

TEST_F(DpdkWorkerTest, RegisterIsAnsweredByTheControlLcoreFromItsOwnQueue) {
  const std::string call_id = call_id_owned_by(0, "reg");
  const std::string request =
      "REGISTER sip:10.99.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-reg1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:1002@10.99.0.1>;tag=reg-1\r\n"
      "To: <sip:1002@10.99.0.1>\r\n"
      "Call-ID: " +
      call_id +
      "\r\n"
      "CSeq: 1 REGISTER\r\n"
      "Contact: <sip:1002@10.99.0.2:5062>\r\n"
      "Expires: 600\r\n"
      "Content-Length: 0\r\n\r\n";
  arrive(0, sip_frame_v4(request));
  step(0);
  EXPECT_EQ(counters_[0].to_control.read(), 1u);
  EXPECT_TRUE(sent(0).empty()) << "REGISTERs are the control lcore's";
  EXPECT_EQ(control_->poll(), 1u);

  const std::vector<Bytes> frames = sent(kWorkers);  // the control lcore's TX queue
  ASSERT_EQ(frames.size(), 1u);
  const std::string answer = payload_of(frames[0]);
  EXPECT_EQ(answer.substr(0, answer.find("\r\n")), "SIP/2.0 200 OK");
  EXPECT_NE(answer.find("Contact: <sip:1002@10.99.0.2:5062>;expires=600\r\n"), std::string::npos)
      << answer;
  const std::uint16_t id = get16(frames[0], 14 + 4);
  EXPECT_EQ(frames[0], ethernet(kPeerMac, kOurMac, 0x0800,
                                ipv4(kOurIp, kPeerIp, 17,
                                     udp(kOurIp, kPeerIp, kSipPort, kPeerPort, answer), id)));
  EXPECT_EQ(control_counters_.registers.read(), 1u);
  EXPECT_EQ(control_counters_.responses.read(), 1u);
  EXPECT_EQ(location_.bindings("1002").size(), 1u);
}

// Every mbuf goes back to its pool: the corpus (RFC 4475 torture messages, call flows, a
// carrier's messages) arrives twice, alternately on both queues, so about half of it is
// handed off to the other worker, REGISTERs go to the control lcore and the messages that
// are too large for one frame arrive as IPv4 fragments; then an ARP request, an ICMP echo, a
// datagram with a bad UDP checksum and one to a port we do not serve. Once the workers and
// the control lcore have handled all of it and the "NIC" has sent what they sent, both pools
// hold what they held before: one mbuf lost per odd message would empty them in production.
TEST_F(DpdkWorkerTest, EveryMbufGoesBackToItsPool) {
  rte_mempool* const packets = world_.pools->packets();  // what the lcores build and send
  rte_mempool* const indirect = world_.pools->indirect();
  rte_mempool* const received = test_pool();  // what arrives (to_mbuf)
  const unsigned packets_before = rte_mempool_avail_count(packets);
  const unsigned indirect_before = rte_mempool_avail_count(indirect);
  const unsigned received_before = rte_mempool_avail_count(received);

  std::vector<std::string> corpus;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SIPLINE_CORPUS_DIR)) {
    const std::string extension = entry.path().extension().string();
    if (entry.is_regular_file() && (extension == ".dat" || extension == ".sip")) {
      std::ifstream file(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
  }
  ASSERT_GT(corpus.size(), 60u);
  std::vector<std::vector<Bytes>> arrivals;  // each entry arrives on one queue in one piece
  std::uint16_t fragment_id = 0x100;
  std::size_t fragmented = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& message : corpus) {
      if (message.size() + 8 + 20 > 1500) {
        arrivals.push_back(
            ipv4_fragments(udp(kPeerIp, kOurIp, kPeerPort, kSipPort, message), fragment_id++));
        ++fragmented;
      } else {
        arrivals.push_back({sip_frame_v4(message)});
      }
    }
  }
  ASSERT_GT(fragmented, 0u) << "the corpus has messages larger than one frame";
  Bytes arp = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  append_mac(arp, kPeerMac);
  append(arp, {kPeerIp, 4});
  append_mac(arp, rte_ether_addr{});
  append(arp, {kOurIp, 4});
  arrivals.push_back(
      {ethernet(rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, kPeerMac, 0x0806, arp)});
  Bytes echo = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};  // RFC 792 echo request
  put16(echo, 2, internet_checksum(echo));
  arrivals.push_back({ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 1, echo))});
  Bytes bad_checksum = sip_frame_v4(invite(call_id_owned_by(1, "leak")));
  bad_checksum[14 + 20 + 6] ^= 0x5a;
  arrivals.push_back({bad_checksum});
  arrivals.push_back(
      {ethernet(kOurMac, kPeerMac, 0x0800,
                ipv4(kPeerIp, kOurIp, 17, udp(kPeerIp, kOurIp, kPeerPort, 9999, "hello")))});
  arrivals.push_back(
      {sip_frame_v4("REGISTER sip:10.99.0.1 SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-leak\r\n"
                    "From: <sip:1002@10.99.0.1>;tag=leak\r\n"
                    "To: <sip:1002@10.99.0.1>\r\n"
                    "Call-ID: leak@10.99.0.2\r\n"
                    "CSeq: 1 REGISTER\r\n"
                    "Contact: <sip:1002@10.99.0.2:5062>\r\n"
                    "Content-Length: 0\r\n\r\n")});

  // A few arrivals per queue per round, so that no hand-off or control ring overflows.
  std::size_t next = 0;
  while (next < arrivals.size()) {
    for (std::size_t i = 0; i < 8 && next < arrivals.size(); ++i, ++next)
      arrive(static_cast<std::uint16_t>(next % kWorkers), arrivals[next]);
    for (int round = 0; round < 3; ++round) {
      step(0);
      step(1);
      control_->poll();
    }
    drain_tx();
  }
  // What went to a peer behind the gateway (the corpus's carrier messages route there) waits
  // for the gateway's ARP answer, which never comes here: the wait (kResolveHoldMs) ends it.
  const std::size_t held = workers_[0]->net().held() + workers_[1]->net().held();
  EXPECT_GT(held, 0u);
  const std::uint64_t later = rte_rdtsc() + 2 * dpdk::kResolveHoldMs * rte_get_tsc_hz() / 1000;
  workers_[0]->poll_once(later);
  workers_[1]->poll_once(later);
  drain_tx();
  EXPECT_EQ(workers_[0]->net().held() + workers_[1]->net().held(), 0u);
  EXPECT_EQ(workers_[0]->net().counters().dropped_for(dpdk::NetDrop::PendingTimeout) +
                workers_[1]->net().counters().dropped_for(dpdk::NetDrop::PendingTimeout),
            held);

  EXPECT_GE(counters_[0].received.read() + counters_[1].received.read(), 2 * corpus.size())
      << "every SIP datagram reached a worker";
  EXPECT_GT(counters_[0].handed_off.read() + counters_[1].handed_off.read(), 0u);
  EXPECT_GT(counters_[0].to_control.read() + counters_[1].to_control.read(), 0u);
  EXPECT_EQ(location_.bindings("1002").size(), 1u);
  EXPECT_GT(counters_[0].forwarded_requests.read() + counters_[1].forwarded_requests.read(), 0u);
  EXPECT_GT(workers_[0]->net().counters().reassembled.read() +
                workers_[1]->net().counters().reassembled.read(),
            0u);
  EXPECT_EQ(rte_mempool_avail_count(packets), packets_before);
  EXPECT_EQ(rte_mempool_avail_count(indirect), indirect_before);
  EXPECT_EQ(rte_mempool_avail_count(received), received_before);
}

TEST_F(DpdkWorkerTest, ArpRequestIsAnsweredByTheControlLcore) {
  Bytes arp = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};  // Ethernet/IPv4, request (RFC 826)
  append_mac(arp, kPeerMac);
  append(arp, {kPeerIp, 4});
  append_mac(arp, rte_ether_addr{});
  append(arp, {kOurIp, 4});
  const rte_ether_addr broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  arrive(0, ethernet(broadcast, kPeerMac, 0x0806, arp));
  step(0);
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(control_->poll(), 1u);
  const std::vector<Bytes> frames = sent(kWorkers);
  ASSERT_EQ(frames.size(), 1u);
  Bytes reply = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02};  // reply
  append_mac(reply, kOurMac);
  append(reply, {kOurIp, 4});
  append_mac(reply, kPeerMac);
  append(reply, {kPeerIp, 4});
  // The request's own mbuf turned around (the NIC pads short frames to 60 octets, RFC 894).
  EXPECT_EQ(frames[0], ethernet(kPeerMac, kOurMac, 0x0806, reply));
}

// With an exception path, TCP to our address takes the kernel's ring (not the one ARP uses)
// to the control lcore, which sends it to the kernel unchanged.
TEST_F(DpdkWorkerTest, FramesForTheKernelTakeTheirOwnRingToTheControlLcore) {
  rings_.kernel_frames = make_ring("wt_krn");
  DpdkWorker worker(0, shared_, make_net(0, 0, true));
  const std::unique_ptr<dpdk::LcoreNet> control_net =
      make_net(kWorkers, world_.port->control_queue(), true);
  const std::unique_ptr<DpdkControl> control = make_control(*control_net);

  const Bytes syn = ethernet(kOurMac, kPeerMac, 0x0800, ipv4(kPeerIp, kOurIp, 6, Bytes(20, 2)));
  arrive(0, syn);
  worker.poll_once(rte_rdtsc());
  EXPECT_EQ(rte_ring_count(rings_.kernel_frames), 1u);
  EXPECT_EQ(rte_ring_count(rings_.control_frames), 0u);
  EXPECT_EQ(worker.net().counters().kernel_frames.read(), 1u);
  EXPECT_EQ(control->poll(), 1u);
  const std::span<rte_mbuf*> to_kernel = control_net->exception()->to_kernel_batch().take();
  ASSERT_EQ(to_kernel.size(), 1u);
  EXPECT_EQ(bytes_of(to_kernel[0]), syn);
  rte_pktmbuf_free(to_kernel[0]);
  EXPECT_TRUE(sent(0).empty());
  EXPECT_TRUE(sent(kWorkers).empty());
  rte_ring_free(rings_.kernel_frames);
  rings_.kernel_frames = nullptr;
}

TEST_F(DpdkWorkerTest, NonSipTrafficIsDroppedAndCountedByReason) {
  // UDP to a port we do not serve, and a SIP port frame with a broken UDP checksum.
  const Bytes unknown_port =
      ethernet(kOurMac, kPeerMac, 0x0800,
               ipv4(kPeerIp, kOurIp, 17, udp(kPeerIp, kOurIp, kPeerPort, 9999, "hello")));
  Bytes bad_checksum = sip_frame_v4(invite(call_id_owned_by(0, "bad")));
  bad_checksum[14 + 20 + 6] ^= 0x5a;
  arrive(0, std::vector<Bytes>{unknown_port, bad_checksum});
  step(0);
  EXPECT_TRUE(sent(0).empty());
  const dpdk::NetCounters& net = workers_[0]->net().counters();
  EXPECT_EQ(net.dropped_for(dpdk::NetDrop::UnknownPort), 1u);
  EXPECT_EQ(net.dropped_for(dpdk::NetDrop::UdpChecksum), 1u);
  // The datagram to a SIP port was received (its checksum is the owner's to verify); the
  // one to port 9999 never was. Nothing reached the pipeline.
  EXPECT_EQ(counters_[0].received.read(), 1u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 0u);
}

// The receiving worker does not verify UDP checksums of datagrams it hands off: the owner
// does (and drops a bad one), so one trunk does not load its receiving worker with them.
TEST_F(DpdkWorkerTest, BadChecksumOfAnotherWorkersCallIsDroppedByTheOwner) {
  Bytes frame = sip_frame_v4(invite(call_id_owned_by(1, "bad-owner")));
  frame[14 + 20 + 6] ^= 0x5a;
  arrive(0, frame);
  step(0);
  EXPECT_EQ(counters_[0].handed_off.read(), 1u);
  EXPECT_EQ(workers_[0]->net().counters().dropped_for(dpdk::NetDrop::UdpChecksum), 0u);
  step(1);
  EXPECT_TRUE(sent(1).empty());
  EXPECT_EQ(workers_[1]->net().counters().dropped_for(dpdk::NetDrop::UdpChecksum), 1u);
  EXPECT_EQ(counters_[1].forwarded_requests.read(), 0u);
}

// Per-source limits (source_guard.hpp) on a DPDK worker: requests over the source's rate and
// every request of a blocked source are dropped before the hand-off, unanswered and counted.
TEST_F(DpdkWorkerTest, SourceLimitsDropRequestsOverTheRateAndFromBlockedSources) {
  SourceLimits limits;
  limits.requests_per_second = 1;
  limits.burst = 2;
  limits.failed_auth_limit = 3;
  limits.table_size = 64;
  SourceGuard guard(limits, kWorkers);
  context_->guard = &guard;
  DpdkWorker guarded(0, shared_, make_net(0, 0));  // built with the guard in the context

  arrive(0, std::vector<Bytes>{sip_frame_v4(invite(call_id_owned_by(0, "rate-1"))),
                               sip_frame_v4(invite(call_id_owned_by(0, "rate-2"))),
                               sip_frame_v4(invite(call_id_owned_by(1, "rate-3")))});
  guarded.poll_once(rte_rdtsc());
  EXPECT_EQ(sent(0).size(), 2u);  // the burst; the third was dropped before its hand-off
  EXPECT_EQ(counters_[0].dropped[static_cast<std::size_t>(DropReason::RateLimited)].read(), 1u);
  EXPECT_EQ(counters_[0].handed_off.read(), 0u);

  const SourceKey peer = source_key(*peer_from_text("10.99.0.2:5062"));
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (int i = 0; i < 3; ++i)
    guard.record_auth_failure(peer, now, *context_->trusted_sources);
  arrive(0, sip_frame_v4(invite(call_id_owned_by(0, "blocked"))));
  guarded.poll_once(rte_rdtsc());
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(counters_[0].dropped[static_cast<std::size_t>(DropReason::BlockedSource)].read(), 1u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 2u);
  context_->guard = nullptr;
}

// Admission control on a DPDK worker (dataplane/overload.hpp), driven through its real inputs:
// full RX bursts (32 frames) while its TSC clock advances past [overload] busy_ms without the
// queue draining make it overloaded. A new INVITE is then answered 503 + Retry-After from the
// worker's own TX queue, while the ACK and BYE of a call already admitted are forwarded; a
// short burst (the queue drained) ends it.
class DpdkOverloadTest : public DpdkWorkerTest {
 protected:
  struct Run {
    std::vector<Bytes> overloaded;  // what left TX queue 0 for the burst that found it behind
    std::vector<Bytes> drained;     // ... and for the short burst after it
  };

  // A worker of a configuration with `overload_section` appended, fed: a full burst of frames
  // the packet layer drops (UDP to a port we do not serve) at t0; at t0 + 2 ms (busy_ms = 1)
  // another full burst ending with a new INVITE, then the ACK and BYE of an admitted call;
  // at t0 + 3 ms a short burst: one more new INVITE.
  Run drive(const std::string& overload_section) {
    const config::LoadResult loaded =
        config::load_config_text(std::string(kConfig) + overload_section, "overload.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    overload_context_ = PipelineContext::create(loaded.config, &location_);
    DpdkWorkerShared shared = shared_;
    shared.pipeline = overload_context_.get();
    DpdkWorker worker(0, shared, make_net(0, 0));

    const std::uint64_t ms = rte_get_tsc_hz() / 1000;
    const std::uint64_t t0 = rte_rdtsc();
    arrive(0, std::vector<Bytes>(dpdk::kBurst, unserved_port_frame()));
    worker.poll_once(t0);
    EXPECT_TRUE(sent(0).empty());

    std::vector<Bytes> burst(dpdk::kBurst - 3, unserved_port_frame());
    burst.push_back(sip_frame_v4(new_invite_));
    burst.push_back(sip_frame_v4(ack_));
    burst.push_back(sip_frame_v4(bye_));
    arrive(0, burst);
    worker.poll_once(t0 + 2 * ms);
    Run run;
    run.overloaded = sent(0);

    arrive(0, sip_frame_v4(later_invite_));
    worker.poll_once(t0 + 3 * ms);
    run.drained = sent(0);
    return run;
  }

  static Bytes unserved_port_frame() {
    return ethernet(kOurMac, kPeerMac, 0x0800,
                    ipv4(kPeerIp, kOurIp, 17, udp(kPeerIp, kOurIp, kPeerPort, 9999, "load")));
  }

  // Frame `frame` carries `payload` from us to the UA (the 503) or to the next hop.
  static void expect_frame(const Bytes& frame, const std::string& payload, bool to_next_hop) {
    const std::uint16_t id = get16(frame, 14 + 4);
    const Bytes expected =
        to_next_hop ? ethernet(kNextHopMac, kOurMac, 0x0800,
                               ipv4(kOurIp, kNextHopIp, 17,
                                    udp(kOurIp, kNextHopIp, kSipPort, kNextHopPort, payload), id))
                    : ethernet(kPeerMac, kOurMac, 0x0800,
                               ipv4(kOurIp, kPeerIp, 17,
                                    udp(kOurIp, kPeerIp, kSipPort, kPeerPort, payload), id));
    EXPECT_EQ(frame, expected) << "payload sent: " << payload_of(frame);
  }

  static std::string in_dialog(const std::string& method, int cseq, const std::string& call_id) {
    return method +
           " sip:7000@10.99.0.3:5070 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:1001@sipline.test>;tag=from-1\r\n"
           "To: <sip:7000@10.99.0.1>;tag=callee-1\r\n"
           "Call-ID: " +
           call_id + "\r\nCSeq: " + std::to_string(cseq) + " " + method +
           "\r\nContent-Length: 0\r\n\r\n";
  }

  const std::string shed_call_ = call_id_owned_by(0, "shed");
  const std::string new_invite_ = invite(shed_call_);
  const std::string admitted_call_ = call_id_owned_by(0, "admitted");
  const std::string ack_ = in_dialog("ACK", 1, admitted_call_);
  const std::string bye_ = in_dialog("BYE", 2, admitted_call_);
  const std::string later_invite_ = invite(call_id_owned_by(0, "later"));
  std::unique_ptr<PipelineContext> overload_context_;
};

TEST_F(DpdkOverloadTest, BusyLcoreShedsNewInvitesWith503AndForwardsTheAdmittedCall) {
  const Run run = drive("[overload]\nbusy_ms = 1\nretry_after = 7\n");

  ASSERT_EQ(run.overloaded.size(), 3u);
  const std::string to_tag(local_to_tag(shed_call_, overload_context_->to_tag_key).view());
  expect_frame(run.overloaded[0],
               "SIP/2.0 503 Service Unavailable\r\n"
               "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=z9hG4bK-uac1;rport=5062;"
               "received=10.99.0.2\r\n"
               "From: <sip:1001@sipline.test>;tag=from-1\r\n"
               "To: <sip:7000@10.99.0.1>;tag=" +
                   to_tag + "\r\nCall-ID: " + shed_call_ +
                   "\r\nCSeq: 1 INVITE\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
               false);
  expect_frame(run.overloaded[1], forwarded_invite(ack_, *overload_context_), true);
  expect_frame(run.overloaded[2], forwarded_invite(bye_, *overload_context_), true);
  EXPECT_EQ(counters_[0].shed_new.read(), 1u);
  EXPECT_EQ(counters_[0].shed_unanswered.read(), 0u);
  EXPECT_EQ(counters_[0].local[4].read(), 1u);  // local_5xx: the 503

  // The short burst drained the queue: the next INVITE is admitted.
  ASSERT_EQ(run.drained.size(), 1u);
  expect_frame(run.drained[0], forwarded_invite(later_invite_, *overload_context_), true);
  EXPECT_EQ(counters_[0].shed_new.read(), 1u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 3u);
}

TEST_F(DpdkOverloadTest, DisabledGateForwardsEverything) {
  const Run run = drive("[overload]\nenabled = false\nbusy_ms = 1\n");

  ASSERT_EQ(run.overloaded.size(), 3u);
  expect_frame(run.overloaded[0], forwarded_invite(new_invite_, *overload_context_), true);
  expect_frame(run.overloaded[1], forwarded_invite(ack_, *overload_context_), true);
  expect_frame(run.overloaded[2], forwarded_invite(bye_, *overload_context_), true);
  ASSERT_EQ(run.drained.size(), 1u);
  EXPECT_EQ(counters_[0].shed_new.read(), 0u);
  EXPECT_EQ(counters_[0].local[4].read(), 0u);
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 4u);
}

// [dataplane] static_neighbors: each entry answers lookups at once and for good (no ARP
// request, no expiry); one that finds its bucket full of static entries is reported.
TEST(DpdkStaticNeighbors, ConfiguredEntriesArePermanentAndOverflowIsReported) {
  const config::LoadResult loaded = config::load_config_text(R"toml(
[listen]
udp = ["10.99.0.1:5060"]
[dataplane]
address = "10.99.0.1/24"
address6 = "2001:db8::1/64"
static_neighbors = ["10.99.0.254 02:00:00:00:00:fe", "2001:db8::fe 02:00:00:00:01:fe"]
[domain]
names = ["sipline.test"]
)toml",
                                                             "neighbors.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  dpdk::NeighborTable table(64, 1000);
  EXPECT_EQ(add_static_neighbors(loaded.config->dataplane.dpdk.static_neighbors, table), "");
  const auto gateway = table.lookup(ip4(kGatewayIp), 1'000'000'000);  // long after any lifetime
  ASSERT_TRUE(gateway.has_value());
  EXPECT_TRUE(rte_is_same_ether_addr(&*gateway, &kGatewayMac));
  const std::uint8_t router6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};
  const auto router = table.lookup(ip6(router6), 1'000'000'000);
  ASSERT_TRUE(router.has_value());
  EXPECT_EQ(router->addr_bytes[4], 0x01);

  // One bucket (a table of eight slots) holds eight static entries, not nine.
  dpdk::NeighborTable small(8, 1000);
  std::vector<config::StaticNeighbor> many;
  for (std::uint8_t host = 1; host <= 9; ++host) {
    many.push_back(
        {ip4(std::array<std::uint8_t, 4>{10, 99, 0, host}.data()), {0x02, 0, 0, 0, 0, host}});
  }
  EXPECT_EQ(add_static_neighbors(many, small),
            "dataplane.static_neighbors: no room for 10.99.0.9 (its bucket of the neighbour "
            "table holds only static entries)");
}

}  // namespace
}  // namespace sipline::dataplane

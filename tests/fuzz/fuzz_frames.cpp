// libFuzzer target for the DPDK packet layer (issue #4 §2): arbitrary Ethernet frames through
// what a worker lcore and the control lcore do with them - classification (Ethernet, 802.1Q,
// ARP, IPv4 with options, IPv6, UDP, ICMP/ICMPv6), IPv4 and IPv6 reassembly, the UDP
// checksum check, ARP / ICMP echo / neighbour discovery answers and learning - and, for each
// SIP datagram, a reply sent back to its source (next hop, ARP/ND hold, fragmentation above
// the MTU). Besides ASan and UBSan it checks that no mbuf is lost: after each input, once the
// hold and reassembly timers have run out and the TX batches are taken, both pools hold what
// they held before (std::abort otherwise).
//
// Input: frames, each a 2-octet big-endian length and that many octets (a shorter tail is
// the last frame), at most kMaxFrames of at most one mbuf's data room. Seeds:
// tests/fuzz/frame_seeds.py writes valid frames (SIP over IPv4 and IPv6, in fragments too,
// ARP, ping, neighbour solicitation) in this form.
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/net_headers.hpp"
#include "dataplane/dpdk/pools.hpp"
#include "lb/address.hpp"
#include "tests/unit/private_eal.hpp"

namespace {

using namespace sipline::dataplane::dpdk;

constexpr std::size_t kMaxFrames = 16;
constexpr std::uint64_t kHz = 1'000'000;  // the clock's unit: 1 us
constexpr std::uint16_t kSipPorts[] = {5060, 5080};
// Past every timer a held mbuf waits for: ARP/ND hold, reassembly.
constexpr std::uint64_t kPastEveryTimer = 4 * (kResolveHoldMs + kFragTimeoutMs) * (kHz / 1000);

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz_frames: %s\n", what);
  std::abort();
}

struct World {
  std::unique_ptr<PacketPools> pools;
  Interface interface;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<LcoreNet> worker;
  std::unique_ptr<LcoreNet> control;
  std::uint64_t now = kHz;
  unsigned packets_at_rest = 0;
  unsigned indirect_at_rest = 0;
};

std::unique_ptr<LcoreNet> make_net(World& world, std::uint16_t lcore, bool worker) {
  LcoreSettings settings;
  settings.interface = &world.interface;
  settings.neighbors = world.neighbors.get();
  settings.pool = world.pools->packets();
  settings.indirect_pool = world.pools->indirect();
  settings.lcore_index = lcore;
  settings.lcore_count = 2;
  settings.tsc_hz = kHz;
  settings.defer_udp_checksum = worker;  // as lcore_settings() does
  auto created = LcoreNet::create(settings);
  require(created.value != nullptr, "LcoreNet::create failed");
  return std::move(created.value);
}

World& world() {
  static World* made = [] {
    std::vector<std::string> args = testing::private_eal_args("fuzz_frames");
    args.push_back("--log-level=*:critical");
    require(start_eal(args, "fuzz_frames").ok(), "EAL did not start");
    auto* w = new World();
    auto pools = PacketPools::create(1, 0, SOCKET_ID_ANY, "fuzz");
    require(pools.pools != nullptr, "no pools");
    w->pools = std::move(pools.pools);
    InterfaceSettings settings;
    settings.address = *sipline::lb::parse_ip_prefix("10.99.0.1/24");
    settings.address6 = *sipline::lb::parse_ip_prefix("2001:db8::1/64");
    settings.gateway = *sipline::lb::parse_ip_address("10.99.0.254");
    settings.gateway6 = *sipline::lb::parse_ip_address("fe80::1");
    settings.sip_ports = kSipPorts;
    settings.dscp = 26;
    const rte_ether_addr mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    const InterfaceMade interface = make_interface(settings, mac);
    require(interface.ok(), "make_interface failed");
    w->interface = interface.value;
    w->neighbors = std::make_unique<NeighborTable>(kNeighborCapacity, 60 * kHz);
    // The peer of the seeds: known, so that most replies leave at once.
    w->neighbors->add_static(*sipline::lb::parse_ip_address("10.99.0.2"),
                             rte_ether_addr{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}});
    w->worker = make_net(*w, 0, true);
    w->control = make_net(*w, 1, false);
    w->packets_at_rest = rte_mempool_avail_count(w->pools->packets());
    w->indirect_at_rest = rte_mempool_avail_count(w->pools->indirect());
    return w;
  }();
  return *made;
}

// What a worker does with a SIP datagram here: checks its UDP checksum and sends (a prefix
// of) its payload back to where it came from.
void reply(World& w, rte_mbuf* frame) {
  if (w.worker->verify_udp_checksum(frame)) {
    const Datagram datagram = read_datagram(frame, w.worker->scratch());
    const std::string_view echo = datagram.payload.substr(0, 3000);
    w.worker->send(echo, datagram.destination.port, datagram.source, w.now);
  }
  rte_pktmbuf_free(frame);
}

void take_sent(LcoreNet& net) {
  for (rte_mbuf* frame : net.tx().take())
    rte_pktmbuf_free(frame);
}

void receive(World& w, const std::uint8_t* bytes, std::size_t size) {
  rte_mbuf* frame = rte_pktmbuf_alloc(w.pools->packets());
  require(frame != nullptr, "the packet pool ran dry");
  char* data = rte_pktmbuf_append(frame, static_cast<std::uint16_t>(size));
  require(data != nullptr || size == 0, "frame larger than an mbuf");
  if (size != 0) std::memcpy(data, bytes, size);
  const LcoreNet::Received received = w.worker->receive(frame, w.now);
  switch (received.verdict) {
    case LcoreNet::Verdict::Sip:
      reply(w, received.frame);
      break;
    case LcoreNet::Verdict::Control:
      w.control->answer(received.frame, w.now);
      break;
    case LcoreNet::Verdict::Kernel:  // no exception path here: never returned
    case LcoreNet::Verdict::Steer:   // no spreading here: never returned
      rte_pktmbuf_free(received.frame);
      require(false, "a verdict this lcore's settings never give");
      break;
    case LcoreNet::Verdict::Consumed:
      break;
  }
  w.now += 10;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  const std::size_t room = rte_pktmbuf_data_room_size(w.pools->packets()) - RTE_PKTMBUF_HEADROOM;
  std::size_t at = 0;
  for (std::size_t frames = 0; frames < kMaxFrames && at < size; ++frames) {
    std::size_t length = size - at;
    if (length >= 2) {
      length = std::size_t{data[at]} << 8 | data[at + 1];
      at += 2;
      length = std::min(length, size - at);
    }
    receive(w, data + at, std::min(length, room));
    at += length;
    w.worker->poll(w.now);
    w.control->poll(w.now);
    take_sent(*w.worker);
    take_sent(*w.control);
  }
  // Every timer that keeps an mbuf runs out, then nothing may be missing.
  w.now += kPastEveryTimer;
  w.worker->poll(w.now);
  w.control->poll(w.now);
  take_sent(*w.worker);
  take_sent(*w.control);
  require(w.worker->held() == 0 && w.control->held() == 0, "datagrams still held");
  require(rte_mempool_avail_count(w.pools->packets()) == w.packets_at_rest,
          "a packet mbuf was lost");
  require(rte_mempool_avail_count(w.pools->indirect()) == w.indirect_at_rest,
          "an indirect mbuf was lost");
  return 0;
}

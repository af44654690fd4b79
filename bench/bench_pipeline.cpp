// bench_pipeline: sipline's DPDK worker pipeline on a port that costs no kernel work.
//
// The port is a net_ring ethdev made from rte_rings (rte_eth_from_rings). The EAL main lcore
// is the "NIC": it copies frames of a pre-built call mix into fresh mbufs, puts them on RX
// queue 0, and takes whatever the workers transmit off the TX rings (counted, then freed).
// The workers are the real DpdkWorker loop (dataplane/dpdk_worker.hpp) on their own lcores:
// classify, Call-ID owner, hand-off, parse, §16.6/§16.7 rewrite, IP/UDP headers and
// checksums, TX burst. Everything goes to RX queue 0, as one 5-tuple (a carrier trunk) would
// under RSS, so with several workers only the Call-ID hand-off spreads the load (and, with
// --spread, dataplane.spread: worker 0 passes full RX bursts unread to the workers in turn).
//
// The call mix, each call with its own Call-ID, forwarded statelessly through the proxy:
//   UAC 10.99.0.2:5062 → INVITE (SDP) → UAS 10.99.0.3:5070 → 100, 180, 200 (SDP) → UAC;
//   ACK and BYE → UAS; 200 (BYE) → UAC.
//
//   bench_pipeline [--workers N] [--seconds S] [--calls C] [--feeders F] [--offload]
//                  [--checksum-on-receive] [-- EAL args]
//
// net_ring offers no checksum offload, so by default the workers verify every UDP checksum
// and compute every outgoing one in software. --offload shows what a NIC that does both
// (every current server NIC) leaves to the worker: received frames carry the GOOD flags a
// NIC sets, and frames are sent with the offload flags and pseudo-header sums a NIC finishes.
// The Call-ID owner verifies a UDP checksum, as in the runtime; --checksum-on-receive makes the
// receiving worker do it as it classifies (an A/B switch for the scaling mode, where worker 0
// receives everything).
//
// Default EAL arguments: --no-pci --no-huge -m 1024 --no-shconf --no-telemetry and
// -l 0-(N + F - 1) (lcore 0: the feeder that also drains TX; then the N workers; then the
// extra feeders). Prints one line per worker and a total in SIP messages per second, where
// a message counts when the worker has received and handled it (forwarded, in this mix).
// bench/run_pipeline_bench.sh runs it together with dpdk-testpmd on net_null and prints the
// ratio.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_ring.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/pools.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk_worker.hpp"
#include "dataplane/hep_capture.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/branch.hpp"
#include "sip/call_id_scan.hpp"
#include "sip/message.hpp"

namespace {

using namespace sipline;             // NOLINT: a benchmark's main file
using namespace sipline::dataplane;  // NOLINT

constexpr std::uint16_t kProxyPort = 5060;
constexpr std::uint16_t kUacPort = 5062;
constexpr std::uint16_t kUasPort = 5070;
const rte_ether_addr kProxyMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const rte_ether_addr kUacMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const rte_ether_addr kUasMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}};
const std::uint8_t kProxyIp[4] = {10, 99, 0, 1};
const std::uint8_t kUacIp[4] = {10, 99, 0, 2};
const std::uint8_t kUasIp[4] = {10, 99, 0, 3};
constexpr std::size_t kMessagesPerCall = 7;

// [overload] busy_ms = 10000 (the most config/ accepts): the feeder keeps RX queue 0 full, so
// worker 0 never drains it and its overload gate (dataplane/overload.hpp) would start shedding
// INVITEs after the default 20 ms, changing the mix. The gate still runs (its detection every
// iteration, its admission check per request), but only a run of ~10 s or more trips it (the
// shed INVITEs then show as "dropped" and as handed-but-not-forwarded messages).
constexpr const char* kConfig = R"toml(
[listen]
udp = ["10.99.0.1:5060"]
[dataplane]
io = "dpdk"
workers = WORKERS
dispatchers = DISPATCHERS
spread = SPREAD
eal = ["--no-pci"]
port = 0
address = "10.99.0.1/24"
[domain]
names = ["sipline.test", "10.99.0.1"]
[registrar]
store = "memory"
[limits]
ring_size = 4096
[overload]
busy_ms = 10000
[[routes]]
name = "to-uas"
action = "forward"
target = "sip:10.99.0.3:5070"
)toml";

// --pool: the same route to a pool of four members (not probed; weights 1, 1, 2, 4), so that
// each INVITE, ACK and BYE also pays the member choice (lb/pool.hpp).
constexpr std::string_view kFixedTarget = "target = \"sip:10.99.0.3:5070\"";
constexpr std::string_view kPoolTarget = R"toml(pool = "uas"
[[pools]]
name = "uas"
members = ["sip:10.99.0.3:5070", "sip:10.99.0.3:5071", { uri = "sip:10.99.0.3:5072", weight = 2 },
           { uri = "sip:10.99.0.3:5073", weight = 4 }]
probe_interval = 0)toml";

struct Options {
  unsigned workers = 1;
  unsigned feeders = 1;
  unsigned dispatchers = 0;  // dataplane.dispatchers: workers that own no calls
  double seconds = 5.0;
  unsigned calls = 4096;
  bool offload = false;
  bool checksum_on_receive = false;
  bool dispatch_only = false;
  bool inline_worker = false;
  bool pool = false;
  bool spread = false;        // dataplane.spread: full RX bursts passed to the workers in turn
  bool accounting = false;    // [accounting]: the worker makes call records (--inline only)
  bool record_route = false;  // [domain] record_route
  // The route's max_calls and max_cps, far above what the mix reaches (implies record_route,
  // which max_calls needs): the cost of the limits' bookkeeping (--inline only).
  bool call_limits = false;
  // [capture] hep to a local sink that never reads: the workers' cost of copying every
  // message into their capture channel (--inline only).
  bool capture = false;
  std::vector<std::string> eal;
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr,
               "bench_pipeline: %s\nusage: bench_pipeline [--workers N] [--seconds S] "
               "[--calls C] [--feeders F] [--dispatchers D] [--offload] [--checksum-on-receive] "
               "[--dispatch-only] "
               "[--inline [--accounting] [--call-limits] [--capture]] [--record-route] [--pool] "
               "[--spread] "
               "[-- EAL args]\n",
               problem);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    const std::pair<std::string_view, bool*> switches[] = {
        {"--offload", &options.offload},
        {"--checksum-on-receive", &options.checksum_on_receive},
        {"--dispatch-only", &options.dispatch_only},
        {"--inline", &options.inline_worker},
        {"--pool", &options.pool},
        {"--spread", &options.spread},
        {"--accounting", &options.accounting},
        {"--record-route", &options.record_route},
        {"--call-limits", &options.call_limits},
        {"--capture", &options.capture},
    };
    const auto* flag = std::find_if(std::begin(switches), std::end(switches),
                                    [&](const auto& entry) { return entry.first == arg; });
    if (flag != std::end(switches)) {
      *flag->second = true;
      continue;
    }
    if (i + 1 >= argc) usage("every option needs a value");
    const char* value = argv[++i];
    if (arg == "--workers") {
      options.workers = static_cast<unsigned>(std::atoi(value));
    } else if (arg == "--seconds") {
      options.seconds = std::atof(value);
    } else if (arg == "--calls") {
      options.calls = static_cast<unsigned>(std::atoi(value));
    } else if (arg == "--feeders") {
      options.feeders = static_cast<unsigned>(std::atoi(value));
    } else if (arg == "--dispatchers") {
      options.dispatchers = static_cast<unsigned>(std::atoi(value));
    } else {
      usage("unknown option");
    }
  }
  if (options.inline_worker) options.feeders = 1;
  if (options.workers < 1 || options.workers > 64 || options.feeders < 1 || options.calls < 1 ||
      (options.inline_worker && !options.dispatch_only && options.workers != 1) ||
      options.seconds <= 0 || (options.dispatch_only && options.workers < 2) ||
      ((options.accounting || options.call_limits || options.capture) && !options.inline_worker) ||
      options.dispatchers >= options.workers ||
      ((options.dispatchers > 0 || options.spread) &&
       (options.dispatch_only || options.inline_worker))) {
    usage(
        "out of range (--dispatch-only needs --workers 2 or more; --dispatchers fewer than "
        "--workers; neither --dispatchers nor --spread with --dispatch-only or --inline)");
  }
  for (; i < argc; ++i)
    options.eal.emplace_back(argv[i]);
  if (options.eal.empty()) {
    options.eal = {
        "--no-pci",
        "--no-huge",
        "-m",
        std::to_string(1024 + 128 * options.workers),  // the pools grow with workers
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:warning",
        "-l",
        "0-" + std::to_string(options.inline_worker   ? 0
                              : options.dispatch_only ? options.feeders
                                                      : options.workers + options.feeders - 1)};
  }
  return options;
}

// --- the call mix --------------------------------------------------------------------------

std::string sdp(const char* host, unsigned session) {
  const std::string body = "v=0\r\no=- " + std::to_string(session) + " 1 IN IP4 " + host +
                           "\r\ns=-\r\nc=IN IP4 " + host +
                           "\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0 8 101\r\n"
                           "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                           "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
                           "a=ptime:20\r\na=sendrecv\r\n";
  return body;
}

struct Call {
  std::string call_id;
  std::string invite, ack, bye;
};

std::string request(const std::string& method, const std::string& uri, const std::string& branch,
                    const Call& call, unsigned cseq, bool to_tag, const std::string& body) {
  std::string text = method + " " + uri +
                     " SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=" +
                     branch +
                     ";rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: \"Alice\" <sip:1001@sipline.test>;tag=uac-" +
                     call.call_id.substr(0, 8) +
                     "\r\n"
                     "To: <sip:7000@sipline.test>" +
                     (to_tag ? ";tag=uas-1" : "") + "\r\nCall-ID: " + call.call_id +
                     "\r\nCSeq: " + std::to_string(cseq) + " " + method +
                     "\r\n"
                     "Contact: <sip:1001@10.99.0.2:5062>\r\n"
                     "User-Agent: sipline-bench\r\n";
  if (!body.empty()) text += "Content-Type: application/sdp\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return text;
}

// The UAS's answer to `request` as it reaches the proxy: our Via (with the branch the proxy
// computes, §16.11) on top of the UAC's, stamped as the proxy forwarded it.
std::string response(const std::string& status, const std::string& our_branch,
                     const std::string& uac_branch, const Call& call, unsigned cseq,
                     const std::string& method, const std::string& body) {
  std::string text = "SIP/2.0 " + status +
                     "\r\n"
                     "Via: SIP/2.0/UDP 10.99.0.1:5060;branch=" +
                     our_branch +
                     ";rport\r\n"
                     "Via: SIP/2.0/UDP 10.99.0.2:5062;branch=" +
                     uac_branch +
                     ";rport=5062;received=10.99.0.2\r\n"
                     "From: \"Alice\" <sip:1001@sipline.test>;tag=uac-" +
                     call.call_id.substr(0, 8) +
                     "\r\n"
                     "To: <sip:7000@sipline.test>;tag=uas-1\r\nCall-ID: " +
                     call.call_id + "\r\nCSeq: " + std::to_string(cseq) + " " + method +
                     "\r\n"
                     "Contact: <sip:7000@10.99.0.3:5070>\r\n";
  if (!body.empty()) text += "Content-Type: application/sdp\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return text;
}

std::string branch_for(const std::string& text, const sip::BranchKey& key) {
  const sip::Message parsed = sip::parse_message(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "bench_pipeline: a template does not parse:\n%s\n", text.c_str());
    std::exit(1);
  }
  return std::string(sip::stateless_branch(parsed, key).view());
}

// An Ethernet/IPv4/UDP frame to the proxy with correct checksums.
std::vector<std::uint8_t> frame(const rte_ether_addr& source_mac, const std::uint8_t* source_ip,
                                std::uint16_t source_port, std::string_view payload) {
  std::vector<std::uint8_t> bytes(14 + 20 + 8 + payload.size());
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(bytes.data());
  ethernet->dst_addr = kProxyMac;
  ethernet->src_addr = source_mac;
  ethernet->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(bytes.data() + 14);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(20 + 8 + payload.size()));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  std::memcpy(&ip->src_addr, source_ip, 4);
  std::memcpy(&ip->dst_addr, kProxyIp, 4);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(bytes.data() + 34);
  udp->src_port = rte_cpu_to_be_16(source_port);
  udp->dst_port = rte_cpu_to_be_16(kProxyPort);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(8 + payload.size()));
  std::memcpy(bytes.data() + 42, payload.data(), payload.size());
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  return bytes;
}

// `foreign_to`: with W workers, only calls that worker 0 does not own (--dispatch-only).
std::vector<std::vector<std::uint8_t>> call_mix(unsigned calls, const sip::BranchKey& key,
                                                std::size_t& payload_octets,
                                                std::uint32_t foreign_to = 0) {
  std::vector<std::vector<std::uint8_t>> frames;
  payload_octets = 0;
  const std::string uas_sdp = sdp("10.99.0.3", 2);
  for (unsigned c = 0; c < calls; ++c) {
    Call call;
    char id[64];
    std::snprintf(id, sizeof id, "%08x-bench-%u@10.99.0.2", c * 2654435761u, c);
    call.call_id = id;
    if (foreign_to != 0 && sip::owner_of(call.call_id, foreign_to) == 0) continue;
    const std::string tag = std::to_string(c);
    const std::string invite_branch = "z9hG4bK-inv-" + tag;
    const std::string bye_branch = "z9hG4bK-bye-" + tag;
    const std::string invite = request("INVITE", "sip:7000@sipline.test", invite_branch, call, 1,
                                       false, sdp("10.99.0.2", c));
    const std::string ack =
        request("ACK", "sip:7000@10.99.0.3:5070", "z9hG4bK-ack-" + tag, call, 1, true, "");
    const std::string bye =
        request("BYE", "sip:7000@10.99.0.3:5070", bye_branch, call, 2, true, "");
    const std::string ours_invite = branch_for(invite, key);
    const std::string ours_bye = branch_for(bye, key);
    const std::string messages[kMessagesPerCall] = {
        invite,
        response("100 Trying", ours_invite, invite_branch, call, 1, "INVITE", ""),
        response("180 Ringing", ours_invite, invite_branch, call, 1, "INVITE", ""),
        response("200 OK", ours_invite, invite_branch, call, 1, "INVITE", uas_sdp),
        ack,
        bye,
        response("200 OK", ours_bye, bye_branch, call, 2, "BYE", ""),
    };
    for (std::size_t m = 0; m < kMessagesPerCall; ++m) {
      const bool from_uac = m == 0 || m == 4 || m == 5;
      frames.push_back(frame(from_uac ? kUacMac : kUasMac, from_uac ? kUacIp : kUasIp,
                             from_uac ? kUacPort : kUasPort, messages[m]));
      payload_octets += messages[m].size();
    }
  }
  return frames;
}

// --- the feeder (the "NIC") ---------------------------------------------------------------

struct Feed {
  const std::vector<std::vector<std::uint8_t>>* frames = nullptr;
  rte_mempool* pool = nullptr;
  rte_ring* rx = nullptr;
  std::vector<rte_ring*> tx;  // the TX rings this feeder drains (split among the feeders)
  std::atomic<bool>* stop = nullptr;
  std::size_t start = 0;       // where in the mix this feeder starts
  std::uint64_t rx_flags = 0;  // what a NIC with checksum offload would set
  std::atomic<std::uint64_t> transmitted{0};
};

// Copies the next burst of the mix into fresh mbufs and enqueues what fits; returns how many.
unsigned feed_burst(const Feed& feed, std::size_t& next) {
  constexpr unsigned kBurst = 32;
  if (rte_ring_free_count(feed.rx) < kBurst) return 0;
  rte_mbuf* mbufs[kBurst];
  if (rte_pktmbuf_alloc_bulk(feed.pool, mbufs, kBurst) != 0) return 0;
  const auto& frames = *feed.frames;
  for (unsigned i = 0; i < kBurst; ++i) {
    const auto& bytes = frames[next];
    next = next + 1 == frames.size() ? 0 : next + 1;
    char* data = rte_pktmbuf_mtod(mbufs[i], char*);
    rte_memcpy(data, bytes.data(), bytes.size());
    mbufs[i]->data_len = static_cast<std::uint16_t>(bytes.size());
    mbufs[i]->pkt_len = static_cast<std::uint32_t>(bytes.size());
    mbufs[i]->ol_flags = feed.rx_flags;
  }
  const unsigned queued =
      rte_ring_enqueue_burst(feed.rx, reinterpret_cast<void* const*>(mbufs), kBurst, nullptr);
  if (queued < kBurst) rte_pktmbuf_free_bulk(mbufs + queued, kBurst - queued);
  return queued;
}

void drain(Feed& feed) {
  rte_mbuf* mbufs[64];
  for (rte_ring* ring : feed.tx) {
    unsigned count;
    while ((count = rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(mbufs), 64, nullptr)) >
           0) {
      feed.transmitted.fetch_add(count, std::memory_order_relaxed);
      rte_pktmbuf_free_bulk(mbufs, count);
    }
  }
}

int extra_feeder(void* argument) {
  auto& feed = *static_cast<Feed*>(argument);
  std::size_t next = feed.start;
  while (!feed.stop->load(std::memory_order_relaxed)) {
    feed_burst(feed, next);
    drain(feed);
  }
  return 0;
}

// The worker lcores' threads, found by the name EAL gives them ("rte-worker-<lcore>"), so
// that the CPU time the kernel actually gave each one can be read: on a shared machine a
// worker's wall-clock cycles include time other jobs ran on its core.
std::vector<std::string> worker_schedstat_paths(const std::vector<unsigned>& lcores,
                                                std::size_t workers) {
  std::vector<std::string> paths(workers);
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return paths;
  while (const dirent* entry = readdir(tasks)) {
    const std::string task = std::string("/proc/self/task/") + entry->d_name;
    char name[64] = {};
    if (FILE* comm = std::fopen((task + "/comm").c_str(), "r")) {
      if (std::fgets(name, sizeof name, comm) == nullptr) name[0] = '\0';
      std::fclose(comm);
    }
    for (std::size_t i = 0; i < workers; ++i) {
      if (std::string(name) == "rte-worker-" + std::to_string(lcores[i]) + "\n") {
        paths[i] = task + "/schedstat";
      }
    }
  }
  closedir(tasks);
  return paths;
}

// Nanoseconds on a CPU (the first field of schedstat); 0 when unknown.
std::uint64_t thread_cpu_ns(const std::string& schedstat) {
  unsigned long long ns = 0;
  if (FILE* file = std::fopen(schedstat.c_str(), "r")) {
    if (std::fscanf(file, "%llu", &ns) != 1) ns = 0;
    std::fclose(file);
  }
  return ns;
}

struct Snapshot {
  std::uint64_t tsc = 0;
  std::vector<std::uint64_t> received, forwarded, busy, total, cpu_ns, frames, handed_off;
  std::uint64_t transmitted = 0;
};

Snapshot snapshot(const std::vector<std::unique_ptr<DpdkWorker>>& workers,
                  const WorkerCounters* counters, const std::vector<Feed>& feeds,
                  const std::vector<std::string>& schedstat) {
  Snapshot s;
  s.tsc = rte_rdtsc();
  for (std::size_t i = 0; i < workers.size(); ++i) {
    s.cpu_ns.push_back(schedstat[i].empty() ? 0 : thread_cpu_ns(schedstat[i]));
    // Handled here: received or handed in, less what went on to another worker or was lost
    // at that worker's full inbox (a dispatcher faster than the owners loses the excess).
    // Read in that order so that a snapshot taken while the worker runs never goes negative.
    const std::uint64_t lost =
        counters[i].dropped[static_cast<std::size_t>(DropReason::RingFull)].read();
    const std::uint64_t handed_off = counters[i].handed_off.read();
    const std::uint64_t received = counters[i].received.read();
    s.frames.push_back(received);
    s.handed_off.push_back(handed_off);
    s.received.push_back(received + counters[i].handed_in.read() - handed_off - lost);
    s.forwarded.push_back(counters[i].forwarded_requests.read() +
                          counters[i].forwarded_responses.read());
    s.busy.push_back(workers[i]->load().busy_cycles.read());
    s.total.push_back(workers[i]->load().total_cycles.read());
  }
  for (const Feed& feed : feeds)
    s.transmitted += feed.transmitted.load(std::memory_order_relaxed);
  return s;
}

// --dispatch-only: worker 0 receives everything and hands (N-1)/N of it to inboxes nobody
// processes (the feeder frees them): the cost of the dispatch path alone, which bounds how
// far one trunk (one RX queue) scales.
void report_dispatch(const Snapshot& after, const Snapshot& before, double elapsed,
                     std::uint64_t hz, unsigned workers) {
  const auto frames = static_cast<double>(after.frames[0] - before.frames[0]);
  const auto busy = static_cast<double>(after.busy[0] - before.busy[0]);
  const auto cycles = static_cast<double>(after.total[0] - before.total[0]);
  const double load = cycles > 0 ? busy / cycles : 0.0;
  const double cpu_seconds = static_cast<double>(after.cpu_ns[0] - before.cpu_ns[0]) * 1e-9;
  const auto handed_off = static_cast<double>(after.handed_off[0] - before.handed_off[0]);
  std::printf(
      "dispatch: worker 0 of %u received %.0f frames/s, handed off %.1f%%, load %.1f%%, %.0f "
      "cycles/frame; on CPU %.0f%% of the time, %.0f CPU cycles/frame\n",
      workers, frames / elapsed, frames > 0 ? 100.0 * handed_off / frames : 0.0, 100.0 * load,
      frames > 0 ? busy / frames : 0.0, 100.0 * cpu_seconds / elapsed,
      frames > 0 ? cpu_seconds * load * static_cast<double>(hz) / frames : 0.0);
  std::printf("RESULT dispatch workers=%u frames_per_s=%.0f\n", workers, frames / elapsed);
}

// --capture: a UDP socket on loopback that never reads (the kernel drops what overflows it)
// as the HEP collector. The capture thread may run on any CPU but the inline worker's, so
// that the figure is the worker's own cost (copying each message into its channel).
struct CaptureSink {
  int fd = -1;
  std::unique_ptr<HepCapture> capture;

  CaptureSink() = default;
  CaptureSink(const CaptureSink&) = delete;
  CaptureSink& operator=(const CaptureSink&) = delete;
  ~CaptureSink() {
    capture.reset();
    if (fd >= 0) ::close(fd);
  }

  bool open(unsigned workers) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof bound;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
      std::perror("bench_pipeline: capture sink");
      return false;
    }
    config::CaptureConfig settings;
    settings.hep =
        lb::parse_socket_address("127.0.0.1:" + std::to_string(ntohs(bound.sin_port))).value;
    // The thread inherits this thread's CPUs: every other CPU while it starts, then the
    // lcore's again.
    cpu_set_t lcore;
    pthread_getaffinity_np(pthread_self(), sizeof lcore, &lcore);
    cpu_set_t others;
    CPU_ZERO(&others);
    for (int cpu = 0; cpu < static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); ++cpu) {
      if (!CPU_ISSET(cpu, &lcore)) CPU_SET(cpu, &others);
    }
    if (CPU_COUNT(&others) != 0) pthread_setaffinity_np(pthread_self(), sizeof others, &others);
    HepCapture::Opened opened = HepCapture::open(settings, workers + 1);
    pthread_setaffinity_np(pthread_self(), sizeof lcore, &lcore);
    if (!opened.capture) std::fprintf(stderr, "bench_pipeline: %s\n", opened.error.c_str());
    capture = std::move(opened.capture);
    return capture != nullptr;
  }
};

// --inline: worker 0's poll_once runs on the main lcore, between feeds, timed with the TSC
// one iteration at a time. The RX ring is kept full (4,096 frames, a few MB: a frame waits
// ~128 iterations, so its bytes come from the L3 cache, as a NIC's DMA leaves them). The
// median cycles per frame over full-burst iterations is unmoved by other jobs preempting
// the process now and then: the figure for A/B comparisons on a shared machine.
// --accounting: the call records are taken off the ring between polls, untimed (the control
// thread's work), so the figure is the worker's cost of making them.
void run_inline(DpdkWorker& worker, const WorkerCounters& counters, Feed& feed, double seconds,
                std::uint64_t hz, CallRecordRing* call_records) {
  std::size_t next = 0;
  std::vector<double> per_frame;
  per_frame.reserve(4'000'000);
  std::uint64_t frames_total = 0;
  std::uint64_t cycles_total = 0;
  const auto run_for = [&](double span, bool record) {
    const std::uint64_t end = rte_rdtsc() + static_cast<std::uint64_t>(span * hz);
    while (rte_rdtsc() < end) {
      while (feed_burst(feed, next) != 0) {
      }
      const std::uint64_t frames_before = counters.received.read();
      const std::uint64_t start = rte_rdtsc();
      worker.poll_once(start);
      const std::uint64_t cycles = rte_rdtsc() - start;
      const std::uint64_t frames = counters.received.read() - frames_before;
      drain(feed);
      if (call_records != nullptr) call_records->drain([](const CallRecord&) {});
      // Only polls that found the queue full (the worker takes up to 4 full bursts a poll).
      if (!record || frames < dpdk::kBurst) continue;
      frames_total += frames;
      cycles_total += cycles;
      if (per_frame.size() < per_frame.capacity()) {
        per_frame.push_back(static_cast<double>(cycles) / static_cast<double>(frames));
      }
    }
  };
  run_for(0.5, false);
  run_for(seconds, true);
  if (per_frame.empty()) {
    std::printf("inline: no poll found a full burst\n");
    return;
  }
  std::sort(per_frame.begin(), per_frame.end());
  const double median = per_frame[per_frame.size() / 2];
  const double p10 = per_frame[per_frame.size() / 10];
  const double p90 = per_frame[per_frame.size() * 9 / 10];
  std::printf(
      "inline: %zu polls of %.0f frames on average; cycles per frame: median %.0f (p10 %.0f, "
      "p90 %.0f, mean %.0f) = %.0f frames/s per core at %.2f GHz\n",
      per_frame.size(), static_cast<double>(frames_total) / static_cast<double>(per_frame.size()),
      median, p10, p90, static_cast<double>(cycles_total) / static_cast<double>(frames_total),
      static_cast<double>(hz) / median, static_cast<double>(hz) * 1e-9);
  std::printf("RESULT inline cycles_per_frame=%.0f\n", median);
}

int run(const Options& options) {
  const auto started = dpdk::start_eal(options.eal, "bench_pipeline");
  if (!started.ok()) {
    std::fprintf(stderr, "bench_pipeline: %s\n", started.error.c_str());
    return 1;
  }
  const auto workers = static_cast<std::uint16_t>(options.workers);
  std::vector<unsigned> lcores;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    lcores.push_back(lcore);
  }
  // --dispatch-only: worker 0 alone runs; the others' inboxes are emptied by the feeder.
  const std::uint16_t launched = options.inline_worker ? 0 : options.dispatch_only ? 1 : workers;
  if (lcores.size() < launched + options.feeders - 1) {
    std::fprintf(stderr, "bench_pipeline: %u workers and %u feeders need %u lcores, EAL has %u\n",
                 launched, options.feeders, launched + options.feeders, rte_lcore_count());
    return 2;
  }

  // The port: RX ring 0 is fed (many producers when there are extra feeders); the other RX
  // rings stay empty; every TX ring is drained by the main lcore.
  std::vector<rte_ring*> rx(workers), tx(workers + 1);
  for (std::uint16_t i = 0; i < workers; ++i) {
    rx[i] = rte_ring_create(("bench_rx" + std::to_string(i)).c_str(), 4096, rte_socket_id(),
                            (options.feeders == 1 ? RING_F_SP_ENQ : 0) | RING_F_SC_DEQ);
  }
  for (std::uint16_t i = 0; i <= workers; ++i) {
    tx[i] = rte_ring_create(("bench_tx" + std::to_string(i)).c_str(), 4096, rte_socket_id(),
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
  }
  const int port_id =
      rte_eth_from_rings("bench_ring", rx.data(), workers, tx.data(), workers + 1, rte_socket_id());
  constexpr std::uint32_t kRingSize = 4096;
  const std::uint32_t rings_in_flight = (workers * (options.spread ? 2u : 1u) + 2) * kRingSize;
  auto pools = dpdk::PacketPools::create(workers, rings_in_flight + 8 * 4096,
                                         static_cast<int>(rte_socket_id()), "bench");
  if (port_id < 0 || !pools.pools) {
    std::fprintf(stderr, "bench_pipeline: port or pools: %s\n", pools.error.c_str());
    return 1;
  }
  auto port = dpdk::Port::open(dpdk::PortSettings{static_cast<std::uint16_t>(port_id), workers,
                                                  1500, pools.pools->packets()});
  if (!port.port) {
    std::fprintf(stderr, "bench_pipeline: %s\n", port.error.c_str());
    return 1;
  }

  std::string text = kConfig;
  text.replace(text.find("WORKERS"), 7, std::to_string(workers));
  text.replace(text.find("DISPATCHERS"), 11, std::to_string(options.dispatchers));
  text.replace(text.find("SPREAD"), 6, options.spread ? "true" : "false");
  if (options.pool) text.replace(text.find(kFixedTarget), kFixedTarget.size(), kPoolTarget);
  if (options.record_route || options.call_limits) {
    text.replace(text.find("[registrar]"), 0, "record_route = true\n");
  }
  if (options.call_limits) text += "max_calls = 10000000\nmax_cps = 1000000\n";
  const config::LoadResult loaded = config::load_config_text(text, "bench_pipeline.toml");
  if (!loaded.ok()) {
    std::fprintf(stderr, "bench_pipeline: config: %s\n", loaded.errors.front().c_str());
    return 1;
  }
  LocationTable location(workers);
  std::unique_ptr<PipelineContext> created = PipelineContext::create(loaded.config, &location);
  // As the runtime: every context has the call counters, limits configured or not.
  CallCounters call_counters;
  created->attach_call_counters(call_counters);
  const PipelineContext* const context = created.get();
  // As the runtime does: the workers take their context from the exchange reloads publish to,
  // every iteration.
  ContextExchange contexts(std::move(created), workers);

  dpdk::InterfaceSettings interface_settings;
  interface_settings.address = loaded.config->dataplane.dpdk.address;
  const std::uint16_t sip_port = kProxyPort;
  interface_settings.sip_ports = std::span(&sip_port, 1);
  const auto interface = dpdk::make_interface(interface_settings, kProxyMac);
  const std::uint64_t hz = rte_get_tsc_hz();
  dpdk::NeighborTable neighbors(dpdk::kNeighborCapacity, hz * 3600);
  neighbors.add_static(dpdk::ipv4_address_at(kUacIp), kUacMac);
  neighbors.add_static(dpdk::ipv4_address_at(kUasIp), kUasMac);

  DpdkRings rings;
  for (std::uint16_t i = 0; i < workers; ++i) {
    rings.inbox.push_back(rte_ring_create(("bench_in" + std::to_string(i)).c_str(), kRingSize,
                                          rte_socket_id(), RING_F_SC_DEQ | RING_F_EXACT_SZ));
  }
  for (std::uint16_t i = 0; options.spread && workers > 1 && i < workers; ++i) {
    rings.spread.push_back(rte_ring_create(("bench_sp" + std::to_string(i)).c_str(), kRingSize,
                                           rte_socket_id(), RING_F_SC_DEQ | RING_F_EXACT_SZ));
  }
  rings.control_frames =
      rte_ring_create("bench_ctl", kRingSize, rte_socket_id(), RING_F_SC_DEQ | RING_F_EXACT_SZ);
  rings.registers =
      rte_ring_create("bench_reg", kRingSize, rte_socket_id(), RING_F_SC_DEQ | RING_F_EXACT_SZ);

  const std::unique_ptr<WorkerCounters[]> counters(new WorkerCounters[workers]);
  const std::unique_ptr<CallRecordRing[]> call_records =
      options.accounting ? std::make_unique<CallRecordRing[]>(workers) : nullptr;
  std::atomic<bool> stop{false};
  CaptureSink sink;
  if (options.capture && !sink.open(workers)) return 1;
  const DpdkWorkerShared shared{.pipeline = context,
                                .contexts = &contexts,
                                .location = &location,
                                .counters = counters.get(),
                                .port = port.port.get(),
                                .rings = &rings,
                                .workers = workers,
                                .clock = TscClock::now(),
                                .stop = &stop,
                                .call_records = call_records.get(),
                                .capture = sink.capture.get()};
  std::vector<std::unique_ptr<DpdkWorker>> worker_objects;
  dpdk::LcoreCommon common{&interface.value, &neighbors, pools.pools.get(), port.port.get(),
                           workers};
  common.spread = options.spread;
  for (std::uint16_t i = 0; i < workers; ++i) {
    dpdk::LcoreSettings net = dpdk::lcore_settings(common, i, i);
    if (options.offload) net.offloads = dpdk::TxOffloads{true, true, true};
    net.defer_udp_checksum = !options.checksum_on_receive;  // the runtime defers
    auto created = dpdk::LcoreNet::create(net);
    if (!created.value) {
      std::fprintf(stderr, "bench_pipeline: %s\n", created.error.c_str());
      return 1;
    }
    worker_objects.push_back(std::make_unique<DpdkWorker>(i, shared, std::move(created.value)));
  }

  std::size_t payload_octets = 0;
  const auto frames = call_mix(options.calls, context->identity.branch_key, payload_octets,
                               options.dispatch_only ? workers : 0);
  std::printf(
      "bench_pipeline: %zu calls x %zu messages, %zu frames, mean SIP message %zu octets%s\n",
      frames.size() / kMessagesPerCall, kMessagesPerCall, frames.size(),
      payload_octets / frames.size(),
      options.dispatch_only ? " (only Call-IDs worker 0 does not own)" : "");
  std::printf("bench_pipeline: %u worker lcore(s)%s, %u feeder lcore(s), checksums %s, %s\n",
              options.workers, options.spread ? " spreading full bursts" : "", options.feeders,
              options.offload ? "offloaded (emulated NIC)" : "in software",
              port.port->describe().c_str());

  std::vector<Feed> feeds(options.feeders);
  for (unsigned f = 0; f < options.feeders; ++f) {
    feeds[f].frames = &frames;
    feeds[f].pool = pools.pools->packets();
    feeds[f].rx = rx[0];
    feeds[f].stop = &stop;
    feeds[f].start = (frames.size() / options.feeders * f) / kMessagesPerCall * kMessagesPerCall;
    if (options.offload) {
      feeds[f].rx_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    }
  }
  // Each feeder drains a share of the TX rings: with many workers one lcore freeing every
  // transmitted mbuf would be the limit, as no NIC is.
  for (std::size_t i = 0; i < tx.size(); ++i)
    feeds[i % options.feeders].tx.push_back(tx[i]);
  for (std::uint16_t i = 0; i < launched; ++i) {
    rte_eal_remote_launch(&DpdkWorker::launch, worker_objects[i].get(), lcores[i]);
  }
  for (unsigned f = 1; f < options.feeders; ++f) {
    rte_eal_remote_launch(&extra_feeder, &feeds[f], lcores[launched + f - 1]);
  }
  if (options.dispatch_only) {
    feeds[0].tx.insert(feeds[0].tx.end(), rings.inbox.begin() + 1, rings.inbox.end());
  }
  if (options.inline_worker) {
    run_inline(*worker_objects[0], counters[0], feeds[0], options.seconds, hz, call_records.get());
    const std::size_t limited_calls = worker_objects[0]->pipeline().active_calls()->size();
    worker_objects.clear();
    port.port.reset();
    if (options.call_limits) {
      // Each call of the mix takes its place with its INVITE and gives it back with its BYE:
      // at the end only calls cut off mid-way hold one, and none was refused.
      const std::uint32_t held = call_counters.calls(call_counters.counter_for("route:to-uas"));
      const std::uint64_t refused = counters[0].calls_limited.read() +
                                    counters[0].calls_rate_limited.read() +
                                    counters[0].call_table_full.read();
      std::printf("call limits: %u calls held at the end (%zu in the table), %llu refused\n", held,
                  limited_calls, static_cast<unsigned long long>(refused));
      if (held != limited_calls || held > options.calls || refused != 0) return 1;
    }
    if (sink.capture) {
      // Two captures a message (as received, as sent); a channel the capture thread could not
      // empty fast enough drops the rest, counted. The smoke run fails when none was taken.
      std::printf("%s", sink.capture->counters_text().c_str());
      if (sink.capture->channel(0).captured() == 0) return 1;
    }
    if (!options.accounting) return 0;
    // Two records a call (its INVITE's 200 and its BYE's 200) of seven messages: the smoke run
    // fails when none were made or the ring overflowed.
    const std::uint64_t made = counters[0].call_records.read();
    const std::uint64_t lost = counters[0].call_records_dropped.read();
    std::printf("accounting: %llu call records for %llu messages (2 per 7 expected), %llu lost\n",
                static_cast<unsigned long long>(made),
                static_cast<unsigned long long>(counters[0].received.read()),
                static_cast<unsigned long long>(lost));
    return made != 0 && lost == 0 ? 0 : 1;
  }

  // Warm-up, then the measured interval.
  std::size_t next = 0;
  const auto run_for = [&](double seconds) {
    const std::uint64_t end = rte_rdtsc() + static_cast<std::uint64_t>(seconds * hz);
    while (rte_rdtsc() < end) {
      feed_burst(feeds[0], next);
      drain(feeds[0]);
    }
  };
  std::vector<std::string> schedstat = worker_schedstat_paths(lcores, launched);
  schedstat.resize(workers);
  run_for(0.5);
  const Snapshot before = snapshot(worker_objects, counters.get(), feeds, schedstat);
  run_for(options.seconds);
  const Snapshot after = snapshot(worker_objects, counters.get(), feeds, schedstat);
  stop.store(true, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  for (Feed& feed : feeds)
    drain(feed);

  const double elapsed = static_cast<double>(after.tsc - before.tsc) / static_cast<double>(hz);
  if (options.dispatch_only) {
    report_dispatch(after, before, elapsed, hz, workers);
    worker_objects.clear();
    port.port.reset();
    return 0;
  }
  double total_rate = 0;
  double total_busy_rate = 0;
  for (std::size_t i = 0; i < worker_objects.size(); ++i) {
    // Signed: a dispatcher's count hovers around zero (what it holds between snapshots).
    const auto handled = std::max(
        0.0,
        static_cast<double>(static_cast<std::int64_t>(after.received[i] - before.received[i])));
    const auto forwarded = static_cast<double>(after.forwarded[i] - before.forwarded[i]);
    const auto busy = static_cast<double>(after.busy[i] - before.busy[i]);
    const auto cycles = static_cast<double>(after.total[i] - before.total[i]);
    const double rate = handled / elapsed;
    const double busy_rate = busy > 0 ? handled / (busy / static_cast<double>(hz)) : 0;
    // The kernel's account of the worker thread's CPU time, times its busy share: the cycles
    // a message cost on a core that other jobs also used.
    const double cpu_seconds = static_cast<double>(after.cpu_ns[i] - before.cpu_ns[i]) * 1e-9;
    const double load = cycles > 0 ? busy / cycles : 0.0;
    const double cpu_cycles_per_msg =
        handled > 0 ? cpu_seconds * load * static_cast<double>(hz) / handled : 0.0;
    if (i < options.dispatchers) {
      const auto frames = static_cast<double>(after.frames[i] - before.frames[i]);
      std::printf(
          "worker %zu (dispatcher): %.0f frames/s received, %.0f handed off/s, load %.1f%%, "
          "%.0f cycles/frame\n",
          i, frames / elapsed,
          static_cast<double>(after.handed_off[i] - before.handed_off[i]) / elapsed, 100.0 * load,
          frames > 0 ? busy / frames : 0.0);
      continue;
    }
    total_rate += rate;
    total_busy_rate += busy_rate;
    std::printf(
        "worker %zu: %.0f SIP msgs/s handled (%.0f forwarded/s), load %.1f%%, %.0f msgs per "
        "busy core-second, %.0f cycles/msg; on CPU %.0f%% of the time, %.0f CPU cycles/msg\n",
        i, rate, forwarded / elapsed, 100.0 * load, busy_rate, handled > 0 ? busy / handled : 0.0,
        100.0 * cpu_seconds / elapsed, cpu_cycles_per_msg);
  }
  const double wire = static_cast<double>(after.transmitted - before.transmitted) / elapsed;
  std::printf(
      "total: %.0f SIP msgs/s over %u worker(s) = %.0f msgs/s per worker core, %.0f frames/s "
      "transmitted, %.2f s measured\n",
      total_rate, options.workers, total_rate / options.workers, wire, elapsed);
  std::printf("RESULT workers=%u offload=%d msgs_per_s=%.0f per_worker=%.0f\n", options.workers,
              options.offload ? 1 : 0, total_rate, total_rate / options.workers);
  std::uint64_t drops = 0;
  for (std::uint16_t i = 0; i < workers; ++i) {
    for (const Counter& counter : counters[i].dropped)
      drops += counter.read();
  }
  if (drops != 0)
    std::printf("warning: the workers dropped %llu messages\n",
                static_cast<unsigned long long>(drops));

  worker_objects.clear();
  port.port.reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const int code = run(options);
  sipline::dataplane::dpdk::stop_eal();
  return code;
}

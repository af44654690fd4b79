// The DPDK worker lcore (io = "dpdk", DESIGN.md §1 and §5): the same Pipeline as the socket
// worker, fed from a NIC RX queue instead of a socket.
//
// One loop iteration (busy-poll: the lcore never sleeps, never blocks, never makes a syscall,
// never touches the heap):
//   0. the overload gate's clocks and REGISTER backlog (below);
//   1. rx bursts from RX queue i, up to 4 while they come full (each length tells the
//      overload gate whether the queue was drained; with dataplane.spread a full one may be
//      passed whole to another worker, below), then a burst other workers spread to us;
//      each frame through LcoreNet::receive
//      (classify, checksums, reassembly): SIP datagram → scan its Call-ID → owner =
//      hash(Call-ID) scaled onto the owning workers (all, or those after
//      dataplane.dispatchers). Owned here: processed at once; owned by worker j: staged for
//      j's inbox ring. ARP / ICMP / ND: staged for the control lcore's ring.
//   2. the staged frames go out in one burst enqueue per ring (a full ring frees the frames
//      and counts them: drop_ring_full, control_ring_full);
//   3. a burst of frames other workers handed to us is processed;
//   4. LcoreNet::poll: parked datagrams, reassembly timeouts, one TX burst on TX queue i;
//   5. a quiescent state for the location table (no ContactsView outlives the iteration).
//
// Buffers ("zero copy in, one copy out", DESIGN.md §3): the pipeline parses the UDP payload
// where it lies in the mbuf (a reassembled chain is first copied into the lcore's 64 KiB
// scratch: the only copy in, and only for datagrams that arrived in fragments). Hand-offs
// move the mbuf pointer, never the bytes. The forwarded message or local response is
// written once, straight into the data room of a fresh mbuf (up to ~1.9 KB); a larger one is
// written into the lcore's 64 KiB output buffer and copied into an mbuf chain by
// LcoreNet::send (a second copy out, only for messages that do not fit one mbuf).
//
// REGISTERs for our domains go to the control lcore's register ring as they arrived; the
// control lcore answers them from its own TX queue.
//
// Spreading (dataplane.spread): one trunk is one 5-tuple, so RSS puts all of it on one RX
// queue, and the worker polling that queue classifies every frame and scans every Call-ID:
// ~200 cycles a frame that no other core can share, which caps the whole box (a dispatcher,
// dataplane.dispatchers, raises that cap but keeps it). With spread on, an RX burst that
// comes back full (the queue has a backlog: this core alone is not keeping up) goes whole,
// unread, to the next of the other workers in turn through that worker's spread ring: a
// pointer copy per frame. Whoever takes it classifies it and hands each call to its owner
// as if it had received it, so every core shares the classification. A short burst stays
// here (the queue is keeping up; a second cross-core move would only add latency), and so
// does what a full spread ring refuses, and every burst of a worker that was itself handed
// spread bursts in its last iteration (with several busy trunks, workers would only swap). The
// price, documented for the operator:
//   - a frame spread elsewhere crosses two cores (spread, then hand-off) instead of one;
//   - two messages of one call that arrive within microseconds of each other may reach
//     their owner in either order (they were classified on different cores), as with
//     several UDP readers of one socket in Kamailio; RFC 3261 over UDP tolerates reordering
//     (CSeq, §17 retransmissions), and messages of one call are normally a round trip apart;
//   - the fragments of one datagram may reach different workers: each worker keeps only the
//     fragments whose IP pair it reassembles (LcoreNet, fragment_owner) and passes the
//     others to that worker's spread ring.
//
// Admission control (overload.hpp): the same OverloadGate as a socket worker, consulted by the
// same Pipeline after the Call-ID hand-off (only the owner's work is gated), detecting on a
// busy-polling lcore's terms, once per iteration and never per packet:
//   - an RX burst that comes back short (< kBurst) drained its queue: not overloaded;
//   - the inbox is a second input: full inbox bursts for busy_ms are overload too, so an
//     owner fed only by hand-offs (dataplane.dispatchers) sheds when it falls behind; either
//     input backing up counts, and a short burst clears only its own input;
//   - "CPU time" is the TSC time of the iteration: a poll-mode lcore never leaves its core,
//     so its wall time is its CPU time (on a core shared with other threads, as on a small
//     test machine, it overstates it);
//   - the queue sample (at most once per OverloadGate::kQueueSampleBatches full bursts) is
//     rte_eth_rx_queue_count against the RX ring's descriptors; a PMD without it (negative
//     answer, e.g. net_ring) gives no sample, and busy_ms alone detects overload;
//   - the REGISTER backlog is the occupancy of the register ring, which all workers share
//     (rte_ring_count: two loads of the ring's tails).
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/context_exchange.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/net_counters.hpp"
#include "dataplane/hep_capture.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/overload.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/source_guard.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/systemd_notify.hpp"

namespace sipline::dataplane {

// The rings between DPDK lcores, created once by the runtime (dpdk_runtime.cpp). Every ring
// has many producers and one consumer (burst API, RING_F_SC_DEQ): N rings for N workers
// instead of N² pairs, and one compare-and-swap per burst on the producer side.
struct DpdkRings {
  std::vector<rte_ring*> inbox;        // inbox[j]: datagrams whose Call-ID worker j owns
  rte_ring* control_frames = nullptr;  // ARP, ICMP echo, ND: for the control lcore
  rte_ring* registers = nullptr;       // REGISTERs for our domains: for the control lcore
  // Frames for the kernel (exception_path.hpp), for the control lcore to pass on; null
  // without an exception path. A ring of its own, so that a flood of them (a SYN flood on the
  // dataplane's address) fills this ring and not the one ARP and ping depend on.
  rte_ring* kernel_frames = nullptr;
  // spread[j]: frames, unread, that other workers passed to worker j (dataplane.spread;
  // empty when it is off or there is one worker).
  std::vector<rte_ring*> spread;
};

// Unix seconds from the TSC, so a worker reads no clock through the kernel.
struct TscClock {
  std::uint64_t hz = 0;
  std::uint64_t tsc_at_start = 0;
  std::int64_t unix_at_start = 0;

  static TscClock now();
  std::int64_t unix_seconds(std::uint64_t tsc) const {
    return unix_at_start + static_cast<std::int64_t>((tsc - tsc_at_start) / hz);
  }
  // The first TSC value of unix second `second` (>= unix_at_start).
  std::uint64_t tsc_of(std::int64_t second) const {
    return tsc_at_start + static_cast<std::uint64_t>(second - unix_at_start) * hz;
  }
};

// Where the listen addresses' SIP ports map to PipelineContext::listen indices: a datagram's
// destination (our address and port) → the "socket" index the pipeline works with.
class ListenIndex {
 public:
  explicit ListenIndex(const std::vector<PeerAddress>& listen);
  // -1 when no listen address has this family and port.
  int find(bool ipv6, std::uint16_t port) const;
  std::uint16_t port(std::size_t socket) const { return entries_[socket].port; }

 private:
  struct Entry {
    bool ipv6 = false;
    std::uint16_t port = 0;
  };
  std::array<Entry, kMaxListenSockets> entries_{};
  std::size_t count_ = 0;
};

// [dataplane] static_neighbors as permanent entries of `table`: empty when every entry went
// in, else why the first that did not (its bucket holds only static entries).
std::string add_static_neighbors(std::span<const config::StaticNeighbor> entries,
                                 dpdk::NeighborTable& table);

// The pipeline's peer addresses hold the packet layer's endpoints (PeerAddress(endpoint) one
// way, this the other): the peer's endpoint, or nullptr for no address; it lives as long as
// `peer`.
const dpdk::Endpoint* endpoint_from_peer(const PeerAddress& peer);

struct DpdkWorkerShared {
  // The context at start; a reload frees it (only the constructor reads it).
  const PipelineContext* pipeline = nullptr;
  // Reloads (context_exchange.hpp): the context is taken from here at every iteration. Null:
  // `pipeline` for good (tests).
  ContextExchange* contexts = nullptr;
  LocationTable* location = nullptr;
  WorkerCounters* counters = nullptr;  // one per worker
  dpdk::Port* port = nullptr;          // null: frames are fed and taken by hand (tests)
  const DpdkRings* rings = nullptr;
  std::uint16_t workers = 1;
  TscClock clock;
  const std::atomic<bool>* stop = nullptr;
  // [accounting]: one ring per worker (call_records.hpp). Null: no call records.
  CallRecordRing* call_records = nullptr;
  // [capture]: channel i is worker i's (hep_capture.hpp). Null: no capture.
  HepCapture* capture = nullptr;
  // One per worker, beaten every iteration for systemd's watchdog. Null: none.
  Heartbeat* heartbeats = nullptr;
};

// How busy a worker's core is: TSC cycles of iterations that found work, and of all of them.
// Written by the worker (one writer), read by the control lcore.
struct alignas(64) LcoreLoad {
  Counter busy_cycles;
  Counter total_cycles;
};

// Everything one worker lcore owns, in one cache-aligned object.
class alignas(64) DpdkWorker {
 public:
  // `net` is this lcore's packet layer (its TX queue = RX queue = `index`).
  DpdkWorker(std::uint16_t index, const DpdkWorkerShared& shared,
             std::unique_ptr<dpdk::LcoreNet> net);
  ~DpdkWorker();
  DpdkWorker(const DpdkWorker&) = delete;
  DpdkWorker& operator=(const DpdkWorker&) = delete;

  // The lcore body: busy-polls until *shared.stop, then goes offline for the location table.
  void run();
  // rte_eal_remote_launch entry point; `worker` is a DpdkWorker*.
  static int launch(void* worker);

  // One iteration with `now` = rte_rdtsc(); returns whether it found work. Public so that
  // tests and the benchmark can drive a worker step by step.
  bool poll_once(std::uint64_t now);
  // Processes frames as if received on this worker's RX queue (tests and the benchmark
  // without a port); the frames are consumed.
  void receive_frames(std::span<rte_mbuf*> frames, std::uint64_t now);

  std::uint16_t index() const { return index_; }
  dpdk::LcoreNet& net() { return *net_; }
  const dpdk::LcoreNet& net() const { return *net_; }
  const LcoreLoad& load() const { return load_; }
  const Pipeline& pipeline() const { return pipeline_; }

 private:
  struct Staged {
    std::array<rte_mbuf*, dpdk::kBurst> frames{};
    std::uint16_t count = 0;
  };

  // An RX burst: passed whole to another worker when spreading says so, else accepted here.
  void take_burst(std::span<rte_mbuf*> frames, std::uint64_t now);
  // Each frame of a burst, prefetched ahead; hand-offs stay staged (flush_all sends them).
  void accept_burst(std::span<rte_mbuf*> frames, std::uint64_t now);
  std::uint16_t next_spread_target(std::uint16_t worker) const;
  // A burst of frames other workers spread to this one; whether there was any.
  bool take_spread(std::uint64_t now);
  // A fragment another worker reassembles (LcoreNet::Verdict::Steer).
  void steer(rte_mbuf* fragment, std::uint16_t owner);
  void accept(rte_mbuf* frame, std::uint64_t now);
  bool admit_source(const dpdk::Datagram& datagram);
  void process(rte_mbuf* frame, const dpdk::Datagram& datagram, std::uint64_t now);
  void send(const Outcome& outcome, dpdk::PayloadBuffer buffer, std::uint64_t now);
  // The failover transactions' sends (Pipeline::next_transaction_send) due by `now_ms`;
  // true when there was any.
  bool send_transaction_work(std::int64_t now_ms, std::uint64_t now);
  // Where a staged frame goes: its Call-ID owner, the control lcore, the kernel.
  enum class Lane : std::uint8_t { HandOff, Control, Kernel };
  void stage(Staged& staged, rte_ring* ring, rte_mbuf* frame, Lane lane);
  void flush(Staged& staged, rte_ring* ring, Lane lane);
  void count_refused(rte_ring* ring, Lane lane, std::uint16_t refused);
  void count_refused_frames(dpdk::NetDrop reason, const char* what, bool& logged,
                            std::uint16_t refused);
  void flush_all();
  bool take_handed_in(std::uint64_t now);
  void observe_overload();
  void sample_rx_queue(std::uint16_t slot);

  std::uint16_t index_;
  DpdkWorkerShared shared_;
  WorkerCounters& counters_;
  std::unique_ptr<dpdk::LcoreNet> net_;
  Pipeline pipeline_;
  std::unique_ptr<SourceAdmission> sources_;  // per-source limits (source_guard.hpp); null: none
  ListenIndex listen_;
  std::array<std::uint16_t, 4> rx_queues_{};  // Port::rx_queues_of
  std::uint16_t rx_queue_count_ = 0;
  std::uint16_t dispatchers_ = 0;      // workers 0..dispatchers_-1 own no calls (config)
  std::int64_t unix_now_ = 0;          // this iteration's wall clock, for the pipeline
  std::uint64_t next_second_ = 0;      // TSC at which unix_now_ moves on
  std::vector<Staged> hand_offs_;      // per owner
  Staged to_control_;                  // ARP / ICMP / ND frames
  std::unique_ptr<char[]> output_;     // 64 KiB: messages that do not fit one mbuf
  CaptureChannel* capture_ = nullptr;  // [capture]: what it receives and sends; null: none
  LcoreLoad load_;
  bool logged_ring_full_ = false;
  bool logged_control_full_ = false;
  bool logged_shedding_ = false;
  // Admission control (overload.hpp), read once per iteration and per request; last, so that
  // the members above keep the cache lines the benchmark's figures were measured with.
  OverloadGate gate_;
  std::array<std::uint16_t, 4> rx_ring_sizes_{};  // descriptors of each RX queue polled
  double microseconds_per_cycle_ = 0;             // TSC → the gate's busy clock
  // This iteration's TSC time since start, in µs: the gate's busy clock, and (/1000) the
  // millisecond clock of the per-source buckets.
  std::int64_t busy_us_ = 0;
  Staged to_kernel_;  // frames for the kernel (exception path); after the hot members
  bool logged_kernel_full_ = false;
  bool spread_ = false;            // dataplane.spread with 2 or more workers
  std::uint16_t spread_next_ = 0;  // the worker the next full burst goes to
  bool spread_arrived_ = false;    // the last iteration took frames from the spread ring
  bool logged_steer_full_ = false;
};

// The control lcore's share of DPDK mode, run by the ControlThread's loop on the EAL main
// lcore: answers ARP / ICMP echo / ND (the neighbour table's single writer), handles the
// REGISTERs the workers pass (RegisterService: the same registrar as socket mode) and sends
// the answers from its own TX queue, and prints the packet layer's counters.
class DpdkControl final : public ControlDuty {
 public:
  struct Settings {
    dpdk::LcoreNet* net = nullptr;  // the control lcore's packet layer
    const DpdkRings* rings = nullptr;
    RegisterService* registers = nullptr;
    // Takes the answers to the control thread's own requests (ControlThread::take_own_answer);
    // null: none are sent.
    std::function<bool(std::string_view)> take_own_answer;
    ControlCounters* counters = nullptr;
    TscClock clock;
    std::vector<const DpdkWorker*> workers;  // for their counter lines
    const dpdk::Port* port = nullptr;        // null in tests
    CaptureChannel* capture = nullptr;       // [capture]: the REGISTER answers; null: none
  };
  explicit DpdkControl(Settings settings);

  std::size_t poll() override;
  std::string counters_text() const override;

  // A datagram the control lcore originates (a health probe) from our address and
  // `source_port`, on its TX queue; false when it could not be sent.
  bool send_datagram(std::string_view payload, std::uint16_t source_port, const PeerAddress& to);

 private:
  void answer_register(rte_mbuf* frame, std::uint64_t now);

  Settings settings_;
  std::unique_ptr<char[]> output_;  // 64 KiB: the REGISTER answer before it is framed
};

}  // namespace sipline::dataplane

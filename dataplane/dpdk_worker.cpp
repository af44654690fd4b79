#include "dataplane/dpdk_worker.hpp"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include <cstring>
#include <ctime>

#include "dataplane/log.hpp"
#include "sip/call_id_scan.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::size_t kOutputSize = dpdk::kScratchSize;

// The control ring's consumer answers what it dequeues; what a burst enqueue could not place
// is freed by the producer.
std::uint16_t enqueue_burst(rte_ring* ring, rte_mbuf** frames, std::uint16_t count) {
  return static_cast<std::uint16_t>(
      rte_ring_enqueue_burst(ring, reinterpret_cast<void* const*>(frames), count, nullptr));
}

std::uint16_t dequeue_burst(rte_ring* ring, rte_mbuf** frames, std::uint16_t count) {
  return static_cast<std::uint16_t>(
      rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(frames), count, nullptr));
}

// How far ahead in a burst frames are fetched. A frame's bytes were written by another core
// (the NIC's DMA into the LLC, or the worker that handed it off), so each first touch is a
// miss. A frame only dispatched to its Call-ID owner costs ~200 cycles, less than one miss
// from memory: its mbuf header is fetched kHeadersAhead frames ahead and its bytes (which
// the header locates) kDataAhead frames ahead.
constexpr std::size_t kHeadersAhead = 4;
constexpr std::size_t kDataAhead = 2;
static_assert(kDataAhead < kHeadersAhead);

// Full RX bursts taken from one queue per iteration before the hand-offs are flushed. A
// worker that receives a whole trunk hands most frames to other owners; flushed per burst of
// 32, each of 13 owners gets ~2 frames per enqueue, and each enqueue is a compare-and-swap on
// a ring head that its consumer keeps reading (a cross-core round trip). Four bursts make
// those batches four times larger; an idle or lightly loaded queue still returns at once.
constexpr unsigned kRxBurstsPerPoll = 4;

// A cache line this core is about to write, fetched for ownership (PREFETCHW): the line was
// last written by another core (the NIC's descriptor write-back, the worker that handed the
// frame off), and a plain prefetch would bring it in shared, so that the first store pays a
// second cross-core round trip to invalidate the other copy. Inline assembly because the
// compiler emits it only for -march levels above the project's (__builtin_prefetch(p, 1) is a
// PREFETCHT0 under -march=corei7); CPUs without the instruction execute it as a NOP.
void prefetch_for_write(const void* line) {
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(line)));
}

// Both cache lines of the rte_mbuf, both written here: packet_type/ol_flags (line 0) and
// l2_len/l3_len/l4_len (line 1) as the frame is classified, next/refcnt when it is freed.
void prefetch_mbuf(const rte_mbuf* frame) {
  prefetch_for_write(frame);
  prefetch_for_write(reinterpret_cast<const char*>(frame) + RTE_CACHE_LINE_SIZE);
}

void prefetch_burst_start(rte_mbuf* const* frames, std::size_t count) {
  for (std::size_t i = 0; i < count && i < kHeadersAhead; ++i)
    prefetch_mbuf(frames[i]);
  for (std::size_t i = 0; i < count && i < kDataAhead; ++i)
    dpdk::prefetch_frame_data(frames[i]);
}

// While frame i is handled.
void prefetch_ahead(rte_mbuf* const* frames, std::size_t count, std::size_t i) {
  if (i + kHeadersAhead < count) prefetch_mbuf(frames[i + kHeadersAhead]);
  if (i + kDataAhead < count) dpdk::prefetch_frame_data(frames[i + kDataAhead]);
}

}  // namespace

TscClock TscClock::now() {
  TscClock clock;
  clock.hz = rte_get_tsc_hz();
  clock.tsc_at_start = rte_rdtsc();
  clock.unix_at_start = static_cast<std::int64_t>(std::time(nullptr));
  return clock;
}

ListenIndex::ListenIndex(const std::vector<PeerAddress>& listen) {
  for (const PeerAddress& address : listen) {
    if (count_ == entries_.size()) break;
    entries_[count_++] = Entry{address.is_ipv6(), address.port()};
  }
}

int ListenIndex::find(bool ipv6, std::uint16_t port) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (entries_[i].port == port && entries_[i].ipv6 == ipv6) return static_cast<int>(i);
  }
  return -1;
}

std::string add_static_neighbors(std::span<const config::StaticNeighbor> entries,
                                 dpdk::NeighborTable& table) {
  for (const config::StaticNeighbor& entry : entries) {
    rte_ether_addr mac;
    std::memcpy(mac.addr_bytes, entry.mac.data(), RTE_ETHER_ADDR_LEN);
    if (!table.add_static(entry.address, mac)) {
      return "dataplane.static_neighbors: no room for " + entry.address.to_string() +
             " (its bucket of the neighbour table holds only static entries)";
    }
  }
  return {};
}

const dpdk::Endpoint* endpoint_from_peer(const PeerAddress& peer) {
  return peer.empty() ? nullptr : &peer.endpoint();
}

// --- DpdkWorker -----------------------------------------------------------------------------

DpdkWorker::DpdkWorker(std::uint16_t index, const DpdkWorkerShared& shared,
                       std::unique_ptr<dpdk::LcoreNet> net)
    : index_(index),
      shared_(shared),
      counters_(shared.counters[index]),
      net_(std::move(net)),
      pipeline_(*shared.pipeline, index),
      listen_(shared.pipeline->listen),
      hand_offs_(shared.workers),
      output_(std::make_unique<char[]>(kOutputSize)),
      gate_(shared.pipeline->config->overload) {
  pipeline_.set_overload_gate(&gate_);
  pipeline_.set_counters(&counters_);
  if (shared.call_records != nullptr) pipeline_.set_call_records(&shared.call_records[index]);
  if (shared.capture != nullptr) capture_ = &shared.capture->channel(index);
  microseconds_per_cycle_ = 1e6 / static_cast<double>(shared.clock.hz != 0 ? shared.clock.hz : 1);
  if (shared.port != nullptr) rx_queue_count_ = shared.port->rx_queues_of(index, rx_queues_);
  for (std::uint16_t i = 0; i < rx_queue_count_; ++i) {
    // What rte_eth_rx_queue_setup was given after the PMD's adjustment; a PMD that does not
    // say leaves the size the port asked for.
    rte_eth_rxq_info info{};
    rx_ring_sizes_[i] = rte_eth_rx_queue_info_get(shared.port->id(), rx_queues_[i], &info) == 0
                            ? info.nb_desc
                            : dpdk::kRxDescriptors;
  }
  if (shared.pipeline->guard != nullptr) {
    sources_ = std::make_unique<SourceAdmission>(*shared.pipeline->guard, index);
  }
  dispatchers_ = static_cast<std::uint16_t>(shared.pipeline->config->dataplane.dispatchers);
  spread_ = shared.rings != nullptr && shared.rings->spread.size() == shared.workers &&
            shared.workers > 1;
  spread_next_ = next_spread_target(index);
}

// The worker after `worker`, skipping this one: a worker whose queue comes back full keeps
// none of its full bursts, because it already pays for taking them off the queue and
// passing them on, and owns its share of the calls besides.
std::uint16_t DpdkWorker::next_spread_target(std::uint16_t worker) const {
  std::uint16_t next = static_cast<std::uint16_t>(worker + 1 == shared_.workers ? 0 : worker + 1);
  if (next == index_) next = static_cast<std::uint16_t>(next + 1 == shared_.workers ? 0 : next + 1);
  return next;
}

DpdkWorker::~DpdkWorker() {
  for (Staged& staged : hand_offs_) {
    rte_pktmbuf_free_bulk(staged.frames.data(), staged.count);
  }
  rte_pktmbuf_free_bulk(to_control_.frames.data(), to_control_.count);
}

int DpdkWorker::launch(void* worker) {
  static_cast<DpdkWorker*>(worker)->run();
  return 0;
}

void DpdkWorker::run() {
  // One TSC read per iteration: the end of one is the start (and `now`) of the next.
  std::uint64_t now = rte_rdtsc();
  while (!shared_.stop->load(std::memory_order_relaxed)) {
    const bool worked = poll_once(now);
    const std::uint64_t end = rte_rdtsc();
    if (worked) load_.busy_cycles.add(end - now);
    load_.total_cycles.add(end - now);
    if (shared_.heartbeats != nullptr) shared_.heartbeats[index_].beat();
    now = end;
  }
  net_->flush();
  // A stopped worker holds no view into the location table, nor a context.
  shared_.location->offline(index_);
  if (shared_.contexts != nullptr) shared_.contexts->offline(index_);
}

bool DpdkWorker::poll_once(std::uint64_t now) {
  if (now >= next_second_) {
    // A division per second rather than per iteration.
    unix_now_ = shared_.clock.unix_seconds(now);
    next_second_ = shared_.clock.tsc_of(unix_now_ + 1);
  }
  // Signed: another lcore's TSC may lag the one the clock was read on by a few cycles.
  busy_us_ = static_cast<std::int64_t>(
      static_cast<double>(static_cast<std::int64_t>(now - shared_.clock.tsc_at_start)) *
      microseconds_per_cycle_);
  if (shared_.contexts != nullptr) {
    // A reloaded configuration is routed with from this iteration on.
    const PipelineContext* current = shared_.contexts->acquire();
    if (current != &pipeline_.context()) pipeline_.rebind(*current);
  }
  observe_overload();
  bool worked = false;
  for (std::uint16_t i = 0; i < rx_queue_count_; ++i) {
    for (unsigned round = 0; round < kRxBurstsPerPoll; ++round) {
      std::array<rte_mbuf*, dpdk::kBurst> burst;
      const std::uint16_t count = shared_.port->receive(rx_queues_[i], burst);
      if (gate_.enabled() && gate_.on_batch(count, dpdk::kBurst)) sample_rx_queue(i);
      if (count == 0) break;
      take_burst({burst.data(), count}, now);
      worked = true;
      if (count < dpdk::kBurst) break;
    }
  }
  if (spread_) worked |= take_spread(now);
  // Failover timers, only when some pool fails over: the TSC clock of the overload gate.
  pipeline_.expire_calls(unix_now_);  // limited calls nothing ended, once a second
  if (pipeline_.transactions() != nullptr) worked |= send_transaction_work(busy_us_ / 1000, now);
  if (worked) flush_all();
  worked |= take_handed_in(now);
  net_->poll(now);
  shared_.location->quiescent(index_);
  if (shared_.contexts != nullptr) shared_.contexts->quiescent(index_);
  return worked;
}

// Once per iteration: the gate's busy clock (TSC time: a poll-mode lcore is always on its
// core), its RFC 7339 window, and the REGISTERs waiting for the control lcore. No syscall:
// the TSC, and two loads of the register ring's tails.
void DpdkWorker::observe_overload() {
  if (!gate_.enabled()) return;
  gate_.set_register_backlog(rte_ring_count(shared_.rings->registers));
  gate_.set_cpu_time(busy_us_);
  const std::int64_t monotonic_ms = busy_us_ / 1000;
  gate_.tick(monotonic_ms, shared_.clock.unix_at_start * 1000 + monotonic_ms);
  if (gate_.overloaded() && !logged_shedding_) {
    logged_shedding_ = true;
    SIPLINE_LOG_WARN(
        "worker %u: overloaded (RX queue or inbox backlog); new requests are answered 503 "
        "(counted as shed_new, shed_register)",
        index_);
  }
}

// How full RX queue rx_queues_[slot] is, for the gate's severe state. A PMD without
// rx_queue_count (a negative answer) gives no sample.
void DpdkWorker::sample_rx_queue(std::uint16_t slot) {
  const int queued = rte_eth_rx_queue_count(shared_.port->id(), rx_queues_[slot]);
  if (queued < 0) return;
  gate_.on_queue_sample(static_cast<std::size_t>(queued), rx_ring_sizes_[slot]);
}

void DpdkWorker::receive_frames(std::span<rte_mbuf*> frames, std::uint64_t now) {
  take_burst(frames, now);
  flush_all();
}

void DpdkWorker::take_burst(std::span<rte_mbuf*> frames, std::uint64_t now) {
  // A worker that other workers are spreading to is not the only busy one (several trunks,
  // all queues backing up): passing its bursts on would only swap them, so it keeps them.
  if (spread_ && frames.size() == dpdk::kBurst && !spread_arrived_) {
    const std::uint16_t target = spread_next_;
    spread_next_ = next_spread_target(target);
    const std::uint16_t passed = enqueue_burst(shared_.rings->spread[target], frames.data(),
                                               static_cast<std::uint16_t>(frames.size()));
    net_->counters().spread_out.add(passed);
    // What a full spread ring refused is handled here: that worker is behind already.
    frames = frames.subspan(passed);
  }
  if (!frames.empty()) accept_burst(frames, now);
}

// Like an RX queue: up to kRxBurstsPerPoll bursts while they come full, so that the
// hand-offs they make go out in batches as large as the receiving worker's.
bool DpdkWorker::take_spread(std::uint64_t now) {
  bool worked = false;
  spread_arrived_ = false;
  for (unsigned round = 0; round < kRxBurstsPerPoll; ++round) {
    std::array<rte_mbuf*, dpdk::kBurst> frames;
    const std::uint16_t count =
        dequeue_burst(shared_.rings->spread[index_], frames.data(), dpdk::kBurst);
    if (gate_.enabled()) gate_.on_batch(count, dpdk::kBurst, Input::Spread);
    if (count == 0) break;
    net_->counters().spread_in.add(count);
    accept_burst({frames.data(), count}, now);
    worked = true;
    spread_arrived_ = true;
    if (count < dpdk::kBurst) break;
  }
  return worked;
}

void DpdkWorker::steer(rte_mbuf* fragment, std::uint16_t owner) {
  rte_mbuf* frames[1] = {fragment};
  if (enqueue_burst(shared_.rings->spread[owner], frames, 1) == 1) return;
  count_refused_frames(dpdk::NetDrop::SpreadRingFull,
                       "the spread ring of the worker reassembling a fragment is full; dropping "
                       "fragments",
                       logged_steer_full_, 1);
  rte_pktmbuf_free(fragment);
}

void DpdkWorker::accept_burst(std::span<rte_mbuf*> frames, std::uint64_t now) {
  const std::size_t count = frames.size();
  prefetch_burst_start(frames.data(), count);
  for (std::size_t i = 0; i < count; ++i) {
    prefetch_ahead(frames.data(), count, i);
    accept(frames[i], now);
  }
}

void DpdkWorker::accept(rte_mbuf* frame, std::uint64_t now) {
  const dpdk::LcoreNet::Received received = net_->receive(frame, now);
  switch (received.verdict) {
    case dpdk::LcoreNet::Verdict::Consumed:
      return;
    case dpdk::LcoreNet::Verdict::Control:
      stage(to_control_, shared_.rings->control_frames, received.frame, Lane::Control);
      return;
    case dpdk::LcoreNet::Verdict::Kernel:
      stage(to_kernel_, shared_.rings->kernel_frames, received.frame, Lane::Kernel);
      return;
    case dpdk::LcoreNet::Verdict::Steer:
      steer(received.frame, received.owner);
      return;
    case dpdk::LcoreNet::Verdict::Sip:
      break;
  }
  counters_.received.add();
  const dpdk::Datagram datagram = dpdk::read_datagram(received.frame, net_->scratch());
  if (sources_ != nullptr && !admit_source(datagram)) {
    rte_pktmbuf_free(received.frame);
    return;
  }
  const std::uint32_t owner =
      sip::datagram_owner(datagram.payload, shared_.workers, dispatchers_, index_);
  if (owner == index_) {
    process(received.frame, datagram, now);
    return;
  }
  stage(hand_offs_[owner], shared_.rings->inbox[owner], received.frame, Lane::HandOff);
}

// Per-source limits (source_guard.hpp), before the Call-ID hand-off: false when the datagram
// is to be dropped (counted here).
bool DpdkWorker::admit_source(const dpdk::Datagram& datagram) {
  // The iteration's clock, not the packet's: no division per datagram.
  const SourceVerdict verdict =
      sources_->admit(datagram.payload, PeerAddress(datagram.source), unix_now_, busy_us_ / 1000,
                      *pipeline_.context().trusted_sources);
  if (verdict == SourceVerdict::Pass) return true;
  counters_.count_drop(verdict == SourceVerdict::Blocked ? DropReason::BlockedSource
                                                         : DropReason::RateLimited);
  return false;
}

void DpdkWorker::process(rte_mbuf* frame, const dpdk::Datagram& datagram, std::uint64_t now) {
  // The receiving lcore left the UDP checksum to the owner (LcoreSettings::defer_udp_checksum).
  if (!net_->verify_udp_checksum(frame)) {
    rte_pktmbuf_free(frame);
    return;
  }
  const bool ipv6 = dpdk::is_ipv6(datagram.destination.address);
  const int socket = listen_.find(ipv6, datagram.destination.port);
  const Inbound in{datagram.payload, PeerAddress(datagram.source),
                   static_cast<std::uint8_t>(socket < 0 ? 0 : socket)};
  if (capture_ != nullptr) {
    capture_->capture(datagram.payload, in.peer.endpoint(),
                      PeerAddress(datagram.destination).endpoint());
  }
  dpdk::PayloadBuffer buffer = net_->allocate_payload();
  const Outcome outcome =
      pipeline_.process(in, unix_now_, OutputBuffers{buffer.room, {output_.get(), kOutputSize}});
  count_outcome_notes(outcome, counters_);
  switch (outcome.verdict) {
    case Verdict::Send:
      send(outcome, buffer, now);
      rte_pktmbuf_free(frame);
      // What the answer of a failing-over call set off (our ACK, the next member's INVITE).
      if (pipeline_.has_transaction_work(kPendingSendsOnly)) {
        send_transaction_work(kPendingSendsOnly, now);
      }
      return;
    case Verdict::Drop:
    case Verdict::Absorbed:
      count_unsent(outcome, counters_);
      break;
    case Verdict::ToControl: {
      rte_pktmbuf_free(buffer.mbuf);
      rte_mbuf* frames[1] = {frame};
      if (enqueue_burst(shared_.rings->registers, frames, 1) == 1) {
        counters_.to_control.add();
        return;  // the control lcore frees it
      }
      counters_.count_drop(DropReason::ControlFull);
      if (!logged_control_full_) {
        logged_control_full_ = true;
        SIPLINE_LOG_WARN(
            "worker %u: REGISTER ring to the control lcore is full; dropping REGISTERs and probe "
            "answers "
            "(counted as drop_control_full)",
            index_);
      }
      rte_pktmbuf_free(frame);
      return;
    }
  }
  rte_pktmbuf_free(buffer.mbuf);
  rte_pktmbuf_free(frame);
  if (pipeline_.has_transaction_work(kPendingSendsOnly)) {
    send_transaction_work(kPendingSendsOnly, now);
  }
}

bool DpdkWorker::send_transaction_work(std::int64_t now_ms, std::uint64_t now) {
  bool sent = false;
  pipeline_.set_clock_ms(now_ms);
  while (pipeline_.has_transaction_work(now_ms)) {
    dpdk::PayloadBuffer buffer = net_->allocate_payload();
    const std::optional<Outcome> outcome = pipeline_.next_transaction_send(
        now_ms, OutputBuffers{buffer.room, {output_.get(), kOutputSize}});
    if (outcome && outcome->verdict == Verdict::Send) {
      send(*outcome, buffer, now);
      sent = true;
      continue;
    }
    rte_pktmbuf_free(buffer.mbuf);
    if (!outcome) break;
    count_unsent(*outcome, counters_);
  }
  return sent;
}

void DpdkWorker::send(const Outcome& outcome, dpdk::PayloadBuffer buffer, std::uint64_t now) {
  const dpdk::Endpoint* const to = endpoint_from_peer(outcome.destination);
  const std::uint16_t source_port = listen_.port(outcome.socket);
  if (capture_ != nullptr && to != nullptr) {
    const char* payload = outcome.in_fallback ? output_.get() : buffer.room.data();
    capture_->capture({payload, outcome.size},
                      pipeline_.context().listen[outcome.socket].endpoint(),
                      outcome.destination.endpoint());
  }
  dpdk::SendResult result;
  if (!to) {
    rte_pktmbuf_free(buffer.mbuf);
  } else if (outcome.in_fallback) {
    rte_pktmbuf_free(buffer.mbuf);
    result = net_->send({output_.get(), outcome.size}, source_port, *to, now);
  } else {
    result = net_->send_payload(buffer, outcome.size, source_port, *to, now);
  }
  if (result.status == dpdk::SendStatus::Dropped) {
    // Why is counted by the packet layer (no buffer, unroutable, pending queue full, ...).
    counters_.count_drop(DropReason::SendFailed);
    return;
  }
  count_sent(outcome.kind, outcome.code, counters_);
}

void DpdkWorker::stage(Staged& staged, rte_ring* ring, rte_mbuf* frame, Lane lane) {
  staged.frames[staged.count++] = frame;
  if (staged.count == staged.frames.size()) flush(staged, ring, lane);
}

void DpdkWorker::flush(Staged& staged, rte_ring* ring, Lane lane) {
  if (staged.count == 0) return;
  // No ring (frames for the kernel without an exception path's ring): all refused.
  const std::uint16_t accepted =
      ring == nullptr ? 0 : enqueue_burst(ring, staged.frames.data(), staged.count);
  const std::uint16_t refused = staged.count - accepted;
  if (refused != 0) rte_pktmbuf_free_bulk(staged.frames.data() + accepted, refused);
  if (lane == Lane::HandOff) counters_.handed_off.add(accepted);
  if (refused != 0) count_refused(ring, lane, refused);
  staged.count = 0;
}

// Counted, and logged once per worker and lane.
void DpdkWorker::count_refused(rte_ring* ring, Lane lane, std::uint16_t refused) {
  switch (lane) {
    case Lane::HandOff:
      for (std::uint16_t i = 0; i < refused; ++i)
        counters_.count_drop(DropReason::RingFull);
      if (!logged_ring_full_) {
        logged_ring_full_ = true;
        SIPLINE_LOG_WARN(
            "worker %u: a hand-off ring is full (%u slots); dropping datagrams (counted as "
            "drop_ring_full)",
            index_, rte_ring_get_capacity(ring));
      }
      return;
    case Lane::Control:
      return count_refused_frames(dpdk::NetDrop::ControlRingFull,
                                  "ring to the control lcore is full; dropping ARP/ICMP/ND frames",
                                  logged_control_full_, refused);
    case Lane::Kernel:
      return count_refused_frames(dpdk::NetDrop::KernelRingFull,
                                  "ring of frames for the kernel is full; dropping them",
                                  logged_kernel_full_, refused);
  }
}

// Frames a packet-layer ring refused: counted under `reason` on this lcore's net line, and
// `what` logged the first time (`logged` remembers it).
void DpdkWorker::count_refused_frames(dpdk::NetDrop reason, const char* what, bool& logged,
                                      std::uint16_t refused) {
  net_->counters().drop(reason, refused);
  if (logged) return;
  logged = true;
  const std::string name(dpdk::net_drop_name(reason));
  SIPLINE_LOG_WARN("worker %u: %s (counted as drop_%s)", index_, what, name.c_str());
}

void DpdkWorker::flush_all() {
  for (std::size_t owner = 0; owner < hand_offs_.size(); ++owner) {
    flush(hand_offs_[owner], shared_.rings->inbox[owner], Lane::HandOff);
  }
  flush(to_control_, shared_.rings->control_frames, Lane::Control);
  flush(to_kernel_, shared_.rings->kernel_frames, Lane::Kernel);
}

bool DpdkWorker::take_handed_in(std::uint64_t now) {
  if (shared_.workers == 1) return false;
  std::array<rte_mbuf*, dpdk::kBurst> frames;
  const std::uint16_t count =
      dequeue_burst(shared_.rings->inbox[index_], frames.data(), dpdk::kBurst);
  // An owner fed only by hand-offs (dataplane.dispatchers) detects overload here.
  if (gate_.enabled()) gate_.on_batch(count, dpdk::kBurst, Input::Inbox);
  prefetch_burst_start(frames.data(), count);
  for (std::uint16_t i = 0; i < count; ++i) {
    prefetch_ahead(frames.data(), count, i);
    counters_.handed_in.add();
    // Marked by the receiving lcore's LcoreNet::receive: the parts are found without parsing.
    process(frames[i], dpdk::read_datagram(frames[i], net_->scratch()), now);
  }
  return count != 0;
}

// --- DpdkControl ----------------------------------------------------------------------------

DpdkControl::DpdkControl(Settings settings)
    : settings_(std::move(settings)), output_(std::make_unique<char[]>(kOutputSize)) {}

std::size_t DpdkControl::poll() {
  const std::uint64_t now = rte_rdtsc();
  dpdk::LcoreNet& net = *settings_.net;
  std::array<rte_mbuf*, dpdk::kBurst> frames;
  std::size_t handled = 0;
  std::uint16_t count = dequeue_burst(settings_.rings->control_frames, frames.data(), dpdk::kBurst);
  for (std::uint16_t i = 0; i < count; ++i)
    net.answer(frames[i], now);
  handled += count;
  if (settings_.rings->kernel_frames != nullptr) {
    count = dequeue_burst(settings_.rings->kernel_frames, frames.data(), dpdk::kBurst);
    for (std::uint16_t i = 0; i < count; ++i)
      net.to_kernel(frames[i]);
    handled += count;
  }
  count = dequeue_burst(settings_.rings->registers, frames.data(), dpdk::kBurst);
  for (std::uint16_t i = 0; i < count; ++i)
    answer_register(frames[i], now);
  handled += count;
  net.poll(now);
  return handled;
}

void DpdkControl::answer_register(rte_mbuf* frame, std::uint64_t now) {
  dpdk::LcoreNet& net = *settings_.net;
  const dpdk::Datagram datagram = dpdk::read_datagram(frame, net.scratch());
  if (settings_.take_own_answer && settings_.take_own_answer(datagram.payload)) {
    rte_pktmbuf_free(frame);
    return;
  }
  const RegisterService::Reply reply =
      settings_.registers->handle(datagram.payload, PeerAddress(datagram.source),
                                  settings_.clock.unix_seconds(now), {output_.get(), kOutputSize});
  const std::uint16_t source_port = datagram.destination.port;
  rte_pktmbuf_free(frame);
  if (!reply.ok) return;
  const dpdk::Endpoint* const to = endpoint_from_peer(reply.destination);
  if (to == nullptr) return;
  const dpdk::SendResult sent = net.send({output_.get(), reply.size}, source_port, *to, now);
  if (sent.status == dpdk::SendStatus::Dropped) {
    settings_.counters->dropped_no_buffer.add();  // why: the control line of the net counters
    return;
  }
  if (settings_.capture != nullptr) {
    settings_.capture->capture({output_.get(), reply.size},
                               PeerAddress(datagram.destination).endpoint(),
                               reply.destination.endpoint());
  }
  settings_.counters->responses.add();
}

bool DpdkControl::send_datagram(std::string_view payload, std::uint16_t source_port,
                                const PeerAddress& to) {
  const dpdk::Endpoint* const endpoint = endpoint_from_peer(to);
  if (endpoint == nullptr) return false;
  const dpdk::SendResult sent = settings_.net->send(payload, source_port, *endpoint, rte_rdtsc());
  return sent.status != dpdk::SendStatus::Dropped;
}

std::string DpdkControl::counters_text() const {
  std::string text;
  for (const DpdkWorker* worker : settings_.workers) {
    std::string name = "net worker " + std::to_string(worker->index());
    text += dpdk::format_net_counters(name, worker->net().counters());
    const std::uint64_t total = worker->load().total_cycles.read();
    const std::uint64_t busy = worker->load().busy_cycles.read();
    if (total != 0) {
      // Replace the newline with the load field: the share of cycles spent on iterations that
      // found work (a busy-polling lcore is always at 100% CPU).
      text.pop_back();
      text += " load_percent=" + std::to_string(busy * 100 / total) + "\n";
    }
  }
  text += dpdk::format_net_counters("net control", settings_.net->counters());
  if (const dpdk::ExceptionPath* exception = settings_.net->exception()) {
    text += exception->counters_text();
  }
  if (settings_.port != nullptr) {
    rte_eth_stats stats{};
    if (rte_eth_stats_get(settings_.port->id(), &stats) == 0) {
      text += "port " + std::to_string(settings_.port->id()) +
              ": ipackets=" + std::to_string(stats.ipackets) +
              " opackets=" + std::to_string(stats.opackets) +
              " imissed=" + std::to_string(stats.imissed) +
              " ierrors=" + std::to_string(stats.ierrors) +
              " oerrors=" + std::to_string(stats.oerrors) +
              " rx_nombuf=" + std::to_string(stats.rx_nombuf) + "\n";
    }
  }
  return text;
}

}  // namespace sipline::dataplane

#include "dataplane/worker.hpp"

#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "dataplane/source_guard.hpp"
#include "sip/call_id_scan.hpp"

namespace sipline::dataplane {

TxQueue::TxQueue() : slots_(new std::array<char, kPacketCapacity>[kTxSlots]) {}

void TxQueue::commit_slot(const Outcome& outcome) {
  Entry& entry = entries_[count_++];
  entry.data = slots_[used_slots_++].data();
  entry.size = outcome.size;
  entry.socket = outcome.socket;
  entry.kind = outcome.kind;
  entry.code = outcome.code;
  entry.destination = outcome.destination;
}

Worker::Worker(std::size_t index, const WorkerShared& shared, std::unique_ptr<SocketPort> port)
    : index_(index),
      shared_(shared),
      fabric_(*shared.fabric),
      counters_(shared.counters[index]),
      port_(std::move(port)),
      pool_(static_cast<std::uint16_t>(index), kPacketsPerWorker),
      gate_(shared.pipeline->config->overload),
      pipeline_(*shared.pipeline, index),
      hand_offs_(fabric_.endpoints()),
      returns_(fabric_.endpoints()) {
  pipeline_.set_overload_gate(&gate_);
  pipeline_.set_counters(&counters_);
  if (shared.call_records != nullptr) pipeline_.set_call_records(&shared.call_records[index]);
  if (shared.capture != nullptr) capture_ = &shared.capture->channel(index);
  if (shared.pipeline->guard != nullptr) {
    sources_ = std::make_unique<SourceAdmission>(*shared.pipeline->guard, index);
  }
  dispatchers_ = shared.pipeline->config->dataplane.dispatchers;
  kernel_drops_seen_.assign(port_->socket_count(), 0);  // its sockets are new
}

void Worker::run() {
  while (!shared_.stop->load(std::memory_order_relaxed)) {
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    // After a drained iteration another one would only find the sockets empty, at the cost
    // of a thread-CPU clock read and a recvmmsg that fails with EAGAIN: two system calls per
    // wake-up, which at moderate rates (small batches) is a good share of the worker's CPU.
    // poll() is level-triggered, so what arrived meanwhile ends the sleep at once.
    const Iteration iteration = poll_once(now);
    if (shared_.heartbeats != nullptr) shared_.heartbeats[index_].beat();
    if (!iteration.worked || iteration.drained) sleep_until_work();
  }
  // Whatever is still staged goes home, so pools are whole when the runtime is torn down.
  flush_tx();
  flush_returns();
  shared_.location->offline(index_);
  if (shared_.contexts != nullptr) shared_.contexts->offline(index_);
}

Worker::Iteration Worker::poll_once(std::int64_t now) {
  adopt_current_context();
  observe_overload();
  const bool returned = take_returns();
  const Iteration received = receive_bursts(now);
  sync_shed_filter();
  const Iteration handed_in = take_handed_in(now);
  // Failover timers: checked once per iteration (a sleeping worker wakes every
  // kIdlePollTimeoutMs), only when some pool fails over.
  pipeline_.expire_calls(now);  // limited calls nothing ended (call_limits.hpp), once a second
  if (pipeline_.transactions() != nullptr) send_transaction_work(monotonic_ms());
  flush_tx();
  flush_returns();
  // Every ContactsView of this iteration is gone: old table versions may be freed; so may a
  // context replaced by a reload.
  shared_.location->quiescent(index_);
  if (shared_.contexts != nullptr) shared_.contexts->quiescent(index_);
  return Iteration{returned || received.worked || handed_in.worked,
                   received.drained && handed_in.drained};
}

// Once per iteration, before any packet: a reloaded configuration is routed with from here on.
void Worker::adopt_current_context() {
  if (shared_.contexts == nullptr) return;
  const PipelineContext* current = shared_.contexts->acquire();
  if (current != &pipeline_.context()) pipeline_.rebind(*current);
}

// Once per iteration: the REGISTER backlog towards the control thread, the thread's CPU
// time (the gate's busy clock) and the RFC 7339 window of the overload gate.
void Worker::observe_overload() {
  if (!gate_.enabled()) return;
  gate_.set_register_backlog(fabric_.work(index_, fabric_.control()).size_approx());
  timespec monotonic{};
  timespec wall{};
  timespec cpu{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &monotonic);
  clock_gettime(CLOCK_REALTIME_COARSE, &wall);
  // A system call (the others are vDSO), once per iteration: never per packet.
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  gate_.set_cpu_time(cpu.tv_sec * 1'000'000 + cpu.tv_nsec / 1000);
  gate_.tick(monotonic.tv_sec * 1000 + monotonic.tv_nsec / 1'000'000,
             wall.tv_sec * 1000 + wall.tv_nsec / 1'000'000);
  if (gate_.overloaded() && !logged_shedding_) {
    logged_shedding_ = true;
    SIPLINE_LOG_WARN(
        "worker %zu: overloaded (socket backlog); new requests are answered 503 "
        "(counted as shed_new, shed_register)",
        index_);
  }
}

// While overloaded, the kernel drops most new INVITEs and REGISTERs before this worker reads them
// (shed_filter.hpp): attached when the gate says overloaded, removed when it no longer
// does. A change costs one setsockopt per socket; the gate changes state at most once per
// receive batch.
void Worker::sync_shed_filter() {
  const std::uint32_t percent = pipeline_.context().config->overload.shed_filter_percent;
  if (!gate_.enabled() || percent == 0 || gate_.overloaded() == shed_filter_on_) return;
  shed_filter_on_ = gate_.overloaded();
  if (shed_filter_on_) counters_.shed_filter_on.add();
  const std::vector<std::string>& emergency = pipeline_.context().config->limits.emergency_numbers;
  if (!port_->set_shed_filter(shed_filter_on_ ? percent : 0, emergency) &&
      !logged_filter_refused_) {
    logged_filter_refused_ = true;
    SIPLINE_LOG_WARN("worker %zu: the kernel refused the shed socket filter: %s", index_,
                     std::strerror(errno));
  }
  if (!shed_filter_on_) {
    for (std::size_t socket = 0; socket < port_->socket_count(); ++socket)
      count_kernel_drops(socket, port_->receive_queue(socket).drops);
  }
}

void Worker::count_kernel_drops(std::size_t socket, std::uint32_t drops) {
  counters_.kernel_drops.add(drops - kernel_drops_seen_[socket]);  // modulo 2^32
  kernel_drops_seen_[socket] = drops;
}

bool Worker::take_returns() {
  bool any = false;
  std::array<Packet*, kBurst> packets;
  for (std::size_t from = 0; from < fabric_.endpoints(); ++from) {
    if (from == index_) continue;
    std::size_t count;
    while ((count = fabric_.back(from, index_).dequeue_burst(packets)) > 0) {
      pool_.release_burst(std::span(packets.data(), count));
      any = true;
    }
  }
  return any;
}

Worker::Iteration Worker::receive_bursts(std::int64_t now) {
  Iteration iteration{false, true};
  const std::size_t workers = fabric_.workers();
  std::array<Packet*, kBurst> packets;
  for (std::size_t socket = 0; socket < port_->socket_count(); ++socket) {
    const std::size_t wanted = pool_.allocate_burst(packets);
    if (wanted == 0) {
      // Every packet is away (handed off, queued for the control thread): the kernel buffers
      // datagrams until some come back.
      if (!logged_pool_empty_) {
        logged_pool_empty_ = true;
        SIPLINE_LOG_WARN("worker %zu: all %zu packet buffers in use; receiving paused", index_,
                         pool_.size());
      }
      iteration.drained = false;  // not read at all
      break;
    }
    const std::size_t received = port_->receive(socket, std::span(packets.data(), wanted));
    if (received == wanted) iteration.drained = false;
    for (std::size_t i = received; i < wanted; ++i)
      pool_.release(packets[i]);
    if (gate_.on_batch(received, wanted)) {
      const SocketPort::QueueFill fill = port_->receive_queue(socket);
      gate_.on_queue_sample(fill.queued, fill.capacity);
      count_kernel_drops(socket, fill.drops);
    }
    if (received == 0) continue;
    iteration.worked = true;
    counters_.received.add(received);
    const std::int64_t now_ms = sources_ != nullptr ? monotonic_ms() : 0;
    for (std::size_t i = 0; i < received; ++i) {
      Packet* packet = packets[i];
      if (sources_ != nullptr && !admit_source(packet, now, now_ms)) continue;
      const std::size_t owner =
          sip::datagram_owner(packet->bytes(), static_cast<std::uint32_t>(workers), dispatchers_,
                              static_cast<std::uint32_t>(index_));
      if (owner == index_) {
        process(packet, now);
      } else {
        stage_hand_off(packet, owner);
      }
    }
    flush_hand_offs();
  }
  return iteration;
}

// Per-source limits (source_guard.hpp), before the Call-ID hand-off: a refused request is
// dropped here, unanswered, and counted. False when it was.
bool Worker::admit_source(Packet* packet, std::int64_t now, std::int64_t now_ms) {
  const SourceVerdict verdict = sources_->admit(packet->bytes(), packet->peer, now, now_ms,
                                                *pipeline_.context().trusted_sources);
  if (verdict == SourceVerdict::Pass) return true;
  counters_.count_drop(verdict == SourceVerdict::Blocked ? DropReason::BlockedSource
                                                         : DropReason::RateLimited);
  pool_.release(packet);
  return false;
}

void Worker::stage_hand_off(Packet* packet, std::size_t owner) {
  Staged& staged = hand_offs_[owner];
  staged.packets[staged.count++] = packet;
  if (staged.count == staged.packets.size()) flush_hand_offs();
}

void Worker::flush_hand_offs() {
  for (std::size_t owner = 0; owner < fabric_.workers(); ++owner) {
    Staged& staged = hand_offs_[owner];
    if (staged.count == 0) continue;
    const std::size_t accepted =
        fabric_.work(index_, owner).enqueue_burst(std::span(staged.packets.data(), staged.count));
    if (accepted > 0) {
      counters_.handed_off.add(accepted);
      fabric_.waker(owner).wake();
    }
    for (std::size_t i = accepted; i < staged.count; ++i) {
      counters_.count_drop(DropReason::RingFull);
      pool_.release(staged.packets[i]);  // received here, so ours
    }
    if (accepted < staged.count && !logged_ring_full_) {
      logged_ring_full_ = true;
      SIPLINE_LOG_WARN(
          "worker %zu: hand-off ring to worker %zu is full (%zu slots); dropping datagrams "
          "(counted as drop_ring_full)",
          index_, owner, fabric_.work(index_, owner).capacity());
    }
    staged.count = 0;
  }
}

Worker::Iteration Worker::take_handed_in(std::int64_t now) {
  Iteration iteration{false, true};
  std::array<Packet*, kBurst> packets;
  // Hand-offs come from other workers only (the control thread sends its answers itself).
  for (std::size_t from = 0; from < fabric_.workers(); ++from) {
    if (from == index_) continue;
    const std::size_t count = fabric_.work(from, index_).dequeue_burst(packets);
    if (count == packets.size()) iteration.drained = false;
    if (count == 0) continue;
    iteration.worked = true;
    counters_.handed_in.add(count);
    for (std::size_t i = 0; i < count; ++i)
      process(packets[i], now);
  }
  return iteration;
}

void Worker::process(Packet* packet, std::int64_t now) {
  if (capture_ != nullptr) {
    capture_->capture(packet->bytes(), packet->peer.endpoint(),
                      pipeline_.context().listen[packet->socket].endpoint());
  }
  if (tx_.full()) flush_tx();
  const Outcome outcome = pipeline_.process(*packet, now, tx_.next_slot());
  count_outcome_notes(outcome, counters_);
  switch (outcome.verdict) {
    case Verdict::Send:
    case Verdict::Drop:
    case Verdict::Absorbed:
      commit_outcome(outcome);
      // What the answer of a failing-over call set off (our ACK, the next member's INVITE).
      if (pipeline_.has_transaction_work(kPendingSendsOnly)) {
        send_transaction_work(kPendingSendsOnly);
      }
      break;
    case Verdict::ToControl: {
      const std::size_t control = fabric_.control();
      if (fabric_.work(index_, control).enqueue(packet) == 1) {
        counters_.to_control.add();
        fabric_.waker(control).wake();
        return;  // the control thread returns it to its home when done
      }
      counters_.count_drop(DropReason::ControlFull);
      if (!logged_control_full_) {
        logged_control_full_ = true;
        SIPLINE_LOG_WARN(
            "worker %zu: REGISTER ring to the control thread is full; dropping REGISTERs and probe "
            "answers "
            "(counted as drop_control_full)",
            index_);
      }
      break;
    }
  }
  give_back(packet);
}

// Send, Drop or Absorbed (ToControl is process()'s own case).
void Worker::commit_outcome(const Outcome& outcome) {
  if (outcome.verdict == Verdict::Send) {
    tx_.commit_slot(outcome);
    return;
  }
  count_unsent(outcome, counters_);
}

void Worker::send_transaction_work(std::int64_t now_ms) {
  pipeline_.set_clock_ms(now_ms);
  while (pipeline_.has_transaction_work(now_ms)) {
    if (tx_.full()) flush_tx();
    const std::optional<Outcome> outcome =
        pipeline_.next_transaction_send(now_ms, OutputBuffers{tx_.next_slot(), {}});
    if (!outcome) break;
    commit_outcome(*outcome);
  }
}

void Worker::give_back(Packet* packet) {
  if (packet->home == index_) {
    pool_.release(packet);
    return;
  }
  Staged& staged = returns_[packet->home];
  staged.packets[staged.count++] = packet;
  if (staged.count == staged.packets.size()) flush_returns();
}

void Worker::flush_returns() {
  for (std::size_t home = 0; home < fabric_.endpoints(); ++home) {
    Staged& staged = returns_[home];
    if (staged.count == 0) continue;
    const std::size_t accepted =
        fabric_.back(index_, home).enqueue_burst(std::span(staged.packets.data(), staged.count));
    if (accepted != staged.count) {
      // Return rings hold as many packets as their pool has (fabric.hpp): this cannot happen
      // unless a packet was returned twice. Losing track of packets would be worse.
      std::fprintf(stderr, "sipline: error: worker %zu: return ring to %zu overflowed\n", index_,
                   home);
      std::abort();
    }
    staged.count = 0;
  }
}

void Worker::flush_tx() {
  if (tx_.empty()) return;
  std::array<OutboundDatagram, TxQueue::kMaxEntries> datagrams;
  std::array<TxQueue::Entry*, TxQueue::kMaxEntries> owners;
  const std::span<TxQueue::Entry> entries = tx_.entries();
  for (std::size_t socket = 0; socket < port_->socket_count(); ++socket) {
    std::size_t count = 0;
    for (TxQueue::Entry& entry : entries) {
      if (entry.socket != socket) continue;
      datagrams[count] = {entry.data, entry.size, &entry.destination};
      owners[count++] = &entry;
    }
    if (count == 0) continue;
    const SocketPort::SendResult result = port_->send(socket, std::span(datagrams.data(), count));
    for (std::size_t i = 0; i < count; ++i) {
      const TxQueue::Entry& entry = *owners[i];
      if (result.refused.test(i)) {
        counters_.count_drop(DropReason::SendFailed);
        if (!logged_send_failed_) {
          logged_send_failed_ = true;
          SIPLINE_LOG_WARN(
              "worker %zu: sendmmsg refused a datagram to %s (counted as "
              "drop_send_failed)",
              index_, format_peer(entry.destination).view().data());
        }
      } else {
        count_sent(entry.kind, entry.code, counters_);
        if (capture_ != nullptr) {
          capture_->capture({entry.data, entry.size}, pipeline_.context().listen[socket].endpoint(),
                            entry.destination.endpoint());
        }
      }
    }
  }
  tx_.clear();
}

bool Worker::inbound_empty() const {
  for (std::size_t from = 0; from < fabric_.workers(); ++from) {
    if (from != index_ && !fabric_.work(from, index_).empty_approx()) return false;
  }
  return true;
}

void Worker::sleep_until_work() {
  // Offline first: a sleeping worker must not hold back the location table's reclamation
  // (nor a reload's).
  shared_.location->offline(index_);
  if (shared_.contexts != nullptr) shared_.contexts->offline(index_);
  Waker& waker = fabric_.waker(index_);
  waker.announce_sleep();
  bool signalled = false;
  if (inbound_empty()) {
    std::array<pollfd, kMaxListenSockets + 1> fds{};
    std::size_t count = 0;
    for (std::size_t socket = 0; socket < port_->socket_count(); ++socket) {
      fds[count++] = {port_->fd(socket), POLLIN, 0};
    }
    fds[count++] = {waker.fd(), POLLIN, 0};
    if (::poll(fds.data(), count, kIdlePollTimeoutMs) > 0) {
      signalled = (fds[count - 1].revents & POLLIN) != 0;
    }
  }
  waker.woke(signalled);
  shared_.location->online(index_);
  if (shared_.contexts != nullptr) shared_.contexts->online(index_);
}

}  // namespace sipline::dataplane

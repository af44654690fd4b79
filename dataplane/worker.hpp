// A worker thread (DESIGN.md §1): its own sockets, its own packet pool, its own pipeline.
//
// One loop iteration:
//   1. take back packets other threads have finished with (return rings → own pool);
//   2. receive a burst from each socket; for each datagram, scan the Call-ID: owned here →
//      process now; owned by worker j → stage for the hand-off ring to j;
//   3. flush the staged hand-offs (burst enqueue; a full ring drops and counts);
//   4. dequeue what other workers handed in (process it) and what the control thread asks
//      to send (transmit it as is);
//   5. one sendmmsg per socket for everything produced, then the finished packets go home;
//   6. report a quiescent state to the location table (no ContactsView is held any more).
// An iteration that found nothing sleeps in poll() on the sockets and the worker's waker
// for at most kIdlePollTimeoutMs, offline for the location table's reclamation meanwhile.
// The worker never takes a lock and never waits for another thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/context_exchange.hpp"
#include "dataplane/fabric.hpp"
#include "dataplane/hep_capture.hpp"
#include "dataplane/log.hpp"
#include "dataplane/overload.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/socket_port.hpp"
#include "dataplane/source_guard.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/systemd_notify.hpp"

namespace sipline::dataplane {

// Forwarded messages and local responses are written into these slots, then sent in one
// sendmmsg per socket.
class TxQueue {
 public:
  static constexpr std::size_t kMaxEntries = SocketPort::kMaxSendBatch;

  TxQueue();

  bool full() const { return used_slots_ == kTxSlots || count_ == kMaxEntries; }
  bool empty() const { return count_ == 0; }
  // Where the next message is written; only valid while !full().
  std::span<char> next_slot() { return {slots_[used_slots_].data(), kPacketCapacity}; }

  struct Entry {
    const char* data = nullptr;
    std::uint32_t size = 0;
    std::uint8_t socket = 0;
    SendKind kind = SendKind::LocalResponse;
    std::uint16_t code = 0;
    PeerAddress destination;
  };

  // Commits the message written into next_slot().
  void commit_slot(const Outcome& outcome);

  std::span<Entry> entries() { return {entries_.data(), count_}; }
  void clear() { used_slots_ = count_ = 0; }

 private:
  std::unique_ptr<std::array<char, kPacketCapacity>[]> slots_;
  std::array<Entry, kMaxEntries> entries_{};
  std::size_t used_slots_ = 0;
  std::size_t count_ = 0;
};

// What the workers and the control thread share; built by the runtime before any thread
// starts.
struct WorkerShared {
  Fabric* fabric = nullptr;
  WorkerCounters* counters = nullptr;  // one per worker
  // The context at start; a reload frees it (only the constructor reads it).
  const PipelineContext* pipeline = nullptr;
  LocationTable* location = nullptr;
  const std::atomic<bool>* stop = nullptr;
  // Reloads (context_exchange.hpp): the context is taken from here at every iteration. Null:
  // `pipeline` for good (tests).
  ContextExchange* contexts = nullptr;
  // [accounting]: one ring per worker (call_records.hpp). Null: no call records.
  CallRecordRing* call_records = nullptr;
  // [capture]: channel i is worker i's (hep_capture.hpp). Null: no capture.
  HepCapture* capture = nullptr;
  // One per worker, beaten every iteration for systemd's watchdog. Null: none.
  Heartbeat* heartbeats = nullptr;
};

class Worker {
 public:
  Worker(std::size_t index, const WorkerShared& shared, std::unique_ptr<SocketPort> port);

  // The thread body: loops until *shared.stop.
  void run();

  // What one iteration found.
  struct Iteration {
    bool worked = false;   // something was received, handed in or given back
    bool drained = false;  // every socket read and inbound ring came back short of a burst
  };

  // One iteration. Public for tests that drive a worker step by step.
  Iteration poll_once(std::int64_t now);

  std::size_t index() const { return index_; }
  const PacketPool& pool() const { return pool_; }

 private:
  bool take_returns();
  Iteration receive_bursts(std::int64_t now);
  Iteration take_handed_in(std::int64_t now);
  void process(Packet* packet, std::int64_t now);
  // The failover transactions' sends (Pipeline::next_transaction_send) due by `now_ms`.
  void send_transaction_work(std::int64_t now_ms);
  void commit_outcome(const Outcome& outcome);
  void stage_hand_off(Packet* packet, std::size_t owner);
  void flush_hand_offs();
  bool admit_source(Packet* packet, std::int64_t now, std::int64_t now_ms);
  void give_back(Packet* packet);
  void flush_returns();
  void flush_tx();
  bool inbound_empty() const;
  void sleep_until_work();
  void adopt_current_context();
  void observe_overload();
  void sync_shed_filter();
  void count_kernel_drops(std::size_t socket, std::uint32_t drops);

  std::size_t index_;
  WorkerShared shared_;
  Fabric& fabric_;
  WorkerCounters& counters_;
  std::unique_ptr<SocketPort> port_;
  PacketPool pool_;
  OverloadGate gate_;  // admission control; the pipeline consults it (overload.hpp)
  Pipeline pipeline_;
  TxQueue tx_;
  CaptureChannel* capture_ = nullptr;         // [capture]: what it receives and sends; null: none
  std::unique_ptr<SourceAdmission> sources_;  // per-source limits (source_guard.hpp); null: none
  std::uint32_t dispatchers_ = 0;             // workers 0..dispatchers_-1 own no calls (config)

  // Per destination endpoint: packets staged for its hand-off ring / its return ring.
  struct Staged {
    std::array<Packet*, kBurst> packets;
    std::size_t count = 0;
  };
  std::vector<Staged> hand_offs_;
  std::vector<Staged> returns_;

  bool logged_ring_full_ = false;
  bool logged_control_full_ = false;
  bool logged_pool_empty_ = false;
  bool logged_send_failed_ = false;
  bool logged_shedding_ = false;
  bool logged_filter_refused_ = false;

  bool shed_filter_on_ = false;
  std::vector<std::uint32_t> kernel_drops_seen_;  // per socket: SK_MEMINFO_DROPS last read
};

}  // namespace sipline::dataplane

// Other sipline nodes' registrations, as they happen (DESIGN.md §6): a thread of its own
// subscribes to the Redis store's change channel (redis_store.hpp) and queues each notice
// another node published; the control thread, the location table's only writer, applies the
// queue on its next pass (it polls ready_fd()).
//
// Ordering: start() returns once the subscription is confirmed, and the runtime loads the
// store only after that, so a change saved between the load and the subscription cannot be
// missed; a notice that repeats what the load read is harmless (it writes the same bindings).
//
// A lost connection: the thread connects again (at most once a second) and, once subscribed,
// reads the whole store again and queues it (a resynchronisation, SyncSnapshot), since
// notices sent while it was away are gone (Redis pub/sub keeps nothing). What was queued
// before it is dropped: the read holds all of it. Applied by resolve_resync
// (location_resync.hpp):
// - The AORs it read replace this node's, except those this node saved since the read may
//   have run (AsyncStore::pin_saves): their saves' notices are this node's own, skipped, so
//   the read would set them back.
// - When the server's run_id is the one seen before (the same dataset, not a restarted or
//   failed-over Redis), the read is complete: an AOR this node holds and the store does not
//   was removed while the node was away, and goes here too. After a restart the store may
//   have lost what other nodes still route with; then nothing is removed (each node's own
//   bindings reach the store again with their phones' next REGISTER).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/redis_connection.hpp"

namespace sipline::dataplane {

// A resynchronisation at the front of the queue: its first `aors` updates are the whole store
// as read, one whole list per AOR.
struct SyncSnapshot {
  std::size_t aors = 0;
  bool complete = false;      // same dataset as before: an AOR missing from the read was removed
  bool pinned = false;        // holds an AsyncStore pin (release_saves() once applied)
  std::uint64_t settled = 0;  // the store's last settled save when the read began
};

struct SyncUpdates {
  std::vector<AorUpdate> updates;  // oldest first
  std::optional<SyncSnapshot> snapshot;
};

// How long the thread lets notices gather after one arrives: at most about 1,000 wake-ups a
// second whatever the registration rate, for a millisecond more before a change applies.
inline constexpr std::chrono::microseconds kSyncGatherDelay{1000};

class LocationSync {
 public:
  struct Started {
    std::unique_ptr<LocationSync> sync;  // null on error
    std::string error;
  };
  // Subscribes (blocking, within the connection timeout) and starts the thread. `node`: this
  // process's ID in the notices, whose own are skipped. `store`: this node's writer, whose
  // saves a resynchronisation must not set back (null: none); it outlives the sync.
  static Started start(const config::RedisEndpoint& endpoint, std::uint64_t node,
                       AsyncStore* store = nullptr);
  ~LocationSync();  // stops and joins the thread
  LocationSync(const LocationSync&) = delete;
  LocationSync& operator=(const LocationSync&) = delete;

  // Readable while updates wait (an eventfd).
  int ready_fd() const noexcept { return ready_fd_; }
  // Any thread (the operator's `siplinectl resync`): read the whole store again, as after a
  // lost connection, once the thread next looks (at once while it is connected).
  void request_resync() noexcept;
  // The queued updates, oldest first: another node's change of an AOR (AorUpdate::change), or
  // an AOR's whole list (a resynchronisation, an operator's removal; empty: removed).
  SyncUpdates take_updates();
  // The control thread's count of AORs a complete resynchronisation removed, for the counters.
  void count_forgotten(std::size_t aors) noexcept {
    forgotten_.fetch_add(aors, std::memory_order_relaxed);
  }
  // Messages worth a warning since the last call (lost connection, unreadable notice), for
  // the control thread to log.
  std::vector<std::string> take_events();

  struct Counts {
    std::uint64_t notices = 0;     // other nodes' changes queued
    std::uint64_t own = 0;         // this node's notices, skipped
    std::uint64_t unreadable = 0;  // notices that did not decode (skipped)
    std::uint64_t disconnects = 0;
    std::uint64_t resyncs = 0;    // whole-store reads after a reconnection
    std::uint64_t forgotten = 0;  // AORs they removed (complete ones only)
    bool connected = false;
  };
  Counts counts() const noexcept;
  // "location sync: connected=1 notices=.. own=.. unreadable=.. disconnects=.. resyncs=..
  // forgotten=..\n"
  std::string counters_text() const;

 private:
  LocationSync(const config::RedisEndpoint& endpoint, std::uint64_t node, AsyncStore* store);
  std::string subscribe();
  void run();
  bool serve_connection();  // false: stop requested
  bool reconnect();
  // false: the store could not be read. `why` opens the line noted ("subscribed again").
  bool resynchronise(std::string_view why);
  void take_message(const redisReply& reply);
  void queue(std::vector<AorUpdate> updates);
  void queue_snapshot(std::vector<AorUpdate> updates, SyncSnapshot snapshot);
  void note(std::string event);
  bool wait_for_stop(int timeout_ms);  // true: stop requested

  RedisConnection subscriber_;
  RedisConnection reader_;  // resynchronisation reads (the subscriber can only listen)
  const std::uint64_t node_;
  AsyncStore* const store_;
  const std::string channel_;
  std::string run_id_;  // sync thread: the server's run_id at the last (re)subscription
  int ready_fd_ = -1;
  int stop_fd_ = -1;
  int resync_fd_ = -1;  // request_resync() wakes the thread
  std::mutex mutex_;    // guards updates_ and events_
  std::vector<AorUpdate> updates_;
  std::optional<SyncSnapshot> snapshot_;  // at the front of updates_
  std::vector<std::string> events_;
  std::atomic<std::uint64_t> notices_{0};
  std::atomic<std::uint64_t> own_{0};
  std::atomic<std::uint64_t> unreadable_{0};
  std::atomic<std::uint64_t> disconnects_{0};
  std::atomic<std::uint64_t> resyncs_{0};
  std::atomic<std::uint64_t> forgotten_{0};
  std::atomic<bool> connected_{false};
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace sipline::dataplane

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
// reads the whole store again and queues it (a resynchronisation), since notices sent while
// it was away are gone (Redis pub/sub keeps nothing). An AOR removed meanwhile stays in this
// node's table until its bindings expire.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/redis_connection.hpp"

namespace sipline::dataplane {

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
  // process's ID in the notices, whose own are skipped.
  static Started start(const config::RedisEndpoint& endpoint, std::uint64_t node);
  ~LocationSync();  // stops and joins the thread
  LocationSync(const LocationSync&) = delete;
  LocationSync& operator=(const LocationSync&) = delete;

  // Readable while updates wait (an eventfd).
  int ready_fd() const noexcept { return ready_fd_; }
  // The queued updates, oldest first: another node's change of an AOR (AorUpdate::change), or
  // an AOR's whole list (a resynchronisation, an operator's removal; empty: removed).
  std::vector<AorUpdate> take_updates();
  // Messages worth a warning since the last call (lost connection, unreadable notice), for
  // the control thread to log.
  std::vector<std::string> take_events();

  struct Counts {
    std::uint64_t notices = 0;     // other nodes' changes queued
    std::uint64_t own = 0;         // this node's notices, skipped
    std::uint64_t unreadable = 0;  // notices that did not decode (skipped)
    std::uint64_t disconnects = 0;
    std::uint64_t resyncs = 0;  // whole-store reads after a reconnection
    bool connected = false;
  };
  Counts counts() const noexcept;
  // "location sync: connected=1 notices=.. own=.. unreadable=.. disconnects=.. resyncs=..\n"
  std::string counters_text() const;

 private:
  LocationSync(const config::RedisEndpoint& endpoint, std::uint64_t node);
  std::string subscribe();
  void run();
  bool serve_connection();  // false: stop requested
  bool reconnect();
  void take_message(const redisReply& reply);
  void queue(std::vector<AorUpdate> updates);
  void note(std::string event);
  bool wait_for_stop(int timeout_ms);  // true: stop requested

  RedisConnection subscriber_;
  RedisConnection reader_;  // resynchronisation reads (the subscriber can only listen)
  const std::uint64_t node_;
  const std::string channel_;
  int ready_fd_ = -1;
  int stop_fd_ = -1;
  std::mutex mutex_;  // guards updates_ and events_
  std::vector<AorUpdate> updates_;
  std::vector<std::string> events_;
  std::atomic<std::uint64_t> notices_{0};
  std::atomic<std::uint64_t> own_{0};
  std::atomic<std::uint64_t> unreadable_{0};
  std::atomic<std::uint64_t> disconnects_{0};
  std::atomic<std::uint64_t> resyncs_{0};
  std::atomic<bool> connected_{false};
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace sipline::dataplane

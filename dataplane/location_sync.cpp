#include "dataplane/location_sync.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>

#include "dataplane/binding_codec.hpp"
#include "dataplane/redis_store.hpp"

namespace sipline::dataplane {
namespace {

// Reads per wake-up at most (16 KiB each): the replies are parsed after them, so this bounds
// the reader's buffer.
constexpr int kMaxReadsPerWakeUp = 64;

// Bindings as a load returns them (grouped by AOR) → one update per AOR.
std::vector<AorUpdate> group_by_aor(std::vector<sip::Binding> bindings) {
  std::vector<AorUpdate> updates;
  for (sip::Binding& binding : bindings) {
    if (updates.empty() || updates.back().aor != binding.aor) {
      updates.push_back({binding.aor, {}, std::nullopt});
    }
    updates.back().bindings.push_back(std::move(binding));
  }
  return updates;
}

}  // namespace

LocationSync::LocationSync(const config::RedisEndpoint& endpoint, std::uint64_t node,
                           AsyncStore* store)
    : subscriber_(endpoint),
      reader_(endpoint),
      node_(node),
      store_(store),
      channel_(redis_change_channel(endpoint)),
      ready_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      stop_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      resync_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

LocationSync::Started LocationSync::start(const config::RedisEndpoint& endpoint, std::uint64_t node,
                                          AsyncStore* store) {
  std::unique_ptr<LocationSync> sync(new LocationSync(endpoint, node, store));
  if (sync->ready_fd_ < 0 || sync->stop_fd_ < 0 || sync->resync_fd_ < 0) {
    return {nullptr, std::string("location sync: eventfd: ") + std::strerror(errno)};
  }
  if (std::string error = sync->subscribe(); !error.empty()) {
    return {nullptr, "location sync: " + error};
  }
  // The dataset the start-up load reads (it follows this).
  sync->run_id_ = redis_run_id(sync->reader_);
  sync->thread_ = std::thread([raw = sync.get()] { raw->run(); });
  pthread_setname_np(sync->thread_.native_handle(), "sipline-sync");
  return {std::move(sync), {}};
}

LocationSync::~LocationSync() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (snapshot_ && snapshot_->pinned) store_->release_saves();
  if (ready_fd_ >= 0) ::close(ready_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (resync_fd_ >= 0) ::close(resync_fd_);
}

void LocationSync::request_resync() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(resync_fd_, &one, sizeof one);
}

std::string LocationSync::subscribe() {
  const RedisReplies replies = subscriber_.run(RedisCommand{"SUBSCRIBE", channel_});
  if (!replies.ok()) return replies.error;
  const redisReply& reply = *replies.replies.front();
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 1 ||
      reply_text(*reply.element[0]) != "subscribe") {
    const std::string why = reply_error(reply);
    subscriber_.disconnect();
    return "SUBSCRIBE " + channel_ + ": " + (why.empty() ? "unexpected reply" : why);
  }
  connected_.store(true, std::memory_order_relaxed);
  return {};
}

void LocationSync::run() {
  for (;;) {
    if (!subscriber_.connected() && !reconnect()) {
      if (wait_for_stop(static_cast<int>(RedisConnection::kReconnectInterval.count()))) return;
      continue;
    }
    if (!serve_connection()) return;
  }
}

bool LocationSync::wait_for_stop(int timeout_ms) {
  pollfd stop{stop_fd_, POLLIN, 0};
  return ::poll(&stop, 1, timeout_ms) > 0;
}

// Reads notices until the connection is lost (true) or a stop is requested (false).
bool LocationSync::serve_connection() {
  const auto lost = [this](const std::string& why) {
    subscriber_.disconnect();
    connected_.store(false, std::memory_order_relaxed);
    disconnects_.fetch_add(1, std::memory_order_relaxed);
    note("location sync: lost the change channel: " + why + "; reconnecting");
    return true;
  };
  for (;;) {
    // Replies hiredis already holds first: SUBSCRIBE's read may have taken a notice with it.
    for (;;) {
      RedisConnection::BufferedReply buffered = subscriber_.next_buffered_reply();
      if (!buffered.error.empty()) return lost(buffered.error);
      if (!buffered.reply) break;
      take_message(*buffered.reply);
    }
    pollfd fds[3] = {{subscriber_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}, {resync_fd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return lost(std::string("poll: ") + std::strerror(errno));
    }
    if (fds[1].revents != 0) return false;
    if (fds[2].revents != 0) {
      std::uint64_t requests = 0;
      [[maybe_unused]] const ssize_t read = ::read(resync_fd_, &requests, sizeof requests);
      // Notices that came before the request are queued before the read, which holds them.
      if (!resynchronise("the operator asked for a resynchronisation")) {
        return lost("the resynchronisation could not read the store");
      }
    }
    if (fds[0].revents == 0) continue;
    // Let notices gather: under a registration load (this node's own notices come back too)
    // one wake-up then reads many, not one each. Then read while more is there: one read
    // takes at most hiredis's 16 KiB, and a cluster's notices can come faster than that per
    // gather delay.
    std::this_thread::sleep_for(kSyncGatherDelay);
    for (int reads = 0; reads < kMaxReadsPerWakeUp; ++reads) {
      if (std::string error = subscriber_.read_available(); !error.empty()) return lost(error);
      pollfd more{subscriber_.fd(), POLLIN, 0};
      if (::poll(&more, 1, 0) <= 0) break;
    }
  }
}

// Subscribes again, then reads the whole store, since notices sent meanwhile are gone.
bool LocationSync::reconnect() {
  if (const std::string error = subscribe(); !error.empty()) return false;
  if (resynchronise("subscribed again")) return true;
  subscriber_.disconnect();  // try the whole again: a resync must follow every subscription
  connected_.store(false, std::memory_order_relaxed);
  return false;
}

// Reads the whole store and queues it as a SyncSnapshot, while subscribed.
bool LocationSync::resynchronise(std::string_view why) {
  const std::string run_id = redis_run_id(reader_);
  SyncSnapshot snapshot;
  if (store_ != nullptr) {
    snapshot.settled = store_->pin_saves();  // before the read: see location_store.hpp
    snapshot.pinned = true;
  }
  LoadResult loaded = load_redis_bindings(reader_, static_cast<std::int64_t>(std::time(nullptr)));
  if (!loaded.ok()) {
    if (snapshot.pinned) store_->release_saves();
    return false;
  }
  snapshot.complete = store_ != nullptr && !run_id.empty() && run_id == run_id_;
  if (!run_id.empty()) run_id_ = run_id;
  const std::size_t count = loaded.bindings.size();
  // Counted and noted before the updates are visible: whoever takes them sees the count too.
  resyncs_.fetch_add(1, std::memory_order_relaxed);
  note("location sync: " + std::string(why) + "; read " + std::to_string(count) +
       " binding(s) from the store" +
       (snapshot.complete ? " (the same dataset: what it lacks was removed meanwhile)"
                          : " (a new dataset or an unknown one: nothing is removed here)"));
  queue_snapshot(group_by_aor(std::move(loaded.bindings)), snapshot);
  return true;
}

void LocationSync::take_message(const redisReply& reply) {
  // ["message", channel, payload]; anything else (a subscribe confirmation) is not a notice.
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 3 ||
      reply_text(*reply.element[0]) != "message") {
    return;
  }
  const std::string_view payload = reply_text(*reply.element[2]);
  // Our own notices repeat what our table holds, except a change written again after Redis
  // refused it: a resynchronisation may have read Redis before that retry and set the table
  // back (location_sync.hpp).
  const std::optional<NoticeOrigin> origin = change_notice_origin(payload);
  if (origin && origin->node == node_ && !origin->retried) {
    own_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::optional<ChangeNotice> notice = decode_change_notice(payload);
  if (!notice) {
    if (unreadable_.fetch_add(1, std::memory_order_relaxed) == 0) {
      note("location sync: a change notice on " + channel_ +
           " did not decode (another program, or another version of sipline?); skipped and "
           "counted as unreadable");
    }
    return;
  }
  notices_.fetch_add(1, std::memory_order_relaxed);
  std::vector<AorUpdate> updates;
  if (notice->whole) {
    updates.push_back({std::move(notice->aor), std::move(notice->delta.upserts), std::nullopt});
  } else {
    updates.push_back({std::move(notice->aor), {}, std::move(notice->delta)});
  }
  queue(std::move(updates));
}

void LocationSync::queue(std::vector<AorUpdate> updates) {
  if (updates.empty()) return;
  const std::lock_guard lock(mutex_);
  const bool was_empty = updates_.empty() && !snapshot_;
  if (updates_.empty()) {
    updates_ = std::move(updates);
  } else {
    std::move(updates.begin(), updates.end(), std::back_inserter(updates_));
  }
  if (was_empty) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(ready_fd_, &one, sizeof one);
  }
}

// The read holds whatever was queued before it: that is dropped, and an earlier read's pin
// released.
void LocationSync::queue_snapshot(std::vector<AorUpdate> updates, SyncSnapshot snapshot) {
  snapshot.aors = updates.size();
  const std::lock_guard lock(mutex_);
  if (snapshot_ && snapshot_->pinned) store_->release_saves();
  const bool was_empty = updates_.empty() && !snapshot_;
  updates_ = std::move(updates);
  snapshot_ = snapshot;
  if (was_empty) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(ready_fd_, &one, sizeof one);
  }
}

SyncUpdates LocationSync::take_updates() {
  const std::lock_guard lock(mutex_);
  std::uint64_t value = 0;
  [[maybe_unused]] const ssize_t read = ::read(ready_fd_, &value, sizeof value);
  return {std::exchange(updates_, {}), std::exchange(snapshot_, std::nullopt)};
}

void LocationSync::note(std::string event) {
  const std::lock_guard lock(mutex_);
  if (events_.size() < 64) events_.push_back(std::move(event));
}

std::vector<std::string> LocationSync::take_events() {
  const std::lock_guard lock(mutex_);
  return std::exchange(events_, {});
}

LocationSync::Counts LocationSync::counts() const noexcept {
  return {notices_.load(std::memory_order_relaxed),    own_.load(std::memory_order_relaxed),
          unreadable_.load(std::memory_order_relaxed), disconnects_.load(std::memory_order_relaxed),
          resyncs_.load(std::memory_order_relaxed),    forgotten_.load(std::memory_order_relaxed),
          connected_.load(std::memory_order_relaxed)};
}

std::string LocationSync::counters_text() const {
  const Counts c = counts();
  return "location sync: connected=" + std::to_string(c.connected ? 1 : 0) +
         " notices=" + std::to_string(c.notices) + " own=" + std::to_string(c.own) +
         " unreadable=" + std::to_string(c.unreadable) +
         " disconnects=" + std::to_string(c.disconnects) + " resyncs=" + std::to_string(c.resyncs) +
         " forgotten=" + std::to_string(c.forgotten) + "\n";
}

}  // namespace sipline::dataplane

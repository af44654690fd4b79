// Persistence of the location service, so a restart loses no registration (DESIGN.md §6).
//
// The location table (dataplane/location_table.hpp) is the truth the proxy routes with; the
// store is a write-through copy the control thread updates after each change of an AOR and
// reads once at start (load_all) to restore the table.
//
// - VolatileStore: keeps nothing at all ("memory" in the config): the location table is then
//   the only copy, and a restart starts empty. A second in-memory copy would double the
//   memory per binding and could never be read back (it dies with the process).
// - MemoryStore: an in-process map with a database's semantics; for tests.
// - SqliteStore: one SQLite file in WAL mode ("sqlite:PATH"); one row per binding, primary key
//   (aor, contact). synchronous=NORMAL: in WAL mode a crash of sipline loses nothing, a power
//   cut may lose the last few registrations (their phones re-register within one interval).
// - AsyncStore: runs a store's blocking calls on one thread of its own, in submission order,
//   so the control loop never waits for the disk. The thread sleeps on a condition variable
//   when it has nothing to do. (It used to be a one-thread TBB arena: TBB's worker spins
//   looking for tasks after each one before it parks, and a REGISTER load enqueued a task
//   per registration, so the thread never parked: 95-98% of a core even with "memory".)
//
// The stores are blocking and not thread-safe: use one from one thread at a time (AsyncStore
// makes that so).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "dataplane/binding_delta.hpp"
#include "sip/registrar.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sipline::dataplane {

// The outcome of a store operation: an empty `error` means success.
struct StoreResult {
  std::string error;
  std::size_t rows = 0;  // rows written (save_aor) or removed (purge_expired)

  bool ok() const { return error.empty(); }
};

struct LoadResult {
  // Grouped by AOR (SQLite: in the order save_aor() got them; Redis: in no order within one)
  std::vector<sip::Binding> bindings;
  std::string error;
  std::size_t unreadable = 0;  // stored values skipped because they did not decode (Redis)

  bool ok() const { return error.empty(); }
};

// One AOR's whole binding list to write (empty: delete the AOR), and, for a store that writes
// changes (Redis: LocationStore::saves_changes()), what changed since the list the store was
// last given: written instead of the list, so that a change another node made meanwhile
// stays (binding_delta.hpp). No change: the list replaces the AOR whole.
struct AorSave {
  std::string aor;
  std::vector<sip::Binding> bindings;
  std::optional<BindingDelta> change;
  // It carries a change the store refused before (AsyncStore's retry): a shared store's
  // notice of it reaches this node too, whose table a resynchronisation may have set back
  // meanwhile (location_sync.hpp).
  bool retried = false;
  // AsyncStore's submission number (pin_saves); of merged saves, the earliest one's.
  std::uint64_t number = 0;
};

// `earlier` then `later` of one AOR, as one save: the later list, and both changes (none when
// either replaces the AOR whole); retried when either was.
AorSave merge_saves(AorSave earlier, AorSave later);

class LocationStore {
 public:
  virtual ~LocationStore() = default;

  // Every binding with expires_at > now (restore at start).
  virtual LoadResult load_all(std::int64_t now) = 0;
  // Replaces all bindings of `aor` (their `aor` fields are ignored) atomically; an empty list
  // deletes the AOR. Of two bindings with one contact URI the last is kept.
  virtual StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) = 0;
  // Several saves, in order, each as save_aor() would do it (or, where the store
  // saves_changes(), writing the save's change when it has one); one result per save. Stores
  // override it to pay their per-write cost once per batch (SQLite: one transaction; Redis:
  // one pipelined round trip).
  virtual std::vector<StoreResult> save_aors(std::span<const AorSave> saves);
  // True for a store several nodes write (Redis): AsyncStore then gives each save its change.
  virtual bool saves_changes() const { return false; }
  // Deletes every binding with expires_at <= now.
  virtual StoreResult purge_expired(std::int64_t now) = 0;
  // Makes everything saved so far durable and compact (SQLite: checkpoints the WAL).
  virtual StoreResult flush() = 0;
  // "memory", "sqlite:PATH" or "redis://HOST:PORT/DB", for log lines.
  virtual std::string describe() const = 0;
  // False for a store that writes nothing anywhere (VolatileStore): AsyncStore then skips it.
  virtual bool keeps_bindings() const { return true; }
};

class VolatileStore final : public LocationStore {
 public:
  LoadResult load_all(std::int64_t) override { return {}; }
  StoreResult save_aor(std::string_view, const std::vector<sip::Binding>& bindings) override {
    return {{}, bindings.size()};
  }
  StoreResult purge_expired(std::int64_t) override { return {}; }
  StoreResult flush() override { return {}; }
  std::string describe() const override { return "memory"; }
  bool keeps_bindings() const override { return false; }
};

class MemoryStore final : public LocationStore {
 public:
  LoadResult load_all(std::int64_t now) override;
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override;
  StoreResult purge_expired(std::int64_t now) override;
  StoreResult flush() override { return {}; }
  std::string describe() const override { return "memory (test map)"; }

 private:
  std::map<std::string, std::vector<sip::Binding>, std::less<>> bindings_;
};

struct OpenedStore {
  std::unique_ptr<LocationStore> store;  // null on error
  std::string error;
};

class SqliteStore final : public LocationStore {
 public:
  // Opens or creates the database file, creating its parent directories.
  static OpenedStore open(const std::string& path);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  LoadResult load_all(std::int64_t now) override;
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override;
  // All in one transaction (a commit is most of a save's cost); a failure rolls back and
  // fails the whole batch.
  std::vector<StoreResult> save_aors(std::span<const AorSave> saves) override;
  StoreResult purge_expired(std::int64_t now) override;
  StoreResult flush() override;
  std::string describe() const override { return "sqlite:" + path_; }

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

  SqliteStore(std::string path, sqlite3* database);
  std::string prepare_all();
  std::string execute(const char* sql);
  std::string last_error(std::string_view what) const;
  StoreResult write_aor(std::string_view aor, const std::vector<sip::Binding>& bindings);

  std::string path_;
  sqlite3* database_;
  Statement delete_aor_;
  Statement insert_binding_;
  Statement select_live_;
  Statement delete_expired_;
};

// The store [registrar] store names. `node` identifies this process in a shared store's
// change notices (Redis; see redis_store.hpp).
OpenedStore open_store(const config::StoreConfig& config, std::uint64_t node);

// Runs the blocking store on one thread of its own: writes leave the control thread at once
// and reach the store in submission order; the thread sleeps while the queue is empty. The control
// thread is the only caller of every member. What queued while the thread wrote is written
// as one batch (save_aors), and of several saves of one AOR in a batch only the last is
// written: under a REGISTER load the per-write cost (a commit, a round trip) is paid once per
// batch, so the store keeps up with the control thread. When the first job wakes the sleeping
// thread it waits kStoreGatherDelay before taking the queue, so that a steady load makes
// batches too, rather than one wake-up and one write per REGISTER; bindings reach the store
// that much later (the REGISTER was answered already).
//
// A store that keeps nothing ("memory") gets no thread and no jobs: a write would cost a copy
// of the bindings, a futex wake-up and two context switches to run a function that does
// nothing (at 20,000 registrations/s on one core, a fifth of sipline's CPU per
// registration went to the store thread and its wake-ups).
inline constexpr std::chrono::microseconds kStoreGatherDelay{1000};

// A save the store refused (Redis unreachable, SQLite busy or out of disk) is not lost: the
// AOR's save is kept and written again every kStoreRetryInterval until the store takes it; a
// newer save of the AOR is merged with it (merge_saves) and written in its place. Bindings
// that expired meanwhile are left out of the retry (a change removes them instead).
// At most kMaxUnsavedAors AORs are kept; a failed save beyond that is dropped and counted
// (unsaved_dropped). The first failure of a save counts as a failure (failures(),
// store_errors); retries that fail again do not, the control thread's `location store:`
// line shows what is still unsaved.
inline constexpr std::chrono::milliseconds kStoreRetryInterval{1000};
inline constexpr std::size_t kMaxUnsavedAors = 65536;
// Saves remembered for a resynchronisation (AsyncStore::pin_saves): those not yet settled,
// and all while a read is pinned. A read takes well under a second, but a store that hangs
// may leave saves unsettled for long; beyond this many the record is dropped, and a
// resynchronisation pinned before that cannot tell which AORs changed here.
inline constexpr std::size_t kMaxRecentSaves = std::size_t{1} << 20;

class AsyncStore {
 public:
  explicit AsyncStore(std::unique_ptr<LocationStore> store);
  ~AsyncStore();  // drains

  AsyncStore(const AsyncStore&) = delete;
  AsyncStore& operator=(const AsyncStore&) = delete;

  // Blocking: waits for pending writes, then reads on the calling thread. For start-up.
  LoadResult load_all(std::int64_t now);

  // The AOR's bindings went from `before` (as the location table held them) to `after`.
  void submit_save(std::string_view aor, const std::vector<sip::Binding>& before,
                   const std::vector<sip::Binding>& after);
  // `bindings` replace the AOR whole, whatever the store holds (an operator's removal of
  // every binding; a shared store's other nodes' bindings of the AOR go too).
  void submit_save(std::string_view aor, const std::vector<sip::Binding>& bindings);
  // True when the store writes changes (Redis): only then does a save need its `before`.
  bool saves_changes() const noexcept { return saves_changes_; }
  void submit_purge(std::int64_t now);
  void submit_flush();

  // Blocks until every submitted operation has run (shutdown: drain(), then submit_flush()
  // and drain() again, or let the destructor do it).
  void drain();

  std::size_t pending() const noexcept { return pending_.load(std::memory_order_acquire); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  // Messages of the operations that failed since the last call (at most the last 64), for the
  // control thread to log.
  std::vector<std::string> take_errors();
  const LocationStore& store() const noexcept { return *store_; }
  // AORs whose last save failed and waits for a retry; saves written by a retry; failed saves
  // dropped because kMaxUnsavedAors were waiting already.
  std::size_t unsaved() const noexcept { return unsaved_count_.load(std::memory_order_relaxed); }
  std::uint64_t retried() const noexcept { return retried_.load(std::memory_order_relaxed); }
  std::uint64_t unsaved_dropped() const noexcept {
    return unsaved_dropped_.load(std::memory_order_relaxed);
  }
  // "location store: unsaved=.. retried=.. unsaved_dropped=.." and a newline.
  std::string counters_text() const;

  // --- saves a resynchronisation may not have read (a store of changes only) ---
  // A node that lost the change channel reads the whole store again (location_sync.hpp); a
  // save this node submitted may land in the store after that read and its notice is this
  // node's own (skipped), so the read must not set the table back for that AOR. Every save
  // gets a number, in submission order; the store thread publishes the last one up to which
  // every save was written (a save kept for a retry holds it back).
  //
  // Any thread (the sync thread, before it reads the store): keeps the record of recent
  // saves from being pruned until release_saves(), and returns the last settled save's number.
  std::uint64_t pin_saves() noexcept;
  void release_saves() noexcept { pins_.fetch_sub(1, std::memory_order_seq_cst); }
  // Control thread: the AORs of the saves numbered above `settled` (submitted after a read
  // pinned with that number may have run), or nullopt when some of them were dropped from
  // the record (kMaxRecentSaves).
  std::optional<std::vector<std::string>> saved_after(std::uint64_t settled) const;

 private:
  struct Job {
    enum class Kind : std::uint8_t { Save, Purge, Flush };
    Kind kind = Kind::Save;
    AorSave save;          // Save
    std::int64_t now = 0;  // Purge
  };
  struct RecentSave {
    std::uint64_t number;
    std::string aor;
  };

  void submit(Job job);
  void submit_numbered(AorSave save);
  void record_recent(std::uint64_t number, std::string_view aor);
  void run_queue();
  // One batch taken off the queue, in order; consecutive saves go to the store together,
  // each AOR's last save only (it replaces the AOR whole).
  void run_batch(std::deque<Job>& batch);
  void run_saves(std::span<Job> saves);
  void record_failure(std::string error);
  // Store thread: keeps a refused save for a retry (the caller publishes unsaved_count_);
  // writes what is kept, when it is due.
  void keep_unsaved(AorSave save);
  void retry_unsaved();
  bool retry_due() const;
  // Store thread: every save up to `last` ran; those still unsaved are not settled.
  void publish_settled(std::uint64_t last);

  std::unique_ptr<LocationStore> store_;
  const bool keeps_bindings_;  // store_->keeps_bindings(): otherwise no thread, no jobs
  const bool saves_changes_;   // store_->saves_changes(): each save gets its change
  // The control thread holds queue_mutex_ only to append a job: never while a job runs.
  std::mutex queue_mutex_;
  std::deque<Job> queue_;
  std::condition_variable work_;  // the store thread waits here for jobs
  std::condition_variable idle_;  // drain() waits here for an empty queue
  bool store_waiting_ = false;    // the store thread sleeps on work_: notify it
  bool running_jobs_ = false;     // a batch taken from queue_ is being run
  bool stopping_ = false;
  std::atomic<std::size_t> pending_{0};  // submitted and not yet finished
  std::atomic<std::uint64_t> failures_{0};
  std::mutex errors_mutex_;
  std::vector<std::string> errors_;
  // Store thread only: the AORs whose last save failed, with that save (merged with any
  // earlier one still waiting).
  std::unordered_map<std::string, AorSave> unsaved_;
  std::chrono::steady_clock::time_point next_retry_{};
  std::atomic<std::size_t> unsaved_count_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> unsaved_dropped_{0};
  // Control thread only: the numbers given so far, and the saves the store may not have
  // settled when a pinned read ran (all saves up to forgotten_through_ were dropped from it).
  std::uint64_t last_number_ = 0;
  std::deque<RecentSave> recent_;
  std::uint64_t forgotten_through_ = 0;
  std::uint64_t ran_through_ = 0;          // store thread: the last save number it ran
  std::atomic<std::uint64_t> settled_{0};  // store thread: every save up to it written
  std::atomic<int> pins_{0};
  std::thread thread_;  // last: started once every member above exists (when keeps_bindings_)
};

}  // namespace sipline::dataplane

#include "dataplane/location_store.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "dataplane/log.hpp"
#include "dataplane/redis_store.hpp"

namespace sipline::dataplane {

namespace {

// Of two bindings with one contact the last wins, as with the SQLite primary key.
std::vector<sip::Binding> keep_last_per_contact(std::string_view aor,
                                                const std::vector<sip::Binding>& bindings) {
  std::vector<sip::Binding> kept;
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    const auto later_duplicate = std::find_if(
        bindings.begin() + static_cast<std::ptrdiff_t>(i) + 1, bindings.end(),
        [&](const sip::Binding& other) { return other.contact == bindings[i].contact; });
    if (later_duplicate != bindings.end()) continue;
    kept.push_back(bindings[i]);
    kept.back().aor = aor;
  }
  return kept;
}

// Bumped when the table changes shape; a newer file is refused rather than misread.
constexpr int kSchemaVersion = 1;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS bindings ("
    " aor TEXT NOT NULL,"
    " contact TEXT NOT NULL,"
    " received TEXT NOT NULL,"
    " call_id TEXT NOT NULL,"
    " cseq INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " q_milli INTEGER NOT NULL,"
    " instance TEXT NOT NULL,"
    " PRIMARY KEY (aor, contact));"
    "CREATE INDEX IF NOT EXISTS bindings_by_expiry ON bindings (expires_at);";

std::string column_text(sqlite3_stmt* statement, int column) {
  const unsigned char* text = sqlite3_column_text(statement, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
}

int bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  // SQLITE_STATIC: the text outlives the step; every use ends with reset + clear_bindings.
  return sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                           SQLITE_STATIC);
}

// Leaves a statement ready for its next use whatever happened to this one.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* statement) : statement_(statement) {}
  ~StatementUse() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* statement_;
};

}  // namespace

// --- MemoryStore ------------------------------------------------------------------------------

LoadResult MemoryStore::load_all(std::int64_t now) {
  LoadResult result;
  for (const auto& [aor, bindings] : bindings_) {
    for (const sip::Binding& binding : bindings) {
      if (binding.expires_at > now) result.bindings.push_back(binding);
    }
  }
  return result;
}

StoreResult MemoryStore::save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  std::vector<sip::Binding> kept = keep_last_per_contact(aor, bindings);
  StoreResult result;
  result.rows = kept.size();
  if (kept.empty()) {
    if (const auto at = bindings_.find(aor); at != bindings_.end()) bindings_.erase(at);
  } else {
    bindings_.insert_or_assign(std::string(aor), std::move(kept));
  }
  return result;
}

StoreResult MemoryStore::purge_expired(std::int64_t now) {
  StoreResult result;
  for (auto at = bindings_.begin(); at != bindings_.end();) {
    result.rows += std::erase_if(
        at->second, [now](const sip::Binding& binding) { return binding.expires_at <= now; });
    at = at->second.empty() ? bindings_.erase(at) : std::next(at);
  }
  return result;
}

// --- SqliteStore ------------------------------------------------------------------------------

void SqliteStore::StatementDeleter::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SqliteStore::SqliteStore(std::string path, sqlite3* database)
    : path_(std::move(path)), database_(database) {}

SqliteStore::~SqliteStore() {
  delete_aor_.reset();
  insert_binding_.reset();
  select_live_.reset();
  delete_expired_.reset();
  // Closing the last connection checkpoints the WAL into the database file.
  sqlite3_close(database_);
}

OpenedStore SqliteStore::open(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) return {nullptr, "cannot create " + parent.string() + ": " + error.message()};
  }
  sqlite3* database = nullptr;
  const int opened =
      sqlite3_open_v2(path.c_str(), &database, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  // The constructor owns the handle from here on, even when opening failed.
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, database));
  if (opened != SQLITE_OK) return {nullptr, store->last_error("cannot open")};
  sqlite3_busy_timeout(database, 5000);
  for (const char* setup :
       {"PRAGMA journal_mode = WAL;", "PRAGMA synchronous = NORMAL;", kSchema}) {
    if (std::string error = store->execute(setup); !error.empty()) return {nullptr, error};
  }
  if (std::string error = store->prepare_all(); !error.empty()) return {nullptr, error};
  return {std::move(store), {}};
}

std::string SqliteStore::last_error(std::string_view what) const {
  return "sqlite:" + path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(database_);
}

std::string SqliteStore::execute(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(database_, sql, nullptr, nullptr, &message) == SQLITE_OK) return {};
  std::string error = "sqlite:" + path_ + ": " + (message ? message : "error");
  sqlite3_free(message);
  return error;
}

std::string SqliteStore::prepare_all() {
  {
    sqlite3_stmt* version = nullptr;
    if (sqlite3_prepare_v2(database_, "PRAGMA user_version;", -1, &version, nullptr) != SQLITE_OK) {
      return last_error("cannot read the schema version");
    }
    const int found = sqlite3_step(version) == SQLITE_ROW ? sqlite3_column_int(version, 0) : 0;
    sqlite3_finalize(version);
    if (found > kSchemaVersion) {
      return "sqlite:" + path_ + ": schema version " + std::to_string(found) +
             " is newer than this sipline understands (" + std::to_string(kSchemaVersion) + ")";
    }
    const std::string set_version = "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";";
    if (std::string error = execute(set_version.c_str()); !error.empty()) return error;
  }
  struct {
    Statement* statement;
    const char* sql;
  } const statements[] = {
      {&delete_aor_, "DELETE FROM bindings WHERE aor = ?1;"},
      {&insert_binding_,
       "INSERT OR REPLACE INTO bindings"
       " (aor, contact, received, call_id, cseq, expires_at, q_milli, instance)"
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8);"},
      {&select_live_,
       "SELECT aor, contact, received, call_id, cseq, expires_at, q_milli, instance"
       " FROM bindings WHERE expires_at > ?1 ORDER BY aor, rowid;"},
      {&delete_expired_, "DELETE FROM bindings WHERE expires_at <= ?1;"},
  };
  for (const auto& [statement, sql] : statements) {
    sqlite3_stmt* prepared = nullptr;
    if (sqlite3_prepare_v2(database_, sql, -1, &prepared, nullptr) != SQLITE_OK) {
      return last_error("cannot prepare statement");
    }
    statement->reset(prepared);
  }
  return {};
}

LoadResult SqliteStore::load_all(std::int64_t now) {
  LoadResult result;
  sqlite3_stmt* select = select_live_.get();
  StatementUse use(select);
  sqlite3_bind_int64(select, 1, now);
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(select)) == SQLITE_ROW) {
    sip::Binding binding;
    binding.aor = column_text(select, 0);
    binding.contact = column_text(select, 1);
    binding.received = column_text(select, 2);
    binding.call_id = column_text(select, 3);
    binding.cseq = static_cast<std::uint32_t>(sqlite3_column_int64(select, 4));
    binding.expires_at = sqlite3_column_int64(select, 5);
    binding.q_milli = static_cast<std::uint16_t>(sqlite3_column_int(select, 6));
    binding.instance = column_text(select, 7);
    result.bindings.push_back(std::move(binding));
  }
  if (step != SQLITE_DONE) result.error = last_error("cannot read bindings");
  return result;
}

StoreResult SqliteStore::save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  if (std::string error = execute("BEGIN IMMEDIATE;"); !error.empty()) return {error};
  StoreResult result = write_aor(aor, bindings);
  if (result.ok()) {
    if (std::string error = execute("COMMIT;"); !error.empty()) result.error = error;
  }
  if (!result.ok()) execute("ROLLBACK;");
  return result;
}

std::vector<StoreResult> SqliteStore::save_aors(std::span<const AorSave> saves) {
  const auto all = [&saves](StoreResult result) {
    return std::vector<StoreResult>(saves.size(), result);
  };
  if (std::string error = execute("BEGIN IMMEDIATE;"); !error.empty()) return all({error, 0});
  std::vector<StoreResult> results;
  results.reserve(saves.size());
  for (const AorSave& save : saves) {
    StoreResult result = write_aor(save.aor, save.bindings);
    if (!result.ok()) {
      execute("ROLLBACK;");
      return all(result);
    }
    results.push_back(std::move(result));
  }
  if (std::string error = execute("COMMIT;"); !error.empty()) {
    execute("ROLLBACK;");
    return all({error, 0});
  }
  return results;
}

StoreResult SqliteStore::write_aor(std::string_view aor,
                                   const std::vector<sip::Binding>& bindings) {
  StoreResult result;
  {
    StatementUse use(delete_aor_.get());
    bind_text(delete_aor_.get(), 1, aor);
    if (sqlite3_step(delete_aor_.get()) != SQLITE_DONE) return {last_error("cannot delete")};
  }
  sqlite3_stmt* insert = insert_binding_.get();
  for (const sip::Binding& binding : bindings) {
    StatementUse use(insert);
    bind_text(insert, 1, aor);
    bind_text(insert, 2, binding.contact);
    bind_text(insert, 3, binding.received);
    bind_text(insert, 4, binding.call_id);
    sqlite3_bind_int64(insert, 5, binding.cseq);
    sqlite3_bind_int64(insert, 6, binding.expires_at);
    sqlite3_bind_int(insert, 7, binding.q_milli);
    bind_text(insert, 8, binding.instance);
    if (sqlite3_step(insert) != SQLITE_DONE) return {last_error("cannot insert")};
    ++result.rows;
  }
  return result;
}

StoreResult SqliteStore::purge_expired(std::int64_t now) {
  StatementUse use(delete_expired_.get());
  sqlite3_bind_int64(delete_expired_.get(), 1, now);
  if (sqlite3_step(delete_expired_.get()) != SQLITE_DONE) return {last_error("cannot purge")};
  return {{}, static_cast<std::size_t>(sqlite3_changes(database_))};
}

StoreResult SqliteStore::flush() {
  // TRUNCATE: copy the WAL into the database file and empty it, so the file alone is complete.
  return {execute("PRAGMA wal_checkpoint(TRUNCATE);")};
}

AorSave merge_saves(AorSave earlier, AorSave later) {
  later.retried = later.retried || earlier.retried;
  if (earlier.number != 0) later.number = earlier.number;
  if (earlier.change && later.change) {
    later.change = merge_deltas(std::move(*earlier.change), std::move(*later.change));
  } else {
    later.change.reset();
  }
  return later;
}

std::vector<StoreResult> LocationStore::save_aors(std::span<const AorSave> saves) {
  std::vector<StoreResult> results;
  results.reserve(saves.size());
  for (const AorSave& save : saves)
    results.push_back(save_aor(save.aor, save.bindings));
  return results;
}

OpenedStore open_store(const config::StoreConfig& config, std::uint64_t node) {
  switch (config.kind) {
    case config::StoreKind::Memory:
      return {std::make_unique<VolatileStore>(), {}};
    case config::StoreKind::Sqlite:
      return SqliteStore::open(config.location);
    case config::StoreKind::Redis:
      return RedisStore::open(config.redis, node);
  }
  return {nullptr, "registrar.store: unknown kind"};
}

// --- AsyncStore -------------------------------------------------------------------------------

namespace {

// A kept save as it is written again at `now`: its bindings expired meanwhile left out of the
// list, and removed by the change rather than written.
AorSave without_expired(AorSave save, std::int64_t now) {
  const auto expired = [now](const sip::Binding& b) { return b.expires_at <= now; };
  std::erase_if(save.bindings, expired);
  if (save.change) save.change = without_expired(std::move(*save.change), now);
  return save;
}

}  // namespace

AsyncStore::AsyncStore(std::unique_ptr<LocationStore> store)
    : store_(std::move(store)),
      keeps_bindings_(store_->keeps_bindings()),
      saves_changes_(store_->saves_changes()) {
  if (!keeps_bindings_) return;
  thread_ = std::thread([this] { run_queue(); });
  pthread_setname_np(thread_.native_handle(), "sipline-store");
}

AsyncStore::~AsyncStore() {
  drain();
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

LoadResult AsyncStore::load_all(std::int64_t now) {
  drain();
  return store_->load_all(now);
}

void AsyncStore::submit_save(std::string_view aor, const std::vector<sip::Binding>& before,
                             const std::vector<sip::Binding>& after) {
  if (!keeps_bindings_) return;
  AorSave save{std::string(aor), after, std::nullopt};
  if (saves_changes_) save.change = binding_delta(before, after);
  submit_numbered(std::move(save));
}

void AsyncStore::submit_save(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  if (!keeps_bindings_) return;
  submit_numbered(AorSave{std::string(aor), bindings, std::nullopt});
}

void AsyncStore::submit_numbered(AorSave save) {
  if (saves_changes_) {
    save.number = ++last_number_;
    record_recent(save.number, save.aor);
  }
  submit(Job{Job::Kind::Save, std::move(save), 0});
}

// Prunes what the store settled, unless a read is pinned. The order of the loads matters:
// settled_ before pins_ here, pins_ before settled_ in pin_saves(); both sequentially
// consistent, so a read that pins after this saw no pin gets a number at least as high as
// the one pruned to, and the saves it may have missed stay in the record.
void AsyncStore::record_recent(std::uint64_t number, std::string_view aor) {
  const std::uint64_t settled = settled_.load(std::memory_order_seq_cst);
  if (pins_.load(std::memory_order_seq_cst) == 0) {
    while (!recent_.empty() && recent_.front().number <= settled)
      recent_.pop_front();
  }
  if (recent_.size() >= kMaxRecentSaves) {
    forgotten_through_ = recent_.back().number;
    recent_.clear();
  }
  recent_.push_back({number, std::string(aor)});
}

std::uint64_t AsyncStore::pin_saves() noexcept {
  pins_.fetch_add(1, std::memory_order_seq_cst);
  return settled_.load(std::memory_order_seq_cst);
}

std::optional<std::vector<std::string>> AsyncStore::saved_after(std::uint64_t settled) const {
  if (settled < forgotten_through_) return std::nullopt;
  std::vector<std::string> aors;
  for (const RecentSave& save : recent_) {
    if (save.number > settled) aors.push_back(save.aor);
  }
  return aors;
}

void AsyncStore::submit_purge(std::int64_t now) {
  submit(Job{Job::Kind::Purge, {}, now});
}

void AsyncStore::submit_flush() {
  submit(Job{Job::Kind::Flush, {}, 0});
}

void AsyncStore::submit(Job job) {
  if (!keeps_bindings_) return;
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(job));
    pending_.fetch_add(1, std::memory_order_release);
    wake = store_waiting_;
  }
  // Only a sleeping store thread needs the futex wake-up; a busy one finds the job itself.
  if (wake) work_.notify_one();
}

void AsyncStore::run_queue() {
  std::unique_lock lock(queue_mutex_);
  for (;;) {
    if (queue_.empty()) {
      running_jobs_ = false;
      idle_.notify_all();
      if (stopping_) {
        lock.unlock();
        // A last try for what is still unsaved; what the store still refuses is lost.
        if (!unsaved_.empty()) retry_unsaved();
        if (!unsaved_.empty()) {
          SIPLINE_LOG_WARN(
              "location store: %zu address(es)-of-record never saved (%s refused "
              "them until the end)",
              unsaved_.size(), store_->describe().c_str());
        }
        return;
      }
      store_waiting_ = true;
      const auto woken = [this] { return !queue_.empty() || stopping_; };
      if (unsaved_.empty()) {
        work_.wait(lock, woken);
      } else {
        work_.wait_until(lock, next_retry_, woken);
      }
      store_waiting_ = false;
      if (queue_.empty() && !stopping_) {
        // Woken by the retry interval.
        running_jobs_ = true;
        lock.unlock();
        retry_unsaved();
        lock.lock();
        continue;
      }
      if (!stopping_) {
        // Woken by the first job after a quiet spell: let a burst gather into one batch.
        running_jobs_ = true;  // drain() waits for the batch, not an empty queue
        lock.unlock();
        std::this_thread::sleep_for(kStoreGatherDelay);
        lock.lock();
      }
      continue;
    }
    // Everything queued so far, in order, run without the lock.
    std::deque<Job> batch;
    batch.swap(queue_);
    running_jobs_ = true;
    lock.unlock();
    run_batch(batch);
    // A steady load never leaves the queue empty: retries are due between batches too.
    if (retry_due()) retry_unsaved();
    lock.lock();
  }
}

bool AsyncStore::retry_due() const {
  return !unsaved_.empty() && std::chrono::steady_clock::now() >= next_retry_;
}

void AsyncStore::keep_unsaved(AorSave save) {
  if (unsaved_.empty()) next_retry_ = std::chrono::steady_clock::now() + kStoreRetryInterval;
  save.retried = true;  // whatever writes it from now on writes it again
  const auto kept = unsaved_.find(save.aor);
  if (kept != unsaved_.end()) {
    kept->second = merge_saves(std::move(kept->second), std::move(save));
  } else if (unsaved_.size() >= kMaxUnsavedAors) {
    unsaved_dropped_.fetch_add(1, std::memory_order_relaxed);
  } else {
    std::string aor = save.aor;
    unsaved_.emplace(std::move(aor), std::move(save));
  }
}

void AsyncStore::retry_unsaved() {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<AorSave> writes;
  writes.reserve(unsaved_.size());
  for (auto& [aor, save] : unsaved_) {
    writes.push_back(without_expired(std::move(save), now));
  }
  unsaved_.clear();
  next_retry_ = std::chrono::steady_clock::now() + kStoreRetryInterval;
  const std::vector<StoreResult> results = store_->save_aors(writes);
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (results[i].ok()) {
      retried_.fetch_add(1, std::memory_order_relaxed);
    } else {
      keep_unsaved(std::move(writes[i]));
    }
  }
  unsaved_count_.store(unsaved_.size(), std::memory_order_relaxed);
  publish_settled(ran_through_);
}

std::string AsyncStore::counters_text() const {
  return "location store: unsaved=" + std::to_string(unsaved()) +
         " retried=" + std::to_string(retried()) +
         " unsaved_dropped=" + std::to_string(unsaved_dropped()) + "\n";
}

void AsyncStore::run_batch(std::deque<Job>& batch) {
  std::vector<Job> saves;
  const auto flush_saves = [this, &saves] {
    run_saves(saves);
    saves.clear();
  };
  for (Job& job : batch) {
    if (job.kind == Job::Kind::Save) {
      saves.push_back(std::move(job));
      continue;
    }
    flush_saves();  // in submission order: a purge or flush after the saves before it
    StoreResult result =
        job.kind == Job::Kind::Purge ? store_->purge_expired(job.now) : store_->flush();
    if (!result.ok()) record_failure(std::move(result.error));
    pending_.fetch_sub(1, std::memory_order_release);
  }
  flush_saves();
}

void AsyncStore::run_saves(std::span<Job> saves) {
  if (saves.empty()) return;
  ran_through_ = saves.back().save.number;  // numbered in submission order
  // One write per AOR, its saves merged, in the order of each AOR's last save.
  std::unordered_map<std::string, std::size_t> write_of;
  write_of.reserve(saves.size());
  std::vector<std::optional<AorSave>> merged;
  merged.reserve(saves.size());
  for (Job& job : saves) {
    const auto [at, added] = write_of.try_emplace(job.save.aor, merged.size());
    if (added) {
      merged.emplace_back(std::move(job.save));
      continue;
    }
    AorSave both = merge_saves(std::move(*merged[at->second]), std::move(job.save));
    merged[at->second].reset();
    at->second = merged.size();
    merged.emplace_back(std::move(both));
  }
  std::vector<AorSave> writes;
  writes.reserve(write_of.size());
  for (std::optional<AorSave>& save : merged) {
    if (save) writes.push_back(std::move(*save));
  }
  // A newer save goes with whatever of its AOR waited for a retry.
  if (!unsaved_.empty()) {
    for (AorSave& write : writes) {
      const auto kept = unsaved_.find(write.aor);
      if (kept == unsaved_.end()) continue;
      write = merge_saves(std::move(kept->second), std::move(write));
      unsaved_.erase(kept);
    }
  }
  std::vector<StoreResult> results = store_->save_aors(writes);
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (results[i].ok()) continue;
    record_failure(std::move(results[i].error));
    keep_unsaved(std::move(writes[i]));
  }
  unsaved_count_.store(unsaved_.size(), std::memory_order_relaxed);
  publish_settled(ran_through_);
  pending_.fetch_sub(saves.size(), std::memory_order_release);
}

void AsyncStore::publish_settled(std::uint64_t last) {
  if (!saves_changes_) return;
  std::uint64_t settled = last;
  for (const auto& [aor, save] : unsaved_) {
    if (save.number != 0) settled = std::min(settled, save.number - 1);
  }
  settled_.store(settled, std::memory_order_seq_cst);
}

void AsyncStore::drain() {
  std::unique_lock lock(queue_mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !running_jobs_; });
}

void AsyncStore::record_failure(std::string error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(errors_mutex_);
  constexpr std::size_t kKeptErrors = 64;
  if (errors_.size() == kKeptErrors) errors_.erase(errors_.begin());
  errors_.push_back(std::move(error));
}

std::vector<std::string> AsyncStore::take_errors() {
  std::lock_guard lock(errors_mutex_);
  return std::exchange(errors_, {});
}

}  // namespace sipline::dataplane

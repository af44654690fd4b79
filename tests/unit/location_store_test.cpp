#include "dataplane/location_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/location_table.hpp"

namespace sipline::dataplane {
namespace {

namespace fs = std::filesystem;

sip::Binding make_binding(std::string aor, std::string contact, std::int64_t expires_at) {
  sip::Binding binding;
  binding.aor = std::move(aor);
  binding.contact = std::move(contact);
  binding.expires_at = expires_at;
  return binding;
}

sip::Binding full_binding() {
  sip::Binding binding;
  binding.aor = "1001";
  binding.contact = "sip:1001@127.0.0.1:5070;transport=udp";
  binding.received = "127.0.0.1:5070";
  binding.call_id = "a84b4c76e66710@pc33.example.com";
  binding.cseq = 4294967295u;  // the largest CSeq (RFC 3261 §8.1.1.5: below 2**31 when chosen)
  binding.expires_at = 1700003600;
  binding.q_milli = 700;
  binding.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  return binding;
}

std::vector<std::string> contacts_of(const std::vector<sip::Binding>& bindings) {
  std::vector<std::string> contacts;
  for (const sip::Binding& binding : bindings)
    contacts.push_back(binding.aor + " " + binding.contact);
  return contacts;
}

using Contacts = std::vector<std::string>;

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("sipline-store-" + std::to_string(::getpid()) + "-" +
                                         test->test_suite_name() + "-" + test->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// --- what both stores must do ---------------------------------------------------------------

enum class Kind { Memory, Sqlite };

class StoreSemantics : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::Memory) {
      store_ = std::make_unique<MemoryStore>();
    } else {
      OpenedStore opened = SqliteStore::open((dir_.path() / "location.db").string());
      ASSERT_EQ(opened.error, "");
      store_ = std::move(opened.store);
    }
  }

  TempDir dir_;
  std::unique_ptr<LocationStore> store_;
};

TEST_P(StoreSemantics, SavedBindingsLoadBackWithEveryField) {
  ASSERT_TRUE(store_->save_aor("1001", {full_binding()}).ok());
  const LoadResult loaded = store_->load_all(1700000000);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  ASSERT_EQ(loaded.bindings.size(), 1u);
  EXPECT_EQ(loaded.bindings[0], full_binding());
}

TEST_P(StoreSemantics, SaveReplacesOnlyThatAorsBindings) {
  ASSERT_TRUE(
      store_->save_aor("1001", {make_binding("", "sip:a@x", 100), make_binding("", "sip:b@x", 100)})
          .ok());
  ASSERT_TRUE(store_->save_aor("1002", {make_binding("", "sip:c@x", 100)}).ok());
  const StoreResult saved = store_->save_aor("1001", {make_binding("wrong-aor", "sip:d@x", 100)});
  ASSERT_TRUE(saved.ok()) << saved.error;
  EXPECT_EQ(saved.rows, 1u);
  // The AOR argument names the rows, whatever the bindings' own aor fields say.
  EXPECT_EQ(contacts_of(store_->load_all(0).bindings), (Contacts{"1001 sip:d@x", "1002 sip:c@x"}));
}

TEST_P(StoreSemantics, SaveKeepsTheGivenOrderAndTheLastOfADuplicateContact) {
  ASSERT_TRUE(
      store_
          ->save_aor("1001", {make_binding("", "sip:z@x", 100), make_binding("", "sip:dup@x", 100),
                              make_binding("", "sip:a@x", 100), make_binding("", "sip:dup@x", 200)})
          .ok());
  const LoadResult loaded = store_->load_all(0);
  EXPECT_EQ(contacts_of(loaded.bindings),
            (Contacts{"1001 sip:z@x", "1001 sip:a@x", "1001 sip:dup@x"}));
  ASSERT_EQ(loaded.bindings.size(), 3u);
  EXPECT_EQ(loaded.bindings[2].expires_at, 200);
}

TEST_P(StoreSemantics, EmptySaveDeletesTheAor) {
  ASSERT_TRUE(store_->save_aor("1001", {make_binding("", "sip:a@x", 100)}).ok());
  ASSERT_TRUE(store_->save_aor("1002", {make_binding("", "sip:b@x", 100)}).ok());
  ASSERT_TRUE(store_->save_aor("1001", {}).ok());
  EXPECT_EQ(contacts_of(store_->load_all(0).bindings), (Contacts{"1002 sip:b@x"}));
  EXPECT_TRUE(store_->save_aor("never-saved", {}).ok());
}

TEST_P(StoreSemantics, ABatchOfSavesIsWrittenInOrder) {
  const std::vector<AorSave> saves = {
      {"1001", {make_binding("1001", "sip:a@x", 2'000'000'000)}, std::nullopt},
      {"1002",
       {make_binding("1002", "sip:b@x", 2'000'000'000),
        make_binding("1002", "sip:c@x", 2'000'000'000)},
       std::nullopt},
      {"1001", {}, std::nullopt},  // removed again, in the same batch
  };
  const std::vector<StoreResult> results = store_->save_aors(saves);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok() && results[1].ok() && results[2].ok());
  EXPECT_EQ(results[1].rows, 2u);
  const LoadResult loaded = store_->load_all(0);
  EXPECT_EQ(contacts_of(loaded.bindings), (Contacts{"1002 sip:b@x", "1002 sip:c@x"}));
}

TEST_P(StoreSemantics, LoadSkipsBindingsThatHaveExpired) {
  ASSERT_TRUE(store_
                  ->save_aor("1001", {make_binding("", "sip:old@x", 100),
                                      make_binding("", "sip:new@x", 101)})
                  .ok());
  EXPECT_EQ(contacts_of(store_->load_all(99).bindings),
            (Contacts{"1001 sip:old@x", "1001 sip:new@x"}));
  // expires_at == now has expired.
  EXPECT_EQ(contacts_of(store_->load_all(100).bindings), (Contacts{"1001 sip:new@x"}));
  EXPECT_TRUE(store_->load_all(101).bindings.empty());
}

TEST_P(StoreSemantics, PurgeDeletesExpiredRows) {
  ASSERT_TRUE(
      store_->save_aor("1001", {make_binding("", "sip:a@x", 100), make_binding("", "sip:b@x", 300)})
          .ok());
  ASSERT_TRUE(store_->save_aor("1002", {make_binding("", "sip:c@x", 200)}).ok());
  const StoreResult purged = store_->purge_expired(200);
  ASSERT_TRUE(purged.ok()) << purged.error;
  EXPECT_EQ(purged.rows, 2u);
  // Gone for good: an earlier "now" does not bring them back.
  EXPECT_EQ(contacts_of(store_->load_all(0).bindings), (Contacts{"1001 sip:b@x"}));
  EXPECT_EQ(store_->purge_expired(200).rows, 0u);
  EXPECT_TRUE(store_->flush().ok());
}

INSTANTIATE_TEST_SUITE_P(BothStores, StoreSemantics, ::testing::Values(Kind::Memory, Kind::Sqlite),
                         [](const auto& info) {
                           return info.param == Kind::Memory ? "Memory" : "Sqlite";
                         });

// --- SQLite file ----------------------------------------------------------------------------

std::string query_text(const fs::path& database, const char* sql) {
  sqlite3* connection = nullptr;
  sqlite3_open_v2(database.c_str(), &connection, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* statement = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(connection, sql, -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  }
  sqlite3_finalize(statement);
  sqlite3_close(connection);
  return value;
}

TEST(SqliteStore, ReopeningTheFileRestoresLiveBindings) {
  TempDir dir;
  const std::string path = (dir.path() / "state" / "deeper" / "location.db").string();
  {
    OpenedStore opened = SqliteStore::open(path);
    ASSERT_EQ(opened.error, "");
    EXPECT_EQ(opened.store->describe(), "sqlite:" + path);
    ASSERT_TRUE(opened.store->save_aor("1001", {full_binding()}).ok());
    ASSERT_TRUE(opened.store->save_aor("1002", {make_binding("", "sip:1002@x", 1699999999)}).ok());
    ASSERT_TRUE(opened.store->save_aor("1003", {make_binding("", "sip:1003@x", 1700000500)}).ok());
  }  // closed, as at shutdown
  EXPECT_TRUE(fs::exists(path));
  OpenedStore reopened = SqliteStore::open(path);
  ASSERT_EQ(reopened.error, "");
  const LoadResult loaded = reopened.store->load_all(1700000000);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  EXPECT_EQ(contacts_of(loaded.bindings),
            (Contacts{"1001 sip:1001@127.0.0.1:5070;transport=udp", "1003 sip:1003@x"}));
  EXPECT_EQ(loaded.bindings[0], full_binding());
}

TEST(SqliteStore, UsesWriteAheadLoggingAndTheDocumentedTable) {
  TempDir dir;
  const fs::path path = dir.path() / "location.db";
  OpenedStore opened = SqliteStore::open(path.string());
  ASSERT_EQ(opened.error, "");
  ASSERT_TRUE(opened.store->save_aor("1001", {full_binding()}).ok());
  EXPECT_EQ(query_text(path, "PRAGMA journal_mode;"), "wal");
  EXPECT_EQ(query_text(path,
                       "SELECT aor || '|' || contact || '|' || received || '|' || call_id || '|' ||"
                       " cseq || '|' || expires_at || '|' || q_milli || '|' || instance"
                       " FROM bindings;"),
            "1001|sip:1001@127.0.0.1:5070;transport=udp|127.0.0.1:5070|"
            "a84b4c76e66710@pc33.example.com|4294967295|1700003600|700|"
            "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
  EXPECT_EQ(query_text(path, "PRAGMA user_version;"), "1");
}

TEST(SqliteStore, RefusesAFileFromANewerSchema) {
  TempDir dir;
  const fs::path path = dir.path() / "location.db";
  sqlite3* connection = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &connection), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(connection, "PRAGMA user_version = 7;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(connection);
  const OpenedStore opened = SqliteStore::open(path.string());
  EXPECT_EQ(opened.store, nullptr);
  EXPECT_EQ(opened.error, "sqlite:" + path.string() +
                              ": schema version 7 is newer than this sipline understands (1)");
}

TEST(SqliteStore, ReportsAPathThatCannotBeCreated) {
  TempDir dir;
  std::ofstream(dir.path() / "a-file") << "not a folder";
  const OpenedStore opened = SqliteStore::open((dir.path() / "a-file" / "location.db").string());
  EXPECT_EQ(opened.store, nullptr);
  EXPECT_NE(opened.error.find("cannot create " + (dir.path() / "a-file").string()),
            std::string::npos)
      << opened.error;
}

TEST(OpenStore, FollowsTheRegistrarStoreSetting) {
  TempDir dir;
  const OpenedStore memory = open_store({config::StoreKind::Memory, "", {}}, 7);
  ASSERT_NE(memory.store, nullptr);
  EXPECT_EQ(memory.store->describe(), "memory");

  const std::string path = (dir.path() / "state" / "location.db").string();
  const OpenedStore sqlite = open_store({config::StoreKind::Sqlite, path, {}}, 7);
  ASSERT_NE(sqlite.store, nullptr) << sqlite.error;
  EXPECT_EQ(sqlite.store->describe(), "sqlite:" + path);
  EXPECT_TRUE(fs::exists(path));

  // Nothing listens on port 1 of the loopback: the start stops with the reason.
  config::StoreConfig redis_config{config::StoreKind::Redis, "redis://127.0.0.1:1", {}};
  redis_config.redis.host = "127.0.0.1";
  redis_config.redis.port = 1;
  const OpenedStore redis = open_store(redis_config, 7);
  EXPECT_EQ(redis.store, nullptr);
  EXPECT_NE(redis.error.find("redis redis://127.0.0.1:1/0: connect: Connection refused"),
            std::string::npos)
      << redis.error;
}

// store = "memory": the location table is the only copy; the store writes nothing it could
// read back, so a binding costs its table entry and nothing more.
TEST(OpenStore, MemoryKeepsNoSecondCopy) {
  const OpenedStore memory = open_store({config::StoreKind::Memory, "", {}}, 7);
  ASSERT_NE(memory.store, nullptr);
  sip::Binding binding;
  binding.contact = "sip:1001@192.0.2.1:5060";
  binding.expires_at = 2'000'000'000;
  const StoreResult saved = memory.store->save_aor("1001", {binding});
  EXPECT_TRUE(saved.ok());
  EXPECT_EQ(saved.rows, 1u);
  EXPECT_TRUE(memory.store->load_all(1'000'000'000).bindings.empty());
}

// The runtime's start-up path: what was saved before a restart is routable after it.
TEST(SqliteStore, RestoredBindingsFillTheLocationTable) {
  TempDir dir;
  const std::string path = (dir.path() / "location.db").string();
  {
    OpenedStore opened = SqliteStore::open(path);
    ASSERT_EQ(opened.error, "");
    sip::Binding low = make_binding("", "sip:1002@10.0.0.2", 1700000100);
    low.q_milli = 100;
    ASSERT_TRUE(
        opened.store->save_aor("1002", {low, make_binding("", "sip:1002@10.0.0.1", 1700000100)})
            .ok());
  }
  OpenedStore reopened = SqliteStore::open(path);
  ASSERT_EQ(reopened.error, "");
  LocationTable table(1);
  table.restore(reopened.store->load_all(1700000000).bindings);
  const ContactsView view = table.lookup("1002");
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view[0].uri, "sip:1002@10.0.0.1");
  EXPECT_EQ(view[1].uri, "sip:1002@10.0.0.2");
}

// --- AsyncStore -------------------------------------------------------------------------------

// Records what ran, where, and can hold a save until the test lets it go.
class ProbeStore final : public LocationStore {
 public:
  LoadResult load_all(std::int64_t) override { return {}; }
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override {
    if (entered_) std::exchange(entered_, nullptr)->set_value();
    if (gate_) gate_->wait();
    thread_ = std::this_thread::get_id();
    log_.push_back(std::string(aor) + "/" +
                   (bindings.empty() ? std::string("-") : std::to_string(bindings[0].cseq)));
    if (aor.starts_with("fail")) return {"cannot save " + std::string(aor)};
    return {};
  }
  StoreResult purge_expired(std::int64_t) override {
    log_.push_back("purge");
    return {};
  }
  StoreResult flush() override { return {}; }
  std::string describe() const override { return "probe"; }

  std::shared_future<void>* gate_ = nullptr;
  std::promise<void>* entered_ = nullptr;  // set when the first save starts
  std::thread::id thread_;
  std::vector<std::string> log_;  // "AOR/cseq" per save ("-": removal), "purge"
};

TEST(AsyncStore, WritesReachTheStoreInSubmissionOrder) {
  TempDir dir;
  OpenedStore opened = SqliteStore::open((dir.path() / "location.db").string());
  ASSERT_EQ(opened.error, "");
  AsyncStore async(std::move(opened.store));
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::string aor = "10" + std::to_string(i % 10);
    sip::Binding binding = make_binding(aor, "sip:" + aor + "@x", 1700000000 + i);
    binding.cseq = i;
    // Every seventh write is a removal, so a reordering changes the final state.
    async.submit_save(
        aor, i % 7 == 0 ? std::vector<sip::Binding>() : std::vector<sip::Binding>{binding});
  }
  async.submit_purge(1700000992);
  async.drain();
  EXPECT_EQ(async.pending(), 0u);
  EXPECT_EQ(async.failures(), 0u);

  // The last write of AOR 10k is i = 990 + k: 994 removed 104, the purge took 100..102.
  const LoadResult loaded = async.load_all(0);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  std::vector<std::string> final_state;
  for (const sip::Binding& binding : loaded.bindings) {
    final_state.push_back(binding.aor + " cseq " + std::to_string(binding.cseq));
  }
  EXPECT_EQ(final_state,
            (std::vector<std::string>{"103 cseq 993", "105 cseq 995", "106 cseq 996",
                                      "107 cseq 997", "108 cseq 998", "109 cseq 999"}));
}

// What queued while the store was busy is one batch: of an AOR's saves only the last is
// written, in the order of those last saves, and a purge stays between the saves around it.
TEST(AsyncStore, ABatchWritesEachAorsLastSaveInOrder) {
  auto probe = std::make_unique<ProbeStore>();
  ProbeStore* store = probe.get();
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> entered;
  std::future<void> first_save_started = entered.get_future();
  store->gate_ = &gate;
  store->entered_ = &entered;
  AsyncStore async(std::move(probe));

  const auto save = [&async](std::string aor, std::uint32_t cseq) {
    sip::Binding binding = make_binding(aor, "sip:" + aor + "@x", 2'000'000'000);
    binding.cseq = cseq;
    async.submit_save(aor, {binding});
  };
  save("hold", 0);
  first_save_started.wait();  // the store thread holds "hold": what follows queues up
  save("1001", 1);
  save("1002", 1);
  save("1001", 2);
  async.submit_purge(5);
  save("1001", 3);
  async.submit_save("1003", {});
  save("1001", 4);
  EXPECT_EQ(async.pending(), 8u);
  release.set_value();
  async.drain();
  EXPECT_EQ(async.pending(), 0u);
  EXPECT_EQ(store->log_,
            (std::vector<std::string>{"hold/0", "1002/1", "1001/2", "purge", "1003/-", "1001/4"}));
}

TEST(AsyncStore, SubmitReturnsWhileTheStoreIsBusy) {
  auto probe = std::make_unique<ProbeStore>();
  ProbeStore* store = probe.get();
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  store->gate_ = &gate;
  AsyncStore async(std::move(probe));

  async.submit_save("1001", {});
  async.submit_save("1002", {});
  EXPECT_EQ(async.pending(), 2u);  // the first save is held in the store, the caller is not
  release.set_value();
  async.drain();
  EXPECT_EQ(async.pending(), 0u);
  EXPECT_NE(store->thread_, std::this_thread::get_id());
}

TEST(AsyncStore, CountsAndReportsFailures) {
  AsyncStore async(std::make_unique<ProbeStore>());
  async.submit_save("fail-1", {});
  async.submit_save("1001", {});
  async.submit_save("fail-2", {});
  async.drain();
  EXPECT_EQ(async.failures(), 2u);
  EXPECT_EQ(async.take_errors(),
            (std::vector<std::string>{"cannot save fail-1", "cannot save fail-2"}));
  EXPECT_TRUE(async.take_errors().empty());
}

// Refuses every save while `down` is set (Redis unreachable, a full disk); keeps a log of the
// saves it took ("AOR/cseq", "AOR/-" for a removal), read under its mutex.
class FlakyStore final : public LocationStore {
 public:
  LoadResult load_all(std::int64_t) override { return {}; }
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override {
    if (down_.load()) return {"store down: " + std::string(aor)};
    const std::lock_guard lock(mutex_);
    taken_.push_back(std::string(aor) + "/" +
                     (bindings.empty() ? std::string("-") : std::to_string(bindings[0].cseq)));
    return {};
  }
  StoreResult purge_expired(std::int64_t) override { return {}; }
  StoreResult flush() override { return {}; }
  std::string describe() const override { return "flaky"; }
  std::vector<std::string> taken() {
    const std::lock_guard lock(mutex_);
    return taken_;
  }

  std::atomic<bool> down_{true};

 private:
  std::mutex mutex_;
  std::vector<std::string> taken_;
};

// Waits (at most 5 s) until `async` has written `count` saves by retrying.
bool wait_for_retries(const AsyncStore& async, std::uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (async.retried() < count && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return async.retried() >= count;
}

sip::Binding live_binding(const std::string& aor, std::uint32_t cseq) {
  sip::Binding binding = make_binding(aor, "sip:" + aor + "@x", std::time(nullptr) + 3600);
  binding.cseq = cseq;
  return binding;
}

// A save the store refused is written again once the store is back, without a new
// REGISTER; its first failure counts, the retries do not.
TEST(AsyncStore, RefusedSavesAreWrittenOnceTheStoreIsBack) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* store = flaky.get();
  AsyncStore async(std::move(flaky));
  async.submit_save("1001", {live_binding("1001", 1)});
  async.submit_save("1002", {});
  async.drain();
  EXPECT_EQ(async.failures(), 2u);
  EXPECT_EQ(async.unsaved(), 2u);
  EXPECT_TRUE(store->taken().empty());
  EXPECT_EQ(async.counters_text(), "location store: unsaved=2 retried=0 unsaved_dropped=0\n");

  // Still down at the first retry: kept, not counted again.
  std::this_thread::sleep_for(kStoreRetryInterval + std::chrono::milliseconds(300));
  EXPECT_EQ(async.unsaved(), 2u);
  EXPECT_EQ(async.failures(), 2u);

  store->down_ = false;
  ASSERT_TRUE(wait_for_retries(async, 2));
  async.drain();
  std::vector<std::string> taken = store->taken();
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<std::string>{"1001/1", "1002/-"}));
  EXPECT_EQ(async.unsaved(), 0u);
  EXPECT_EQ(async.failures(), 2u);
}

// A newer save of the AOR replaces the one waiting (a save replaces the AOR whole): the old
// content is never written after it.
TEST(AsyncStore, ANewerSaveReplacesTheOneWaitingForARetry) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* store = flaky.get();
  AsyncStore async(std::move(flaky));
  async.submit_save("1001", {live_binding("1001", 1)});
  async.drain();
  ASSERT_EQ(async.unsaved(), 1u);
  store->down_ = false;
  async.submit_save("1001", {live_binding("1001", 2)});
  async.drain();
  EXPECT_EQ(async.unsaved(), 0u);
  std::this_thread::sleep_for(kStoreRetryInterval + std::chrono::milliseconds(300));
  async.drain();
  EXPECT_EQ(store->taken(), std::vector<std::string>{"1001/2"});
  EXPECT_EQ(async.retried(), 0u);
}

// Bindings that expired while they waited are left out: the retry removes the AOR.
TEST(AsyncStore, ARetryLeavesOutBindingsThatExpiredMeanwhile) {
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* store = flaky.get();
  AsyncStore async(std::move(flaky));
  sip::Binding short_lived = live_binding("1001", 1);
  short_lived.expires_at = std::time(nullptr) + 1;
  async.submit_save("1001", {short_lived, live_binding("1001", 9)});
  async.drain();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  store->down_ = false;
  ASSERT_TRUE(wait_for_retries(async, 1));
  async.drain();
  EXPECT_EQ(store->taken(), std::vector<std::string>{"1001/9"});
}

// A store that writes changes (Redis): refuses every save while `down` is set; logs each
// save it took as "AOR +CONTACT ... -CONTACT ..." (a whole save: "AOR =CONTACT ...").
class ChangeLogStore final : public LocationStore {
 public:
  LoadResult load_all(std::int64_t) override { return {}; }
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override {
    const AorSave save{std::string(aor), bindings, std::nullopt};
    return save_aors(std::span(&save, 1)).front();
  }
  std::vector<StoreResult> save_aors(std::span<const AorSave> saves) override {
    if (std::shared_future<void>* gate = gate_.load()) gate->wait();
    std::vector<StoreResult> results;
    const std::lock_guard lock(mutex_);
    for (const AorSave& save : saves) {
      if (down_.load()) {
        results.push_back({"store down: " + save.aor});
        continue;
      }
      std::string line = save.retried ? "(again) " + save.aor : save.aor;
      if (!save.change) {
        for (const sip::Binding& b : save.bindings)
          line += " =" + b.contact;
      } else {
        std::vector<std::string> upserts;
        for (const sip::Binding& b : save.change->upserts)
          upserts.push_back(b.contact);
        std::sort(upserts.begin(), upserts.end());
        for (const std::string& contact : upserts)
          line += " +" + contact;
        std::vector<std::string> removed = save.change->removed;
        std::sort(removed.begin(), removed.end());
        for (const std::string& contact : removed)
          line += " -" + contact;
      }
      taken_.push_back(std::move(line));
      results.push_back({});
    }
    return results;
  }
  bool saves_changes() const override { return true; }
  StoreResult purge_expired(std::int64_t) override { return {}; }
  StoreResult flush() override { return {}; }
  std::string describe() const override { return "changes"; }
  std::vector<std::string> taken() {
    const std::lock_guard lock(mutex_);
    return taken_;
  }

  std::atomic<bool> down_{false};
  std::atomic<std::shared_future<void>*> gate_{nullptr};  // holds each batch until ready

 private:
  std::mutex mutex_;
  std::vector<std::string> taken_;
};

sip::Binding contact_binding(const std::string& contact, std::int64_t expires_at) {
  return make_binding("1001", contact, expires_at);
}

// A store that writes changes gets each save's change from the lists before and after; the
// operator's removal (no `before`) replaces the AOR whole.
TEST(AsyncStore, AStoreOfChangesGetsWhatEachSaveChanged) {
  auto changes = std::make_unique<ChangeLogStore>();
  ChangeLogStore* store = changes.get();
  AsyncStore async(std::move(changes));
  const std::int64_t later = std::time(nullptr) + 3600;
  const sip::Binding desk = contact_binding("sip:desk@h", later);
  const sip::Binding mobile = contact_binding("sip:mobile@h", later);
  async.submit_save("1001", {desk}, {desk, mobile});
  async.drain();
  async.submit_save("1001", {desk, mobile}, {mobile});
  async.drain();
  async.submit_save("1001", {});
  async.drain();
  EXPECT_EQ(store->taken(),
            (std::vector<std::string>{"1001 +sip:mobile@h", "1001 -sip:desk@h", "1001"}));
}

// A change that waited for a retry is not replaced by the next change of its AOR (which names
// only its own binding): both are written, as one.
TEST(AsyncStore, AChangeWaitingForARetryIsMergedWithTheNext) {
  auto changes = std::make_unique<ChangeLogStore>();
  ChangeLogStore* store = changes.get();
  store->down_ = true;
  AsyncStore async(std::move(changes));
  const std::int64_t later = std::time(nullptr) + 3600;
  const sip::Binding desk = contact_binding("sip:desk@h", later);
  const sip::Binding mobile = contact_binding("sip:mobile@h", later);
  const sip::Binding old = contact_binding("sip:old@h", later);
  async.submit_save("1001", {old}, {desk});
  async.drain();
  ASSERT_EQ(async.unsaved(), 1u);
  store->down_ = false;
  async.submit_save("1001", {desk}, {desk, mobile});
  async.drain();
  EXPECT_EQ(async.unsaved(), 0u);
  EXPECT_EQ(store->taken(),
            std::vector<std::string>{"(again) 1001 +sip:desk@h +sip:mobile@h -sip:old@h"});
}

// A binding that expired while its change waited is removed by the retry, not written.
TEST(AsyncStore, ARetriedChangeRemovesWhatExpiredMeanwhile) {
  auto changes = std::make_unique<ChangeLogStore>();
  ChangeLogStore* store = changes.get();
  store->down_ = true;
  AsyncStore async(std::move(changes));
  const sip::Binding brief = contact_binding("sip:brief@h", std::time(nullptr) + 1);
  const sip::Binding desk = contact_binding("sip:desk@h", std::time(nullptr) + 3600);
  async.submit_save("1001", {}, {brief, desk});
  async.drain();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  store->down_ = false;
  ASSERT_TRUE(wait_for_retries(async, 1));
  async.drain();
  EXPECT_EQ(store->taken(), std::vector<std::string>{"(again) 1001 +sip:desk@h -sip:brief@h"});
}

// A resynchronisation pins the record of recent saves, then reads the store: the saves after
// the last one the store settled are those the read may have missed. Once unpinned, what the
// store settled is pruned.
TEST(AsyncStore, TellsAResynchronisationWhichSavesItMayHaveMissed) {
  auto changes = std::make_unique<ChangeLogStore>();
  ChangeLogStore* store = changes.get();
  AsyncStore async(std::move(changes));
  const sip::Binding desk = contact_binding("sip:desk@h", std::time(nullptr) + 3600);
  using Aors = std::optional<std::vector<std::string>>;
  async.submit_save("1001", {}, {desk});
  async.drain();
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  store->gate_ = &gate;
  async.submit_save("1002", {}, {desk});  // held in the store: not settled
  const std::uint64_t settled = async.pin_saves();
  EXPECT_EQ(settled, 1u);
  async.submit_save("1003", {}, {desk});
  EXPECT_EQ(async.saved_after(settled), (Aors{{"1002", "1003"}}));
  release.set_value();
  async.drain();
  async.submit_save("1004", {}, {desk});  // still pinned: nothing pruned
  EXPECT_EQ(async.saved_after(settled), (Aors{{"1002", "1003", "1004"}}));
  async.drain();
  async.release_saves();
  async.submit_save("1005", {}, {desk});  // unpinned: 1002-1004 were settled, and go
  EXPECT_EQ(async.saved_after(0), (Aors{{"1005"}}));
  async.drain();
  EXPECT_EQ(async.pin_saves(), 5u);
  EXPECT_EQ(async.saved_after(5), (Aors{std::vector<std::string>{}}));
  async.release_saves();
}

// A save the store refused is not in the store: until its retry lands, a read may lack it.
TEST(AsyncStore, ASaveWaitingForARetryIsNotSettled) {
  auto changes = std::make_unique<ChangeLogStore>();
  ChangeLogStore* store = changes.get();
  store->down_ = true;
  AsyncStore async(std::move(changes));
  const sip::Binding desk = contact_binding("sip:desk@h", std::time(nullptr) + 3600);
  using Aors = std::optional<std::vector<std::string>>;
  async.submit_save("1001", {}, {desk});
  async.drain();
  async.submit_save("1002", {}, {desk});
  async.drain();
  ASSERT_EQ(async.unsaved(), 2u);  // the store is down for both
  store->down_ = false;
  async.submit_save("1003", {}, {desk});
  async.drain();
  EXPECT_EQ(async.pin_saves(), 0u);
  EXPECT_EQ(async.saved_after(0), (Aors{{"1001", "1002", "1003"}}));
  async.release_saves();
  ASSERT_TRUE(wait_for_retries(async, 2));
  EXPECT_EQ(async.pin_saves(), 3u);
  async.release_saves();
}

// At most kMaxUnsavedAors wait; beyond, a refused save is dropped and counted.
TEST(AsyncStore, TheUnsavedBacklogIsBounded) {
  AsyncStore async(std::make_unique<FlakyStore>());
  for (std::size_t i = 0; i <= kMaxUnsavedAors; ++i)
    async.submit_save(std::to_string(100000 + i), {});
  async.drain();
  EXPECT_EQ(async.unsaved(), kMaxUnsavedAors);
  EXPECT_EQ(async.unsaved_dropped(), 1u);
  EXPECT_EQ(async.failures(), kMaxUnsavedAors + 1);
}

// The names of this process's threads, from /proc.
std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  return names;
}

TEST(AsyncStore, AStoreThatKeepsNothingGetsNoThreadAndNoJobs) {
  AsyncStore kept(std::make_unique<ProbeStore>());
  const auto store_threads = [] {
    const std::vector<std::string> names = thread_names();
    return std::count(names.begin(), names.end(), "sipline-store");
  };
  const auto with_one = store_threads();
  EXPECT_GE(with_one, 1);
  {
    AsyncStore volatile_store(std::make_unique<VolatileStore>());
    EXPECT_EQ(store_threads(), with_one);
    volatile_store.submit_save("1001", {make_binding("1001", "sip:1001@x", 1700000000)});
    volatile_store.submit_purge(1700000000);
    volatile_store.submit_flush();
    EXPECT_EQ(volatile_store.pending(), 0u);
    volatile_store.drain();
    EXPECT_EQ(volatile_store.failures(), 0u);
    EXPECT_TRUE(volatile_store.load_all(0).bindings.empty());
  }
  kept.submit_save("1001", {});
  kept.drain();
  EXPECT_EQ(kept.pending(), 0u);
}

}  // namespace
}  // namespace sipline::dataplane

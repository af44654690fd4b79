// The Redis location store and the change subscription, against a private redis-server on
// the loopback (redis_server.hpp).
#include "dataplane/redis_store.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/binding_codec.hpp"
#include "dataplane/location_sync.hpp"
#include "dataplane/location_table.hpp"
#include "tests/unit/redis_server.hpp"

namespace sipline::dataplane {
namespace {

// Redis expires keys on its own clock: bindings in these tests live in the real present.
const std::int64_t kNow = static_cast<std::int64_t>(std::time(nullptr));

config::RedisEndpoint endpoint_of(const testing::RedisServer& server, std::uint32_t db = 0) {
  const config::ParsedRedisEndpoint parsed =
      config::parse_redis_url(server.url() + "/" + std::to_string(db));
  EXPECT_TRUE(parsed.endpoint.has_value()) << parsed.error;
  return parsed.endpoint.value_or(config::RedisEndpoint{});
}

sip::Binding binding(std::string aor, std::string contact, std::int64_t expires_at) {
  sip::Binding b;
  b.aor = std::move(aor);
  b.contact = std::move(contact);
  b.received = "127.0.0.1:5070";
  b.call_id = "reg-" + b.aor;
  b.cseq = 7;
  b.expires_at = expires_at;
  return b;
}

std::unique_ptr<LocationStore> open_or_fail(const config::RedisEndpoint& endpoint,
                                            std::uint64_t node) {
  OpenedStore opened = RedisStore::open(endpoint, node);
  EXPECT_NE(opened.store, nullptr) << opened.error;
  return std::move(opened.store);
}

// What a key holds, read with a connection of the test's own.
RedisReply command(const config::RedisEndpoint& endpoint, const RedisCommand& args) {
  RedisConnection connection(endpoint);
  RedisReplies replies = connection.run(args);
  EXPECT_TRUE(replies.ok()) << replies.error;
  return replies.ok() ? std::move(replies.replies.front()) : nullptr;
}

// Waits (at most 5 s) until the sync has queued `count` updates; returns them, with the last
// resynchronisation taken (which, as in the control thread, supersedes what came before it).
SyncUpdates wait_for_sync(LocationSync& sync, std::size_t count) {
  SyncUpdates all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (all.updates.size() < count && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{sync.ready_fd(), POLLIN, 0};
    ::poll(&ready, 1, 50);
    SyncUpdates taken = sync.take_updates();
    if (taken.snapshot) all = {{}, taken.snapshot};
    for (AorUpdate& update : taken.updates)
      all.updates.push_back(std::move(update));
  }
  return all;
}

std::vector<AorUpdate> wait_for_updates(LocationSync& sync, std::size_t count) {
  return wait_for_sync(sync, count).updates;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.running()) << "redis-server did not start"; }

  // This node's sync with `store` as its writer; null (the failure reported) when it did not
  // start.
  std::unique_ptr<LocationSync> start_sync(AsyncStore& store) {
    LocationSync::Started started = LocationSync::start(endpoint_of(server_), 1, &store);
    EXPECT_NE(started.sync, nullptr) << started.error;
    return std::move(started.sync);
  }

  testing::RedisServer server_;
};

TEST_F(RedisStoreTest, SavesAndLoadsEveryField) {
  const auto store = open_or_fail(endpoint_of(server_), 1);
  ASSERT_NE(store, nullptr);
  sip::Binding full = binding("1001", "sip:1001@127.0.0.1:5070;transport=udp", kNow + 3600);
  full.q_milli = 500;
  full.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  const sip::Binding second = binding("1001", "sip:1001@[::1]:5072", kNow + 60);
  const StoreResult saved = store->save_aor("1001", {full, second});
  ASSERT_TRUE(saved.ok()) << saved.error;
  EXPECT_EQ(saved.rows, 2u);
  ASSERT_TRUE(store->save_aor("1002", {binding("1002", "sip:1002@h", kNow + 10)}).ok());

  const LoadResult loaded = store->load_all(kNow);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  std::vector<sip::Binding> of_1001;
  std::copy_if(loaded.bindings.begin(), loaded.bindings.end(), std::back_inserter(of_1001),
               [](const sip::Binding& b) { return b.aor == "1001"; });
  // A hash keeps no order; the location table orders an AOR's bindings itself (by q).
  std::sort(of_1001.begin(), of_1001.end(),
            [](const sip::Binding& a, const sip::Binding& b) { return a.contact < b.contact; });
  EXPECT_EQ(of_1001, (std::vector<sip::Binding>{full, second}));
  EXPECT_EQ(loaded.bindings.size(), 3u);
  EXPECT_EQ(store->describe(), "redis://127.0.0.1:" + std::to_string(server_.port()) + "/0");
}

TEST_F(RedisStoreTest, KeyLayoutAndExpiry) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  const auto store = open_or_fail(endpoint, 1);
  ASSERT_NE(store, nullptr);
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  ASSERT_TRUE(store
                  ->save_aor("1001", {binding("1001", "sip:a@h", now + 100),
                                      binding("1001", "sip:b@h", now + 3600)})
                  .ok());
  // One hash per AOR, expiring with its latest binding (Redis removes it then); one field per
  // binding, named by its contact, its expiry first.
  const RedisReply expires_at = command(endpoint, {"EXPIRETIME", "sipline:bindings:1001"});
  ASSERT_NE(expires_at, nullptr);
  EXPECT_EQ(expires_at->integer, now + 3600);
  const RedisReply value = command(endpoint, {"HGET", "sipline:bindings:1001", "sip:b@h"});
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->type, REDIS_REPLY_STRING);
  EXPECT_TRUE(
      std::string_view(value->str, value->len).starts_with(std::to_string(now + 3600) + " SLB1"));
  EXPECT_EQ(command(endpoint, {"HLEN", "sipline:bindings:1001"})->integer, 2);

  // A binding past its time is not loaded, though its AOR's key lives on.
  const LoadResult later = store->load_all(now + 200);
  ASSERT_EQ(later.bindings.size(), 1u);
  EXPECT_EQ(later.bindings[0].contact, "sip:b@h");

  // An empty list removes the key.
  ASSERT_TRUE(store->save_aor("1001", {}).ok());
  const RedisReply exists = command(endpoint, {"EXISTS", "sipline:bindings:1001"});
  ASSERT_NE(exists, nullptr);
  EXPECT_EQ(exists->integer, 0);
  EXPECT_TRUE(store->load_all(now).bindings.empty());
}

TEST_F(RedisStoreTest, LoadsPastOneScanBatchAndSkipsForeignValues) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  const auto store = open_or_fail(endpoint, 1);
  ASSERT_NE(store, nullptr);
  for (int user = 0; user < 2500; ++user) {
    std::string aor = "u";
    aor += std::to_string(user);
    std::string contact = "sip:";
    contact.append(aor).append("@h");
    ASSERT_TRUE(store->save_aor(aor, {binding(aor, contact, kNow + 100)}).ok());
  }
  command(endpoint, {"HSET", "sipline:bindings:garbage", "sip:g@h", "not a binding"});
  // A binding stored under another contact's field (not written by sipline): not read.
  command(endpoint, {"HSET", "sipline:bindings:u1", "sip:other@h",
                     encode_stored_binding(binding("u1", "sip:u1@h", kNow + 100))});
  command(endpoint, {"SET", "sipline:bindings:string", "not a hash"});  // not read at all
  command(endpoint, {"SET", "other:key", "ignored"});
  const LoadResult loaded = store->load_all(kNow);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  EXPECT_EQ(loaded.bindings.size(), 2500u);
  EXPECT_EQ(loaded.unreadable, 2u);
}

TEST_F(RedisStoreTest, ABatchIsPipelinedAndEachSaveNotified) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  LocationSync::Started started = LocationSync::start(endpoint, 1);
  ASSERT_NE(started.sync, nullptr) << started.error;
  const auto store = open_or_fail(endpoint, 2);
  ASSERT_NE(store, nullptr);
  std::vector<AorSave> saves;
  for (int user = 0; user < 600; ++user) {  // more than one round trip's worth (256)
    std::string aor = "b";
    aor += std::to_string(user);
    saves.push_back({aor, {binding(aor, "sip:x@h", kNow + 100)}, std::nullopt});
  }
  saves.push_back({"b7", {}, std::nullopt});  // a removal within the batch
  const std::vector<StoreResult> results = store->save_aors(saves);
  ASSERT_EQ(results.size(), saves.size());
  EXPECT_TRUE(
      std::all_of(results.begin(), results.end(), [](const StoreResult& r) { return r.ok(); }));
  EXPECT_EQ(store->load_all(kNow).bindings.size(), 599u);
  const std::vector<AorUpdate> updates = wait_for_updates(*started.sync, saves.size());
  ASSERT_EQ(updates.size(), saves.size());
  EXPECT_EQ(updates.back().aor, "b7");
  EXPECT_TRUE(updates.back().bindings.empty());
}

// Contacts of an AOR's bindings in Redis, sorted.
std::vector<std::string> stored_contacts(LocationStore& store, std::string_view aor) {
  std::vector<std::string> contacts;
  for (const sip::Binding& b : store.load_all(kNow).bindings) {
    if (b.aor == aor) contacts.push_back(b.contact);
  }
  std::sort(contacts.begin(), contacts.end());
  return contacts;
}

std::vector<std::string> table_contacts(const LocationTable& table, std::string_view aor) {
  std::vector<std::string> contacts;
  for (const sip::Binding& b : table.bindings(aor))
    contacts.push_back(b.contact);
  std::sort(contacts.begin(), contacts.end());
  return contacts;
}

// Two phones of one user register at the same moment through two nodes, neither node knowing
// the other's phone yet. Each node writes its change, not its list: Redis, both nodes and a
// third keep both phones. (With whole lists, the later write dropped the first phone until
// its next REGISTER, up to an hour.)
TEST_F(RedisStoreTest, TwoNodesChangingOneAorAtOnceKeepBothBindings) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  LocationSync::Started sync_a = LocationSync::start(endpoint, 1);
  LocationSync::Started sync_b = LocationSync::start(endpoint, 2);
  LocationSync::Started sync_c = LocationSync::start(endpoint, 3);
  ASSERT_NE(sync_a.sync, nullptr) << sync_a.error;
  ASSERT_NE(sync_b.sync, nullptr) << sync_b.error;
  ASSERT_NE(sync_c.sync, nullptr) << sync_c.error;
  AsyncStore node_a(open_or_fail(endpoint, 1));
  AsyncStore node_b(open_or_fail(endpoint, 2));
  LocationTable table_a(1);
  LocationTable table_b(1);
  LocationTable table_c(1);
  const sip::Binding desk = binding("1001", "sip:1001@192.0.2.10:5060", kNow + 3600);
  const sip::Binding mobile = binding("1001", "sip:1001@198.51.100.7:40000", kNow + 600);
  table_a.replace("1001", {desk});
  node_a.submit_save("1001", {}, {desk});
  table_b.replace("1001", {mobile});
  node_b.submit_save("1001", {}, {mobile});
  node_a.drain();
  node_b.drain();
  EXPECT_EQ(node_a.failures() + node_b.failures(), 0u);

  const std::vector<std::string> both = {desk.contact, mobile.contact};
  const auto store = open_or_fail(endpoint, 9);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(stored_contacts(*store, "1001"), both);
  table_a.apply(wait_for_updates(*sync_a.sync, 1));
  table_b.apply(wait_for_updates(*sync_b.sync, 1));
  table_c.apply(wait_for_updates(*sync_c.sync, 2));
  EXPECT_EQ(table_contacts(table_a, "1001"), both);
  EXPECT_EQ(table_contacts(table_b, "1001"), both);
  EXPECT_EQ(table_contacts(table_c, "1001"), both);

  // The desk phone unregisters through node A: only its binding goes, everywhere.
  node_a.submit_save("1001", table_a.bindings("1001"), {mobile});
  table_a.replace("1001", {mobile});
  node_a.drain();
  EXPECT_EQ(stored_contacts(*store, "1001"), std::vector<std::string>{mobile.contact});
  table_b.apply(wait_for_updates(*sync_b.sync, 1));
  EXPECT_EQ(table_contacts(table_b, "1001"), std::vector<std::string>{mobile.contact});
}

// A node's table may hold another node's binding as it was before that node refreshed it.
// A REGISTER through this node changes its own phone's binding only: the stale copy is not
// written back over the fresh one.
TEST_F(RedisStoreTest, ASaveDoesNotWriteBackAnotherNodesStaleBinding) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  AsyncStore node_a(open_or_fail(endpoint, 1));
  AsyncStore node_b(open_or_fail(endpoint, 2));
  const sip::Binding desk = binding("1001", "sip:desk@h", kNow + 600);
  sip::Binding mobile = binding("1001", "sip:mobile@h", kNow + 600);
  node_b.submit_save("1001", {}, {mobile});
  node_b.drain();
  sip::Binding mobile_refreshed = mobile;
  mobile_refreshed.expires_at = kNow + 3600;
  mobile_refreshed.cseq = 8;
  node_b.submit_save("1001", {mobile}, {mobile_refreshed});
  node_b.drain();
  // Node A has not applied the refresh yet; its REGISTER adds the desk phone.
  node_a.submit_save("1001", {mobile}, {mobile, desk});
  node_a.drain();
  const auto store = open_or_fail(endpoint, 9);
  ASSERT_NE(store, nullptr);
  LoadResult loaded = store->load_all(kNow);
  ASSERT_EQ(loaded.bindings.size(), 2u);
  for (const sip::Binding& b : loaded.bindings) {
    EXPECT_EQ(b, b.contact == desk.contact ? desk : mobile_refreshed);
  }
  // And the key lives as long as its latest binding.
  EXPECT_EQ(command(endpoint, {"EXPIRETIME", "sipline:bindings:1001"})->integer, kNow + 3600);
}

// Each save drops the AOR's bindings expired by then (Redis expires the key only with the
// last one), and sets the key's expiry to the latest left.
TEST_F(RedisStoreTest, ASaveDropsExpiredBindingsOfItsAor) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  const auto store = open_or_fail(endpoint, 1);
  ASSERT_NE(store, nullptr);
  command(endpoint, {"HSET", "sipline:bindings:1001", "sip:old@h",
                     encode_stored_binding(binding("1001", "sip:old@h", kNow - 5))});
  command(endpoint, {"HSET", "sipline:bindings:1001", "sip:long@h",
                     encode_stored_binding(binding("1001", "sip:long@h", kNow + 7200))});
  command(endpoint, {"HSET", "sipline:bindings:1001", "sip:foreign@h", "not ours"});
  AorSave save{"1001", {}, BindingDelta{}};
  save.change->upserts = {binding("1001", "sip:new@h", kNow + 60)};
  ASSERT_TRUE(store->save_aors(std::span(&save, 1)).front().ok());
  EXPECT_EQ(command(endpoint, {"HEXISTS", "sipline:bindings:1001", "sip:old@h"})->integer, 0);
  EXPECT_EQ(command(endpoint, {"HLEN", "sipline:bindings:1001"})->integer, 3);  // foreign kept
  EXPECT_EQ(command(endpoint, {"EXPIRETIME", "sipline:bindings:1001"})->integer, kNow + 7200);
}

// A Redis restarted without its scripts (or SCRIPT FLUSH): the store loads the script again
// and the save goes through, once.
TEST_F(RedisStoreTest, AFlushedScriptIsLoadedAgain) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  const auto store = open_or_fail(endpoint, 1);
  ASSERT_NE(store, nullptr);
  command(endpoint, {"SCRIPT", "FLUSH"});
  std::vector<AorSave> saves;
  for (const char* aor : {"1001", "1002"}) {
    saves.push_back({aor, {}, BindingDelta{{binding(aor, "sip:x@h", kNow + 60)}, {}}});
  }
  const std::vector<StoreResult> results = store->save_aors(saves);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0].error;
  EXPECT_TRUE(results[1].ok()) << results[1].error;
  EXPECT_EQ(store->load_all(kNow).bindings.size(), 2u);
}

// An AOR an earlier sipline saved (its whole list as one string, "sipline:location:AOR") and
// no node has changed since is still loaded; once a node writes the AOR, its hash is read
// alone.
TEST_F(RedisStoreTest, LoadsTheEarlierLayoutForAorsWithoutAHash) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  const auto store = open_or_fail(endpoint, 1);
  ASSERT_NE(store, nullptr);
  const sip::Binding kept = binding("1001", "sip:kept@h", kNow + 600);
  command(endpoint, {"SET", "sipline:location:1001", encode_bindings({kept})});
  command(endpoint, {"SET", "sipline:location:1002",
                     encode_bindings({binding("1002", "sip:old@h", kNow + 600)})});
  command(endpoint, {"SET", "sipline:location:1003", "not a list"});
  const sip::Binding fresh = binding("1002", "sip:fresh@h", kNow + 600);
  AorSave save{"1002", {fresh}, BindingDelta{{fresh}, {}}};
  ASSERT_TRUE(store->save_aors(std::span(&save, 1)).front().ok());
  LoadResult loaded = store->load_all(kNow);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  std::sort(loaded.bindings.begin(), loaded.bindings.end(),
            [](const sip::Binding& a, const sip::Binding& b) { return a.aor < b.aor; });
  EXPECT_EQ(loaded.bindings, (std::vector<sip::Binding>{kept, fresh}));
  EXPECT_EQ(loaded.unreadable, 1u);
}

// A node skips its own notices (its table made the change), except those of a change written
// again after Redis refused it: a resynchronisation after the outage may have read Redis
// before that retry and set this node's table back.
TEST_F(RedisStoreTest, ANodeAppliesItsOwnRetriedChangesOnly) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  LocationSync::Started started = LocationSync::start(endpoint, 1);
  ASSERT_NE(started.sync, nullptr) << started.error;
  const auto mine = open_or_fail(endpoint, 1);
  ASSERT_NE(mine, nullptr);
  const sip::Binding first = binding("1001", "sip:first@h", kNow + 600);
  const sip::Binding again = binding("1002", "sip:again@h", kNow + 600);
  AorSave ordinary{"1001", {first}, BindingDelta{{first}, {}}};
  AorSave retried{"1002", {again}, BindingDelta{{again}, {}}};
  retried.retried = true;
  ASSERT_TRUE(mine->save_aors(std::span(&ordinary, 1)).front().ok());
  ASSERT_TRUE(mine->save_aors(std::span(&retried, 1)).front().ok());
  const std::vector<AorUpdate> updates = wait_for_updates(*started.sync, 1);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].aor, "1002");
  ASSERT_TRUE(updates[0].change.has_value());
  EXPECT_EQ(updates[0].change->upserts, std::vector<sip::Binding>{again});
  const LocationSync::Counts counts = started.sync->counts();
  EXPECT_EQ(counts.own, 1u);
  EXPECT_EQ(counts.notices, 1u);
}

TEST_F(RedisStoreTest, DatabasesAreSeparate) {
  const auto zero = open_or_fail(endpoint_of(server_, 0), 1);
  const auto three = open_or_fail(endpoint_of(server_, 3), 1);
  ASSERT_NE(zero, nullptr);
  ASSERT_NE(three, nullptr);
  ASSERT_TRUE(three->save_aor("1001", {binding("1001", "sip:x@h", kNow + 10)}).ok());
  EXPECT_TRUE(zero->load_all(kNow).bindings.empty());
  EXPECT_EQ(three->load_all(kNow).bindings.size(), 1u);
}

TEST_F(RedisStoreTest, AWrongPasswordStopsTheOpen) {
  command(endpoint_of(server_), {"CONFIG", "SET", "requirepass", "s3cret"});
  config::RedisEndpoint wrong = endpoint_of(server_);
  wrong.password = "guess";
  const OpenedStore refused = RedisStore::open(wrong, 1);
  EXPECT_EQ(refused.store, nullptr);
  EXPECT_NE(refused.error.find("AUTH: WRONGPASS"), std::string::npos) << refused.error;

  config::RedisEndpoint right = wrong;
  right.password = "s3cret";
  const OpenedStore opened = RedisStore::open(right, 1);
  ASSERT_NE(opened.store, nullptr) << opened.error;
  EXPECT_TRUE(opened.store->save_aor("1001", {binding("1001", "sip:x@h", kNow + 10)}).ok());
}

TEST_F(RedisStoreTest, WritesFailWhileRedisIsDownAndWorkOnceItIsBack) {
  const auto store = open_or_fail(endpoint_of(server_), 1);
  ASSERT_NE(store, nullptr);
  server_.stop();
  const StoreResult failed = store->save_aor("1001", {binding("1001", "sip:x@h", kNow + 10)});
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.error.find("redis redis://127.0.0.1:"), std::string::npos) << failed.error;
  ASSERT_TRUE(server_.start());
  // Within a second of a failed attempt the store does not try again; then it reconnects.
  std::this_thread::sleep_for(RedisConnection::kReconnectInterval + std::chrono::milliseconds(100));
  const StoreResult saved = store->save_aor("1001", {binding("1001", "sip:x@h", kNow + 10)});
  EXPECT_TRUE(saved.ok()) << saved.error;
  EXPECT_EQ(store->load_all(kNow).bindings.size(), 1u);
}

// A registration saved while Redis is down reaches Redis once it is back, with no new
// REGISTER: the store thread keeps the refused save and writes it again (AsyncStore).
TEST_F(RedisStoreTest, ASaveRefusedWhileRedisIsDownIsWrittenWhenItIsBack) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  AsyncStore async(open_or_fail(endpoint, 1));
  server_.stop();
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  async.submit_save("1001", {binding("1001", "sip:x@h", now + 600)});
  async.drain();
  EXPECT_EQ(async.failures(), 1u);
  EXPECT_EQ(async.unsaved(), 1u);
  ASSERT_TRUE(server_.start());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (async.retried() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(async.retried(), 1u);
  EXPECT_EQ(async.unsaved(), 0u);
  const RedisReply exists = command(endpoint, {"EXISTS", "sipline:bindings:1001"});
  ASSERT_NE(exists, nullptr);
  EXPECT_EQ(exists->integer, 1);
}

TEST_F(RedisStoreTest, ASyncQueuesOtherNodesChangesAndSkipsItsOwn) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  LocationSync::Started started = LocationSync::start(endpoint, 1);
  ASSERT_NE(started.sync, nullptr) << started.error;
  LocationSync& sync = *started.sync;
  const auto mine = open_or_fail(endpoint, 1);
  const auto other = open_or_fail(endpoint, 2);
  ASSERT_NE(mine, nullptr);
  ASSERT_NE(other, nullptr);

  ASSERT_TRUE(mine->save_aor("1001", {binding("1001", "sip:mine@h", kNow + 10)}).ok());
  const sip::Binding remote = binding("1002", "sip:remote@h", kNow + 10);
  ASSERT_TRUE(other->save_aor("1002", {remote}).ok());
  ASSERT_TRUE(other->save_aor("1003", {binding("1003", "sip:gone@h", kNow + 10)}).ok());
  ASSERT_TRUE(other->save_aor("1003", {}).ok());

  const std::vector<AorUpdate> updates = wait_for_updates(sync, 3);
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0].aor, "1002");
  EXPECT_EQ(updates[0].bindings, std::vector<sip::Binding>{remote});
  EXPECT_FALSE(updates[0].change.has_value());  // save_aor replaces the AOR whole
  EXPECT_EQ(updates[1].aor, "1003");
  EXPECT_EQ(updates[2].aor, "1003");
  EXPECT_TRUE(updates[2].bindings.empty());  // removed
  const LocationSync::Counts counts = sync.counts();
  EXPECT_EQ(counts.notices, 3u);
  EXPECT_EQ(counts.own, 1u);
  EXPECT_TRUE(counts.connected);
  EXPECT_NE(sync.counters_text().find("location sync: connected=1 notices=3 own=1 unreadable=0"),
            std::string::npos)
      << sync.counters_text();

  // Someone else's message on the channel: counted, skipped, reported once.
  command(endpoint, {"PUBLISH", redis_change_channel(endpoint), "hello"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sync.counts().unreadable == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sync.counts().unreadable, 1u);
  const std::vector<std::string> events = sync.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("did not decode"), std::string::npos);
}

// Waits (at most 5 s) for a resynchronisation; returns what was taken with it and after it.
SyncUpdates wait_for_resync(LocationSync& sync) {
  SyncUpdates all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!all.snapshot && std::chrono::steady_clock::now() < deadline) {
    all = wait_for_sync(sync, 1);
  }
  return all;
}

TEST_F(RedisStoreTest, ASyncResynchronisesAfterALostConnection) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  AsyncStore store(open_or_fail(endpoint, 1));
  const std::unique_ptr<LocationSync> started = start_sync(store);
  ASSERT_NE(started, nullptr);
  LocationSync& sync = *started;
  server_.stop();
  ASSERT_TRUE(server_.start());  // empty again: nothing persisted
  // While the node was away another node saved an AOR: no notice reaches us, the resync does.
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const sip::Binding missed = binding("1005", "sip:missed@h", now + 600);
  {
    const auto other = open_or_fail(endpoint, 2);
    ASSERT_NE(other, nullptr);
    ASSERT_TRUE(other->save_aor("1005", {missed}).ok());
  }
  const SyncUpdates taken = wait_for_resync(sync);
  const std::vector<AorUpdate>& updates = taken.updates;
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].aor, "1005");
  EXPECT_EQ(updates[0].bindings, std::vector<sip::Binding>{missed});
  // A restarted Redis (a new run_id) may have lost what the nodes route with: not complete.
  ASSERT_TRUE(taken.snapshot.has_value());
  EXPECT_EQ(taken.snapshot->aors, 1u);
  EXPECT_FALSE(taken.snapshot->complete);
  EXPECT_TRUE(taken.snapshot->pinned);
  store.release_saves();
  const LocationSync::Counts counts = sync.counts();
  EXPECT_EQ(counts.disconnects, 1u);
  EXPECT_EQ(counts.resyncs, 1u);
  EXPECT_TRUE(counts.connected);
  const std::vector<std::string> events = sync.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("lost the change channel"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("read 1 binding(s) from the store (a new dataset"), std::string::npos)
      << events[1];

  // And notices flow again on the new subscription.
  const auto other = open_or_fail(endpoint, 2);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->save_aor("1006", {binding("1006", "sip:new@h", now + 600)}).ok());
  const std::vector<AorUpdate> after = wait_for_updates(sync, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].aor, "1006");
}

// Only the change channel was lost (Redis kept its data: the same run_id): the read is
// complete, so what it lacks was removed while the node was away. Notices queued before the
// read are dropped (it holds them), and the pin on this node's saves is held for the control
// thread.
TEST_F(RedisStoreTest, AResyncOfTheSameDatasetIsComplete) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  AsyncStore store(open_or_fail(endpoint, 1));
  const std::unique_ptr<LocationSync> started = start_sync(store);
  ASSERT_NE(started, nullptr);
  LocationSync& sync = *started;
  const auto other = open_or_fail(endpoint, 2);
  ASSERT_NE(other, nullptr);
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const sip::Binding kept = binding("1007", "sip:kept@h", now + 600);
  ASSERT_TRUE(other->save_aor("1007", {kept}).ok());
  ASSERT_EQ(wait_for_updates(sync, 1).size(), 1u);  // its notice, taken
  ASSERT_TRUE(other->save_aor("1008", {binding("1008", "sip:gone@h", now + 600)}).ok());
  ASSERT_TRUE(other->save_aor("1008", {}).ok());
  command(endpoint, {"CLIENT", "KILL", "TYPE", "pubsub"});

  const SyncUpdates taken = wait_for_resync(sync);
  ASSERT_TRUE(taken.snapshot.has_value());
  EXPECT_TRUE(taken.snapshot->complete);
  EXPECT_TRUE(taken.snapshot->pinned);
  EXPECT_EQ(taken.snapshot->settled, 0u);  // this node saved nothing
  ASSERT_EQ(taken.snapshot->aors, 1u);
  ASSERT_GE(taken.updates.size(), 1u);
  EXPECT_EQ(taken.updates[0].aor, "1007");
  EXPECT_EQ(taken.updates[0].bindings, std::vector<sip::Binding>{kept});
  store.release_saves();
  EXPECT_EQ(sync.counts().resyncs, 1u);
  const std::vector<std::string> events = sync.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("(the same dataset: what it lacks was removed meanwhile)"),
            std::string::npos)
      << events[1];
}

// The operator's `siplinectl resync`: the store read again on the live connection; what was
// written without a notice (here by hand) reaches the table.
TEST_F(RedisStoreTest, ASyncReadsTheStoreAgainWhenTheOperatorAsks) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  AsyncStore store(open_or_fail(endpoint, 1));
  const std::unique_ptr<LocationSync> started = start_sync(store);
  ASSERT_NE(started, nullptr);
  LocationSync& sync = *started;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const sip::Binding silent = binding("1009", "sip:silent@h", now + 600);
  command(endpoint,
          {"HSET", redis_location_key("1009"), silent.contact, encode_stored_binding(silent)});
  sync.request_resync();
  const SyncUpdates taken = wait_for_resync(sync);
  ASSERT_TRUE(taken.snapshot.has_value());
  EXPECT_TRUE(taken.snapshot->complete);
  ASSERT_EQ(taken.updates.size(), 1u);
  EXPECT_EQ(taken.updates[0].bindings, std::vector<sip::Binding>{silent});
  store.release_saves();
  const LocationSync::Counts counts = sync.counts();
  EXPECT_EQ(counts.resyncs, 1u);
  EXPECT_EQ(counts.disconnects, 0u);
  const std::vector<std::string> events = sync.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("the operator asked for a resynchronisation; read 1 binding(s)"),
            std::string::npos)
      << events[0];
}

TEST_F(RedisStoreTest, ASyncDoesNotStartWithoutRedis) {
  config::RedisEndpoint endpoint = endpoint_of(server_);
  server_.stop();
  LocationSync::Started started = LocationSync::start(endpoint, 1);
  EXPECT_EQ(started.sync, nullptr);
  EXPECT_NE(started.error.find("location sync: redis redis://127.0.0.1:"), std::string::npos)
      << started.error;
}

}  // namespace
}  // namespace sipline::dataplane

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

// Waits (at most 5 s) until the sync has queued `count` updates; returns them.
std::vector<AorUpdate> wait_for_updates(LocationSync& sync, std::size_t count) {
  std::vector<AorUpdate> updates;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (updates.size() < count && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{sync.ready_fd(), POLLIN, 0};
    ::poll(&ready, 1, 50);
    for (AorUpdate& update : sync.take_updates())
      updates.push_back(std::move(update));
  }
  return updates;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.running()) << "redis-server did not start"; }

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
  // One key per AOR, expiring with its latest binding (Redis removes it then).
  const RedisReply expires_at = command(endpoint, {"EXPIRETIME", "sipline:location:1001"});
  ASSERT_NE(expires_at, nullptr);
  EXPECT_EQ(expires_at->integer, now + 3600);
  const RedisReply value = command(endpoint, {"GET", "sipline:location:1001"});
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->type, REDIS_REPLY_STRING);
  EXPECT_TRUE(std::string_view(value->str, value->len).starts_with("SLB1"));

  // A binding past its time is not loaded, though its AOR's key lives on.
  const LoadResult later = store->load_all(now + 200);
  ASSERT_EQ(later.bindings.size(), 1u);
  EXPECT_EQ(later.bindings[0].contact, "sip:b@h");

  // An empty list removes the key.
  ASSERT_TRUE(store->save_aor("1001", {}).ok());
  const RedisReply exists = command(endpoint, {"EXISTS", "sipline:location:1001"});
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
  command(endpoint, {"SET", "sipline:location:garbage", "not a binding list"});
  command(endpoint, {"SET", "other:key", "ignored"});
  const LoadResult loaded = store->load_all(kNow);
  ASSERT_TRUE(loaded.ok()) << loaded.error;
  EXPECT_EQ(loaded.bindings.size(), 2500u);
  EXPECT_EQ(loaded.unreadable, 1u);
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
    saves.push_back({aor, {binding(aor, "sip:x@h", kNow + 100)}});
  }
  saves.push_back({"b7", {}});  // a removal within the batch
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
  const RedisReply exists = command(endpoint, {"EXISTS", "sipline:location:1001"});
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

TEST_F(RedisStoreTest, ASyncResynchronisesAfterALostConnection) {
  const config::RedisEndpoint endpoint = endpoint_of(server_);
  LocationSync::Started started = LocationSync::start(endpoint, 1);
  ASSERT_NE(started.sync, nullptr) << started.error;
  LocationSync& sync = *started.sync;
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
  const std::vector<AorUpdate> updates = wait_for_updates(sync, 1);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].aor, "1005");
  EXPECT_EQ(updates[0].bindings, std::vector<sip::Binding>{missed});
  const LocationSync::Counts counts = sync.counts();
  EXPECT_EQ(counts.disconnects, 1u);
  EXPECT_EQ(counts.resyncs, 1u);
  EXPECT_TRUE(counts.connected);
  const std::vector<std::string> events = sync.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("lost the change channel"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("read 1 binding(s)"), std::string::npos) << events[1];

  // And notices flow again on the new subscription.
  const auto other = open_or_fail(endpoint, 2);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->save_aor("1006", {binding("1006", "sip:new@h", now + 600)}).ok());
  const std::vector<AorUpdate> after = wait_for_updates(sync, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].aor, "1006");
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

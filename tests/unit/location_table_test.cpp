#include "dataplane/location_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sipline::dataplane {
namespace {

sip::Binding make_binding(std::string contact, std::int64_t expires_at,
                          std::uint16_t q_milli = 1000) {
  sip::Binding binding;
  binding.contact = std::move(contact);
  binding.expires_at = expires_at;
  binding.q_milli = q_milli;
  return binding;
}

std::vector<std::string_view> uris(const ContactsView& view) {
  std::vector<std::string_view> result;
  for (const ContactView& contact : view)
    result.push_back(contact.uri);
  return result;
}

using Uris = std::vector<std::string_view>;

TEST(LocationTable, UnknownAorIsEmpty) {
  LocationTable table(1);
  const ContactsView view = table.lookup("1001");
  EXPECT_TRUE(view.empty());
  EXPECT_EQ(view.size(), 0u);
  EXPECT_EQ(view.aor(), "");
  EXPECT_EQ(view.begin(), view.end());
  EXPECT_EQ(table.size(), 0u);
}

TEST(LocationTable, LookupExposesEveryField) {
  LocationTable table(1);
  sip::Binding binding = make_binding("sip:1001@127.0.0.1:5070;transport=udp", 1700000100, 500);
  binding.aor = "ignored";
  binding.received = "127.0.0.1:5070";
  binding.call_id = "a84b4c76e66710";
  binding.cseq = 314159;
  binding.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  table.replace("1001", {binding});

  const ContactsView view = table.lookup("1001");
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view.aor(), "1001");
  EXPECT_EQ(view[0].uri, "sip:1001@127.0.0.1:5070;transport=udp");
  EXPECT_EQ(view[0].received, "127.0.0.1:5070");
  EXPECT_EQ(view[0].call_id, "a84b4c76e66710");
  EXPECT_EQ(view[0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
  EXPECT_EQ(view[0].cseq, 314159u);
  EXPECT_EQ(view[0].expires_at, 1700000100);
  EXPECT_EQ(view[0].q_milli, 500);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.binding_count(), 1u);
  // The key is the exact user part: RFC 3261 §19.1.4 compares it case-sensitively.
  EXPECT_TRUE(table.lookup("100").empty());
  EXPECT_TRUE(table.lookup("10010").empty());
}

TEST(LocationTable, OrdersByQThenLatestExpiryThenRegistrarOrder) {
  LocationTable table(1);
  table.replace("1002", {make_binding("sip:low@a", 500, 100), make_binding("sip:first@a", 300),
                         make_binding("sip:mid@a", 900, 700), make_binding("sip:second@a", 300),
                         make_binding("sip:later@a", 400)});
  EXPECT_EQ(uris(table.lookup("1002")),
            (Uris{"sip:later@a", "sip:first@a", "sip:second@a", "sip:mid@a", "sip:low@a"}));
}

TEST(LocationTable, ReplaceSubstitutesTheWholeList) {
  LocationTable table(1);
  table.replace("1001", {make_binding("sip:old1@a", 100), make_binding("sip:old2@a", 100)});
  table.replace("1002", {make_binding("sip:other@b", 100)});
  EXPECT_EQ(table.binding_count(), 3u);

  table.replace("1001", {make_binding("sip:new@a", 200)});
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:new@a"}));
  EXPECT_EQ(uris(table.lookup("1002")), (Uris{"sip:other@b"}));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.binding_count(), 2u);
}

TEST(LocationTable, RemoveAndEmptyReplaceDeleteTheAor) {
  LocationTable table(1);
  table.replace("1001", {make_binding("sip:a@a", 100)});
  table.replace("1002", {make_binding("sip:b@b", 100)});
  table.remove("1001");
  EXPECT_TRUE(table.lookup("1001").empty());
  table.replace("1002", {});
  EXPECT_TRUE(table.lookup("1002").empty());
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.binding_count(), 0u);
  EXPECT_EQ(table.memory_bytes(), 0u);
  table.remove("never-registered");
  EXPECT_EQ(table.size(), 0u);
}

TEST(LocationTable, BindingsReturnsFullCopiesInLookupOrder) {
  LocationTable table(1);
  sip::Binding high = make_binding("sip:high@a", 100, 1000);
  high.received = "10.0.0.1:5060";
  high.call_id = "call-1";
  high.cseq = 7;
  high.instance = "<urn:uuid:1>";
  sip::Binding low = make_binding("sip:low@a", 200, 200);
  table.replace("1001", {low, high});

  const std::vector<sip::Binding> bindings = table.bindings("1001");
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].aor, "1001");
  EXPECT_EQ(bindings[0].contact, "sip:high@a");
  EXPECT_EQ(bindings[0].received, "10.0.0.1:5060");
  EXPECT_EQ(bindings[0].call_id, "call-1");
  EXPECT_EQ(bindings[0].cseq, 7u);
  EXPECT_EQ(bindings[0].expires_at, 100);
  EXPECT_EQ(bindings[0].q_milli, 1000);
  EXPECT_EQ(bindings[0].instance, "<urn:uuid:1>");
  EXPECT_EQ(bindings[1].aor, "1001");
  EXPECT_EQ(bindings[1].contact, "sip:low@a");
  EXPECT_EQ(bindings[1].q_milli, 200);
  EXPECT_TRUE(table.bindings("1002").empty());
}

TEST(LocationTable, ExpireRemovesDueBindingsAndReportsChangedAors) {
  LocationTable table(1);
  table.replace("a", {make_binding("sip:a1@x", 100), make_binding("sip:a2@x", 200)});
  table.replace("b", {make_binding("sip:b1@x", 150)});
  table.replace("c", {make_binding("sip:c1@x", 1000)});

  EXPECT_TRUE(table.expire(99).empty());
  EXPECT_EQ(table.binding_count(), 4u);

  // A binding whose expiry time has come is gone (expires_at <= now).
  EXPECT_EQ(table.expire(100), (std::vector<std::string>{"a"}));
  EXPECT_EQ(uris(table.lookup("a")), (Uris{"sip:a2@x"}));

  std::vector<std::string> changed = table.expire(500);
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(table.lookup("a").empty());
  EXPECT_TRUE(table.lookup("b").empty());
  EXPECT_EQ(uris(table.lookup("c")), (Uris{"sip:c1@x"}));
  EXPECT_EQ(table.size(), 1u);

  // A refresh moves the AOR's expiry: the old time no longer removes it.
  table.replace("c", {make_binding("sip:c1@x", 3000)});
  EXPECT_TRUE(table.expire(2000).empty());
  EXPECT_EQ(table.expire(3000), (std::vector<std::string>{"c"}));
  EXPECT_EQ(table.size(), 0u);
}

TEST(LocationTable, ApplyLetsTheLastUpdateOfAnAorWin) {
  LocationTable table(1);
  std::vector<AorUpdate> updates;
  updates.push_back({"1001", {make_binding("sip:first@a", 100)}, std::nullopt});
  updates.push_back({"1002", {make_binding("sip:b@b", 100)}, std::nullopt});
  updates.push_back({"1001", {make_binding("sip:last@a", 100)}, std::nullopt});
  table.apply(std::move(updates));
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:last@a"}));
  EXPECT_EQ(uris(table.lookup("1002")), (Uris{"sip:b@b"}));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.binding_count(), 2u);
}

// Another node's change (a Redis notice) touches only its bindings; several changes of one
// AOR in one batch apply in order, on top of a whole list before them.
TEST(LocationTable, ApplyMergesPartialChangesInOrder) {
  LocationTable table(1);
  table.replace("1001", {make_binding("sip:desk@a", 100), make_binding("sip:soft@a", 100)});
  std::vector<AorUpdate> updates;
  BindingDelta mobile;
  mobile.upserts = {make_binding("sip:mobile@b", 100)};
  updates.push_back({"1001", {}, mobile});
  BindingDelta soft_gone;
  soft_gone.removed = {"sip:soft@a"};
  soft_gone.upserts = {make_binding("sip:desk@a", 300)};  // refreshed
  updates.push_back({"1001", {}, soft_gone});
  updates.push_back({"1002", {}, mobile});  // an AOR the table did not hold
  table.apply(std::move(updates));
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:desk@a", "sip:mobile@b"}));
  EXPECT_EQ(table.bindings("1001").front().expires_at, 300);
  EXPECT_EQ(uris(table.lookup("1002")), (Uris{"sip:mobile@b"}));

  // A whole list replaces what came before it; a change after it applies to that list.
  updates.clear();
  updates.push_back({"1001", {}, mobile});
  updates.push_back({"1001", {make_binding("sip:only@c", 100)}, std::nullopt});
  updates.push_back({"1001", {}, soft_gone});
  table.apply(std::move(updates));
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:desk@a", "sip:only@c"}));
  // A change that removes every binding removes the AOR.
  BindingDelta all_gone;
  all_gone.removed = {"sip:desk@a", "sip:only@c"};
  updates.clear();
  updates.push_back({"1001", {}, all_gone});
  table.apply(std::move(updates));
  EXPECT_TRUE(table.bindings("1001").empty());
  EXPECT_EQ(table.size(), 1u);
}

TEST(LocationTable, RestoreGroupsBindingsByTheirAor) {
  LocationTable table(1);
  std::vector<sip::Binding> stored;
  for (const char* aor : {"1001", "1002", "1001"}) {
    sip::Binding binding =
        make_binding(std::string("sip:") + aor + "@h" + std::to_string(stored.size()), 100);
    binding.aor = aor;
    stored.push_back(binding);
  }
  table.restore(std::move(stored));
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:1001@h0", "sip:1001@h2"}));
  EXPECT_EQ(uris(table.lookup("1002")), (Uris{"sip:1002@h1"}));
}

TEST(LocationTable, ManyAorsShareFewShards) {
  LocationTable table(1, /*shard_bits=*/3);
  std::vector<AorUpdate> updates;
  for (int i = 0; i < 5000; ++i) {
    updates.push_back({"user" + std::to_string(i),
                       {make_binding("sip:" + std::to_string(i) + "@h", 100 + i)},
                       std::nullopt});
  }
  table.apply(std::move(updates));
  for (int i = 0; i < 5000; i += 2)
    table.remove("user" + std::to_string(i));
  EXPECT_EQ(table.size(), 2500u);
  for (int i = 0; i < 5000; ++i) {
    const ContactsView view = table.lookup("user" + std::to_string(i));
    if (i % 2 == 0) {
      EXPECT_TRUE(view.empty()) << i;
    } else {
      ASSERT_EQ(view.size(), 1u) << i;
      EXPECT_EQ(view[0].uri, "sip:" + std::to_string(i) + "@h");
    }
  }
}

TEST(LocationTable, OldVersionsWaitForEveryReaderToPassAQuiescentState) {
  LocationTable table(2);
  table.replace("1001", {make_binding("sip:v1@a", 100)});
  // Both readers are online and have not passed a quiescent state yet.
  const ContactsView held = table.lookup("1001");
  table.replace("1001", {make_binding("sip:v2@a", 100)});
  EXPECT_EQ(table.retired_total(), 2u);  // the shard and the record of v1
  EXPECT_EQ(table.freed_total(), 0u);
  // The view taken before the change still reads the old contacts.
  EXPECT_EQ(held[0].uri, "sip:v1@a");
  EXPECT_EQ(uris(table.lookup("1001")), (Uris{"sip:v2@a"}));

  table.quiescent(0);
  EXPECT_EQ(table.reclaim(), 0u);  // reader 1 may still hold v1
  table.quiescent(1);
  EXPECT_EQ(table.reclaim(), 2u);
  EXPECT_EQ(table.freed_total(), table.retired_total());
  EXPECT_EQ(table.pending_reclaim(), 0u);
}

TEST(LocationTable, OfflineReadersDoNotHoldReclamationBack) {
  LocationTable table(2);
  table.offline(0);
  table.offline(1);
  table.replace("1001", {make_binding("sip:v1@a", 100)});
  table.replace("1001", {make_binding("sip:v2@a", 100)});
  EXPECT_EQ(table.pending_reclaim(), 0u);
  EXPECT_EQ(table.freed_total(), 2u);  // shard and record of v1

  table.online(1);
  table.replace("1001", {make_binding("sip:v3@a", 100)});
  EXPECT_EQ(table.pending_reclaim(), 2u);
  table.quiescent(1);
  EXPECT_EQ(table.reclaim(), 2u);
}

// Two workers hammer lookups while the control thread rewrites the same AORs. Every list the
// writer publishes carries one generation number in every binding (cseq and call_id) and a
// contact count derived from it, so a reader that ever saw a half-built or freed list fails.
TEST(LocationTable, ConcurrentReadersAlwaysSeeWholeLists) {
  constexpr std::size_t kReaders = 2;
  constexpr int kAors = 64;
  LocationTable table(kReaders, /*shard_bits=*/4);
  auto contacts_for = [](std::uint32_t generation) {
    std::vector<sip::Binding> bindings;
    const std::size_t count = generation % 4 + 1;
    for (std::size_t i = 0; i < count; ++i) {
      sip::Binding binding =
          make_binding("sip:c" + std::to_string(i) + "@host;gen=" + std::to_string(generation),
                       1000 + generation, static_cast<std::uint16_t>(1000 - i * 100));
      binding.call_id = "gen-" + std::to_string(generation);
      binding.cseq = generation;
      bindings.push_back(std::move(binding));
    }
    return bindings;
  };

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad_lists{0};
  std::atomic<std::uint64_t> lists_seen[kReaders] = {};
  auto reader = [&](std::size_t index) {
    std::uint64_t seen = 0;
    std::uint32_t next = static_cast<std::uint32_t>(index);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 16; ++i) {
        next = next * 1664525u + 1013904223u;
        const std::string aor = "aor" + std::to_string(next % kAors);
        const ContactsView view = table.lookup(aor);
        if (view.empty()) continue;
        ++seen;
        const std::uint32_t generation = view[0].cseq;
        bool whole = view.size() == generation % 4 + 1 && view.aor() == aor;
        const std::string call_id = "gen-" + std::to_string(generation);
        for (std::size_t c = 0; c < view.size(); ++c) {
          whole = whole && view[c].cseq == generation && view[c].call_id == call_id &&
                  view[c].q_milli == 1000 - c * 100;
        }
        if (!whole) bad_lists.fetch_add(1);
      }
      table.quiescent(index);
      if (next % 64 == 0) {  // an idle worker going to sleep and waking up
        table.offline(index);
        std::this_thread::yield();
        table.online(index);
      }
    }
    table.offline(index);
    lists_seen[index] = seen;
  };

  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < kReaders; ++i)
    readers.emplace_back(reader, i);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  std::uint32_t generation = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    ++generation;
    const std::string aor = "aor" + std::to_string(generation % kAors);
    if (generation % 17 == 0) {
      table.remove(aor);
    } else {
      table.replace(aor, contacts_for(generation));
    }
  }
  stop = true;
  for (std::thread& thread : readers)
    thread.join();

  EXPECT_EQ(bad_lists.load(), 0u);
  for (std::size_t i = 0; i < kReaders; ++i)
    EXPECT_GT(lists_seen[i].load(), 0u) << i;
  EXPECT_GT(generation, 1000u);
  // Reclamation kept up while readers ran, and everything retired is freed once they are gone.
  EXPECT_GT(table.freed_total(), 0u);
  table.reclaim();
  EXPECT_EQ(table.pending_reclaim(), 0u);
  EXPECT_EQ(table.freed_total(), table.retired_total());
  EXPECT_GE(table.retired_total(), generation);
}

}  // namespace
}  // namespace sipline::dataplane

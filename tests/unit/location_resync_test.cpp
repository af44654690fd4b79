#include "dataplane/location_resync.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kLater = 2'000'000'000;

sip::Binding binding(const std::string& aor, const std::string& contact) {
  sip::Binding b;
  b.aor = aor;
  b.contact = contact;
  b.expires_at = kLater;
  return b;
}

AorUpdate whole(const std::string& aor, std::vector<sip::Binding> bindings) {
  return {aor, std::move(bindings), std::nullopt};
}

// "AOR" for a whole list, "AOR-" for a removal, "AOR~" for a change.
std::vector<std::string> describe(const std::vector<AorUpdate>& updates) {
  std::vector<std::string> text;
  for (const AorUpdate& update : updates) {
    text.push_back(update.aor + (update.change ? "~" : update.bindings.empty() ? "-" : ""));
  }
  return text;
}

// The table holds 1001, 1002, 1003, 1004; the store, read after a lost channel, holds 1001
// (another contact now) and 1005. 1004 was saved here since the read began.
class ResolveSync : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* aor : {"1001", "1002", "1003", "1004"}) {
      table_.replace(aor, {binding(aor, std::string("sip:old-") + aor + "@h")});
    }
  }

  SyncUpdates read_and_a_notice(bool complete) {
    SyncUpdates taken;
    taken.updates.push_back(whole("1001", {binding("1001", "sip:new@h")}));
    taken.updates.push_back(whole("1005", {binding("1005", "sip:1005@h")}));
    taken.updates.push_back(whole("1004", {binding("1004", "sip:stale@h")}));
    taken.updates.push_back({"1002", {}, BindingDelta{{binding("1002", "sip:n@h")}, {}}});
    taken.snapshot = SyncSnapshot{3, complete, true, 7};
    return taken;
  }

  LocationTable table_{1};
  const std::optional<std::vector<std::string>> saved_here_ = std::vector<std::string>{"1004"};
};

TEST_F(ResolveSync, ACompleteReadRemovesWhatTheStoreNoLongerHolds) {
  const ResolvedSync resolved = resolve_sync(read_and_a_notice(true), table_, saved_here_);
  std::vector<std::string> removals = describe(resolved.updates);
  removals.resize(2);
  std::sort(removals.begin(), removals.end());  // in the table's order
  EXPECT_EQ(removals, (std::vector<std::string>{"1002-", "1003-"}));
  // Then the read (without 1004, saved here), then the notice that came after it: 1002 is
  // removed, then changed again by that notice.
  const std::vector<std::string> all = describe(resolved.updates);
  EXPECT_EQ(std::vector<std::string>(all.begin() + 2, all.end()),
            (std::vector<std::string>{"1001", "1005", "1002~"}));
  EXPECT_EQ(resolved.forgotten, 2u);

  table_.apply(resolved.updates);
  EXPECT_EQ(table_.lookup("1001")[0].uri, "sip:new@h");
  EXPECT_EQ(table_.lookup("1002")[0].uri, "sip:n@h");
  EXPECT_TRUE(table_.lookup("1003").empty());
  EXPECT_EQ(table_.lookup("1004")[0].uri, "sip:old-1004@h");  // this node's save stands
  EXPECT_EQ(table_.lookup("1005")[0].uri, "sip:1005@h");
}

TEST_F(ResolveSync, AReadOfAnotherDatasetRemovesNothing) {
  const ResolvedSync resolved = resolve_sync(read_and_a_notice(false), table_, saved_here_);
  EXPECT_EQ(describe(resolved.updates), (std::vector<std::string>{"1001", "1005", "1002~"}));
  EXPECT_EQ(resolved.forgotten, 0u);
}

// When the store cannot tell which AORs this node saved since (its record overflowed), the
// read is applied as it is, and nothing is removed: a removal could drop a phone that just
// registered here.
TEST_F(ResolveSync, WithoutTheSavesHereTheReadIsAppliedAsItIs) {
  const ResolvedSync resolved = resolve_sync(read_and_a_notice(true), table_, std::nullopt);
  EXPECT_EQ(describe(resolved.updates),
            (std::vector<std::string>{"1001", "1005", "1004", "1002~"}));
  EXPECT_EQ(resolved.forgotten, 0u);
}

TEST_F(ResolveSync, NoticesAloneAreAppliedAsTheyCame) {
  SyncUpdates taken;
  taken.updates.push_back(whole("1003", {}));
  taken.updates.push_back(whole("1001", {binding("1001", "sip:x@h")}));
  const ResolvedSync resolved = resolve_sync(std::move(taken), table_, saved_here_);
  EXPECT_EQ(describe(resolved.updates), (std::vector<std::string>{"1003-", "1001"}));
  EXPECT_EQ(resolved.forgotten, 0u);
}

// An empty store read completely: every AOR not saved here goes.
TEST_F(ResolveSync, ACompleteEmptyReadRemovesEveryAorNotSavedHere) {
  SyncUpdates taken;
  taken.snapshot = SyncSnapshot{0, true, true, 7};
  const ResolvedSync resolved = resolve_sync(std::move(taken), table_, saved_here_);
  EXPECT_EQ(resolved.forgotten, 3u);
  table_.apply(resolved.updates);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_FALSE(table_.lookup("1004").empty());
}

}  // namespace
}  // namespace sipline::dataplane

#include "dataplane/binding_delta.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "dataplane/location_store.hpp"

namespace sipline::dataplane {
namespace {

sip::Binding bound(std::string contact, std::int64_t expires_at) {
  sip::Binding binding;
  binding.aor = "1001";
  binding.contact = std::move(contact);
  binding.expires_at = expires_at;
  return binding;
}

std::vector<sip::Binding> sorted(std::vector<sip::Binding> bindings) {
  std::sort(bindings.begin(), bindings.end(),
            [](const sip::Binding& a, const sip::Binding& b) { return a.contact < b.contact; });
  return bindings;
}

TEST(BindingDelta, NamesWhatChangedOnly) {
  const std::vector<sip::Binding> before = {bound("sip:desk@a", 100), bound("sip:soft@a", 100),
                                            bound("sip:old@a", 100)};
  const std::vector<sip::Binding> after = {bound("sip:desk@a", 100), bound("sip:soft@a", 400),
                                           bound("sip:mobile@b", 100)};
  const BindingDelta delta = binding_delta(before, after);
  EXPECT_EQ(delta.removed, std::vector<std::string>{"sip:old@a"});
  EXPECT_EQ(delta.upserts, (std::vector<sip::Binding>{after[1], after[2]}));  // desk unchanged
  EXPECT_TRUE(binding_delta(after, after).empty());
  EXPECT_EQ(binding_delta(after, {}).removed.size(), 3u);
}

TEST(BindingDelta, AppliesInPlaceAndAppends) {
  BindingDelta delta;
  delta.upserts = {bound("sip:soft@a", 400), bound("sip:new@c", 50)};
  delta.removed = {"sip:desk@a", "sip:never-bound@x"};
  const std::vector<sip::Binding> result = apply_delta(
      {bound("sip:desk@a", 100), bound("sip:soft@a", 100), bound("sip:tab@a", 9)}, delta);
  EXPECT_EQ(result, (std::vector<sip::Binding>{bound("sip:soft@a", 400), bound("sip:tab@a", 9),
                                               bound("sip:new@c", 50)}));
}

// For random lists over a few contacts: a delta leads from its `before` to its `after`, and two
// deltas merged do what the two do one after the other (what the store relies on when it
// writes queued or retried saves of one AOR as one).
TEST(BindingDelta, ApplyingAndMergingAgreeWithStepByStep) {
  std::mt19937 random(20261130);
  const auto random_list = [&random] {
    std::vector<sip::Binding> list;
    for (int contact = 0; contact < 5; ++contact) {
      if (random() % 2 == 0) {
        list.push_back(bound("sip:" + std::to_string(contact) + "@h", 100 + random() % 3));
      }
    }
    return list;
  };
  for (int round = 0; round < 2000; ++round) {
    const std::vector<sip::Binding> first = random_list();
    const std::vector<sip::Binding> second = random_list();
    const std::vector<sip::Binding> third = random_list();
    const BindingDelta one = binding_delta(first, second);
    const BindingDelta two = binding_delta(second, third);
    ASSERT_EQ(sorted(apply_delta(first, one)), sorted(second)) << round;
    ASSERT_EQ(sorted(apply_delta(first, merge_deltas(one, two))), sorted(third)) << round;
    // Applied to a list the deltas were not computed from (another node's bindings in it):
    // the merge still equals the two steps.
    const std::vector<sip::Binding> elsewhere = random_list();
    ASSERT_EQ(sorted(apply_delta(elsewhere, merge_deltas(one, two))),
              sorted(apply_delta(apply_delta(elsewhere, one), two)))
        << round;
  }
}

TEST(BindingDelta, AnUpsertExpiredByNowBecomesARemoval) {
  const BindingDelta delta{{bound("sip:live@h", 200), bound("sip:gone@h", 100)}, {"sip:old@h"}};
  const BindingDelta at_100 = without_expired(delta, 100);
  EXPECT_EQ(at_100.upserts, std::vector<sip::Binding>{bound("sip:live@h", 200)});
  EXPECT_EQ(at_100.removed, (std::vector<std::string>{"sip:old@h", "sip:gone@h"}));
  EXPECT_EQ(without_expired(delta, 99), delta);
}

TEST(AorSaves, MergeKeepsTheLaterListAndBothChanges) {
  const AorSave earlier{"1001", {bound("sip:a@h", 100)}, BindingDelta{{bound("sip:a@h", 100)}, {}}};
  const AorSave later{"1001",
                      {bound("sip:a@h", 100), bound("sip:b@h", 100)},
                      BindingDelta{{bound("sip:b@h", 100)}, {"sip:c@h"}}};
  const AorSave both = merge_saves(earlier, later);
  EXPECT_EQ(both.bindings, later.bindings);
  ASSERT_TRUE(both.change.has_value());
  EXPECT_EQ(sorted(both.change->upserts),
            (std::vector<sip::Binding>{bound("sip:a@h", 100), bound("sip:b@h", 100)}));
  EXPECT_EQ(both.change->removed, std::vector<std::string>{"sip:c@h"});
  // Either one replacing the AOR whole: so does the merged save, with the later list.
  const AorSave whole{"1001", {bound("sip:z@h", 1)}, std::nullopt};
  EXPECT_FALSE(merge_saves(whole, later).change.has_value());
  EXPECT_EQ(merge_saves(whole, later).bindings, later.bindings);
  EXPECT_FALSE(merge_saves(earlier, whole).change.has_value());
}

}  // namespace
}  // namespace sipline::dataplane

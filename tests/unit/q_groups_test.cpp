// Forking by q groups (dataplane/q_groups.cpp, a location route's fork = "q-groups"): the
// contacts of the highest q ring at once, the next q's when all of them failed. Every
// assertion is on the bytes the pipeline writes and where they go.
#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

constexpr std::string_view kTablet = "192.0.2.44:5066";
constexpr std::string_view kVoicemail = "192.0.2.60:5090";

// Users and routes, after the forking tests' [listen], [domain] and [registrar].
constexpr std::string_view kConfig = R"toml(
[[users]]
user = "1002"
password = "secret-1002"
[[users]]
user = "1003"
password = "secret-1003"
[[routes]]
name = "desk-then-mobile"
user_prefix = "1002"
action = "location"
fork = "q-groups"
ring_timeout_ms = 10000
[[routes]]
name = "desk-then-mobile-then-voicemail"
user_prefix = "1003"
action = "location"
fork = "q-groups"
ring_timeout_ms = 10000
fallback = "sip:192.0.2.60:5090"
)toml";

sip::Binding binding_q(std::string_view user, std::string_view address, std::uint16_t q_milli) {
  sip::Binding result = binding(user, address, 3600);
  result.q_milli = q_milli;
  return result;
}

class QGroupsTest : public ForkingPipeline {
 protected:
  QGroupsTest() : ForkingPipeline(with_local_domain(kConfig)) { tick(kStartMs); }

  // The desk phone and the laptop (q=1.0) ring at once; the mobile (q=0.5) waits.
  std::vector<Sent> ring_first_group(std::string_view user = "1002") {
    location_.replace(std::string(user),
                      {binding_q(user, kDeskPhone, 1000), binding_q(user, kLaptop, 1000),
                       binding_q(user, kMobile, 500)});
    request_ = invite(user, "z9hG4bK-q-" + std::string(user));
    const std::vector<Sent> sent = receive(request_);
    EXPECT_EQ(sent.size(), 3u);
    if (sent.size() != 3) return {};
    EXPECT_EQ(request_line(sent[1].bytes), "SIP/2.0 100 Trying");
    EXPECT_EQ(sent[1].to(), kCaller);
    const std::vector<Sent> phones{sent[0], sent[2]};
    EXPECT_EQ(phones[0].to(), kDeskPhone);
    EXPECT_EQ(phones[1].to(), kLaptop);
    for (const Sent& phone : phones) {
      EXPECT_EQ(phone.outcome.kind, SendKind::ForwardedRequest);
      EXPECT_EQ(request_line(phone.bytes),
                "INVITE sip:" + std::string(user) + "@" + phone.to() + " SIP/2.0");
    }
    EXPECT_EQ(counters_.contacts_forked.read(), 2u);
    return phones;
  }

  // The laptop rings past the ring timeout: our CANCEL, its 487 ACKed; what followed the 487.
  std::vector<Sent> laptop_rings_out(const Sent& laptop, std::int64_t rang_at_ms) {
    expect_relayed(receive(answer(laptop.bytes, "180 Ringing"), kLaptop), "180 Ringing");
    EXPECT_TRUE(tick(rang_at_ms + 9'999).empty());
    const std::vector<Sent> cancel = tick(rang_at_ms + 10'000);
    EXPECT_EQ(cancel.size(), 1u);
    if (cancel.size() != 1) return {};
    expect_request(cancel[0], "CANCEL", laptop);
    std::vector<Sent> after = receive(answer(laptop.bytes, "487 Request Terminated"), kLaptop);
    EXPECT_GE(after.size(), 1u);
    if (after.empty()) return {};
    expect_request(after[0], "ACK", laptop);
    after.erase(after.begin());
    return after;
  }

  std::string caller_request(std::string_view method) const { return as_method(request_, method); }

  std::string request_;
};

TEST_F(QGroupsTest, TheMobileRingsWhenTheDeskPhoneIsBusyAndTheLaptopRangOut) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  const std::vector<Sent> busy = receive(answer(first[0].bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(busy.size(), 1u);  // ACKed, kept: the laptop still rings
  expect_request(busy[0], "ACK", first[0]);
  const std::vector<Sent> next = laptop_rings_out(first[1], kStartMs);
  ASSERT_EQ(next.size(), 1u);
  const Sent& mobile = next[0];
  EXPECT_EQ(mobile.to(), kMobile);
  EXPECT_EQ(request_line(mobile.bytes), "INVITE sip:1002@192.0.2.43:5064 SIP/2.0");
  EXPECT_TRUE(sip::branch_is_ours(top_branch(mobile.bytes), context_->identity.branch_key));
  EXPECT_NE(top_branch(mobile.bytes), top_branch(first[0].bytes));
  EXPECT_NE(top_branch(mobile.bytes), top_branch(first[1].bytes));
  EXPECT_EQ(counters_.q_groups_rung.read(), 1u);
  EXPECT_EQ(counters_.contacts_forked.read(), 3u);
  // The mobile answers: its 180 and 200 reach the caller.
  expect_relayed(receive(answer(mobile.bytes, "180 Ringing"), kMobile), "180 Ringing");
  expect_relayed(receive(answer(mobile.bytes, "200 OK"), kMobile), "200 OK");
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);  // the laptop's only
  expect_all_gone();
}

TEST_F(QGroupsTest, TheLastGroupRingsForTimerCAndTheBestAnswerOfEveryGroupGoesToTheCaller) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(receive(answer(first[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  const std::vector<Sent> next = laptop_rings_out(first[1], kStartMs);
  ASSERT_EQ(next.size(), 1u);
  const Sent mobile = next[0];
  const std::int64_t rang_at_ms = kStartMs + 10'000;
  expect_relayed(receive(answer(mobile.bytes, "180 Ringing"), kMobile), "180 Ringing");
  // No group follows and no fallback: the mobile is not cancelled at the ring timeout.
  EXPECT_TRUE(tick(rang_at_ms + 60'000).empty());
  // It declines with 480: the desk phone's 486 (the first of the lowest class, §16.7 step 6)
  // goes to the caller as the desk phone wrote it.
  const std::vector<Sent> last = receive(answer(mobile.bytes, "480 Away"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", mobile);
  EXPECT_EQ(last[1].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[1].to(), kCaller);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 486 Busy Here");
  EXPECT_EQ(counters_.q_groups_rung.read(), 1u);
  expect_all_gone();
}

TEST_F(QGroupsTest, An200InTheFirstGroupEndsTheCallAndTheMobileNeverRings) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  expect_relayed(receive(answer(first[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  const std::vector<Sent> answered = receive(answer(first[0].bytes, "200 OK"), kDeskPhone);
  ASSERT_EQ(answered.size(), 2u);
  EXPECT_EQ(request_line(answered[0].bytes), "SIP/2.0 200 OK");
  expect_request(answered[1], "CANCEL", first[1]);
  const std::vector<Sent> terminated =
      receive(answer(first[1].bytes, "487 Request Terminated"), kLaptop);
  ASSERT_EQ(terminated.size(), 1u);  // our ACK, and no INVITE to the mobile
  expect_request(terminated[0], "ACK", first[1]);
  for (std::int64_t at = kStartMs + 1'000; at <= kStartMs + 60'000; at += 1'000) {
    for (const Sent& sent : tick(at))
      EXPECT_NE(sent.to(), kMobile);
  }
  EXPECT_EQ(counters_.q_groups_rung.read(), 0u);
  EXPECT_EQ(counters_.contacts_forked.read(), 2u);
  expect_all_gone();
}

TEST_F(QGroupsTest, A603InTheFirstGroupGoesToTheCallerWithoutRingingTheMobile) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  expect_relayed(receive(answer(first[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  // §16.7 step 9: a 6xx cancels the others, and no new branch follows it (step 5).
  const std::vector<Sent> declined = receive(answer(first[0].bytes, "603 Decline"), kDeskPhone);
  ASSERT_EQ(declined.size(), 2u);
  expect_request(declined[0], "ACK", first[0]);
  expect_request(declined[1], "CANCEL", first[1]);
  const std::vector<Sent> last = receive(answer(first[1].bytes, "487 Request Terminated"), kLaptop);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", first[1]);
  EXPECT_EQ(last[1].to(), kCaller);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 603 Decline");
  EXPECT_EQ(counters_.q_groups_rung.read(), 0u);
  expect_all_gone();
}

TEST_F(QGroupsTest, TheCallersCancelEndsTheCallInTheFirstGroup) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  expect_relayed(receive(answer(first[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  expect_relayed(receive(answer(first[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  const std::vector<Sent> cancel = receive(caller_request("CANCEL"));
  ASSERT_EQ(cancel.size(), 3u);
  EXPECT_EQ(request_line(cancel[0].bytes), "SIP/2.0 200 OK");
  expect_request(cancel[1], "CANCEL", first[0]);
  expect_request(cancel[2], "CANCEL", first[1]);
  ASSERT_EQ(receive(answer(first[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  const std::vector<Sent> last = receive(answer(first[1].bytes, "487 Request Terminated"), kLaptop);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", first[1]);
  EXPECT_EQ(last[1].to(), kCaller);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 487 Request Terminated");
  EXPECT_EQ(counters_.q_groups_rung.read(), 0u);
  expect_all_gone();
}

TEST_F(QGroupsTest, SilentFirstGroupThenEveryContactOfTheNextQRingsIncludingOneRegisteredSince) {
  const std::vector<Sent> first = ring_first_group();
  ASSERT_EQ(first.size(), 2u);
  // A tablet registers with q=0.5 while the first group is tried.
  location_.replace("1002", {binding_q("1002", kDeskPhone, 1000), binding_q("1002", kLaptop, 1000),
                             binding_q("1002", kMobile, 500), binding_q("1002", kTablet, 500)});
  // Neither phone answers at all: Timer A's copies, then both given up at fork_timeout_ms.
  for (const std::int64_t at : {kStartMs + 500, kStartMs + 1'500}) {
    const std::vector<Sent> copies = tick(at);
    ASSERT_EQ(copies.size(), 2u);
    EXPECT_EQ(copies[0].bytes, first[0].bytes);
    EXPECT_EQ(copies[1].bytes, first[1].bytes);
  }
  const std::vector<Sent> next = tick(kStartMs + 2'000);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].to(), kMobile);
  EXPECT_EQ(next[1].to(), kTablet);
  for (const Sent& phone : next) {
    EXPECT_EQ(phone.outcome.kind, SendKind::ForwardedRequest);
    EXPECT_EQ(request_line(phone.bytes), "INVITE sip:1002@" + phone.to() + " SIP/2.0");
  }
  EXPECT_NE(top_branch(next[0].bytes), top_branch(next[1].bytes));
  EXPECT_EQ(counters_.q_groups_rung.read(), 1u);
  EXPECT_EQ(counters_.failover_timeouts.read(), 2u);
  // The tablet answers; the mobile is cancelled once it rings (§9.1).
  expect_relayed(receive(answer(next[1].bytes, "200 OK"), kTablet), "200 OK");
  const std::vector<Sent> late = receive(answer(next[0].bytes, "180 Ringing"), kMobile);
  ASSERT_EQ(late.size(), 2u);
  expect_request(late[1], "CANCEL", next[0]);
  ASSERT_EQ(receive(answer(next[0].bytes, "487 Request Terminated"), kMobile).size(), 1u);
  expect_all_gone();
}

TEST_F(QGroupsTest, OneContactOfTheHighestQIsTrackedSoThatTheNextQRingsAfterIt) {
  location_.replace("1002", {binding_q("1002", kDeskPhone, 1000), binding_q("1002", kMobile, 500)});
  request_ = invite("1002", "z9hG4bK-q-one");
  const std::vector<Sent> sent = receive(request_);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(request_line(sent[1].bytes), "SIP/2.0 100 Trying");  // tracked
  const std::vector<Sent> away = receive(answer(sent[0].bytes, "480 Away"), kDeskPhone);
  ASSERT_EQ(away.size(), 2u);
  expect_request(away[0], "ACK", sent[0]);
  EXPECT_EQ(away[1].to(), kMobile);
  EXPECT_EQ(request_line(away[1].bytes), "INVITE sip:1002@192.0.2.43:5064 SIP/2.0");
  expect_relayed(receive(answer(away[1].bytes, "200 OK"), kMobile), "200 OK");
  expect_all_gone();
}

TEST_F(QGroupsTest, EqualQRingsEveryContactAtOnceAndAloneGoesStatelessly) {
  location_.replace("1002", {binding_q("1002", kDeskPhone, 700), binding_q("1002", kLaptop, 700)});
  request_ = invite("1002", "z9hG4bK-q-equal");
  const std::vector<Sent> sent = receive(request_);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(sent[2].to(), kLaptop);
  location_.replace("1002", {binding_q("1002", kMobile, 300)});
  std::string alone = invite("1002", "z9hG4bK-q-alone");
  alone.replace(alone.find("hunt-1@"), 7, "alone@");
  const std::vector<Sent> stateless = receive(alone);
  ASSERT_EQ(stateless.size(), 1u);  // no 100 Trying: not tracked
  EXPECT_EQ(stateless[0].to(), kMobile);
}

TEST_F(QGroupsTest, AfterTheLastGroupTheCallGoesToVoicemailAndItsContactsRingOnlyUntilTheTimeout) {
  const std::vector<Sent> first = ring_first_group("1003");
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(receive(answer(first[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  const std::vector<Sent> next = laptop_rings_out(first[1], kStartMs);
  ASSERT_EQ(next.size(), 1u);
  const Sent mobile = next[0];
  EXPECT_EQ(mobile.to(), kMobile);
  // With a fallback the last group rings only until the ring timeout too.
  expect_relayed(receive(answer(mobile.bytes, "180 Ringing"), kMobile), "180 Ringing");
  const std::vector<Sent> cancel = tick(kStartMs + 20'000);
  ASSERT_EQ(cancel.size(), 1u);
  expect_request(cancel[0], "CANCEL", mobile);
  const std::vector<Sent> diverted =
      receive(answer(mobile.bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(diverted.size(), 2u);
  expect_request(diverted[0], "ACK", mobile);
  EXPECT_EQ(diverted[1].to(), kVoicemail);
  EXPECT_EQ(request_line(diverted[1].bytes), "INVITE sip:1003@192.0.2.60:5090 SIP/2.0");
  // The best answer over both groups was the desk phone's 486.
  EXPECT_NE(diverted[1].bytes.find(
                "\r\nDiversion: <sip:1003@sipline.local>;reason=user-busy;counter=1\r\n"),
            std::string::npos)
      << diverted[1].bytes;
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  expect_relayed(receive(answer(diverted[1].bytes, "200 OK"), kVoicemail), "200 OK");
  expect_all_gone();
}

}  // namespace
}  // namespace sipline::dataplane

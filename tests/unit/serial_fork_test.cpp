// Serial forking over a user's contacts (dataplane/serial_fork.cpp, a location route's
// fork = "serial"): the pipeline with a real config, its location table and transaction
// table, driven message by message and clock tick by clock tick; every assertion is on the
// bytes written and where they go.
#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

// Users and routes, after the forking tests' [listen], [domain] and [registrar].
constexpr std::string_view kConfig = R"toml(
[[users]]
user = "1002"
password = "secret-1002"
[[users]]
user = "1003"
password = "secret-1003"
# A carrier's account: never the answer to a phone's challenge.
[[pools]]
name = "carrier"
members = ["sip:192.0.2.50:5060"]
probe_interval = 0
auth_user = "trunk"
password = "trunk-secret"
[[routes]]
name = "hunted"
user_prefix = "1002"
action = "location"
fork = "serial"
fork_timeout_ms = 500
ring_timeout_ms = 1000
[[routes]]
name = "plain"
user_prefix = "1003"
action = "location"
)toml";

class SerialForkTest : public ForkingPipeline {
 protected:
  SerialForkTest() : ForkingPipeline(with_local_domain(kConfig)) {
    // The desk phone refreshed last: it is first in the table's order; the laptop next.
    location_.replace("1002", {binding("1002", kLaptop, 1800), binding("1002", kDeskPhone, 3600)});
    location_.replace("1003", {binding("1003", kLaptop, 1800), binding("1003", kDeskPhone, 3600)});
    tick(kStartMs);
  }

  // The hunted INVITE: to the desk phone, and our 100 Trying to the caller (§17.2.1).
  Sent start_hunt(std::string_view branch) {
    const std::vector<Sent> sent = receive(invite("1002", branch));
    EXPECT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedRequest);
    EXPECT_EQ(sent[0].to(), kDeskPhone);
    EXPECT_EQ(request_line(sent[0].bytes), "INVITE sip:1002@192.0.2.41:5060 SIP/2.0");
    if (sent.size() == 2) {
      EXPECT_EQ(sent[1].outcome.code, 100);
      EXPECT_EQ(sent[1].to(), kCaller);
    }
    return sent[0];
  }

  // The INVITE reached the laptop: its own Request-URI, a new branch of ours.
  void expect_at_laptop(const Sent& sent, const Sent& first) {
    EXPECT_EQ(sent.outcome.kind, SendKind::ForwardedRequest);
    EXPECT_EQ(sent.to(), kLaptop);
    EXPECT_EQ(request_line(sent.bytes), "INVITE sip:1002@192.0.2.42:5062 SIP/2.0");
    EXPECT_NE(top_branch(sent.bytes), top_branch(first.bytes));
    EXPECT_TRUE(sip::branch_is_ours(top_branch(sent.bytes), context_->identity.branch_key));
    // The same request otherwise, from the caller's Via down.
    EXPECT_EQ(sent.bytes.substr(sent.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")),
              first.bytes.substr(first.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")));
  }
};

TEST_F(SerialForkTest, AContactThatSaysNothingIsLeftForTheNext) {
  const Sent desk = start_hunt("z9hG4bK-silent");
  EXPECT_TRUE(tick(kStartMs + 499).empty());
  const std::vector<Sent> next = tick(kStartMs + 500);
  ASSERT_EQ(next.size(), 1u);  // no ACK: nothing answered
  expect_at_laptop(next[0], desk);
  EXPECT_EQ(counters_.failover_timeouts.read(), 1u);
  EXPECT_EQ(counters_.contacts_hunted.read(), 1u);

  // The laptop rings (relayed), answers: the 200 goes to the caller and ends the hunt.
  const std::vector<Sent> ringing = receive(answer(next[0].bytes, "180 Ringing"), kLaptop);
  ASSERT_EQ(ringing.size(), 1u);
  EXPECT_EQ(ringing[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(ringing[0].to(), kCaller);
  const std::vector<Sent> answered = receive(answer(next[0].bytes, "200 OK"), kLaptop);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].to(), kCaller);
  EXPECT_EQ(answered[0].bytes.rfind("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5099;", 0), 0u);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  expect_all_gone();
}

TEST_F(SerialForkTest, ABusyContactIsAckedAndTheNextRings) {
  const Sent desk = start_hunt("z9hG4bK-busy");
  const std::vector<Sent> after_486 = receive(answer(desk.bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(after_486.size(), 2u);
  // §17.1.1.3: our ACK to the desk phone, on its branch, with its Request-URI.
  EXPECT_EQ(after_486[0].to(), kDeskPhone);
  EXPECT_EQ(request_line(after_486[0].bytes), "ACK sip:1002@192.0.2.41:5060 SIP/2.0");
  EXPECT_EQ(top_branch(after_486[0].bytes), top_branch(desk.bytes));
  expect_at_laptop(after_486[1], desk);

  // The last contact's failure goes to the caller as it is.
  const std::vector<Sent> last = receive(answer(after_486[1].bytes, "480 Away"), kLaptop);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[0].to(), kCaller);
  EXPECT_EQ(last[0].bytes.rfind("SIP/2.0 480 Away\r\n", 0), 0u);
  EXPECT_EQ(counters_.contacts_hunted.read(), 1u);
  expect_all_gone();
}

TEST_F(SerialForkTest, APhonesChallengeIsAFailureNotAnsweredWithTheTrunksCredentials) {
  const Sent desk = start_hunt("z9hG4bK-challenge");
  std::string challenge = answer(desk.bytes, "407 Proxy Authentication Required");
  challenge.insert(challenge.find("Content-Length"),
                   "Proxy-Authenticate: Digest realm=\"phone\", nonce=\"n1\", algorithm=MD5\r\n");
  const std::vector<Sent> after = receive(challenge, kDeskPhone);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(request_line(after[0].bytes), "ACK sip:1002@192.0.2.41:5060 SIP/2.0");
  expect_at_laptop(after[1], desk);
  EXPECT_EQ(after[1].bytes.find("Authorization"), std::string::npos);
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 0u);
  // The laptop says nothing: the caller gets 480 from us, not a 407 without a challenge.
  const std::vector<Sent> ours = tick(kStartMs + 500);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 480 Temporarily Unavailable");
  expect_all_gone();
}

TEST_F(SerialForkTest, ASixHundredEndsTheHunt) {
  const Sent desk = start_hunt("z9hG4bK-decline");
  // §16.7 step 6: a 6xx is a global answer; no contact is tried after it.
  const std::vector<Sent> declined = receive(answer(desk.bytes, "603 Decline"), kDeskPhone);
  ASSERT_EQ(declined.size(), 1u);
  EXPECT_EQ(declined[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(declined[0].to(), kCaller);
  EXPECT_TRUE(tick(kStartMs + 5'000).empty());
  EXPECT_EQ(counters_.contacts_hunted.read(), 0u);
  expect_all_gone();
}

TEST_F(SerialForkTest, ARingingContactIsCancelledAtTheRingTimeoutAndTheNextRings) {
  const Sent desk = start_hunt("z9hG4bK-ring");
  ASSERT_EQ(receive(answer(desk.bytes, "180 Ringing"), kDeskPhone).size(), 1u);
  EXPECT_TRUE(tick(kStartMs + 999).empty());
  const std::vector<Sent> cancelled = tick(kStartMs + 1000);
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].to(), kDeskPhone);
  EXPECT_EQ(request_line(cancelled[0].bytes), "CANCEL sip:1002@192.0.2.41:5060 SIP/2.0");
  EXPECT_EQ(top_branch(cancelled[0].bytes), top_branch(desk.bytes));
  // The desk phone ends its INVITE with 487: ACKed, and the laptop gets the call.
  const std::vector<Sent> after_487 =
      receive(answer(desk.bytes, "487 Request Terminated"), kDeskPhone);
  ASSERT_EQ(after_487.size(), 2u);
  EXPECT_EQ(request_line(after_487[0].bytes), "ACK sip:1002@192.0.2.41:5060 SIP/2.0");
  expect_at_laptop(after_487[1], desk);
  // The last contact rings until Timer C (180 s), not the ring timeout.
  ASSERT_EQ(receive(answer(after_487[1].bytes, "180 Ringing"), kLaptop).size(), 1u);
  EXPECT_TRUE(tick(kStartMs + 60'000).empty());
  const std::vector<Sent> timer_c = tick(kStartMs + 1000 + 180'000);
  ASSERT_EQ(timer_c.size(), 1u);
  EXPECT_EQ(timer_c[0].to(), kLaptop);
  EXPECT_EQ(request_line(timer_c[0].bytes), "CANCEL sip:1002@192.0.2.42:5062 SIP/2.0");
  EXPECT_EQ(top_branch(timer_c[0].bytes), top_branch(after_487[1].bytes));
  expect_all_gone();
}

TEST_F(SerialForkTest, TheCallersCancelEndsTheHunt) {
  const std::string request = invite("1002", "z9hG4bK-gone");
  const Sent desk = start_hunt("z9hG4bK-gone");
  ASSERT_EQ(receive(answer(desk.bytes, "180 Ringing"), kDeskPhone).size(), 1u);
  std::string cancel = request;
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
  const std::vector<Sent> answered = receive(cancel);
  ASSERT_EQ(answered.size(), 2u);
  EXPECT_EQ(answered[0].outcome.code, 200);
  EXPECT_EQ(request_line(answered[1].bytes), "CANCEL sip:1002@192.0.2.41:5060 SIP/2.0");
  // The desk phone's 487 goes to the caller; the laptop never hears of the call.
  const std::vector<Sent> ended = receive(answer(desk.bytes, "487 Request Terminated"), kDeskPhone);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].to(), kCaller);
  EXPECT_EQ(ended[0].bytes.rfind("SIP/2.0 487 Request Terminated\r\n", 0), 0u);
  EXPECT_EQ(counters_.contacts_hunted.read(), 0u);
  expect_all_gone();
}

TEST_F(SerialForkTest, WhenTheLastContactSaysNothingTheCallerGetsTheEarlierAnswer) {
  const Sent desk = start_hunt("z9hG4bK-earlier");
  const std::vector<Sent> after_486 = receive(answer(desk.bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(after_486.size(), 2u);
  const std::vector<Sent> ours = tick(kStartMs + 500);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(ours[0].bytes.rfind("SIP/2.0 486 Busy Here\r\n", 0), 0u);
  expect_all_gone();
}

TEST_F(SerialForkTest, AContactRegisteredDuringTheHuntIsTriedAndNoneTwice) {
  const Sent desk = start_hunt("z9hG4bK-new");
  // A mobile registers meanwhile, and the desk phone refreshes (first in the order again).
  location_.replace("1002", {binding("1002", kLaptop, 1800), binding("1002", kDeskPhone, 3601),
                             binding("1002", kMobile, 3600)});
  const std::vector<Sent> second = receive(answer(desk.bytes, "480 Away"), kDeskPhone);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1].to(), kMobile);
  const std::vector<Sent> third = receive(answer(second[1].bytes, "480 Away"), kMobile);
  ASSERT_EQ(third.size(), 2u);
  EXPECT_EQ(third[1].to(), kLaptop);
  const std::vector<Sent> last = receive(answer(third[1].bytes, "480 Away"), kLaptop);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].to(), kCaller);
  EXPECT_EQ(counters_.contacts_hunted.read(), 2u);
  expect_all_gone();
}

TEST_F(SerialForkTest, WithoutForkTheFirstContactAloneGetsTheCallStatelessly) {
  const std::vector<Sent> sent = receive(invite("1003", "z9hG4bK-plain"));
  ASSERT_EQ(sent.size(), 1u);  // no 100 Trying: nothing is tracked
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  EXPECT_TRUE(tick(kStartMs + 5'000).empty());
}

TEST_F(SerialForkTest, AContactNamingAHostIsPassedOver) {
  sip::Binding named = binding("1002", "phone.example", 7200);  // first in order, but a name
  location_.replace("1002",
                    {named, binding("1002", kLaptop, 1800), binding("1002", kDeskPhone, 3600)});
  const Sent desk = start_hunt("z9hG4bK-named");
  const std::vector<Sent> next = tick(kStartMs + 500);
  ASSERT_EQ(next.size(), 1u);
  expect_at_laptop(next[0], desk);
  // Nobody is left: our 408 (the contacts said nothing, §16.7 step 6).
  const std::vector<Sent> ours = tick(kStartMs + 1000);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(ours[0].bytes.rfind("SIP/2.0 408 Request Timeout\r\n", 0), 0u);
  expect_all_gone();
}

TEST_F(SerialForkTest, AUserWithOneContactIsForwardedStatelessly) {
  location_.replace("1002", {binding("1002", kDeskPhone, 3600)});
  const std::vector<Sent> sent = receive(invite("1002", "z9hG4bK-one"));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

// A binding naming the proxy itself (a phone misconfigured with the proxy's address as its
// Contact) first in the table's order: the hunt starts at the next contact instead of
// answering 482 Loop Detected.
TEST_F(SerialForkTest, AContactNamingTheProxyItselfIsLeftOutOfTheHunt) {
  sip::Binding ourselves = binding("1002", "127.0.0.1:5060", 7200);
  location_.replace("1002", {binding("1002", kLaptop, 1800), ourselves});
  const std::vector<Sent> sent = receive(invite("1002", "z9hG4bK-ourselves"));
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to(), kLaptop);
  EXPECT_EQ(request_line(sent[0].bytes), "INVITE sip:1002@192.0.2.42:5062 SIP/2.0");
  EXPECT_EQ(sent[1].outcome.code, 100);
  expect_relayed(receive(answer(sent[0].bytes, "200 OK"), kLaptop), "200 OK");
  expect_all_gone();
}

}  // namespace
}  // namespace sipline::dataplane

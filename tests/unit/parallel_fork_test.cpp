// Parallel forking over a user's contacts (dataplane/parallel_fork.cpp, a location route's
// fork = "parallel"): every assertion is on the bytes the pipeline writes and where they go.
#include <algorithm>

#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

// Users and routes, after the forking tests' [listen], [domain] and [registrar].
constexpr std::string_view kConfig = R"toml(
[[users]]
user = "1002"
password = "secret-1002"
[[routes]]
name = "ring-all"
user_prefix = "1002"
action = "location"
fork = "parallel"
ring_timeout_ms = 10000
)toml";

class ParallelForkTest : public ForkingPipeline {
 protected:
  ParallelForkTest() : ForkingPipeline(with_local_domain(kConfig)) {
    location_.replace("1002", {binding("1002", kMobile, 1200), binding("1002", kLaptop, 1800),
                               binding("1002", kDeskPhone, 3600)});
    tick(kStartMs);
  }

  // The caller's INVITE: to the desk phone at once, our 100 Trying, then the laptop and the
  // mobile (the table's order), each with its own URI on a branch of its own.
  std::vector<Sent> start_fork(std::string_view branch = "z9hG4bK-fork") {
    request_ = invite("1002", branch);
    const std::vector<Sent> sent = receive(request_);
    EXPECT_EQ(sent.size(), 4u);
    if (sent.size() != 4) return {};
    EXPECT_EQ(sent[1].outcome.code, 100);
    EXPECT_EQ(sent[1].to(), kCaller);
    const std::vector<Sent> branches{sent[0], sent[2], sent[3]};
    const std::string_view phones[] = {kDeskPhone, kLaptop, kMobile};
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(branches[i].outcome.kind, SendKind::ForwardedRequest);
      EXPECT_EQ(branches[i].to(), phones[i]);
      EXPECT_EQ(request_line(branches[i].bytes),
                "INVITE sip:1002@" + std::string(phones[i]) + " SIP/2.0");
      EXPECT_TRUE(
          sip::branch_is_ours(top_branch(branches[i].bytes), context_->identity.branch_key));
    }
    EXPECT_NE(top_branch(branches[0].bytes), top_branch(branches[1].bytes));
    EXPECT_NE(top_branch(branches[1].bytes), top_branch(branches[2].bytes));
    EXPECT_NE(top_branch(branches[0].bytes), top_branch(branches[2].bytes));
    return branches;
  }

  std::string caller_request(std::string_view method) const { return as_method(request_, method); }

  std::string request_;
};

TEST_F(ParallelForkTest, EveryContactRingsAndTheFirst200CancelsTheOthers) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  EXPECT_EQ(counters_.contacts_forked.read(), 3u);
  // §16.7 step 5: each 180 goes to the caller (an early dialog each); a 100 does not.
  expect_relayed(receive(answer(phones[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  expect_relayed(receive(answer(phones[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  EXPECT_EQ(receive(answer(phones[2].bytes, "100 Trying"), kMobile)[0].outcome.verdict,
            Verdict::Absorbed);
  // The mobile answers: its 200 to the caller, our CANCEL to the two ringing phones (step 10).
  const std::vector<Sent> answered = receive(answer(phones[2].bytes, "200 OK"), kMobile);
  ASSERT_EQ(answered.size(), 3u);
  EXPECT_EQ(answered[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(answered[0].to(), kCaller);
  EXPECT_EQ(request_line(answered[0].bytes), "SIP/2.0 200 OK");
  expect_request(answered[1], "CANCEL", phones[0]);
  expect_request(answered[2], "CANCEL", phones[1]);
  // RFC 3326: the phones show no missed call.
  for (const Sent& cancel : {answered[1], answered[2]}) {
    EXPECT_TRUE(cancel.bytes.ends_with(
        "\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n\r\n"))
        << cancel.bytes;
  }
  // Their 487s are ACKed and go no further.
  const std::vector<Sent> desk_487 =
      receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone);
  ASSERT_EQ(desk_487.size(), 1u);
  expect_request(desk_487[0], "ACK", phones[0]);
  const std::vector<Sent> laptop_487 =
      receive(answer(phones[1].bytes, "487 Request Terminated"), kLaptop);
  ASSERT_EQ(laptop_487.size(), 1u);
  expect_request(laptop_487[0], "ACK", phones[1]);
  // A 200 retransmitted by the mobile still goes to the caller.
  expect_relayed(receive(answer(phones[2].bytes, "200 OK"), kMobile), "200 OK");
  EXPECT_EQ(counters_.cancels_sent.read(), 2u);
  // Everything is gone after Timer D.
  EXPECT_TRUE(tick(kStartMs + 40'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
}

TEST_F(ParallelForkTest, APhoneThatHasNotAnsweredIsCancelledOnceItDoes) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  expect_relayed(receive(answer(phones[0].bytes, "200 OK"), kDeskPhone), "200 OK");
  // §9.1: no CANCEL before a provisional answer; the laptop's 180 brings it (and is not
  // passed on: the call is answered).
  const std::vector<Sent> late = receive(answer(phones[1].bytes, "180 Ringing"), kLaptop);
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late[0].outcome.verdict, Verdict::Drop);
  expect_request(late[1], "CANCEL", phones[1]);
  EXPECT_NE(late[1].bytes.find("\r\nReason: SIP;cause=200;"), std::string::npos);
  ASSERT_EQ(receive(answer(phones[1].bytes, "487 Request Terminated"), kLaptop).size(), 1u);
  // No more INVITE copies to the silent mobile (Timer A stops); it ends at its timeout.
  EXPECT_TRUE(tick(kStartMs + 1'999).empty());
  EXPECT_TRUE(tick(kStartMs + 2'000).empty());
  expect_all_gone();
}

TEST_F(ParallelForkTest, APhonesRedirectionIsTheBestAnswerAndIsRelayedAsItWroteIt) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  const std::vector<Sent> busy = receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(busy.size(), 1u);
  expect_request(busy[0], "ACK", phones[0]);
  ASSERT_EQ(receive(answer(phones[1].bytes, "503 Unavailable"), kLaptop).size(), 1u);
  // The mobile forwards its calls (302 with a Contact): the lowest class wins (§16.7 step 6),
  // and the caller gets the mobile's answer as it wrote it, our Via popped.
  std::string moved = answer(phones[2].bytes, "302 Moved");
  moved.insert(moved.find("Content-Length"), "Contact: <sip:voicemail@192.0.2.99>\r\n");
  const std::vector<Sent> last = receive(moved, kMobile);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", phones[2]);
  EXPECT_EQ(last[1].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[1].to(), kCaller);
  EXPECT_EQ(last[1].bytes, "SIP/2.0 302 Moved" + moved.substr(moved.find("\r\nVia: SIP/2.0/UDP "
                                                                         "192.0.2.10:5099")));
  // We ACKed the mobile, so we send it again until the caller's ACK (Timer G)...
  const std::vector<Sent> again = tick(kStartMs + 500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, last[1].bytes);
  EXPECT_EQ(again[0].to(), kCaller);
  // ... which carries the mobile's To tag, and ends here.
  std::string ack = caller_request("ACK");
  ack.insert(ack.find("\r\n", ack.find("\r\nTo: ") + 2), ";tag=phone-tag");
  const std::vector<Sent> acked = receive(ack);
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_EQ(acked[0].outcome.verdict, Verdict::Absorbed);
  EXPECT_TRUE(tick(kStartMs + 5'000).empty());  // Timer G stopped
  EXPECT_TRUE(tick(kStartMs + 60'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
}

TEST_F(ParallelForkTest, TheRelayedAnswerIsSentAgainAfterItsBranchWouldHaveGone) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  // The desk phone's 486 comes first and stays the best; the others ring, then fail 9 s later.
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  expect_relayed(receive(answer(phones[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  expect_relayed(receive(answer(phones[2].bytes, "180 Ringing"), kMobile), "180 Ringing");
  EXPECT_TRUE(tick(kStartMs + 9'000).empty());
  ASSERT_EQ(receive(answer(phones[1].bytes, "480 Away"), kLaptop).size(), 1u);
  const std::vector<Sent> last = receive(answer(phones[2].bytes, "480 Away"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 486 Busy Here");
  // No ACK from the caller: Timer G until Timer H (41 s), past the desk phone's Timer D
  // (32 s): every copy is still the phone's answer.
  const std::vector<Sent> copies = tick(kStartMs + 40'000);
  ASSERT_GE(copies.size(), 8u);
  for (const Sent& copy : copies) {
    EXPECT_EQ(copy.outcome.verdict, Verdict::Send);
    EXPECT_EQ(copy.bytes, last[1].bytes);
  }
  expect_all_gone();
}

TEST_F(ParallelForkTest, WhenEveryPhoneFailsTheFirstOfTheLowestClassIsRelayed) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "503 Unavailable"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "486 Busy Here"), kLaptop).size(), 1u);
  const std::vector<Sent> last = receive(answer(phones[2].bytes, "480 Away"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 486 Busy Here");
  // The caller's INVITE again gets it again.
  const std::vector<Sent> again = receive(request_);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, last[1].bytes);
  expect_all_gone();
}

// A phone's answer with a header line of its own, before Content-Length.
std::string answer_with(const std::string& forwarded, std::string_view status,
                        std::string_view line) {
  std::string response = answer(forwarded, status);
  response.insert(response.find("Content-Length"), line);
  return response;
}

// §16.7 step 6: a challenge is preferred to a busy phone within the 4xx class; step 7: the
// one relayed carries the other phone's challenge too, as that phone wrote it.
TEST_F(ParallelForkTest, TheRelayedChallengeCarriesEveryPhonesChallenge) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  constexpr std::string_view kLaptopChallenge =
      "Proxy-Authenticate: Digest realm=\"laptop.example\", nonce=\"n-1\", algorithm=MD5\r\n";
  constexpr std::string_view kMobileChallenge =
      "WWW-Authenticate: Digest realm=\"mobile.example\", nonce=\"n-2\", "
      "algorithm=SHA-256, qop=\"auth\"\r\n";
  const std::string laptop_407 =
      answer_with(phones[1].bytes, "407 Proxy Authentication Required", kLaptopChallenge);
  const std::vector<Sent> challenged = receive(laptop_407, kLaptop);
  ASSERT_EQ(challenged.size(), 1u);
  expect_request(challenged[0], "ACK", phones[1]);
  const std::vector<Sent> last =
      receive(answer_with(phones[2].bytes, "401 Unauthorized", kMobileChallenge), kMobile);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", phones[2]);
  EXPECT_EQ(last[1].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[1].to(), kCaller);
  // The laptop's 407 (the first challenge), our Via popped, the mobile's line added last.
  std::string expected = "SIP/2.0 407 Proxy Authentication Required" +
                         laptop_407.substr(laptop_407.find("\r\nVia: SIP/2.0/UDP 192.0.2.10:5099"));
  expected.insert(expected.find("\r\n\r\n") + 2, kMobileChallenge);
  EXPECT_EQ(last[1].bytes, expected);
  // Timer G sends the same bytes again.
  const std::vector<Sent> again = tick(kStartMs + 500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, expected);
  EXPECT_EQ(counters_.challenges_not_aggregated.read(), 0u);
  expect_all_gone();
}

// A challenge too large to add (the kept answer may take 4 KiB): counted, and the first one
// is relayed as it was.
TEST_F(ParallelForkTest, AChallengeTooLargeToAddIsCountedAndTheFirstRelayedAsItWas) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  const std::string desk_401 =
      answer_with(phones[0].bytes, "401 Unauthorized",
                  "WWW-Authenticate: Digest realm=\"desk\", nonce=\"n\"\r\n");
  ASSERT_EQ(receive(desk_401, kDeskPhone).size(), 1u);
  const std::string huge =
      "WWW-Authenticate: Digest realm=\"laptop\", nonce=\"" + std::string(3'600, 'a') + "\"\r\n";
  ASSERT_EQ(receive(answer_with(phones[1].bytes, "401 Unauthorized", huge), kLaptop).size(), 1u);
  EXPECT_EQ(counters_.challenges_not_aggregated.read(), 1u);
  const std::vector<Sent> last = receive(answer(phones[2].bytes, "480 Away"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1].bytes,
            "SIP/2.0 401 Unauthorized" +
                desk_401.substr(desk_401.find("\r\nVia: SIP/2.0/UDP 192.0.2.10:5099")));
  expect_all_gone();
}

// §16.7 step 6: within the 4xx class the answers the caller can act on come first (484
// Address Incomplete: dial more digits), before a busy phone that answered earlier.
TEST_F(ParallelForkTest, AnAnswerTheCallerCanActOnIsPreferredToAnEarlierBusy) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "484 Address Incomplete"), kLaptop).size(), 1u);
  const std::vector<Sent> last = receive(answer(phones[2].bytes, "480 Away"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 484 Address Incomplete");
  expect_all_gone();
}

// A 6xx still outranks a challenge, and takes none of its lines.
TEST_F(ParallelForkTest, ADeclineOutranksAChallenge) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer_with(phones[0].bytes, "401 Unauthorized",
                                "WWW-Authenticate: Digest realm=\"desk\", nonce=\"n\"\r\n"),
                    kDeskPhone)
                .size(),
            1u);
  const std::vector<Sent> declined = receive(answer(phones[1].bytes, "603 Decline"), kLaptop);
  ASSERT_GE(declined.size(), 1u);
  const std::vector<Sent> last =
      receive(answer(phones[2].bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 603 Decline");
  EXPECT_EQ(last[1].bytes.find("Authenticate"), std::string::npos);
  expect_all_gone();
}

TEST_F(ParallelForkTest, A503IsRelayedAs500) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "503 Unavailable"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "503 Unavailable"), kLaptop).size(), 1u);
  const std::vector<Sent> last = receive(answer(phones[2].bytes, "503 Unavailable"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 500 Server Internal Error");  // §16.7 step 6
  expect_all_gone();
}

// §16.7 step 6: a silent branch's 408 is a 4xx and beats a phone's 503; the 503 kept until
// then is not relayed (found by fuzz_pipeline).
TEST_F(ParallelForkTest, ASilentPhonesTimeoutBeatsAnotherPhones503) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "503 Unavailable"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "503 Unavailable"), kLaptop).size(), 1u);
  EXPECT_EQ(tick(kStartMs + 500).size(), 1u);  // Timer A's copy to the mobile
  EXPECT_EQ(tick(kStartMs + 1'500).size(), 1u);
  const std::vector<Sent> ours = tick(kStartMs + 2'000);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(ours[0].outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 408 Request Timeout");
  expect_all_gone();
}

TEST_F(ParallelForkTest, SilentPhonesAreCopiedAtTimerAThenGiveUpAt408) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "480 Away"), kDeskPhone).size(), 1u);
  // Timer A (§17.1.1.2): the two silent phones get the INVITE again after T1, on their branch.
  const std::vector<Sent> copies = tick(kStartMs + 500);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0].bytes, phones[1].bytes);
  EXPECT_EQ(copies[1].bytes, phones[2].bytes);
  EXPECT_EQ(tick(kStartMs + 1'500).size(), 2u);
  // fork_timeout_ms (2 s): both give up; the desk phone's 480 beats their 408, relayed.
  const std::vector<Sent> ours = tick(kStartMs + 2'000);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(ours[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 480 Away");
  EXPECT_EQ(counters_.failover_timeouts.read(), 2u);
  expect_all_gone();
}

TEST_F(ParallelForkTest, ASixHundredCancelsTheOthers) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  expect_relayed(receive(answer(phones[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  const std::vector<Sent> declined = receive(answer(phones[1].bytes, "603 Decline"), kLaptop);
  ASSERT_EQ(declined.size(), 2u);
  expect_request(declined[0], "ACK", phones[1]);
  expect_request(declined[1], "CANCEL", phones[0]);
  ASSERT_EQ(receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  // The mobile said nothing: at its timeout the caller gets the 603 (§16.7 step 6).
  const std::vector<Sent> ours = tick(kStartMs + 2'000);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 603 Decline");
  expect_all_gone();
}

TEST_F(ParallelForkTest, TheCallersCancelCancelsEveryPhone) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  expect_relayed(receive(answer(phones[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  expect_relayed(receive(answer(phones[1].bytes, "183 Session Progress"), kLaptop),
                 "183 Session Progress");
  const std::vector<Sent> cancelled = receive(caller_request("CANCEL"));
  ASSERT_EQ(cancelled.size(), 3u);
  EXPECT_EQ(cancelled[0].outcome.code, 200);  // §16.10
  EXPECT_EQ(cancelled[0].to(), kCaller);
  expect_request(cancelled[1], "CANCEL", phones[0]);
  expect_request(cancelled[2], "CANCEL", phones[1]);
  EXPECT_EQ(cancelled[1].bytes.find("Reason:"), std::string::npos);  // not answered elsewhere
  ASSERT_EQ(receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "487 Request Terminated"), kLaptop).size(), 1u);
  // The mobile answers 180 only now: cancelled at once, and not passed on.
  const std::vector<Sent> late = receive(answer(phones[2].bytes, "180 Ringing"), kMobile);
  ASSERT_EQ(late.size(), 2u);
  expect_request(late[1], "CANCEL", phones[2]);
  const std::vector<Sent> last =
      receive(answer(phones[2].bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 487 Request Terminated");
  EXPECT_EQ(last[1].to(), kCaller);
  expect_all_gone();
}

TEST_F(ParallelForkTest, TheRingTimeoutCancelsEveryRingingPhoneAndTheCallerGets408) {
  const std::vector<Sent> phones = start_fork();
  ASSERT_EQ(phones.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string_view from = i == 0 ? kDeskPhone : i == 1 ? kLaptop : kMobile;
    expect_relayed(receive(answer(phones[i].bytes, "180 Ringing"), from), "180 Ringing");
  }
  EXPECT_TRUE(tick(kStartMs + 9'999).empty());
  const std::vector<Sent> timer_c = tick(kStartMs + 10'000);
  ASSERT_EQ(timer_c.size(), 3u);
  for (const Sent& phone : phones) {
    const auto cancel = std::find_if(timer_c.begin(), timer_c.end(),
                                     [&](const Sent& sent) { return sent.to() == phone.to(); });
    ASSERT_NE(cancel, timer_c.end()) << phone.to();
    expect_request(*cancel, "CANCEL", phone);
  }
  ASSERT_EQ(receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  ASSERT_EQ(receive(answer(phones[1].bytes, "487 Request Terminated"), kLaptop).size(), 1u);
  const std::vector<Sent> last =
      receive(answer(phones[2].bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 408 Request Timeout");
  EXPECT_EQ(counters_.timer_c_fired.read(), 3u);
  expect_all_gone();
}

// A MESSAGE rings nobody and one phone takes it: it is tried on the contacts one after
// another (serial_fork.cpp), not sent to the first one alone, so that a phone that refuses
// it or says nothing (a laptop asleep with its binding alive) does not lose it. No 100 Trying
// for a non-INVITE (§16.2), no ACK of a failure.
TEST_F(ParallelForkTest, AMessageIsTriedOnTheContactsOneAfterAnother) {
  const std::string message = as_method(invite("1002", "z9hG4bK-msg"), "MESSAGE");
  const std::vector<Sent> first = receive(message);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].to(), kDeskPhone);
  EXPECT_EQ(request_line(first[0].bytes),
            "MESSAGE sip:1002@" + std::string(kDeskPhone) + " SIP/2.0");
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
  // The desk phone refuses it: the laptop gets it at once.
  const std::vector<Sent> second =
      receive(answer(first[0].bytes, "480 Temporarily Unavailable"), kDeskPhone);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].to(), kLaptop);
  EXPECT_EQ(request_line(second[0].bytes), "MESSAGE sip:1002@" + std::string(kLaptop) + " SIP/2.0");
  // The laptop says nothing for fork_timeout_ms (2 s): the mobile gets it.
  const std::vector<Sent> later = tick(kStartMs + 2'000);
  const auto to_mobile = std::find_if(later.begin(), later.end(),
                                      [](const Sent& sent) { return sent.to() == kMobile; });
  ASSERT_NE(to_mobile, later.end());
  EXPECT_EQ(request_line(to_mobile->bytes),
            "MESSAGE sip:1002@" + std::string(kMobile) + " SIP/2.0");
  // The mobile takes it: its 200 goes to the sender.
  expect_relayed(receive(answer(to_mobile->bytes, "200 OK"), kMobile), "200 OK");
  EXPECT_EQ(counters_.contacts_hunted.read(), 2u);
  EXPECT_EQ(counters_.contacts_forked.read(), 0u);
}

TEST_F(ParallelForkTest, OneUsableContactIsForwardedStatelessly) {
  location_.replace("1002",
                    {binding("1002", "phone.example", 7200), binding("1002", kDeskPhone, 3600)});
  const std::vector<Sent> sent = receive(invite("1002", "z9hG4bK-one"));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

// A full table is counted and the calls still go out: fewer phones ring, then statelessly.
class ParallelForkFullTableTest : public ForkingPipeline {
 protected:
  ParallelForkFullTableTest()
      : ForkingPipeline(with_local_domain(kConfig) + "[limits]\ntransaction_table_size = 1024\n") {
    std::vector<sip::Binding> phones;
    for (int i = 1; i <= 8; ++i)
      phones.push_back(binding("1002", "192.0.2." + std::to_string(40 + i) + ":5060", 3600 - i));
    location_.replace("1002", phones);
    tick(kStartMs);
  }
};

TEST_F(ParallelForkFullTableTest, BranchesTheTableRefusesAreCountedAndTheCallGoesOn) {
  // 113 calls to 8 phones (8 INVITEs and our 100 each): 113 x 9 = 1,017 of the 1,024 entries.
  for (int call = 0; call < 113; ++call) {
    ASSERT_EQ(receive(invite("1002", "z9hG4bK-full" + std::to_string(call))).size(), 9u);
  }
  EXPECT_EQ(counters_.failover_untracked.read(), 0u);
  // The next one gets its own entry and 6 branches: 6 INVITEs and our 100.
  const std::vector<Sent> partial = receive(invite("1002", "z9hG4bK-partial"));
  EXPECT_EQ(partial.size(), 7u);
  EXPECT_EQ(counters_.failover_untracked.read(), 1u);
  EXPECT_EQ(pipeline_->transactions()->size(), 1024u);
  // Then a call finds no entry: forwarded statelessly to the first phone, counted.
  const std::vector<Sent> stateless = receive(invite("1002", "z9hG4bK-stateless"));
  ASSERT_EQ(stateless.size(), 1u);
  EXPECT_EQ(stateless[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(stateless[0].to(), "192.0.2.41:5060");
  EXPECT_EQ(counters_.failover_untracked.read(), 2u);
}

// A phone registered through another node of a shared store from behind a NAT (its Contact
// is not where its REGISTER came from): its branch goes to that node, the Request-URI
// aliased to the phone's NAT mapping there; the other branches go to their phones.
TEST_F(ParallelForkTest, ABranchToAPhoneOfAnotherNodeGoesThroughIt) {
  sip::Binding behind_nat = binding("1002", "10.0.0.5:5060", 3000);
  behind_nat.received = "203.0.113.9:40000";
  behind_nat.node_address = "192.0.2.77:5060";
  location_.replace("1002", {binding("1002", kMobile, 1200), behind_nat});
  const std::vector<Sent> sent = receive(invite("1002", "z9hG4bK-nodes"));
  ASSERT_EQ(sent.size(), 3u);  // the first branch, our 100 Trying, the second branch
  EXPECT_EQ(sent[0].to(), "192.0.2.77:5060");
  EXPECT_EQ(request_line(sent[0].bytes),
            "INVITE sip:1002@10.0.0.5:5060;alias=203.0.113.9~40000~1 SIP/2.0");
  EXPECT_EQ(sent[2].to(), kMobile);
  EXPECT_EQ(request_line(sent[2].bytes), "INVITE sip:1002@" + std::string(kMobile) + " SIP/2.0");
  EXPECT_EQ(counters_.node_relays_out.read(), 1u);
  // The branch through the node fails: our ACK goes there too, with the aliased Request-URI
  // (§17.1.1.3: the INVITE's).
  const std::vector<Sent> busy = receive(answer(sent[0].bytes, "486 Busy Here"), "192.0.2.77:5060");
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].to(), "192.0.2.77:5060");
  EXPECT_EQ(request_line(busy[0].bytes),
            "ACK sip:1002@10.0.0.5:5060;alias=203.0.113.9~40000~1 SIP/2.0");
}

}  // namespace
}  // namespace sipline::dataplane

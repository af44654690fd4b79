// A location route's fallback (dataplane/call_diversion.cpp): a call the user cannot take
// (no contact, every phone busy, nobody answering) goes to voicemail or an operator, with our
// Diversion header (RFC 5806). Every assertion is on the bytes written and where they go.
#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

constexpr std::string_view kVoicemail = "192.0.2.60:5090";
constexpr std::string_view kOperator = "192.0.2.61:5060";

// Users and routes, after the forking tests' [listen], [domain] and [registrar].
constexpr std::string_view kConfig = R"toml(
[[users]]
user = "1002"
password = "secret-1002"
[[users]]
user = "1003"
password = "secret-1003"
[[users]]
user = "1004"
password = "secret-1004"
[[routes]]
name = "ring-all"
user_prefix = "1002"
action = "location"
fork = "parallel"
fork_timeout_ms = 500
ring_timeout_ms = 1000
fallback = "sip:192.0.2.60:5090"
[[routes]]
name = "hunt"
user_prefix = "1003"
action = "location"
fork = "serial"
fork_timeout_ms = 500
ring_timeout_ms = 1000
fallback = "sip:192.0.2.60:5090"
[[routes]]
name = "operator"
user_prefix = "1004"
action = "location"
fork = "parallel"
fallback = "sip:operator@192.0.2.61:5060"
fallback_codes = [486]
)toml";

class CallDiversionTest : public ForkingPipeline {
 protected:
  CallDiversionTest() : ForkingPipeline(with_local_domain(kConfig)) { tick(kStartMs); }

  // Both phones of `user` ring: our 100 to the caller, an INVITE to each (desk phone first).
  std::vector<Sent> ring_both(std::string_view user, std::string_view branch) {
    location_.replace(std::string(user),
                      {binding(user, kMobile, 1200), binding(user, kDeskPhone, 3600)});
    request_ = invite(user, branch);
    const std::vector<Sent> sent = receive(request_);
    EXPECT_EQ(sent.size(), 3u);
    if (sent.size() != 3) return {};
    EXPECT_EQ(sent[0].to(), kDeskPhone);
    EXPECT_EQ(sent[1].outcome.code, 100);
    EXPECT_EQ(sent[2].to(), kMobile);
    return {sent[0], sent[2]};
  }

  std::string caller_request(std::string_view method) const { return as_method(request_, method); }

  // The caller's INVITE reached the fallback: its Request-URI, our Diversion after the Via
  // lines, a branch of ours that no phone had.
  void expect_diverted(const Sent& sent, std::string_view to, std::string_view request_uri,
                       std::string_view user, std::string_view reason,
                       const std::vector<Sent>& phones = {}) {
    EXPECT_EQ(sent.outcome.kind, SendKind::ForwardedRequest);
    EXPECT_EQ(sent.to(), to);
    EXPECT_EQ(request_line(sent.bytes), "INVITE " + std::string(request_uri) + " SIP/2.0");
    const std::string diversion = "\r\nDiversion: <sip:" + std::string(user) +
                                  "@sipline.local>;reason=" + std::string(reason) +
                                  ";counter=1\r\n";
    const std::size_t at = sent.bytes.find(diversion);
    ASSERT_NE(at, std::string::npos) << sent.bytes;
    EXPECT_EQ(sent.bytes.find("\r\nDiversion:", at + 1), std::string::npos);
    EXPECT_EQ(sent.bytes.find("\r\nVia: ", at), std::string::npos);
    EXPECT_LT(at, sent.bytes.find("\r\nMax-Forwards: "));
    EXPECT_TRUE(sip::branch_is_ours(top_branch(sent.bytes), context_->identity.branch_key));
    for (const Sent& phone : phones)
      EXPECT_NE(top_branch(sent.bytes), top_branch(phone.bytes));
  }

  std::string request_;
};

TEST_F(CallDiversionTest, AUserWithNoPhoneRegisteredHasTheCallSentToVoicemail) {
  request_ = invite("1002", "z9hG4bK-nobody");
  const std::vector<Sent> sent = receive(request_);
  ASSERT_EQ(sent.size(), 2u);
  expect_diverted(sent[0], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "unavailable");
  EXPECT_EQ(sent[1].to(), kCaller);
  EXPECT_EQ(request_line(sent[1].bytes), "SIP/2.0 100 Trying");  // tracked: §17.2.1
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  // The mailbox rings; the caller hangs up: our 200, and our CANCEL to the mailbox (§9.1:
  // the INVITE's Request-URI and branch); its 487 goes to the caller, whose ACK goes to it.
  expect_relayed(receive(answer(sent[0].bytes, "180 Ringing"), kVoicemail), "180 Ringing");
  const std::vector<Sent> cancel = receive(caller_request("CANCEL"));
  ASSERT_EQ(cancel.size(), 2u);
  EXPECT_EQ(request_line(cancel[0].bytes), "SIP/2.0 200 OK");
  EXPECT_EQ(cancel[1].to(), kVoicemail);
  EXPECT_EQ(request_line(cancel[1].bytes), "CANCEL sip:1002@192.0.2.60:5090 SIP/2.0");
  EXPECT_EQ(top_branch(cancel[1].bytes), top_branch(sent[0].bytes));
  EXPECT_EQ(cancel[1].bytes.find("Diversion"), std::string::npos);
  expect_relayed(receive(answer(sent[0].bytes, "487 Request Terminated"), kVoicemail),
                 "487 Request Terminated");
  std::string ack = caller_request("ACK");
  ack.insert(ack.find("\r\n", ack.find("\r\nTo: ") + 2), ";tag=phone-tag");
  const std::vector<Sent> acked = receive(ack);
  ASSERT_EQ(acked.size(), 1u);
  expect_request(acked[0], "ACK", sent[0]);
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  expect_all_gone();
}

TEST_F(CallDiversionTest, WithNoRoomInTheTableTheCallGoesToVoicemailStatelessly) {
  // (Logged once: "transaction table full".)
  // Other calls to voicemail hold every stored-request slot (one each) until one goes untracked.
  std::size_t calls = 0;
  for (bool tracked = true; tracked && calls < 20'000; ++calls) {
    std::string filler = invite("1002", "z9hG4bK-filler-" + std::to_string(calls));
    filler.replace(filler.find("hunt-1@"), 7, "fill-" + std::to_string(calls) + "@");
    tracked = receive(filler).size() == 2;  // the INVITE and our 100
  }
  ASSERT_LT(calls, 20'000u);
  EXPECT_EQ(counters_.failover_untracked.read(), 1u);
  request_ = invite("1002", "z9hG4bK-no-room");
  request_.replace(request_.find("hunt-1@"), 7, "no-room@");
  const std::vector<Sent> sent = receive(request_);
  ASSERT_EQ(sent.size(), 1u);  // no 100 of ours: nothing tracked
  expect_diverted(sent[0], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "unavailable");
  // Its CANCEL follows it there, statelessly.
  const std::vector<Sent> cancel = receive(caller_request("CANCEL"));
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].to(), kVoicemail);
  EXPECT_EQ(request_line(cancel[0].bytes), "CANCEL sip:1002@192.0.2.60:5090 SIP/2.0");
  EXPECT_EQ(top_branch(cancel[0].bytes), top_branch(sent[0].bytes));
}

TEST_F(CallDiversionTest, WhenEveryPhoneIsBusyTheCallGoesToVoicemail) {
  const std::vector<Sent> phones = ring_both("1002", "z9hG4bK-busy");
  ASSERT_EQ(phones.size(), 2u);
  const std::vector<Sent> desk = receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(desk.size(), 1u);
  expect_request(desk[0], "ACK", phones[0]);
  // The last phone's 486: our ACK, and the INVITE to voicemail instead of a 486 to the caller.
  const std::vector<Sent> mobile = receive(answer(phones[1].bytes, "486 Busy Here"), kMobile);
  ASSERT_EQ(mobile.size(), 2u);
  expect_request(mobile[0], "ACK", phones[1]);
  expect_diverted(mobile[1], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "user-busy", phones);
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  EXPECT_EQ(counters_.contacts_forked.read(), 2u);
  // The mailbox answers: the caller hears it.
  expect_relayed(receive(answer(mobile[1].bytes, "180 Ringing"), kVoicemail), "180 Ringing");
  expect_relayed(receive(answer(mobile[1].bytes, "200 OK"), kVoicemail), "200 OK");
  expect_all_gone();
}

TEST_F(CallDiversionTest, PhonesRingingPastTheRingTimeoutAreCancelledAndVoicemailAnswers) {
  const std::vector<Sent> phones = ring_both("1002", "z9hG4bK-ringing");
  ASSERT_EQ(phones.size(), 2u);
  expect_relayed(receive(answer(phones[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  expect_relayed(receive(answer(phones[1].bytes, "180 Ringing"), kMobile), "180 Ringing");
  EXPECT_TRUE(tick(kStartMs + 999).empty());
  const std::vector<Sent> cancels = tick(kStartMs + 1000);
  ASSERT_EQ(cancels.size(), 2u);
  EXPECT_EQ(request_line(cancels[0].bytes).substr(0, 7), "CANCEL ");
  EXPECT_EQ(request_line(cancels[1].bytes).substr(0, 7), "CANCEL ");
  ASSERT_EQ(receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  const std::vector<Sent> last =
      receive(answer(phones[1].bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", phones[1]);
  expect_diverted(last[1], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "no-answer", phones);
  expect_relayed(receive(answer(last[1].bytes, "200 OK"), kVoicemail), "200 OK");
  expect_all_gone();
}

TEST_F(CallDiversionTest, AUserWithOnePhoneIsTrackedSoThatItsSilenceReachesVoicemail) {
  location_.replace("1002", {binding("1002", kDeskPhone, 3600)});
  request_ = invite("1002", "z9hG4bK-one");
  const std::vector<Sent> sent = receive(request_);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to(), kDeskPhone);
  EXPECT_EQ(sent[1].outcome.code, 100);
  // The phone says nothing within fork_timeout_ms.
  const std::vector<Sent> diverted = tick(kStartMs + 500);
  ASSERT_EQ(diverted.size(), 1u);
  expect_diverted(diverted[0], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "no-answer", sent);
  // Voicemail says nothing either: the caller gets our 408, and nothing goes anywhere else.
  const std::vector<Sent> answered = tick(kStartMs + 1000);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].to(), kCaller);
  EXPECT_EQ(request_line(answered[0].bytes), "SIP/2.0 408 Request Timeout");
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  expect_all_gone();
}

TEST_F(CallDiversionTest, ASerialHuntEndsAtVoicemailAfterTheLastContactRangUnanswered) {
  location_.replace("1003", {binding("1003", kLaptop, 1800), binding("1003", kDeskPhone, 3600)});
  request_ = invite("1003", "z9hG4bK-hunt");
  const std::vector<Sent> desk = receive(request_);
  ASSERT_EQ(desk.size(), 2u);
  EXPECT_EQ(desk[0].to(), kDeskPhone);
  const std::vector<Sent> laptop = receive(answer(desk[0].bytes, "486 Busy Here"), kDeskPhone);
  ASSERT_EQ(laptop.size(), 2u);
  expect_request(laptop[0], "ACK", desk[0]);
  EXPECT_EQ(laptop[1].to(), kLaptop);
  // With a fallback after it, the last contact rings for ring_timeout_ms only (not Timer C).
  expect_relayed(receive(answer(laptop[1].bytes, "180 Ringing"), kLaptop), "180 Ringing");
  const std::vector<Sent> cancel = tick(kStartMs + 1000);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].to(), kLaptop);
  EXPECT_EQ(request_line(cancel[0].bytes), "CANCEL sip:1003@192.0.2.42:5062 SIP/2.0");
  const std::vector<Sent> after =
      receive(answer(laptop[1].bytes, "487 Request Terminated"), kLaptop);
  ASSERT_EQ(after.size(), 2u);
  expect_request(after[0], "ACK", laptop[1]);
  expect_diverted(after[1], kVoicemail, "sip:1003@192.0.2.60:5090", "1003", "no-answer",
                  {desk[0], laptop[1]});
  expect_relayed(receive(answer(after[1].bytes, "200 OK"), kVoicemail), "200 OK");
  EXPECT_EQ(counters_.contacts_hunted.read(), 1u);
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
  expect_all_gone();
}

TEST_F(CallDiversionTest, WhenVoicemailIsSilentTooTheCallerGetsNoAnswerNotOurCancels487) {
  location_.replace("1003", {binding("1003", kDeskPhone, 3600)});
  const std::vector<Sent> desk = receive(invite("1003", "z9hG4bK-silent-mailbox"));
  ASSERT_EQ(desk.size(), 2u);
  expect_relayed(receive(answer(desk[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  ASSERT_EQ(tick(kStartMs + 1000).size(), 1u);  // our CANCEL at the ring timeout
  const std::vector<Sent> after =
      receive(answer(desk[0].bytes, "487 Request Terminated"), kDeskPhone);
  ASSERT_EQ(after.size(), 2u);
  expect_diverted(after[1], kVoicemail, "sip:1003@192.0.2.60:5090", "1003", "no-answer", desk);
  // Voicemail never answers (fork_timeout_ms): the caller, who cancelled nothing, gets 408.
  const std::vector<Sent> ours = tick(kStartMs + 1500);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 408 Request Timeout");
  expect_all_gone();
}

TEST_F(CallDiversionTest, ADeclineEndsTheHuntWithoutVoicemail) {
  // §16.7 step 5: no new branch after a 6xx.
  location_.replace("1003", {binding("1003", kLaptop, 1800), binding("1003", kDeskPhone, 3600)});
  const std::vector<Sent> desk = receive(invite("1003", "z9hG4bK-decline"));
  ASSERT_EQ(desk.size(), 2u);
  expect_relayed(receive(answer(desk[0].bytes, "603 Decline"), kDeskPhone), "603 Decline");
  EXPECT_EQ(counters_.calls_diverted.read(), 0u);
  expect_all_gone();
}

TEST_F(CallDiversionTest, AMessageHuntedOverThePhonesIsNotSentToVoicemail) {
  location_.replace("1003", {binding("1003", kLaptop, 1800), binding("1003", kDeskPhone, 3600)});
  const std::string message = as_method(invite("1003", "z9hG4bK-message"), "MESSAGE");
  const std::vector<Sent> desk = receive(message);
  ASSERT_EQ(desk.size(), 1u);  // no 100 for a non-INVITE (§16.2)
  EXPECT_EQ(desk[0].to(), kDeskPhone);
  const std::vector<Sent> laptop = tick(kStartMs + 500);
  ASSERT_EQ(laptop.size(), 1u);
  EXPECT_EQ(laptop[0].to(), kLaptop);
  const std::vector<Sent> ours = tick(kStartMs + 1000);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].to(), kCaller);
  EXPECT_EQ(request_line(ours[0].bytes), "SIP/2.0 408 Request Timeout");
  EXPECT_EQ(counters_.calls_diverted.read(), 0u);
  expect_all_gone();
}

TEST_F(CallDiversionTest, TheCallersCancelSendsNothingToVoicemail) {
  const std::vector<Sent> phones = ring_both("1002", "z9hG4bK-cancel");
  ASSERT_EQ(phones.size(), 2u);
  expect_relayed(receive(answer(phones[0].bytes, "180 Ringing"), kDeskPhone), "180 Ringing");
  expect_relayed(receive(answer(phones[1].bytes, "180 Ringing"), kMobile), "180 Ringing");
  const std::vector<Sent> cancelled = receive(caller_request("CANCEL"));
  ASSERT_EQ(cancelled.size(), 3u);
  EXPECT_EQ(request_line(cancelled[0].bytes), "SIP/2.0 200 OK");
  ASSERT_EQ(receive(answer(phones[0].bytes, "487 Request Terminated"), kDeskPhone).size(), 1u);
  const std::vector<Sent> last =
      receive(answer(phones[1].bytes, "487 Request Terminated"), kMobile);
  ASSERT_EQ(last.size(), 2u);
  expect_request(last[0], "ACK", phones[1]);
  EXPECT_EQ(last[1].to(), kCaller);
  EXPECT_EQ(request_line(last[1].bytes), "SIP/2.0 487 Request Terminated");
  EXPECT_EQ(counters_.calls_diverted.read(), 0u);
  expect_all_gone();
}

// A reload while the phones ring: the call's route may be another one now, so that call keeps
// no fallback (the caller gets the phones' answer); a call after the reload has it again.
TEST_F(CallDiversionTest, AReloadWhileThePhonesRingDropsThatCallsFallback) {
  std::vector<Sent> phones = ring_both("1002", "z9hG4bK-before-reload");
  ASSERT_EQ(phones.size(), 2u);
  const config::LoadResult same =
      config::load_config_text(with_local_domain(kConfig), "forking_test.toml");
  ASSERT_TRUE(same.ok());
  const std::unique_ptr<PipelineContext> reloaded =
      PipelineContext::reloaded(same.config, *context_);
  pipeline_->rebind(*reloaded);
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  const std::vector<Sent> busy = receive(answer(phones[1].bytes, "486 Busy Here"), kMobile);
  ASSERT_EQ(busy.size(), 2u);
  EXPECT_EQ(busy[1].to(), kCaller);
  EXPECT_EQ(request_line(busy[1].bytes), "SIP/2.0 486 Busy Here");
  EXPECT_EQ(counters_.calls_diverted.read(), 0u);

  request_.clear();
  location_.replace("1002", {});
  phones = ring_both("1002", "z9hG4bK-after-reload");
  ASSERT_EQ(phones.size(), 2u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  const std::vector<Sent> diverted = receive(answer(phones[1].bytes, "486 Busy Here"), kMobile);
  ASSERT_EQ(diverted.size(), 2u);
  expect_diverted(diverted[1], kVoicemail, "sip:1002@192.0.2.60:5090", "1002", "user-busy", phones);
  expect_all_gone();
}

TEST_F(CallDiversionTest, OnlyTheListedCodesDivertAndAnOperatorKeepsItsOwnUser) {
  // fallback_codes = [486]: two phones away (480) is relayed as the phone wrote it.
  std::vector<Sent> phones = ring_both("1004", "z9hG4bK-away");
  ASSERT_EQ(phones.size(), 2u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "480 Away"), kDeskPhone).size(), 1u);
  const std::vector<Sent> away = receive(answer(phones[1].bytes, "480 Away"), kMobile);
  ASSERT_EQ(away.size(), 2u);
  EXPECT_EQ(away[1].to(), kCaller);
  EXPECT_EQ(request_line(away[1].bytes), "SIP/2.0 480 Away");
  EXPECT_EQ(counters_.calls_diverted.read(), 0u);

  // Both busy: to the operator, whose URI names its own user.
  location_.replace("1004", {});
  phones = ring_both("1004", "z9hG4bK-busy-2");
  ASSERT_EQ(phones.size(), 2u);
  ASSERT_EQ(receive(answer(phones[0].bytes, "486 Busy Here"), kDeskPhone).size(), 1u);
  const std::vector<Sent> busy = receive(answer(phones[1].bytes, "486 Busy Here"), kMobile);
  ASSERT_EQ(busy.size(), 2u);
  expect_diverted(busy[1], kOperator, "sip:operator@192.0.2.61:5060", "1004", "user-busy", phones);
  EXPECT_EQ(counters_.calls_diverted.read(), 1u);
}

}  // namespace
}  // namespace sipline::dataplane

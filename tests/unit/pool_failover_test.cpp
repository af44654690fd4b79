// Per-call failover of a server pool (dataplane/pool_failover.cpp) on byte buffers: the
// pipeline with a real config and its transaction table, driven message by message and clock
// tick by clock tick; every assertion is on the bytes it writes and where they go.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/branch.hpp"
#include "sip/digest.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"
#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kStartMs = 5'000'000;

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local", "127.0.0.1"]
[registrar]
store = "memory"
[limits]
transaction_table_size = 1024
[[pools]]
name = "pbx"
members = ["sip:192.0.2.21:5060", "sip:192.0.2.22:5060", "sip:192.0.2.23:5060"]
probe_interval = 0
failover = true
failover_codes = [503]
failover_timeout_ms = 500
[[pools]]
name = "plain"
members = ["sip:192.0.2.31:5060", "sip:192.0.2.32:5060"]
probe_interval = 0
[[routes]]
name = "to-pbx"
user_prefix = "8"
action = "forward"
pool = "pbx"
[[routes]]
name = "to-plain"
user_prefix = "9"
action = "forward"
pool = "plain"
[[routes]]
name = "to-pbx-e164"
user_prefix = "+44"
strip = 3
action = "forward"
pool = "pbx"
)toml";

// kConfig with `from` (which it must hold) replaced by `to`.
std::string config_with(std::string_view from, std::string_view to) {
  std::string text(kConfig);
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string invite(std::string_view user, std::string_view branch, std::string_view call_id) {
  return "INVITE sip:" + std::string(user) + "@sipline.local SIP/2.0\r\n" +
         "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=" + std::string(branch) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=from-1\r\n"
         "To: <sip:" +
         std::string(user) + "@sipline.local>\r\n" + "Call-ID: " + std::string(call_id) +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:1001@192.0.2.10:5099>\r\n"
         "Content-Length: 0\r\n\r\n";
}

// The caller's request for the same transaction: CANCEL (or ACK, with the To tag of the
// final answer), same branch (§9.1, §17.1.1.3).
std::string same_transaction(std::string request, std::string_view method, std::string_view tag) {
  request.replace(0, 6, method);
  const std::size_t cseq = request.find("CSeq: 1 INVITE");
  request.replace(cseq, 14, "CSeq: 1 " + std::string(method));
  if (!tag.empty()) {
    const std::size_t to_end = request.find("\r\n", request.find("To: "));
    request.insert(to_end, ";tag=" + std::string(tag));
  }
  return request;
}

// A member's answer to the request it received (`forwarded`): its Via lines kept, a To tag
// added for anything above 100.
std::string answer(const std::string& forwarded, std::string_view status) {
  std::string response = forwarded;
  response.replace(0, response.find("\r\n"), "SIP/2.0 " + std::string(status));
  if (status.substr(0, 3) != "100") {
    const std::size_t to_end = response.find("\r\n", response.find("To: "));
    response.insert(to_end, ";tag=member-tag");
  }
  return response;
}

std::string top_branch(const std::string& message) {
  const std::size_t start = message.find("branch=") + 7;
  return message.substr(start, message.find_first_of(";\r", start) - start);
}

using forking_test::Sent;

class PoolFailoverTest : public forking_test::ForkingPipeline {
 protected:
  explicit PoolFailoverTest(std::string_view config_text = kConfig) : ForkingPipeline(config_text) {
    tick(kStartMs);
  }

  // A new INVITE: forwarded to a member, and (when tracked) answered 100 Trying by us at
  // once (§17.2.1). Returns the forwarded INVITE.
  Sent send_invite(const std::string& text, bool tracked = true) {
    const std::vector<Sent> sent = receive(text);
    EXPECT_EQ(sent.size(), tracked ? 2u : 1u);
    EXPECT_EQ(sent[0].outcome.verdict, Verdict::Send);
    EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedRequest);
    if (tracked && sent.size() == 2) expect_trying(sent[1]);
    return sent[0];
  }

  static void expect_trying(const Sent& sent) {
    EXPECT_EQ(sent.outcome.kind, SendKind::LocalResponse);
    EXPECT_EQ(sent.outcome.code, 100);
    EXPECT_EQ(sent.to(), "192.0.2.10:5099");
    EXPECT_EQ(sent.bytes.rfind("SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 192.0.2.10:5099;", 0), 0u);
  }

  std::string branch_text(std::uint64_t transaction) const {
    return std::string(sip::signed_branch(transaction, context_->identity.branch_key).view());
  }
};

TEST_F(PoolFailoverTest, A503IsAckedAndTheInviteGoesToAnotherMemberWithANewBranch) {
  const std::string request = invite("8000", "z9hG4bK-call1", "call-1@192.0.2.10");
  const Sent first = send_invite(request);
  EXPECT_EQ(counters_.failover_tracked.read(), 1u);
  ASSERT_NE(pipeline_->transactions(), nullptr);
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
  // The first attempt carries the stateless branch: without the entry it would be the same.
  const sip::Message parsed = sip::parse_message(request);
  EXPECT_EQ(top_branch(first.bytes),
            std::string(sip::stateless_branch(parsed, context_->identity.branch_key).view()));

  const std::vector<Sent> after_503 =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(after_503.size(), 2u);
  // §17.1.1.3: our ACK to the member, on the INVITE's branch, with the 503's To tag.
  const Sent& ack = after_503[0];
  ASSERT_EQ(ack.outcome.verdict, Verdict::Send);
  EXPECT_EQ(ack.to(), first.to());
  EXPECT_EQ(ack.bytes,
            "ACK sip:8000@sipline.local SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" +
                top_branch(first.bytes) +
                ";rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:1001@sipline.local>;tag=from-1\r\n"
                "To: <sip:8000@sipline.local>;tag=member-tag\r\n"
                "Call-ID: call-1@192.0.2.10\r\n"
                "CSeq: 1 ACK\r\n"
                "Content-Length: 0\r\n\r\n");
  // Then the INVITE to another member, a new client transaction (new branch, still ours).
  const Sent& second = after_503[1];
  ASSERT_EQ(second.outcome.verdict, Verdict::Send);
  EXPECT_EQ(second.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_NE(second.to(), first.to());
  EXPECT_NE(top_branch(second.bytes), top_branch(first.bytes));
  EXPECT_TRUE(sip::branch_is_ours(top_branch(second.bytes), context_->identity.branch_key));
  // The same request otherwise: the caller's Via (stamped) and everything below it.
  EXPECT_EQ(second.bytes.substr(second.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")),
            first.bytes.substr(first.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")));
  EXPECT_EQ(counters_.failover_retries.read(), 1u);
  EXPECT_EQ(counters_.acks_sent.read(), 1u);

  // The second member's 200 goes to the caller and ends the transaction.
  const std::vector<Sent> after_200 = receive(answer(second.bytes, "200 OK"), second.to());
  ASSERT_EQ(after_200.size(), 1u);
  EXPECT_EQ(after_200[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(after_200[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(after_200[0].bytes.rfind("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5099;", 0), 0u);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
}

// A route's number translation holds for the whole transaction: the INVITE to each member,
// our ACK to a member's 503, the caller's CANCEL (whose Request-URI is the one dialled) and
// the INVITE again after a timeout all carry the translated Request-URI (§9.1, §17.1.1.3).
TEST_F(PoolFailoverTest, TheTranslatedRequestUriGoesToEveryMember) {
  const std::string request = invite("+448000", "z9hG4bK-e164", "call-e164@192.0.2.10");
  const Sent first = send_invite(request);
  EXPECT_EQ(first.bytes.rfind("INVITE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(first.bytes.find("\r\nTo: <sip:+448000@sipline.local>\r\n"), std::string::npos);
  const std::vector<Sent> after_503 =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(after_503.size(), 2u);
  EXPECT_EQ(after_503[0].bytes.rfind("ACK sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  const Sent& second = after_503[1];
  EXPECT_EQ(second.bytes.rfind("INVITE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  // Silent: the third member gets it, translated, from the stored INVITE.
  const std::vector<Sent> third = tick(kStartMs + 500);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].bytes.rfind("INVITE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  // It rings (its stored INVITE goes back), then the caller cancels: we answer the CANCEL
  // and send our own to the member (§16.10), with the Request-URI it got.
  receive(answer(third[0].bytes, "180 Ringing"), third[0].to());
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
  const std::vector<Sent> cancelled = receive(same_transaction(request, "CANCEL", ""));
  ASSERT_EQ(cancelled.size(), 2u);
  EXPECT_EQ(cancelled[0].outcome.code, 200);
  const Sent& cancel = cancelled[1];
  EXPECT_EQ(cancel.to(), third[0].to());
  EXPECT_EQ(cancel.bytes.rfind("CANCEL sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(top_branch(cancel.bytes), top_branch(third[0].bytes));
}

TEST_F(PoolFailoverTest, NoAnswerWithinTheTimeoutSendsTheInviteToTheNextMember) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-call2", "call-2@192.0.2.10"));
  EXPECT_TRUE(tick(kStartMs + 499).empty());
  const std::vector<Sent> retry = tick(kStartMs + 500);
  ASSERT_EQ(retry.size(), 1u);  // no ACK: nothing answered
  EXPECT_EQ(retry[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_NE(retry[0].to(), first.to());
  EXPECT_EQ(retry[0].bytes.rfind("INVITE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(counters_.failover_timeouts.read(), 1u);
  EXPECT_EQ(counters_.failover_retries.read(), 1u);

  // A 100 from it stops the timer: no third attempt however long it rings. It is not passed
  // on (§16.7 step 5): the caller has ours.
  const Outcome trying = receive(answer(retry[0].bytes, "100 Trying"), retry[0].to())[0].outcome;
  EXPECT_EQ(trying.verdict, Verdict::Absorbed);
  EXPECT_EQ(trying.absorb, Absorb::Trying);
  WorkerCounters counted;
  count_unsent(trying, counted);
  EXPECT_EQ(counted.trying_absorbed.read(), 1u);
  EXPECT_EQ(counted.acks_absorbed.read(), 0u);
  EXPECT_TRUE(tick(kStartMs + 10'000).empty());
  EXPECT_EQ(counters_.failover_retries.read(), 1u);
}

TEST_F(PoolFailoverTest, WhenEveryMemberFailedTheLastAnswerGoesToTheCaller) {
  const std::string request = invite("8000", "z9hG4bK-call3", "call-3@192.0.2.10");
  Sent attempt = send_invite(request);
  std::set<std::string> members{attempt.to()};
  for (int i = 0; i < 2; ++i) {
    const std::vector<Sent> sent = receive(answer(attempt.bytes, "503 Busy Here"), attempt.to());
    ASSERT_EQ(sent.size(), 2u);
    attempt = sent[1];
    members.insert(attempt.to());
  }
  EXPECT_EQ(members.size(), 3u);  // each member once
  const std::vector<Sent> last = receive(answer(attempt.bytes, "503 Busy Here"), attempt.to());
  // The 503 to the caller, as 500 (§16.7 step 6), the rest as the member wrote it, and
  // nothing from us to the member: the caller's ACK will be.
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[0].to(), "192.0.2.10:5099");
  const std::string member_answer = answer(attempt.bytes, "503 Busy Here");
  const std::size_t caller_via = member_answer.find("Via: SIP/2.0/UDP 192.0.2.10:5099");
  EXPECT_EQ(last[0].bytes,
            "SIP/2.0 500 Server Internal Error\r\n" + member_answer.substr(caller_via));
  EXPECT_EQ(counters_.failover_exhausted.read(), 1u);
  EXPECT_EQ(counters_.acks_sent.read(), 2u);  // for the two 503s that failed over

  // The member's retransmitted 503 (the ACK not there yet) reaches the caller again: a 503
  // lost on the way to the caller is sent again, by the member.
  const std::vector<Sent> again = receive(answer(attempt.bytes, "503 Busy Here"), attempt.to());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(again[0].bytes, last[0].bytes);
  // The caller's ACK goes on to the last member, on the branch that member's INVITE had.
  const std::vector<Sent> caller_ack = receive(same_transaction(request, "ACK", "member-tag"));
  ASSERT_EQ(caller_ack.size(), 1u);
  EXPECT_EQ(caller_ack[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(caller_ack[0].to(), attempt.to());
  EXPECT_EQ(top_branch(caller_ack[0].bytes), top_branch(attempt.bytes));
  EXPECT_NE(caller_ack[0].bytes.find("\r\nTo: <sip:8000@sipline.local>;tag=member-tag\r\n"),
            std::string::npos);
  // Timer D: then the entry is gone.
  EXPECT_TRUE(tick(kStartMs + 32'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

TEST_F(PoolFailoverTest, NoAnswerFromAnyMemberIs408ToTheCaller) {
  send_invite(invite("8000", "z9hG4bK-call4", "call-4@192.0.2.10"));
  EXPECT_EQ(tick(kStartMs + 500).size(), 1u);
  EXPECT_EQ(tick(kStartMs + 1000).size(), 1u);
  const std::vector<Sent> timeout = tick(kStartMs + 1500);
  ASSERT_EQ(timeout.size(), 1u);
  EXPECT_EQ(timeout[0].outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(timeout[0].outcome.code, 408);
  EXPECT_EQ(timeout[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(timeout[0].bytes.rfind("SIP/2.0 408 Request Timeout\r\n", 0), 0u);
  EXPECT_EQ(counters_.failover_timeouts.read(), 3u);
  EXPECT_EQ(counters_.failover_exhausted.read(), 1u);
}

TEST_F(PoolFailoverTest, RingingEndsFailoverAndTheLater503GoesToTheCaller) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-call5", "call-5@192.0.2.10"));
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 1u);
  EXPECT_EQ(receive(answer(first.bytes, "180 Ringing"), first.to())[0].outcome.kind,
            SendKind::ForwardedResponse);
  // It can no longer fail over: its stored INVITE goes back (the entry stays, for the ACK of
  // a final answer and for CANCEL, with the Request-URI kept beside it).
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
  const std::vector<Sent> sent =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(sent.size(), 1u);  // relayed; the caller's ACK goes to the member
  EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedResponse);
  // §16.7 step 6: a stateful proxy passes a 503 on as 500 (the member is unavailable, not
  // the proxy: the caller must not keep away from us, §21.5.4).
  EXPECT_EQ(sent[0].bytes.rfind("SIP/2.0 500 Server Internal Error\r\nVia: SIP/2.0/UDP "
                                "192.0.2.10:5099;branch=z9hG4bK-call5;rport",
                                0),
            0u);
  EXPECT_EQ(counters_.failover_retries.read(), 0u);
}

TEST_F(PoolFailoverTest, EachProvisionalAbove100ResetsTimerC) {
  const std::string request = invite("8000", "z9hG4bK-call5c", "call-5c@192.0.2.10");
  const Sent first = send_invite(request);
  receive(answer(first.bytes, "180 Ringing"), first.to());
  // Still ringing 100 s later (a 183 with early media): Timer C starts again (§16.7 step 2).
  tick(kStartMs + 100'000);
  receive(answer(first.bytes, "183 Session Progress"), first.to());
  EXPECT_TRUE(tick(kStartMs + 180'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);  // 180 s after the 180, 80 after the 183
  // The callee declines after 200 s: relayed, and the caller's ACK still goes to the member
  // on the attempt's branch, hop by hop (§17.1.1.3), not on a stateless one.
  tick(kStartMs + 200'000);
  const std::vector<Sent> declined = receive(answer(first.bytes, "486 Busy Here"), first.to());
  ASSERT_EQ(declined.size(), 1u);
  EXPECT_EQ(declined[0].outcome.kind, SendKind::ForwardedResponse);
  const std::vector<Sent> caller_ack = receive(same_transaction(request, "ACK", "member-tag"));
  ASSERT_EQ(caller_ack.size(), 1u);
  EXPECT_EQ(caller_ack[0].to(), first.to());
  EXPECT_EQ(top_branch(caller_ack[0].bytes), top_branch(first.bytes));
}

// The first Via line of a message ("Via: ..." without its CRLF).
std::string first_via_line(const std::string& message) {
  const std::size_t start = message.find("\r\nVia: ") + 2;
  return message.substr(start, message.find("\r\n", start) - start);
}

TEST_F(PoolFailoverTest, TimerCCancelsARingingCallAndTheCallerGetsThe487) {
  const std::string request = invite("8000", "z9hG4bK-call5d", "call-5d@192.0.2.10");
  const Sent first = send_invite(request);
  receive(answer(first.bytes, "180 Ringing"), first.to());
  EXPECT_TRUE(tick(kStartMs + 179'999).empty());
  // §16.8: Timer C ran out after a provisional: our CANCEL to the member, matching the
  // INVITE it got (our Via with the attempt's branch; To without the callee's tag, §9.1).
  const std::vector<Sent> cancel = tick(kStartMs + 180'000);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(cancel[0].to(), first.to());
  EXPECT_EQ(cancel[0].bytes, "CANCEL sip:8000@sipline.local SIP/2.0\r\n" +
                                 first_via_line(first.bytes) +
                                 "\r\nMax-Forwards: 70\r\n"
                                 "From: <sip:1001@sipline.local>;tag=from-1\r\n"
                                 "To: <sip:8000@sipline.local>\r\n"
                                 "Call-ID: call-5d@192.0.2.10\r\n"
                                 "CSeq: 1 CANCEL\r\n"
                                 "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
  EXPECT_EQ(counters_.timer_c_fired.read(), 1u);
  // Timer E: again after T1, then 2 T1 (§17.1.2.2), byte for byte.
  EXPECT_TRUE(tick(kStartMs + 180'499).empty());
  const std::vector<Sent> again = tick(kStartMs + 180'500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, cancel[0].bytes);
  EXPECT_TRUE(tick(kStartMs + 181'499).empty());
  EXPECT_EQ(tick(kStartMs + 181'500).size(), 1u);
  // The member's 200 for our CANCEL (its only Via ours): the answer to our own request,
  // absorbed (not the prober's).
  const std::vector<Sent> cancel_ok = receive(answer(cancel[0].bytes, "200 OK"), first.to());
  ASSERT_EQ(cancel_ok.size(), 1u);
  EXPECT_EQ(cancel_ok[0].outcome.verdict, Verdict::Absorbed);
  EXPECT_EQ(cancel_ok[0].outcome.absorb, Absorb::CancelAnswer);
  // The member's 487 ends it: relayed to the caller, no more CANCELs, and the caller's ACK
  // goes to the member on the attempt's branch.
  const std::vector<Sent> terminated =
      receive(answer(first.bytes, "487 Request Terminated"), first.to());
  ASSERT_EQ(terminated.size(), 1u);
  EXPECT_EQ(terminated[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(terminated[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(terminated[0].bytes.rfind("SIP/2.0 487 ", 0), 0u);
  EXPECT_TRUE(tick(kStartMs + 190'000).empty());
  const std::vector<Sent> caller_ack = receive(same_transaction(request, "ACK", "member-tag"));
  ASSERT_EQ(caller_ack.size(), 1u);
  EXPECT_EQ(caller_ack[0].to(), first.to());
  EXPECT_EQ(top_branch(caller_ack[0].bytes), top_branch(first.bytes));
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
  EXPECT_EQ(counters_.cancels_unsent.read(), 0u);
}

TEST_F(PoolFailoverTest, TheCallersCancelIsAnsweredAndOursWaitsForAProvisional) {
  const std::string request = invite("8000", "z9hG4bK-call5g", "call-5g@192.0.2.10");
  const Sent first = send_invite(request);
  // §16.10: the proxy answers the CANCEL itself; the member has not answered the INVITE, so
  // our CANCEL waits (§9.1), and so does its retransmission.
  const std::string caller_cancel = same_transaction(request, "CANCEL", "");
  for (int copy = 0; copy < 2; ++copy) {
    const std::vector<Sent> answered = receive(caller_cancel);
    ASSERT_EQ(answered.size(), 1u);
    EXPECT_EQ(answered[0].outcome.kind, SendKind::LocalResponse);
    EXPECT_EQ(answered[0].outcome.code, 200);
    EXPECT_EQ(answered[0].to(), "192.0.2.10:5099");
    EXPECT_NE(answered[0].bytes.find("\r\nCSeq: 1 CANCEL\r\n"), std::string::npos);
  }
  EXPECT_EQ(counters_.cancels_sent.read(), 0u);
  // The member rings: its 180 goes to the caller, and our CANCEL to the member at once.
  const std::vector<Sent> ringing = receive(answer(first.bytes, "180 Ringing"), first.to());
  ASSERT_EQ(ringing.size(), 2u);
  EXPECT_EQ(ringing[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(ringing[0].to(), "192.0.2.10:5099");
  const Sent& cancel = ringing[1];
  EXPECT_EQ(cancel.to(), first.to());
  EXPECT_EQ(cancel.bytes, "CANCEL sip:8000@sipline.local SIP/2.0\r\n" +
                              first_via_line(first.bytes) +
                              "\r\nMax-Forwards: 70\r\n"
                              "From: <sip:1001@sipline.local>;tag=from-1\r\n"
                              "To: <sip:8000@sipline.local>\r\n"
                              "Call-ID: call-5g@192.0.2.10\r\n"
                              "CSeq: 1 CANCEL\r\n"
                              "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
  // Another 180 and the caller's CANCEL again: no second CANCEL of ours, and the 180 does
  // not stop Timer E (it restarts Timer C only before our CANCEL).
  EXPECT_EQ(receive(answer(first.bytes, "180 Ringing"), first.to()).size(), 1u);
  EXPECT_EQ(receive(caller_cancel).size(), 1u);
  const std::vector<Sent> again = tick(kStartMs + 500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, cancel.bytes);
  // Its answer is absorbed; the 487 goes to the caller and ends Timer E.
  const std::vector<Sent> cancel_ok = receive(answer(cancel.bytes, "200 OK"), first.to());
  EXPECT_EQ(cancel_ok[0].outcome.absorb, Absorb::CancelAnswer);
  const std::vector<Sent> terminated =
      receive(answer(first.bytes, "487 Request Terminated"), first.to());
  ASSERT_EQ(terminated.size(), 1u);
  EXPECT_EQ(terminated[0].to(), "192.0.2.10:5099");
  EXPECT_TRUE(tick(kStartMs + 10'000).empty());
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
  EXPECT_EQ(counters_.timer_c_fired.read(), 0u);
}

TEST_F(PoolFailoverTest, TimerCAfterAMembers100AloneCancelsToo) {
  // A 100 is a provisional answer too (§16.8): the member got the INVITE and went quiet.
  const Sent first = send_invite(invite("8000", "z9hG4bK-call5e", "call-5e@192.0.2.10"));
  receive(answer(first.bytes, "100 Trying"), first.to());
  const std::vector<Sent> cancel = tick(kStartMs + 180'000);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].bytes.rfind("CANCEL sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(cancel[0].bytes.find("\r\nTo: <sip:8000@sipline.local>\r\n"), std::string::npos);
  EXPECT_EQ(top_branch(cancel[0].bytes), top_branch(first.bytes));
  // No answer at all: Timer E's copies (T1, 2 T1, then T2 apart) until Timer F, 64 T1 after
  // the first; then the entry goes and the call goes on statelessly.
  std::size_t copies = 0;
  for (std::int64_t at = 180'500; at < 212'000; at += 500) {
    copies += tick(kStartMs + at).size();
  }
  EXPECT_EQ(copies, 10u);  // +0.5, +1.5, +3.5, +7.5, +11.5, ... +31.5 s
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
  EXPECT_TRUE(tick(kStartMs + 212'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
}

TEST_F(PoolFailoverTest, AFailedOverCallCancelsTheMemberThatRang) {
  // The first member answered 100 then 503: the CANCEL it would have got is not the next
  // member's; the next member rings, and Timer C cancels that attempt.
  const Sent first = send_invite(invite("8000", "z9hG4bK-call5f", "call-5f@192.0.2.10"));
  receive(answer(first.bytes, "100 Trying"), first.to());
  const std::vector<Sent> failed =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(failed.size(), 2u);  // our ACK, then the INVITE to the next member
  const Sent second = failed[1];
  ASSERT_NE(second.to(), first.to());
  receive(answer(second.bytes, "180 Ringing"), second.to());
  const std::vector<Sent> cancel = tick(kStartMs + 180'000);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].to(), second.to());
  EXPECT_EQ(first_via_line(cancel[0].bytes), first_via_line(second.bytes));
}

TEST_F(PoolFailoverTest, RingingCallsGiveTheirStoredInviteBack) {
  // The stored-request slots (128 of the 1024-entry table) bound what can fail over; a call
  // that rings gives its slot back, so ringing calls do not use them up.
  for (std::size_t i = 0; i < 200; ++i) {
    const std::string id = std::to_string(i);
    const Sent sent = send_invite(invite("8000", "z9hG4bK-ring" + id, "ring-" + id + "@h"));
    receive(answer(sent.bytes, "180 Ringing"), sent.to());
  }
  EXPECT_EQ(counters_.failover_tracked.read(), 200u);
  EXPECT_EQ(counters_.failover_untracked.read(), 0u);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
  EXPECT_EQ(pipeline_->transactions()->size(), 200u);
}

TEST_F(PoolFailoverTest, RetransmissionCancelAndLateAnswersFollowTheCurrentAttempt) {
  const std::string request = invite("8000", "z9hG4bK-call6", "call-6@192.0.2.10");
  const Sent first = send_invite(request);
  const Sent second = tick(kStartMs + 500).at(0);
  // The caller's retransmission is answered 100 again; the member already has the INVITE.
  const std::vector<Sent> retransmission = receive(request);
  ASSERT_EQ(retransmission.size(), 1u);
  expect_trying(retransmission[0]);
  // A late 100 from the first member: dropped; its late 503: ACKed, not relayed.
  const std::vector<Sent> late_trying = receive(answer(first.bytes, "100 Trying"), first.to());
  EXPECT_EQ(late_trying[0].outcome.verdict, Verdict::Drop);
  EXPECT_EQ(late_trying[0].outcome.drop, DropReason::FailedOver);
  const std::vector<Sent> late_503 =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(late_503.size(), 1u);
  EXPECT_EQ(late_503[0].bytes.rfind("ACK ", 0), 0u);
  EXPECT_EQ(late_503[0].to(), first.to());
  EXPECT_EQ(top_branch(late_503[0].bytes), top_branch(first.bytes));
  // CANCEL: answered by us (§16.10); ours to the second member waits for its provisional
  // answer (§9.1: it would overtake the INVITE); failover ends with it.
  const std::vector<Sent> cancelled = receive(same_transaction(request, "CANCEL", ""));
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].outcome.code, 200);
  EXPECT_EQ(cancelled[0].to(), "192.0.2.10:5099");
  // The second member does not answer either: no third attempt after a CANCEL; the caller
  // gets 487 for its INVITE (§9.2), with the INVITE's CSeq.
  const std::vector<Sent> terminated = tick(kStartMs + 1000);
  ASSERT_EQ(terminated.size(), 1u);
  EXPECT_EQ(terminated[0].outcome.code, 487);
  EXPECT_EQ(terminated[0].to(), "192.0.2.10:5099");
  EXPECT_NE(terminated[0].bytes.find("\r\nCSeq: 1 INVITE\r\n"), std::string::npos);
  EXPECT_EQ(counters_.failover_retries.read(), 1u);
  EXPECT_EQ(counters_.failover_exhausted.read(), 0u);
  // The caller stopped retransmitting at our 100, so our 487 goes again until its ACK
  // (Timer G, §17.2.1): after T1, then 2 T1, byte for byte.
  EXPECT_TRUE(tick(kStartMs + 1499).empty());
  const std::vector<Sent> again = tick(kStartMs + 1500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, terminated[0].bytes);
  EXPECT_EQ(again[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(tick(kStartMs + 2500).size(), 1u);
  EXPECT_EQ(counters_.answers_retransmitted.read(), 2u);
  // A late final answer from the second member: ACKed by us, not relayed.
  const std::vector<Sent> late_487 =
      receive(answer(second.bytes, "487 Request Terminated"), second.to());
  ASSERT_EQ(late_487.size(), 1u);
  EXPECT_EQ(late_487[0].bytes.rfind("ACK ", 0), 0u);
  EXPECT_EQ(late_487[0].to(), second.to());
  // The caller's ACK (our To tag) stops Timer G; the entry goes at Timer H's end.
  const std::string our_tag = terminated[0].bytes.substr(
      terminated[0].bytes.find(";tag=", terminated[0].bytes.find("\r\nTo: ")) + 5, 18);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 1u);  // our 487 is written from it
  EXPECT_EQ(receive(same_transaction(request, "ACK", our_tag))[0].outcome.verdict,
            Verdict::Absorbed);
  EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
  EXPECT_TRUE(tick(kStartMs + 1000 + 31'999).empty());
  EXPECT_EQ(counters_.answers_retransmitted.read(), 2u);
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
  EXPECT_TRUE(tick(kStartMs + 1000 + 32'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

TEST_F(PoolFailoverTest, APoolWithoutFailoverStaysStateless) {
  const Sent sent = send_invite(invite("9000", "z9hG4bK-call7", "call-7@192.0.2.10"), false);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  const std::vector<Sent> relayed =
      receive(answer(sent.bytes, "503 Service Unavailable"), sent.to());
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(relayed[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(counters_.failover_tracked.read(), 0u);
}

TEST_F(PoolFailoverTest, AFullTableForwardsStatelesslyAndCountsIt) {
  // 1024 entries (the smallest table) keep 128 requests: the 129th call is not tracked.
  const std::size_t slots = 128;
  for (std::size_t i = 0; i <= slots; ++i) {
    const std::string id = std::to_string(i);
    send_invite(invite("8000", "z9hG4bK-full" + id, "full-" + id + "@192.0.2.10"), i < slots);
  }
  EXPECT_EQ(counters_.failover_tracked.read(), slots);
  EXPECT_EQ(counters_.failover_untracked.read(), 1u);
  EXPECT_EQ(pipeline_->transactions()->size(), slots);
}

// A reload that changes the pools: member indices may name other members now, so the calls
// being set up go on without failover; a reload that leaves the pools alone changes nothing.
TEST_F(PoolFailoverTest, AReloadThatChangesThePoolsEndsFailoverForCallsInProgress) {
  const Sent kept = send_invite(invite("8000", "z9hG4bK-reload1", "reload-1@192.0.2.10"));
  const Sent ended = send_invite(invite("8000", "z9hG4bK-reload2", "reload-2@192.0.2.10"));

  const config::LoadResult same = config::load_config_text(kConfig, "failover_test.toml");
  ASSERT_TRUE(same.ok());
  const std::unique_ptr<PipelineContext> unchanged =
      PipelineContext::reloaded(same.config, *context_);
  pipeline_->rebind(*unchanged);
  const std::vector<Sent> failed_over =
      receive(answer(kept.bytes, "503 Service Unavailable"), kept.to());
  ASSERT_EQ(failed_over.size(), 2u);  // our ACK, then the next member
  EXPECT_EQ(failed_over[1].outcome.kind, SendKind::ForwardedRequest);

  std::string changed_text(kConfig);
  changed_text.replace(changed_text.find("sip:192.0.2.23:5060"), 19, "sip:192.0.2.24:5060");
  const config::LoadResult changed = config::load_config_text(changed_text, "failover_test.toml");
  ASSERT_TRUE(changed.ok());
  const std::unique_ptr<PipelineContext> other =
      PipelineContext::reloaded(changed.config, *unchanged);
  pipeline_->rebind(*other);
  const std::vector<Sent> relayed =
      receive(answer(ended.bytes, "503 Service Unavailable"), ended.to());
  ASSERT_EQ(relayed.size(), 1u);  // the 503 to the caller, whose ACK goes to the member
  EXPECT_EQ(relayed[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(relayed[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(counters_.failover_retries.read(), 1u);

  // A new call after the reload fails over among the new members.
  const Sent fresh = send_invite(invite("8000", "z9hG4bK-reload3", "reload-3@192.0.2.10"));
  EXPECT_EQ(receive(answer(fresh.bytes, "503 Service Unavailable"), fresh.to()).size(), 2u);
  EXPECT_EQ(counters_.failover_retries.read(), 2u);
}

TEST_F(PoolFailoverTest, AnInviteTooLargeToKeepIsForwardedStatelessly) {
  std::string large = invite("8000", "z9hG4bK-large", "large@192.0.2.10");
  large.insert(
      large.find("Content-Length"),
      "X-Padding: " + std::string(sip::TransactionTable::kStoredRequestSize, 'p') + "\r\n");
  const Sent sent = send_invite(large, false);  // no 100 Trying: nothing to track
  EXPECT_EQ(counters_.failover_untracked.read(), 1u);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
  const std::vector<Sent> relayed =
      receive(answer(sent.bytes, "503 Service Unavailable"), sent.to());
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(relayed[0].outcome.kind, SendKind::ForwardedResponse);
}

// A non-INVITE (MESSAGE): no 100 from us (§16.2), no ACK; a 503 sends it on at once.
TEST_F(PoolFailoverTest, ANonInviteFailsOverWithoutAckOr100) {
  const std::string message =
      same_transaction(invite("8000", "z9hG4bK-msg1", "msg-1@192.0.2.10"), "MESSAGE", "");
  const Sent first = send_invite(message, false);
  EXPECT_EQ(first.bytes.rfind("MESSAGE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(counters_.failover_tracked.read(), 1u);
  const std::vector<Sent> after_503 =
      receive(answer(first.bytes, "503 Service Unavailable"), first.to());
  ASSERT_EQ(after_503.size(), 1u);  // the MESSAGE to the next member, nothing else
  const Sent& second = after_503[0];
  EXPECT_EQ(second.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(second.bytes.rfind("MESSAGE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(second.to(), first.to());
  EXPECT_NE(top_branch(second.bytes), top_branch(first.bytes));
  EXPECT_EQ(counters_.acks_sent.read(), 0u);
  // The caller's retransmission goes on to the current member, on its branch.
  const Sent again = receive(message).at(0);
  EXPECT_EQ(again.to(), second.to());
  EXPECT_EQ(top_branch(again.bytes), top_branch(second.bytes));
  // No answer from it either: the third member; then its 200 ends the transaction.
  const std::vector<Sent> third = tick(kStartMs + 500);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].bytes.rfind("MESSAGE ", 0), 0u);
  const std::vector<Sent> ok = receive(answer(third[0].bytes, "200 OK"), third[0].to());
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(ok[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

TEST_F(PoolFailoverTest, ANonInviteThatEveryMemberFailsGetsTheLastAnswerAndNoAck) {
  const std::string message =
      same_transaction(invite("8000", "z9hG4bK-msg2", "msg-2@192.0.2.10"), "MESSAGE", "");
  Sent attempt = send_invite(message, false);
  for (int i = 0; i < 2; ++i) {
    const std::vector<Sent> sent = receive(answer(attempt.bytes, "503 Busy"), attempt.to());
    ASSERT_EQ(sent.size(), 1u);
    attempt = sent[0];
  }
  const std::vector<Sent> last = receive(answer(attempt.bytes, "503 Busy"), attempt.to());
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(last[0].bytes.rfind("SIP/2.0 500 Server Internal Error\r\n", 0), 0u);  // §16.7 step 6
  EXPECT_EQ(counters_.failover_exhausted.read(), 1u);
  EXPECT_EQ(counters_.acks_sent.read(), 0u);
  // Timer K (5 s) ends it.
  EXPECT_TRUE(tick(kStartMs + 5'000).empty());
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

// A peer that reuses an INVITE's branch for another request: that one is not this
// transaction's (§17.2.3 matches the method too), and it is forwarded untracked.
TEST_F(PoolFailoverTest, ARequestReusingATrackedBranchIsForwardedUntracked) {
  const std::string request = invite("8000", "z9hG4bK-reused", "reused@192.0.2.10");
  send_invite(request);
  const std::vector<Sent> sent = receive(same_transaction(request, "MESSAGE", ""));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(sent[0].bytes.rfind("MESSAGE ", 0), 0u);
  EXPECT_EQ(counters_.failover_untracked.read(), 1u);
  EXPECT_EQ(pipeline_->transactions()->size(), 1u);
}

// A BYE (in-dialog, To tag) to the pool is not tracked, whatever the table holds.
TEST_F(PoolFailoverTest, InDialogRequestsAreNotTracked) {
  send_invite(invite("8000", "z9hG4bK-dlg", "dlg@192.0.2.10"));
  std::string bye =
      same_transaction(invite("8000", "z9hG4bK-bye", "dlg@192.0.2.10"), "BYE", "member-tag");
  bye.replace(0, bye.find(" SIP/2.0"), "BYE sip:8000@192.0.2.21:5060");  // the member's Contact
  const std::vector<Sent> sent = receive(bye);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(counters_.failover_tracked.read(), 1u);
}

// failover_timeout_ms = 2000, longer than T1 (500 ms): an INVITE the member has not answered
// is sent to it again before the proxy gives up on it (Timer A, RFC 3261 §17.1.1.2).
class RetransmittingFailoverTest : public PoolFailoverTest {
 protected:
  RetransmittingFailoverTest()
      : PoolFailoverTest(config_with("failover_timeout_ms = 500", "failover_timeout_ms = 2000")) {}
};

// A pool with its own Timer C (`timer_c_ms`): a no-answer policy shorter than the RFC's.
class PoolTimerCTest : public PoolFailoverTest {
 protected:
  PoolTimerCTest()
      : PoolFailoverTest(config_with("failover_timeout_ms = 500",
                                     "failover_timeout_ms = 500\ntimer_c_ms = 5000")) {}
};

TEST_F(PoolTimerCTest, ThePoolsTimerCIsTheOneThatCancels) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-short1", "short-1@192.0.2.10"));
  receive(answer(first.bytes, "180 Ringing"), first.to());
  EXPECT_TRUE(tick(kStartMs + 4'999).empty());
  const std::vector<Sent> cancel = tick(kStartMs + 5'000);
  ASSERT_EQ(cancel.size(), 1u);
  EXPECT_EQ(cancel[0].bytes.rfind("CANCEL sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(cancel[0].to(), first.to());
  EXPECT_EQ(counters_.cancels_sent.read(), 1u);
}

TEST_F(RetransmittingFailoverTest, AnUnansweredInviteGoesAgainAfterT1ThenAtDoublingIntervals) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-lossy1", "lossy-1@192.0.2.10"));
  EXPECT_TRUE(tick(kStartMs + 499).empty());
  // T1 after it was sent: the same bytes (same branch: the same client transaction) to the
  // same member.
  const std::vector<Sent> again = tick(kStartMs + 500);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(again[0].to(), first.to());
  EXPECT_EQ(again[0].bytes, first.bytes);
  EXPECT_EQ(counters_.failover_retransmits.read(), 1u);
  // Then 2 T1 later (1.5 s after the first send), not before.
  EXPECT_TRUE(tick(kStartMs + 1'499).empty());
  const std::vector<Sent> third = tick(kStartMs + 1'500);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].bytes, first.bytes);
  EXPECT_EQ(third[0].to(), first.to());
  EXPECT_EQ(counters_.failover_retransmits.read(), 2u);
  // 4 T1 later would be 3.5 s: the failover timer (2 s) comes first, and the INVITE goes to
  // another member on a new branch, retransmitted on the same schedule from its own start.
  EXPECT_TRUE(tick(kStartMs + 1'999).empty());
  const std::vector<Sent> next = tick(kStartMs + 2'000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].to(), first.to());
  EXPECT_NE(top_branch(next[0].bytes), top_branch(first.bytes));
  EXPECT_EQ(counters_.failover_timeouts.read(), 1u);
  EXPECT_EQ(counters_.failover_retries.read(), 1u);
  EXPECT_TRUE(tick(kStartMs + 2'499).empty());
  const std::vector<Sent> next_again = tick(kStartMs + 2'500);
  ASSERT_EQ(next_again.size(), 1u);
  EXPECT_EQ(next_again[0].bytes, next[0].bytes);
  EXPECT_EQ(next_again[0].to(), next[0].to());
  EXPECT_EQ(counters_.failover_retransmits.read(), 3u);
  // A member that answers the retransmission 503 is ACKed and replaced as after the first.
  const std::vector<Sent> after_503 =
      receive(answer(next_again[0].bytes, "503 Service Unavailable"), next[0].to());
  ASSERT_EQ(after_503.size(), 2u);
  EXPECT_EQ(after_503[0].bytes.rfind("ACK sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(after_503[1].bytes.rfind("INVITE sip:8000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_NE(after_503[1].to(), first.to());
  EXPECT_NE(after_503[1].to(), next[0].to());
}

// RFC 3325 §5: a phone's asserted identity is removed from the INVITE and from every copy
// we send of it; the counter counts the request, once, not our copies.
TEST_F(RetransmittingFailoverTest, IdentityRemovedOnceForTheRequestNotPerCopy) {
  std::string text = invite("8000", "z9hG4bK-pai-copies", "pai-copies@192.0.2.10");
  text.insert(text.find("Content-Length:"), "P-Asserted-Identity: <sip:+15550100@evil>\r\n");
  const Sent first = send_invite(text);
  EXPECT_EQ(first.bytes.find("P-Asserted-Identity"), std::string::npos) << first.bytes;
  EXPECT_EQ(counters_.identity_removed.read(), 1u);
  const std::vector<Sent> again = tick(kStartMs + 500);  // Timer A
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].bytes, first.bytes);
  ASSERT_EQ(tick(kStartMs + 1'500).size(), 1u);           // Timer A again
  const std::vector<Sent> next = tick(kStartMs + 2'000);  // the next member
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].to(), first.to());
  EXPECT_EQ(next[0].bytes.find("P-Asserted-Identity"), std::string::npos) << next[0].bytes;
  EXPECT_EQ(counters_.identity_removed.read(), 1u);
}

TEST_F(RetransmittingFailoverTest, AnyAnswerFromTheMemberStopsTheRetransmissions) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-lossy2", "lossy-2@192.0.2.10"));
  ASSERT_EQ(tick(kStartMs + 500).size(), 1u);
  // Its 100 answers the INVITE (either copy: the same branch): Proceeding, Timer C runs.
  EXPECT_EQ(receive(answer(first.bytes, "100 Trying"), first.to())[0].outcome.verdict,
            Verdict::Absorbed);
  EXPECT_TRUE(tick(kStartMs + 179'000).empty());
  EXPECT_EQ(counters_.failover_retransmits.read(), 1u);
  EXPECT_EQ(counters_.failover_timeouts.read(), 0u);
  EXPECT_EQ(counters_.failover_retries.read(), 0u);
}

TEST_F(RetransmittingFailoverTest, TheCallersRetransmissionIsAnswered100AndNotPassedOn) {
  const std::string request = invite("8000", "z9hG4bK-lossy3", "lossy-3@192.0.2.10");
  send_invite(request);
  // The caller retransmits before our 100 reached it: we answer; the member's copies come
  // from our own timer only.
  const std::vector<Sent> answered = receive(request);
  ASSERT_EQ(answered.size(), 1u);
  expect_trying(answered[0]);
  EXPECT_EQ(tick(kStartMs + 500).size(), 1u);
  EXPECT_EQ(counters_.failover_retransmits.read(), 1u);
}

TEST_F(RetransmittingFailoverTest, TheCallersCancelStopsTheRetransmissions) {
  const std::string request = invite("8000", "z9hG4bK-lossy5", "lossy-5@192.0.2.10");
  const Sent first = send_invite(request);
  ASSERT_EQ(tick(kStartMs + 500).size(), 1u);
  // The caller's CANCEL is answered by us; ours waits for the member's provisional answer
  // (§9.1), and a copy of the INVITE after the CANCEL could ring a call the caller gave up,
  // so none follows.
  const std::vector<Sent> cancelled = receive(same_transaction(request, "CANCEL", ""));
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].outcome.code, 200);
  EXPECT_EQ(cancelled[0].to(), "192.0.2.10:5099");
  EXPECT_TRUE(tick(kStartMs + 1'999).empty());
  EXPECT_EQ(counters_.failover_retransmits.read(), 1u);
  // The member said nothing at all: the caller gets 487 from us when the failover timer ends.
  const std::vector<Sent> answered = tick(kStartMs + 2'000);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].outcome.code, 487);
  EXPECT_EQ(answered[0].to(), "192.0.2.10:5099");
}

TEST_F(RetransmittingFailoverTest, ANonInviteIsNotRetransmittedByTheProxy) {
  // Timer E is the caller's: its own retransmissions reach the member (§17.1.2.2).
  const Sent first = send_invite(
      same_transaction(invite("8000", "z9hG4bK-lossy4", "lossy-4@192.0.2.10"), "MESSAGE", ""),
      false);
  EXPECT_TRUE(tick(kStartMs + 1'999).empty());
  const std::vector<Sent> next = tick(kStartMs + 2'000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].to(), first.to());
  EXPECT_EQ(counters_.failover_retransmits.read(), 0u);
}

class ProbedFailoverTest : public PoolFailoverTest {
 protected:
  ProbedFailoverTest()
      : PoolFailoverTest(config_with("probe_interval = 0", "probe_interval = 5")) {}
  // The pbx member an INVITE was sent to: 192.0.2.21 is member 0.
  static std::size_t member_of(const Sent& sent) {
    return static_cast<std::size_t>(sent.to()[9] - '1');
  }
};

TEST_F(ProbedFailoverTest, AMemberThatDoesNotAnswerAtAllTakesNoNewCallsUntilItAnswersAProbe) {
  const Sent first = send_invite(invite("8000", "z9hG4bK-quiet1", "quiet-1@192.0.2.10"));
  const std::size_t quiet = member_of(first);
  ASSERT_LT(quiet, 3u);
  EXPECT_EQ(context_->pools.up_members(0), 0b111u);
  const std::vector<Sent> retry = tick(kStartMs + 500);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_NE(member_of(retry[0]), quiet);
  EXPECT_EQ(context_->pools.unanswering_members(0), std::uint64_t{1} << quiet);
  EXPECT_EQ(context_->pools.up_members(0), 0b111u & ~(std::uint64_t{1} << quiet));
  EXPECT_EQ(counters_.failover_unanswering.read(), 1u);
  // New calls avoid it from now on, whatever their Call-ID.
  for (int i = 0; i < 20; ++i) {
    const std::string id = std::to_string(i);
    EXPECT_NE(member_of(send_invite(invite("8000", "z9hG4bK-after" + id, "after-" + id + "@h"))),
              quiet);
  }
  // The prober's next store of the health word keeps it out (it has not answered a probe).
  context_->pools.set_up_members(0, 0b111u);
  EXPECT_EQ(context_->pools.up_members(0), 0b111u & ~(std::uint64_t{1} << quiet));
}

// A member the request cannot be sent to (here one of our own addresses, which forward()
// answers 482) is passed over; with no other member left the caller gets the code the last
// member failed with, from us.
class OwnAddressMemberTest : public PoolFailoverTest {
 protected:
  OwnAddressMemberTest()
      : PoolFailoverTest(config_with(R"("sip:192.0.2.22:5060", "sip:192.0.2.23:5060")",
                                     R"("sip:127.0.0.1:5060")")) {}
};

TEST_F(OwnAddressMemberTest, AMemberThatIsOurselvesIsPassedOver) {
  // A call whose Call-ID picks the real member first (one that picks ourselves is answered
  // 482 at once, as without failover).
  Sent first;
  for (int i = 0;; ++i) {
    ASSERT_LT(i, 64);
    const std::string id = std::to_string(i);
    const std::vector<Sent> sent = receive(invite("8000", "z9hG4bK-own" + id, "own-" + id + "@h"));
    if (sent[0].outcome.kind == SendKind::ForwardedRequest) {
      first = sent[0];
      break;
    }
    EXPECT_EQ(sent[0].outcome.code, 482);
  }
  EXPECT_EQ(first.to(), "192.0.2.21:5060");
  const std::vector<Sent> after = receive(answer(first.bytes, "503 Busy"), first.to());
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].bytes.rfind("ACK ", 0), 0u);
  EXPECT_EQ(after[1].outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(after[1].outcome.code, 500);  // the member's 503, as 500 (§16.7 step 6)
  EXPECT_EQ(after[1].to(), "192.0.2.10:5099");
  EXPECT_EQ(counters_.failover_exhausted.read(), 1u);
  EXPECT_EQ(counters_.failover_retries.read(), 0u);
}

// Pools whose members challenge our requests (lb::PoolCredentials, pool_challenge.cpp): a
// carrier trunk without failover (7...), and two SBCs with failover (6...).
constexpr std::string_view kChallengedPools = R"toml(
[[pools]]
name = "carrier"
members = ["sip:192.0.2.41:5060"]
probe_interval = 0
auth_user = "acct-77"
password = "trunk-secret"
[[pools]]
name = "carrier-sbcs"
members = ["sip:192.0.2.51:5060", "sip:192.0.2.52:5060"]
probe_interval = 0
failover = true
failover_codes = [503]
failover_timeout_ms = 500
auth_user = "acct-88"
password = "other-secret"
[[routes]]
name = "to-carrier"
user_prefix = "7"
sources = ["192.0.2.10"]
action = "forward"
pool = "carrier"
[[routes]]
name = "to-carrier-sbcs"
user_prefix = "6"
sources = ["192.0.2.10"]
action = "forward"
pool = "carrier-sbcs"
)toml";

constexpr std::string_view kProxyChallenge =
    "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"n-1\", algorithm=SHA-256, "
    "qop=\"auth\", opaque=\"o-1\"\r\n"
    "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"n-1\", algorithm=MD5, "
    "qop=\"auth\", opaque=\"o-1\"\r\n";

// `message` with `lines` added before its Content-Length line.
std::string with_lines(std::string message, std::string_view lines) {
  message.insert(message.rfind("Content-Length: "), lines);
  return message;
}

// The value of the last `name` header line of `message` ("" when there is none).
std::string last_header(const std::string& message, std::string_view name) {
  const std::size_t at = message.rfind("\r\n" + std::string(name) + ": ");
  if (at == std::string::npos) return {};
  const std::size_t start = at + name.size() + 4;
  return message.substr(start, message.find("\r\n", start) - start);
}

class PoolChallengeTest : public PoolFailoverTest {
 protected:
  PoolChallengeTest() : PoolFailoverTest(std::string(kConfig) + std::string(kChallengedPools)) {}

  // The credentials in `line` (an Authorization or Proxy-Authorization value) answer the
  // challenge for `method` and `uri` with the pool's password: checked with the proxy's own
  // digest code.
  static void expect_credentials(const std::string& line, std::string_view user,
                                 std::string_view password, std::string_view method,
                                 std::string_view uri, std::string_view nonce) {
    const sip::Parsed<sip::DigestParams> params = sip::parse_digest(line);
    ASSERT_TRUE(params.ok()) << line;
    EXPECT_EQ(params.value.username, user);
    EXPECT_EQ(params.value.realm, "carrier.example");
    EXPECT_EQ(params.value.uri, uri);
    EXPECT_EQ(params.value.nonce, nonce);
    EXPECT_EQ(params.value.nc, "00000001");
    EXPECT_EQ(params.value.opaque, "o-1");
    EXPECT_EQ(params.value.cnonce.size(), 16u);
    sip::DigestResponseInput input;
    input.algorithm = params.value.algorithm;
    const sip::DigestHex ha1 =
        sip::digest_ha1(params.value.algorithm, user, "carrier.example", password);
    input.ha1 = ha1.view();
    input.method = method;
    input.uri = uri;
    input.nonce = nonce;
    input.nc = params.value.nc;
    input.cnonce = params.value.cnonce;
    input.qop = "auth";
    EXPECT_EQ(sip::digest_response(input).view(), params.value.response) << line;
  }
};

TEST_F(PoolChallengeTest, A407IsAckedAndTheInviteSentAgainWithCredentials) {
  const std::string request = invite("7000", "z9hG4bK-auth1", "auth-1@192.0.2.10");
  const Sent first = send_invite(request);  // tracked: our 100 Trying to the caller
  EXPECT_EQ(first.to(), "192.0.2.41:5060");
  EXPECT_EQ(last_header(first.bytes, "Proxy-Authorization"), "");

  const std::vector<Sent> after_407 =
      receive(with_lines(answer(first.bytes, "407 Proxy Authentication Required"), kProxyChallenge),
              first.to());
  ASSERT_EQ(after_407.size(), 2u);
  // Our ACK for the 407 (§17.1.1.3): the caller never sees the challenge.
  const Sent& ack = after_407[0];
  EXPECT_EQ(ack.to(), first.to());
  EXPECT_EQ(ack.bytes.rfind("ACK sip:7000@sipline.local SIP/2.0\r\nVia: SIP/2.0/UDP "
                            "127.0.0.1:5060;branch=" +
                                top_branch(first.bytes) + ";rport\r\n",
                            0),
            0u)
      << ack.bytes;
  EXPECT_EQ(counters_.acks_sent.read(), 1u);
  // The INVITE again, to the same member, on a new branch of ours, the CSeq the caller's,
  // with Proxy-Authorization for the first challenge we support (SHA-256) as its last line.
  const Sent& second = after_407[1];
  EXPECT_EQ(second.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(second.to(), first.to());
  EXPECT_NE(top_branch(second.bytes), top_branch(first.bytes));
  EXPECT_TRUE(sip::branch_is_ours(top_branch(second.bytes), context_->identity.branch_key));
  EXPECT_EQ(last_header(second.bytes, "CSeq"), "1 INVITE");
  const std::string credentials = last_header(second.bytes, "Proxy-Authorization");
  EXPECT_EQ(credentials.rfind("Digest username=\"acct-77\"", 0), 0u) << credentials;
  EXPECT_NE(credentials.find("algorithm=SHA-256"), std::string::npos) << credentials;
  expect_credentials(credentials, "acct-77", "trunk-secret", "INVITE", "sip:7000@sipline.local",
                     "n-1");
  EXPECT_EQ(second.bytes.substr(second.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10"),
                                second.bytes.find("Proxy-Authorization") -
                                    second.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")),
            first.bytes.substr(first.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10"),
                               first.bytes.find("\r\n\r\n") + 2 -
                                   first.bytes.find("\r\nVia: SIP/2.0/UDP 192.0.2.10")));
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 1u);

  // Timer A: T1 later the same authenticated INVITE, byte for byte.
  const std::vector<Sent> copy = tick(kStartMs + 500);
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].bytes, second.bytes);
  // The caller cancels before the member answered: we answer the CANCEL; ours follows the
  // member's 100 (§9.1), on the new branch, without credentials (§22.1).
  const std::vector<Sent> cancelled = receive(same_transaction(request, "CANCEL", ""));
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].outcome.code, 200);
  std::vector<Sent> cancel = receive(answer(second.bytes, "100 Trying"), second.to());
  ASSERT_EQ(cancel.size(), 2u);
  EXPECT_EQ(cancel[0].outcome.absorb, Absorb::Trying);
  cancel.erase(cancel.begin());
  EXPECT_EQ(cancel[0].to(), first.to());
  EXPECT_EQ(cancel[0].bytes.rfind("CANCEL sip:7000@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(top_branch(cancel[0].bytes), top_branch(second.bytes));
  EXPECT_EQ(last_header(cancel[0].bytes, "Proxy-Authorization"), "");
  // The member's 487 goes to the caller, whose ACK goes on the new branch too.
  const std::vector<Sent> terminated =
      receive(answer(second.bytes, "487 Request Terminated"), second.to());
  ASSERT_EQ(terminated.size(), 1u);
  EXPECT_EQ(terminated[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(terminated[0].to(), "192.0.2.10:5099");
  const std::vector<Sent> ack_487 = receive(same_transaction(request, "ACK", "member-tag"));
  ASSERT_EQ(ack_487.size(), 1u);
  EXPECT_EQ(top_branch(ack_487[0].bytes), top_branch(second.bytes));
  EXPECT_EQ(last_header(ack_487[0].bytes, "Proxy-Authorization"), "");
  EXPECT_EQ(counters_.pool_challenges_refused.read(), 0u);
}

TEST_F(PoolChallengeTest, ASecondChallengeGoesToTheCallerAndIsCounted) {
  const std::string request = invite("7001", "z9hG4bK-auth2", "auth-2@192.0.2.10");
  const Sent first = send_invite(request);
  const std::string challenge =
      with_lines(answer(first.bytes, "407 Proxy Authentication Required"), kProxyChallenge);
  const std::vector<Sent> after_407 = receive(challenge, first.to());
  ASSERT_EQ(after_407.size(), 2u);
  const Sent second = after_407[1];
  // Our credentials challenged again: the member refused them. The 407 goes to the caller.
  const std::vector<Sent> refused = receive(
      with_lines(answer(second.bytes, "407 Proxy Authentication Required"), kProxyChallenge),
      second.to());
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(refused[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(refused[0].bytes.rfind("SIP/2.0 407 Proxy Authentication Required\r\n", 0), 0u);
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 1u);
  EXPECT_EQ(counters_.pool_challenges_refused.read(), 1u);
  // A retransmission of the first 407 (our ACK was lost) is ACKed again, not answered again.
  const std::vector<Sent> late = receive(challenge, first.to());
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].bytes.rfind("ACK sip:7001@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(top_branch(late[0].bytes), top_branch(first.bytes));
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 1u);
}

// RFC 7616 §3.3: a second challenge with stale=true says our credentials were right and
// their nonce too old: answered once more, with the new nonce; a third goes to the caller.
TEST_F(PoolChallengeTest, AStaleNonceIsAnsweredOnceMore) {
  const Sent first = send_invite(invite("7008", "z9hG4bK-stale", "stale@192.0.2.10"));
  const Sent second =
      receive(with_lines(answer(first.bytes, "407 Proxy Authentication Required"), kProxyChallenge),
              first.to())
          .at(1);
  const std::string stale =
      "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"n-2\", algorithm=SHA-256, "
      "qop=\"auth\", opaque=\"o-1\", stale=TRUE\r\n";
  const std::vector<Sent> after_stale = receive(
      with_lines(answer(second.bytes, "407 Proxy Authentication Required"), stale), second.to());
  ASSERT_EQ(after_stale.size(), 2u);  // our ACK, the INVITE with the new nonce
  EXPECT_EQ(top_branch(after_stale[0].bytes), top_branch(second.bytes));
  const Sent& third = after_stale[1];
  EXPECT_NE(top_branch(third.bytes), top_branch(second.bytes));
  expect_credentials(last_header(third.bytes, "Proxy-Authorization"), "acct-77", "trunk-secret",
                     "INVITE", "sip:7008@sipline.local", "n-2");
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 2u);
  EXPECT_EQ(counters_.pool_challenges_refused.read(), 0u);
  const std::vector<Sent> again = receive(
      with_lines(answer(third.bytes, "407 Proxy Authentication Required"), stale), third.to());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(again[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(counters_.pool_challenges_refused.read(), 1u);
}

TEST_F(PoolChallengeTest, ANonInvitesChallengeIsAnsweredAtOnceWithoutAck) {
  const std::string message =
      same_transaction(invite("7002", "z9hG4bK-msg-auth", "msg-auth@192.0.2.10"), "MESSAGE", "");
  const Sent first = send_invite(message, false);
  const std::vector<Sent> after_401 =
      receive(with_lines(answer(first.bytes, "401 Unauthorized"),
                         "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"n-2\", "
                         "algorithm=MD5, qop=\"auth\", opaque=\"o-1\"\r\n"),
              first.to());
  ASSERT_EQ(after_401.size(), 1u);  // the MESSAGE again, nothing else
  const Sent& second = after_401[0];
  EXPECT_EQ(second.bytes.rfind("MESSAGE sip:7002@sipline.local SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(second.to(), first.to());
  EXPECT_NE(top_branch(second.bytes), top_branch(first.bytes));
  // A 401 is answered in Authorization (§22.2), not Proxy-Authorization.
  EXPECT_EQ(last_header(second.bytes, "Proxy-Authorization"), "");
  expect_credentials(last_header(second.bytes, "Authorization"), "acct-77", "trunk-secret",
                     "MESSAGE", "sip:7002@sipline.local", "n-2");
  EXPECT_EQ(counters_.acks_sent.read(), 0u);
  // The caller's retransmission goes to the member on the new branch, with the credentials.
  const Sent again = receive(message).at(0);
  EXPECT_EQ(again.bytes, second.bytes);
  const std::vector<Sent> ok = receive(answer(second.bytes, "200 OK"), second.to());
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(pipeline_->transactions()->size(), 0u);
}

TEST_F(PoolChallengeTest, AChallengeWeCannotAnswerGoesToTheCaller) {
  const Sent first = send_invite(invite("7003", "z9hG4bK-basic", "basic@192.0.2.10"));
  const std::vector<Sent> sent =
      receive(with_lines(answer(first.bytes, "407 Proxy Authentication Required"),
                         "Proxy-Authenticate: Basic realm=\"carrier.example\"\r\n"),
              first.to());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(sent[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 0u);
  EXPECT_EQ(counters_.pool_challenges_refused.read(), 1u);
}

TEST_F(PoolChallengeTest, APoolThatDoesNotFailOverWaitsTimerBThen408) {
  const Sent first = send_invite(invite("7004", "z9hG4bK-silent", "silent@192.0.2.10"));
  // Timer A's copies, no failover after 500 ms or 2 s: there is no other member to try.
  std::size_t copies = 0;
  for (std::int64_t t = kStartMs + 500; t < kStartMs + 32'000; t += 500) {
    for (const Sent& sent : tick(t)) {
      EXPECT_EQ(sent.outcome.kind, SendKind::ForwardedRequest);
      EXPECT_EQ(sent.bytes, first.bytes);
      ++copies;
    }
  }
  EXPECT_EQ(copies, 6u);  // at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s
  const std::vector<Sent> timeout = tick(kStartMs + 32'000);
  ASSERT_EQ(timeout.size(), 1u);
  EXPECT_EQ(timeout[0].outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(timeout[0].outcome.code, 408);
  EXPECT_EQ(counters_.failover_retries.read(), 0u);
}

TEST_F(PoolChallengeTest, FailingOverDropsTheLastMembersCredentials) {
  const std::string request = invite("6000", "z9hG4bK-sbcs", "sbcs@192.0.2.10");
  const Sent first = send_invite(request);
  const std::vector<Sent> after_407 =
      receive(with_lines(answer(first.bytes, "407 Proxy Authentication Required"), kProxyChallenge),
              first.to());
  ASSERT_EQ(after_407.size(), 2u);
  const Sent second = after_407[1];
  EXPECT_EQ(second.to(), first.to());
  expect_credentials(last_header(second.bytes, "Proxy-Authorization"), "acct-88", "other-secret",
                     "INVITE", "sip:6000@sipline.local", "n-1");
  // That SBC is overloaded: the next one gets the INVITE without the first one's nonce ...
  const std::vector<Sent> after_503 =
      receive(answer(second.bytes, "503 Service Unavailable"), second.to());
  ASSERT_EQ(after_503.size(), 2u);
  const Sent third = after_503[1];
  EXPECT_NE(third.to(), first.to());
  EXPECT_EQ(last_header(third.bytes, "Proxy-Authorization"), "");
  // ... and its own challenge is answered in turn.
  std::string challenge(kProxyChallenge);
  for (std::size_t at = challenge.find("n-1"); at != std::string::npos;
       at = challenge.find("n-1", at)) {
    challenge.replace(at, 3, "n-3");
  }
  const std::vector<Sent> after_second_407 = receive(
      with_lines(answer(third.bytes, "407 Proxy Authentication Required"), challenge), third.to());
  ASSERT_EQ(after_second_407.size(), 2u);
  const Sent fourth = after_second_407[1];
  EXPECT_EQ(fourth.to(), third.to());
  expect_credentials(last_header(fourth.bytes, "Proxy-Authorization"), "acct-88", "other-secret",
                     "INVITE", "sip:6000@sipline.local", "n-3");
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 2u);
  EXPECT_EQ(counters_.failover_retries.read(), 1u);
}

// A BYE of a call through the carrier: routed by its Request-URI (the carrier's Contact) to
// a member of the pool with credentials, it is tracked, and its 407 answered too.
TEST_F(PoolChallengeTest, AnInDialogRequestToAMemberIsAnsweredForAndNeverFailsOver) {
  std::string bye = same_transaction(invite("7005", "z9hG4bK-bye-auth", "bye-auth@192.0.2.10"),
                                     "BYE", "member-tag");
  bye.replace(0, bye.find(" SIP/2.0"), "BYE sip:7005@192.0.2.41:5060");
  const std::vector<Sent> sent = receive(bye);
  ASSERT_EQ(sent.size(), 1u);  // a non-INVITE: no 100 from us
  const Sent& first = sent[0];
  EXPECT_EQ(first.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(first.to(), "192.0.2.41:5060");
  EXPECT_EQ(counters_.failover_tracked.read(), 1u);
  const std::vector<Sent> after_407 =
      receive(with_lines(answer(first.bytes, "407 Proxy Authentication Required"), kProxyChallenge),
              first.to());
  ASSERT_EQ(after_407.size(), 1u);
  const Sent& second = after_407[0];
  EXPECT_EQ(second.bytes.rfind("BYE sip:7005@192.0.2.41:5060 SIP/2.0\r\n", 0), 0u);
  EXPECT_EQ(last_header(second.bytes, "To"), "<sip:7005@sipline.local>;tag=member-tag");
  expect_credentials(last_header(second.bytes, "Proxy-Authorization"), "acct-77", "trunk-secret",
                     "BYE", "sip:7005@192.0.2.41:5060", "n-1");
  // The caller's retransmission takes the new branch and the credentials.
  EXPECT_EQ(receive(bye).at(0).bytes, second.bytes);
  const std::vector<Sent> ok = receive(answer(second.bytes, "200 OK"), second.to());
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(ok[0].to(), "192.0.2.10:5099");

  // To a member of the pool that fails over: its 503 goes to the caller, no other member.
  std::string other = same_transaction(invite("6001", "z9hG4bK-bye-sbc", "bye-sbc@192.0.2.10"),
                                       "BYE", "member-tag");
  other.replace(0, other.find(" SIP/2.0"), "BYE sip:6001@192.0.2.51:5060");
  const Sent to_sbc = receive(other).at(0);
  EXPECT_EQ(to_sbc.to(), "192.0.2.51:5060");
  const std::vector<Sent> busy = receive(answer(to_sbc.bytes, "503 Busy"), to_sbc.to());
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(busy[0].to(), "192.0.2.10:5099");
  EXPECT_EQ(counters_.failover_retries.read(), 0u);
  EXPECT_EQ(counters_.failover_exhausted.read(), 0u);
  // A BYE to anywhere else is not tracked.
  std::string elsewhere = same_transaction(
      invite("7006", "z9hG4bK-bye-else", "bye-else@192.0.2.10"), "BYE", "member-tag");
  elsewhere.replace(0, elsewhere.find(" SIP/2.0"), "BYE sip:7006@192.0.2.99:5060");
  EXPECT_EQ(receive(elsewhere).at(0).to(), "192.0.2.99:5060");
  EXPECT_EQ(counters_.failover_tracked.read(), 2u);
}

// A new request with a preloaded Route naming a member: from outside the trust domain the
// Route is not followed (else anyone could reach the carrier from our address past the
// route's sources), and the route table refuses it here (404: no route for that source).
// From a server of ours (another pool's member) it is followed, not tracked, and the member's
// challenge goes back to its sender, unanswered by us.
TEST_F(PoolChallengeTest, ANewRequestRoutedToAMemberDirectlyIsNotAnsweredFor) {
  const std::string outsider = with_lines(invite("7007", "z9hG4bK-outsider", "outsider@192.0.2.10"),
                                          "Route: <sip:192.0.2.41:5060;lr>\r\n");
  const std::vector<Sent> refused = receive(outsider, "198.51.100.66:5060");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].outcome.code, 404);
  EXPECT_EQ(refused[0].to(), "198.51.100.66:5060");
  EXPECT_EQ(counters_.preloaded_routes_dropped.read(), 1u);
  for (const std::string method : {"INVITE", "REGISTER"}) {
    std::string request = invite("7007", "z9hG4bK-direct-" + method, "direct@192.0.2.10");
    if (method != "INVITE") request = same_transaction(request, method, "");
    request = with_lines(request, "Route: <sip:192.0.2.41:5060;lr>\r\n");
    const std::vector<Sent> sent = receive(request, "192.0.2.51:5060");
    ASSERT_EQ(sent.size(), 1u) << method;
    EXPECT_EQ(sent[0].to(), "192.0.2.41:5060") << sent[0].bytes;
    const std::vector<Sent> challenge = receive(
        with_lines(answer(sent[0].bytes, "407 Proxy Authentication Required"), kProxyChallenge),
        sent[0].to());
    ASSERT_EQ(challenge.size(), 1u);
    EXPECT_EQ(challenge[0].outcome.kind, SendKind::ForwardedResponse);
    EXPECT_EQ(challenge[0].to(), "192.0.2.51:5060");
  }
  EXPECT_EQ(counters_.failover_tracked.read(), 0u);
  EXPECT_EQ(counters_.pool_challenges_answered.read(), 0u);
  EXPECT_EQ(counters_.preloaded_routes_dropped.read(), 1u);
}

class NoFailoverConfigTest : public PoolFailoverTest {
 protected:
  NoFailoverConfigTest()
      : PoolFailoverTest(R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local"]
[registrar]
store = "memory"
[[pools]]
name = "plain"
members = ["sip:192.0.2.31:5060"]
probe_interval = 0
[[routes]]
name = "to-plain"
action = "forward"
pool = "plain"
)toml") {}
};

TEST_F(NoFailoverConfigTest, NoTableIsAllocatedWithoutAPoolThatFailsOver) {
  EXPECT_EQ(pipeline_->transactions(), nullptr);
  EXPECT_FALSE(pipeline_->has_transaction_work(INT64_MAX));
}

}  // namespace
}  // namespace sipline::dataplane

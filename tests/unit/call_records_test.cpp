// Call accounting ([accounting], dataplane/call_records.hpp, call_accounting.cpp): the
// records the pipeline makes of what it forwards and answers, and the lines the control
// thread's log writes of them.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/unit/forking_test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

constexpr std::string_view kServer = "192.0.2.50:5060";
constexpr std::int64_t kAt = 1'800'000'000'000;  // unix ms: 2027-01-15T08:00:00.000Z

CallRecord record(CallRecord::Event event, std::uint16_t code, std::string_view from_tag,
                  std::string_view to_tag, std::string_view call_id = "call-1@192.0.2.10") {
  CallRecord result;
  result.event = event;
  result.code = code;
  result.set_texts(call_id, from_tag, to_tag, "1001", "1002");
  result.caller = *peer_from_text(kCaller);
  result.callee = *peer_from_text(kServer);
  return result;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);)
    lines.push_back(line);
  return lines;
}

TEST(CallRecordLog, AnAnsweredCallAndItsByeMakeTwoLinesWithTheDuration) {
  CallRecordLog log;
  log.take(record(CallRecord::Event::Answered, 200, "caller-tag", "callee-tag"), kAt);
  // The callee hangs up 61.5 s later: its BYE's From is the callee (tags swapped).
  log.take(record(CallRecord::Event::Ended, 200, "callee-tag", "caller-tag"), kAt + 61'500);
  const std::vector<std::string> lines = lines_of(log.pending());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "{\"time\":\"2027-01-15T08:00:00.000Z\",\"event\":\"answered\",\"code\":200,"
            "\"reason\":\"OK\","
            "\"call_id\":\"call-1@192.0.2.10\",\"from_tag\":\"caller-tag\",\"to_tag\":"
            "\"callee-tag\",\"from\":\"1001\",\"to\":\"1002\",\"caller\":\"192.0.2.10:5099\","
            "\"callee\":\"192.0.2.50:5060\"}");
  EXPECT_EQ(lines[1],
            "{\"time\":\"2027-01-15T08:01:01.500Z\",\"event\":\"ended\",\"code\":200,"
            "\"reason\":\"OK\","
            "\"call_id\":\"call-1@192.0.2.10\",\"from_tag\":\"callee-tag\",\"to_tag\":"
            "\"caller-tag\",\"from\":\"1001\",\"to\":\"1002\",\"caller\":\"192.0.2.10:5099\","
            "\"callee\":\"192.0.2.50:5060\",\"duration_ms\":61500,\"ended_by\":\"callee\"}");
  EXPECT_EQ(log.counters().written, 2u);
  // What ASR and ACD are computed from.
  EXPECT_EQ(log.counters_text(),
            "accounting: answered=1 failed=0 ended=1 ended_timed=1 talk_ms=61500 written=2 "
            "duplicates=0 untracked=0 unended=0 write_errors=0 calls=1\n");
}

TEST(CallRecordLog, CopiesOfAnEventAreWrittenOnce) {
  CallRecordLog log;
  log.take(record(CallRecord::Event::Answered, 200, "a", "b"), kAt);
  // The UAS sends its 200 again until the ACK; a re-INVITE's 200 is the same dialog.
  log.take(record(CallRecord::Event::Answered, 200, "a", "b"), kAt + 500);
  log.take(record(CallRecord::Event::Answered, 200, "a", "b"), kAt + 30'000);
  log.take(record(CallRecord::Event::Ended, 200, "a", "b"), kAt + 60'000);  // by the caller
  log.take(record(CallRecord::Event::Ended, 200, "a", "b"), kAt + 60'500);  // the BYE again
  // Another call's failure, sent again until its ACK.
  log.take(record(CallRecord::Event::Failed, 486, "c", "d", "call-2"), kAt);
  log.take(record(CallRecord::Event::Failed, 486, "c", "d", "call-2"), kAt + 500);
  const std::vector<std::string> lines = lines_of(log.pending());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("\"event\":\"ended\""), std::string::npos);
  EXPECT_NE(lines[1].find("\"duration_ms\":60000,\"ended_by\":\"caller\"}"), std::string::npos);
  EXPECT_NE(lines[2].find("\"event\":\"failed\",\"code\":486,\"reason\":\"Busy Here\""),
            std::string::npos);
  EXPECT_EQ(log.counters().duplicates, 4u);
  // Once the window for copies has passed, ended and failed calls are forgotten.
  EXPECT_EQ(log.calls(), 2u);
  log.expire(kAt + 60'000 + CallRecordLog::kEchoWindowMs);
  EXPECT_EQ(log.calls(), 1u);
  log.expire(kAt + 60'000 + CallRecordLog::kEchoWindowMs + 1);
  EXPECT_EQ(log.calls(), 0u);
}

// Without record_route the BYE goes from phone to phone: the call is forgotten after 12 h.
TEST(CallRecordLog, AnAnsweredCallWithoutAByeIsForgottenAfterTwelveHours) {
  CallRecordLog log;
  log.take(record(CallRecord::Event::Answered, 200, "a", "b"), kAt);
  log.expire(kAt + CallRecordLog::kMaxCallMs);
  EXPECT_EQ(log.calls(), 1u);
  log.expire(kAt + CallRecordLog::kMaxCallMs + 1);
  EXPECT_EQ(log.calls(), 0u);
  EXPECT_EQ(log.counters().unended, 1u);
  EXPECT_NE(log.counters_text().find(" unended=1 "), std::string::npos);
}

TEST(CallRecordLog, AByeOfACallAnsweredBeforeWeStartedHasNoDuration) {
  CallRecordLog log;
  log.take(record(CallRecord::Event::Ended, 200, "a", "b"), kAt);
  const std::string& text = log.pending();
  EXPECT_NE(text.find("\"event\":\"ended\""), std::string::npos);
  EXPECT_EQ(text.find("duration_ms"), std::string::npos);
  EXPECT_EQ(text.find("ended_by"), std::string::npos);
}

TEST(CallRecordLog, TextIsEscapedForJsonAndLongValuesAreMarkedCut) {
  CallRecordLog log;
  CallRecord odd = record(CallRecord::Event::Failed, 404, "", "");
  odd.set_texts(std::string(200, 'c') + "@host", "t\"1", "x\\y", "1001", "a\x01z");
  odd.local = true;
  log.take(odd, kAt);
  const std::string& text = log.pending();
  EXPECT_NE(text.find("\"from_tag\":\"t\\\"1\",\"to_tag\":\"x\\\\y\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"to\":\"a\\u0001z\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"call_id\":\"" + std::string(128, 'c') + "...\""), std::string::npos);
  // Our own answer: no callee, said so.
  EXPECT_EQ(text.find("callee"), std::string::npos);
  EXPECT_NE(text.find(",\"by_proxy\":true}"), std::string::npos);
}

TEST(CallRecordLog, RingsAreDrainedToTheFileWhichIsOpenedAgainAfterARotation) {
  const std::string path = ::testing::TempDir() + "sipline-calls-" + std::to_string(getpid());
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
  CallRecordLog log;
  ASSERT_EQ(log.open(path), "");
  const std::unique_ptr<CallRecordRing[]> rings = std::make_unique<CallRecordRing[]>(2);
  ASSERT_TRUE(rings[1].push(record(CallRecord::Event::Answered, 200, "a", "b")));
  EXPECT_EQ(log.drain(std::span(rings.get(), 2), kAt), 1u);
  // logrotate renames the file; the reload opens it again by its name.
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_EQ(log.reopen(), "");
  ASSERT_TRUE(rings[0].push(record(CallRecord::Event::Ended, 200, "a", "b")));
  EXPECT_EQ(log.drain(std::span(rings.get(), 2), kAt + 1'000), 1u);
  const auto read = [](const std::string& name) {
    std::ifstream file(name);
    return std::string(std::istreambuf_iterator<char>(file), {});
  };
  const std::vector<std::string> rotated = lines_of(read(path + ".1"));
  const std::vector<std::string> current = lines_of(read(path));
  ASSERT_EQ(rotated.size(), 1u);
  ASSERT_EQ(current.size(), 1u);
  EXPECT_NE(rotated[0].find("\"event\":\"answered\""), std::string::npos);
  EXPECT_NE(current[0].find("\"event\":\"ended\",\"code\":200"), std::string::npos);
  EXPECT_NE(current[0].find("\"duration_ms\":1000"), std::string::npos);
  EXPECT_NE(log.open("/nonexistent-directory/calls.jsonl"), "");
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
}

TEST(CallRecordRing, AFullRingRefusesAndTakesAgainOnceDrained) {
  CallRecordRing ring;
  const CallRecord one = record(CallRecord::Event::Answered, 200, "a", "b");
  for (std::size_t i = 0; i < kCallRecordRingSize; ++i)
    ASSERT_TRUE(ring.push(one));
  EXPECT_FALSE(ring.push(one));
  std::size_t seen = 0;
  EXPECT_EQ(ring.drain([&](const CallRecord& taken) { seen += taken.code == 200; }),
            kCallRecordRingSize);
  EXPECT_EQ(seen, kCallRecordRingSize);
  EXPECT_TRUE(ring.push(one));
}

// Users and routes, after the forking tests' [listen], [domain] and [registrar].
constexpr std::string_view kConfig = R"toml(
[[users]]
user = "1001"
password = "secret-1001"
[[users]]
user = "1002"
password = "secret-1002"
[[routes]]
name = "server"
user_prefix = "1002"
action = "forward"
target = "sip:192.0.2.50:5060"
[[routes]]
name = "guarded"
user_prefix = "1003"
action = "location"
auth = true
[[routes]]
name = "users"
user_prefix = "1"
action = "location"
)toml";

// The pipeline's records: a stateless call through a forward route, our own answers.
class CallAccountingTest : public ForkingPipeline {
 protected:
  CallAccountingTest() : ForkingPipeline(with_local_domain(kConfig)) {
    pipeline_->set_call_records(&ring_);
  }

  std::vector<CallRecord> taken() {
    std::vector<CallRecord> records;
    ring_.drain([&](const CallRecord& one) { records.push_back(one); });
    return records;
  }

  CallRecordRing ring_;
};

TEST_F(CallAccountingTest, AStatelessCallMakesItsAnsweredAndEndedRecords) {
  const std::string request = invite("1002", "z9hG4bK-acc");
  const std::vector<Sent> forwarded = receive(request);
  ASSERT_EQ(forwarded.size(), 1u);
  ASSERT_EQ(forwarded[0].to(), kServer);
  // Provisional answers are no event.
  expect_relayed(receive(answer(forwarded[0].bytes, "100 Trying"), kServer), "100 Trying");
  expect_relayed(receive(answer(forwarded[0].bytes, "180 Ringing"), kServer), "180 Ringing");
  EXPECT_TRUE(taken().empty());
  expect_relayed(receive(answer(forwarded[0].bytes, "200 OK"), kServer), "200 OK");
  std::vector<CallRecord> records = taken();
  ASSERT_EQ(records.size(), 1u);
  const CallRecord& answered = records[0];
  EXPECT_EQ(answered.event, CallRecord::Event::Answered);
  EXPECT_EQ(answered.code, 200);
  EXPECT_FALSE(answered.local);
  EXPECT_EQ(answered.get(CallRecord::Field::CallId), "hunt-1@192.0.2.10");
  EXPECT_EQ(answered.get(CallRecord::Field::FromTag), "from-1");
  EXPECT_EQ(answered.get(CallRecord::Field::ToTag), "phone-tag");
  EXPECT_EQ(answered.get(CallRecord::Field::FromUser), "1001");
  EXPECT_EQ(answered.get(CallRecord::Field::ToUser), "1002");
  EXPECT_EQ(format_peer(answered.caller).view(), kCaller);
  EXPECT_EQ(format_peer(answered.callee).view(), kServer);
  // The caller hangs up (to the server's Contact): the server's 200 to the BYE ends the call.
  std::string bye = as_method(request, "BYE");
  bye.replace(0, bye.find(" SIP/2.0"), "BYE sip:1002@" + std::string(kServer));
  bye.insert(bye.find("\r\n", bye.find("\r\nTo: ") + 2), ";tag=phone-tag");
  const std::vector<Sent> bye_sent = receive(bye);
  ASSERT_EQ(bye_sent.size(), 1u);
  EXPECT_TRUE(taken().empty());  // the BYE itself is no event: its 2xx is
  expect_relayed(receive(answer(bye_sent[0].bytes, "200 OK"), kServer), "200 OK");
  records = taken();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, CallRecord::Event::Ended);
  EXPECT_EQ(records[0].get(CallRecord::Field::ToTag), "phone-tag");
  EXPECT_EQ(counters_.call_records.read(), 2u);
}

TEST_F(CallAccountingTest, AFailedCallIsRecordedWhetherTheServerOrTheProxyAnswers) {
  const std::vector<Sent> forwarded = receive(invite("1002", "z9hG4bK-busy"));
  ASSERT_EQ(forwarded.size(), 1u);
  expect_relayed(receive(answer(forwarded[0].bytes, "486 Busy Here"), kServer), "486 Busy Here");
  std::vector<CallRecord> records = taken();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, CallRecord::Event::Failed);
  EXPECT_EQ(records[0].code, 486);
  EXPECT_EQ(records[0].get(CallRecord::Field::Reason), "Busy Here");  // as the server wrote it
  // 1001 is registered nowhere: our 480, with our To tag.
  const std::vector<Sent> ours = receive(invite("1001", "z9hG4bK-nobody"));
  ASSERT_EQ(ours.size(), 1u);
  ASSERT_EQ(ours[0].outcome.code, 480);
  records = taken();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, CallRecord::Event::Failed);
  EXPECT_TRUE(records[0].local);
  EXPECT_EQ(records[0].code, 480);
  EXPECT_EQ(records[0].get(CallRecord::Field::Reason), "");  // the log writes the standard one
  EXPECT_EQ(records[0].get(CallRecord::Field::ToUser), "1001");
  const std::size_t tag_at = ours[0].bytes.find(";tag=", ours[0].bytes.find("\r\nTo: "));
  EXPECT_EQ(records[0].get(CallRecord::Field::ToTag),
            ours[0].bytes.substr(tag_at + 5, ours[0].bytes.find("\r\n", tag_at) - tag_at - 5));
}

TEST_F(CallAccountingTest, ChallengesAndOtherMethodsAreNoEvents) {
  // Our 407 to a caller without credentials is a step of the call's set-up.
  const std::vector<Sent> challenged = receive(invite("1003", "z9hG4bK-guarded"));
  ASSERT_EQ(challenged.size(), 1u);
  ASSERT_EQ(challenged[0].outcome.code, 407);
  // A MESSAGE's 200 and an OPTIONS' 200 are not calls.
  const std::vector<Sent> message = receive(as_method(invite("1002", "z9hG4bK-msg"), "MESSAGE"));
  ASSERT_EQ(message.size(), 1u);
  expect_relayed(receive(answer(message[0].bytes, "200 OK"), kServer), "200 OK");
  EXPECT_TRUE(taken().empty());
  EXPECT_EQ(counters_.call_records.read(), 0u);
}

}  // namespace
}  // namespace sipline::dataplane

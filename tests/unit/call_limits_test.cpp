// Concurrent-call limits ([[routes]] max_calls, [[users]] max_calls; dataplane/call_limits.hpp,
// call_admission.cpp): the shared counters, a worker's table of limited calls, and what the
// pipeline admits, refuses and frees, message by message.
#include <set>

#include "dataplane/call_limits.hpp"
#include "tests/unit/forking_test_support.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::dataplane {
namespace {

using namespace forking_test;

constexpr std::string_view kTrunk = "192.0.2.50:5060";

// ---- CallCounters, ActiveCallTable ------------------------------------------------------

TEST(CallCounters, ANameKeepsItsCounterAndTakingStopsAtTheLimit) {
  CallCounters counters;
  const std::uint32_t trunk = counters.counter_for("route:trunk");
  const std::uint32_t user = counters.counter_for("user:1001");
  EXPECT_NE(trunk, user);
  EXPECT_EQ(counters.counter_for("route:trunk"), trunk);
  EXPECT_TRUE(counters.try_take(trunk, 2));
  EXPECT_TRUE(counters.try_take(trunk, 2));
  EXPECT_FALSE(counters.try_take(trunk, 2));
  EXPECT_EQ(counters.calls(trunk), 2u);
  EXPECT_EQ(counters.refused(trunk), 1u);
  counters.give_back(trunk);
  EXPECT_TRUE(counters.try_take(trunk, 2));
  EXPECT_EQ(counters.calls(user), 0u);
}

TEST(CallCounters, CallsStartWithinEachSecondUpToTheRate) {
  CallCounters counters;
  const std::uint32_t trunk = counters.counter_for("route:trunk");
  for (int call = 0; call < 3; ++call)
    EXPECT_TRUE(counters.try_start(trunk, 3, 1000));
  EXPECT_FALSE(counters.try_start(trunk, 3, 1000));
  EXPECT_TRUE(counters.try_start(trunk, 3, 1001));  // a new second
  EXPECT_EQ(counters.refused_rate(trunk), 1u);
  EXPECT_EQ(counters.refused(trunk), 0u);
  EXPECT_EQ(counters.calls(trunk), 0u);  // starting a call holds no place
}

TEST(CallCounters, CountersBeyondTheFirstChunkWork) {
  CallCounters counters;
  std::uint32_t last = 0;
  for (std::uint32_t i = 0; i <= CallCounters::kChunkSize; ++i)
    last = counters.counter_for("user:" + std::to_string(i));
  EXPECT_EQ(last, CallCounters::kChunkSize);
  EXPECT_TRUE(counters.try_take(last, 1));
  EXPECT_EQ(counters.calls(last), 1u);
}

// Keys on one home slot (the low bits), told apart by their high bits.
std::uint64_t key_at(std::uint64_t home, std::uint64_t which) {
  return home | (which << 32);
}

TEST(ActiveCallTable, CollidingCallsStayFoundAfterOthersEnd) {
  CallCounters counters;
  const std::uint32_t route = counters.counter_for("route:r");
  ActiveCallTable table(1024);
  std::vector<std::uint64_t> keys;
  for (std::uint64_t which = 1; which <= 5; ++which) {
    keys.push_back(key_at(1023, which));  // from the last slot, wrapping to the first ones
    ActiveCall* call = table.insert(keys.back());
    ASSERT_NE(call, nullptr);
    ASSERT_TRUE(counters.try_take(route, 100));
    call->route_counter = route;
  }
  ASSERT_NE(table.insert(key_at(0, 9)), nullptr);  // its home is taken by a wrapped one
  EXPECT_EQ(table.size(), 6u);
  // Ending the second moves the later ones up; each is still found.
  table.end(table.find(keys[1]), counters);
  EXPECT_EQ(table.find(keys[1]), nullptr);
  for (std::uint64_t key : {keys[0], keys[2], keys[3], keys[4], key_at(0, 9)})
    EXPECT_NE(table.find(key), nullptr) << key;
  EXPECT_EQ(counters.calls(route), 4u);
  EXPECT_EQ(table.size(), 5u);
}

TEST(ActiveCallTable, AFullNeighbourhoodRefusesAndExpirySweepsEverything) {
  CallCounters counters;
  const std::uint32_t route = counters.counter_for("route:r");
  ActiveCallTable table(1024);
  for (std::uint64_t which = 1; which <= ActiveCallTable::kMaxProbe; ++which) {
    ActiveCall* call = table.insert(key_at(7, which));
    ASSERT_NE(call, nullptr);
    ASSERT_TRUE(counters.try_take(route, 1000));
    call->route_counter = route;
    call->expires = 100 + static_cast<std::int64_t>(which % 2);  // 100 or 101
  }
  EXPECT_EQ(table.insert(key_at(7, 999)), nullptr);
  // Sixteen sweeps (one a second) look at the whole table once.
  std::size_t ended = 0;
  for (int second = 0; second < 16; ++second)
    ended += table.expire(100, counters);
  EXPECT_EQ(ended, ActiveCallTable::kMaxProbe / 2);
  for (int second = 0; second < 16; ++second)
    ended += table.expire(101, counters);
  EXPECT_EQ(ended, ActiveCallTable::kMaxProbe);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(counters.calls(route), 0u);
}

// ---- the pipeline -----------------------------------------------------------------------

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local", "127.0.0.1"]
record_route = true
[registrar]
store = "memory"
[[users]]
user = "1001"
password = "secret-1001"
max_calls = 1
[[users]]
user = "1002"
password = "secret-1002"
[[routes]]
name = "trunk"
user_prefix = "0"
action = "forward"
target = "sip:192.0.2.50:5060"
max_calls = 2
[[routes]]
name = "busy-trunk"
user_prefix = "9"
action = "forward"
target = "sip:192.0.2.50:5060"
max_calls = 1
limit_code = 486
[[routes]]
name = "authenticated"
user_prefix = "8"
action = "forward"
target = "sip:192.0.2.50:5060"
auth = true
[[routes]]
name = "phones"
user_prefix = "1"
action = "location"
max_calls = 1
[[routes]]
name = "unlimited"
user_prefix = "7"
action = "forward"
target = "sip:192.0.2.50:5060"
[[routes]]
name = "cps"
user_prefix = "5"
action = "forward"
target = "sip:192.0.2.50:5060"
max_cps = 2
[[call_limits]]
name = "carrier"
max_calls = 1
code = 480
[[routes]]
name = "carrier-outbound"
user_prefix = "6"
action = "forward"
target = "sip:192.0.2.50:5060"
call_limit = "carrier"
[[routes]]
name = "carrier-national"
user_prefix = "4"
action = "forward"
target = "sip:192.0.2.50:5060"
call_limit = "carrier"
)toml";

std::string invite_to(std::string_view user, std::string_view call_id) {
  std::string request = invite(user, "z9hG4bK-" + std::string(call_id));
  request.replace(request.find("hunt-1@192.0.2.10"), 17, call_id);
  return request;
}

// The caller's in-dialog `method` of the call `invite` set up, the callee's tag on its To: to
// the callee's Contact (its remote target), through our Record-Route (RFC 3261 §12.2.1.1).
std::string in_dialog(const std::string& invite, std::string_view method, int cseq) {
  std::string request = as_method(invite, method);
  const std::size_t user = request.find(" sip:") + 5;
  const std::string dialled = request.substr(user, request.find('@') - user);
  request.replace(0, request.find(" SIP/2.0"),
                  std::string(method) + " sip:" + dialled + "@" + std::string(kTrunk));
  request.insert(request.find("\r\n") + 2, "Route: <sip:127.0.0.1:5060;lr>\r\n");
  request.replace(request.find("CSeq: 1 "), 8, "CSeq: " + std::to_string(cseq) + " ");
  request.replace(request.find(";rport"), 0, "-" + std::to_string(cseq));  // a new branch
  request.insert(request.find("\r\n", request.find("\r\nTo: ") + 2), ";tag=phone-tag");
  return request;
}

// Two workers (pipelines) on one configuration and one set of counters, as the runtime has.
class CallLimitTest : public ::testing::Test {
 protected:
  CallLimitTest() : CallLimitTest(std::string(kConfig)) {}
  explicit CallLimitTest(const std::string& config_text) : location_(2), out_(kPacketCapacity) {
    const config::LoadResult loaded =
        config::load_config_text(config_text, "call_limits_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    context_->attach_call_counters(counters_);
    for (std::size_t worker = 0; worker < 2; ++worker) {
      workers_[worker] = std::make_unique<Pipeline>(*context_, worker);
      workers_[worker]->set_counters(&worker_counters_[worker]);
    }
  }

  Sent receive(const std::string& text, std::string_view from = kCaller, std::size_t worker = 0,
               std::int64_t now = kNow) {
    const Outcome outcome = workers_[worker]->process(Inbound{text, *peer_from_text(from), 0}, now,
                                                      OutputBuffers{out_, {}});
    return Sent{outcome, std::string(out_.data(), outcome.size)};
  }

  // The INVITE forwarded to the trunk; its answer `status` from there, relayed.
  void expect_forwarded(const Sent& sent) {
    EXPECT_EQ(sent.outcome.kind, SendKind::ForwardedRequest) << sent.bytes;
    EXPECT_EQ(sent.to(), kTrunk);
  }
  void expect_refused(const Sent& sent, std::string_view status) {
    EXPECT_EQ(sent.outcome.kind, SendKind::LocalResponse);
    EXPECT_EQ(sent.to(), kCaller);
    EXPECT_EQ(request_line(sent.bytes), "SIP/2.0 " + std::string(status));
  }
  void answer_from_trunk(const Sent& forwarded, std::string_view status, std::size_t worker = 0,
                         std::int64_t now = kNow) {
    const Sent relayed = receive(answer(forwarded.bytes, status), kTrunk, worker, now);
    EXPECT_EQ(relayed.outcome.kind, SendKind::ForwardedResponse);
    EXPECT_EQ(request_line(relayed.bytes), "SIP/2.0 " + std::string(status));
  }

  std::uint32_t calls_on(std::string_view name) {
    return counters_.calls(counters_.counter_for(name));
  }

  LocationTable location_;
  std::vector<char> out_;
  CallCounters counters_;
  std::unique_ptr<PipelineContext> context_;
  std::array<WorkerCounters, 2> worker_counters_;
  std::array<std::unique_ptr<Pipeline>, 2> workers_;
};

TEST_F(CallLimitTest, TheCallBeyondTheRouteLimitIsRefusedUntilOneFails) {
  const Sent first = receive(invite_to("0201", "c1"));
  expect_forwarded(first);
  expect_forwarded(receive(invite_to("0202", "c2")));
  const std::string third = invite_to("0203", "c3");
  const Sent refused = receive(third);
  expect_refused(refused, "503 Service Unavailable");
  // Our answer, with our To tag and no Retry-After: the caller may try another proxy now.
  EXPECT_NE(refused.bytes.find(";tag=sl"), std::string::npos);
  EXPECT_EQ(refused.bytes.find("Retry-After"), std::string::npos);
  EXPECT_EQ(worker_counters_[0].calls_limited.read(), 1u);
  EXPECT_EQ(calls_on("route:trunk"), 2u);
  // The first call fails at the trunk: its place is free for the third, tried again.
  answer_from_trunk(first, "486 Busy Here");
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  expect_forwarded(receive(third));
  EXPECT_EQ(calls_on("route:trunk"), 2u);
  EXPECT_NE(context_->call_limits_text().find(
                "call_limit route trunk: calls=2 max=2 refused=1 max_cps=0 refused_cps=0\n"),
            std::string::npos)
      << context_->call_limits_text();
}

TEST_F(CallLimitTest, AnAnsweredCallHoldsItsPlaceUntilItsBye) {
  const std::string call = invite_to("0201", "c1");
  const Sent forwarded = receive(call);
  expect_forwarded(forwarded);
  answer_from_trunk(forwarded, "180 Ringing");
  answer_from_trunk(forwarded, "200 OK");
  expect_forwarded(receive(invite_to("0202", "c2")));
  expect_refused(receive(invite_to("0203", "c3")), "503 Service Unavailable");
  // A re-INVITE of the first call and its failure (491) leave the call as it is.
  const Sent reinvite = receive(in_dialog(call, "INVITE", 2));
  EXPECT_EQ(reinvite.outcome.kind, SendKind::ForwardedRequest);
  answer_from_trunk(reinvite, "491 Request Pending");
  EXPECT_EQ(calls_on("route:trunk"), 2u);
  // §15.1.1: the session ends with the BYE; the trunk's 200 to it changes nothing more.
  const Sent bye = receive(in_dialog(call, "BYE", 3));
  EXPECT_EQ(bye.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  answer_from_trunk(bye, "200 OK");
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  expect_forwarded(receive(invite_to("0203", "c3")));
}

TEST_F(CallLimitTest, TheInviteAgainDoesNotTakeASecondPlace) {
  const std::string call = invite_to("0201", "c1");
  expect_forwarded(receive(call));
  expect_forwarded(receive(call));  // retransmitted
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  expect_forwarded(receive(invite_to("0202", "c2")));
}

TEST_F(CallLimitTest, WorkersShareTheLimit) {
  const std::string call = invite_to("9001", "w0");
  const Sent forwarded = receive(call, kCaller, 0);
  expect_forwarded(forwarded);
  // Another worker owns the next call's Call-ID: the route's one place is taken.
  expect_refused(receive(invite_to("9002", "w1"), kCaller, 1), "486 Busy Here");
  EXPECT_EQ(worker_counters_[1].calls_limited.read(), 1u);
  answer_from_trunk(forwarded, "200 OK", 0);
  receive(in_dialog(call, "BYE", 2), kCaller, 0);
  expect_forwarded(receive(invite_to("9002", "w1"), kCaller, 1));
}

TEST_F(CallLimitTest, OurOwnFailureFreesThePlace) {
  // 1002 is registered nowhere: our 480 ends the call that took the phones route's place.
  const Sent unavailable = receive(invite_to("1002", "p1"));
  expect_refused(unavailable, "480 Temporarily Unavailable");
  EXPECT_EQ(calls_on("route:phones"), 0u);
  const Sent again = receive(invite_to("1002", "p2"));
  expect_refused(again, "480 Temporarily Unavailable");
  EXPECT_EQ(worker_counters_[0].calls_limited.read(), 0u);
}

TEST_F(CallLimitTest, ACallThatCouldNotBeSentHoldsNoPlace) {
  // A body that fits a datagram as received, but not once our Via and Record-Route are added.
  std::string large = invite_to("0201", "large");
  const std::size_t body = 65400 - large.size();
  large.replace(large.find("Content-Length: 0"), 17, "Content-Length: " + std::to_string(body));
  large += std::string(body, 'v');
  const Sent dropped = receive(large);
  EXPECT_EQ(dropped.outcome.verdict, Verdict::Drop);
  EXPECT_EQ(dropped.outcome.drop, DropReason::TooLarge);
  EXPECT_EQ(calls_on("route:trunk"), 0u);
  EXPECT_EQ(workers_[0]->active_calls()->size(), 0u);
}

TEST_F(CallLimitTest, CallsNothingEndedAreGivenUpByTheirTimers) {
  Pipeline& worker = *workers_[0];
  const Sent silent = receive(invite_to("0201", "silent"));
  const Sent ringing = receive(invite_to("0202", "ringing"));
  answer_from_trunk(ringing, "180 Ringing");
  // Timer B (64*T1 = 32 s): the caller has given up on the INVITE nobody answered.
  for (std::int64_t second = 1; second <= 32 + 16; ++second)
    worker.expire_calls(kNow + second);
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  EXPECT_EQ(worker_counters_[0].calls_expired.read(), 1u);
  // Timer C: ringing without a final answer for more than 3 minutes.
  for (std::int64_t second = 49; second <= 181 + 16; ++second)
    worker.expire_calls(kNow + second);
  EXPECT_EQ(calls_on("route:trunk"), 0u);
  // An answered call whose BYE never came: dialog_timeout (12 h) after its last request.
  const std::string call = invite_to("0203", "answered");
  const std::int64_t start = kNow + 1000;
  const Sent answered = receive(call, kCaller, 0, start);
  answer_from_trunk(answered, "200 OK", 0, start);
  receive(in_dialog(call, "UPDATE", 2), kCaller, 0, start + 3600);  // a session refresh
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(start + 43200 + second);
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(start + 3600 + 43200 + second);
  EXPECT_EQ(calls_on("route:trunk"), 0u);
  EXPECT_EQ(worker_counters_[0].calls_expired.read(), 3u);
  EXPECT_EQ(worker.active_calls()->size(), 0u);
}

// ---- session timers (RFC 4028) ------------------------------------------------------------

// `message` with `line` (ending in CRLF) added before its Content-Length.
std::string with_line(std::string message, std::string_view line) {
  message.insert(message.find("Content-Length: "), line);
  return message;
}

// `message` without its header lines starting with `name`.
std::string without_lines(std::string message, std::string_view name) {
  for (std::size_t at = message.find(name); at != std::string::npos; at = message.find(name)) {
    message.erase(at, message.find("\r\n", at) + 2 - at);
  }
  return message;
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

TEST_F(CallLimitTest, ASessionTimerThePhonesNegotiatedEndsAnOrphanedCallSooner) {
  Pipeline& worker = *workers_[0];
  const std::string call = invite_to("0201", "timed");
  const Sent forwarded = receive(call);
  expect_forwarded(forwarded);
  EXPECT_EQ(forwarded.bytes.find("Session-Expires"), std::string::npos) << "none asked for";
  // The 2xx names the session interval: 120 s without a refresh ends the session (§8.3).
  const Sent answered = receive(
      with_line(answer(forwarded.bytes, "200 OK"), "Session-Expires: 120;refresher=uac\r\n"),
      kTrunk);
  EXPECT_EQ(occurrences(answered.bytes, "Session-Expires: 120;refresher=uac\r\n"), 1u);
  EXPECT_EQ(answered.bytes.find("Require: timer"), std::string::npos) << "relayed as it came";
  // A refresh at 60 s (UPDATE) whose 2xx names 100 s (below the 90 s floor: raised to it).
  const Sent update = receive(in_dialog(call, "UPDATE", 2), kCaller, 0, kNow + 60);
  EXPECT_EQ(update.outcome.kind, SendKind::ForwardedRequest);
  receive(with_line(answer(update.bytes, "200 OK"), "x: 30\r\n"), kTrunk, 0, kNow + 60);
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 60 + 89 + second / 16);
  EXPECT_EQ(calls_on("route:trunk"), 1u) << "still within the refreshed interval";
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 60 + 90 + second);
  EXPECT_EQ(calls_on("route:trunk"), 0u);
  EXPECT_EQ(worker_counters_[0].calls_expired.read(), 1u);
}

// [limits] session_expires: the proxy asks for a session timer on the calls it limits.
class SessionTimerTest : public CallLimitTest {
 protected:
  SessionTimerTest() : CallLimitTest(std::string(kConfig) + "[limits]\nsession_expires = 1800\n") {}
};

TEST_F(SessionTimerTest, ALimitedInviteWithoutOneIsAskedForASessionTimer) {
  const std::string call = with_line(
      with_line(invite_to("0201", "asked"), "Supported: replaces, timer\r\n"), "Min-SE: 2400\r\n");
  const Sent forwarded = receive(call);
  expect_forwarded(forwarded);
  // §8.1: never below the INVITE's Min-SE, and no refresher parameter.
  EXPECT_EQ(occurrences(forwarded.bytes, "\r\nSession-Expires: 2400\r\n\r\n"), 1u)
      << forwarded.bytes;
  EXPECT_EQ(receive(call).bytes, forwarded.bytes) << "the INVITE again gets the same";
  // The trunk does no session timers: its 2xx has none. The caller does (Supported: timer),
  // so the 2xx it gets makes it the refresher (§8.2).
  const std::string ok = without_lines(answer(forwarded.bytes, "200 OK"), "Session-Expires");
  const Sent relayed = receive(ok, kTrunk);
  EXPECT_EQ(relayed.outcome.kind, SendKind::ForwardedResponse);
  EXPECT_NE(relayed.bytes.find("\r\nSession-Expires: 2400;refresher=uac\r\nRequire: "
                               "timer\r\n\r\n"),
            std::string::npos)
      << relayed.bytes;
  EXPECT_EQ(receive(ok, kTrunk).bytes, relayed.bytes) << "the 2xx again gets the same";
  // The caller's refresh (a re-INVITE with the session timer) is relayed as it is; the
  // trunk's 2xx to it, without one, gets it again, so the caller goes on refreshing.
  const Sent refresh =
      receive(with_line(in_dialog(call, "INVITE", 2), "Session-Expires: 2400;refresher=uac\r\n"),
              kCaller, 0, kNow + 1200);
  EXPECT_EQ(occurrences(refresh.bytes, "Session-Expires"), 1u);
  const Sent refreshed = receive(without_lines(answer(refresh.bytes, "200 OK"), "Session-Expires"),
                                 kTrunk, 0, kNow + 1200);
  EXPECT_NE(refreshed.bytes.find("\r\nSession-Expires: 2400;refresher=uac\r\nRequire: "
                                 "timer\r\n\r\n"),
            std::string::npos)
      << refreshed.bytes;
  // A re-INVITE without it (as the callee's would be) and its 2xx are relayed as they are.
  const Sent hold = receive(in_dialog(call, "INVITE", 3), kCaller, 0, kNow + 1300);
  EXPECT_EQ(hold.bytes.find("Session-Expires"), std::string::npos);
  const Sent held = receive(without_lines(answer(hold.bytes, "200 OK"), "Session-Expires"), kTrunk,
                            0, kNow + 1300);
  EXPECT_EQ(held.bytes.find("Session-Expires"), std::string::npos);
  EXPECT_EQ(held.bytes.find("Require: timer"), std::string::npos);
}

TEST_F(SessionTimerTest, TheRequestedIntervalEndsTheCallWhenTheCallerRefreshes) {
  Pipeline& worker = *workers_[0];
  const std::string call = with_line(invite_to("0201", "refresher"), "k: timer\r\n");
  const Sent forwarded = receive(call);
  receive(without_lines(answer(forwarded.bytes, "200 OK"), "Session-Expires"), kTrunk);
  // The caller refreshes by UPDATE at 900 s, as the refresher does at half the interval.
  const Sent update =
      receive(with_line(in_dialog(call, "UPDATE", 2), "Session-Expires: 1800;refresher=uac\r\n"),
              kCaller, 0, kNow + 900);
  const Sent updated = receive(without_lines(answer(update.bytes, "200 OK"), "Session-Expires"),
                               kTrunk, 0, kNow + 900);
  EXPECT_NE(updated.bytes.find("Session-Expires: 1800;refresher=uac\r\n"), std::string::npos);
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 900 + 1799 + second / 16);
  EXPECT_EQ(calls_on("route:trunk"), 1u);
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 900 + 1800 + second);
  EXPECT_EQ(calls_on("route:trunk"), 0u) << "no refresh within 1800 s: the session is over";
}

TEST_F(SessionTimerTest, WithoutAnyRefresherTheCallKeepsDialogTimeout) {
  Pipeline& worker = *workers_[0];
  // The caller does no session timers (no Supported: timer), nor does the trunk.
  const Sent forwarded = receive(invite_to("0201", "untimed"));
  EXPECT_EQ(occurrences(forwarded.bytes, "Session-Expires: 1800\r\n"), 1u);
  const Sent relayed =
      receive(without_lines(answer(forwarded.bytes, "200 OK"), "Session-Expires"), kTrunk);
  EXPECT_EQ(relayed.bytes.find("Session-Expires"), std::string::npos) << "nobody would refresh";
  EXPECT_EQ(relayed.bytes.find("Require"), std::string::npos);
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 1800 + second);
  EXPECT_EQ(calls_on("route:trunk"), 1u) << "no session timer runs";
  for (std::int64_t second = 0; second < 16; ++second)
    worker.expire_calls(kNow + 43200 + second);
  EXPECT_EQ(calls_on("route:trunk"), 0u);
}

TEST_F(SessionTimerTest, AnInviteWithItsOwnOrOnAnUnlimitedRouteIsLeftAlone) {
  const Sent own = receive(with_line(invite_to("0201", "own"), "Session-Expires: 600\r\n"));
  expect_forwarded(own);
  EXPECT_EQ(occurrences(own.bytes, "Session-Expires"), 1u);
  EXPECT_NE(own.bytes.find("Session-Expires: 600\r\n"), std::string::npos);
  const Sent unlimited = receive(invite_to("7001", "free"));
  expect_forwarded(unlimited);
  EXPECT_EQ(unlimited.bytes.find("Session-Expires"), std::string::npos);
}

TEST_F(CallLimitTest, ARouteStartsAtMostMaxCpsCallsASecond) {
  const std::string first = invite_to("5001", "s1");
  const Sent one = receive(first);
  expect_forwarded(one);
  const Sent two = receive(invite_to("5002", "s2"));
  expect_forwarded(two);
  expect_forwarded(receive(first));  // the INVITE again: no new start
  const std::string third = invite_to("5003", "s3");
  expect_refused(receive(third), "503 Service Unavailable");
  EXPECT_EQ(worker_counters_[0].calls_rate_limited.read(), 1u);
  EXPECT_EQ(worker_counters_[0].calls_limited.read(), 0u);
  // The next second it starts; such calls hold no place, so their answers end their entries.
  expect_forwarded(receive(third, kCaller, 0, kNow + 1));
  EXPECT_EQ(workers_[0]->active_calls()->size(), 3u);
  answer_from_trunk(one, "200 OK");
  answer_from_trunk(two, "486 Busy Here");
  EXPECT_EQ(workers_[0]->active_calls()->size(), 1u);
  EXPECT_NE(context_->call_limits_text().find(
                "call_limit route cps: calls=0 max=0 refused=0 max_cps=2 refused_cps=1\n"),
            std::string::npos)
      << context_->call_limits_text();
}

// Two routes to the same carrier (outbound E.164 and national dialling) count against one
// [[call_limits]] entry: the trunk's channels, whichever route a call took.
TEST_F(CallLimitTest, RoutesNamingOneCallLimitShareIt) {
  const std::string call = invite_to("6001", "g1");
  const Sent forwarded = receive(call);
  expect_forwarded(forwarded);
  expect_refused(receive(invite_to("4001", "g2")), "480 Temporarily Unavailable");
  const std::string text = context_->call_limits_text();
  EXPECT_NE(
      text.find("call_limit group carrier: calls=1 max=1 refused=1 max_cps=0 refused_cps=0\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("carrier-outbound"), std::string::npos) << text;
  answer_from_trunk(forwarded, "200 OK");
  receive(in_dialog(call, "BYE", 2));
  expect_forwarded(receive(invite_to("4001", "g2")));
  EXPECT_EQ(calls_on("limit:carrier"), 1u);
}

// `request` from user 1001 with its credentials for the 407 `challenge`.
std::string with_credentials(std::string request, std::string_view challenge) {
  const std::string uri = request.substr(7, request.find(' ', 7) - 7);
  request.insert(request.find("Content-Length"),
                 test::proxy_authorization(challenge, "1001", "secret-1001", uri));
  return request;
}

TEST_F(CallLimitTest, AUserPlacesAtMostItsCallsWhateverTheRoute) {
  const std::string first = invite_to("8001", "u1");
  const Sent challenge = receive(first);
  ASSERT_EQ(challenge.outcome.code, 407);
  EXPECT_EQ(calls_on("user:1001"), 0u);  // not before the user is known
  std::string authenticated = with_credentials(first, challenge.bytes);
  authenticated.replace(authenticated.find("CSeq: 1 "), 8, "CSeq: 2 ");
  expect_forwarded(receive(authenticated));
  EXPECT_EQ(calls_on("user:1001"), 1u);
  // A second call by 1001 at once: refused, with 503, although its route has no limit.
  const std::string second = invite_to("8002", "u2");
  const Sent second_challenge = receive(second);
  ASSERT_EQ(second_challenge.outcome.code, 407);
  expect_refused(receive(with_credentials(second, second_challenge.bytes)),
                 "503 Service Unavailable");
  EXPECT_NE(context_->call_limits_text().find("call_limit users: limited=1 calls=1 refused=1\n"),
            std::string::npos)
      << context_->call_limits_text();
}

TEST_F(CallLimitTest, AReloadKeepsCountingTheCallsInProgress) {
  const std::string call = invite_to("0201", "r1");
  const Sent forwarded = receive(call);
  answer_from_trunk(forwarded, "200 OK");
  const config::LoadResult loaded = config::load_config_text(kConfig, "call_limits_test.toml");
  ASSERT_TRUE(loaded.ok());
  const std::unique_ptr<PipelineContext> next = PipelineContext::reloaded(loaded.config, *context_);
  workers_[0]->rebind(*next);
  EXPECT_EQ(next->call_limits_text().substr(0, 43), "call_limit route trunk: calls=1 max=2 refus");
  receive(in_dialog(call, "BYE", 2));
  EXPECT_EQ(calls_on("route:trunk"), 0u);
}

// ---- configuration ----------------------------------------------------------------------

std::string first_error(std::string_view text) {
  const config::LoadResult loaded = config::load_config_text(text, "limits.toml");
  return loaded.ok() ? std::string() : loaded.errors.front();
}

// ---- emergency calls ------------------------------------------------------------------

class EmergencyCallTest : public CallLimitTest {
 protected:
  EmergencyCallTest()
      : CallLimitTest(std::string(kConfig) +
                      "[limits]\nemergency_numbers = [\"911\", \"5112\", \"8112\"]\n") {}
};

// No limit refuses an emergency call (RFC 7339 §5.10.1), but it is counted on the trunk: it
// uses one of its channels until its BYE.
TEST_F(EmergencyCallTest, NoLimitRefusesAnEmergencyCallButItIsCounted) {
  const Sent first = receive(invite_to("9001", "e1"));
  expect_forwarded(first);
  expect_refused(receive(invite_to("9002", "e2")), "486 Busy Here");  // busy-trunk: 1 call
  const std::string emergency = invite_to("911", "e3");
  const Sent sent = receive(emergency);
  expect_forwarded(sent);
  EXPECT_EQ(calls_on("route:busy-trunk"), 2u) << "beyond the limit, and counted";
  EXPECT_EQ(worker_counters_[0].emergency_requests.read(), 1u);
  answer_from_trunk(sent, "200 OK");
  receive(in_dialog(emergency, "BYE", 2));
  EXPECT_EQ(calls_on("route:busy-trunk"), 1u);
  expect_refused(receive(invite_to("9002", "e4")), "486 Busy Here");
  // max_cps = 2 on the cps route: its second is used up; the emergency call starts anyway.
  expect_forwarded(receive(invite_to("5001", "r1")));
  expect_forwarded(receive(invite_to("5002", "r2")));
  expect_refused(receive(invite_to("5003", "r3")), "503 Service Unavailable");
  expect_forwarded(receive(invite_to("5112", "r4")));
  EXPECT_EQ(worker_counters_[0].calls_rate_limited.read(), 1u);
}

// A user at its max_calls (1001: 1) still reaches the emergency number, counted all the same.
TEST_F(EmergencyCallTest, AUserAtItsLimitStillReachesTheEmergencyNumber) {
  const std::string first = invite_to("8001", "u1");
  std::string authenticated = with_credentials(first, receive(first).bytes);
  authenticated.replace(authenticated.find("CSeq: 1 "), 8, "CSeq: 2 ");
  expect_forwarded(receive(authenticated));
  const std::string emergency = invite_to("8112", "u2");
  expect_forwarded(receive(with_credentials(emergency, receive(emergency).bytes)));
  EXPECT_EQ(calls_on("user:1001"), 2u);
  const std::string third = invite_to("8003", "u3");
  expect_refused(receive(with_credentials(third, receive(third).bytes)), "503 Service Unavailable");
}

// An INVITE to urn:service:sos or one of its sub-services (RFC 5031) is placed as [limits]
// emergency_service_number (by default the first emergency number, 911 here): the route table
// routes it as 911, its Request-URI becomes sip:911@<first domain>, and, as a call to 911, no
// limit refuses it.
TEST_F(EmergencyCallTest, TheEmergencyServiceUrnIsPlacedAsItsNumber) {
  expect_forwarded(receive(invite_to("9001", "e1")));  // busy-trunk holds its one call
  int call = 0;
  for (const char* service : {"urn:service:sos", "URN:service:sos.fire"}) {
    std::string by_service = invite_to("911", "s" + std::to_string(++call));
    by_service.replace(0, by_service.find(" SIP/2.0"), std::string("INVITE ") + service);
    const Sent sent = receive(by_service);
    expect_forwarded(sent);
    EXPECT_EQ(request_line(sent.bytes), "INVITE sip:911@sipline.local SIP/2.0");
  }
  EXPECT_EQ(calls_on("route:busy-trunk"), 3u) << "beyond the limit, and counted";
  EXPECT_EQ(worker_counters_[0].emergency_requests.read(), 2u);
  // Another service is not an emergency call: 416, as for any scheme sipline does not route.
  std::string other = invite_to("911", "c1");
  other.replace(0, other.find(" SIP/2.0"), "INVITE urn:service:counseling");
  expect_refused(receive(other), "416 Unsupported URI Scheme");
}

class EmergencySubServiceTest : public CallLimitTest {
 protected:
  EmergencySubServiceTest()
      : CallLimitTest(std::string(kConfig) +
                      "[limits]\nemergency_numbers = [\"911\", \"5112\"]\n"
                      "[limits.emergency_services]\n\"sos.police\" = \"5112\"\n") {}
};

// [limits.emergency_services] places a sub-service as its own number; one below it as its
// nearest listed parent; any other sub-service as emergency_service_number (RFC 5031 §3).
TEST_F(EmergencySubServiceTest, ASubServiceIsPlacedAsItsOwnNumber) {
  const std::pair<const char*, const char*> cases[] = {
      {"urn:service:sos.police", "INVITE sip:5112@sipline.local SIP/2.0"},
      {"urn:service:SOS.Police.traffic", "INVITE sip:5112@sipline.local SIP/2.0"},
      {"urn:service:sos.fire", "INVITE sip:911@sipline.local SIP/2.0"},
  };
  int call = 0;
  for (const auto& [service, placed] : cases) {
    std::string by_service = invite_to("911", "p" + std::to_string(++call));
    by_service.replace(0, by_service.find(" SIP/2.0"), std::string("INVITE ") + service);
    const Sent sent = receive(by_service);
    expect_forwarded(sent);
    EXPECT_EQ(request_line(sent.bytes), placed) << service;
  }
  EXPECT_EQ(worker_counters_[0].emergency_requests.read(), 3u);
}

TEST(CallLimitConfig, EmergencyServicesNameSubServicesAndEmergencyNumbers) {
  const std::string text = std::string(kConfig) +
                           "[limits]\nemergency_numbers = [\"112\", \"110\"]\n"
                           "[limits.emergency_services]\n";
  const config::LoadResult loaded =
      config::load_config_text(text + "\"SOS.Police\" = \"110\"\n", "limits.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  EXPECT_EQ(loaded.config->limits.emergency_services,
            (std::vector<std::pair<std::string, std::string>>{{"sos.police", "110"}}));
  EXPECT_EQ(first_error(text + "police = \"110\"\n"),
            "limits.toml:70: limits.emergency_services \"police\" must name a sub-service of sos "
            "(RFC 5031), such as \"sos.police\"");
  EXPECT_EQ(first_error(text + "sos = \"110\"\n"),
            "limits.toml:70: limits.emergency_services \"sos\" must name a sub-service of sos "
            "(RFC 5031), such as \"sos.police\"");
  EXPECT_EQ(first_error(text + "\"sos.fire\" = \"118\"\n"),
            "limits.toml:70: limits.emergency_services \"sos.fire\" = \"118\": the number must be "
            "one of limits.emergency_numbers");
}

class NoEmergencyServiceNumberTest : public CallLimitTest {
 protected:
  NoEmergencyServiceNumberTest()
      : CallLimitTest(std::string(kConfig) + "[limits]\nemergency_service_number = \"\"\n") {}
};

// Without a number to place it as, the service URN is answered 416, not guessed.
TEST_F(NoEmergencyServiceNumberTest, TheEmergencyServiceUrnIs416) {
  std::string by_service = invite_to("112", "s1");
  by_service.replace(0, by_service.find(" SIP/2.0"), "INVITE urn:service:sos");
  expect_refused(receive(by_service), "416 Unsupported URI Scheme");
  EXPECT_EQ(worker_counters_[0].emergency_requests.read(), 0u);
}

TEST(CallLimitConfig, MistakesAreRefusedAtTheirLine) {
  std::string text(kConfig);
  // Without record_route the BYE would not pass through us.
  std::string no_rr = text;
  no_rr.replace(no_rr.find("record_route = true"), 19, "record_route = false");
  EXPECT_EQ(first_error(no_rr),
            "limits.toml:12: users[0].max_calls needs [domain] record_route = true (a call is "
            "counted until its BYE, which otherwise does not pass through sipline)");
  std::string redirect = text;
  redirect.replace(redirect.find("action = \"location\"\nmax_calls"), 19, "action = \"redirect\"");
  EXPECT_NE(first_error(redirect).find("routes[3].max_calls applies to routes that forward"),
            std::string::npos)
      << first_error(redirect);
  std::string code_alone = text;
  code_alone.replace(code_alone.find("max_calls = 1\nlimit_code"), 14, "");
  EXPECT_NE(first_error(code_alone).find("routes[1].limit_code needs max_calls or max_cps"),
            std::string::npos)
      << first_error(code_alone);
  const std::string cps_reject =
      text + "[[routes]]\nname = \"no\"\naction = \"reject\"\ncode = 403\nmax_cps = 1\n";
  EXPECT_NE(first_error(cps_reject).find("routes[8].max_cps applies to routes that forward"),
            std::string::npos)
      << first_error(cps_reject);
  // [[call_limits]]: named by a route that has no limits of its own; at least one limit.
  std::string unknown = text;
  unknown.replace(unknown.find("call_limit = \"carrier\""), 22, "call_limit = \"carier\"");
  EXPECT_NE(first_error(unknown).find(
                "routes[6].call_limit \"carier\" is not the name of any [[call_limits]]"),
            std::string::npos)
      << first_error(unknown);
  std::string both = text;
  both.replace(both.find("call_limit = \"carrier\""), 0, "max_calls = 5\n");
  EXPECT_NE(first_error(both).find("routes[6].max_calls and call_limit are both set"),
            std::string::npos)
      << first_error(both);
  std::string empty_group = text;
  empty_group.replace(empty_group.find("max_calls = 1\ncode = 480"), 14, "");
  EXPECT_NE(first_error(empty_group).find("call_limits[0].max_calls or max_cps is required"),
            std::string::npos)
      << first_error(empty_group);
  EXPECT_NE(first_error(text + "[limits]\ncall_table_size = 3000\n")
                .find("limits.call_table_size must be a power of two, not 3000"),
            std::string::npos);
  EXPECT_NE(first_error(text + "[limits]\ndialog_timeout = 10\n").find("dialog_timeout"),
            std::string::npos);
  EXPECT_EQ(first_error(text + "[limits]\ncall_table_size = 4096\ndialog_timeout = 7200\n"), "");
  EXPECT_NE(first_error(text + "[limits]\nsession_expires = 60\n")
                .find("limits.session_expires must be 0 (none) or at least 90 seconds (RFC 4028 "
                      "§5: no session interval is shorter), not 60"),
            std::string::npos)
      << first_error(text + "[limits]\nsession_expires = 60\n");
  EXPECT_EQ(first_error(text + "[limits]\nsession_expires = 90\n"), "");
  // Emergency numbers: dialable, at most 16 of at most 15 octets; 112 and 911 by default.
  EXPECT_EQ(first_error(text + "[limits]\nemergency_numbers = [\"112\", \"1-1-2\"]\n"),
            "limits.toml:68: limits.emergency_numbers[1] \"1-1-2\" must be a number of 1 to 15 "
            "digits, '+', '*' or '#'");
  EXPECT_NE(first_error(text + "[limits]\nemergency_numbers = [\"\"]\n").find("must be a number"),
            std::string::npos);
  std::string many = "[limits]\nemergency_numbers = [";
  for (int i = 0; i < 17; ++i)
    many += "\"1" + std::to_string(i) + "\", ";
  EXPECT_NE(first_error(text + many + "]\n")
                .find("limits.emergency_numbers lists at most 16 numbers, not 17"),
            std::string::npos);
  const config::LoadResult defaults = config::load_config_text(text, "limits.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config->limits.emergency_numbers, (std::vector<std::string>{"112", "911"}));
  const config::LoadResult none =
      config::load_config_text(text + "[limits]\nemergency_numbers = []\n", "limits.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.config->limits.emergency_numbers.empty());
  // The service URN's number: the first emergency number unless set; one of them, or "".
  EXPECT_EQ(defaults.config->limits.emergency_service_number, "112");
  EXPECT_EQ(none.config->limits.emergency_service_number, "");
  const config::LoadResult chosen = config::load_config_text(
      text + "[limits]\nemergency_service_number = \"911\"\n", "limits.toml");
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.config->limits.emergency_service_number, "911");
  EXPECT_EQ(first_error(text + "[limits]\nemergency_numbers = [\"112\"]\n"
                               "emergency_service_number = \"110\"\n"),
            "limits.toml:69: limits.emergency_service_number \"110\" must be one of "
            "limits.emergency_numbers, or \"\" for none");
}

}  // namespace
}  // namespace sipline::dataplane

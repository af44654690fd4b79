// Overload handling: the RFC 7339 Via bytes (sip/overload_control), the admission gate's
// detection and decisions (dataplane/overload), and the pipeline's 503 + Retry-After (+ oc
// feedback) for what the gate sheds, with a real config and no sockets.
#include "dataplane/overload.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/overload_control.hpp"
#include "sip/rewrite.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

sip::OcFeedback feedback(std::uint8_t percent, std::uint32_t validity_ms) {
  sip::OcFeedback result;
  result.reduction_percent = percent;
  result.validity_ms = validity_ms;
  result.seq_seconds = 1282321615;
  result.seq_millis = 781;
  return result;
}

std::string rewrite_via(std::string_view element, const sip::OcFeedback& value) {
  const sip::Parsed<sip::Via> via = sip::parse_via(element);
  EXPECT_TRUE(via.ok());
  std::array<char, 512> out{};
  const std::size_t size = sip::write_via_with_feedback(element, via.value, value, out);
  return std::string(out.data(), size);
}

// --- sip/overload_control ---------------------------------------------------------------------

TEST(OverloadControl, FormatsTheRfc7339Parameters) {
  std::array<char, 128> out{};
  const std::size_t size = sip::format_oc_parameters(feedback(20, 500), out);
  EXPECT_EQ(std::string(out.data(), size),
            "oc=20;oc-algo=\"loss\";oc-validity=500;oc-seq=1282321615.781");
  sip::OcFeedback small_fraction = feedback(0, 0);
  small_fraction.seq_millis = 5;
  const std::size_t small = sip::format_oc_parameters(small_fraction, out);
  EXPECT_EQ(std::string(out.data(), small),
            "oc=0;oc-algo=\"loss\";oc-validity=0;oc-seq=1282321615.005");
  std::array<char, 20> tiny{};
  EXPECT_EQ(sip::format_oc_parameters(feedback(20, 500), tiny), 0u);
}

TEST(OverloadControl, ReadsTheClientOffer) {
  const auto offer = [](std::string_view element) {
    const sip::Parsed<sip::Via> via = sip::parse_via(element);
    EXPECT_TRUE(via.ok());
    return sip::read_oc_offer(via.value);
  };
  EXPECT_FALSE(offer("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1").supported);
  const sip::OcOffer bare = offer("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;oc");
  EXPECT_TRUE(bare.supported);
  EXPECT_TRUE(bare.loss);  // §5.1: loss is the default algorithm
  const sip::OcOffer listed =
      offer("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;oc;oc-algo=\"rate, loss\"");
  EXPECT_TRUE(listed.supported && listed.loss);
  const sip::OcOffer other =
      offer("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;oc;oc-algo=\"rate\"");
  EXPECT_TRUE(other.supported);
  EXPECT_FALSE(other.loss);
  // "ocx" is another parameter.
  EXPECT_FALSE(offer("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;ocx").supported);
}

TEST(OverloadControl, ReplacesTheOfferInTheViaElement) {
  EXPECT_EQ(rewrite_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=5060;oc;"
                        "oc-algo=\"loss,A\"",
                        feedback(20, 500)),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=5060;oc=20;oc-algo=\"loss\";"
            "oc-validity=500;oc-seq=1282321615.781");
  // An older value from a server before us is replaced, not repeated.
  EXPECT_EQ(rewrite_via("SIP/2.0/UDP h;oc=5;oc-seq=1.1;branch=z9hG4bK2;oc-validity=100",
                        feedback(30, 500)),
            "SIP/2.0/UDP h;branch=z9hG4bK2;oc=30;oc-algo=\"loss\";oc-validity=500;"
            "oc-seq=1282321615.781");
}

TEST(OverloadControl, SplicesIntoALocalResponse) {
  const std::string request_text =
      "INVITE sip:7000@sipline.local SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport;oc\r\n"
      "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down\r\n"
      "From: <sip:1001@sipline.local>;tag=f\r\nTo: <sip:7000@sipline.local>\r\n"
      "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const sip::Message request = sip::parse_message(request_text);
  ASSERT_TRUE(request.ok());
  std::vector<char> out(2048);
  sip::LocalResponse response;
  response.code = 503;
  response.to_tag = "t1";
  response.extra_headers = "Retry-After: 5\r\n";
  const sip::Written written = sip::write_local_response(request, response, out);
  ASSERT_TRUE(written.ok());
  const std::size_t size =
      sip::add_oc_feedback_to_local_response(request, feedback(40, 500), out, written.size);
  EXPECT_EQ(std::string(out.data(), size),
            "SIP/2.0 503 Service Unavailable\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport;oc=40;oc-algo=\"loss\";"
            "oc-validity=500;oc-seq=1282321615.781\r\n"
            "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down\r\n"
            "From: <sip:1001@sipline.local>;tag=f\r\nTo: <sip:7000@sipline.local>;tag=t1\r\n"
            "Call-ID: c1\r\nCSeq: 1 INVITE\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n");
  // No room: nothing changes and 0 says so.
  std::vector<char> exact(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(written.size));
  const sip::Written again = sip::write_local_response(request, response, exact);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(sip::add_oc_feedback_to_local_response(request, feedback(40, 500), exact, again.size),
            0u);
}

// --- dataplane/overload: detection and decisions -------------------------------------------

config::OverloadConfig settings() {
  config::OverloadConfig result;
  result.queue_high_percent = 25;
  result.queue_low_percent = 5;
  result.register_backlog = 4;
  result.busy_ms = 5;
  return result;
}

TEST(OverloadGate, ShortBatchesNeverSample) {
  OverloadGate gate(settings());
  EXPECT_FALSE(gate.on_batch(3, 32));
  EXPECT_FALSE(gate.overloaded());
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Admit);
}

TEST(OverloadGate, FullBatchesSampleTheQueueOncePerFew) {
  OverloadGate gate(settings());
  std::size_t samples = 0;
  for (std::size_t i = 0; i < 4 * OverloadGate::kQueueSampleBatches; ++i) {
    samples += gate.on_batch(32, 32) ? 1 : 0;
  }
  EXPECT_EQ(samples, 4u);
}

TEST(OverloadGate, QueueAboveHighShedsSilentlyUntilBelowLow) {
  OverloadGate gate(settings());
  ASSERT_TRUE(gate.on_batch(32, 32));
  gate.on_queue_sample(300, 1000);  // 30% >= 25%
  EXPECT_TRUE(gate.overloaded());
  EXPECT_TRUE(gate.severe());
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::ShedSilently);
  EXPECT_EQ(gate.admit(RequestClass::RegisterForUs), Admission::ShedSilently);
  EXPECT_EQ(gate.admit(RequestClass::Continuing), Admission::Admit);
  gate.on_queue_sample(100, 1000);  // 10%: between low and high, still overloaded
  EXPECT_TRUE(gate.overloaded());
  gate.on_queue_sample(40, 1000);  // 4% < 5%
  EXPECT_FALSE(gate.overloaded());
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Admit);
  // A drained socket ends overload at once.
  gate.on_queue_sample(900, 1000);
  EXPECT_TRUE(gate.overloaded());
  gate.on_batch(5, 32);
  EXPECT_FALSE(gate.overloaded());
}

TEST(OverloadGate, BusyMsOfCpuWithoutDrainingIsOverload) {
  OverloadGate gate(settings());  // busy_ms = 5
  gate.set_cpu_time(1'000'000);
  gate.on_batch(32, 32);
  gate.set_cpu_time(1'004'999);
  gate.on_batch(32, 32);
  EXPECT_FALSE(gate.overloaded());
  gate.set_cpu_time(1'005'000);
  gate.on_batch(32, 32);
  EXPECT_TRUE(gate.overloaded());
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Shed);
  gate.set_cpu_time(1'005'100);
  gate.on_batch(3, 32);  // drained
  EXPECT_FALSE(gate.overloaded());
  gate.set_cpu_time(1'010'000);
  gate.on_batch(32, 32);
  EXPECT_FALSE(gate.overloaded());  // 4.9 ms of CPU since the socket was drained
}

// A DPDK owner fed only by hand-offs: its RX queue is always empty (short batches), its inbox
// comes back full. The inbox alone trips overload; a short inbox burst ends it; an empty
// inbox never holds an overload the RX queue ended.
TEST(OverloadGate, FullInboxForBusyMsIsOverloadEvenWithAnEmptyRxQueue) {
  OverloadGate gate(settings());  // busy_ms = 5
  const auto iteration = [&gate](std::int64_t cpu_us, std::size_t rx, std::size_t inbox) {
    gate.set_cpu_time(cpu_us);
    gate.on_batch(rx, 32, Input::Receive);
    gate.on_batch(inbox, 32, Input::Inbox);
  };
  iteration(1'000'000, 0, 32);
  iteration(1'004'999, 0, 32);
  EXPECT_FALSE(gate.overloaded());
  iteration(1'005'000, 0, 32);
  EXPECT_TRUE(gate.overloaded());
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Shed);
  iteration(1'005'100, 0, 32);
  EXPECT_TRUE(gate.overloaded()) << "an empty RX queue does not end an inbox backlog";
  iteration(1'005'200, 0, 7);
  EXPECT_FALSE(gate.overloaded());

  // The RX queue backs up while the inbox stays empty: the RX queue decides alone.
  iteration(1'010'000, 32, 0);
  iteration(1'015'000, 32, 0);
  EXPECT_TRUE(gate.overloaded());
  iteration(1'015'100, 5, 0);
  EXPECT_FALSE(gate.overloaded());
}

// dataplane.spread: the ring of bursts other workers pass on is an input of its own; its
// backlog is overload, and neither the inbox nor the RX queue draining ends it.
TEST(OverloadGate, FullSpreadRingForBusyMsIsOverloadAndOnlyItsOwnDrainEndsIt) {
  OverloadGate gate(settings());  // busy_ms = 5
  const auto iteration = [&gate](std::int64_t cpu_us, std::size_t inbox, std::size_t spread) {
    gate.set_cpu_time(cpu_us);
    gate.on_batch(0, 32, Input::Receive);
    gate.on_batch(inbox, 32, Input::Inbox);
    gate.on_batch(spread, 32, Input::Spread);
  };
  iteration(2'000'000, 3, 32);
  iteration(2'004'999, 3, 32);
  EXPECT_FALSE(gate.overloaded());
  iteration(2'005'000, 3, 32);
  EXPECT_TRUE(gate.overloaded());
  iteration(2'005'100, 0, 32);
  EXPECT_TRUE(gate.overloaded()) << "a drained inbox does not end a spread backlog";
  iteration(2'005'200, 0, 31);
  EXPECT_FALSE(gate.overloaded());
}

// answer_percent: within one window, 503s up to max(8, admitted x percent / 100); the rest of
// the shed requests go unanswered; the next window starts a new budget.
TEST(OverloadGate, AnswersAreBudgetedByWhatWasAdmitted) {
  config::OverloadConfig budgeted = settings();
  budgeted.answer_percent = 50;
  OverloadGate gate(budgeted);
  gate.tick(1'000, 1'000);  // opens the first window
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(gate.admit(RequestClass::New), Admission::Admit);
  gate.set_cpu_time(0);
  gate.on_batch(32, 32);
  gate.set_cpu_time(5'000);
  gate.on_batch(32, 32);
  ASSERT_TRUE(gate.overloaded());
  std::size_t answered = 0, silent = 0;
  for (int i = 0; i < 100; ++i) {
    const Admission decision = gate.admit(RequestClass::New);
    answered += decision == Admission::Shed ? 1 : 0;
    silent += decision == Admission::ShedSilently ? 1 : 0;
  }
  EXPECT_EQ(answered, 20u);  // 40 admitted x 50%
  EXPECT_EQ(silent, 80u);
  EXPECT_EQ(gate.admit(RequestClass::Continuing), Admission::Admit);

  gate.tick(1'000 + OverloadGate::kWindowMs, 1'100);  // a new window: nothing admitted yet
  answered = 0;
  for (int i = 0; i < 20; ++i)
    answered += gate.admit(RequestClass::New) == Admission::Shed ? 1 : 0;
  EXPECT_EQ(answered, OverloadGate::kMinAnswersPerWindow);

  budgeted.answer_percent = 0;
  OverloadGate never(budgeted);
  never.set_register_backlog(10);
  EXPECT_EQ(never.admit(RequestClass::RegisterForUs), Admission::ShedSilently);
}

TEST(OverloadGate, RegisterBacklogShedsOnlyRegisters) {
  OverloadGate gate(settings());
  gate.set_register_backlog(3);
  EXPECT_EQ(gate.admit(RequestClass::RegisterForUs), Admission::Admit);
  gate.set_register_backlog(4);
  EXPECT_EQ(gate.admit(RequestClass::RegisterForUs), Admission::Shed);
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Admit);
}

TEST(OverloadGate, DisabledAdmitsEverything) {
  config::OverloadConfig off = settings();
  off.enabled = false;
  OverloadGate gate(off);
  EXPECT_FALSE(gate.on_batch(32, 32));
  gate.on_queue_sample(1000, 1000);
  gate.set_register_backlog(100);
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Admit);
  EXPECT_EQ(gate.admit(RequestClass::RegisterForUs), Admission::Admit);
}

TEST(OverloadGate, LossFeedbackFollowsTheShedShareAndDecays) {
  OverloadGate gate(settings());
  gate.tick(1000, 5'000'000);
  EXPECT_FALSE(gate.feedback_active());
  gate.on_batch(32, 32);
  gate.on_queue_sample(900, 1000);
  // 10 new requests, all shed; then the window closes: half-way to 100%.
  for (int i = 0; i < 10; ++i)
    gate.admit(RequestClass::New);
  gate.tick(1100, 5'000'100);
  ASSERT_TRUE(gate.feedback_active());
  EXPECT_EQ(gate.reduction_percent(), 50);
  EXPECT_EQ(gate.feedback().validity_ms, 500u);
  EXPECT_EQ(gate.feedback().seq_seconds, 5000u);
  EXPECT_EQ(gate.feedback().seq_millis, 100u);
  // Overload over, nothing shed: the window that began overloaded changes nothing, the next
  // one decays the reduction by kDecayPercent.
  gate.on_batch(1, 32);
  gate.tick(1200, 5'000'200);
  EXPECT_EQ(int{gate.reduction_percent()}, 50);
  gate.tick(1300, 5'000'300);
  // The decay is an eighth of the value (50 -> 44), at least kDecayPercent.
  EXPECT_EQ(int{gate.reduction_percent()}, 50 - 50 / 8);
  EXPECT_EQ(gate.feedback().seq_millis, 300u);  // a new value, a new oc-seq
}

TEST(OverloadGate, PartialSheddingAsksForTheMissingShare) {
  OverloadGate gate(settings());
  gate.tick(1000, 1'000);
  // 4 admitted, then overloaded: 6 shed. Admitted share 40%: the reduction that would have
  // fitted is 60%; the gate moves half-way there.
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(gate.admit(RequestClass::New), Admission::Admit);
  gate.on_batch(32, 32);
  gate.on_queue_sample(900, 1000);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(gate.admit(RequestClass::New), Admission::ShedSilently);
  gate.tick(1100, 1'100);
  EXPECT_EQ(gate.reduction_percent(), 30);
}

TEST(OverloadGate, ClassifiesRequests) {
  const auto classify = [](const std::string& text, bool register_for_us = false) {
    const sip::Message message = sip::parse_message(text);
    EXPECT_TRUE(message.ok());
    return classify_request(message, register_for_us);
  };
  const auto request = [](std::string method, std::string to) {
    return method + " sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" +
           "From: <sip:a@h>;tag=f\r\nTo: " + to + "\r\nCall-ID: c\r\nCSeq: 1 " + method +
           "\r\nContent-Length: 0\r\n\r\n";
  };
  EXPECT_EQ(classify(request("INVITE", "<sip:1@h>")), RequestClass::New);
  EXPECT_EQ(classify(request("OPTIONS", "<sip:1@h>")), RequestClass::New);
  EXPECT_EQ(classify(request("INVITE", "<sip:1@h>;tag=x")), RequestClass::Continuing);
  EXPECT_EQ(classify(request("ACK", "<sip:1@h>")), RequestClass::Continuing);
  EXPECT_EQ(classify(request("CANCEL", "<sip:1@h>")), RequestClass::Continuing);
  EXPECT_EQ(classify(request("BYE", "<sip:1@h>")), RequestClass::Continuing);
  EXPECT_EQ(classify(request("REGISTER", "<sip:1@h>"), true), RequestClass::RegisterForUs);
  EXPECT_EQ(classify(request("REGISTER", "<sip:1@h>"), false), RequestClass::New);
  const auto with = [](std::string text, const std::string& line) {
    return text.insert(text.find("Content-Length"), line + "\r\n");
  };
  EXPECT_EQ(classify(with(request("REGISTER", "<sip:1@h>"),
                          "Authorization: Digest username=\"1\", realm=\"h\""),
                     true),
            RequestClass::CredentialedRegister);
  EXPECT_EQ(classify(with(request("INVITE", "<sip:1@h>"),
                          "Proxy-Authorization: Digest username=\"1\", realm=\"h\"")),
            RequestClass::Credentialed);
}

// The answer to a challenge passes while overloaded: shedding it would waste the round trip.
TEST(OverloadGate, CredentialedRequestsPassUnlessSevere) {
  OverloadGate gate(settings());  // busy_ms = 5, register_backlog = 4
  gate.set_cpu_time(0);
  gate.on_batch(32, 32);
  gate.set_cpu_time(5'000);
  gate.on_batch(32, 32);
  ASSERT_TRUE(gate.overloaded());
  EXPECT_EQ(gate.admit(RequestClass::Credentialed), Admission::Admit);
  EXPECT_EQ(gate.admit(RequestClass::CredentialedRegister), Admission::Admit);
  EXPECT_EQ(gate.admit(RequestClass::RegisterForUs), Admission::Shed);
  EXPECT_EQ(gate.admit(RequestClass::New), Admission::Shed);
  gate.set_register_backlog(4);  // the control thread cannot take more
  EXPECT_EQ(gate.admit(RequestClass::CredentialedRegister), Admission::Shed);
  EXPECT_EQ(gate.admit(RequestClass::Credentialed), Admission::Admit);
  gate.on_queue_sample(900, 1000);  // severe
  EXPECT_EQ(gate.admit(RequestClass::Credentialed), Admission::ShedSilently);
  EXPECT_EQ(gate.admit(RequestClass::CredentialedRegister), Admission::ShedSilently);
}

// --- the pipeline with a gate ---------------------------------------------------------------

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local", "127.0.0.1"]
[registrar]
store = "memory"
[overload]
retry_after = 7
oc_validity_ms = 800
[[routes]]
name = "out"
user_prefix = "7"
action = "forward"
target = "sip:127.0.0.1:5070"
[[routes]]
name = "emergency"
user_prefix = "9"
action = "forward"
target = "sip:127.0.0.1:5070"
)toml";

class OverloadPipelineTest : public ::testing::Test {
 protected:
  OverloadPipelineTest() : location_(1), out_(kPacketCapacity) {
    const config::LoadResult loaded = config::load_config_text(kConfig, "overload_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    gate_ = std::make_unique<OverloadGate>(loaded.config->overload);
    pipeline_ = std::make_unique<Pipeline>(*context_, 0);
    pipeline_->set_overload_gate(gate_.get());
  }
  Outcome process(const std::string& text) {
    const Inbound in{text, *peer_from_text("192.0.2.10:5099"), 0};
    return pipeline_->process(in, kNow, OutputBuffers{out_, {}});
  }
  std::string written(const Outcome& outcome) const {
    return std::string(out_.data(), outcome.size);
  }
  // Overloaded by the busy clock (503s), not severely (silent).
  void overload() {
    gate_->set_cpu_time(1'000'000);
    gate_->on_batch(32, 32);
    gate_->set_cpu_time(1'000'000 + 20'000);  // busy_ms = 20 by default
    gate_->on_batch(32, 32);
    ASSERT_TRUE(gate_->overloaded());
    ASSERT_FALSE(gate_->severe());
  }
  std::string tag(std::string_view call_id) const {
    return std::string(local_to_tag(call_id, context_->to_tag_key).view());
  }

  LocationTable location_;
  std::vector<char> out_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<OverloadGate> gate_;
  std::unique_ptr<Pipeline> pipeline_;
};

std::string invite(std::string_view via_params, std::string_view to = "<sip:7000@sipline.local>") {
  return "INVITE sip:7000@sipline.local SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport" +
         std::string(via_params) +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:1001@sipline.local>;tag=f1\r\nTo: " + std::string(to) +
         "\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
}

// A re-INVITE of the call: to the callee's Contact (its remote target, RFC 3261 §12.2.1.1),
// the callee's tag on its To.
std::string reinvite() {
  std::string request = invite("", "<sip:7000@sipline.local>;tag=remote");
  request.replace(0, request.find(" SIP/2.0"), "INVITE sip:7000@127.0.0.1:5070");
  return request;
}

TEST_F(OverloadPipelineTest, AdmitsWhileNotOverloaded) {
  const Outcome outcome = process(invite(""));
  EXPECT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(outcome.shed, Shed::None);
}

TEST_F(OverloadPipelineTest, ShedsANewInviteWith503AndRetryAfter) {
  overload();
  const Outcome outcome = process(invite(""));
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 503);
  EXPECT_EQ(outcome.shed, Shed::NewRequest);
  EXPECT_EQ(format_peer(outcome.destination).view(), "192.0.2.10:5099");
  EXPECT_EQ(written(outcome),
            "SIP/2.0 503 Service Unavailable\r\n"
            // §18.2.1 / RFC 3581 §4: the Via as stamped by the transport that received it.
            "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;"
            "received=192.0.2.10\r\n"
            "From: <sip:1001@sipline.local>;tag=f1\r\n"
            "To: <sip:7000@sipline.local>;tag=" +
                tag("call-1") +
                "\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nRetry-After: 7\r\n"
                "Content-Length: 0\r\n\r\n");
}

TEST_F(OverloadPipelineTest, SevereOverloadShedsWithoutAnAnswer) {
  gate_->on_batch(32, 32);
  gate_->on_queue_sample(700, 1000);  // 70% >= queue_high_percent (60)
  const Outcome outcome = process(invite(""));
  EXPECT_EQ(outcome.verdict, Verdict::Drop);
  EXPECT_EQ(outcome.drop, DropReason::Overload);
  EXPECT_EQ(outcome.shed, Shed::NewRequest);
  // What continues a call still passes.
  const Outcome bye = process(reinvite());
  EXPECT_EQ(bye.kind, SendKind::ForwardedRequest);
}

// RFC 7339 §5.10.1: an emergency call ([limits] emergency_numbers, 112 and 911 by default) is
// never shed, not even silently in severe overload; a number that only starts like one is.
TEST_F(OverloadPipelineTest, EmergencyCallsAreNeverShed) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  gate_->on_batch(32, 32);
  gate_->on_queue_sample(700, 1000);  // severe
  const auto to_number = [](std::string_view user) {
    std::string request = invite("", "<sip:" + std::string(user) + "@sipline.local>");
    request.replace(request.find("7000"), 4, user);
    return request;
  };
  for (std::string_view user : {"911", "911;phone-context=+1"}) {
    const Outcome outcome = process(to_number(user));
    EXPECT_EQ(outcome.shed, Shed::None) << user;
    EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest) << user;
  }
  EXPECT_EQ(counters.emergency_requests.read(), 2u);
  for (std::string_view user : {"9110", "91"}) {
    const Outcome outcome = process(to_number(user));
    EXPECT_EQ(outcome.shed, Shed::NewRequest) << user;
    EXPECT_EQ(outcome.verdict, Verdict::Drop) << user;
  }
  EXPECT_EQ(counters.emergency_requests.read(), 2u);
}

TEST_F(OverloadPipelineTest, InDialogRequestsPassWhileOverloaded) {
  overload();
  const Outcome outcome = process(reinvite());
  EXPECT_EQ(outcome.shed, Shed::None);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
}

TEST_F(OverloadPipelineTest, OcClientsGetTheLossFeedbackInTheirVia) {
  gate_->tick(1000, 1'700'000'000'250);
  overload();
  for (int i = 0; i < 3; ++i)
    process(invite(";oc"));
  gate_->tick(1100, 1'700'000'000'350);  // window closed: everything shed -> half-way: 50%
  const Outcome outcome = process(invite(";oc;oc-algo=\"loss\""));
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 503);
  const std::string text = written(outcome);
  EXPECT_NE(text.find("Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;"
                      "received=192.0.2.10;oc=50;oc-algo=\"loss\";oc-validity=800;"
                      "oc-seq=1700000000.350\r\nFrom:"),
            std::string::npos)
      << text;
  // A client that did not offer oc gets none.
  const Outcome plain = process(invite(""));
  EXPECT_EQ(written(plain).find("oc="), std::string::npos);
}

TEST_F(OverloadPipelineTest, ForwardedResponsesCarryFeedbackToOcClients) {
  gate_->tick(1000, 1'700'000'000'000);
  overload();
  process(invite(";oc"));
  gate_->tick(1100, 1'700'000'000'100);
  // A 180 coming back through us: our Via on top, the client's below it.
  const std::string request = invite(";oc");
  gate_->on_batch(1, 32);  // overload over, but the feedback stays valid
  const Outcome forwarded = process(request);
  ASSERT_EQ(forwarded.kind, SendKind::ForwardedRequest);
  const std::string sent = written(forwarded);
  const std::size_t via_start = sent.find("Via: ") + 5;
  const std::string our_via = sent.substr(via_start, sent.find("\r\n", via_start) - via_start);
  const std::string response =
      "SIP/2.0 180 Ringing\r\nVia: " + our_via +
      "\r\nVia: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;oc\r\n"
      "From: <sip:1001@sipline.local>;tag=f1\r\nTo: <sip:7000@sipline.local>;tag=u\r\n"
      "Call-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const Outcome outcome = process(response);
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  ASSERT_EQ(outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(written(outcome),
            "SIP/2.0 180 Ringing\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;oc=50;"
            "oc-algo=\"loss\";oc-validity=800;oc-seq=1700000000.100\r\n"
            "From: <sip:1001@sipline.local>;tag=f1\r\nTo: <sip:7000@sipline.local>;tag=u\r\n"
            "Call-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
}

// --- config ----------------------------------------------------------------------------------

TEST(OverloadConfig, DefaultsAndErrorsWithLines) {
  const config::LoadResult defaults = config::load_config_text(
      "[listen]\nudp = [\"127.0.0.1:5060\"]\n[domain]\nnames = [\"h\"]\n[registrar]\nstore = "
      "\"memory\"\n",
      "d.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.errors.front();
  EXPECT_TRUE(defaults.config->overload.enabled);
  EXPECT_EQ(defaults.config->overload.retry_after_s, 5u);
  EXPECT_EQ(defaults.config->overload.oc_validity_ms, 500u);
  EXPECT_EQ(defaults.config->overload.answer_percent, 25u);
  EXPECT_EQ(defaults.config->overload.shed_filter_percent, 75u);

  const config::LoadResult bad = config::load_config_text(
      "[listen]\nudp = [\"127.0.0.1:5060\"]\n[domain]\nnames = [\"h\"]\n[registrar]\nstore = "
      "\"memory\"\n[overload]\nretry_after = 0\nqueue_high_percent = 10\nqueue_low_percent = 20\n"
      "oc = \"yes\"\nsurprise = 1\nshed_filter_percent = 101\n",
      "bad.toml");
  ASSERT_FALSE(bad.ok());
  std::string all;
  for (const std::string& error : bad.errors)
    all += error + "\n";
  EXPECT_NE(all.find("bad.toml:8:"), std::string::npos) << all;   // retry_after
  EXPECT_NE(all.find("bad.toml:10:"), std::string::npos) << all;  // low >= high
  EXPECT_NE(all.find("bad.toml:11:"), std::string::npos) << all;  // oc not a bool
  EXPECT_NE(all.find("bad.toml:12:"), std::string::npos) << all;  // unknown key
  EXPECT_NE(all.find("bad.toml:13:"), std::string::npos) << all;  // shed_filter_percent > 100
}

}  // namespace
}  // namespace sipline::dataplane

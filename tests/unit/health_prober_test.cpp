// Server pools end to end on byte buffers: the pipeline forwarding to the member a Call-ID
// picks, 503 when none is up, the prober's OPTIONS, the answers the pipeline hands to the
// control thread, and what lost or answered probes do to the members the pipeline picks.
#include "dataplane/health_prober.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "sip/branch.hpp"
#include "sip/rewrite.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060", "[::1]:5060"]
[domain]
names = ["sipline.local"]
[registrar]
store = "memory"
[[users]]
user = "1001"
password = "secret-1001"
[[pools]]
name = "pbx"
members = ["sip:127.0.0.1:5070", { uri = "sip:[::1]:5071", weight = 1 }]
probe_interval = 2
down_after = 2
up_after = 1
[[routes]]
name = "to-pbx"
user_prefix = "8"
action = "forward"
pool = "pbx"
)toml";

std::string invite(const std::string& call_id) {
  return "INVITE sip:8000@sipline.local SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-" +
         call_id +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=from-1\r\n"
         "To: <sip:8000@sipline.local>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n";
}

struct SentProbe {
  std::string bytes;
  std::size_t socket;
  std::string to;
};

class PoolTest : public ::testing::Test {
 protected:
  PoolTest() : location_(1), out_(kPacketCapacity) {
    const config::LoadResult loaded = config::load_config_text(kConfig, "pool_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    pipeline_ = std::make_unique<Pipeline>(*context_, 0);
    prober_ = std::make_unique<HealthProber>(*context_, context_->pools);
    prober_->set_sender([this](std::string_view bytes, std::size_t socket, const PeerAddress& to) {
      sent_.push_back({std::string(bytes), socket, std::string(format_peer(to).view())});
      return true;
    });
  }

  Outcome process(const std::string& text, const char* from = "192.0.2.10:5099") {
    const Inbound in{text, *peer_from_text(from), 0};
    return pipeline_->process(in, kNow, OutputBuffers{out_, {}});
  }
  std::string written(const Outcome& outcome) const { return {out_.data(), outcome.size}; }

  // The member's answer to a probe, as a server writes it (§8.2.6: the Vias copied).
  static std::string answer(const std::string& probe, std::uint16_t code) {
    const sip::Message request = sip::parse_message(probe);
    EXPECT_TRUE(request.ok());
    sip::LocalResponse response;
    response.code = code;
    response.to_tag = "member-tag";
    std::array<char, 2048> buffer;
    const sip::Written size = sip::write_local_response(request, response, buffer);
    return std::string(buffer.data(), size.size);
  }

  // Sends the due probes and answers those for which `answers(index)` is true with 200.
  template <class Answers>
  void probe_round(std::int64_t now_ms, Answers answers) {
    sent_.clear();
    prober_->poll(now_ms);
    for (std::size_t i = 0; i < sent_.size(); ++i) {
      if (!answers(i)) continue;
      const std::string reply = answer(sent_[i].bytes, 200);
      const Outcome handed = process(reply, sent_[i].to.c_str());
      ASSERT_EQ(handed.verdict, Verdict::ToControl);
      EXPECT_TRUE(prober_->take_answer(reply));
    }
  }

  LocationTable location_;
  std::vector<char> out_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<HealthProber> prober_;
  std::vector<SentProbe> sent_;
};

TEST_F(PoolTest, ANewRequestGoesToTheMemberItsCallIdPicks) {
  std::set<std::string> destinations;
  for (int n = 0; n < 40; ++n) {
    const std::string call_id = "call-" + std::to_string(n);
    const Outcome first = process(invite(call_id));
    ASSERT_EQ(first.verdict, Verdict::Send);
    EXPECT_EQ(first.kind, SendKind::ForwardedRequest);
    const std::string destination(format_peer(first.destination).view());
    destinations.insert(destination);
    // A retransmission (and so its CANCEL, same Call-ID) goes to the same member, from the
    // listen address of its family.
    const Outcome again = process(invite(call_id));
    EXPECT_EQ(std::string(format_peer(again.destination).view()), destination);
    EXPECT_EQ(first.socket, destination == "127.0.0.1:5070" ? 0 : 1);
    const std::size_t member = *context_->pools.choose(0, call_id);
    EXPECT_EQ(destination, member == 0 ? "127.0.0.1:5070" : "[::1]:5071");
  }
  EXPECT_EQ(destinations.size(), 2u);
}

TEST_F(PoolTest, NoMemberUpIsAnswered503WithRetryAfter) {
  context_->pools.set_up_members(0, 0);
  const Outcome outcome = process(invite("call-1"));
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 503);
  EXPECT_TRUE(outcome.pool_unavailable);
  const std::string text = written(outcome);
  EXPECT_TRUE(text.starts_with("SIP/2.0 503 Service Unavailable\r\n")) << text;
  EXPECT_NE(text.find("\r\nRetry-After: 2\r\n"), std::string::npos) << text;
}

TEST_F(PoolTest, ProbesAreOptionsFromTheListenAddressOfTheMembersFamily) {
  prober_->poll(0);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].to, "127.0.0.1:5070");
  EXPECT_EQ(sent_[0].socket, 0u);
  EXPECT_EQ(sent_[1].to, "[::1]:5071");
  EXPECT_EQ(sent_[1].socket, 1u);
  const sip::Message probe = sip::parse_message(sent_[1].bytes);
  ASSERT_TRUE(probe.ok()) << sent_[1].bytes;
  EXPECT_EQ(probe.method, sip::Method::Options);
  EXPECT_EQ(probe.request_uri_text, "sip:[::1]:5071");
  EXPECT_EQ(probe.top_via.sent_by.host, "[::1]");
  EXPECT_EQ(probe.top_via.sent_by.port, 5060);
  EXPECT_TRUE(sip::branch_is_ours(probe.top_via.branch, context_->identity.branch_key));
  EXPECT_TRUE(probe.call_id.starts_with("sl-probe-"));
  // Not due again before the interval.
  sent_.clear();
  prober_->poll(1999);
  EXPECT_TRUE(sent_.empty());
}

TEST_F(PoolTest, UnansweredProbesTakeAMemberOutOfTheChoiceAndAnAnswerBringsItBack) {
  const auto only_member_0 = [](std::size_t index) { return index == 0; };
  probe_round(0, only_member_0);
  probe_round(2000, only_member_0);
  EXPECT_EQ(context_->pools.up_members(0), 0b11u);  // one probe lost so far
  probe_round(4000, only_member_0);                 // the second is found lost now
  EXPECT_EQ(context_->pools.up_members(0), 0b01u);
  for (int n = 0; n < 40; ++n) {
    const Outcome outcome = process(invite("call-" + std::to_string(n)));
    ASSERT_EQ(outcome.verdict, Verdict::Send);
    EXPECT_EQ(std::string(format_peer(outcome.destination).view()), "127.0.0.1:5070");
  }
  EXPECT_NE(prober_->counters_text().find(
                "pool pbx member 1 sip:[::1]:5071: down probes=3 answered=0 answered_5xx=0 lost=2"),
            std::string::npos)
      << prober_->counters_text();
  probe_round(6000, [](std::size_t) { return true; });  // up_after = 1
  EXPECT_EQ(context_->pools.up_members(0), 0b11u);
}

TEST_F(PoolTest, AnOperatorDrainsAMemberByIndexOrUri) {
  EXPECT_EQ(prober_->set_drained("pbx", "1", true), "");
  EXPECT_EQ(context_->pools.up_members(0), 0b01u);
  for (int n = 0; n < 20; ++n) {
    const Outcome outcome = process(invite("drained-" + std::to_string(n)));
    ASSERT_EQ(outcome.verdict, Verdict::Send);
    EXPECT_EQ(std::string(format_peer(outcome.destination).view()), "127.0.0.1:5070");
  }
  EXPECT_NE(prober_->counters_text().find("pool pbx member 1 sip:[::1]:5071: up drain probes="),
            std::string::npos)
      << prober_->counters_text();
  EXPECT_EQ(prober_->set_drained("pbx", "sip:[::1]:5071", false), "");
  EXPECT_EQ(context_->pools.up_members(0), 0b11u);
  EXPECT_EQ(prober_->set_drained("pbx", "7", true),
            "pool \"pbx\" has no member \"7\" (give its index or its URI)");
  EXPECT_EQ(prober_->set_drained("nope", "0", true), "no pool \"nope\"");
  EXPECT_EQ(context_->pools.up_members(0), 0b11u);
}

TEST_F(PoolTest, AForgedOrForeignAnswerIsNotHandedToTheControlThread) {
  prober_->poll(0);
  std::string reply = answer(sent_[0].bytes, 200);
  const std::size_t branch = reply.find("z9hG4bK-sl") + 10;
  reply[branch] = reply[branch] == '0' ? '1' : '0';  // breaks our signature
  const Outcome outcome = process(reply, "127.0.0.1:5070");
  EXPECT_EQ(outcome.verdict, Verdict::Drop);
  EXPECT_EQ(outcome.drop, DropReason::NotOurs);
  // Were it handed over anyway, the prober counts it as unmatched and changes nothing.
  EXPECT_TRUE(prober_->take_answer(reply));
  EXPECT_EQ(prober_->unmatched_answers(), 1u);
  EXPECT_EQ(prober_->checker().member(0, 0).answered, 0u);
}

TEST_F(PoolTest, ARequestIsNotTakenAsAnAnswer) {
  EXPECT_FALSE(prober_->take_answer(invite("call-1")));
  EXPECT_FALSE(prober_->take_answer("\r\nREGISTER sip:sipline.local SIP/2.0\r\n\r\n"));
  EXPECT_EQ(prober_->unmatched_answers(), 0u);
}

TEST_F(PoolTest, AFiveHundredAnswerCountsAgainstTheMember) {
  for (std::int64_t round = 0; round < 2; ++round) {
    sent_.clear();
    prober_->poll(round * 2000);
    const std::string reply = answer(sent_[0].bytes, 503);
    EXPECT_EQ(process(reply, "127.0.0.1:5070").verdict, Verdict::ToControl);
    EXPECT_TRUE(prober_->take_answer(reply));
  }
  EXPECT_EQ(context_->pools.up_members(0) & 1, 0u);
  EXPECT_EQ(prober_->checker().member(0, 0).answered_5xx, 2u);
  EXPECT_EQ(prober_->checker().member(0, 0).last_status, 503);
}

}  // namespace
}  // namespace sipline::dataplane

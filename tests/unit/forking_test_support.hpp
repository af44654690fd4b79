// What the transaction tests share (pool_failover_test.cpp, serial_fork_test.cpp,
// parallel_fork_test.cpp): a pipeline with a real config, its location table and transaction
// table, driven message by message and clock tick by clock tick; and, for the forking tests,
// the messages a caller and its callee's phones send.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/branch.hpp"

namespace sipline::dataplane::forking_test {

inline constexpr std::int64_t kNow = 1'800'000'000;
inline constexpr std::int64_t kStartMs = 5'000'000;
inline constexpr std::string_view kCaller = "192.0.2.10:5099";
inline constexpr std::string_view kDeskPhone = "192.0.2.41:5060";
inline constexpr std::string_view kLaptop = "192.0.2.42:5062";
inline constexpr std::string_view kMobile = "192.0.2.43:5064";

inline sip::Binding binding(std::string_view user, std::string_view address,
                            std::int64_t expires_in) {
  sip::Binding result;
  result.contact = "sip:" + std::string(user) + "@" + std::string(address);
  result.call_id = "reg-" + std::string(address);
  result.cseq = 1;
  result.expires_at = kNow + expires_in;
  return result;
}

inline std::string invite(std::string_view user, std::string_view branch) {
  return "INVITE sip:" + std::string(user) + "@sipline.local SIP/2.0\r\n" +
         "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=" + std::string(branch) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=from-1\r\n"
         "To: <sip:" +
         std::string(user) +
         "@sipline.local>\r\n"
         "Call-ID: hunt-1@192.0.2.10\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:1001@192.0.2.10:5099>\r\n"
         "Content-Length: 0\r\n\r\n";
}

// A contact's answer to the request it received: its Via lines kept, a To tag above 100.
inline std::string answer(const std::string& forwarded, std::string_view status) {
  std::string response = forwarded;
  response.replace(0, response.find("\r\n"), "SIP/2.0 " + std::string(status));
  if (status.substr(0, 3) != "100") {
    const std::size_t to_end = response.find("\r\n", response.find("To: "));
    response.insert(to_end, ";tag=phone-tag");
  }
  return response;
}

inline std::string request_line(const std::string& message) {
  return message.substr(0, message.find('\r'));
}

inline std::string top_branch(const std::string& message) {
  const std::size_t start = message.find("branch=") + 7;
  return message.substr(start, message.find_first_of(";\r", start) - start);
}

// The caller's INVITE `invite` rewritten as its `method` (CANCEL, ACK, MESSAGE): the start
// line's method and the CSeq's.
inline std::string as_method(std::string invite, std::string_view method) {
  invite.replace(0, 6, method);
  invite.replace(invite.find("CSeq: 1 INVITE"), 14, "CSeq: 1 " + std::string(method));
  return invite;
}

// The [listen], [domain] and [registrar] tables of the forking tests, then `tables` (users,
// routes).
inline std::string with_local_domain(std::string_view tables) {
  return R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local", "127.0.0.1"]
[registrar]
store = "memory")toml" +
         std::string(tables);
}

struct Sent {
  Outcome outcome;
  std::string bytes;
  std::string to() const { return std::string(format_peer(outcome.destination).view()); }
};

// One response, a contact's, relayed to the caller with status line "SIP/2.0 `status`".
inline void expect_relayed(const std::vector<Sent>& sent, std::string_view status) {
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(sent[0].to(), kCaller);
  EXPECT_EQ(request_line(sent[0].bytes), "SIP/2.0 " + std::string(status));
}

// Our `method` (CANCEL, ACK) of the INVITE we sent as `invite`: to where it went, with its
// Request-URI and branch (§9.1, §17.1.1.3).
inline void expect_request(const Sent& sent, std::string_view method, const Sent& invite) {
  EXPECT_EQ(sent.outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(sent.to(), invite.to());
  std::string line = request_line(invite.bytes);
  line.replace(0, 6, method);
  EXPECT_EQ(request_line(sent.bytes), line);
  EXPECT_EQ(top_branch(sent.bytes), top_branch(invite.bytes));
}

// A pipeline on `config_text` whose sends are collected as Sent.
class ForkingPipeline : public ::testing::Test {
 protected:
  explicit ForkingPipeline(std::string_view config_text) : location_(1), out_(kPacketCapacity) {
    const config::LoadResult loaded = config::load_config_text(config_text, "forking_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    pipeline_ = std::make_unique<Pipeline>(*context_, 0);
    pipeline_->set_counters(&counters_);
  }

  // The clock moves to `now_ms`; returns what the expired timers sent.
  std::vector<Sent> tick(std::int64_t now_ms) {
    pipeline_->set_clock_ms(now_ms);
    return drain(now_ms);
  }

  std::vector<Sent> drain(std::int64_t now_ms) {
    std::vector<Sent> sent;
    while (pipeline_->has_transaction_work(now_ms)) {
      const std::optional<Outcome> outcome =
          pipeline_->next_transaction_send(now_ms, OutputBuffers{out_, {}});
      if (!outcome) break;
      sent.push_back(Sent{*outcome, std::string(out_.data(), outcome->size)});
    }
    return sent;
  }

  // One datagram from `from`: what process() sent, then what followed from it.
  std::vector<Sent> receive(const std::string& text, std::string_view from = kCaller) {
    const Outcome outcome =
        pipeline_->process(Inbound{text, *peer_from_text(from), 0}, kNow, OutputBuffers{out_, {}});
    std::vector<Sent> sent{Sent{outcome, std::string(out_.data(), outcome.size)}};
    for (Sent& more : drain(kPendingSendsOnly))
      sent.push_back(std::move(more));
    return sent;
  }

  // Every timer has run out: nothing of the calls is left (entries, kept messages).
  void expect_all_gone() {
    // Each round lets the timers armed by the previous one (Timer G, H, D...) run out.
    for (std::int64_t round = 1; round <= 8; ++round)
      tick(kStartMs + round * 600'000);
    ASSERT_NE(pipeline_->transactions(), nullptr);
    EXPECT_EQ(pipeline_->transactions()->size(), 0u);
    EXPECT_EQ(pipeline_->transactions()->stored_count(), 0u);
  }

  LocationTable location_;
  std::vector<char> out_;
  WorkerCounters counters_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace sipline::dataplane::forking_test

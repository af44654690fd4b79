// The NAT keep-alives (dataplane/nat_pinger.hpp): which contacts get one, where it goes, what
// it is, and that a sweep over the location table reaches each contact once per interval.
#include "dataplane/nat_pinger.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace sipline::dataplane {
namespace {

std::string config_text(int interval_s, std::string_view extra = {}) {
  return R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local"]
[registrar]
store = "memory"
nat_ping_interval = )toml" +
         std::to_string(interval_s) + "\n" + std::string(extra);
}

sip::Binding binding(std::string_view contact, std::string_view received) {
  sip::Binding result;
  result.contact = std::string(contact);
  result.received = std::string(received);
  result.call_id = "reg-" + std::string(contact);
  result.cseq = 1;
  result.expires_at = 4'000'000'000;
  return result;
}

class NatPingerTest : public ::testing::Test {
 protected:
  NatPingerTest() : location_(1) {
    // Behind NATs: a private Contact, a Contact naming a host; the keep-alive goes to the
    // address the REGISTER came from.
    location_.replace("1002", {binding("sip:1002@192.168.1.20:5060", "198.51.100.7:40001"),
                               binding("sip:1002@phone.example", "198.51.100.8:5060")});
    // Reached where it says: no keep-alive (also not with the default port written out).
    location_.replace("1003", {binding("sip:1003@192.0.2.41:5060", "192.0.2.41:5060"),
                               binding("sip:1003@192.0.2.42", "192.0.2.42:5060")});
    // No IPv6 listen address to send from: counted as failed.
    location_.replace("1004", {binding("sip:1004@[fd00::4]:5060", "[2001:db8::4]:5062")});
    // Registered from an address sipline never sends to (0.0.0.0/8): none.
    location_.replace("1005", {binding("sip:1005@10.0.0.5:5060", "0.0.0.1:5060")});
    reload(1);
  }

  void reload(int interval_s) {
    const config::LoadResult loaded =
        config::load_config_text(config_text(interval_s), "nat_pinger_test.toml");
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    contexts_.push_back(PipelineContext::create(loaded.config, &location_));
    if (!pinger_) {
      pinger_ = std::make_unique<NatPinger>(*contexts_.back(), location_);
      pinger_->set_sender(
          [this](std::string_view datagram, std::size_t socket, const PeerAddress& to) {
            EXPECT_EQ(datagram, "\r\n\r\n");
            EXPECT_EQ(socket, 0u);
            ++sent_[std::string(format_peer(to).view())];
            return true;
          });
    } else {
      pinger_->reconfigure(*contexts_.back());
    }
  }

  // Polls every 10 ms from `from` up to `to` (excluded), as the control loop may.
  void run(std::int64_t from, std::int64_t to) {
    for (std::int64_t now = from; now < to; now += 10)
      pinger_->poll(now);
  }

  LocationTable location_;
  std::vector<std::unique_ptr<PipelineContext>> contexts_;
  std::unique_ptr<NatPinger> pinger_;
  std::map<std::string, int> sent_;
};

TEST_F(NatPingerTest, EachContactBehindANatGetsOneKeepAlivePerInterval) {
  run(0, 1000);
  EXPECT_EQ(sent_,
            (std::map<std::string, int>{{"198.51.100.7:40001", 1}, {"198.51.100.8:5060", 1}}));
  EXPECT_EQ(pinger_->sent(), 2u);
  EXPECT_EQ(pinger_->send_failed(), 1u);  // the IPv6 one
  run(1000, 3000);
  EXPECT_EQ(sent_,
            (std::map<std::string, int>{{"198.51.100.7:40001", 3}, {"198.51.100.8:5060", 3}}));
  EXPECT_EQ(pinger_->counters_text(),
            "nat_pings: interval_s=1 sent=6 failed=3 answered=0 silent=0\n");
  // A CRLF gets no answer: nothing handed over is taken here.
  EXPECT_FALSE(pinger_->take_answer("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", 3000));
}

TEST_F(NatPingerTest, TheSweepIsSpreadOverTheIntervalInSlices) {
  // A second at 100 ms slices: the first slice at once, the next when due.
  pinger_->poll(0);
  EXPECT_EQ(pinger_->next_due_ms(), 100);
  pinger_->poll(99);
  EXPECT_EQ(pinger_->next_due_ms(), 100);
  pinger_->poll(100);
  EXPECT_EQ(pinger_->next_due_ms(), 200);
  // Polled late: every slice due since is walked, none twice.
  pinger_->poll(950);
  EXPECT_EQ(pinger_->next_due_ms(), 1000);
  EXPECT_EQ(pinger_->sent(), 2u);
}

TEST_F(NatPingerTest, ARegistrationFromBehindANatIsPingedFromTheNextSweepOn) {
  run(0, 1000);
  location_.replace("1003", {binding("sip:1003@10.1.2.3:5060", "203.0.113.9:1024")});
  run(1000, 2000);
  EXPECT_EQ(sent_["203.0.113.9:1024"], 1);
  location_.remove("1002");
  run(2000, 3000);
  EXPECT_EQ(sent_["198.51.100.7:40001"], 2);
  EXPECT_EQ(sent_["203.0.113.9:1024"], 2);
}

TEST_F(NatPingerTest, ZeroTurnsThemOffAndAReloadChangesTheInterval) {
  reload(0);
  EXPECT_EQ(pinger_->next_due_ms(), INT64_MAX);
  run(0, 5000);
  EXPECT_TRUE(sent_.empty());
  reload(2);
  run(5000, 9000);
  EXPECT_EQ(sent_,
            (std::map<std::string, int>{{"198.51.100.7:40001", 2}, {"198.51.100.8:5060", 2}}));
}

// nat_ping = "options", nat_ping_timeout = 2: OPTIONS the phones answer; a silent one is
// handed over for removal.
class NatPingerOptionsTest : public ::testing::Test {
 protected:
  NatPingerOptionsTest() : location_(1) {
    location_.replace("1002", {binding("sip:1002@192.168.1.20:5060", "198.51.100.7:40001"),
                               binding("sip:1002@192.168.1.21:5062", "198.51.100.8:40002")});
    const config::LoadResult loaded = config::load_config_text(
        config_text(1, "nat_ping = \"options\"\nnat_ping_timeout = 2\n"), "nat_pinger_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    pinger_ = std::make_unique<NatPinger>(*context_, location_);
    pinger_->set_sender(
        [this](std::string_view datagram, std::size_t socket, const PeerAddress& to) {
          EXPECT_EQ(socket, 0u);
          sent_.push_back({std::string(format_peer(to).view()), std::string(datagram)});
          return true;
        });
  }

  // The phone at `mapping` answers each OPTIONS it got since the last call, 200 with a To tag.
  void answer_pings(std::string_view mapping, std::int64_t now_ms) {
    for (; answered_ < sent_.size(); ++answered_) {
      if (sent_[answered_].first != mapping) continue;
      std::string response = sent_[answered_].second;
      response.replace(0, response.find("\r\n"), "SIP/2.0 200 OK");
      response.insert(response.find("\r\n", response.find("\r\nTo: ") + 2), ";tag=phone");
      EXPECT_TRUE(pinger_->take_answer(response, now_ms));
    }
  }

  LocationTable location_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<NatPinger> pinger_;
  std::vector<std::pair<std::string, std::string>> sent_;  // (to, datagram)
  std::size_t answered_ = 0;
};

TEST_F(NatPingerOptionsTest, EachContactGetsAnOptionsForItsOwnUriAtItsMapping) {
  pinger_->poll(0);
  for (std::int64_t now = 0; now < 1000; now += 100)
    pinger_->poll(now);
  ASSERT_EQ(sent_.size(), 2u);
  std::sort(sent_.begin(), sent_.end());
  EXPECT_EQ(sent_[0].first, "198.51.100.7:40001");
  const std::string& options = sent_[0].second;
  EXPECT_EQ(options.substr(0, options.find("\r\n")), "OPTIONS sip:1002@192.168.1.20:5060 SIP/2.0");
  EXPECT_NE(options.find("\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"), std::string::npos);
  EXPECT_NE(options.find("\r\nCall-ID: sl-natping-"), std::string::npos);
  EXPECT_NE(options.find("\r\nFrom: <sip:sipline@sipline.local>;tag="), std::string::npos);
  EXPECT_NE(options.find("\r\nTo: <sip:1002@192.168.1.20:5060>\r\n"), std::string::npos);
  EXPECT_EQ(sent_[1].first, "198.51.100.8:40002");
  // Someone else's answer (another Call-ID) is left for the prober.
  EXPECT_FALSE(
      pinger_->take_answer("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\r\n"
                           "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: sl-probe-1\r\n"
                           "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                           900));
}

TEST_F(NatPingerOptionsTest, AContactThatAnswersStaysAndASilentOneIsHandedOver) {
  for (std::int64_t now = 0; now < 3200; now += 100) {
    pinger_->poll(now);
    answer_pings("198.51.100.7:40001", now);  // the desk phone answers, the laptop sleeps
    if (now < 3000) {
      EXPECT_TRUE(pinger_->take_silent().empty()) << now;
    }
  }
  const std::vector<NatPinger::Silent> silent = pinger_->take_silent();
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].aor, "1002");
  EXPECT_EQ(silent[0].contact, "sip:1002@192.168.1.21:5062");
  EXPECT_EQ(pinger_->answered(), 4u);
  EXPECT_EQ(pinger_->counters_text(),
            "nat_pings: interval_s=1 sent=7 failed=0 answered=4 silent=1\n");
}

TEST_F(NatPingerOptionsTest, ARegistrationRefreshCountsAsAnAnswer) {
  // The laptop answers no OPTIONS but registers again (a new CSeq) every 1.5 s.
  std::uint32_t cseq = 1;
  for (std::int64_t now = 0; now < 6000; now += 100) {
    if (now % 1500 == 0) {
      sip::Binding refreshed = binding("sip:1002@192.168.1.21:5062", "198.51.100.8:40002");
      refreshed.cseq = ++cseq;
      location_.replace("1002",
                        {binding("sip:1002@192.168.1.20:5060", "198.51.100.7:40001"), refreshed});
    }
    pinger_->poll(now);
    answer_pings("198.51.100.7:40001", now);
  }
  EXPECT_TRUE(pinger_->take_silent().empty());
}

}  // namespace
}  // namespace sipline::dataplane

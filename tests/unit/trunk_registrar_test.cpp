// Trunk registrations (dataplane/trunk_registrar.hpp) on byte buffers and a test clock: the
// REGISTERs written, their retransmissions (Timer E, Timer F), the answers to challenges,
// 423, refusals, refreshes and retries.
#include "dataplane/trunk_registrar.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/metrics_text.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["192.0.2.1:5060"]
[domain]
names = ["sipline.local"]
[registrar]
store = "memory"
[[trunk_registrations]]
name = "carrier"
registrar = "sip:192.0.2.50:5070"
user = "+15551230000"
domain = "carrier.example"
auth_user = "acct-77"
password = "trunk-secret"
expires = 600
retry_interval = 30
)toml";

struct Sent {
  std::string datagram;
  std::size_t socket;
  std::string to;
};

class TrunkRegistrarTest : public ::testing::Test {
 protected:
  explicit TrunkRegistrarTest(std::string_view text = kConfig) : location_(1) {
    const config::LoadResult loaded = config::load_config_text(text, "trunks.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    registrar_ = std::make_unique<TrunkRegistrar>(*context_, [this] { return now_ms_; });
    registrar_->set_sender(
        [this](std::string_view datagram, std::size_t socket, const PeerAddress& to) {
          sent_.push_back(Sent{std::string(datagram), socket, std::string(format_peer(to).view())});
          return true;
        });
  }

  // The clock moves to `now_ms`; returns what was sent meanwhile.
  std::vector<Sent> at(std::int64_t now_ms) {
    now_ms_ = now_ms;
    registrar_->poll();
    return take();
  }
  std::vector<Sent> take() {
    std::vector<Sent> sent;
    sent.swap(sent_);
    return sent;
  }
  // The registrar's answer to `request`: its Via, From, To (with a tag), Call-ID and CSeq,
  // the status line and `extra` header lines.
  static std::string answer(const std::string& request, std::string_view status,
                            std::string_view extra = {}) {
    const auto message = std::make_unique<sip::Message>();
    sip::parse_message_into(*message, request);
    std::string text = "SIP/2.0 " + std::string(status) + "\r\n";
    for (const char* name : {"Via", "From", "To", "Call-ID", "CSeq"}) {
      const sip::HeaderField* field = message->find(name);
      EXPECT_NE(field, nullptr) << name;
      if (field == nullptr) continue;
      text += std::string(name) + ": " + std::string(field->value);
      if (std::string_view(name) == "To") text += ";tag=reg-1";
      text += "\r\n";
    }
    return text + std::string(extra) + "Content-Length: 0\r\n\r\n";
  }
  static std::string header(const std::string& message, std::string_view name) {
    const auto parsed = std::make_unique<sip::Message>();
    sip::parse_message_into(*parsed, message);
    const sip::HeaderField* field = parsed->find(name);
    return field == nullptr ? "" : std::string(field->value);
  }
  std::string status_line() const {
    const std::string text = registrar_->status_text();
    return text.substr(0, text.find('\n'));
  }

  static constexpr std::string_view kChallenge =
      "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"abc123\", qop=\"auth\", "
      "algorithm=SHA-256, opaque=\"o1\"\r\n";

  LocationTable location_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<TrunkRegistrar> registrar_;
  std::vector<Sent> sent_;
  std::int64_t now_ms_ = 1'000'000;
};

TEST_F(TrunkRegistrarTest, TheFirstRegisterIsAUasRegisterForTheAddressOfRecord) {
  const std::vector<Sent> sent = at(1'000'000);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "192.0.2.50:5070");
  EXPECT_EQ(sent[0].socket, 0u);
  const std::string& request = sent[0].datagram;
  EXPECT_EQ(request.rfind("REGISTER sip:192.0.2.50:5070 SIP/2.0\r\nVia: SIP/2.0/UDP "
                          "192.0.2.1:5060;branch=z9hG4bK",
                          0),
            0u)
      << request;
  EXPECT_EQ(header(request, "To"), "<sip:+15551230000@carrier.example>");
  EXPECT_EQ(header(request, "From").rfind("<sip:+15551230000@carrier.example>;tag=", 0), 0u);
  EXPECT_EQ(header(request, "Contact"), "<sip:+15551230000@192.0.2.1:5060>");
  EXPECT_EQ(header(request, "Expires"), "600");
  EXPECT_EQ(header(request, "CSeq"), "1 REGISTER");
  EXPECT_EQ(header(request, "Authorization"), "");
  EXPECT_EQ(status_line().rfind("trunk carrier: registering sip:+15551230000@carrier.example at "
                                "sip:192.0.2.50:5070 (192.0.2.50:5070) last=0 sent=1",
                                0),
            0u)
      << status_line();
}

// §17.1.2.2: Timer E doubles from T1 to T2; Timer F gives up at 64 T1; then retry_interval.
TEST_F(TrunkRegistrarTest, AnUnansweredRegisterIsSentAgainThenFailsAndIsRetried) {
  const std::string first = at(1'000'000).at(0).datagram;
  std::vector<std::int64_t> copies;
  for (std::int64_t t = 1'000'000; t <= 1'000'000 + kTimerFMs; t += 50) {
    for (const Sent& sent : at(t)) {
      EXPECT_EQ(sent.datagram, first);
      copies.push_back(t - 1'000'000);
    }
  }
  EXPECT_EQ(copies, (std::vector<std::int64_t>{500, 1500, 3500, 7500, 11500, 15500, 19500, 23500,
                                               27500, 31500}));
  EXPECT_NE(status_line().find(": failed "), std::string::npos) << status_line();
  EXPECT_NE(status_line().find("failures=1 (no answer within 32 s (Timer F))"), std::string::npos)
      << status_line();
  EXPECT_TRUE(at(1'000'000 + kTimerFMs + 29'999).empty());
  const std::vector<Sent> retry = at(1'000'000 + kTimerFMs + 30'000);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(header(retry[0].datagram, "CSeq"), "2 REGISTER");
  EXPECT_EQ(header(retry[0].datagram, "Call-ID"), header(first, "Call-ID"));
}

TEST_F(TrunkRegistrarTest, AChallengeIsAnsweredAndTheGrantRefreshedAtNinetyPercent) {
  const std::string first = at(1'000'000).at(0).datagram;
  EXPECT_TRUE(registrar_->take_answer(answer(first, "100 Trying")));
  EXPECT_TRUE(registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge)));
  const std::vector<Sent> sent = take();
  ASSERT_EQ(sent.size(), 1u);
  const std::string& second = sent[0].datagram;
  EXPECT_EQ(header(second, "CSeq"), "2 REGISTER");
  EXPECT_EQ(header(second, "Call-ID"), header(first, "Call-ID"));
  EXPECT_EQ(header(second, "From"), header(first, "From"));
  // The credentials verify with the proxy's own digest code.
  const std::string credentials = header(second, "Authorization");
  const sip::Parsed<sip::DigestParams> params = sip::parse_digest(credentials);
  ASSERT_TRUE(params.ok()) << credentials;
  EXPECT_EQ(params.value.username, "acct-77");
  EXPECT_EQ(params.value.uri, "sip:192.0.2.50:5070");
  EXPECT_EQ(params.value.nc, "00000001");
  EXPECT_EQ(params.value.opaque, "o1");
  const sip::DigestHex ha1 =
      sip::digest_ha1(sip::DigestAlgorithm::Sha256, "acct-77", "carrier.example", "trunk-secret");
  sip::DigestResponseInput input;
  input.algorithm = sip::DigestAlgorithm::Sha256;
  input.ha1 = ha1.view();
  input.method = "REGISTER";
  input.uri = params.value.uri;
  input.nonce = "abc123";
  input.nc = params.value.nc;
  input.cnonce = params.value.cnonce;
  input.qop = "auth";
  EXPECT_EQ(sip::digest_response(input).view(), params.value.response);

  // 200 granting 100 s (our Contact's expires wins over Expires).
  now_ms_ = 1'000'200;
  EXPECT_TRUE(registrar_->take_answer(
      answer(second, "200 OK",
             "Contact: <sip:+15551230000@192.0.2.1:5060>;expires=100\r\nExpires: 3600\r\n")));
  EXPECT_NE(status_line().find(": registered "), std::string::npos);
  EXPECT_NE(status_line().find("expires_in=100 last=200 sent=2 registrations=1 failures=0"),
            std::string::npos)
      << status_line();
  // No retransmission after the answer; the refresh at 90 s, nc 2, same challenge.
  EXPECT_TRUE(at(1'000'200 + 89'999).empty());
  const std::vector<Sent> refresh = at(1'000'200 + 90'000);
  ASSERT_EQ(refresh.size(), 1u);
  EXPECT_EQ(header(refresh[0].datagram, "CSeq"), "3 REGISTER");
  const std::string again = header(refresh[0].datagram, "Authorization");
  EXPECT_NE(again.find("nc=00000002"), std::string::npos) << again;
  EXPECT_NE(again.find("nonce=\"abc123\""), std::string::npos) << again;
  // The answer to the first REGISTER, late: ours, nothing to do.
  EXPECT_TRUE(registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge)));
  EXPECT_TRUE(take().empty());
}

// A stale nonce on a refresh is answered once; a second challenge to fresh credentials is a
// refusal (a wrong password), retried after retry_interval, not in a loop.
TEST_F(TrunkRegistrarTest, ChallengedAgainAfterFreshCredentialsIsAFailure) {
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge));
  const std::string second = take().at(0).datagram;
  registrar_->take_answer(answer(second, "401 Unauthorized", kChallenge));
  EXPECT_TRUE(take().empty());
  EXPECT_NE(status_line().find("failures=1 (credentials refused (challenged again, 401))"),
            std::string::npos)
      << status_line();
  const std::vector<Sent> retry = at(1'000'000 + 30'000);
  ASSERT_EQ(retry.size(), 1u);
  // The retry answers the last challenge at once; a new nonce is answered again.
  EXPECT_NE(header(retry[0].datagram, "Authorization").find("nc=00000002"), std::string::npos);
  registrar_->take_answer(answer(retry[0].datagram, "401 Unauthorized", kChallenge));
  const std::vector<Sent> answered = take();
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_NE(header(answered[0].datagram, "Authorization").find("nc=00000001"), std::string::npos);
}

// RFC 7616 §3.3: challenged again with stale=true, the credentials were right and the nonce
// had expired: answered once more with the new nonce; a second stale one is a refusal.
TEST_F(TrunkRegistrarTest, AStaleNonceIsAnsweredOnceMore) {
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge));
  const std::string second = take().at(0).datagram;
  const std::string stale =
      "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"def456\", qop=\"auth\", "
      "algorithm=SHA-256, opaque=\"o1\", stale=true\r\n";
  registrar_->take_answer(answer(second, "401 Unauthorized", stale));
  const std::vector<Sent> third = take();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_NE(header(third[0].datagram, "Authorization").find("nonce=\"def456\""), std::string::npos);
  EXPECT_EQ(status_line().find("failures=1"), std::string::npos) << status_line();
  registrar_->take_answer(answer(third[0].datagram, "401 Unauthorized", stale));
  EXPECT_TRUE(take().empty());
  EXPECT_NE(status_line().find("failures=1 (credentials refused (challenged again, 401))"),
            std::string::npos)
      << status_line();
}

TEST_F(TrunkRegistrarTest, IntervalTooBriefAsksAgainWithMinExpires) {
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "423 Interval Too Brief", "Min-Expires: 1800\r\n"));
  const std::vector<Sent> sent = take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0].datagram, "Expires"), "1800");
  EXPECT_EQ(header(sent[0].datagram, "CSeq"), "2 REGISTER");
  // Granted without an expires anywhere: the asked-for 1800 s.
  registrar_->take_answer(answer(sent[0].datagram, "200 OK"));
  EXPECT_NE(status_line().find("expires_in=1800 "), std::string::npos) << status_line();
}

TEST_F(TrunkRegistrarTest, ARefusalFailsAndIsRetriedAfterTheInterval) {
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "403 Forbidden"));
  EXPECT_NE(status_line().find(": failed "), std::string::npos);
  EXPECT_NE(
      status_line().find("last=403 sent=1 registrations=0 failures=1 (answered 403 Forbidden)"),
      std::string::npos)
      << status_line();
  EXPECT_TRUE(at(1'000'000 + 29'999).empty());
  EXPECT_EQ(at(1'000'000 + 30'000).size(), 1u);
  // Prometheus: a gauge per trunk and its counts.
  const std::string metrics = prometheus_exposition(registrar_->status_text());
  EXPECT_NE(metrics.find("sipline_trunk_registered{trunk=\"carrier\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sipline_trunk_failures{trunk=\"carrier\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(TrunkRegistrarTest, OnlyAnswersToOurRegistersAreTaken) {
  const std::string first = at(1'000'000).at(0).datagram;
  // A request, and a REGISTER answer whose branch we did not sign.
  EXPECT_FALSE(registrar_->take_answer(first));
  std::string forged = answer(first, "200 OK");
  forged.replace(forged.find("z9hG4bK"), 7, "z9hG4bX");
  EXPECT_FALSE(registrar_->take_answer(forged));
  EXPECT_NE(status_line().find(": registering "), std::string::npos);
}

// A reload keeps an unchanged trunk's registration; a changed one registers at once.
TEST_F(TrunkRegistrarTest, AReloadKeepsUnchangedTrunks) {
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "200 OK", "Expires: 600\r\n"));
  const std::string same = "# moved\n" + std::string(kConfig);
  const config::LoadResult moved = config::load_config_text(same, "trunks.toml");
  ASSERT_TRUE(moved.ok());
  const auto next = PipelineContext::create(moved.config, &location_);
  registrar_->reconfigure(*next);
  EXPECT_TRUE(at(1'000'001).empty());
  EXPECT_NE(status_line().find(": registered "), std::string::npos);

  std::string changed(kConfig);
  changed.replace(changed.find("expires = 600"), 13, "expires = 900");
  const config::LoadResult loaded = config::load_config_text(changed, "trunks.toml");
  ASSERT_TRUE(loaded.ok());
  const auto changed_context = PipelineContext::create(loaded.config, &location_);
  registrar_->reconfigure(*changed_context);
  // The old settings' binding removed (§10.2.2), the new ones registered on a new Call-ID.
  const std::vector<Sent> removed = take();
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(header(removed[0].datagram, "Expires"), "0");
  EXPECT_EQ(header(removed[0].datagram, "CSeq"), "2 REGISTER");
  EXPECT_EQ(header(removed[0].datagram, "Call-ID"), header(first, "Call-ID"));
  const std::vector<Sent> sent = at(1'000'002);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0].datagram, "Expires"), "900");
  EXPECT_NE(header(sent[0].datagram, "Call-ID"), header(first, "Call-ID"));
  registrar_->reconfigure(*context_);  // the fixture's context outlives the others
}

// Shutdown: a registered trunk's binding is removed with the last challenge's credentials,
// once; a trunk not registered sends nothing.
TEST_F(TrunkRegistrarTest, ShutdownUnregistersRegisteredTrunksOnce) {
  registrar_->unregister_all();
  EXPECT_TRUE(take().empty());
  const std::string first = at(1'000'000).at(0).datagram;
  registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge));
  const std::string second = take().at(0).datagram;
  registrar_->take_answer(answer(second, "200 OK", "Expires: 600\r\n"));
  registrar_->unregister_all();
  const std::vector<Sent> sent = take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(header(sent[0].datagram, "Expires"), "0");
  EXPECT_EQ(header(sent[0].datagram, "CSeq"), "3 REGISTER");
  EXPECT_NE(header(sent[0].datagram, "Authorization").find("nc=00000002"), std::string::npos);
  EXPECT_TRUE(at(1'000'000 + 600'000).empty());  // neither retransmitted nor refreshed
  EXPECT_TRUE(registrar_->take_answer(answer(sent[0].datagram, "200 OK")));
  EXPECT_TRUE(take().empty());
}

// A carrier that names an outbound proxy (its SBC) apart from the registrar: every REGISTER,
// its retransmissions and the challenge's answer go to the proxy, with a Route to it
// (RFC 3261 §8.1.2); Request-URI, To and the digest uri stay the registrar's.
class TrunkThroughOutboundProxy : public TrunkRegistrarTest {
 protected:
  TrunkThroughOutboundProxy() : TrunkRegistrarTest(config_text()) {}
  static std::string config_text() {
    std::string text(kConfig);
    const std::string registrar_line = "registrar = \"sip:192.0.2.50:5070\"\n";
    text.insert(text.find(registrar_line) + registrar_line.size(),
                "outbound_proxy = \"sip:198.51.100.9:5062\"\n");
    return text;
  }
};

TEST_F(TrunkThroughOutboundProxy, RegistersAreSentToTheProxyWithARouteToIt) {
  const std::vector<Sent> sent = at(1'000'000);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "198.51.100.9:5062");
  const std::string& first = sent[0].datagram;
  EXPECT_EQ(first.rfind("REGISTER sip:192.0.2.50:5070 SIP/2.0\r\n", 0), 0u) << first;
  EXPECT_EQ(header(first, "Route"), "<sip:198.51.100.9:5062;lr>");
  EXPECT_EQ(header(first, "To"), "<sip:+15551230000@carrier.example>");
  const std::vector<Sent> again = at(1'000'500);  // Timer E
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].to, "198.51.100.9:5062");
  EXPECT_TRUE(registrar_->take_answer(answer(first, "401 Unauthorized", kChallenge)));
  const std::vector<Sent> answered = take();
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].to, "198.51.100.9:5062");
  EXPECT_EQ(header(answered[0].datagram, "Route"), "<sip:198.51.100.9:5062;lr>");
  const std::string credentials = header(answered[0].datagram, "Authorization");
  const sip::Parsed<sip::DigestParams> params = sip::parse_digest(credentials);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params.value.uri, "sip:192.0.2.50:5070");
  EXPECT_TRUE(registrar_->take_answer(answer(answered[0].datagram, "200 OK", "Expires: 600\r\n")));
  EXPECT_NE(status_line().find(" at sip:192.0.2.50:5070 (192.0.2.50:5070) via "
                               "sip:198.51.100.9:5062 (198.51.100.9:5062) expires_in=600"),
            std::string::npos)
      << status_line();
}

}  // namespace
}  // namespace sipline::dataplane

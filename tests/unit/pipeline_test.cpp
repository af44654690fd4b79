// The worker pipeline on byte buffers: what each kind of request and response turns into
// (bytes written, destination, verdict), with a real config, location table and the sip/
// decision functions, but no sockets and no threads.
#include "dataplane/pipeline.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/packet.hpp"
#include "sip/branch.hpp"
#include "sip/digest_auth.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060"]
[domain]
names = ["sipline.local", "127.0.0.1"]
trust_domain = ["192.0.2.30"]  # a PBX registered as user 1099
[registrar]
store = "memory"
[[users]]
user = "1002"
password = "secret-1002"
[[users]]
user = "1005"
password = "secret-1005"
[[users]]
user = "1009"
password = "secret-1009"
caller_id = "+442079460009"
[[users]]
user = "1099"
password = "secret-1099"
[[routes]]
name = "challenged"
user_prefix = "1009"
action = "location"
auth = true
assert_identity = true
[[routes]]
name = "redirect-registered"
user_prefix = "1005"
action = "redirect"
[[routes]]
name = "local"
user_prefix = "10"
action = "location"
[[routes]]
name = "redirect-fixed"
user_prefix = "20"
action = "redirect"
target = "sip:alt@192.0.2.9:5080"
[[routes]]
name = "forbidden"
user_prefix = "40"
action = "reject"
code = 403
[[routes]]
name = "to-ourselves"
user_prefix = "50"
action = "forward"
target = "sip:127.0.0.1:5060"
[[routes]]
name = "out"
user_prefix = "7"
action = "forward"
target = "sip:127.0.0.1:5070"
[[routes]]
name = "from-carrier"
user_prefix = "+1"
sources = ["203.0.113.0/24", "2001:db8:5::/48"]
action = "forward"
target = "sip:127.0.0.1:5080"
[[routes]]
name = "did"
user_prefix = "+4420712345"
strip = 11
action = "location"
[[routes]]
name = "national"
user_prefix = "0"
strip = 1
prepend = "+44"
action = "forward"
target = "sip:127.0.0.1:5070"
)toml";

struct Request {
  std::string method = "INVITE";
  std::string uri = "sip:7000@sipline.local";
  std::string via = "SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport";
  std::string to = "<sip:7000@sipline.local>";
  std::string call_id = "call-1@192.0.2.10";
  std::string max_forwards = "70";
  std::string extra;  // complete header lines

  std::string text() const {
    return method + " " + uri + " SIP/2.0\r\n" + "Via: " + via + "\r\n" +
           "Max-Forwards: " + max_forwards + "\r\n" +
           "From: <sip:1001@sipline.local>;tag=from-1\r\n" + "To: " + to + "\r\n" +
           "Call-ID: " + call_id + "\r\n" + "CSeq: 1 " + method + "\r\n" + extra +
           "Content-Length: 0\r\n\r\n";
  }
};

// An in-dialog `method` (To tag `tag`) to `uri`, for user 1009.
Request dialog_request(std::string method, std::string uri, std::string_view tag) {
  Request request;
  request.method = std::move(method);
  request.uri = std::move(uri);
  request.to = "<sip:1009@sipline.local>;tag=" + std::string(tag);
  return request;
}

std::string peer_text(const PeerAddress& address) {
  return std::string(format_peer(address).view());
}

sip::Binding binding(std::string contact, std::string received, std::uint16_t q_milli = 1000) {
  sip::Binding result;
  result.contact = std::move(contact);
  result.received = std::move(received);
  result.call_id = "reg-1";
  result.cseq = 1;
  result.expires_at = kNow + 3600;
  result.q_milli = q_milli;
  return result;
}

// User 1009's Proxy-Authorization line answering the 407 `challenge` for an INVITE to `uri`.
std::string credentials_1009(std::string_view challenge, const std::string& uri) {
  return test::proxy_authorization(challenge, "1009", "secret-1009", uri);
}

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : location_(1), pool_(0, 2), out_(kPacketCapacity) {
    const config::LoadResult loaded = config::load_config_text(kConfig, "pipeline_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    pipeline_ = std::make_unique<Pipeline>(*context_, 0);
    pipeline_->set_counters(&counters_);
  }

  Outcome process(const std::string& text, std::string_view from = "192.0.2.10:5099") {
    Packet* packet = pool_.allocate();
    EXPECT_NE(packet, nullptr);
    std::copy(text.begin(), text.end(), packet->data.begin());
    packet->length = static_cast<std::uint32_t>(text.size());
    packet->peer = *peer_from_text(from);
    packet->socket = 0;
    const Outcome outcome = pipeline_->process(*packet, kNow, out_);
    pool_.release(packet);
    return outcome;
  }
  std::string written(const Outcome& outcome) const {
    return std::string(out_.data(), outcome.size);
  }
  std::string our_tag(const std::string& call_id) const {
    return std::string(local_to_tag(call_id, context_->to_tag_key).view());
  }

  LocationTable location_;
  PacketPool pool_;
  std::vector<char> out_;
  std::unique_ptr<PipelineContext> context_;
  std::unique_ptr<Pipeline> pipeline_;
  WorkerCounters counters_;
};

TEST(LocalToTag, IsDeterministicPerCallIdAndKey) {
  const ToTag tag = local_to_tag("abc@host", 42);
  EXPECT_EQ(tag.view().size(), 18u);
  EXPECT_EQ(tag.view().substr(0, 2), "sl");
  EXPECT_EQ(tag.view(), local_to_tag("abc@host", 42).view());
  EXPECT_NE(tag.view(), local_to_tag("abd@host", 42).view());
  EXPECT_NE(tag.view(), local_to_tag("abc@host", 43).view());
}

// DPDK workers offer an mbuf's data room first and a large buffer second: a message that
// does not fit the first is written, whole and identical, into the second.
TEST_F(PipelineTest, MessageTooLargeForThePrimaryBufferGoesToTheFallback) {
  const Request request;
  const Outcome reference = process(request.text());
  ASSERT_EQ(reference.verdict, Verdict::Send);
  EXPECT_FALSE(reference.in_fallback);
  const std::string expected = written(reference);

  const std::string text = request.text();
  const Inbound in{text, *peer_from_text("192.0.2.10:5099"), 0};
  std::vector<char> small(expected.size() - 1);
  std::vector<char> large(kPacketCapacity);
  const Outcome outcome = pipeline_->process(in, kNow, OutputBuffers{small, large});
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_TRUE(outcome.in_fallback);
  EXPECT_EQ(std::string(large.data(), outcome.size), expected);

  std::vector<char> exact(expected.size());
  const Outcome fits = pipeline_->process(in, kNow, OutputBuffers{exact, large});
  EXPECT_FALSE(fits.in_fallback);
  EXPECT_EQ(std::string(exact.data(), fits.size), expected);
  // Without a fallback, too small is too large.
  const Outcome dropped = pipeline_->process(in, kNow, OutputBuffers{small, {}});
  EXPECT_EQ(dropped.verdict, Verdict::Drop);
  EXPECT_EQ(dropped.drop, DropReason::TooLarge);
}

TEST_F(PipelineTest, ForwardRoutePushesOurViaAndSendsToTheTarget) {
  const Request request;
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "127.0.0.1:5070");
  EXPECT_EQ(outcome.socket, 0);
  const std::string text = request.text();  // the message views it
  const sip::Message parsed = sip::parse_message(text);
  const sip::Branch branch = sip::stateless_branch(parsed, context_->identity.branch_key);
  const std::string expected =
      "INVITE sip:7000@sipline.local SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" +
      std::string(branch.view()) +
      ";rport\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;received=192.0.2.10\r\n"
      "Max-Forwards: 69\r\n";
  EXPECT_EQ(written(outcome).substr(0, expected.size()), expected);
}

TEST_F(PipelineTest, ResponseToAForwardedRequestGoesBackToThePreviousHop) {
  const Outcome forwarded = process(Request().text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send);
  std::string response = written(forwarded);
  // The next hop answers with the Via lines it received.
  response.replace(0, response.find("\r\n"), "SIP/2.0 180 Ringing");
  const Outcome outcome = process(response);
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
  const std::string expected =
      "SIP/2.0 180 Ringing\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1;rport=5099;received=192.0.2.10\r\n";
  EXPECT_EQ(written(outcome).substr(0, expected.size()), expected);
  EXPECT_EQ(written(outcome).find("127.0.0.1:5060"), std::string::npos);
}

// The proxy parses a response's Via, not its From or To (ParseScope::Proxy): a From it
// could not parse is relayed as it came, like every line it does not own.
TEST_F(PipelineTest, ResponseIsRelayedWithoutParsingItsFrom) {
  const Outcome forwarded = process(Request().text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send);
  std::string response = written(forwarded);
  response.replace(0, response.find("\r\n"), "SIP/2.0 200 OK");
  const std::size_t from = response.find("\r\nFrom: ");
  ASSERT_NE(from, std::string::npos);
  response.replace(from, response.find("\r\n", from + 2) - from, "\r\nFrom: <sip:x@y;tag=9");
  const Outcome outcome = process(response);
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
  EXPECT_NE(written(outcome).find("\r\nFrom: <sip:x@y;tag=9\r\n"), std::string::npos);
}

// A phone behind NAT writes its private address in Via; the request arrives from the NAT's
// public address and port. RFC 3581: the forwarded Via records both, and the response goes
// back to them, not to the private sent-by.
TEST_F(PipelineTest, ClientBehindNatGetsReceivedAndRportAndItsResponsesBack) {
  Request request;
  request.via = "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK-nat1";
  const Outcome forwarded = process(request.text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send);
  std::string response = written(forwarded);
  EXPECT_NE(response.find("Via: SIP/2.0/UDP 10.0.0.5:5060;rport=5099;branch=z9hG4bK-nat1;"
                          "received=192.0.2.10\r\n"),
            std::string::npos)
      << response;
  response.replace(0, response.find("\r\n"), "SIP/2.0 200 OK");
  const Outcome outcome = process(response);
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
}

// Without rport only received is added (§18.2.1), and the response goes to received at the
// sent-by port.
TEST_F(PipelineTest, SentByOtherThanSourceGetsReceivedOnly) {
  Request request;
  request.via = "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-nat2";
  const Outcome forwarded = process(request.text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send);
  std::string response = written(forwarded);
  EXPECT_NE(response.find("Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-nat2;"
                          "received=192.0.2.10\r\n"),
            std::string::npos)
      << response;
  response.replace(0, response.find("\r\n"), "SIP/2.0 200 OK");
  const Outcome outcome = process(response);
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5070");
}

TEST_F(PipelineTest, ResponseWhoseTopViaIsNotOursIsDropped) {
  const std::string response =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK-sl00000000000000000000000000\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc1\r\n"
      "From: <sip:1001@sipline.local>;tag=a\r\nTo: <sip:7000@sipline.local>;tag=b\r\n"
      "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  const Outcome outcome = process(response);
  EXPECT_EQ(outcome.verdict, Verdict::Drop);
  EXPECT_EQ(outcome.drop, DropReason::NotOurs);
}

TEST_F(PipelineTest, MaxForwardsZeroIsAnswered483WithOurToTag) {
  Request request;
  request.max_forwards = "0";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 483);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
  const std::string text = written(outcome);
  EXPECT_EQ(text.substr(0, text.find("\r\n")), "SIP/2.0 483 Too Many Hops");
  EXPECT_NE(text.find("To: <sip:7000@sipline.local>;tag=" + our_tag(request.call_id) + "\r\n"),
            std::string::npos)
      << text;
}

TEST_F(PipelineTest, LocalResponseWithoutRportGoesToTheViaPort) {
  Request request;
  request.uri = "sip:999@sipline.local";  // no route: 404
  request.via = "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 404);
  // §18.2.2: the source address, the port of the Via's sent-by (the packet came from 5099).
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5070");
}

TEST_F(PipelineTest, AckForOurOwnResponseIsAbsorbed) {
  Request request;
  request.method = "ACK";
  request.uri = "sip:999@sipline.local";
  request.to = "<sip:999@sipline.local>;tag=" + our_tag(request.call_id);
  const Outcome outcome = process(request.text());
  EXPECT_EQ(outcome.verdict, Verdict::Absorbed);
}

TEST_F(PipelineTest, AckWithNowhereToGoIsDroppedNeverAnswered) {
  Request request;
  request.method = "ACK";
  request.uri = "sip:999@sipline.local";
  request.to = "<sip:999@sipline.local>;tag=their-tag";
  const Outcome outcome = process(request.text());
  EXPECT_EQ(outcome.verdict, Verdict::Drop);
  EXPECT_EQ(outcome.drop, DropReason::AckUnrouted);
}

TEST_F(PipelineTest, RegisterForOurDomainGoesToTheControlThread) {
  Request request;
  request.method = "REGISTER";
  request.uri = "sip:sipline.local";
  request.to = "<sip:1002@sipline.local>";
  EXPECT_EQ(process(request.text()).verdict, Verdict::ToControl);
  // A UA with an outbound proxy preloads a Route to us (RFC 3261 §8.1.2): still ours.
  request.extra = "Route: <sip:127.0.0.1:5060;lr>\r\n";
  EXPECT_EQ(process(request.text()).verdict, Verdict::ToControl);
}

// A trunk's or an SBC's keepalive: OPTIONS for the proxy itself (no user part) is answered
// 200 by the proxy (RFC 3261 §11), with what it supports, and never reaches the dial plan
// (which has no route for an empty user here: it would answer 404).
TEST_F(PipelineTest, OptionsForTheProxyItselfIsAnswered200) {
  Request request;
  request.method = "OPTIONS";
  request.uri = "sip:sipline.local";
  request.to = "<sip:sipline.local>";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
  const std::string answer = written(outcome);
  EXPECT_TRUE(answer.starts_with("SIP/2.0 200 OK\r\n")) << answer;
  EXPECT_NE(answer.find("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"),
            std::string::npos);
  EXPECT_NE(answer.find("\r\nCSeq: 1 OPTIONS\r\n"), std::string::npos);
  EXPECT_NE(answer.find("\r\nTo: <sip:sipline.local>;tag="), std::string::npos);
}

// §16.3 step 3: Max-Forwards 0 is never forwarded; an OPTIONS for the proxy itself is
// answered as its final recipient (an SBC's keepalive that no element beyond may answer),
// any other request 483, and so is an OPTIONS with a Route onwards or for a user.
TEST_F(PipelineTest, OptionsWithMaxForwardsZeroForTheProxyItselfIsAnswered200) {
  Request request;
  request.method = "OPTIONS";
  request.uri = "sip:sipline.local";
  request.to = "<sip:sipline.local>";
  request.max_forwards = "0";
  Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_NE(written(outcome).find("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"),
            std::string::npos);
  request.extra = "Route: <sip:127.0.0.1:5060;lr>\r\n";  // ours: still for us
  outcome = process(request.text());
  EXPECT_EQ(outcome.code, 200);
  request.extra = "Route: <sip:192.0.2.50;lr>\r\n";  // onwards
  outcome = process(request.text());
  EXPECT_EQ(outcome.code, 483);
  request.extra.clear();
  request.uri = "sip:1002@sipline.local";
  outcome = process(request.text());
  EXPECT_EQ(outcome.code, 483);
  request.method = "INVITE";
  request.uri = "sip:sipline.local";
  outcome = process(request.text());
  EXPECT_EQ(outcome.code, 483);
}

TEST_F(PipelineTest, OptionsForAUserOrAnotherHostIsRouted) {
  Request request;
  request.method = "OPTIONS";
  request.uri = "sip:999@sipline.local";  // a user of ours: the dial plan, no route
  Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 404);
  request.uri = "sip:192.0.2.50";  // not us: the dial plan too
  outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 404);
}

TEST_F(PipelineTest, NoMatchingRouteIs404) {
  Request request;
  request.uri = "sip:999@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 404);
}

// A route with `sources` takes requests from those addresses only (the datagram's source: the
// Via is the sender's to write); from anywhere else the request goes on down the table.
TEST_F(PipelineTest, ARouteWithSourcesTakesOnlyRequestsFromThem) {
  Request request;
  request.uri = "sip:+15550100@sipline.local";
  request.via = "SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-carrier1";
  const Outcome from_carrier = process(request.text(), "203.0.113.9:5060");
  ASSERT_EQ(from_carrier.verdict, Verdict::Send);
  EXPECT_EQ(from_carrier.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(from_carrier.destination), "127.0.0.1:5080");
  EXPECT_EQ(written(from_carrier).rfind("INVITE sip:+15550100@sipline.local SIP/2.0\r\n", 0), 0u);
  const Outcome from_v6_carrier = process(request.text(), "[2001:db8:5::20]:5060");
  ASSERT_EQ(from_v6_carrier.verdict, Verdict::Send);
  EXPECT_EQ(from_v6_carrier.kind, SendKind::ForwardedRequest);
  // The same bytes (a Via naming the carrier) from another address: no route takes it.
  const Outcome spoofed = process(request.text(), "192.0.2.66:5060");
  ASSERT_EQ(spoofed.verdict, Verdict::Send);
  EXPECT_EQ(spoofed.kind, SendKind::LocalResponse);
  EXPECT_EQ(spoofed.code, 404);
  EXPECT_EQ(peer_text(spoofed.destination), "192.0.2.66:5060");
}

// Number translation (strip, prepend): the forwarded Request-URI carries the translated user,
// and the INVITE's CANCEL and ACK (routed alike, statelessly) carry the same Request-URI
// (§9.1, §17.1.1.3). Nothing else changes: the To header keeps what the caller dialled.
TEST_F(PipelineTest, ForwardSendsTheTranslatedRequestUri) {
  Request request;
  request.uri = "sip:02071234567@sipline.local;user=phone";
  request.to = "<sip:02071234567@sipline.local>";
  for (const std::string method : {"INVITE", "CANCEL", "ACK"}) {
    request.method = method;
    const Outcome outcome = process(request.text());
    ASSERT_EQ(outcome.verdict, Verdict::Send) << method;
    EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
    EXPECT_EQ(peer_text(outcome.destination), "127.0.0.1:5070");
    const std::string sent = written(outcome);
    EXPECT_EQ(sent.rfind(method + " sip:+442071234567@sipline.local;user=phone SIP/2.0\r\n", 0), 0u)
        << sent;
    EXPECT_NE(sent.find("\r\nTo: <sip:02071234567@sipline.local>\r\n"), std::string::npos);
  }
}

// A DID route strips the carrier's number down to the extension and looks that up.
TEST_F(PipelineTest, LocationLooksUpTheTranslatedUser) {
  location_.replace("1002", {binding("sip:1002@10.0.0.5:5070", "192.0.2.20:6000")});
  Request request;
  request.uri = "sip:+44207123451002@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.20:6000");
  EXPECT_EQ(written(outcome).rfind("INVITE sip:1002@10.0.0.5:5070 SIP/2.0\r\n", 0), 0u);
  request.uri = "sip:+44207123459999@sipline.local";  // 9999 is nobody
  EXPECT_EQ(process(request.text()).code, 404);
}

// §21.4.22: a number that the route strips to nothing is incomplete (overlap dialling).
TEST_F(PipelineTest, ATranslationLeavingNoUserIs484) {
  Request request;
  request.uri = "sip:+4420712345@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 484);
  EXPECT_EQ(written(outcome).rfind("SIP/2.0 484 Address Incomplete\r\n", 0), 0u);
}

// RFC 5626 §4.4: the keep-alives UAs behind NATs send to the port they registered through.
TEST_F(PipelineTest, CrlfKeepalivesAreTakenInWithoutAnswerOrError) {
  for (const std::string keepalive : {"\r\n\r\n", "\r\n", ""}) {
    const Outcome outcome = process(keepalive);
    EXPECT_EQ(outcome.verdict, Verdict::Absorbed);
    EXPECT_EQ(outcome.absorb, Absorb::Keepalive);
    WorkerCounters counters;
    count_unsent(outcome, counters);
    EXPECT_EQ(counters.keepalives.read(), 1u);
    EXPECT_EQ(counters.dropped[static_cast<std::size_t>(DropReason::Parse)].read(), 0u);
  }
}

TEST_F(PipelineTest, AStunBindingRequestIsAnsweredToItsSource) {
  // RFC 5389 §6: Binding request, no attributes, transaction ID 1..12.
  std::string request("\x00\x01\x00\x00\x21\x12\xa4\x42", 8);
  for (char id = 1; id <= 12; ++id)
    request.push_back(id);
  const Outcome outcome = process(request, "192.0.2.10:5099");
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::StunAnswer);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.10:5099");
  EXPECT_EQ(outcome.socket, 0);
  // Success, our source in XOR-MAPPED-ADDRESS: 5099 ^ 0x2112, 192.0.2.10 ^ 0x2112a442.
  std::string expected("\x01\x01\x00\x0c\x21\x12\xa4\x42", 8);
  expected += request.substr(8, 12);
  expected += std::string("\x00\x20\x00\x08\x00\x01\x32\xf9\xe1\x12\xa6\x48", 12);
  EXPECT_EQ(written(outcome), expected);
  WorkerCounters counters;
  count_sent(outcome.kind, outcome.code, counters);
  EXPECT_EQ(counters.stun_answered.read(), 1u);
  EXPECT_EQ(counters.local[0].read() + counters.forwarded_responses.read(), 0u);
  // A STUN message that is not whole: discarded, counted as a parse drop.
  const Outcome broken = process(request.substr(0, 20) + "x");
  EXPECT_EQ(broken.verdict, Verdict::Drop);
  EXPECT_EQ(broken.drop, DropReason::Parse);
}

// RFC 3325 §5: an asserted identity is passed on only from within the trust domain, the
// servers the configuration routes to; from anyone else (a phone) both identity headers go.
TEST_F(PipelineTest, IdentityHeadersFromOutsideTheTrustDomainAreNotPassedOn) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  Request request;
  request.extra =
      "P-Asserted-Identity: <sip:+442079460000@sipline.local>\r\n"
      "P-Preferred-Identity: <sip:+442079460001@sipline.local>\r\n"
      "Privacy: none\r\n";
  const Outcome from_phone = process(request.text(), "192.0.2.10:5099");
  ASSERT_EQ(from_phone.kind, SendKind::ForwardedRequest) << written(from_phone);
  const std::string sent = written(from_phone);
  EXPECT_EQ(sent.find("P-Asserted-Identity"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("P-Preferred-Identity"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nCSeq: 1 INVITE\r\nPrivacy: none\r\nContent-Length: 0\r\n"),
            std::string::npos)
      << sent;
  EXPECT_EQ(counters.identity_removed.read(), 1u);
  // The same from a server we route to (the forward target 127.0.0.1:5070): kept.
  request.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-pai2;rport";
  const Outcome from_server = process(request.text(), "127.0.0.1:5070");
  ASSERT_EQ(from_server.kind, SendKind::ForwardedRequest) << written(from_server);
  EXPECT_NE(written(from_server).find("\r\n" + request.extra), std::string::npos)
      << written(from_server);
  EXPECT_EQ(counters.identity_removed.read(), 1u);
  pipeline_->set_counters(nullptr);
}

// RFC 3325 §5, §7: a caller who asked for privacy (Privacy: id) keeps the asserted identity
// inside the trust domain: a phone (outside) does not get it, a server (inside) does.
TEST_F(PipelineTest, PrivacyIdKeepsTheIdentityFromElementsOutsideTheTrustDomain) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  location_.replace("1002", {binding("sip:1002@192.0.2.20:6000", "")});
  Request from_carrier;  // through the forward target's address: a server we route to
  from_carrier.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-priv1;rport";
  from_carrier.uri = "sip:1002@sipline.local";
  from_carrier.extra =
      "P-Asserted-Identity: <sip:+442079460000@carrier.example>\r\nPrivacy: id\r\n";
  const Outcome to_phone = process(from_carrier.text(), "127.0.0.1:5070");
  ASSERT_EQ(to_phone.kind, SendKind::ForwardedRequest) << written(to_phone);
  EXPECT_EQ(peer_text(to_phone.destination), "192.0.2.20:6000");
  EXPECT_EQ(written(to_phone).find("P-Asserted-Identity"), std::string::npos) << written(to_phone);
  EXPECT_NE(written(to_phone).find("\r\nPrivacy: id\r\n"), std::string::npos);
  EXPECT_EQ(counters.identity_withheld.read(), 1u);
  EXPECT_EQ(counters.identity_removed.read(), 0u);
  // Without Privacy: id the phone gets it (the carrier's assertion of who calls).
  Request public_call = from_carrier;
  public_call.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-priv2;rport";
  public_call.extra = "P-Asserted-Identity: <sip:+442079460000@carrier.example>\r\n";
  const Outcome shown = process(public_call.text(), "127.0.0.1:5070");
  EXPECT_NE(written(shown).find("\r\n" + public_call.extra), std::string::npos) << written(shown);
  // To a server (the forward target, inside): kept, Privacy and all.
  Request onward = from_carrier;
  onward.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-priv3;rport";
  onward.uri = "sip:7000@sipline.local";
  const Outcome inside = process(onward.text(), "127.0.0.1:5070");
  ASSERT_EQ(peer_text(inside.destination), "127.0.0.1:5070");
  EXPECT_NE(written(inside).find("\r\n" + onward.extra), std::string::npos) << written(inside);
  EXPECT_EQ(counters.identity_withheld.read(), 1u);
  pipeline_->set_counters(nullptr);
}

// [domain] trust_domain: a PBX that reaches us as a registered user is inside too: its
// asserted identity goes on, and a private one reaches it.
TEST_F(PipelineTest, TrustDomainAddressesAreInsideTheBoundary) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  location_.replace("1099", {binding("sip:1099@192.0.2.30:5060", "")});
  Request from_pbx;
  from_pbx.via = "SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK-pbx1;rport";
  from_pbx.extra = "P-Asserted-Identity: <sip:2001@pbx.example>\r\n";
  const Outcome out = process(from_pbx.text(), "192.0.2.30:5060");
  ASSERT_EQ(out.kind, SendKind::ForwardedRequest) << written(out);
  EXPECT_NE(written(out).find("\r\n" + from_pbx.extra), std::string::npos) << written(out);
  Request to_pbx;
  to_pbx.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-pbx2;rport";
  to_pbx.uri = "sip:1099@sipline.local";
  to_pbx.extra = "P-Asserted-Identity: <sip:+442079460000@carrier.example>\r\nPrivacy: id\r\n";
  const Outcome in = process(to_pbx.text(), "127.0.0.1:5070");
  ASSERT_EQ(peer_text(in.destination), "192.0.2.30:5060");
  EXPECT_NE(written(in).find("\r\n" + to_pbx.extra), std::string::npos) << written(in);
  EXPECT_EQ(counters.identity_removed.read() + counters.identity_withheld.read(), 0u);
  pipeline_->set_counters(nullptr);
}

// Our own assertion for an authenticated caller (assert_identity) is not written toward a
// phone when the caller asked for privacy.
TEST_F(PipelineTest, PrivacyIdWithholdsOurAssertedIdentityFromAPhone) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  location_.replace("1009", {binding("sip:1009@192.0.2.60:5080", "")});
  Request request;
  request.uri = "sip:1009@sipline.local";
  request.to = "<sip:1009@sipline.local>";
  const Outcome challenge = process(request.text());
  ASSERT_EQ(challenge.code, 407);
  request.extra = credentials_1009(written(challenge), request.uri) + "Privacy: id\r\n";
  request.via = "SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-priv4;rport";
  const Outcome forwarded = process(request.text());
  ASSERT_EQ(forwarded.kind, SendKind::ForwardedRequest) << written(forwarded);
  EXPECT_EQ(peer_text(forwarded.destination), "192.0.2.60:5080");
  EXPECT_EQ(written(forwarded).find("P-Asserted-Identity"), std::string::npos)
      << written(forwarded);
  EXPECT_EQ(counters.identity_withheld.read(), 1u);
  pipeline_->set_counters(nullptr);
}

// Responses cross the same boundary: a phone's asserted identity (a 200 claiming to be
// someone) is removed; a server's, with Privacy: id, does not reach a phone.
TEST_F(PipelineTest, ResponsesCrossTheTrustBoundaryAsRequestsDo) {
  WorkerCounters counters;
  pipeline_->set_counters(&counters);
  // The phone calls out through the forward target; the server answers with the callee's
  // identity, private.
  const Outcome out_call = process(Request().text());
  std::string answer = written(out_call);
  answer.replace(0, answer.find("\r\n"), "SIP/2.0 200 OK");
  const std::string identity = "P-Asserted-Identity: <sip:+15551230000@carrier.example>\r\n";
  answer.insert(answer.find("Content-Length:"), identity + "Privacy: id\r\n");
  const Outcome private_answer = process(answer, "127.0.0.1:5070");
  ASSERT_EQ(private_answer.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(peer_text(private_answer.destination), "192.0.2.10:5099");
  EXPECT_EQ(written(private_answer).find("P-Asserted-Identity"), std::string::npos)
      << written(private_answer);
  EXPECT_EQ(counters.identity_withheld.read(), 1u);
  // Without Privacy: passed on.
  answer.erase(answer.find("Privacy: id\r\n"), 13);
  const Outcome public_answer = process(answer, "127.0.0.1:5070");
  EXPECT_NE(written(public_answer).find(identity), std::string::npos) << written(public_answer);
  // A call from the server to the phone: the phone's 200 may not assert anything.
  location_.replace("1002", {binding("sip:1002@192.0.2.20:6000", "")});
  Request in_call;
  in_call.via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-priv5;rport";
  in_call.uri = "sip:1002@sipline.local";
  const Outcome to_phone = process(in_call.text(), "127.0.0.1:5070");
  std::string phone_answer = written(to_phone);
  phone_answer.replace(0, phone_answer.find("\r\n"), "SIP/2.0 200 OK");
  phone_answer.insert(phone_answer.find("Content-Length:"), identity);
  const Outcome claimed = process(phone_answer, "192.0.2.20:6000");
  ASSERT_EQ(claimed.kind, SendKind::ForwardedResponse);
  EXPECT_EQ(peer_text(claimed.destination), "127.0.0.1:5070");
  EXPECT_EQ(written(claimed).find("P-Asserted-Identity"), std::string::npos) << written(claimed);
  EXPECT_EQ(counters.identity_removed.read(), 1u);
  EXPECT_EQ(counters.identity_withheld.read(), 1u);
  pipeline_->set_counters(nullptr);
}

TEST_F(PipelineTest, LocationForAnUnconfiguredUserIs404) {
  Request request;
  request.uri = "sip:1077@sipline.local";  // route "local" matches, no such user
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 404);
}

TEST_F(PipelineTest, LocationForAUserWithoutBindingIs480) {
  Request request;
  request.uri = "sip:1099@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 480);
  EXPECT_EQ(written(outcome).substr(0, 36), "SIP/2.0 480 Temporarily Unavailable\r");
}

TEST_F(PipelineTest, LocationSendsToTheHighestQContactsReceivedAddress) {
  location_.replace("1002", {binding("sip:1002@10.0.0.7:5090", "192.0.2.21:7000", 500),
                             binding("sip:1002@10.0.0.5:5070", "192.0.2.20:6000", 1000)});
  Request request;
  request.uri = "sip:1002@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.20:6000");
  EXPECT_EQ(written(outcome).substr(0, 41), "INVITE sip:1002@10.0.0.5:5070 SIP/2.0\r\nVi");
}

TEST_F(PipelineTest, LocationWithoutReceivedSendsToTheContactAddress) {
  location_.replace("1002", {binding("sip:1002@192.0.2.30;transport=udp", "")});
  Request request;
  request.uri = "sip:1002@127.0.0.1";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.30:5060");
}

TEST_F(PipelineTest, RedirectWithATargetAnswers302WithThatContact) {
  Request request;
  request.uri = "sip:2000@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 302);
  EXPECT_NE(written(outcome).find("\r\nContact: <sip:alt@192.0.2.9:5080>\r\n"), std::string::npos)
      << written(outcome);
}

TEST_F(PipelineTest, RedirectWithoutTargetListsTheRegisteredContacts) {
  location_.replace("1005", {binding("sip:1005@192.0.2.40:5062", "", 1000),
                             binding("sip:1005@192.0.2.41:5064", "", 250)});
  Request request;
  request.uri = "sip:1005@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 302);
  EXPECT_NE(written(outcome).find("\r\nContact: <sip:1005@192.0.2.40:5062>\r\n"
                                  "Contact: <sip:1005@192.0.2.41:5064>;q=0.25\r\n"),
            std::string::npos)
      << written(outcome);
}

TEST_F(PipelineTest, RejectRouteAnswersItsCode) {
  Request request;
  request.uri = "sip:4000@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 403);
  EXPECT_EQ(written(outcome).substr(0, 24), "SIP/2.0 403 Forbidden\r\nV");
}

TEST_F(PipelineTest, ForwardToOurOwnAddressIsALoop) {
  Request request;
  request.uri = "sip:5000@sipline.local";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 482);
}

TEST_F(PipelineTest, GarbageIsDroppedAsParseError) {
  const Outcome outcome = process("this is not SIP\r\n\r\n");
  EXPECT_EQ(outcome.verdict, Verdict::Drop);
  EXPECT_EQ(outcome.drop, DropReason::Parse);
}

TEST_F(PipelineTest, ProxyRequireIsAnswered420WithUnsupported) {
  Request request;
  request.extra = "Proxy-Require: foo\r\n";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.code, 420);
  EXPECT_NE(written(outcome).find("\r\nUnsupported: foo\r\n"), std::string::npos);
}

TEST_F(PipelineTest, AuthRouteChallengesThenForwardsWithValidCredentials) {
  location_.replace("1009", {binding("sip:1009@192.0.2.60:5080", "")});
  Request request;
  request.uri = "sip:1009@sipline.local";
  request.to = "<sip:1009@sipline.local>";
  const Outcome challenge = process(request.text());
  ASSERT_EQ(challenge.verdict, Verdict::Send);
  ASSERT_EQ(challenge.code, 407);
  const std::string text = written(challenge);
  // One challenge per configured algorithm, SHA-256 first (the config default).
  const std::size_t sha256 = text.find("Proxy-Authenticate: Digest realm=\"sipline.local\"");
  ASSERT_NE(sha256, std::string::npos) << text;
  EXPECT_NE(text.find("algorithm=SHA-256", sha256), std::string::npos);
  EXPECT_NE(text.find("algorithm=MD5", sha256), std::string::npos);

  request.extra = credentials_1009(text, request.uri);
  // Credentials for another realm, a proxy further on (RFC 3261 §22.3: one line each).
  const std::string downstream =
      "Proxy-Authorization: Digest username=\"x\", realm=\"far.example\", nonce=\"n\", "
      "uri=\"sip:1009@sipline.local\", response=\"0123\"\r\n";
  request.extra += downstream;
  // The identity the phone would like to present: replaced by the one we assert for it.
  request.extra += "P-Asserted-Identity: <sip:+15550000000@sipline.local>\r\n";
  request.via = "SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc2;rport";
  const Outcome forwarded = process(request.text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send) << written(forwarded);
  EXPECT_EQ(forwarded.kind, SendKind::ForwardedRequest) << written(forwarded);
  EXPECT_EQ(peer_text(forwarded.destination), "192.0.2.60:5080");
  // Ours are consumed (RFC 7235 §4.4), the other realm's go on as they were.
  const std::string sent = written(forwarded);
  EXPECT_EQ(sent.find("realm=\"sipline.local\""), std::string::npos) << sent;
  // RFC 3325 §9.1: our assertion for the authenticated user, by its caller ID.
  EXPECT_NE(sent.find("\r\nCSeq: 1 INVITE\r\n" + downstream +
                      "Content-Length: 0\r\n"
                      "P-Asserted-Identity: <sip:+442079460009@sipline.local>\r\n\r\n"),
            std::string::npos)
      << sent;
  EXPECT_EQ(sent.find("+15550000000"), std::string::npos) << sent;

  // A wrong password gets 403.
  const std::size_t at = request.extra.find("response=\"") + 10;
  request.extra[at] = request.extra[at] == '0' ? '1' : '0';
  request.via = "SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bK-abc3;rport";
  const Outcome refused = process(request.text());
  ASSERT_EQ(refused.verdict, Verdict::Send);
  EXPECT_EQ(refused.code, 403);
}

// RFC 3261 §16.4: an RFC 2543 strict router before us sent our Record-Route URI as the
// Request-URI; the remote target comes back from the end of the Route header.
TEST_F(PipelineTest, RequestFromAStrictRouterGoesToTheLastRouteValue) {
  Request request;
  request.method = "BYE";
  request.uri = "sip:127.0.0.1:5060";
  request.to = "<sip:7000@sipline.local>;tag=callee";
  request.extra = "Route: <sip:7000@192.0.2.20:5072>\r\n";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.20:5072");
  const std::string text = written(outcome);
  EXPECT_TRUE(text.starts_with("BYE sip:7000@192.0.2.20:5072 SIP/2.0\r\n")) << text;
  EXPECT_EQ(text.find("Route:"), std::string::npos) << text;
}

// §16.6 step 7: the next hop is a strict router; it gets the request with its own URI as
// Request-URI and the Request-URI at the end of the Route header.
TEST_F(PipelineTest, RequestToAStrictRouterCarriesTheRequestUriInRoute) {
  Request request;
  request.method = "BYE";
  request.uri = "sip:7000@192.0.2.20:5072";
  request.to = "<sip:7000@sipline.local>;tag=callee";
  request.extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:192.0.2.30:5090>\r\n";
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.30:5090");
  const std::string text = written(outcome);
  EXPECT_TRUE(text.starts_with("BYE sip:192.0.2.30:5090 SIP/2.0\r\n")) << text;
  EXPECT_NE(text.find("\r\nRoute: <sip:7000@192.0.2.20:5072>\r\nContent-Length: 0\r\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("127.0.0.1:5060;lr"), std::string::npos) << text;
  EXPECT_EQ(text.find("<sip:192.0.2.30:5090>"), std::string::npos) << text;
}

// A new request from a phone whose preloaded Route names another host (a carrier's SBC, which
// trusts sipline's address) is not sent there: its Route goes and the route table decides,
// with its auth (as Kamailio's default configuration, remove_hf("Route")). From a server of
// the trust domain the Route is followed (RFC 3261 §16.4, §16.6 step 6).
TEST_F(PipelineTest, APhonesPreloadedRouteToAnotherHostIsNotFollowed) {
  Request request;
  request.extra = "Route: <sip:192.0.2.50:5060;lr>\r\n";
  Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "127.0.0.1:5070");  // route "out"
  std::string text = written(outcome);
  EXPECT_TRUE(text.starts_with("INVITE sip:7000@sipline.local SIP/2.0\r\n")) << text;
  EXPECT_EQ(text.find("Route:"), std::string::npos) << text;
  // Our own value first changes nothing; the route to 1009 challenges as without a Route.
  request.uri = "sip:1009@sipline.local";
  request.to = "<sip:1009@sipline.local>";
  request.extra =
      "Route: <sip:127.0.0.1:5060;lr>,\r\n <sip:192.0.2.50:5060;lr>\r\nRoute: "
      "<sip:x@192.0.2.51>\r\n";
  outcome = process(request.text());
  EXPECT_EQ(outcome.kind, SendKind::LocalResponse);
  EXPECT_EQ(outcome.code, 407);
  EXPECT_EQ(counters_.preloaded_routes_dropped.read(), 2u);
  // The PBX of the trust domain routes through us to a host of its choosing.
  outcome = process(request.text(), "192.0.2.30:5060");
  ASSERT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.50:5060");
  text = written(outcome);
  EXPECT_NE(text.find("Route: <sip:192.0.2.50:5060;lr>\r\nRoute: <sip:x@192.0.2.51>\r\n"),
            std::string::npos)
      << text;
  // In a dialog (To tag) the route set is the dialog's, built by Record-Route: followed.
  request.to += ";tag=callee";
  request.method = "BYE";
  outcome = process(request.text());
  ASSERT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.50:5060");
  EXPECT_EQ(counters_.preloaded_routes_dropped.read(), 2u);
}

// An in-dialog BYE (To tag) with `extra` header lines.
Request in_dialog_bye(std::string extra = {}) {
  Request request;
  request.method = "BYE";
  request.to = "<sip:7000@sipline.local>;tag=callee";
  request.extra = std::move(extra);
  return request;
}

// A Route or Request-URI from outside names where sipline sends: never 0.0.0.0 (the kernel
// takes it for this host), multicast or broadcast; loopback here because sipline listens on
// 127.0.0.1 itself (a UAS on the same host), not in PipelineLoopback below.
TEST_F(PipelineTest, MessagesCannotAimTheProxyAtUnspecifiedMulticastOrBroadcast) {
  for (const char* route : {"0.0.0.0:5070", "0.7.7.7", "224.0.0.75", "239.255.255.250:1900",
                            "255.255.255.255", "[::]:5070", "[ff02::1]", "[::ffff:127.0.0.1]"}) {
    Request request = in_dialog_bye(std::string("Route: <sip:") + route + ";lr>\r\n");
    const Outcome outcome = process(request.text());
    EXPECT_EQ(outcome.verdict, Verdict::Drop) << route;
    EXPECT_EQ(outcome.drop, DropReason::Unroutable) << route;
    // The same as the in-dialog Request-URI.
    request.extra.clear();
    request.uri = std::string("sip:7000@") + route;
    const Outcome by_uri = process(request.text());
    EXPECT_EQ(by_uri.drop, DropReason::Unroutable) << route;
  }
  const Outcome outcome = process(in_dialog_bye("Route: <sip:127.0.0.1:5070;lr>\r\n").text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(outcome.destination), "127.0.0.1:5070");
}

// Listening on a public address only: a message naming a loopback next hop (a Route, a
// registered Contact) does not reach the services of sipline's own host.
TEST(PipelineLoopback, LoopbackNextHopsNeedALoopbackListenAddress) {
  std::string text(kConfig);
  text.replace(text.find("udp = [\"127.0.0.1:5060\"]"), 24, "udp = [\"192.0.2.1:5060\"]");
  text.replace(text.find("names = [\"sipline.local\", \"127.0.0.1\"]"), 38,
               "names = [\"sipline.local\", \"192.0.2.1\"]");
  const config::LoadResult loaded = config::load_config_text(text, "public.toml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
  LocationTable location(1);
  const std::unique_ptr<PipelineContext> context =
      PipelineContext::create(loaded.config, &location);
  EXPECT_FALSE(context->loopback_peers);
  Pipeline pipeline(*context, 0);
  std::vector<char> out(kPacketCapacity);
  const auto process = [&](const std::string& message) {
    const Inbound in{message, *peer_from_text("192.0.2.10:5099"), 0};
    return pipeline.process(in, kNow, OutputBuffers{out, {}});
  };
  Request request = in_dialog_bye("Route: <sip:127.0.0.1:6379;lr>\r\n");
  request.uri = "sip:7000@192.0.2.20:5072";
  EXPECT_EQ(process(request.text()).drop, DropReason::Unroutable);
  request.extra = "Route: <sip:[::1]:53;lr>\r\n";
  EXPECT_EQ(process(request.text()).drop, DropReason::Unroutable);
  request.extra = "Route: <sip:192.0.2.30:5090;lr>\r\n";
  const Outcome allowed = process(request.text());
  ASSERT_EQ(allowed.verdict, Verdict::Send);
  EXPECT_EQ(peer_text(allowed.destination), "192.0.2.30:5090");

  // A binding whose Contact (no received address) names this host: 480, nothing sent.
  location.replace("1002", {binding("sip:1002@127.0.0.1:5070", "")});
  Request call;
  call.uri = "sip:1002@sipline.local";
  call.to = "<sip:1002@sipline.local>";
  const Outcome unreachable = process(call.text());
  ASSERT_EQ(unreachable.verdict, Verdict::Send);
  EXPECT_EQ(unreachable.kind, SendKind::LocalResponse);
  EXPECT_EQ(unreachable.code, 480);
}

// SIP scanners name themselves in User-Agent ([source_limits] scanner_user_agents, Kamailio's
// default list): dropped without an answer before anything else, a REGISTER too. The names
// are compared case-sensitively, as Kamailio's regular expression does.
TEST_F(PipelineTest, ScannersAreDroppedWithoutAnAnswer) {
  for (const char* agent : {"friendly-scanner", "sipcli/v1.8", "VaxSIPUserAgent/3.1", "pplsip"}) {
    Request request;
    request.extra = std::string("User-Agent: ") + agent + "\r\n";
    const Outcome outcome = process(request.text());
    EXPECT_EQ(outcome.verdict, Verdict::Drop) << agent;
    EXPECT_EQ(outcome.drop, DropReason::Scanner) << agent;
  }
  Request registration;
  registration.method = "REGISTER";
  registration.uri = "sip:sipline.local";
  registration.to = "<sip:1002@sipline.local>";
  registration.extra = "User-Agent: friendly-scanner\r\n";
  EXPECT_EQ(process(registration.text()).drop, DropReason::Scanner);
  // A phone, or a name that only looks alike in another case: forwarded.
  for (const char* agent : {"Linphone/5.2.0 (belle-sip/5.2.0)", "Friendly PBX 2.0"}) {
    Request request;
    request.extra = std::string("User-Agent: ") + agent + "\r\n";
    const Outcome outcome = process(request.text());
    EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest) << agent;
  }
}

TEST(PipelineScanners, AnEmptyListLetsEveryUserAgentThrough) {
  std::string text(kConfig);
  text += "[source_limits]\nscanner_user_agents = []\n";
  const config::LoadResult loaded = config::load_config_text(text, "no_scanners.toml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
  LocationTable location(1);
  const std::unique_ptr<PipelineContext> context =
      PipelineContext::create(loaded.config, &location);
  Pipeline pipeline(*context, 0);
  std::vector<char> out(kPacketCapacity);
  Request request;
  request.extra = "User-Agent: friendly-scanner\r\n";
  const std::string message = request.text();
  const Inbound in{message, *peer_from_text("192.0.2.10:5099"), 0};
  EXPECT_EQ(pipeline.process(in, kNow, OutputBuffers{out, {}}).kind, SendKind::ForwardedRequest);
}

// An in-dialog request follows its dialog: to the peer's Contact (its remote target, RFC 3261
// §12.2.1.1). It is not challenged again (many UAs cannot answer a challenge to a BYE).
TEST_F(PipelineTest, InDialogRequestsFollowingTheirDialogAreNotChallenged) {
  const Request request = dialog_request("BYE", "sip:1009@192.0.2.60:5080", "callee");
  const Outcome outcome = process(request.text());
  ASSERT_EQ(outcome.verdict, Verdict::Send);
  EXPECT_EQ(outcome.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(outcome.destination), "192.0.2.60:5080");
}

// One that names us and leaves the route table to decide follows no dialog: relayed, an
// invented To tag would pass the route's auth (the "challenged" route here) and its call
// limits, an INVITE to the trunk with nobody's credentials. 403. An ACK goes on (a failed
// INVITE's ACK follows the INVITE's Request-URI, §16.11), as does a server's request.
TEST_F(PipelineTest, ADialogRequestLeftToTheRouteTableIsRefused) {
  location_.replace("1009", {binding("sip:1009@192.0.2.60:5080", "")});
  for (const char* method : {"INVITE", "BYE", "MESSAGE", "REFER"}) {
    const Request request = dialog_request(method, "sip:1009@sipline.local", "invented");
    const Outcome refused = process(request.text());
    ASSERT_EQ(refused.verdict, Verdict::Send) << method;
    EXPECT_EQ(refused.kind, SendKind::LocalResponse) << method;
    EXPECT_EQ(refused.code, 403) << method;
  }
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 4u);
  const Request ack = dialog_request("ACK", "sip:1009@sipline.local", "callee");
  const Outcome forwarded = process(ack.text());
  ASSERT_EQ(forwarded.verdict, Verdict::Send);
  EXPECT_EQ(forwarded.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(peer_text(forwarded.destination), "192.0.2.60:5080");
  // From a server the configuration routes to (the trust domain): routed by the table.
  const Request from_server = dialog_request("BYE", "sip:1009@sipline.local", "callee");
  const std::string server_bye = from_server.text();  // Inbound views it
  const Inbound in{server_bye, *peer_from_text("127.0.0.1:5070"), 0};
  const Outcome relayed = pipeline_->process(in, kNow, OutputBuffers{out_, {}});
  EXPECT_EQ(relayed.kind, SendKind::ForwardedRequest);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 4u);
}

}  // namespace
}  // namespace sipline::dataplane

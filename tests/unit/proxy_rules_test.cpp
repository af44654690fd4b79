#include "sip/proxy_rules.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sip/branch.hpp"
#include "sip/message.hpp"
#include "sip/rewrite.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

using test::HeldMessage;
using test::parse_held;
using test::parse_ok;
using test::read_corpus;
using test::replace_once;

std::unique_ptr<HeldMessage> parse(std::string bytes) {
  return parse_held(std::move(bytes));
}

constexpr BranchKey kKey{0x5eed1234abcdULL};

LocalIdentity test_identity() {
  LocalIdentity identity;
  EXPECT_TRUE(identity.add_domain("sipline.local"));
  EXPECT_TRUE(identity.add_domain("127.0.0.1"));
  EXPECT_TRUE(identity.add_listen_address("127.0.0.1", 5060));
  EXPECT_TRUE(identity.add_listen_address("2001:db8::10", 5062));
  identity.branch_key = kKey;
  return identity;
}

struct RequestSpec {
  std::string method = "INVITE";
  std::string request_uri = "sip:1002@sipline.local";
  std::string via = "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport";
  std::string to = "<sip:1002@sipline.local>";
  std::string extra;      // complete header lines
  int max_forwards = 70;  // < 0: no Max-Forwards line
};

// Built by appending only: g++ 12 -O3 misreports `"literal" + std::string` as
// overlapping memcpy (-Wrestrict).
std::string request_text(const RequestSpec& spec) {
  std::string text;
  const auto line = [&text](std::string_view name, std::string_view value) {
    text.append(name).append(": ").append(value).append("\r\n");
  };
  text.append(spec.method).append(" ").append(spec.request_uri).append(" SIP/2.0\r\n");
  line("Via", spec.via);
  if (spec.max_forwards >= 0) line("Max-Forwards", std::to_string(spec.max_forwards));
  line("From", "<sip:1001@sipline.local>;tag=f1");
  line("To", spec.to);
  line("Call-ID", "call-1@192.0.2.10");
  text.append("CSeq: 7 ").append(spec.method).append("\r\n");  // the request's method (§8.1.1.5)
  text.append(spec.extra);
  text.append("Content-Length: 0\r\n\r\n");
  return text;
}

RequestCheck check(const std::string& text) {
  const auto message = parse(text);
  return check_request(*message, test_identity());
}

RequestCheck check_corpus(const std::string& name) {
  return check(read_corpus(name));
}

// ---- LocalIdentity ----------------------------------------------------------------------

TEST(LocalIdentity, FormatsListenAddressTexts) {
  const LocalIdentity identity = test_identity();
  ASSERT_EQ(identity.listen_count(), 2u);
  EXPECT_EQ(identity.listen_address(0).host(), "127.0.0.1");
  EXPECT_EQ(identity.listen_address(0).port(), 5060);
  EXPECT_EQ(identity.listen_address(0).sent_by(), "127.0.0.1:5060");
  EXPECT_EQ(identity.listen_address(0).record_route_uri(), "sip:127.0.0.1:5060");
  EXPECT_EQ(identity.listen_address(1).host(), "[2001:db8::10]");
  EXPECT_EQ(identity.listen_address(1).sent_by(), "[2001:db8::10]:5062");
  EXPECT_EQ(identity.listen_address(1).record_route_uri(), "sip:[2001:db8::10]:5062");
  ASSERT_EQ(identity.domain_count(), 2u);
  EXPECT_EQ(identity.domain(0), "sipline.local");
  EXPECT_EQ(identity.domain(1), "127.0.0.1");
}

TEST(LocalIdentity, AcceptsBracketedIpv6AndLongestAddress) {
  LocalIdentity identity;
  EXPECT_TRUE(identity.add_listen_address("[::1]", 65535));
  EXPECT_EQ(identity.listen_address(0).sent_by(), "[::1]:65535");
  const std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  ASSERT_EQ(longest.size(), 45u);
  EXPECT_TRUE(identity.add_listen_address(longest, 65535));
  EXPECT_EQ(identity.listen_address(1).sent_by(), "[" + longest + "]:65535");
}

TEST(LocalIdentity, RefusesWhatDoesNotFit) {
  LocalIdentity identity;
  EXPECT_FALSE(identity.add_listen_address("", 5060));
  EXPECT_FALSE(identity.add_listen_address("127.0.0.1", 0));
  EXPECT_FALSE(identity.add_listen_address(std::string(60, 'a'), 5060));
  for (std::size_t i = 0; i < kMaxListenAddresses; ++i) {
    EXPECT_TRUE(identity.add_listen_address("127.0.0.1", static_cast<std::uint16_t>(5000 + i)));
  }
  EXPECT_FALSE(identity.add_listen_address("127.0.0.1", 6000));
  EXPECT_EQ(identity.listen_count(), kMaxListenAddresses);

  EXPECT_FALSE(identity.add_domain(""));
  for (std::size_t i = 0; i < kMaxLocalDomains; ++i) {
    std::string name = std::to_string(i);
    name.append(".example");
    EXPECT_TRUE(identity.add_domain(name));
  }
  EXPECT_FALSE(identity.add_domain("one-too-many.example"));

  LocalIdentity long_names;
  const std::string name(kLocalDomainTextSize / 2 + 1, 'n');
  EXPECT_TRUE(long_names.add_domain(name));
  EXPECT_FALSE(long_names.add_domain(name));
  EXPECT_EQ(long_names.domain_count(), 1u);
}

TEST(LocalIdentity, CopiesStayValid) {
  auto original = std::make_unique<LocalIdentity>(test_identity());
  const LocalIdentity copy = *original;
  original.reset();
  EXPECT_EQ(copy.domain(0), "sipline.local");
  EXPECT_EQ(copy.listen_address(1).sent_by(), "[2001:db8::10]:5062");
}

// ---- uri_is_ours / sent_by_is_ours --------------------------------------------------------

bool ours(const std::string& text) {
  const Parsed<Uri> uri = parse_uri(text);
  EXPECT_TRUE(uri.ok()) << text;
  return uri_is_ours(uri.value, test_identity());
}

TEST(UriIsOurs, DomainsWithoutPortOrWithAListenPort) {
  EXPECT_TRUE(ours("sip:1002@sipline.local"));
  EXPECT_TRUE(ours("sip:1002@SIPLINE.Local"));
  EXPECT_TRUE(ours("sips:1002@sipline.local"));
  EXPECT_TRUE(ours("sip:1002@sipline.local:5060"));
  EXPECT_TRUE(ours("sip:1002@sipline.local:5062"));
  EXPECT_FALSE(ours("sip:1002@sipline.local:5070"));
  EXPECT_FALSE(ours("sip:1002@example.com"));
}

TEST(UriIsOurs, ListenAddressesNeedTheirOwnPort) {
  EXPECT_TRUE(ours("sip:127.0.0.1:5060;lr"));
  EXPECT_TRUE(ours("sip:127.0.0.1"));
  EXPECT_TRUE(ours("sip:[2001:db8::10]:5062"));
  EXPECT_TRUE(ours("sip:[2001:DB8::10]"));
  // 127.0.0.1 is also a domain name, so any listen port makes it ours; 5070 is a phone.
  EXPECT_FALSE(ours("sip:1002@127.0.0.1:5070"));
  // The IPv6 address is not a domain: only its own port.
  EXPECT_FALSE(ours("sip:[2001:db8::10]:5060"));
}

TEST(UriIsOurs, OtherSchemesNeverAre) {
  EXPECT_FALSE(ours("tel:+15551234"));
  EXPECT_FALSE(ours("nobodyKnowsThisScheme:totallyopaquecontent"));
}

TEST(SentByIsOurs, HostAndPortMustMatchAListenAddress) {
  const LocalIdentity identity = test_identity();
  const auto ours = [&identity](std::string_view sent_by) {
    const std::string via = "SIP/2.0/UDP " + std::string(sent_by);  // the views point here
    const Parsed<Via> parsed = parse_via(via);
    EXPECT_TRUE(parsed.ok()) << via;
    return sent_by_is_ours(parsed.value.sent_by, identity);
  };
  EXPECT_TRUE(ours("127.0.0.1:5060"));
  EXPECT_TRUE(ours("127.0.0.1"));  // absent port = 5060
  EXPECT_TRUE(ours("[2001:db8::10]:5062"));
  EXPECT_FALSE(ours("[2001:db8::10]"));
  EXPECT_FALSE(ours("127.0.0.1:5062"));
  EXPECT_FALSE(ours("sipline.local:5060"));  // names: never ours
}

// ---- check_request: accepted requests ------------------------------------------------------

TEST(CheckRequest, EveryMethodWellFormedProceeds) {
  for (const std::string method :
       {"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "MESSAGE", "NOTIFY",
        "PRACK", "PUBLISH", "REFER", "SUBSCRIBE", "UPDATE", "FROBNICATE"}) {
    RequestSpec spec;
    spec.method = method;
    const RequestCheck result = check(request_text(spec));
    EXPECT_EQ(result.verdict, RequestVerdict::Proceed) << method;
    EXPECT_TRUE(result.proceed()) << method;
    EXPECT_EQ(result.code, 0) << method;
    EXPECT_EQ(result.extra.view(), "") << method;
  }
}

TEST(CheckRequest, TelRequestUriProceeds) {
  RequestSpec spec;
  spec.request_uri = "tel:+15551234";
  EXPECT_EQ(check(request_text(spec)).verdict, RequestVerdict::Proceed);
}

TEST(CheckRequest, Rfc2543InviteWithoutMaxForwardsProceeds) {
  const RequestCheck result = check_corpus("rfc4475/inv2543.dat");
  EXPECT_EQ(result.verdict, RequestVerdict::Proceed);
}

TEST(CheckRequest, RequireAloneIsForTheUas) {
  RequestSpec spec;
  spec.extra = "Require: 100rel, timer\r\n";
  EXPECT_EQ(check(request_text(spec)).verdict, RequestVerdict::Proceed);
}

TEST(CheckRequest, MaxForwardsOneProceeds) {
  RequestSpec spec;
  spec.max_forwards = 1;
  EXPECT_EQ(check(request_text(spec)).verdict, RequestVerdict::Proceed);
}

// ---- check_request: errors ----------------------------------------------------------------

TEST(CheckRequest, ZeroMaxForwardsOptionsIs483) {
  const RequestCheck result = check_corpus("rfc4475/zeromf.dat");
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 483);
  EXPECT_EQ(result.reason, "");
  EXPECT_EQ(result.extra.view(), "");
}

TEST(CheckRequest, ZeroMaxForwardsCancelIs483) {
  RequestSpec spec;
  spec.method = "CANCEL";
  spec.max_forwards = 0;
  const RequestCheck result = check(request_text(spec));
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 483);
}

TEST(CheckRequest, UnknownSchemesAre416) {
  for (const std::string name : {"rfc4475/unkscm.dat", "rfc4475/novelsc.dat"}) {
    const RequestCheck result = check_corpus(name);
    EXPECT_EQ(result.verdict, RequestVerdict::Respond) << name;
    EXPECT_EQ(result.code, 416) << name;
  }
}

// An emergency service URN (RFC 5031) goes on to the route table; another service is 416.
TEST(CheckRequest, TheEmergencyServiceUrnIsNot416) {
  RequestSpec spec;
  spec.request_uri = "urn:service:sos.fire";
  EXPECT_EQ(check(request_text(spec)).verdict, RequestVerdict::Proceed);
  spec.request_uri = "urn:service:counseling";
  EXPECT_EQ(check(request_text(spec)).code, 416);
}

TEST(CheckRequest, SchemeIsCheckedBeforeMaxForwards) {
  RequestSpec spec;
  spec.request_uri = "http://example.com/";
  spec.max_forwards = 0;
  EXPECT_EQ(check(request_text(spec)).code, 416);  // §16.3 step 2 before step 3
}

TEST(CheckRequest, ProxyRequireIs420ListingOnlyProxyRequireTags) {
  const RequestCheck result = check_corpus("rfc4475/bext01.dat");
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 420);
  EXPECT_EQ(result.extra.view(),
            "Unsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n");
}

TEST(CheckRequest, ProxyRequireOverSeveralLines) {
  RequestSpec spec;
  spec.extra = "Proxy-Require: sec-agree\r\nRequire: timer\r\nProxy-Require: foo, bar\r\n";
  const RequestCheck result = check(request_text(spec));
  EXPECT_EQ(result.code, 420);
  EXPECT_EQ(result.extra.view(), "Unsupported: sec-agree, foo, bar\r\n");
}

TEST(CheckRequest, ProxyRequireTagsThatDoNotFitAreLeftOut) {
  RequestSpec spec;
  const std::string tag(100, 'x');
  spec.extra = "Proxy-Require: a" + tag + ", b" + tag + ", c" + tag + ", short\r\n";
  const RequestCheck result = check(request_text(spec));
  EXPECT_EQ(result.code, 420);
  EXPECT_EQ(result.extra.view(), "Unsupported: a" + tag + ", b" + tag + ", short\r\n");
  EXPECT_LE(result.extra.size, kMaxExtraHeaderSize);
}

TEST(CheckRequest, EmptyProxyRequireIsNoRequirement) {
  RequestSpec spec;
  spec.extra = "Proxy-Require: \r\n";
  EXPECT_EQ(check(request_text(spec)).verdict, RequestVerdict::Proceed);
}

TEST(CheckRequest, MalformedProxyRequireIs400) {
  RequestSpec spec;
  spec.extra = "Proxy-Require: foo,,bar\r\n";
  RequestCheck result = check(request_text(spec));
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.reason, "Empty List Element");
  spec.extra = "Proxy-Require: foo/bar\r\n";
  result = check(request_text(spec));
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.reason, "Malformed Token");
}

TEST(CheckRequest, UnsupportedVersionIs505) {
  const RequestCheck result = check_corpus("rfc4475/badvers.dat");
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 505);
  EXPECT_EQ(result.reason, "");
}

TEST(CheckRequest, ParseErrorIs400WithTheParsersReason) {
  const RequestCheck result = check_corpus("rfc4475/mismatch01.dat");
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.reason, "CSeq Method Does Not Match");

  const RequestCheck multi = check_corpus("rfc4475/multi01.dat");
  EXPECT_EQ(multi.code, 400);
  EXPECT_EQ(multi.reason, "Duplicate Single-Valued Header");
}

TEST(CheckRequest, MalformedWithoutTheLinesToAnswerIsDropped) {
  // insuf.dat has CSeq and Via but no From, To or Call-ID.
  const RequestCheck insufficient = check_corpus("rfc4475/insuf.dat");
  EXPECT_EQ(insufficient.verdict, RequestVerdict::Drop);
  EXPECT_EQ(insufficient.drop, RequestDrop::Unanswerable);
  // baddn.dat's header section never ends.
  const RequestCheck unterminated = check_corpus("rfc4475/baddn.dat");
  EXPECT_EQ(unterminated.verdict, RequestVerdict::Drop);
  EXPECT_EQ(unterminated.drop, RequestDrop::Unanswerable);
}

TEST(CheckRequest, IsAnswerableNeedsEveryLine) {
  EXPECT_TRUE(is_answerable(*parse(read_corpus("rfc4475/mismatch01.dat"))));
  EXPECT_FALSE(is_answerable(*parse(read_corpus("rfc4475/insuf.dat"))));
  RequestSpec spec;
  std::string text = request_text(spec);
  text.erase(text.find("Call-ID:"), std::string("Call-ID: call-1@192.0.2.10\r\n").size());
  EXPECT_FALSE(is_answerable(*parse(text)));
}

TEST(CheckRequest, AckIsNeverAnswered) {
  RequestSpec spec;
  spec.method = "ACK";
  spec.max_forwards = 0;
  RequestCheck result = check(request_text(spec));
  EXPECT_EQ(result.verdict, RequestVerdict::Drop);
  EXPECT_EQ(result.drop, RequestDrop::AckNotAnswered);
  EXPECT_EQ(result.code, 483);

  spec.max_forwards = 70;
  spec.extra = "Proxy-Require: foo\r\n";
  result = check(request_text(spec));
  EXPECT_EQ(result.verdict, RequestVerdict::Drop);
  EXPECT_EQ(result.code, 420);
  EXPECT_EQ(result.extra.view(), "");

  // A malformed ACK (CSeq method mismatch).
  RequestSpec ack;
  ack.method = "ACK";
  std::string text = request_text(ack);
  text.replace(text.find("CSeq: 7 ACK"), 11, "CSeq: 7 BYE");
  result = check(text);
  EXPECT_EQ(result.verdict, RequestVerdict::Drop);
  EXPECT_EQ(result.drop, RequestDrop::AckNotAnswered);
  EXPECT_EQ(result.code, 400);
}

TEST(CheckRequest, ResponsesAreNotRequests) {
  const RequestCheck ok = check(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n"
      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(ok.verdict, RequestVerdict::Drop);
  EXPECT_EQ(ok.drop, RequestDrop::NotARequest);
  const RequestCheck broken = check_corpus("rfc4475/bigcode.dat");
  EXPECT_EQ(broken.verdict, RequestVerdict::Drop);
  EXPECT_EQ(broken.drop, RequestDrop::NotARequest);
}

TEST(CheckRequest, ResponseWritesTheUnsupportedLine) {
  const auto request = parse(read_corpus("rfc4475/bext01.dat"));
  const RequestCheck result = check_request(*request, test_identity());
  std::vector<char> buffer(2048);
  const Written written = write_local_response(*request, result.response("totag1"), buffer);
  ASSERT_TRUE(written.ok());
  const std::string text(buffer.data(), written.size);
  EXPECT_TRUE(text.starts_with("SIP/2.0 420 Bad Extension\r\n")) << text;
  EXPECT_NE(text.find("\r\nTo: sip:j_user@example.com;tag=totag1\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\nUnsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n"),
            std::string::npos)
      << text;
}

TEST(CheckRequest, ResponseCarriesTheParsersReason) {
  const auto request = parse(read_corpus("rfc4475/mismatch01.dat"));
  const RequestCheck result = check_request(*request, test_identity());
  const LocalResponse local = result.response("t");
  EXPECT_EQ(local.code, 400);
  EXPECT_EQ(local.reason, "CSeq Method Does Not Match");
  EXPECT_EQ(local.to_tag, "t");
  EXPECT_EQ(local.extra_headers, "");
}

// ---- loop detection -------------------------------------------------------------------------

// `request` as we forward it from our first listen address (§16.6).
std::string forwarded(const Message& request, const LocalIdentity& identity) {
  const Branch branch = stateless_branch(request, identity.branch_key);
  const RequestEdits edits = forward_edits(RoutePlan{}, identity, 0, branch.view());
  std::vector<char> buffer(8192);
  const Written written = write_forwarded_request(request, edits, buffer);
  EXPECT_TRUE(written.ok());
  return std::string(buffer.data(), written.size);
}

TEST(LoopDetection, RequestForwardedBackToUsIs482) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(request_text(RequestSpec{}));
  const auto looped = parse_ok(forwarded(*original, identity));
  ASSERT_EQ(looped->via_count, 2);
  EXPECT_TRUE(via_is_ours(looped->top_via, identity));
  EXPECT_TRUE(request_has_looped(*looped, identity));
  const RequestCheck result = check_request(*looped, identity);
  EXPECT_EQ(result.verdict, RequestVerdict::Respond);
  EXPECT_EQ(result.code, 482);
}

TEST(LoopDetection, Rfc2543RequestLoopIs482) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(read_corpus("rfc4475/inv2543.dat"));
  const auto looped = parse_ok(forwarded(*original, identity));
  EXPECT_EQ(check_request(*looped, identity).code, 482);
}

TEST(LoopDetection, TwiceAroundIsStill482) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(request_text(RequestSpec{}));
  const auto once = parse_ok(forwarded(*original, identity));
  const auto twice = parse_ok(forwarded(*once, identity));
  EXPECT_EQ(twice->via_count, 3);
  EXPECT_TRUE(request_has_looped(*twice, identity));
}

TEST(LoopDetection, OriginalRequestIsNotALoop) {
  const auto original = parse_ok(request_text(RequestSpec{}));
  EXPECT_FALSE(request_has_looped(*original, test_identity()));
}

TEST(LoopDetection, SpiralThroughAnotherProxyProceeds) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(request_text(RequestSpec{}));
  std::string text = forwarded(*original, identity);
  // Another proxy retargeted it and sent it back: its Via is on top of ours.
  text.insert(text.find("Via: "), "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-other\r\n");
  const auto spiral = parse_ok(text);
  EXPECT_FALSE(request_has_looped(*spiral, identity));
  EXPECT_EQ(check_request(*spiral, identity).verdict, RequestVerdict::Proceed);
}

TEST(LoopDetection, OurViaAboveADifferentRequestProceeds) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(request_text(RequestSpec{}));
  std::string text = forwarded(*original, identity);
  // The Via below ours is not the one our branch was computed from.
  const std::size_t at = text.find("z9hG4bK-abc1");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 12, "z9hG4bK-abc2");
  EXPECT_FALSE(request_has_looped(*parse_ok(text), identity));
}

TEST(LoopDetection, AnotherKeyOrAnotherSentByIsNotUs) {
  const LocalIdentity identity = test_identity();
  const auto original = parse_ok(request_text(RequestSpec{}));
  const auto looped = parse_ok(forwarded(*original, identity));
  LocalIdentity rebooted = identity;
  rebooted.branch_key = BranchKey{kKey.secret + 1};
  EXPECT_FALSE(request_has_looped(*looped, rebooted));

  std::string text = forwarded(*original, identity);
  text.replace(text.find("127.0.0.1:5060;branch"), 14, "127.0.0.1:5070");
  EXPECT_FALSE(request_has_looped(*parse_ok(text), identity));
}

// ---- Route pre-processing and next hop ------------------------------------------------------

// The Route decisions for a request, with the message kept alive for their views.
struct HeldRoute {
  std::unique_ptr<HeldMessage> request;
  RoutePlan plan;
  RequestNextHop next;
};

// The bytes write_forwarded_request produces (empty when it fails).
std::string forwarded_text(const Message& request, const RequestEdits& edits) {
  std::vector<char> buffer(4096);
  const Written written = write_forwarded_request(request, edits, buffer);
  EXPECT_TRUE(written.ok());
  return written.ok() ? std::string(buffer.data(), written.size) : std::string();
}

HeldRoute route_held(const std::string& text, const LocalIdentity& identity = test_identity()) {
  HeldRoute held;
  held.request = parse_ok(text);
  held.plan = preprocess_routes(*held.request, identity);
  held.next = next_hop_for_request(*held.request, held.plan, identity);
  return held;
}

TEST(Routes, NoRouteMeansRouteTable) {
  const HeldRoute held = route_held(request_text(RequestSpec{}));
  EXPECT_FALSE(held.plan.strict_router);
  EXPECT_FALSE(held.plan.pop_top_route);
  EXPECT_EQ(held.plan.request_uri, "");
  EXPECT_EQ(held.next.source, NextHopSource::RouteTable);
}

TEST(Routes, OurRouteIsPoppedAndTheNextOneIsTheNextHop) {
  RequestSpec spec;
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:192.0.2.50:5080;lr;transport=udp>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_FALSE(held.plan.strict_router);
  EXPECT_EQ(held.next.source, NextHopSource::RouteHeader);
  EXPECT_EQ(held.next.hop.host, "192.0.2.50");
  EXPECT_EQ(held.next.hop.kind, HostKind::Ipv4);
  EXPECT_EQ(held.next.hop.port, 5080);
  EXPECT_EQ(held.next.hop.transport, "udp");
  EXPECT_FALSE(held.next.strict_next_hop);
}

TEST(Routes, RoutesOnSeveralLinesAndOurDomainName) {
  RequestSpec spec;
  spec.extra = "Route: <sip:sipline.local;lr>\r\nRoute: <sip:192.0.2.50;lr>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RouteHeader);
  EXPECT_EQ(held.next.hop.host, "192.0.2.50");
  EXPECT_EQ(held.next.hop.port, 5060);
  EXPECT_EQ(held.next.hop.transport, "");
}

TEST(Routes, OurRouteWithoutLrIsPoppedToo) {
  RequestSpec spec;
  spec.extra = "Route: <sip:127.0.0.1>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RouteTable);
}

TEST(Routes, ForeignTopRouteStaysAndIsTheNextHop) {
  RequestSpec spec;
  spec.extra = "Route: <sip:127.0.0.1:5070;lr>\r\n";  // our IP, another port: a phone
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_FALSE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RouteHeader);
  EXPECT_EQ(held.next.hop.host, "127.0.0.1");
  EXPECT_EQ(held.next.hop.port, 5070);
}

TEST(Routes, NextHopHonoursMaddrIpv6SipsAndStrictRouters) {
  RequestSpec spec;
  spec.extra = "Route: <sip:proxy.example.com;maddr=192.0.2.70;lr>\r\n";
  HeldRoute held = route_held(request_text(spec));
  EXPECT_EQ(held.next.hop.host, "192.0.2.70");
  EXPECT_EQ(held.next.hop.kind, HostKind::Ipv4);
  EXPECT_EQ(held.next.hop.port, 5060);

  spec.extra = "Route: <sip:[2001:db8::99]:5070;lr>\r\n";
  held = route_held(request_text(spec));
  EXPECT_EQ(held.next.hop.host, "2001:db8::99");
  EXPECT_EQ(held.next.hop.kind, HostKind::Ipv6Reference);
  EXPECT_EQ(held.next.hop.port, 5070);

  spec.extra = "Route: <sips:192.0.2.71;lr>\r\n";
  held = route_held(request_text(spec));
  EXPECT_EQ(held.next.hop.port, 5061);

  spec.extra = "Route: <sip:proxy.example.com;transport=tls;lr>\r\n";
  held = route_held(request_text(spec));
  EXPECT_EQ(held.next.hop.host, "proxy.example.com");
  EXPECT_EQ(held.next.hop.kind, HostKind::Hostname);
  EXPECT_FALSE(held.next.hop.is_ip());
  EXPECT_EQ(held.next.hop.port, 5061);

  spec.extra = "Route: <sip:192.0.2.72>\r\n";
  held = route_held(request_text(spec));
  EXPECT_TRUE(held.next.strict_next_hop);
}

TEST(Routes, UnusableRouteIsBadRoute) {
  RequestSpec spec;
  spec.extra = "Route: <sip:127.0.0.1;lr>, <http://example.com/>\r\n";
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::BadRoute);
  spec.extra = "Route: <sip:127.0.0.1;lr>, <sip:bad host>\r\n";
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::BadRoute);
}

TEST(Routes, StrictRouterReplacesRequestUriWithLastRoute) {
  RequestSpec spec;
  spec.request_uri = "sip:127.0.0.1:5060;lr";
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.extra = "Route: <sip:192.0.2.60:5090;lr>, <sip:1002@192.0.2.20:5072>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.strict_router);
  EXPECT_EQ(held.plan.request_uri, "sip:1002@192.0.2.20:5072");
  EXPECT_FALSE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RouteHeader);
  EXPECT_EQ(held.next.hop.host, "192.0.2.60");
  EXPECT_EQ(held.next.hop.port, 5090);
}

TEST(Routes, StrictRouterWithOnlyTheRemoteTarget) {
  RequestSpec spec;
  spec.method = "BYE";
  spec.request_uri = "sip:127.0.0.1:5060;lr";
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.extra = "Route: <sip:1002@192.0.2.20:5072>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.strict_router);
  EXPECT_EQ(held.plan.request_uri, "sip:1002@192.0.2.20:5072");
  EXPECT_FALSE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RequestUri);
  EXPECT_EQ(held.next.hop.host, "192.0.2.20");
  EXPECT_EQ(held.next.hop.port, 5072);
}

TEST(Routes, RequestUriWithUserIsNotAStrictRouterTrace) {
  RequestSpec spec;
  spec.extra = "Route: <sip:127.0.0.1;lr>\r\n";           // preloaded outbound-proxy route
  const HeldRoute held = route_held(request_text(spec));  // to sip:1002@sipline.local
  EXPECT_FALSE(held.plan.strict_router);
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RouteTable);
}

TEST(Routes, InDialogRequestToARemoteTargetGoesThere) {
  RequestSpec spec;
  spec.method = "ACK";
  spec.request_uri = "sip:1002@192.0.2.20:5072;transport=udp";
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  HeldRoute held = route_held(request_text(spec));
  EXPECT_EQ(held.next.source, NextHopSource::RequestUri);
  EXPECT_EQ(held.next.hop.host, "192.0.2.20");
  EXPECT_EQ(held.next.hop.port, 5072);
  EXPECT_EQ(held.next.hop.transport, "udp");

  // After popping our own Route as well.
  spec.extra = "Route: <sip:127.0.0.1:5060;lr>\r\n";
  held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.next.source, NextHopSource::RequestUri);
}

TEST(Routes, RouteTableForNewRequestsOursAndNames) {
  RequestSpec spec;
  spec.request_uri = "sip:1002@192.0.2.20:5072";  // no To tag: a new request
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::RouteTable);

  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.request_uri = "sip:1002@sipline.local";  // ours
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::RouteTable);

  spec.request_uri = "sip:1002@pbx.example.com";  // a name we do not resolve here
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::RouteTable);

  spec.request_uri = "tel:+15551234";
  EXPECT_EQ(route_held(request_text(spec)).next.source, NextHopSource::RouteTable);
}

TEST(Routes, ForwardEditsAndTheBytesTheyProduce) {
  LocalIdentity identity = test_identity();
  identity.record_route = true;
  RequestSpec spec;
  spec.extra = "Route: <sip:127.0.0.1:5060;lr>, <sip:192.0.2.50:5080;lr>\r\n";
  const auto request = parse_ok(request_text(spec));
  const RoutePlan plan = preprocess_routes(*request, identity);
  const Branch branch = stateless_branch(*request, identity.branch_key);
  const RequestEdits edits = forward_edits(plan, identity, 0, branch.view());
  EXPECT_EQ(edits.via.transport, "UDP");
  EXPECT_EQ(edits.via.sent_by, "127.0.0.1:5060");
  EXPECT_EQ(edits.via.branch, branch.view());
  EXPECT_TRUE(edits.via.rport);
  EXPECT_EQ(edits.record_route_uri, "sip:127.0.0.1:5060");
  EXPECT_EQ(edits.pop_top_routes, 1);
  EXPECT_EQ(edits.request_uri, "");

  const std::string text = forwarded_text(*request, edits);
  EXPECT_TRUE(
      text.starts_with("INVITE sip:1002@sipline.local SIP/2.0\r\n"
                       "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=" +
                       std::string(branch.view()) + ";rport\r\n"))
      << text;
  EXPECT_NE(text.find("\r\nRoute: <sip:192.0.2.50:5080;lr>\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("127.0.0.1:5060;lr>,"), std::string::npos) << text;

  identity.record_route = false;
  const RequestEdits located =
      forward_edits(plan, identity, 1, branch.view(), "sip:1002@192.0.2.20:5072");
  EXPECT_EQ(located.via.sent_by, "[2001:db8::10]:5062");
  EXPECT_EQ(located.record_route_uri, "");
  EXPECT_EQ(located.request_uri, "sip:1002@192.0.2.20:5072");
}

TEST(Routes, StrictRouterPlanFeedsTheRequestUri) {
  RequestSpec spec;
  spec.request_uri = "sip:127.0.0.1:5060;lr";
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.extra = "Route: <sip:1002@192.0.2.20:5072>\r\n";
  const auto request = parse_ok(request_text(spec));
  const LocalIdentity identity = test_identity();
  const RoutePlan plan = preprocess_routes(*request, identity);
  const RequestEdits edits = forward_edits(plan, identity, 0, "z9hG4bK-x");
  EXPECT_EQ(edits.request_uri, "sip:1002@192.0.2.20:5072");
  EXPECT_TRUE(edits.pop_last_route);
  EXPECT_EQ(edits.pop_top_routes, 0);
  EXPECT_EQ(edits.append_route_uri, "");

  const std::string text = forwarded_text(*request, edits);
  EXPECT_TRUE(text.starts_with("INVITE sip:1002@192.0.2.20:5072 SIP/2.0\r\n")) << text;
  EXPECT_EQ(text.find("Route:"), std::string::npos) << text;
}

// A new request (no To tag) for our domain with a preloaded Route to us, as a UA with an
// outbound proxy sends it (RFC 3261 §8.1.2): our Route is popped, nothing is strict.
TEST(Routes, PreloadedRouteOnANewRequestForUsIsNotAStrictRouterTrace) {
  RequestSpec spec;
  spec.method = "REGISTER";
  spec.request_uri = "sip:sipline.local";
  spec.to = "<sip:1002@sipline.local>";
  spec.extra = "Route: <sip:127.0.0.1:5060;lr>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_FALSE(held.plan.strict_router);
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.plan.strict_next_hop_uri, "");
  EXPECT_EQ(held.next.source, NextHopSource::RouteTable);
}

// §16.6 step 7: the next hop is a strict router (no ";lr"). Its URI becomes the Request-URI
// and leaves the Route header; the Request-URI goes to the end of the Route header.
TEST(Routes, StrictNextHopTakesTheRequestUriAndKeepsItAsLastRoute) {
  RequestSpec spec;
  spec.extra =
      "Route: <sip:127.0.0.1:5060;lr>, <sip:192.0.2.72;x=1>\r\nRoute: <sip:192.0.2.80;lr>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.pop_top_route);
  EXPECT_EQ(held.plan.strict_next_hop_uri, "sip:192.0.2.72;x=1");
  EXPECT_EQ(held.plan.displaced_request_uri, "sip:1002@sipline.local");
  EXPECT_EQ(held.next.source, NextHopSource::RouteHeader);
  EXPECT_TRUE(held.next.strict_next_hop);
  EXPECT_EQ(held.next.hop.host, "192.0.2.72");
  EXPECT_EQ(held.next.hop.port, 5060);

  const LocalIdentity identity = test_identity();
  const RequestEdits edits = forward_edits(held.plan, identity, 0, "z9hG4bK-x");
  EXPECT_EQ(edits.request_uri, "sip:192.0.2.72;x=1");
  EXPECT_EQ(edits.pop_top_routes, 2);
  EXPECT_FALSE(edits.pop_last_route);
  EXPECT_EQ(edits.append_route_uri, "sip:1002@sipline.local");

  const std::string text = forwarded_text(*held.request, edits);
  EXPECT_TRUE(text.starts_with("INVITE sip:192.0.2.72;x=1 SIP/2.0\r\n")) << text;
  EXPECT_NE(text.find("CSeq: 7 INVITE\r\nRoute: <sip:192.0.2.80;lr>\r\n"
                      "Route: <sip:1002@sipline.local>\r\nContent-Length"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("192.0.2.72;x=1>"), std::string::npos) << text;
  EXPECT_EQ(text.find("127.0.0.1:5060;lr"), std::string::npos) << text;

  // A location-service target (§16.5) is the Request-URI the strict router displaces.
  const RequestEdits located =
      forward_edits(held.plan, identity, 0, "z9hG4bK-x", "sip:1002@192.0.2.20:5072");
  EXPECT_EQ(located.request_uri, "sip:192.0.2.72;x=1");
  EXPECT_EQ(located.append_route_uri, "sip:1002@192.0.2.20:5072");
}

// Between two strict routers: the one before us put our Record-Route URI into the
// Request-URI (§16.4), the next one lacks ";lr" too (§16.6 step 7). The remote target comes
// back from the end of the Route header and goes back there.
TEST(Routes, StrictRoutersOnBothSides) {
  RequestSpec spec;
  spec.method = "BYE";
  spec.request_uri = "sip:127.0.0.1:5060";
  spec.to = "<sip:1002@sipline.local>;tag=t2";
  spec.extra = "Route: <sip:192.0.2.72>, <sip:1002@192.0.2.20:5072>\r\n";
  const HeldRoute held = route_held(request_text(spec));
  EXPECT_TRUE(held.plan.strict_router);
  EXPECT_FALSE(held.plan.pop_top_route);
  EXPECT_EQ(held.plan.strict_next_hop_uri, "sip:192.0.2.72");
  EXPECT_EQ(held.plan.displaced_request_uri, "sip:1002@192.0.2.20:5072");
  EXPECT_EQ(held.next.hop.host, "192.0.2.72");

  const LocalIdentity identity = test_identity();  // the edits' views point into it
  const RequestEdits edits = forward_edits(held.plan, identity, 0, "z9hG4bK-x");
  const std::string text = forwarded_text(*held.request, edits);
  EXPECT_TRUE(text.starts_with("BYE sip:192.0.2.72 SIP/2.0\r\n")) << text;
  EXPECT_NE(text.find("\r\nRoute: <sip:1002@192.0.2.20:5072>\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Route: <sip:192.0.2.72>"), std::string::npos) << text;
}

// ---- the sender's Via (§18.2.1, RFC 3581 §4) -------------------------------------------------

// The stamp reads the counts the Via parser keeps (param_count, rport_count), in both of its
// paths: the common form and, with LWS around ';', the general rule.
TEST(SenderViaStamp, OneValuelessRportAsksForThePortAndRepeatsDoNot) {
  RequestSpec spec;
  for (const char* via : {"SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport",
                          "SIP/2.0/UDP 192.0.2.10:5070 ; branch=z9hG4bK-abc1 ; rport"}) {
    spec.via = via;
    const SenderViaStamp stamp =
        sender_via_stamp(*parse_ok(request_text(spec)), "198.51.100.7", 40000);
    EXPECT_EQ(stamp.rport, 40000) << via;
    EXPECT_EQ(stamp.received, "198.51.100.7") << via;  // rport asks for received too
  }
  for (const char* via : {"SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport;rport",
                          "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport=0",
                          "SIP/2.0/UDP 192.0.2.10:5070;rport=5;branch=z9hG4bK-abc1;rport"}) {
    spec.via = via;
    EXPECT_EQ(sender_via_stamp(*parse_ok(request_text(spec)), "198.51.100.7", 40000).rport, 0)
        << via;
  }
  // No rport and the sent-by host is the source address: nothing to add.
  spec.via = "SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK-abc1";
  const SenderViaStamp none =
      sender_via_stamp(*parse_ok(request_text(spec)), "198.51.100.7", 40000);
  EXPECT_TRUE(none.received.empty());
  EXPECT_EQ(none.rport, 0);
}

TEST(SenderViaStamp, AViaOneParameterShortOfTheLimitIsLeftAsItCame) {
  RequestSpec spec;
  std::string via = "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport";
  for (std::size_t count = 2; count + 2 < kMaxParams; ++count)
    via += ";p" + std::to_string(count);
  spec.via = via;  // kMaxParams - 2 parameters: received fits below the limit
  EXPECT_EQ(sender_via_stamp(*parse_ok(request_text(spec)), "198.51.100.7", 40000).rport, 40000);
  spec.via = via + ";last";  // kMaxParams - 1: the stamp would reach the limit
  const SenderViaStamp stamp =
      sender_via_stamp(*parse_ok(request_text(spec)), "198.51.100.7", 40000);
  EXPECT_EQ(stamp.rport, 0);
  EXPECT_TRUE(stamp.received.empty());
}

// ---- local responses -----------------------------------------------------------------------

TEST(LocalResponsePort, RportSentByOrDefault) {
  RequestSpec spec;  // Via ... 192.0.2.10:5070;rport
  EXPECT_EQ(local_response_port(*parse_ok(request_text(spec)), 40000), 40000);
  spec.via = "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1";
  EXPECT_EQ(local_response_port(*parse_ok(request_text(spec)), 40000), 5070);
  spec.via = "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-abc1";
  EXPECT_EQ(local_response_port(*parse_ok(request_text(spec)), 40000), 5060);
  spec.via = "SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK-abc1";
  EXPECT_EQ(local_response_port(*parse_ok(request_text(spec)), 40000), 5061);
  // A Via that did not parse: back to where it came from.
  const auto broken = parse(read_corpus("rfc4475/badinv01.dat"));
  ASSERT_FALSE(broken->ok());
  EXPECT_EQ(local_response_port(*broken, 40000), 40000);
}

// Found by fuzz_pipeline: a sent-by port 0 sent the local response to port 0.
TEST(LocalResponsePort, PortZeroInViaGoesBackToTheSourcePort) {
  RequestSpec spec;
  for (const char* via : {"SIP/2.0/UDP 192.0.2.10:0;branch=z9hG4bK-abc1",
                          "SIP/2.0/UDP 192.0.2.10:00;branch=z9hG4bK-abc1"}) {
    spec.via = via;
    const auto request = parse(request_text(spec));
    // The Via was read, port 0 and all: the answer would otherwise have gone to port 0.
    ASSERT_EQ(request->top_via.sent_by.host, "192.0.2.10") << via;
    ASSERT_TRUE(request->top_via.sent_by.has_port) << via;
    EXPECT_EQ(local_response_port(*request, 40000), 40000) << via;
  }
}

// ---- responses -------------------------------------------------------------------------------

std::string our_via(const LocalIdentity& identity, std::size_t listen = 0) {
  const auto original = parse_ok(request_text(RequestSpec{}));
  const Branch branch = stateless_branch(*original, identity.branch_key);
  return "SIP/2.0/UDP " + std::string(identity.listen_address(listen).sent_by()) +
         ";branch=" + std::string(branch.view()) + ";rport";
}

std::string response_text(const std::vector<std::string>& vias) {
  std::string text = "SIP/2.0 200 OK\r\n";
  for (const std::string& via : vias)
    text += "Via: " + via + "\r\n";
  text +=
      "From: <sip:1001@sipline.local>;tag=f1\r\nTo: <sip:1002@sipline.local>;tag=t2\r\n"
      "Call-ID: call-1@192.0.2.10\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
  return text;
}

struct HeldResponse {
  std::unique_ptr<HeldMessage> message;
  ResponseRoute route;
};

HeldResponse route_of(const std::string& text, const LocalIdentity& identity = test_identity()) {
  HeldResponse held;
  held.message = parse_ok(text);
  held.route = route_response(*held.message, identity);
  return held;
}

TEST(RouteResponse, ReceivedAndRport) {
  const LocalIdentity identity = test_identity();
  const HeldResponse held = route_of(response_text(
      {our_via(identity),
       "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-abc1;rport=40001;received=198.51.100.7"}));
  ASSERT_TRUE(held.route.forward());
  EXPECT_EQ(held.route.drop, ResponseDrop::None);
  EXPECT_EQ(held.route.next_hop.host, "198.51.100.7");
  EXPECT_EQ(held.route.next_hop.kind, HostKind::Ipv4);
  EXPECT_EQ(held.route.next_hop.port, 40001);
  EXPECT_EQ(held.route.next_hop.transport, "UDP");
}

TEST(RouteResponse, ReceivedWithoutRportValueUsesSentByPort) {
  const LocalIdentity identity = test_identity();
  HeldResponse held = route_of(response_text(
      {our_via(identity), "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1;received=198.51.100.7"}));
  EXPECT_EQ(held.route.next_hop.host, "198.51.100.7");
  EXPECT_EQ(held.route.next_hop.port, 5070);
  held = route_of(response_text(
      {our_via(identity), "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1;rport;received=198.51.100.7"}));
  EXPECT_EQ(held.route.next_hop.host, "198.51.100.7");
  EXPECT_EQ(held.route.next_hop.port, 5060);
}

TEST(RouteResponse, SentByWithAndWithoutPort) {
  const LocalIdentity identity = test_identity();
  HeldResponse held =
      route_of(response_text({our_via(identity), "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1"}));
  ASSERT_TRUE(held.route.forward());
  EXPECT_EQ(held.route.next_hop.host, "192.0.2.10");
  EXPECT_EQ(held.route.next_hop.port, 5070);
  held = route_of(response_text({our_via(identity), "SIP/2.0/UDP client.example.com"}));
  EXPECT_EQ(held.route.next_hop.host, "client.example.com");
  EXPECT_EQ(held.route.next_hop.kind, HostKind::Hostname);
  EXPECT_EQ(held.route.next_hop.port, 5060);
  held = route_of(response_text({our_via(identity), "SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK-1"}));
  EXPECT_EQ(held.route.next_hop.port, 5061);
  EXPECT_EQ(held.route.next_hop.transport, "TLS");
}

TEST(RouteResponse, Ipv6SentByAndReceived) {
  const LocalIdentity identity = test_identity();
  HeldResponse held = route_of(
      response_text({our_via(identity, 1), "SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK-1"}));
  ASSERT_TRUE(held.route.forward());
  EXPECT_EQ(held.route.next_hop.host, "2001:db8::7");
  EXPECT_EQ(held.route.next_hop.kind, HostKind::Ipv6Reference);
  EXPECT_EQ(held.route.next_hop.port, 5070);
  held = route_of(response_text(
      {our_via(identity, 1),
       "SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK-1;received=2001:db8::8;rport=40002"}));
  EXPECT_EQ(held.route.next_hop.host, "2001:db8::8");
  EXPECT_EQ(held.route.next_hop.kind, HostKind::Ipv6Reference);
  EXPECT_EQ(held.route.next_hop.port, 40002);
}

TEST(RouteResponse, MaddrWinsWithTheSentByPort) {
  const LocalIdentity identity = test_identity();
  const HeldResponse held = route_of(
      response_text({our_via(identity),
                     "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-1;maddr=239.255.255.1;ttl=16;"
                     "received=198.51.100.7;rport=40001"}));
  EXPECT_EQ(held.route.next_hop.host, "239.255.255.1");
  EXPECT_EQ(held.route.next_hop.kind, HostKind::Ipv4);
  EXPECT_EQ(held.route.next_hop.port, 5070);
}

TEST(RouteResponse, ViasInOneLine) {
  const LocalIdentity identity = test_identity();
  const HeldResponse held = route_of(
      response_text({our_via(identity) + ", SIP/2.0/UDP 192.0.2.10:5072;branch=z9hG4bK-1"}));
  ASSERT_TRUE(held.route.forward());
  EXPECT_EQ(held.route.next_hop.port, 5072);
}

TEST(RouteResponse, TopViaNotOursIsDropped) {
  const LocalIdentity identity = test_identity();
  // A foreign branch at our address.
  HeldResponse held = route_of(response_text({"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1",
                                              "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-2"}));
  EXPECT_FALSE(held.route.forward());
  EXPECT_EQ(held.route.drop, ResponseDrop::NotOurs);
  // Our branch, but not our sent-by.
  std::string via = our_via(identity);
  via.replace(via.find("127.0.0.1:5060"), 14, "127.0.0.1:5070");
  held = route_of(response_text({via, "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-2"}));
  EXPECT_EQ(held.route.drop, ResponseDrop::NotOurs);
  // Our branch and sent-by, but signed before a reboot (another key).
  LocalIdentity rebooted = identity;
  rebooted.branch_key = BranchKey{kKey.secret ^ 1};
  held = route_of(response_text({our_via(identity), "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-2"}),
                  rebooted);
  EXPECT_EQ(held.route.drop, ResponseDrop::NotOurs);
  // RFC 4475 bcast.dat: well formed, but not ours.
  held = route_of(read_corpus("rfc4475/bcast.dat"));
  EXPECT_EQ(held.route.drop, ResponseDrop::NotOurs);
}

TEST(RouteResponse, OnlyOurViaIsForUs) {
  const LocalIdentity identity = test_identity();
  const HeldResponse held = route_of(response_text({our_via(identity)}));
  EXPECT_EQ(held.route.drop, ResponseDrop::ForUs);
}

TEST(RouteResponse, RequestsAndBrokenResponses) {
  const LocalIdentity identity = test_identity();
  const auto request = parse_ok(request_text(RequestSpec{}));
  EXPECT_EQ(route_response(*request, identity).drop, ResponseDrop::NotAResponse);
  const auto bigcode = parse(read_corpus("rfc4475/bigcode.dat"));
  EXPECT_EQ(route_response(*bigcode, identity).drop, ResponseDrop::Malformed);
  const auto broken_next = parse_ok(response_text({our_via(identity), "SIP/2.0/UDP"}));
  // The parser checks only the top Via; the second must parse before we use it.
  EXPECT_EQ(route_response(*broken_next, identity).drop, ResponseDrop::Malformed);
}

TEST(RouteResponse, ResponseToARequestWeForwarded) {
  // The whole path: a request with rport comes in from 198.51.100.7:40001, we forward it,
  // the UAS answers with both Vias, the answer goes back to the client's public address.
  const LocalIdentity identity = test_identity();
  RequestSpec spec;
  spec.via = "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-nat1;rport=40001;received=198.51.100.7";
  const auto request = parse_ok(request_text(spec));
  const auto sent = parse_ok(forwarded(*request, identity));
  std::vector<char> buffer(4096);
  LocalResponse ok;
  ok.code = 200;
  ok.to_tag = "uas1";
  const Written written = write_local_response(*sent, ok, buffer);
  ASSERT_TRUE(written.ok());
  const auto response = parse_ok(std::string(buffer.data(), written.size));
  const ResponseRoute result = route_response(*response, identity);
  ASSERT_TRUE(result.forward());
  EXPECT_EQ(result.next_hop.host, "198.51.100.7");
  EXPECT_EQ(result.next_hop.port, 40001);
}

}  // namespace
}  // namespace sipline::sip

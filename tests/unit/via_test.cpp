#include "sip/via.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "sip/token_list.hpp"
#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

using test::corpus_header_value;

TEST(Via, WsinvFoldedSlashesAndNoCookie) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "Via  ");
  ASSERT_EQ(value, "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
  const Parsed<Via> via = parse_via(value);
  ASSERT_TRUE(via.ok()) << describe(via.error);
  EXPECT_EQ(via.value.protocol_name, "SIP");
  EXPECT_EQ(via.value.protocol_version, "2.0");
  EXPECT_EQ(via.value.transport, "UDP");
  EXPECT_EQ(via.value.sent_by.host, "192.0.2.2");
  EXPECT_EQ(via.value.sent_by.kind, HostKind::Ipv4);
  EXPECT_FALSE(via.value.sent_by.has_port);
  EXPECT_EQ(via.value.sent_by.port, 0);
  EXPECT_TRUE(via.value.has_branch);
  EXPECT_EQ(via.value.branch, "390skdjuw");
  EXPECT_FALSE(has_magic_cookie(via.value.branch));
  EXPECT_EQ(via.value.params, ";branch=390skdjuw");
}

TEST(Via, WsinvCompactListWithLwsAroundSemicolonAndEqual) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "v");
  ListCursor list(value);
  const std::optional<std::string_view> first = list.next();
  const std::optional<std::string_view> second = list.next();
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(list.next());
  EXPECT_EQ(list.error(), ParseError::None);

  const Parsed<Via> spindle = parse_via(*first);
  ASSERT_TRUE(spindle.ok()) << describe(spindle.error);
  EXPECT_EQ(spindle.value.transport, "TCP");
  EXPECT_EQ(spindle.value.sent_by.host, "spindle.example.com");
  EXPECT_EQ(spindle.value.sent_by.kind, HostKind::Hostname);
  EXPECT_EQ(spindle.value.branch, "z9hG4bK9ikj8");
  EXPECT_TRUE(has_magic_cookie(spindle.value.branch));

  const Parsed<Via> second_via = parse_via(*second);
  ASSERT_TRUE(second_via.ok()) << describe(second_via.error);
  EXPECT_EQ(second_via.value.transport, "UDP");
  EXPECT_EQ(second_via.value.sent_by.host, "192.168.255.111");
  EXPECT_EQ(second_via.value.branch, "z9hG4bK30239");  // after "branch=\r\n "
}

TEST(Via, FieldsAreViewsIntoTheInput) {
  const std::string_view text = "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds";
  const Parsed<Via> via = parse_via(text);
  ASSERT_TRUE(via.ok());
  EXPECT_EQ(via.value.sent_by.host.data(), text.data() + 12);
  EXPECT_EQ(via.value.branch.data(), text.data() + 36);
}

TEST(Via, FoldedLineBeforeReceived) {
  const std::string value = corpus_header_value("rfc3665/2.1-F2-401.sip", "Via");
  const Parsed<Via> via = parse_via(value);
  ASSERT_TRUE(via.ok()) << describe(via.error);
  EXPECT_EQ(via.value.transport, "TLS");
  EXPECT_EQ(via.value.sent_by.host, "client.biloxi.example.com");
  EXPECT_TRUE(via.value.sent_by.has_port);
  EXPECT_EQ(via.value.sent_by.port, 5061);
  EXPECT_EQ(via.value.branch, "z9hG4bKnashds7");
  EXPECT_EQ(via.value.received, "192.0.2.201");
}

TEST(Via, BadInv01EmptyParamsAreRefused) {
  const std::string value = corpus_header_value("rfc4475/badinv01.dat", "Via");
  ASSERT_EQ(value, "SIP/2.0/UDP 192.0.2.15;;,;,,");
  ListCursor list(value);
  const std::optional<std::string_view> first = list.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "SIP/2.0/UDP 192.0.2.15;;");
  EXPECT_EQ(parse_via(*first).error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 192.0.2.15;").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK1;").error, ParseError::BadVia);
}

TEST(Via, EveryTransportTokenOfTransportsDat) {
  constexpr std::string_view kTransports[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
  constexpr std::string_view kHosts[] = {"t1.example.com", "t2.example.com", "t3.example.com",
                                         "t4.example.com", "t5.example.com"};
  for (int i = 0; i < 5; ++i) {
    const std::string value = corpus_header_value("rfc4475/transports.dat", "Via", i);
    const Parsed<Via> via = parse_via(value);
    ASSERT_TRUE(via.ok()) << value;
    EXPECT_EQ(via.value.transport, kTransports[i]);
    EXPECT_EQ(via.value.sent_by.host, kHosts[i]);
  }
}

TEST(Via, LongreqLastViaWithReceivedAndLongBranch) {
  const std::string value = corpus_header_value("rfc4475/longreq.dat", "Via", 18);
  ASSERT_TRUE(value.starts_with("SIP/2.0/TCP host.example.com;")) << value;
  const Parsed<Via> via = parse_via(value);
  ASSERT_TRUE(via.ok()) << value;
  EXPECT_EQ(via.value.sent_by.host, "host.example.com");
  EXPECT_EQ(via.value.received, "192.0.2.5");
  EXPECT_EQ(via.value.branch.size(), 215u);
  EXPECT_TRUE(via.value.branch.starts_with("verylonglong"));
  EXPECT_TRUE(via.value.branch.ends_with("longbranchvalue"));
}

TEST(Via, IntmethBranchUsesEveryTokenCharacter) {
  const std::string value = corpus_header_value("rfc4475/intmeth.dat", "Via");
  const Parsed<Via> via = parse_via(value);
  ASSERT_TRUE(via.ok()) << value;
  EXPECT_EQ(via.value.branch, "z9hG4bK-.!%66*_+`'~");
}

TEST(Via, CarrierRportValuelessAndValued) {
  const std::string top = corpus_header_value("carrier/invite-carrier-sdp.sip", "Via");
  const Parsed<Via> request = parse_via(top);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request.value.branch, "z9hG4bK-524287-1---9a3f1c6e2b7d4a10");
  EXPECT_TRUE(request.value.has_rport);
  EXPECT_EQ(request.value.rport, 0);

  const std::string bottom = corpus_header_value("carrier/invite-carrier-sdp.sip", "Via", 4);
  const Parsed<Via> nated = parse_via(bottom);
  ASSERT_TRUE(nated.ok());
  EXPECT_EQ(nated.value.sent_by.host, "192.168.1.100");
  EXPECT_EQ(nated.value.sent_by.port, 5060);
  EXPECT_EQ(nated.value.received, "203.0.113.55");
  EXPECT_TRUE(nated.value.has_rport);
  EXPECT_EQ(nated.value.rport, 36012);
  EXPECT_EQ(nated.value.branch, "z9hG4bK776asdhds");

  const Parsed<Via> plain = parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain.value.has_rport);
}

TEST(Via, Ipv6SentByAndReceived) {
  const Parsed<Via> via =
      parse_via("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111;received=2001:db8::9:255");
  ASSERT_TRUE(via.ok()) << describe(via.error);
  EXPECT_EQ(via.value.sent_by.host, "[2001:db8::9:1]");
  EXPECT_EQ(via.value.sent_by.kind, HostKind::Ipv6Reference);
  EXPECT_EQ(via.value.sent_by.port, 5060);
  EXPECT_EQ(via.value.received, "2001:db8::9:255");

  EXPECT_TRUE(parse_via("SIP/2.0/UDP [::1]").ok());
  EXPECT_TRUE(parse_via("SIP/2.0/UDP [::ffff:192.0.2.1]:5060").ok());
  EXPECT_TRUE(parse_via("SIP/2.0/UDP [2001:db8:0:0:0:0:0:1]").ok());
  EXPECT_TRUE(parse_via("SIP/2.0/UDP h;received=[2001:db8::1]").ok());
  EXPECT_EQ(parse_via("SIP/2.0/UDP [2001:db8::g]").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP [2001:db8::1").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP [1:2:3:4:5:6:7:8:9]").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP [1::2::3]").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP []").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 2001:db8::1").error, ParseError::BadVia);
}

TEST(Via, PortRange) {
  const Parsed<Via> high = parse_via("SIP/2.0/TCP host.example.com:65535");
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high.value.sent_by.port, 65535);
  EXPECT_EQ(parse_via("SIP/2.0/TCP host.example.com:65536").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/TCP host.example.com:").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/TCP host.example.com:50a").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/TCP host.example.com:-1").error, ParseError::BadVia);
}

// sent-by = host [ COLON port ] with COLON = SWS ":" SWS (RFC 3261 §25.1).
TEST(Via, LwsAroundSentByColon) {
  const Parsed<Via> via = parse_via("SIP/2.0/UDP host.example.com : 5070 ;branch=z9hG4bKx");
  ASSERT_TRUE(via.ok()) << describe(via.error);
  EXPECT_EQ(via.value.sent_by.host, "host.example.com");
  EXPECT_EQ(via.value.sent_by.port, 5070);
  EXPECT_EQ(via.value.branch, "z9hG4bKx");
}

TEST(Via, MaddrAndTtl) {
  const Parsed<Via> via =
      parse_via("SIP/2.0/UDP 10.0.0.1;maddr=224.2.0.1;ttl=16;branch=z9hG4bKm;x-ext=1");
  ASSERT_TRUE(via.ok()) << describe(via.error);
  EXPECT_EQ(via.value.maddr, "224.2.0.1");
  EXPECT_TRUE(via.value.has_ttl);
  EXPECT_EQ(via.value.ttl, 16);
  EXPECT_EQ(via.value.params, ";maddr=224.2.0.1;ttl=16;branch=z9hG4bKm;x-ext=1");

  const Parsed<Via> max_ttl = parse_via("SIP/2.0/UDP 10.0.0.1;ttl=255;maddr=sip.example.com");
  ASSERT_TRUE(max_ttl.ok());
  EXPECT_EQ(max_ttl.value.ttl, 255);
  EXPECT_EQ(max_ttl.value.maddr, "sip.example.com");
  EXPECT_EQ(parse_via("SIP/2.0/UDP 10.0.0.1;ttl=256").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 10.0.0.1;ttl=-1").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 10.0.0.1;ttl").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 10.0.0.1;maddr=bad_host").error, ParseError::BadVia);
}

TEST(Via, ParamNamesAreCaseInsensitive) {
  const Parsed<Via> via =
      parse_via("SIP/2.0/UDP h.example.com;BRANCH=z9hG4bKa;Received=192.0.2.9;RPort=7");
  ASSERT_TRUE(via.ok());
  EXPECT_EQ(via.value.branch, "z9hG4bKa");
  EXPECT_EQ(via.value.received, "192.0.2.9");
  EXPECT_EQ(via.value.rport, 7);
}

TEST(Via, MalformedParamValues) {
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;branch=").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;branch").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;branch=\"z9hG4bK\"").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;received=host.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;received=192.0.2.256").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;rport=65536").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;rport=").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP h;branch=z9hG4bK1 junk").error, ParseError::BadVia);
}

TEST(Via, MalformedSentProtocolAndSentBy) {
  EXPECT_EQ(parse_via("").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP ").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0 host.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP//UDP host.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDPhost.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP host_name.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 192.0.2").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP 192.0.2.1.5").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP -host.example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP host..example.com").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP host.example.com junk").error, ParseError::BadVia);
  EXPECT_EQ(parse_via("SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com").error,
            ParseError::BadVia);
}

TEST(Via, UnusualButValidSentBy) {
  const Parsed<Via> fqdn = parse_via("SIP/2.0/UDP host-1.example.com.:5060");
  ASSERT_TRUE(fqdn.ok());
  EXPECT_EQ(fqdn.value.sent_by.host, "host-1.example.com.");
  EXPECT_EQ(fqdn.value.sent_by.kind, HostKind::Hostname);
  const Parsed<Via> single_label = parse_via("SIP/2.0/UDP localhost");
  ASSERT_TRUE(single_label.ok());
  EXPECT_EQ(single_label.value.sent_by.kind, HostKind::Hostname);
  const Parsed<Via> other_protocol = parse_via("FOO/3.1/WS 192.0.2.1");
  ASSERT_TRUE(other_protocol.ok());
  EXPECT_EQ(other_protocol.value.protocol_name, "FOO");
  EXPECT_EQ(other_protocol.value.protocol_version, "3.1");
  EXPECT_EQ(other_protocol.value.transport, "WS");
}

TEST(Via, TooManyParams) {
  std::string value = "SIP/2.0/UDP h.example.com";
  for (int i = 0; i < 32; ++i)
    value += ";p" + std::to_string(i);
  EXPECT_TRUE(parse_via(value).ok());
  value += ";one-more";
  EXPECT_EQ(parse_via(value).error, ParseError::TooManyParams);
}

}  // namespace
}  // namespace sipline::sip

#include "sip/uri.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "sip/limits.hpp"

namespace sipline::sip {

// Readable failure messages ("Malformed Host (44)") instead of a raw uint8_t.
void PrintTo(ParseError error, std::ostream* out) {
  *out << describe(error) << " (" << int(error) << ")";
}

namespace {

Uri parse_ok(std::string_view text) {
  Parsed<Uri> parsed = parse_uri(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << describe(parsed.error);
  return parsed.value;
}

ParseError parse_error(std::string_view text) {
  return parse_uri(text).error;
}

// --- sip / sips -----------------------------------------------------------------------------

TEST(ParseUri, PlainSip) {
  Uri uri = parse_ok("sip:alice@atlanta.com");
  EXPECT_EQ(uri.scheme, UriScheme::Sip);
  EXPECT_EQ(uri.scheme_text, "sip");
  EXPECT_TRUE(uri.has_user);
  EXPECT_EQ(uri.user, "alice");
  EXPECT_EQ(uri.password, "");
  EXPECT_EQ(uri.host_port.host, "atlanta.com");
  EXPECT_EQ(uri.host_port.kind, HostKind::Hostname);
  EXPECT_FALSE(uri.host_port.has_port);
  EXPECT_EQ(uri.host_port.port, 0);
  EXPECT_EQ(uri.params, "");
  EXPECT_EQ(uri.headers, "");
  EXPECT_EQ(uri.opaque, "");
  EXPECT_FALSE(uri.lr);
}

TEST(ParseUri, HostOnly) {
  Uri uri = parse_ok("sip:registrar.biloxi.com");
  EXPECT_FALSE(uri.has_user);
  EXPECT_EQ(uri.user, "");
  EXPECT_EQ(uri.host_port.host, "registrar.biloxi.com");
}

TEST(ParseUri, SipsAndSchemeCase) {
  Uri sips = parse_ok("sips:bob@biloxi.com");
  EXPECT_EQ(sips.scheme, UriScheme::Sips);
  EXPECT_EQ(sips.scheme_text, "sips");

  Uri upper = parse_ok("SIP:bob@biloxi.com");
  EXPECT_EQ(upper.scheme, UriScheme::Sip);
  EXPECT_EQ(upper.scheme_text, "SIP");

  Uri mixed = parse_ok("Sips:bob@biloxi.com");
  EXPECT_EQ(mixed.scheme, UriScheme::Sips);
  EXPECT_EQ(mixed.scheme_text, "Sips");

  EXPECT_EQ(parse_ok("TEL:+1234").scheme, UriScheme::Tel);
}

TEST(ParseUri, UserAndPassword) {
  Uri uri = parse_ok("sip:alice:secretword@atlanta.com;transport=tcp");
  EXPECT_EQ(uri.user, "alice");
  EXPECT_EQ(uri.password, "secretword");
  EXPECT_EQ(uri.host_port.host, "atlanta.com");
  EXPECT_EQ(uri.params, ";transport=tcp");
}

TEST(ParseUri, EmptyPasswordAndOddEmptyUser) {
  Uri empty_password = parse_ok("sip:alice:@atlanta.com");
  EXPECT_EQ(empty_password.user, "alice");
  EXPECT_EQ(empty_password.password, "");

  Uri empty_user = parse_ok("sip:@atlanta.com");
  EXPECT_TRUE(empty_user.has_user);
  EXPECT_EQ(empty_user.user, "");
  EXPECT_EQ(empty_user.host_port.host, "atlanta.com");
}

TEST(ParseUri, PasswordRejectsUserOnlyCharacters) {
  // password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ): no ';', '/', ':'.
  EXPECT_EQ(parse_error("sip:alice:se;cret@atlanta.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice:a:b@atlanta.com"), ParseError::BadUri);
  EXPECT_EQ(parse_ok("sip:alice:a&b=c+d$e,f@atlanta.com").password, "a&b=c+d$e,f");
}

TEST(ParseUri, Ipv4WithPort) {
  Uri uri = parse_ok("sip:+12125550100@198.51.100.20:5060;transport=udp");
  EXPECT_EQ(uri.user, "+12125550100");
  EXPECT_EQ(uri.host_port.host, "198.51.100.20");
  EXPECT_EQ(uri.host_port.kind, HostKind::Ipv4);
  EXPECT_TRUE(uri.host_port.has_port);
  EXPECT_EQ(uri.host_port.port, 5060);
  EXPECT_EQ(uri.params, ";transport=udp");
}

TEST(ParseUri, Ipv4Limits) {
  EXPECT_EQ(parse_ok("sip:255.255.255.255").host_port.kind, HostKind::Ipv4);
  EXPECT_EQ(parse_ok("sip:0.0.0.0").host_port.kind, HostKind::Ipv4);
  EXPECT_EQ(parse_ok("sip:010.001.000.1").host_port.kind, HostKind::Ipv4);
  // Neither an address nor a hostname: a hostname's toplabel starts with ALPHA.
  EXPECT_EQ(parse_error("sip:256.1.1.1"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:1.2.3"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:1.2.3.4.5"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:1.2.3.4."), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:1..2.3"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:1.2.3.0001"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:example.123"), ParseError::BadHost);
}

TEST(ParseUri, Ipv6ReferenceWithPort) {
  Uri uri = parse_ok("sip:[2001:db8::10]:5070");
  EXPECT_EQ(uri.host_port.host, "[2001:db8::10]");
  EXPECT_EQ(uri.host_port.kind, HostKind::Ipv6Reference);
  EXPECT_TRUE(uri.host_port.has_port);
  EXPECT_EQ(uri.host_port.port, 5070);
}

TEST(ParseUri, Ipv6ReferenceWithoutPort) {
  Uri uri = parse_ok("sip:[::ffff:192.0.2.1]");
  EXPECT_EQ(uri.host_port.host, "[::ffff:192.0.2.1]");
  EXPECT_EQ(uri.host_port.kind, HostKind::Ipv6Reference);
  EXPECT_FALSE(uri.host_port.has_port);

  Uri with_user = parse_ok("sip:alice@[2001:DB8:0:0:8:800:200C:417A];transport=tcp");
  EXPECT_EQ(with_user.user, "alice");
  EXPECT_EQ(with_user.host_port.host, "[2001:DB8:0:0:8:800:200C:417A]");
  EXPECT_EQ(with_user.params, ";transport=tcp");

  EXPECT_EQ(parse_ok("sip:[::]").host_port.host, "[::]");
  EXPECT_EQ(parse_ok("sip:[::1]").host_port.host, "[::1]");
  EXPECT_EQ(parse_ok("sip:[fe80::]").host_port.host, "[fe80::]");
  EXPECT_EQ(parse_ok("sip:[1:2:3:4:5:6:1.2.3.4]").host_port.kind, HostKind::Ipv6Reference);
}

TEST(ParseUri, BadIpv6) {
  EXPECT_EQ(parse_error("sip:[2001:db8:::1]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[2001:db8::1"), ParseError::BadHost);  // unterminated
  EXPECT_EQ(parse_error("sip:[::1"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[1::2::3]"), ParseError::BadHost);        // '::' twice
  EXPECT_EQ(parse_error("sip:[1:2:3:4:5:6:7]"), ParseError::BadHost);  // 7 groups, no '::'
  EXPECT_EQ(parse_error("sip:[1:2:3:4:5:6:7:8:9]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[1:2:3:4::5:6:7:8]"), ParseError::BadHost);  // '::' for nothing
  EXPECT_EQ(parse_error("sip:[12345::1]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[:1:2:3:4:5:6:7]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[1:2:3:4:5:6:7:]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[::1.2.3]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[1.2.3.4::1]"), ParseError::BadHost);  // IPv4 only at the end
  EXPECT_EQ(parse_error("sip:[1:2:3:4:5:6:7:1.2.3.4]"), ParseError::BadHost);  // 9 groups
  EXPECT_EQ(parse_error("sip:[::g]"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[::1]x"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:[::1]:"), ParseError::BadPort);
}

TEST(ParseUri, Hostnames) {
  Uri trailing_dot = parse_ok("sip:alice@atlanta.com.");
  EXPECT_EQ(trailing_dot.host_port.host, "atlanta.com.");
  EXPECT_EQ(trailing_dot.host_port.kind, HostKind::Hostname);

  EXPECT_EQ(parse_ok("sip:localhost").host_port.host, "localhost");
  EXPECT_EQ(parse_ok("sip:3com.com").host_port.host, "3com.com");
  EXPECT_EQ(parse_ok("sip:a-b--c.x1").host_port.host, "a-b--c.x1");
  EXPECT_EQ(parse_ok("sip:1.2.3.example").host_port.kind, HostKind::Hostname);

  EXPECT_EQ(parse_error("sip:-atlanta.com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:atlanta-.com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:atlanta..com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:.atlanta.com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:atlanta.com.."), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:atlanta.-com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:host_name.com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:alice@"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:alice@;lr"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip://atlanta.com"), ParseError::BadHost);
  EXPECT_EQ(parse_error("sip:alice@b@atlanta.com"), ParseError::BadHost);
}

TEST(ParseUri, Ports) {
  Uri zero = parse_ok("sip:atlanta.com:0");
  EXPECT_TRUE(zero.host_port.has_port);
  EXPECT_EQ(zero.host_port.port, 0);
  EXPECT_EQ(parse_ok("sip:atlanta.com:65535").host_port.port, 65535);
  EXPECT_EQ(parse_ok("sip:atlanta.com:0005060").host_port.port, 5060);

  Uri with_rest = parse_ok("sip:atlanta.com:5061;transport=tls?Subject=x");
  EXPECT_EQ(with_rest.host_port.port, 5061);
  EXPECT_EQ(with_rest.params, ";transport=tls");
  EXPECT_EQ(with_rest.headers, "Subject=x");

  EXPECT_EQ(parse_error("sip:atlanta.com:65536"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:99999999999999999999999"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:;lr"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:50x"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:-1"), ParseError::BadPort);
  EXPECT_EQ(parse_error("sip:atlanta.com:5060:5060"), ParseError::BadPort);
}

TEST(ParseUri, EscapesInUserStayEscaped) {
  Uri uri = parse_ok("sip:%61lice@atlanta.com");
  EXPECT_EQ(uri.user, "%61lice");
  char buffer[16];
  const std::size_t length = unescape(uri.user, buffer, sizeof buffer);
  ASSERT_EQ(length, 5u);
  EXPECT_EQ(std::string_view(buffer, length), "alice");

  // RFC 4475 escnull.dat: %00 is a valid escape and must not truncate anything.
  Uri null_user = parse_ok("sip:null-%00-null@example.com");
  EXPECT_EQ(null_user.user, "null-%00-null");
  const std::size_t null_length = unescape(null_user.user, buffer, sizeof buffer);
  ASSERT_EQ(null_length, 11u);
  EXPECT_EQ(std::string_view(buffer, null_length), std::string_view("null-\0-null", 11));
}

TEST(ParseUri, BadEscapes) {
  EXPECT_EQ(parse_error("sip:%G1@atlanta.com"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:a%4@atlanta.com"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:a%@atlanta.com"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:alice:pa%zzss@atlanta.com"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:atlanta.com;x=%4"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:atlanta.com;x=a%g0"), ParseError::BadEscape);
  EXPECT_EQ(parse_error("sip:atlanta.com?Subject=%2"), ParseError::BadEscape);
}

TEST(ParseUri, SemicolonInUserinfoRfc4475Semiuri) {
  Uri uri = parse_ok("sip:user;par=u%40example.net@example.com");
  EXPECT_TRUE(uri.has_user);
  EXPECT_EQ(uri.user, "user;par=u%40example.net");
  EXPECT_EQ(uri.host_port.host, "example.com");
  EXPECT_EQ(uri.params, "");
}

TEST(ParseUri, UnusualCharactersRfc4475Intmeth) {
  Uri uri = parse_ok(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
      "(doesn't-it)@example.com");
  EXPECT_EQ(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(uri.host_port.host, "example.com");
  EXPECT_EQ(uri.params, "");
  EXPECT_EQ(uri.headers, "");
}

TEST(ParseUri, DialStringUser) {
  Uri uri = parse_ok("sip:*97#@pbx.example.com");
  EXPECT_EQ(uri.user, "*97#");
}

TEST(ParseUri, Params) {
  Uri uri = parse_ok("sip:proxy.example.com;transport=TCP;maddr=239.255.255.1;ttl=15;lr;x-y");
  EXPECT_EQ(uri.params, ";transport=TCP;maddr=239.255.255.1;ttl=15;lr;x-y");
  EXPECT_TRUE(uri.lr);

  bool present = false;
  EXPECT_EQ(uri_param(uri, "transport", &present), "TCP");
  EXPECT_TRUE(present);
  EXPECT_EQ(uri_param(uri, "MADDR", &present), "239.255.255.1");
  EXPECT_TRUE(present);
  EXPECT_EQ(uri_param(uri, "ttl"), "15");
  EXPECT_EQ(uri_param(uri, "lr", &present), "");
  EXPECT_TRUE(present);
  EXPECT_EQ(uri_param(uri, "x-y", &present), "");
  EXPECT_TRUE(present);
  EXPECT_EQ(uri_param(uri, "user", &present), "");
  EXPECT_FALSE(present);
  EXPECT_EQ(uri_param(uri, "x", &present), "");
  EXPECT_FALSE(present);
}

TEST(ParseUri, LooseRoutingFlag) {
  EXPECT_TRUE(parse_ok("sip:p1.example.com;lr").lr);
  EXPECT_TRUE(parse_ok("sip:p1.example.com;LR").lr);
  EXPECT_TRUE(parse_ok("sip:p1.example.com;transport=udp;lr=on").lr);
  EXPECT_FALSE(parse_ok("sip:p1.example.com;lrx").lr);
  EXPECT_FALSE(parse_ok("sip:p1.example.com;x=lr").lr);
  EXPECT_FALSE(parse_ok("sip:lr@p1.example.com").lr);
}

TEST(ParseUri, ValuelessAndUnusualParams) {
  Uri uri = parse_ok("sip:vivekg@chair-dnrc.example.com;unknownparam");
  EXPECT_EQ(uri.params, ";unknownparam");
  EXPECT_FALSE(uri.lr);

  Uri rich = parse_ok("sip:h.example.com;a=[x]/y:z&+$;b=%41");
  bool present = false;
  EXPECT_EQ(uri_param(rich, "a"), "[x]/y:z&+$");
  EXPECT_EQ(uri_param(rich, "b", &present), "%41");
  EXPECT_TRUE(present);
}

TEST(ParseUri, BadParams) {
  EXPECT_EQ(parse_error("sip:atlanta.com;"), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;;lr"), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;=x"), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;x="), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;x=a=b"), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;x=\"a\""), ParseError::BadParam);
  EXPECT_EQ(parse_error("sip:atlanta.com;x=a,b"), ParseError::BadParam);
}

TEST(ParseUri, TooManyParams) {
  std::string text = "sip:atlanta.com";
  for (std::size_t i = 0; i < kMaxParams; ++i)
    text += ";p" + std::to_string(i);
  EXPECT_TRUE(parse_uri(text).ok());
  text += ";one-more";
  EXPECT_EQ(parse_error(text), ParseError::TooManyParams);
}

TEST(ParseUri, Headers) {
  Uri uri = parse_ok("sip:alice@atlanta.com;transport=tcp?subject=project%20x&priority=urgent");
  EXPECT_EQ(uri.params, ";transport=tcp");
  EXPECT_EQ(uri.headers, "subject=project%20x&priority=urgent");

  Uri no_params = parse_ok("sip:user@example.com?Route=%3Csip:example.com%3E");  // escruri
  EXPECT_EQ(no_params.params, "");
  EXPECT_EQ(no_params.headers, "Route=%3Csip:example.com%3E");

  EXPECT_EQ(parse_ok("sip:biloxi.com?to=sip:bob%40biloxi.com").headers, "to=sip:bob%40biloxi.com");
  EXPECT_EQ(parse_ok("sip:biloxi.com?body=").headers, "body=");
  EXPECT_EQ(parse_ok("sip:biloxi.com?a=[1]/?:+$").headers, "a=[1]/?:+$");

  EXPECT_EQ(parse_error("sip:biloxi.com?"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:biloxi.com?subject"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:biloxi.com?=x"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:biloxi.com?a=1&"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:biloxi.com?a=1&&b=2"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:biloxi.com?a=1;b=2"), ParseError::BadUri);
}

// --- tel (RFC 3966) ---------------------------------------------------------------------------

TEST(ParseUri, TelGlobal) {
  Uri uri = parse_ok("tel:+1-201-555-0123;phone-context=example.com");
  EXPECT_EQ(uri.scheme, UriScheme::Tel);
  EXPECT_EQ(uri.scheme_text, "tel");
  EXPECT_EQ(uri.user, "+1-201-555-0123");
  EXPECT_FALSE(uri.has_user);
  EXPECT_EQ(uri.params, ";phone-context=example.com");
  EXPECT_EQ(uri_param(uri, "phone-context"), "example.com");
  EXPECT_EQ(uri.host_port.host, "");
  EXPECT_EQ(uri.host_port.kind, HostKind::None);

  Uri plain = parse_ok("tel:+1(201)555.0123");
  EXPECT_EQ(plain.user, "+1(201)555.0123");
  EXPECT_EQ(plain.params, "");
}

TEST(ParseUri, TelLocal) {
  Uri uri = parse_ok("tel:863-1234;phone-context=+1-914-555");
  EXPECT_EQ(uri.user, "863-1234");
  EXPECT_EQ(uri_param(uri, "phone-context"), "+1-914-555");

  EXPECT_EQ(parse_ok("tel:*31#;phone-context=example.com").user, "*31#");
  EXPECT_EQ(parse_ok("tel:7042;ext=22;isub=ab").user, "7042");
}

TEST(ParseUri, BadTel) {
  EXPECT_EQ(parse_error("tel:"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+--"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+1-20x"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+1a"), ParseError::BadUri);  // hex only in local numbers
  EXPECT_EQ(parse_error("tel:;phone-context=x"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+1;;x"), ParseError::BadParam);
  EXPECT_EQ(parse_error("tel:+1;x=a?b=c"), ParseError::BadParam);
  EXPECT_EQ(parse_error("tel:+1 234"), ParseError::BadUri);
}

// --- other schemes ------------------------------------------------------------------------

TEST(ParseUri, UnknownSchemeIsOpaque) {
  Uri uri = parse_ok("nobodyKnowsThisScheme:totallyopaquecontent");  // RFC 4475 unkscm.dat
  EXPECT_EQ(uri.scheme, UriScheme::Other);
  EXPECT_EQ(uri.scheme_text, "nobodyKnowsThisScheme");
  EXPECT_EQ(uri.opaque, "totallyopaquecontent");
  EXPECT_FALSE(uri.has_user);
  EXPECT_EQ(uri.host_port.host, "");

  Uri novel = parse_ok("soap.beep://192.0.2.103:3002");  // RFC 4475 novelsc.dat
  EXPECT_EQ(novel.scheme, UriScheme::Other);
  EXPECT_EQ(novel.scheme_text, "soap.beep");
  EXPECT_EQ(novel.opaque, "//192.0.2.103:3002");

  // RFC 4475 unksm2.dat To, From and Contact.
  EXPECT_EQ(parse_ok("isbn:2983792873").opaque, "2983792873");
  Uri http = parse_ok("http://www.example.com");
  EXPECT_EQ(http.scheme_text, "http");
  EXPECT_EQ(http.opaque, "//www.example.com");
  EXPECT_EQ(parse_ok("name:John_Smith").opaque, "John_Smith");
  EXPECT_EQ(parse_ok("urn:service:sos").opaque, "service:sos");
  EXPECT_EQ(parse_ok("a+b-c.d9:x").scheme_text, "a+b-c.d9");
}

TEST(ParseUri, BadScheme) {
  EXPECT_EQ(parse_error("s_p:alice@atlanta.com"), ParseError::BadScheme);
  EXPECT_EQ(parse_error("1sip:alice@atlanta.com"), ParseError::BadScheme);
  EXPECT_EQ(parse_error("+sip:alice"), ParseError::BadScheme);
  EXPECT_EQ(parse_error(":alice@atlanta.com"), ParseError::BadScheme);
  EXPECT_EQ(parse_error("alice@atlanta.com"), ParseError::BadScheme);
  EXPECT_EQ(parse_error("atlanta"), ParseError::BadScheme);
  EXPECT_EQ(parse_error("si%70:alice"), ParseError::BadScheme);
}

TEST(ParseUri, EmptyOpaquePart) {
  EXPECT_EQ(parse_error("nobodyKnowsThisScheme:"), ParseError::BadUri);
  EXPECT_EQ(parse_error("x:"), ParseError::BadUri);
}

// --- characters no URI contains ----------------------------------------------------------------

TEST(ParseUri, WhitespaceAndAngleBracketsAreBadUri) {
  EXPECT_EQ(parse_error(""), ParseError::BadUri);
  EXPECT_EQ(parse_error("<sip:x>"), ParseError::BadUri);
  EXPECT_EQ(parse_error("<sip:user@example.com>"), ParseError::BadUri);    // ltgtruri.dat
  EXPECT_EQ(parse_error("sip:user@example.com; lr"), ParseError::BadUri);  // lwsruri.dat
  EXPECT_EQ(parse_error("sip:user@example.com;lr "), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:al ice@example.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@exa mple.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@example.com:50 60"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@[::1 ]"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@example.com\t"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@example.com\r\n"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@example.com;a=b>"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:alice@example.com?a=<b"), ParseError::BadUri);
  EXPECT_EQ(parse_error("sip:a% 1@example.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error("si p:alice@example.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error(" sip:alice@example.com"), ParseError::BadUri);
  EXPECT_EQ(parse_error("tel:+1\x7f"), ParseError::BadUri);
  EXPECT_EQ(parse_error(std::string_view("sip:a\0b@example.com", 19)), ParseError::BadUri);
  EXPECT_EQ(parse_error("nobodyKnowsThisScheme:totally opaque"), ParseError::BadUri);
  EXPECT_EQ(parse_error("nobodyKnowsThisScheme:<x>"), ParseError::BadUri);
}

// --- unescape ---------------------------------------------------------------------------------

TEST(Unescape, DecodesIntoCallerBuffer) {
  char buffer[8];
  std::size_t length = unescape("a%3Bb%3bc", buffer, sizeof buffer);
  ASSERT_EQ(length, 5u);
  EXPECT_EQ(std::string_view(buffer, length), "a;b;c");

  EXPECT_EQ(unescape("", buffer, 0), 0u);
  EXPECT_EQ(unescape("plain", buffer, 5), 5u);
  EXPECT_EQ(std::string_view(buffer, 5), "plain");
}

TEST(Unescape, RefusesMalformedEscapesAndSmallBuffers) {
  char buffer[4];
  EXPECT_EQ(unescape("%G1", buffer, sizeof buffer), std::string_view::npos);
  EXPECT_EQ(unescape("%4", buffer, sizeof buffer), std::string_view::npos);
  EXPECT_EQ(unescape("ab%", buffer, sizeof buffer), std::string_view::npos);
  EXPECT_EQ(unescape("abcde", buffer, sizeof buffer), std::string_view::npos);
  EXPECT_EQ(unescape("%61%62%63%64", buffer, sizeof buffer), 4u);
  EXPECT_EQ(std::string_view(buffer, 4), "abcd");
  EXPECT_EQ(unescape("%61%62%63%64%65", buffer, sizeof buffer), std::string_view::npos);
}

// --- equivalence (RFC 3261 §19.1.4) -------------------------------------------------------------

// Parses both (they must be valid) and checks that the comparison is symmetric.
bool equivalent(std::string_view a, std::string_view b) {
  const Uri uri_a = parse_ok(a);
  const Uri uri_b = parse_ok(b);
  const bool forward = uri_equivalent(uri_a, uri_b);
  EXPECT_EQ(forward, uri_equivalent(uri_b, uri_a)) << a << " vs " << b;
  return forward;
}

TEST(UriEquivalent, Rfc3261EquivalentPairs) {
  EXPECT_TRUE(
      equivalent("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
  EXPECT_TRUE(equivalent("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
  EXPECT_TRUE(equivalent("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(equivalent("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(equivalent("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                         "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
  EXPECT_TRUE(equivalent("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                         "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
}

TEST(UriEquivalent, Rfc3261NonEquivalentPairs) {
  EXPECT_FALSE(equivalent("SIP:ALICE@AtLanTa.CoM;Transport=udp",
                          "sip:alice@AtLanTa.CoM;Transport=UDP"));  // different usernames
  EXPECT_FALSE(equivalent("sip:alice@atlanta.com", "sip:ALICE@atlanta.com"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
  EXPECT_FALSE(equivalent("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
  EXPECT_FALSE(equivalent("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
}

TEST(UriEquivalent, SchemesMustMatch) {
  EXPECT_FALSE(equivalent("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
  EXPECT_TRUE(equivalent("SIPS:alice@atlanta.com", "sips:alice@atlanta.com"));
  EXPECT_FALSE(equivalent("sip:+1234@atlanta.com", "tel:+1234"));
}

TEST(UriEquivalent, UserAndPassword) {
  EXPECT_FALSE(equivalent("sip:alice@atlanta.com", "sip:atlanta.com"));
  EXPECT_FALSE(equivalent("sip:alice:pw@atlanta.com", "sip:alice@atlanta.com"));
  EXPECT_FALSE(equivalent("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com"));
  EXPECT_TRUE(equivalent("sip:alice:p%77@atlanta.com", "sip:alice:pw@atlanta.com"));
  // Hex digits of an escape are case-insensitive; the octets they stand for are not.
  EXPECT_TRUE(equivalent("sip:a%3bb@atlanta.com", "sip:a%3Bb@atlanta.com"));
  EXPECT_FALSE(equivalent("sip:%41@atlanta.com", "sip:a@atlanta.com"));
  EXPECT_TRUE(equivalent("sip:%41@atlanta.com", "sip:A@atlanta.com"));
  // An escaped reserved character is not the bare one (RFC 2396 §2.2 reserved set).
  EXPECT_FALSE(equivalent("sip:a%3Bb@atlanta.com", "sip:a;b@atlanta.com"));
  EXPECT_TRUE(equivalent("sip:null-%00@atlanta.com", "sip:null-%00@atlanta.com"));
  EXPECT_FALSE(equivalent("sip:null-%00@atlanta.com", "sip:null-@atlanta.com"));
}

TEST(UriEquivalent, HostsAndPorts) {
  EXPECT_TRUE(equivalent("sip:[2001:db8::1]", "sip:[2001:DB8:0:0:0:0:0:1]"));
  EXPECT_TRUE(equivalent("sip:[::ffff:192.0.2.1]:5060", "sip:[::FFFF:c000:0201]:5060"));
  EXPECT_FALSE(equivalent("sip:[2001:db8::1]", "sip:[2001:db8::2]"));
  EXPECT_FALSE(equivalent("sip:[2001:db8::1]", "sip:[2001:db8::1]:5060"));
  EXPECT_TRUE(equivalent("sip:192.0.2.4", "sip:192.0.2.004"));
  EXPECT_FALSE(equivalent("sip:192.0.2.4", "sip:192.0.2.5"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com:5060", "sip:bob@biloxi.com:5061"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com:5060", "sip:bob@BILOXI.com:5060"));
}

TEST(UriEquivalent, ParamsThatMustBeInBoth) {
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;user=phone", "sip:bob@biloxi.com"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;ttl=1", "sip:bob@biloxi.com"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;method=INVITE", "sip:bob@biloxi.com"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;maddr=239.1.1.1", "sip:bob@biloxi.com"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;transport=udp", "sip:bob@biloxi.com;transport=tcp"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com;user=phone;ttl=1;method=INVITE;maddr=x.com",
                         "sip:bob@biloxi.com;MADDR=X.com;method=invite;ttl=1;user=PHONE"));
}

TEST(UriEquivalent, OtherParams) {
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;foo=1", "sip:bob@biloxi.com;foo=2"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com;foo=1", "sip:bob@biloxi.com;bar=2"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com;foo=%41", "sip:bob@biloxi.com;foo=a"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;foo", "sip:bob@biloxi.com;foo=1"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com;lr", "sip:bob@biloxi.com"));
  // A repeated name counts by its first occurrence, so a URI still equals itself.
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com;t;t=tcp", "sip:bob@biloxi.com;t;t=tcp"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com;t;t=tcp", "sip:bob@biloxi.com;t=tcp"));
}

TEST(UriEquivalent, Headers) {
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com?Subject=hi", "sip:bob@biloxi.com?subject=HI"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com?a=1&b=2", "sip:bob@biloxi.com?a=1"));
  EXPECT_FALSE(equivalent("sip:bob@biloxi.com?a=1&b=2", "sip:bob@biloxi.com?a=1&b=3"));
  EXPECT_TRUE(equivalent("sip:bob@biloxi.com?a=%31&b=2", "sip:bob@biloxi.com?b=2&a=1"));
}

TEST(UriEquivalent, Tel) {
  EXPECT_TRUE(equivalent("tel:+1-201-555-0123", "tel:+12015550123"));
  EXPECT_TRUE(equivalent("tel:+1(201)555.0123", "tel:+1-201-555-0123"));
  EXPECT_FALSE(equivalent("tel:+12015550123", "tel:+12015550124"));
  EXPECT_FALSE(equivalent("tel:+1234", "tel:1234;phone-context=+1"));
  EXPECT_TRUE(
      equivalent("tel:7042;phone-context=example.com", "tel:7042;PHONE-CONTEXT=EXAMPLE.com"));
  EXPECT_FALSE(equivalent("tel:7042;phone-context=example.com", "tel:7042"));
  EXPECT_FALSE(equivalent("tel:7042;phone-context=a.com", "tel:7042;phone-context=b.com"));
  EXPECT_TRUE(equivalent("tel:ab12;phone-context=x.com", "tel:AB12;phone-context=x.com"));
}

TEST(UriEquivalent, OpaqueSchemes) {
  EXPECT_TRUE(equivalent("isbn:2983792873", "ISBN:2983792873"));
  EXPECT_FALSE(equivalent("isbn:2983792873", "isbn:2983792874"));
  EXPECT_FALSE(equivalent("isbn:2983792873", "issn:2983792873"));
}

// --- corpus: every Request-URI of a message that must be accepted ------------------------------

struct CorpusRequestUri {
  std::string file;
  std::string expectation;
  std::string uri;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// The Request-URI of each request in manifest.tsv with one of `expectations`; responses
// have none. Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1).
std::vector<CorpusRequestUri> corpus_request_uris(const std::vector<std::string>& expectations) {
  std::vector<CorpusRequestUri> found;
  std::ifstream manifest(std::string(SIPLINE_CORPUS_DIR) + "/manifest.tsv");
  std::string line;
  while (std::getline(manifest, line)) {
    std::istringstream fields(line);
    std::string file, source, expectation;
    std::getline(fields, file, '\t');
    std::getline(fields, source, '\t');
    std::getline(fields, expectation, '\t');
    bool wanted = false;
    for (const std::string& e : expectations)
      wanted = wanted || e == expectation;
    if (!wanted) continue;
    const std::string message = read_file(std::string(SIPLINE_CORPUS_DIR) + "/" + file);
    EXPECT_FALSE(message.empty()) << file;
    const std::string request_line = message.substr(0, message.find("\r\n"));
    if (request_line.rfind("SIP/", 0) == 0) continue;  // a response
    const std::size_t first_space = request_line.find(' ');
    const std::size_t last_space = request_line.rfind(' ');
    EXPECT_LT(first_space, last_space) << file;
    found.push_back(
        {file, expectation, request_line.substr(first_space + 1, last_space - first_space - 1)});
  }
  return found;
}

TEST(ParseUriCorpus, EveryAcceptedRequestUriParses) {
  const std::vector<CorpusRequestUri> uris = corpus_request_uris({"accept"});
  std::size_t rfc4475 = 0;
  for (const CorpusRequestUri& entry : uris) {
    if (entry.file.rfind("rfc4475/", 0) == 0) ++rfc4475;
    Parsed<Uri> parsed = parse_uri(entry.uri);
    EXPECT_TRUE(parsed.ok()) << entry.file << ": " << entry.uri << ": " << describe(parsed.error);
    EXPECT_TRUE(parsed.value.scheme == UriScheme::Sip || parsed.value.scheme == UriScheme::Sips)
        << entry.file;
  }
  // 15 requests among the 18 RFC 4475 "accept" files (unreason, noreason and bcast are
  // responses), plus the RFC 3665 and carrier requests; guards against an unread manifest.
  EXPECT_EQ(rfc4475, 15u);
  EXPECT_GE(uris.size(), 20u);
}

TEST(ParseUriCorpus, ApplicationErrorRequestUrisParse) {
  // accept-app-error messages are well formed; unkscm.dat and novelsc.dat exercise exactly
  // the Request-URI (RFC 4475 §3.3.2, §3.3.3: answer 416, so the URI must parse).
  const std::vector<CorpusRequestUri> uris = corpus_request_uris({"accept-app-error"});
  std::size_t other_schemes = 0;
  for (const CorpusRequestUri& entry : uris) {
    Parsed<Uri> parsed = parse_uri(entry.uri);
    EXPECT_TRUE(parsed.ok()) << entry.file << ": " << entry.uri << ": " << describe(parsed.error);
    if (parsed.value.scheme == UriScheme::Other) ++other_schemes;
  }
  EXPECT_EQ(other_schemes, 2u);
  EXPECT_GE(uris.size(), 8u);
}

TEST(ParseUriCorpus, SpecificRequestUris) {
  Uri esc01 = parse_ok("sip:sips%3Auser%40example.com@example.net");  // esc01.dat
  EXPECT_EQ(esc01.user, "sips%3Auser%40example.com");
  EXPECT_EQ(esc01.host_port.host, "example.net");
  char buffer[32];
  const std::size_t length = unescape(esc01.user, buffer, sizeof buffer);
  ASSERT_NE(length, std::string_view::npos);
  EXPECT_EQ(std::string_view(buffer, length), "sips:user@example.com");

  Uri carrier = parse_ok("sip:+14085551234@sbc-core.carrier-b.example.net;user=phone");
  EXPECT_EQ(carrier.user, "+14085551234");
  EXPECT_EQ(uri_param(carrier, "user"), "phone");
}

}  // namespace
}  // namespace sipline::sip

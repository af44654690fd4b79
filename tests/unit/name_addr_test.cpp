#include "sip/name_addr.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "sip/token_list.hpp"
#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

using test::corpus_header_value;

TEST(NameAddr, WsinvQuotedDisplayNameWithEscapesAndFoldedTag) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "from   ");
  ASSERT_EQ(value,
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8");
  const Parsed<NameAddr> from = parse_name_addr(value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.display_name, R"("J Rosenberg \\\"")");
  EXPECT_TRUE(from.value.bracketed);
  EXPECT_EQ(from.value.uri_text, "sip:jdrosen@example.com");
  EXPECT_EQ(from.value.uri.scheme, UriScheme::Sip);
  EXPECT_EQ(from.value.uri.user, "jdrosen");
  EXPECT_EQ(from.value.uri.host_port.host, "example.com");
  EXPECT_TRUE(from.value.has_tag);
  EXPECT_EQ(from.value.tag, "98asjd8");
  EXPECT_EQ(from.value.params, ";\r\n  tag = 98asjd8");
}

TEST(NameAddr, WsinvBareAddrSpecWithLwsBeforeParams) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "TO ");
  ASSERT_EQ(value, "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
  const Parsed<NameAddr> to = parse_name_addr(value);
  ASSERT_TRUE(to.ok()) << describe(to.error);
  EXPECT_EQ(to.value.display_name, "");
  EXPECT_FALSE(to.value.bracketed);
  EXPECT_EQ(to.value.uri_text, "sip:vivekg@chair-dnrc.example.com");
  EXPECT_EQ(to.value.tag, "1918181833n");
}

// RFC 3261 §20.10: without '<' '>' the parameters belong to the header, not to the URI.
TEST(NameAddr, BadInv01BareAddrSpecTagBelongsToHeader) {
  const std::string value = corpus_header_value("rfc4475/badinv01.dat", "From");
  const Parsed<NameAddr> from = parse_name_addr(value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.uri_text, "sip:caller@example.net");
  EXPECT_EQ(from.value.uri.params, "");
  EXPECT_EQ(from.value.uri.host_port.host, "example.net");
  EXPECT_EQ(from.value.params, ";tag=134161461246");
  EXPECT_EQ(from.value.tag, "134161461246");
}

TEST(NameAddr, TokenDisplayNames) {
  const Parsed<NameAddr> bob = parse_name_addr("Bob <sip:bob@biloxi.com>");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob.value.display_name, "Bob");
  EXPECT_EQ(bob.value.uri_text, "sip:bob@biloxi.com");
  EXPECT_FALSE(bob.value.has_tag);
  EXPECT_EQ(bob.value.params, "");

  const Parsed<NameAddr> two_words = parse_name_addr("Alice  Liddell\r\n <sip:alice@atlanta.com>");
  ASSERT_TRUE(two_words.ok());
  EXPECT_EQ(two_words.value.display_name, "Alice  Liddell");
}

TEST(NameAddr, LwsdispTokenDirectlyBeforeAngle) {
  const std::string value = corpus_header_value("rfc4475/lwsdisp.dat", "From");
  ASSERT_EQ(value, "caller<sip:caller@example.com>;tag=323");
  const Parsed<NameAddr> from = parse_name_addr(value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.display_name, "caller");
  EXPECT_EQ(from.value.uri_text, "sip:caller@example.com");
  EXPECT_EQ(from.value.tag, "323");
}

TEST(NameAddr, IntmethTokenCharactersEverywhere) {
  const std::string from_value = corpus_header_value("rfc4475/intmeth.dat", "From");
  const Parsed<NameAddr> from = parse_name_addr(from_value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.display_name, "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(from.value.uri_text, "sip:mundane@example.com");
  EXPECT_EQ(from.value.tag, "_token~1'+`*%!-.");

  const std::string to_value = corpus_header_value("rfc4475/intmeth.dat", "To");
  const Parsed<NameAddr> to = parse_name_addr(to_value);
  ASSERT_TRUE(to.ok()) << describe(to.error);
  EXPECT_EQ(to.value.display_name, std::string_view("\"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\"", 22));
  EXPECT_EQ(to.value.uri_text, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
  EXPECT_EQ(to.value.uri.host_port.host, "example.com");
}

TEST(NameAddr, Esc01EscapedUserStaysEscaped) {
  const std::string value = corpus_header_value("rfc4475/esc01.dat", "From");
  const Parsed<NameAddr> from = parse_name_addr(value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.uri.user, "I%20have%20spaces");
  EXPECT_EQ(from.value.tag, "938");
}

TEST(NameAddr, Unksm2OtherSchemes) {
  const std::string to_value = corpus_header_value("rfc4475/unksm2.dat", "To");
  const Parsed<NameAddr> to = parse_name_addr(to_value);
  ASSERT_TRUE(to.ok()) << describe(to.error);
  EXPECT_EQ(to.value.uri.scheme, UriScheme::Other);
  EXPECT_EQ(to.value.uri_text, "isbn:2983792873");

  const std::string from_value = corpus_header_value("rfc4475/unksm2.dat", "From");
  const Parsed<NameAddr> from = parse_name_addr(from_value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.uri.scheme, UriScheme::Other);
  EXPECT_EQ(from.value.uri_text, "http://www.example.com");
  EXPECT_EQ(from.value.tag, "3234233");

  const Parsed<NameAddr> bracketed = parse_name_addr("<isbn:2983792873>");
  ASSERT_TRUE(bracketed.ok());
  EXPECT_EQ(bracketed.value.uri.scheme, UriScheme::Other);
}

TEST(NameAddr, QuotbalUnterminatedQuote) {
  const std::string value = corpus_header_value("rfc4475/quotbal.dat", "To");
  EXPECT_EQ(parse_name_addr(value).error, ParseError::UnterminatedQuote);
  EXPECT_EQ(parse_name_addr("\"Bob \\\" <sip:bob@biloxi.com>").error,
            ParseError::UnterminatedQuote);
}

TEST(NameAddr, BaddnUnquotedNonTokenDisplayNameIsRefused) {
  const std::string from = corpus_header_value("rfc4475/baddn.dat", "From");
  ASSERT_EQ(from, "Bell, Alexander <sip:a.g.bell@example.com>;tag=43");
  EXPECT_EQ(parse_name_addr(from).error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr(corpus_header_value("rfc4475/baddn.dat", "To")).error,
            ParseError::BadNameAddr);
}

TEST(NameAddr, BadaspecSpacesInsideBracketsAreRefused) {
  const std::string to = corpus_header_value("rfc4475/badaspec.dat", "To");
  ASSERT_EQ(to, "\"Watson, Thomas\" < sip:t.watson@example.org >");
  EXPECT_EQ(parse_name_addr(to).error, ParseError::BadNameAddr);
  const std::string from_value = corpus_header_value("rfc4475/badaspec.dat", "From");
  const Parsed<NameAddr> from = parse_name_addr(from_value);
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from.value.display_name, "\"Bell, Alexander\"");
  EXPECT_EQ(from.value.tag, "433423");
}

TEST(NameAddr, StructuralErrors) {
  EXPECT_EQ(parse_name_addr("").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("<sip:x").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("<>").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("\"Bob\" sip:bob@biloxi.com").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("<sip:bob@biloxi.com> junk").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("<sip:bob@biloxi.com>;tag=1 <sip:x>").error, ParseError::BadParam);
  EXPECT_EQ(parse_name_addr("sip:bob@biloxi.com?subject=x").error, ParseError::BadNameAddr);
  EXPECT_EQ(parse_name_addr("sip:a@b.com, sip:c@d.com").error, ParseError::BadNameAddr);
  EXPECT_NE(parse_name_addr("<not a uri>").error, ParseError::None);
}

TEST(NameAddr, TagMustBeAToken) {
  EXPECT_EQ(parse_name_addr("<sip:bob@biloxi.com>;tag").error, ParseError::BadParam);
  EXPECT_EQ(parse_name_addr("<sip:bob@biloxi.com>;tag=\"x\"").error, ParseError::BadParam);
  EXPECT_EQ(parse_name_addr("<sip:bob@biloxi.com>;tag=").error, ParseError::BadParam);
  const Parsed<NameAddr> upper = parse_name_addr("<sip:bob@biloxi.com>;TAG=abc;x=\"y z\"");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper.value.tag, "abc");
}

TEST(NameAddr, UriParamsStayInsideBrackets) {
  const std::string value = corpus_header_value("carrier/invite-carrier-sdp.sip", "From");
  const Parsed<NameAddr> from = parse_name_addr(value);
  ASSERT_TRUE(from.ok()) << describe(from.error);
  EXPECT_EQ(from.value.display_name, "\"Alice Smith\"");
  EXPECT_EQ(from.value.uri.user, "+12125550100");
  EXPECT_EQ(from.value.uri.params, ";user=phone");
  EXPECT_EQ(from.value.params, ";tag=as5d8f2a1c");
  EXPECT_EQ(from.value.tag, "as5d8f2a1c");
  // Zero-copy: views into the value.
  EXPECT_EQ(from.value.tag.data(), value.data() + value.size() - 10);
}

TEST(NameAddr, RouteElementsWithLooseRouting) {
  const std::string value =
      corpus_header_value("carrier/invite-carrier-sdp.sip", "Record-Route", 1);
  ListCursor list(value);
  const std::optional<std::string_view> first = list.next();
  const std::optional<std::string_view> second = list.next();
  ASSERT_TRUE(first && second);
  const Parsed<NameAddr> proxy = parse_name_addr(*first);
  ASSERT_TRUE(proxy.ok()) << describe(proxy.error);
  EXPECT_EQ(proxy.value.uri.host_port.host, "198.51.100.7");
  EXPECT_TRUE(proxy.value.uri.lr);
  EXPECT_EQ(proxy.value.params, "");
  const Parsed<NameAddr> inner = parse_name_addr(*second);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner.value.uri.host_port.host, "10.0.0.7");
  EXPECT_TRUE(inner.value.uri.lr);

  const std::string route = corpus_header_value("rfc4475/wsinv.dat", "Route");
  const Parsed<NameAddr> services = parse_name_addr(route);
  ASSERT_TRUE(services.ok()) << describe(services.error);
  EXPECT_EQ(services.value.uri_text,
            "sip:services.example.com;lr;unknownwith=value;unknown-no-value");
  EXPECT_TRUE(services.value.uri.lr);
}

TEST(Contact, WsinvQuotedNameAndLwsAroundParams) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "m");
  ASSERT_EQ(value,
            "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue "
            ";\r\n  secondparam ; q = 0.33");
  const Parsed<ContactValue> contact = parse_contact(value);
  ASSERT_TRUE(contact.ok()) << describe(contact.error);
  EXPECT_FALSE(contact.value.star);
  EXPECT_EQ(contact.value.address.display_name, R"("Quoted string \"\"")");
  EXPECT_EQ(contact.value.address.uri_text, "sip:jdrosen@example.com");
  EXPECT_TRUE(contact.value.has_q);
  EXPECT_EQ(contact.value.q_milli, 330);
  EXPECT_FALSE(contact.value.has_expires);
}

TEST(Contact, Star) {
  const Parsed<ContactValue> star = parse_contact("*");
  ASSERT_TRUE(star.ok());
  EXPECT_TRUE(star.value.star);
  EXPECT_TRUE(parse_contact(" * ").value.star);
  EXPECT_NE(parse_contact("*;expires=0").error, ParseError::None);
}

TEST(Contact, CarrierRegisterExpiresAndQuotedInstance) {
  const std::string value = corpus_header_value("carrier/register-carrier-auth.sip", "Contact");
  const Parsed<ContactValue> contact = parse_contact(value);
  ASSERT_TRUE(contact.ok()) << describe(contact.error);
  EXPECT_EQ(contact.value.address.uri.host_port.host, "192.0.2.55");
  EXPECT_EQ(contact.value.address.uri.host_port.port, 5060);
  EXPECT_TRUE(contact.value.has_expires);
  EXPECT_EQ(contact.value.expires, 3600u);
  EXPECT_FALSE(contact.value.has_q);
  EXPECT_EQ(contact.value.q_milli, 1000);
  EXPECT_EQ(contact.value.address.params,
            ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1;"
            "expires=3600");
}

TEST(Contact, QValues) {
  const auto q_of = [](std::string_view q) {
    return parse_contact("<sip:a@example.com>;q=" + std::string(q));
  };
  EXPECT_EQ(q_of("0").value.q_milli, 0);
  EXPECT_EQ(q_of("0.").value.q_milli, 0);
  EXPECT_EQ(q_of("0.5").value.q_milli, 500);
  EXPECT_EQ(q_of("0.001").value.q_milli, 1);
  EXPECT_EQ(q_of("0.999").value.q_milli, 999);
  EXPECT_EQ(q_of("1").value.q_milli, 1000);
  EXPECT_EQ(q_of("1.000").value.q_milli, 1000);
  EXPECT_TRUE(q_of("1.000").ok());
  EXPECT_EQ(q_of("1.001").error, ParseError::BadContact);
  EXPECT_EQ(q_of("1.5").error, ParseError::BadContact);
  EXPECT_EQ(q_of("2").error, ParseError::BadContact);
  EXPECT_EQ(q_of("0.1234").error, ParseError::BadContact);
  EXPECT_EQ(q_of(".5").error, ParseError::BadContact);
  EXPECT_EQ(q_of("0,5").error, ParseError::BadParam);
  EXPECT_EQ(q_of("abc").error, ParseError::BadContact);
  EXPECT_EQ(parse_contact("<sip:a@example.com>;q").error, ParseError::BadContact);
}

TEST(Contact, Expires) {
  const Parsed<ContactValue> zero = parse_contact("<sip:a@example.com>;expires=0");
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero.value.has_expires);
  EXPECT_EQ(zero.value.expires, 0u);
  EXPECT_EQ(parse_contact("<sip:a@example.com>;expires=4294967295").value.expires, 4294967295u);
  EXPECT_EQ(parse_contact("<sip:a@example.com>;expires=4294967296").error, ParseError::BadContact);
  const std::string scalar02 = corpus_header_value("rfc4475/scalar02.dat", "Contact");
  ASSERT_EQ(scalar02, "<sip:user@host129.example.com>\r\n  ;expires=280297596632815");
  EXPECT_EQ(parse_contact(scalar02).error, ParseError::BadContact);
}

TEST(Contact, BadInv01EmptyParams) {
  const std::string value = corpus_header_value("rfc4475/badinv01.dat", "Contact");
  ASSERT_EQ(value, "\"Joe\" <sip:joe@example.org>;;;;");
  EXPECT_EQ(parse_contact(value).error, ParseError::BadParam);
}

TEST(Contact, Esc01FoldedEscapedUriParams) {
  const std::string value = corpus_header_value("rfc4475/esc01.dat", "Contact");
  const Parsed<ContactValue> contact = parse_contact(value);
  ASSERT_TRUE(contact.ok()) << describe(contact.error);
  EXPECT_EQ(contact.value.address.uri.user, "cal%6Cer");
  EXPECT_EQ(contact.value.address.uri.params, ";%6C%72;n%61me=v%61lue%25%34%31");
}

TEST(Contact, BareAddrSpecParamsAreContactParams) {
  const std::string value = corpus_header_value("rfc4475/cparam01.dat", "Contact");
  const Parsed<ContactValue> contact = parse_contact(value);
  ASSERT_TRUE(contact.ok()) << describe(contact.error);
  EXPECT_EQ(contact.value.address.uri_text, "sip:+19725552222@gw1.example.net");
  EXPECT_EQ(contact.value.address.params, ";unknownparam");
  EXPECT_EQ(parse_contact("sip:a@example.com;expires=60;q=0.7").value.expires, 60u);
  EXPECT_EQ(parse_contact("sip:a@example.com;expires=60;q=0.7").value.q_milli, 700);
}

TEST(Contact, RegbadctHeadersInBareAddrSpecAreRefused) {
  const std::string value = corpus_header_value("rfc4475/regbadct.dat", "Contact");
  EXPECT_EQ(parse_contact(value).error, ParseError::BadNameAddr);
}

TEST(Contact, Unksm2OtherScheme) {
  const std::string value = corpus_header_value("rfc4475/unksm2.dat", "Contact");
  const Parsed<ContactValue> contact = parse_contact(value);
  ASSERT_TRUE(contact.ok()) << describe(contact.error);
  EXPECT_EQ(contact.value.address.uri.scheme, UriScheme::Other);
  EXPECT_EQ(contact.value.address.uri_text, "name:John_Smith");
}

}  // namespace
}  // namespace sipline::sip

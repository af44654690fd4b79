#include "sip/header_id.hpp"

#include <gtest/gtest.h>

#include "sip/method.hpp"
#include "sip/params.hpp"

namespace sipline::sip {
namespace {

TEST(HeaderId, LongFormsInAnyCase) {
  EXPECT_EQ(header_id_from_name("Via"), HeaderId::Via);
  EXPECT_EQ(header_id_from_name("VIA"), HeaderId::Via);
  EXPECT_EQ(header_id_from_name("call-id"), HeaderId::CallId);
  EXPECT_EQ(header_id_from_name("MaX-fOrWaRdS"), HeaderId::MaxForwards);
  EXPECT_EQ(header_id_from_name("WWW-Authenticate"), HeaderId::WWWAuthenticate);
  EXPECT_EQ(header_id_from_name("P-Preferred-Identity"), HeaderId::PPreferredIdentity);
  EXPECT_EQ(header_id_from_name("cseq"), HeaderId::CSeq);
  EXPECT_EQ(header_id_from_name("RAck"), HeaderId::RAck);
}

TEST(HeaderId, CompactForms) {
  const struct {
    const char* name;
    HeaderId id;
  } cases[] = {{"i", HeaderId::CallId},
               {"m", HeaderId::Contact},
               {"e", HeaderId::ContentEncoding},
               {"l", HeaderId::ContentLength},
               {"c", HeaderId::ContentType},
               {"f", HeaderId::From},
               {"s", HeaderId::Subject},
               {"k", HeaderId::Supported},
               {"t", HeaderId::To},
               {"v", HeaderId::Via},
               {"r", HeaderId::ReferTo},
               {"b", HeaderId::ReferredBy},
               {"x", HeaderId::SessionExpires},
               {"o", HeaderId::Event},
               {"u", HeaderId::AllowEvents},
               {"a", HeaderId::AcceptContact},
               {"j", HeaderId::RejectContact},
               {"d", HeaderId::RequestDisposition},
               {"y", HeaderId::Identity},
               {"n", HeaderId::IdentityInfo},
               {"V", HeaderId::Via},
               {"I", HeaderId::CallId}};
  for (const auto& c : cases)
    EXPECT_EQ(header_id_from_name(c.name), c.id) << c.name;
  EXPECT_EQ(header_id_from_name("z"), HeaderId::Other);
  EXPECT_EQ(header_id_from_name("g"), HeaderId::Other);
}

TEST(HeaderId, CarriageReturnIsNotAHyphen) {
  // OR-ing 0x20 maps CR onto '-': the lookup must still tell them apart.
  EXPECT_EQ(header_id_from_name(std::string_view("Call\rID", 7)), HeaderId::Other);
  EXPECT_EQ(header_id_from_name(std::string_view("Record\rRoute", 12)), HeaderId::Other);
  EXPECT_EQ(header_id_from_name("Record-Route"), HeaderId::RecordRoute);
}

TEST(HeaderId, UnknownNamesAreOther) {
  EXPECT_EQ(header_id_from_name("NewFangledHeader"), HeaderId::Other);
  EXPECT_EQ(header_id_from_name("C%6Fntact"), HeaderId::Other);
  EXPECT_EQ(header_id_from_name("Vias"), HeaderId::Other);
  EXPECT_EQ(header_id_from_name("X-A-Very-Long-Header-Name-Beyond-The-Table"), HeaderId::Other);
}

TEST(HeaderId, CanonicalNamesRoundTrip) {
  for (std::size_t i = 1; i < kHeaderIdCount; ++i) {
    const auto id = static_cast<HeaderId>(i);
    const std::string_view name = header_canonical_name(id);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(header_id_from_name(name), id) << name;
  }
  EXPECT_EQ(header_canonical_name(HeaderId::CallId), "Call-ID");
}

TEST(HeaderId, ListAndSingleClassification) {
  EXPECT_TRUE(header_is_list(HeaderId::Via));
  EXPECT_TRUE(header_is_list(HeaderId::Route));
  EXPECT_FALSE(header_is_list(HeaderId::Authorization));  // commas separate digest params
  EXPECT_FALSE(header_is_list(HeaderId::WWWAuthenticate));
  EXPECT_TRUE(header_is_single(HeaderId::CSeq));
  EXPECT_FALSE(header_is_single(HeaderId::Via));
}

TEST(Method, RfcMethodsAndExtensions) {
  EXPECT_EQ(method_from_token("INVITE"), Method::Invite);
  EXPECT_EQ(method_from_token("UPDATE"), Method::Update);
  EXPECT_EQ(method_from_token("SUBSCRIBE"), Method::Subscribe);
  EXPECT_EQ(method_from_token("invite"), Method::Extension);  // case-sensitive, §7.1
  EXPECT_EQ(method_from_token("RE%47IST%45R"), Method::Extension);
  for (std::size_t i = 1; i < kMethodCount; ++i) {
    const auto method = static_cast<Method>(i);
    EXPECT_EQ(method_from_token(method_name(method)), method);
  }
  EXPECT_TRUE(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
  EXPECT_FALSE(is_token("IN VITE"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a:b"));
}

TEST(Params, HeaderStyleToleratesLwsAroundSemicolonAndEquals) {
  ParamCursor cursor(" ;   tag    = 1918181833n ;\r\n  lr ; q = 0.33", ParamCursor::Style::Header);
  auto tag = cursor.next();
  ASSERT_TRUE(tag);
  EXPECT_EQ(tag->name, "tag");
  EXPECT_EQ(tag->value, "1918181833n");
  auto lr = cursor.next();
  ASSERT_TRUE(lr);
  EXPECT_EQ(lr->name, "lr");
  EXPECT_FALSE(lr->has_value);
  auto q = cursor.next();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->value, "0.33");
  EXPECT_FALSE(cursor.next());
  EXPECT_EQ(cursor.error(), ParseError::None);
}

TEST(Params, QuotedValuesKeepQuotesAndEscapes) {
  auto param = find_param(";x=\"a;b\\\"c\";y=2", "x", ParamCursor::Style::Header);
  ASSERT_TRUE(param);
  EXPECT_EQ(param->value, "\"a;b\\\"c\"");
  EXPECT_EQ(find_param(";x=\"a;b\\\"c\";Y=2", "y", ParamCursor::Style::Header)->value, "2");
  EXPECT_EQ(validate_params(";x=\"open", ParamCursor::Style::Header), ParseError::BadParam);
}

TEST(Params, EmptyNamesAndValuesAreErrors) {
  EXPECT_EQ(validate_params(";;", ParamCursor::Style::Header), ParseError::BadParam);
  EXPECT_EQ(validate_params(";a=", ParamCursor::Style::Header), ParseError::BadParam);
  EXPECT_EQ(validate_params("a", ParamCursor::Style::Header), ParseError::BadParam);
  EXPECT_EQ(validate_params("", ParamCursor::Style::Header), ParseError::None);
  EXPECT_EQ(validate_params(";lr;transport=udp", ParamCursor::Style::Uri), ParseError::None);
  std::string many;
  for (int i = 0; i < 40; ++i)
    many += ";p" + std::to_string(i);
  EXPECT_EQ(validate_params(many, ParamCursor::Style::Uri), ParseError::TooManyParams);
}

TEST(Params, UriStyleDoesNotSkipWhitespace) {
  auto param = find_param(";maddr=[2001:db8::1];lr", "maddr", ParamCursor::Style::Uri);
  ASSERT_TRUE(param);
  EXPECT_EQ(param->value, "[2001:db8::1]");
  EXPECT_FALSE(find_param("; lr", "lr", ParamCursor::Style::Uri));
}

}  // namespace
}  // namespace sipline::sip

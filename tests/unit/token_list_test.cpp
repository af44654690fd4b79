#include "sip/token_list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

using test::corpus_header_value;

struct Split {
  std::vector<std::string> elements;
  ParseError error = ParseError::None;
};

Split split(std::string_view value) {
  Split result;
  ListCursor cursor(value);
  while (const std::optional<std::string_view> element = cursor.next()) {
    result.elements.emplace_back(*element);
  }
  EXPECT_TRUE(cursor.done());
  result.error = cursor.error();
  return result;
}

using Elements = std::vector<std::string>;

TEST(ListCursor, TrimsElements) {
  const Split result = split("a, b ,c");
  EXPECT_EQ(result.elements, (Elements{"a", "b", "c"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, SingleElement) {
  const Split result = split("SIP/2.0/UDP host.example.com;branch=z9hG4bK1");
  EXPECT_EQ(result.elements, (Elements{"SIP/2.0/UDP host.example.com;branch=z9hG4bK1"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, FoldedLinesAroundCommas) {
  const Split result = split("a\r\n ,\r\n\tb");
  EXPECT_EQ(result.elements, (Elements{"a", "b"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, EmptyElementsAreErrors) {
  const Split doubled = split("a,,b");
  EXPECT_EQ(doubled.elements, (Elements{"a"}));
  EXPECT_EQ(doubled.error, ParseError::EmptyListElement);

  const Split trailing = split("a,");
  EXPECT_EQ(trailing.elements, (Elements{"a"}));
  EXPECT_EQ(trailing.error, ParseError::EmptyListElement);

  const Split leading = split(" , a");
  EXPECT_TRUE(leading.elements.empty());
  EXPECT_EQ(leading.error, ParseError::EmptyListElement);

  const Split blank_between = split("a, \r\n ,b");
  EXPECT_EQ(blank_between.error, ParseError::EmptyListElement);
}

TEST(ListCursor, EmptyValueIsAnEmptyList) {
  EXPECT_TRUE(split("").elements.empty());
  EXPECT_EQ(split("").error, ParseError::None);
  EXPECT_TRUE(split(" \r\n ").elements.empty());
  EXPECT_EQ(split(" \r\n ").error, ParseError::None);
}

TEST(ListCursor, BadInv01Via) {
  const std::string value = corpus_header_value("rfc4475/badinv01.dat", "Via");
  const Split result = split(value);
  EXPECT_EQ(result.elements, (Elements{"SIP/2.0/UDP 192.0.2.15;;", ";"}));
  EXPECT_EQ(result.error, ParseError::EmptyListElement);
}

TEST(ListCursor, CommasInsideQuotesAndAngleBracketsDoNotSplit) {
  const Split result = split("\"Watson, Thomas\" <sip:t.watson@example.org;x=a,b>;tag=1, <sip:b>");
  EXPECT_EQ(result.elements,
            (Elements{"\"Watson, Thomas\" <sip:t.watson@example.org;x=a,b>;tag=1", "<sip:b>"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, EscapedQuoteInsideQuotedString) {
  const Split result = split(R"("a\",b" <sip:a>, "c\\" <sip:c>)");
  EXPECT_EQ(result.elements, (Elements{R"("a\",b" <sip:a>)", R"("c\\" <sip:c>)"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, AngleBracketsInsideQuotedParamValue) {
  const Split result =
      split("<sip:a@192.0.2.55>;+sip.instance=\"<urn:uuid:1,2>\";reg-id=1, <sip:b@192.0.2.56>");
  EXPECT_EQ(result.elements,
            (Elements{"<sip:a@192.0.2.55>;+sip.instance=\"<urn:uuid:1,2>\";reg-id=1",
                      "<sip:b@192.0.2.56>"}));
}

TEST(ListCursor, UnterminatedQuote) {
  const Split result = split("<sip:a>, \"Mr. J. User <sip:j.user@example.com>, <sip:b>");
  EXPECT_EQ(result.elements, (Elements{"<sip:a>"}));
  EXPECT_EQ(result.error, ParseError::UnterminatedQuote);
}

TEST(ListCursor, RouteList) {
  const Split result = split("<sip:a;lr>,<sip:b;lr>");
  EXPECT_EQ(result.elements, (Elements{"<sip:a;lr>", "<sip:b;lr>"}));
}

TEST(ListCursor, CarrierRecordRoute) {
  const std::string value =
      corpus_header_value("carrier/invite-carrier-sdp.sip", "Record-Route", 1);
  const Split result = split(value);
  EXPECT_EQ(result.elements, (Elements{"<sip:198.51.100.7;r2=on;lr;ftag=as5d8f2a1c>",
                                       "<sip:10.0.0.7;r2=on;lr;ftag=as5d8f2a1c>"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, WsinvViaList) {
  const Split result = split(corpus_header_value("rfc4475/wsinv.dat", "v"));
  EXPECT_EQ(result.elements,
            (Elements{"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
                      "SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239"}));
  EXPECT_EQ(result.error, ParseError::None);
}

TEST(ListCursor, ElementsAreViewsIntoTheValue) {
  const std::string_view value = "alpha, beta";
  ListCursor cursor(value);
  EXPECT_EQ(cursor.next()->data(), value.data());
  EXPECT_EQ(cursor.next()->data(), value.data() + 7);
  EXPECT_FALSE(cursor.next());
  EXPECT_FALSE(cursor.next());
  EXPECT_EQ(cursor.error(), ParseError::None);
}

TEST(OptionList, ContainsIsCaseInsensitive) {
  const std::string supported = corpus_header_value("carrier/invite-carrier-sdp.sip", "Supported");
  ASSERT_EQ(supported, "100rel, timer, replaces, norefersub");
  EXPECT_TRUE(option_list_contains(supported, "timer"));
  EXPECT_TRUE(option_list_contains(supported, "TIMER"));
  EXPECT_TRUE(option_list_contains(supported, "100rel"));
  EXPECT_TRUE(option_list_contains(supported, "norefersub"));
  EXPECT_FALSE(option_list_contains(supported, "time"));
  EXPECT_FALSE(option_list_contains(supported, "path"));
  const std::string register_supported =
      corpus_header_value("carrier/register-carrier-auth.sip", "Supported");
  EXPECT_TRUE(option_list_contains(register_supported, "outbound"));
  EXPECT_TRUE(option_list_contains(register_supported, "Path"));
  EXPECT_FALSE(option_list_contains(register_supported, "timer"));
  EXPECT_FALSE(option_list_contains("", "timer"));
  EXPECT_FALSE(option_list_contains("timer-x", "timer"));
}

}  // namespace
}  // namespace sipline::sip

#include "sip/scalar_headers.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

using test::corpus_header_value;

TEST(CSeq, WsinvLeadingZerosAndFoldedMethod) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "cseq");
  ASSERT_EQ(value, "0009\r\n  INVITE");
  const Parsed<CSeq> cseq = parse_cseq(value);
  ASSERT_TRUE(cseq.ok()) << describe(cseq.error);
  EXPECT_EQ(cseq.value.number, 9u);
  EXPECT_EQ(cseq.value.method, Method::Invite);
  EXPECT_EQ(cseq.value.method_text, "INVITE");
}

TEST(CSeq, ThirtyTwoBitRange) {
  const Parsed<CSeq> max = parse_cseq("4294967295 INVITE");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max.value.number, 4294967295u);
  const Parsed<CSeq> zero = parse_cseq("0 ACK");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero.value.number, 0u);
  EXPECT_EQ(zero.value.method, Method::Ack);
  EXPECT_EQ(parse_cseq("4294967296 INVITE").error, ParseError::BadCSeq);
}

TEST(CSeq, Scalar02HugeNumberIsRefused) {
  const std::string value = corpus_header_value("rfc4475/scalar02.dat", "CSeq");
  ASSERT_EQ(value, "36893488147419103232 REGISTER");
  EXPECT_EQ(parse_cseq(value).error, ParseError::BadCSeq);
}

TEST(CSeq, ExtensionAndCaseSensitiveMethods) {
  const std::string value = corpus_header_value("rfc4475/intmeth.dat", "CSeq");
  const Parsed<CSeq> odd = parse_cseq(value);
  ASSERT_TRUE(odd.ok()) << value;
  EXPECT_EQ(odd.value.number, 139122385u);
  EXPECT_EQ(odd.value.method, Method::Extension);
  EXPECT_EQ(odd.value.method_text, "!interesting-Method0123456789_*+`.%indeed'~");

  const Parsed<CSeq> lower = parse_cseq("8 invite");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower.value.method, Method::Extension);
  EXPECT_EQ(lower.value.method_text, "invite");

  const Parsed<CSeq> subscribe = parse_cseq("  1\tSUBSCRIBE ");
  ASSERT_TRUE(subscribe.ok());
  EXPECT_EQ(subscribe.value.method, Method::Subscribe);
}

TEST(CSeq, Malformed) {
  EXPECT_EQ(parse_cseq("").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("INVITE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8 ").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8INVITE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("-1 INVITE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("1.5 INVITE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8 INVITE BYE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8 INV@ITE").error, ParseError::BadCSeq);
  EXPECT_EQ(parse_cseq("8 INVITE;x").error, ParseError::BadCSeq);
}

TEST(MaxForwards, Values) {
  const std::string value = corpus_header_value("rfc4475/wsinv.dat", "MaX-fOrWaRdS");
  ASSERT_EQ(value, "0068");
  const Parsed<std::uint8_t> hops = parse_max_forwards(value);
  ASSERT_TRUE(hops.ok());
  EXPECT_EQ(hops.value, 68);
  EXPECT_EQ(parse_max_forwards("0").value, 0);
  EXPECT_EQ(parse_max_forwards("255").value, 255);
  EXPECT_TRUE(parse_max_forwards("255").ok());
  EXPECT_EQ(parse_max_forwards("256").error, ParseError::BadMaxForwards);
  EXPECT_EQ(parse_max_forwards(corpus_header_value("rfc4475/scalar02.dat", "Max-Forwards")).error,
            ParseError::BadMaxForwards);
  EXPECT_EQ(parse_max_forwards("-1").error, ParseError::BadMaxForwards);
  EXPECT_EQ(parse_max_forwards("").error, ParseError::BadMaxForwards);
  EXPECT_EQ(parse_max_forwards("7 0").error, ParseError::BadMaxForwards);
  EXPECT_EQ(parse_max_forwards("0x10").error, ParseError::BadMaxForwards);
}

TEST(ContentLength, Values) {
  EXPECT_EQ(
      parse_content_length(corpus_header_value("rfc4475/wsinv.dat", "Content-Length   ")).value,
      150u);
  const Parsed<std::uint32_t> padded = parse_content_length("0150");
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(padded.value, 150u);
  EXPECT_EQ(parse_content_length("0").value, 0u);
  const Parsed<std::uint32_t> max = parse_content_length("65535");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max.value, 65535u);
  EXPECT_EQ(parse_content_length("65536").error, ParseError::BadContentLength);
  EXPECT_EQ(parse_content_length("99999999999999999999").error, ParseError::BadContentLength);
  EXPECT_EQ(parse_content_length(corpus_header_value("rfc4475/ncl.dat", "Content-Length")).error,
            ParseError::BadContentLength);
  EXPECT_EQ(parse_content_length("").error, ParseError::BadContentLength);
  EXPECT_EQ(parse_content_length("+5").error, ParseError::BadContentLength);
}

TEST(Expires, Values) {
  EXPECT_EQ(
      parse_expires(corpus_header_value("carrier/register-carrier-auth.sip", "Expires")).value,
      3600u);
  const Parsed<std::uint32_t> max = parse_expires("4294967295");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max.value, 4294967295u);
  EXPECT_TRUE(parse_expires("0").ok());
  EXPECT_EQ(parse_expires("4294967296").error, ParseError::BadExpires);
  EXPECT_EQ(parse_expires(corpus_header_value("rfc4475/scalar02.dat", "Expires")).error,
            ParseError::BadExpires);
  EXPECT_EQ(parse_expires("").error, ParseError::BadExpires);
  EXPECT_EQ(parse_expires("Thu, 01 Dec 1994 16:00:00 GMT").error, ParseError::BadExpires);
}

}  // namespace
}  // namespace sipline::sip

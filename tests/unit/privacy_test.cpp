#include "sip/privacy.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

using test::parse_ok;

std::string invite_with(const std::string& lines) {
  return "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-privacy\r\n"
         "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
         "To: <sip:bob@biloxi.example.com>\r\n"
         "Call-ID: privacy@192.0.2.1\r\n"
         "CSeq: 1 INVITE\r\n" +
         lines + "Content-Length: 0\r\n\r\n";
}

TEST(Privacy, IdAmongTheValuesWithholdsTheIdentity) {
  EXPECT_TRUE(withholds_identity(*parse_ok(invite_with("Privacy: id\r\n"))));
  EXPECT_TRUE(withholds_identity(*parse_ok(invite_with("Privacy: header; ID ;user\r\n"))));
  EXPECT_TRUE(withholds_identity(*parse_ok(invite_with("Privacy: none\r\nPrivacy: id\r\n"))));
  EXPECT_FALSE(withholds_identity(*parse_ok(invite_with("Privacy: none\r\n"))));
  EXPECT_FALSE(withholds_identity(*parse_ok(invite_with("Privacy: header;user;idx\r\n"))));
  EXPECT_FALSE(withholds_identity(*parse_ok(invite_with(""))));
}

TEST(Privacy, EitherIdentityHeaderIsCarried) {
  EXPECT_TRUE(
      carries_identity(*parse_ok(invite_with("P-Asserted-Identity: <tel:+15551230000>\r\n"))));
  EXPECT_TRUE(carries_identity(
      *parse_ok(invite_with("P-Preferred-Identity: <sip:a@atlanta.example.com>\r\n"))));
  EXPECT_FALSE(carries_identity(*parse_ok(invite_with("Privacy: id\r\n"))));
}

}  // namespace
}  // namespace sipline::sip

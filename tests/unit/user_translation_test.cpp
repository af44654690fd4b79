#include "sip/user_translation.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sip/message.hpp"

namespace sipline::sip {
namespace {

struct HeldMessage : Message {
  std::string bytes;
};

// An INVITE to `uri`, parsed as the proxy parses it (Message is large: on the heap).
std::unique_ptr<HeldMessage> invite(const std::string& uri) {
  auto held = std::make_unique<HeldMessage>();
  held->bytes = "INVITE " + uri +
                " SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-ut1\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:1001@sipline.local>;tag=f1\r\n"
                "To: <" +
                uri +
                ">\r\n"
                "Call-ID: ut-1@192.0.2.10\r\n"
                "CSeq: 1 INVITE\r\n"
                "Content-Length: 0\r\n\r\n";
  parse_message_into(*held, held->bytes, ParseScope::Proxy);
  EXPECT_TRUE(held->ok()) << describe(held->error) << "\n" << held->bytes;
  return held;
}

TEST(TranslateUser, StripsAndPrependsOnlyTheUser) {
  const auto request = invite("sip:+4420712345001@trunk.example:5080;user=phone");
  const TranslatedUri translated = translate_user(*request, 9, "");
  ASSERT_EQ(translated.result, Translation::Translated);
  EXPECT_EQ(translated.uri(), "sip:45001@trunk.example:5080;user=phone");
  EXPECT_EQ(translated.user(), "45001");

  const TranslatedUri national = translate_user(*request, 3, "0");
  ASSERT_EQ(national.result, Translation::Translated);
  EXPECT_EQ(national.uri(), "sip:020712345001@trunk.example:5080;user=phone");
  EXPECT_EQ(national.user(), "020712345001");
}

TEST(TranslateUser, PrependOnlyAndIpv6Host) {
  const auto request = invite("sips:2071234500@[2001:db8::5]");
  const TranslatedUri translated = translate_user(*request, 0, "+44");
  ASSERT_EQ(translated.result, Translation::Translated);
  EXPECT_EQ(translated.uri(), "sips:+442071234500@[2001:db8::5]");
  EXPECT_EQ(translated.user(), "+442071234500");
}

TEST(TranslateUser, TelUriNumber) {
  const auto request = invite("tel:+4420712345001;phone-context=example.com");
  const TranslatedUri translated = translate_user(*request, 3, "0");
  ASSERT_EQ(translated.result, Translation::Translated);
  EXPECT_EQ(translated.uri(), "tel:020712345001;phone-context=example.com");
}

// The user is counted as written: an escape stays an escape (§19.1.4).
TEST(TranslateUser, EscapesCountAsWritten) {
  const auto request = invite("sip:9%23100@sipline.local");
  const TranslatedUri translated = translate_user(*request, 1, "");
  ASSERT_EQ(translated.result, Translation::Translated);
  EXPECT_EQ(translated.user(), "%23100");
}

TEST(TranslateUser, NothingLeftIsEmpty) {
  const auto request = invite("sip:9@sipline.local");
  EXPECT_EQ(translate_user(*request, 1, "").result, Translation::Empty);
  EXPECT_EQ(translate_user(*request, 4, "").result, Translation::Empty);
  const TranslatedUri replaced = translate_user(*request, 1, "100");
  ASSERT_EQ(replaced.result, Translation::Translated);
  EXPECT_EQ(replaced.uri(), "sip:100@sipline.local");
}

TEST(TranslateUser, NoUserPartIsLeftAlone) {
  const auto request = invite("sip:sipline.local");
  EXPECT_EQ(translate_user(*request, 0, "+44").result, Translation::NoUser);
}

TEST(TranslateUser, TooLongForTheBuffer) {
  const std::string long_params(kMaxTranslatedUriSize - 30, 'p');
  const auto request = invite("sip:1001@sipline.local;x=" + long_params);
  EXPECT_EQ(translate_user(*request, 0, "").result, Translation::Translated);
  EXPECT_EQ(translate_user(*request, 0, "+4420712345").result, Translation::TooLong);
}

// A call placed by service is dialled as a number at our domain, then translated alike.
TEST(DialledNumberUri, IsTheNumberAtTheHostTranslatedByTheRoute) {
  const TranslatedUri plain = dialled_number_uri("112", "sipline.test", 0, "");
  ASSERT_EQ(plain.result, Translation::Translated);
  EXPECT_EQ(plain.uri(), "sip:112@sipline.test");
  EXPECT_EQ(plain.user(), "112");
  const TranslatedUri prefixed = dialled_number_uri("112", "[2001:db8::1]", 1, "+491");
  ASSERT_EQ(prefixed.result, Translation::Translated);
  EXPECT_EQ(prefixed.uri(), "sip:+49112@[2001:db8::1]");
  EXPECT_EQ(prefixed.user(), "+49112");
  EXPECT_EQ(dialled_number_uri("112", "h", 3, "").result, Translation::Empty);
  EXPECT_EQ(dialled_number_uri("", "h", 0, "").result, Translation::Empty);
  const std::string long_host(kMaxTranslatedUriSize - 8, 'h');
  EXPECT_EQ(dialled_number_uri("112", long_host, 0, "").result, Translation::Translated);
  EXPECT_EQ(dialled_number_uri("112", long_host, 0, "+4").result, Translation::TooLong);
  EXPECT_EQ(dialled_number_uri("112", long_host + "hh", 0, "").result, Translation::TooLong);
}

}  // namespace
}  // namespace sipline::sip

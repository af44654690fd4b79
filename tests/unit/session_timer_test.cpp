// RFC 4028's header fields: Session-Expires (with its refresher) and Min-SE, and what a proxy
// reads from a message (sip/session_timer.hpp).
#include <gtest/gtest.h>

#include <string>

#include "sip/message.hpp"
#include "sip/session_timer.hpp"

namespace sipline::sip {
namespace {

TEST(SessionExpires, DeltaSecondsAndTheRefresher) {
  const Parsed<SessionExpires> plain = parse_session_expires("1800");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.value.seconds, 1800u);
  EXPECT_EQ(plain.value.refresher, Refresher::Unspecified);
  const Parsed<SessionExpires> uac = parse_session_expires("4000 ; refresher = UAC;x=1");
  ASSERT_TRUE(uac.ok());
  EXPECT_EQ(uac.value.seconds, 4000u);
  EXPECT_EQ(uac.value.refresher, Refresher::Uac);
  EXPECT_EQ(parse_session_expires("90;refresher=uas").value.refresher, Refresher::Uas);
}

TEST(SessionExpires, MalformedValuesAreRefused) {
  EXPECT_EQ(parse_session_expires("").error, ParseError::BadExpires);
  EXPECT_EQ(parse_session_expires("soon").error, ParseError::BadExpires);
  EXPECT_EQ(parse_session_expires("-5").error, ParseError::BadExpires);
  EXPECT_EQ(parse_session_expires("99999999999").error, ParseError::BadExpires);
  EXPECT_EQ(parse_session_expires("1800;;refresher=uac").error, ParseError::BadExpires);
  EXPECT_EQ(parse_session_expires("1800;refresher=both").error, ParseError::BadParam);
}

TEST(MinSe, DeltaSecondsWithGenericParams) {
  EXPECT_EQ(parse_min_se("600").value, 600u);
  EXPECT_EQ(parse_min_se(" 120 ;lr").value, 120u);
  EXPECT_FALSE(parse_min_se("x").ok());
}

Message parsed(const std::string& headers) {
  static std::string text;
  text =
      "INVITE sip:1002@sipline.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n"
      "From: <sip:1001@sipline.local>;tag=1\r\nTo: <sip:1002@sipline.local>\r\n"
      "Call-ID: st@192.0.2.10\r\nCSeq: 1 INVITE\r\n" +
      headers + "Content-Length: 0\r\n\r\n";
  Message message = parse_message(text);
  EXPECT_TRUE(message.ok()) << text;
  return message;
}

TEST(SessionTimerOfAMessage, TheIntervalNeverBelowNinetySeconds) {
  EXPECT_EQ(session_interval(parsed("")), 0u);
  EXPECT_EQ(session_interval(parsed("Session-Expires: 1800;refresher=uac\r\n")), 1800u);
  EXPECT_EQ(session_interval(parsed("x: 300\r\n")), 300u) << "the compact form";
  EXPECT_EQ(session_interval(parsed("Session-Expires: 30\r\n")), 90u);
  EXPECT_EQ(session_interval(parsed("Session-Expires: never\r\n")), 0u);
  EXPECT_EQ(min_session_interval(parsed("")), 90u);
  EXPECT_EQ(min_session_interval(parsed("Min-SE: 1200\r\n")), 1200u);
  EXPECT_EQ(min_session_interval(parsed("Min-SE: 10\r\n")), 90u);
}

TEST(SessionTimerOfAMessage, SupportedTimerOnAnyLine) {
  EXPECT_FALSE(supports_session_timer(parsed("")));
  EXPECT_FALSE(supports_session_timer(parsed("Supported: replaces, timers\r\n")));
  EXPECT_TRUE(supports_session_timer(parsed("Supported: replaces\r\nk: path, Timer\r\n")));
}

}  // namespace
}  // namespace sipline::sip

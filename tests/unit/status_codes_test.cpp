#include "sip/status_codes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sipline::sip {
namespace {

constexpr std::uint16_t kRegisteredCodes[] = {
    100, 180, 181, 182, 183, 199, 200, 202, 204, 300, 301, 302, 305, 380, 400, 401, 402, 403, 404,
    405, 406, 407, 408, 410, 412, 413, 414, 415, 416, 417, 420, 421, 422, 423, 424, 428, 429, 430,
    433, 436, 437, 438, 439, 440, 469, 470, 480, 481, 482, 483, 484, 485, 486, 487, 488, 489, 491,
    493, 494, 500, 501, 502, 503, 504, 505, 513, 555, 580, 600, 603, 604, 606, 607, 608};

// 417 is "Unknown Resource-Priority", so "starts with Unknown" is not the test.
constexpr std::string_view kClassDefaults[] = {"Unknown Provisional",  "Unknown Success",
                                               "Unknown Redirection",  "Unknown Client Error",
                                               "Unknown Server Error", "Unknown Global Failure"};

TEST(StatusCodes, EveryRegisteredCodeHasItsOwnPhrase) {
  for (std::uint16_t code : kRegisteredCodes) {
    SCOPED_TRACE(code);
    const std::string_view phrase = reason_phrase(code);
    EXPECT_FALSE(phrase.empty());
    for (std::string_view class_default : kClassDefaults)
      EXPECT_NE(phrase, class_default);
    EXPECT_TRUE(is_registered_status(code));
  }
}

TEST(StatusCodes, RegistryHasExactlyTheListedCodes) {
  int registered = 0;
  for (std::uint16_t code = 0; code < 1000; ++code)
    registered += is_registered_status(code);
  EXPECT_EQ(registered, static_cast<int>(std::size(kRegisteredCodes)));
}

TEST(StatusCodes, ExactPhrasesFromRfc3261) {
  EXPECT_EQ(reason_phrase(100), "Trying");
  EXPECT_EQ(reason_phrase(180), "Ringing");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(302), "Moved Temporarily");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(407), "Proxy Authentication Required");
  EXPECT_EQ(reason_phrase(481), "Call/Transaction Does Not Exist");
  EXPECT_EQ(reason_phrase(482), "Loop Detected");
  EXPECT_EQ(reason_phrase(483), "Too Many Hops");
  EXPECT_EQ(reason_phrase(500), "Server Internal Error");
  EXPECT_EQ(reason_phrase(504), "Server Time-out");
  EXPECT_EQ(reason_phrase(604), "Does Not Exist Anywhere");
}

TEST(StatusCodes, ExactPhrasesFromLaterRfcs) {
  EXPECT_EQ(reason_phrase(199), "Early Dialog Terminated");
  EXPECT_EQ(reason_phrase(204), "No Notification");
  EXPECT_EQ(reason_phrase(429), "Provide Referrer Identity");
  EXPECT_EQ(reason_phrase(430), "Flow Failed");
  EXPECT_EQ(reason_phrase(433), "Anonymity Disallowed");
  EXPECT_EQ(reason_phrase(436), "Bad Identity Info");
  EXPECT_EQ(reason_phrase(437), "Unsupported Credential");
  EXPECT_EQ(reason_phrase(438), "Invalid Identity Header");
  EXPECT_EQ(reason_phrase(439), "First Hop Lacks Outbound Support");
  EXPECT_EQ(reason_phrase(440), "Max-Breadth Exceeded");
  EXPECT_EQ(reason_phrase(469), "Bad Info Package");
  EXPECT_EQ(reason_phrase(470), "Consent Needed");
  EXPECT_EQ(reason_phrase(494), "Security Agreement Required");
  EXPECT_EQ(reason_phrase(555), "Push Notification Service Not Supported");
  EXPECT_EQ(reason_phrase(580), "Precondition Failure");
  EXPECT_EQ(reason_phrase(607), "Unwanted");
  EXPECT_EQ(reason_phrase(608), "Rejected");
}

TEST(StatusCodes, UnregisteredCodesGetTheirClassDefault) {
  EXPECT_EQ(reason_phrase(101), "Unknown Provisional");
  EXPECT_EQ(reason_phrase(198), "Unknown Provisional");
  EXPECT_EQ(reason_phrase(299), "Unknown Success");
  EXPECT_EQ(reason_phrase(399), "Unknown Redirection");
  EXPECT_EQ(reason_phrase(409), "Unknown Client Error");  // RFC 2543 only, not registered
  EXPECT_EQ(reason_phrase(599), "Unknown Server Error");
  EXPECT_EQ(reason_phrase(699), "Unknown Global Failure");
  EXPECT_FALSE(is_registered_status(409));
  EXPECT_FALSE(is_registered_status(699));
}

TEST(StatusCodes, OutOfRangeIsEmpty) {
  EXPECT_EQ(reason_phrase(0), "");
  EXPECT_EQ(reason_phrase(99), "");
  EXPECT_EQ(reason_phrase(700), "");
  EXPECT_EQ(reason_phrase(65535), "");
  EXPECT_FALSE(is_registered_status(0));
  EXPECT_FALSE(is_registered_status(700));
}

TEST(StatusCodes, Classes) {
  EXPECT_TRUE(is_provisional(100));
  EXPECT_TRUE(is_provisional(199));
  EXPECT_FALSE(is_provisional(200));
  EXPECT_FALSE(is_final(199));
  EXPECT_TRUE(is_final(200));
  EXPECT_TRUE(is_final(699));
  EXPECT_FALSE(is_final(700));
}

}  // namespace
}  // namespace sipline::sip

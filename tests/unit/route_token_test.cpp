#include "sip/route_token.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipline::sip {
namespace {

const SipHashKey kKey = route_token_key("0123456789abcdef0123456789abcdef");

std::string text(const std::array<char, kRouteTokenSize>& token) {
  return {token.data(), token.size()};
}

TEST(RouteToken, IsSixteenLowerCaseHexDigitsOfTheCallId) {
  const std::string token = text(route_token(kKey, "a84b4c76e66710@pc33"));
  ASSERT_EQ(token.size(), 16u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
  EXPECT_EQ(token, text(route_token(kKey, "a84b4c76e66710@pc33")));  // deterministic
  EXPECT_NE(token, text(route_token(kKey, "a84b4c76e66710@pc34")));
  EXPECT_NE(token, text(route_token(route_token_key("another secret, as long as it"),
                                    "a84b4c76e66710@pc33")));
}

TEST(RouteToken, MatchesItsCallIdOnly) {
  const std::string token = text(route_token(kKey, "call-1@host"));
  EXPECT_TRUE(route_token_matches(kKey, "call-1@host", token));
  std::string upper = token;
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(route_token_matches(kKey, "call-1@host", upper));
  EXPECT_FALSE(route_token_matches(kKey, "call-2@host", token));
  EXPECT_FALSE(route_token_matches(kKey, "call-1@host", token.substr(0, 15)));
  EXPECT_FALSE(route_token_matches(kKey, "call-1@host", token + "0"));
  EXPECT_FALSE(route_token_matches(kKey, "call-1@host", ""));
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string changed = token;
    changed[i] = changed[i] == '0' ? '1' : '0';
    EXPECT_FALSE(route_token_matches(kKey, "call-1@host", changed)) << i;
  }
}

}  // namespace
}  // namespace sipline::sip

#include "sip/substring_set.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sipline::sip {
namespace {

TEST(SubstringSet, FindsANameAnywhereExactly) {
  const SubstringSet scanners({"friendly", "scanner", "sipcli", "VaxSIPUserAgent"});
  EXPECT_TRUE(scanners.found_in("friendly-scanner"));
  EXPECT_TRUE(scanners.found_in("my scanner 2"));
  EXPECT_TRUE(scanners.found_in("x sipcli/v1.8"));
  EXPECT_TRUE(scanners.found_in("VaxSIPUserAgent/3.1"));
  EXPECT_TRUE(scanners.found_in("sipclisipcli"));
  EXPECT_FALSE(scanners.found_in("Friendly PBX"));  // case counts
  EXPECT_FALSE(scanners.found_in("sipcl"));         // cut short at the end
  EXPECT_FALSE(scanners.found_in("scan ner"));
  EXPECT_FALSE(scanners.found_in("Linphone/5.2.0 (belle-sip/5.2.0)"));
  EXPECT_FALSE(scanners.found_in(""));
  EXPECT_TRUE(SubstringSet(std::vector<std::string>{}).empty());
  EXPECT_FALSE(SubstringSet(std::vector<std::string>{}).found_in("friendly-scanner"));
  EXPECT_TRUE(
      SubstringSet(std::vector<std::string>{""}).empty());  // an empty name would match everything
}

}  // namespace
}  // namespace sipline::sip

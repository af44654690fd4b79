#include "sip/call_id_scan.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sip/message.hpp"

namespace sipline::sip {
namespace {

TEST(CallIdScan, FindsLongAndCompactForms) {
  EXPECT_EQ(scan_call_id("BYE sip:a@b SIP/2.0\r\nVia: x\r\nCall-ID:  abc@host \r\n\r\n"),
            "abc@host");
  EXPECT_EQ(scan_call_id("SIP/2.0 200 OK\r\ni:xyz\r\n\r\n"), "xyz");
  EXPECT_EQ(scan_call_id("SIP/2.0 200 OK\r\nCALL-id : q\r\n\r\n"), "q");
}

TEST(CallIdScan, IgnoresBodyFoldsAndLookalikes) {
  EXPECT_EQ(scan_call_id("OPTIONS sip:a SIP/2.0\r\nX-Call-ID: no\r\n\r\nCall-ID: body\r\n"), "");
  EXPECT_EQ(
      scan_call_id("OPTIONS sip:a SIP/2.0\r\nSubject: a\r\n i: folded\r\nCall-ID: yes\r\n\r\n"),
      "yes");
  EXPECT_EQ(scan_call_id("garbage"), "");
  EXPECT_EQ(scan_call_id(""), "");
  EXPECT_EQ(scan_call_id("OPTIONS sip:a SIP/2.0\r\nCall-ID"), "");
}

TEST(CallIdScan, AgreesWithTheFullParserOnTheWholeCorpus) {
  int compared = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SIPLINE_CORPUS_DIR)) {
    const auto extension = entry.path().extension();
    if (extension != ".dat" && extension != ".sip") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string data = bytes.str();
    const Message message = parse_message(data);
    if (!message.ok()) continue;
    EXPECT_EQ(scan_call_id(data), message.call_id) << entry.path();
    ++compared;
  }
  EXPECT_GT(compared, 40);
}

TEST(CallIdScan, OwnerIsStableAndSpreads) {
  EXPECT_EQ(owner_of("anything", 1), 0u);
  EXPECT_EQ(owner_of("call-1@host", 4), owner_of("call-1@host", 4));
  int per_worker[4] = {};
  for (int i = 0; i < 4000; ++i)
    ++per_worker[owner_of("call-" + std::to_string(i), 4)];
  for (int count : per_worker)
    EXPECT_GT(count, 800);
}

}  // namespace
}  // namespace sipline::sip

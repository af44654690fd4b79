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

// The scan finds LFs 64 octets at a time and takes a Call-ID line's end from the same
// bitmap when it lies in the same block: every placement of the line across a block edge,
// after a start line of every length up to two blocks, with and without leading CRLFs.
TEST(CallIdScan, FindsTheValueWhereverTheLineMeetsABlockEdge) {
  for (const std::string lead : {"", "\r\n"}) {
    for (std::size_t pad = 0; pad < 140; ++pad) {
      const std::string data = lead + "OPTIONS sip:" + std::string(pad, 'a') +
                               "@b SIP/2.0\r\nVia: x\r\nCall-ID: c-" + std::to_string(pad) +
                               "@h\r\nCSeq: 1 OPTIONS\r\n\r\n";
      EXPECT_EQ(scan_call_id(data), "c-" + std::to_string(pad) + "@h") << data;
      // The datagram ending right after the value: no LF after it.
      const std::string cut = data.substr(0, data.find("@h\r\n") + 2);
      EXPECT_EQ(scan_call_id(cut), "c-" + std::to_string(pad) + "@h") << cut;
    }
  }
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

// Found by fuzz_pipeline: the parser ignores CRLFs before the start line (§7.5), so the
// scan must too, or such a message is processed away from the worker that owns its call.
TEST(CallIdScan, SkipsEmptyLinesBeforeTheStartLineLikeTheParser) {
  for (const std::string prefix : {"\r\n", "\r\n\n", "\n\r\n\r\n"}) {
    const std::string data = prefix +
                             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                             "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: lead@h\r\n"
                             "CSeq: 2 CANCEL\r\nContent-Length: 0\r\n\r\n";
    const Message message = parse_message(data);
    ASSERT_TRUE(message.ok()) << describe(message.error);
    EXPECT_EQ(scan_call_id(data), "lead@h");
    EXPECT_EQ(scan_call_id(data), message.call_id);
  }
  EXPECT_EQ(scan_call_id("\r\n\r\n"), "");
}

// Found by fuzz_pipeline: "Call-ID:" CRLF SP value is a legal fold (§7.3.1); the scan
// returned "" for it while the parser read the value.
TEST(CallIdScan, ReadsAValueFoldedOntoTheNextLineLikeTheParser) {
  for (const std::string header :
       {"Call-ID:\r\n fold@h\r\n", "Call-ID:\r\n\t  fold@h \r\n", "i: \r\n \r\n fold@h\r\n"}) {
    const std::string data =
        "BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n" +
        header + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    const Message message = parse_message(data);
    ASSERT_TRUE(message.ok()) << describe(message.error) << " for " << header;
    EXPECT_EQ(message.call_id, "fold@h");
    EXPECT_EQ(scan_call_id(data), message.call_id) << header;
  }
}

TEST(CallIdScan, OwnerIsStableAndSpreads) {
  EXPECT_EQ(owner_of("anything", 1), 0u);
  // dataplane.dispatchers: the first D workers never own; no room for an owner: all own.
  for (int i = 0; i < 200; ++i) {
    const std::string call_id = "call-" + std::to_string(i);
    EXPECT_GE(owner_of(call_id, 4, 1), 1u);
    EXPECT_LT(owner_of(call_id, 4, 1), 4u);
    EXPECT_EQ(owner_of(call_id, 4, 3), 3u);
    EXPECT_EQ(owner_of(call_id, 4, 4), owner_of(call_id, 4));
  }
  EXPECT_EQ(owner_of("call-1@host", 4), owner_of("call-1@host", 4));
  int per_worker[4] = {};
  for (int i = 0; i < 4000; ++i)
    ++per_worker[owner_of("call-" + std::to_string(i), 4)];
  for (int count : per_worker)
    EXPECT_GT(count, 800);
}

// The owner of a received datagram: its call's owner; the receiver when it has no Call-ID;
// the one owner of every call without looking (so even a datagram without a Call-ID).
TEST(CallIdScan, DatagramOwner) {
  const std::string no_call_id = "OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n";
  EXPECT_EQ(datagram_owner(no_call_id, 1, 0, 0), 0u);
  EXPECT_EQ(datagram_owner(no_call_id, 2, 1, 0), 1u);
  EXPECT_EQ(datagram_owner(no_call_id, 4, 3, 2), 3u);
  EXPECT_EQ(datagram_owner(no_call_id, 4, 0, 2), 2u);
  EXPECT_EQ(datagram_owner(no_call_id, 4, 1, 0), 0u);
  for (int i = 0; i < 200; ++i) {
    const std::string call_id = "call-" + std::to_string(i);
    const std::string datagram = "BYE sip:a@b SIP/2.0\r\nCall-ID: " + call_id + "\r\n\r\n";
    EXPECT_EQ(datagram_owner(datagram, 1, 0, 0), 0u);
    EXPECT_EQ(datagram_owner(datagram, 2, 1, 0), 1u);
    EXPECT_EQ(datagram_owner(datagram, 4, 0, 1), owner_of(call_id, 4));
    EXPECT_EQ(datagram_owner(datagram, 4, 2, 1), owner_of(call_id, 4, 2));
    EXPECT_EQ(datagram_owner(datagram, 4, 4, 3), owner_of(call_id, 4));
  }
}

}  // namespace
}  // namespace sipline::sip

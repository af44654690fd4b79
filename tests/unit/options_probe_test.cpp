// The OPTIONS request the health prober originates (sip/options_probe.hpp): exact bytes, and
// a request our own parser and proxy rules accept as a complete §8.1.1 request.
#include "sip/options_probe.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "sip/branch.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

OptionsProbe probe(std::string_view branch) {
  OptionsProbe options;
  options.target_uri = "sip:10.0.0.11:5060";
  options.sent_by = "10.99.0.1:5060";
  options.branch = branch;
  options.from_uri = "sip:sipline@sipline.local";
  options.from_tag = "0123456789abcdef";
  options.call_id = "sl-probe-0000000100000003-0123456789abcdef";
  options.cseq = 3;
  return options;
}

TEST(OptionsProbe, WritesACompleteRequestOfOurOwn) {
  const Branch branch = signed_branch(0x100000003ull, BranchKey{77});
  std::array<char, 1024> buffer;
  const Written written = write_options_probe(probe(branch.view()), buffer);
  ASSERT_TRUE(written.ok());
  const std::string text(buffer.data(), written.size);
  EXPECT_EQ(text,
            "OPTIONS sip:10.0.0.11:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.99.0.1:5060;branch=" +
                std::string(branch.view()) +
                ";rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:sipline@sipline.local>;tag=0123456789abcdef\r\n"
                "To: <sip:10.0.0.11:5060>\r\n"
                "Call-ID: sl-probe-0000000100000003-0123456789abcdef\r\n"
                "CSeq: 3 OPTIONS\r\n"
                "Accept: application/sdp\r\n"
                "User-Agent: sipline\r\n"
                "Content-Length: 0\r\n\r\n");
  const auto parsed = test::parse_ok(text);
  EXPECT_EQ(parsed->method, Method::Options);
  EXPECT_EQ(parsed->cseq.number, 3u);
  EXPECT_EQ(parsed->top_via.branch, branch.view());
  EXPECT_TRUE(parsed->from.has_tag);
  EXPECT_FALSE(parsed->to.has_tag);
  EXPECT_EQ(parsed->max_forwards, 70);
}

TEST(OptionsProbe, ABufferTooSmallIsSaid) {
  const Branch branch = signed_branch(1, BranchKey{77});
  std::array<char, 100> buffer;
  EXPECT_EQ(write_options_probe(probe(branch.view()), buffer).error, WriteError::BufferTooSmall);
}

}  // namespace
}  // namespace sipline::sip

// Fast paths of the parser that stand beside a general rule, and the one assumption the
// message parser makes about the parsed-value structs:
//   - the Via common form ("SIP/2.0/UDP host:port;params", no LWS, no quotes, sip/via.cpp) must
//     give exactly what the general rule gives, or step aside: both run on every Via of the
//     corpus, on the inputs of via_test.cpp, and on systematic edits of them;
//   - for_each_common_param (sip/header_scanner.hpp) must yield the parameters, and the token
//     test of their values, exactly as for_each_header_param and is_token do;
//   - the vector scans of sip/text.hpp and sip/token_run.hpp must find what an octet loop
//     finds, for every length and position (their last chunk overlaps, short ranges are
//     compared octet by octet), and the token class test must agree with is_token_char on
//     all 256 octets;
//   - Uri{}, Via{} and NameAddr{} are all zero octets (Message's reset clears them that way).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "sip/header_scanner.hpp"
#include "sip/name_addr.hpp"
#include "sip/parse_in_place.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"
#include "sip/token_run.hpp"
#include "sip/uri.hpp"
#include "sip/via.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

// Views are compared by position and length: both paths must point at the same octets.
bool same_view(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || a.data() == b.data());
}

void expect_same_via(const Via& fast, const Via& general, std::string_view input) {
  SCOPED_TRACE(std::string(input));
  EXPECT_TRUE(same_view(fast.protocol_name, general.protocol_name));
  EXPECT_TRUE(same_view(fast.protocol_version, general.protocol_version));
  EXPECT_TRUE(same_view(fast.transport, general.transport));
  EXPECT_TRUE(same_view(fast.sent_by.host, general.sent_by.host));
  EXPECT_EQ(fast.sent_by.kind, general.sent_by.kind);
  EXPECT_EQ(fast.sent_by.port, general.sent_by.port);
  EXPECT_EQ(fast.sent_by.has_port, general.sent_by.has_port);
  EXPECT_TRUE(same_view(fast.branch, general.branch));
  EXPECT_TRUE(same_view(fast.received, general.received));
  EXPECT_TRUE(same_view(fast.maddr, general.maddr));
  EXPECT_EQ(fast.rport, general.rport);
  EXPECT_EQ(fast.ttl, general.ttl);
  EXPECT_EQ(fast.has_branch, general.has_branch);
  EXPECT_EQ(fast.has_rport, general.has_rport);
  EXPECT_EQ(fast.has_ttl, general.has_ttl);
  EXPECT_EQ(fast.param_count, general.param_count);
  EXPECT_EQ(fast.rport_count, general.rport_count);
  EXPECT_EQ(fast.last_rport_valueless, general.last_rport_valueless);
  EXPECT_TRUE(same_view(fast.params, general.params));
}

// Runs both paths on `input`; true when the fast path took it.
bool compare_paths(std::string_view input) {
  Via general;
  const ParseError general_error = parse_via_general(input, general);
  Via fast;
  const bool taken = parse_via_common_form(input, fast);
  if (taken) {
    EXPECT_EQ(general_error, ParseError::None) << input;
    expect_same_via(fast, general, input);
  } else {
    expect_same_via(fast, Via{}, input);  // stepped aside without leaving anything behind
  }
  // What callers get (fast path first, general rule otherwise) is the general rule's result.
  const Parsed<Via> combined = parse_via(input);
  EXPECT_EQ(combined.error, general_error) << input;
  expect_same_via(combined.value, general, input);
  return taken;
}

// Every Via element (split as the message parser splits them) of every corpus file.
std::vector<std::string> corpus_vias() {
  std::vector<std::string> vias;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SIPLINE_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    const std::string relative =
        std::filesystem::relative(entry.path(), SIPLINE_CORPUS_DIR).string();
    const auto message = test::parse_held(test::read_corpus(relative));
    for (const HeaderField* field = message->find(HeaderId::Via); field != nullptr;
         field = message->next(*field)) {
      ListCursor elements(field->value);
      while (const std::optional<std::string_view> element = elements.next())
        vias.emplace_back(*element);
    }
  }
  return vias;
}

// The Via texts of via_test.cpp, accepted and refused ones.
const std::vector<std::string> kViaTestInputs = {
    "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
    "SIP/2.0/UDP 192.0.2.15;",
    "SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK1;",
    "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
    "SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111;received=2001:db8::9:255",
    "SIP/2.0/UDP [::1]",
    "SIP/2.0/UDP [::ffff:192.0.2.1]:5060",
    "SIP/2.0/UDP [2001:db8:0:0:0:0:0:1]",
    "SIP/2.0/UDP h;received=[2001:db8::1]",
    "SIP/2.0/UDP [2001:db8::g]",
    "SIP/2.0/UDP [2001:db8::1",
    "SIP/2.0/UDP [1:2:3:4:5:6:7:8:9]",
    "SIP/2.0/UDP [1::2::3]",
    "SIP/2.0/UDP []",
    "SIP/2.0/UDP 2001:db8::1",
    "SIP/2.0/TCP host.example.com:65535",
    "SIP/2.0/TCP host.example.com:65536",
    "SIP/2.0/TCP host.example.com:",
    "SIP/2.0/TCP host.example.com:50a",
    "SIP/2.0/TCP host.example.com:-1",
    "SIP/2.0/UDP host.example.com : 5070 ;branch=z9hG4bKx",
    "SIP/2.0/UDP 10.0.0.1;maddr=224.2.0.1;ttl=16;branch=z9hG4bKm;x-ext=1",
    "SIP/2.0/UDP 10.0.0.1;ttl=255;maddr=sip.example.com",
    "SIP/2.0/UDP 10.0.0.1;ttl=256",
    "SIP/2.0/UDP 10.0.0.1;ttl=-1",
    "SIP/2.0/UDP 10.0.0.1;ttl",
    "SIP/2.0/UDP 10.0.0.1;maddr=bad_host",
    "SIP/2.0/UDP h.example.com;BRANCH=z9hG4bKa;Received=192.0.2.9;RPort=7",
    "SIP/2.0/UDP h;branch=",
    "SIP/2.0/UDP h;branch",
    "SIP/2.0/UDP h;branch=\"z9hG4bK\"",
    "SIP/2.0/UDP h;received=host.example.com",
    "SIP/2.0/UDP h;received=192.0.2.256",
    "SIP/2.0/UDP h;rport=65536",
    "SIP/2.0/UDP h;rport=",
    "SIP/2.0/UDP h;branch=z9hG4bK1 junk",
    "",
    "SIP/2.0/UDP",
    "SIP/2.0/UDP ",
    "SIP/2.0 host.example.com",
    "SIP//UDP host.example.com",
    "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw",
};

TEST(ViaFastPath, TakesTheCommonFormOfTheCarrierInvite) {
  const auto message = test::parse_ok(test::read_corpus("carrier/invite-carrier-sdp.sip"));
  ASSERT_EQ(message->via_count, 5);
  for (std::size_t i = 0; i < message->via_count; ++i) {
    EXPECT_TRUE(compare_paths(message->vias[i].text)) << message->vias[i].text;
  }
}

TEST(ViaFastPath, AgreesWithTheGeneralRuleOnEveryCorpusVia) {
  const std::vector<std::string> vias = corpus_vias();
  ASSERT_GT(vias.size(), 100u);
  std::size_t taken = 0;
  for (const std::string& via : vias)
    taken += compare_paths(via) ? 1 : 0;
  // Most real Vias have the common form; the others (RFC 4475 torture tests) step aside.
  EXPECT_GT(taken, vias.size() / 2);
  EXPECT_LT(taken, vias.size());
}

TEST(ViaFastPath, AgreesWithTheGeneralRuleOnTheViaTestInputs) {
  std::size_t taken = 0;
  for (const std::string& via : kViaTestInputs)
    taken += compare_paths(via) ? 1 : 0;
  EXPECT_GT(taken, 10u);
}

// Every one-octet change of every corpus Via and via_test input: each octet replaced by one
// the fast path must notice (LWS, separators, quotes, case changes), deleted, or doubled.
TEST(ViaFastPath, AgreesWithTheGeneralRuleOnEditedVias) {
  std::vector<std::string> inputs = corpus_vias();
  inputs.insert(inputs.end(), kViaTestInputs.begin(), kViaTestInputs.end());
  std::sort(inputs.begin(), inputs.end());
  inputs.erase(std::unique(inputs.begin(), inputs.end()), inputs.end());
  constexpr std::string_view kReplacements = " \t\r\n;:,=\"[]/.-_0aZ\x01\xff";
  std::size_t compared = 0;
  for (const std::string& input : inputs) {
    for (std::size_t at = 0; at < input.size(); ++at) {
      for (char c : kReplacements) {
        std::string edited = input;
        edited[at] = c;
        compare_paths(edited);
      }
      std::string upper = input;
      upper[at] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[at])));
      compare_paths(upper);
      compare_paths(std::string(input).erase(at, 1));
      compare_paths(std::string(input).insert(at, 1, input[at]));
      compared += kReplacements.size() + 3;
    }
  }
  EXPECT_GT(compared, 10000u);
}

// --- parameters -------------------------------------------------------------------------------

struct SeenParam {
  std::string_view name;
  std::string_view value;
  bool has_value;
  bool value_is_token;
};

// Runs both walkers on `params`; true when the common-form walker took it.
bool compare_param_walkers(std::string_view params) {
  std::vector<SeenParam> common;
  const bool taken = for_each_common_param(params, [&common](const Param& param, bool token) {
    common.push_back({param.name, param.value, param.has_value, token});
    return true;
  });
  std::vector<SeenParam> general;
  const ParseError error = for_each_header_param(params, [&general](const Param& param) {
    general.push_back({param.name, param.value, param.has_value, is_token(param.value)});
    return ParseError::None;
  });
  if (!taken) return false;
  SCOPED_TRACE(std::string(params));
  EXPECT_EQ(error, ParseError::None);
  EXPECT_EQ(common.size(), general.size());
  for (std::size_t i = 0; i < std::min(common.size(), general.size()); ++i) {
    EXPECT_TRUE(same_view(common[i].name, general[i].name));
    EXPECT_TRUE(same_view(common[i].value, general[i].value));
    EXPECT_EQ(common[i].has_value, general[i].has_value);
    EXPECT_EQ(common[i].value_is_token, general[i].value_is_token);
  }
  return true;
}

// From the first ';' of every header value of the corpus, and of the via_test inputs.
std::vector<std::string> corpus_params() {
  std::vector<std::string> params;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SIPLINE_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    const std::string relative =
        std::filesystem::relative(entry.path(), SIPLINE_CORPUS_DIR).string();
    const auto message = test::parse_held(test::read_corpus(relative));
    for (std::size_t i = 0; i < message->field_count; ++i) {
      const std::string_view value = message->fields[i].value;
      if (const std::size_t semi = value.find(';'); semi != std::string_view::npos) {
        params.emplace_back(value.substr(semi));
      }
    }
  }
  for (const std::string& via : kViaTestInputs) {
    if (const std::size_t semi = via.find(';'); semi != std::string::npos) {
      params.push_back(via.substr(semi));
    }
  }
  return params;
}

TEST(CommonParams, AgreeWithTheGeneralWalkerOnCorpusParameters) {
  std::vector<std::string> inputs = corpus_params();
  ASSERT_GT(inputs.size(), 100u);
  std::size_t taken = 0;
  for (const std::string& params : inputs)
    taken += compare_param_walkers(params) ? 1 : 0;
  EXPECT_GT(taken, inputs.size() / 2);
  // Every one-octet edit, as for the Vias.
  constexpr std::string_view kReplacements = " \t\r\n;:,=\"<>[]/.-_0aZ\x01\xff";
  for (const std::string& input : inputs) {
    for (std::size_t at = 0; at < input.size(); ++at) {
      for (char c : kReplacements) {
        std::string edited = input;
        edited[at] = c;
        compare_param_walkers(edited);
      }
      compare_param_walkers(std::string(input).erase(at, 1));
    }
  }
}

TEST(CommonParams, StepAsideOnWhatOnlyTheGeneralRuleReads) {
  EXPECT_TRUE(compare_param_walkers(";tag=a1;lr;maddr=10.0.0.1"));
  EXPECT_TRUE(compare_param_walkers(""));
  EXPECT_FALSE(compare_param_walkers(" ;tag=a"));         // LWS before ';'
  EXPECT_FALSE(compare_param_walkers(";tag = a"));        // LWS around '='
  EXPECT_FALSE(compare_param_walkers(";x=\"q;uoted\""));  // quoted-string value
  EXPECT_FALSE(compare_param_walkers(";tag=a,b"));        // a comma
  EXPECT_FALSE(compare_param_walkers(";;tag=a"));         // an empty name (refused by both)
  EXPECT_FALSE(compare_param_walkers(";tag="));           // an empty value (refused by both)
  std::string many;
  for (std::size_t i = 0; i <= kMaxParams; ++i)
    many += ";p";
  EXPECT_FALSE(compare_param_walkers(many));  // TooManyParams is the general rule's to say
}

// --- vector scans -------------------------------------------------------------------------------

TEST(VectorScans, FindWhatAnOctetLoopFinds) {
  for (std::size_t length = 0; length <= 70; ++length) {
    for (std::size_t at = 0; at <= length; ++at) {  // at == length: nowhere
      std::string text(length + 2, 'x');            // one octet of slack on each side
      if (at < length) text[1 + at] = ':';
      text.front() = text.back() = ':';  // outside the range: must never be seen
      const char* begin = text.data() + 1;
      const char* end = begin + length;
      const char* expected = at < length ? begin + at : end;
      EXPECT_EQ(find_octet(begin, end, ':'), expected) << length << " " << at;
      EXPECT_EQ(find_either(begin, end, ';', ':'), expected) << length << " " << at;
      if (at < length) text[1 + at] = '\x1f';
      EXPECT_EQ(has_octet_at_most(std::string_view(begin, length), 0x20), at < length)
          << length << " " << at;
    }
  }
}

TEST(VectorScans, FindTheFirstOfSeveral) {
  const std::string text = "abcdefghijklmnopqrstuvwxyz,0123456789\"abcdefghijklmnopqrstuvwxyz,";
  const char* end = text.data() + text.size();
  EXPECT_EQ(find_either(text.data(), end, ',', '"'), text.data() + 26);
  EXPECT_EQ(find_either(text.data() + 27, end, ',', '"'), text.data() + 37);
  EXPECT_FALSE(
      has_octet_at_most("\x21\x7f\x80\xff\x21\x7f\x80\xff\x21\x7f\x80\xff\x21\x7f\x80\xff!", 0x20));
  EXPECT_TRUE(has_octet_at_most("0123456789abcdef0123456789abcdef ", 0x20));
}

// The end of a token run as the octet loop finds it.
std::size_t token_run_end_by_octets(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_token_char(text[pos]))
    ++pos;
  return pos;
}

TEST(VectorScans, TokenRunEndsWhereTheOctetLoopSaysForEveryOctet) {
  // Each of the 256 octets placed after a run of token octets, at every offset of a 16-octet
  // step and in the overlapping last step; one octet of slack past the end is never read.
  for (int octet = 0; octet < 256; ++octet) {
    for (std::size_t length = 1; length <= 40; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length + 1, 'a');
        text[at] = static_cast<char>(octet);
        text.back() = ' ';  // outside the view: a token run that reached it would be wrong
        const std::string_view view(text.data(), length);
        for (const std::size_t from : {std::size_t{0}, at / 2, at}) {
          ASSERT_EQ(token_run_end(view, from), token_run_end_by_octets(view, from))
              << "octet " << octet << " length " << length << " at " << at << " from " << from;
        }
      }
    }
  }
}

TEST(VectorScans, TokenRunOfAWholeTextAndOfNothing) {
  const std::string_view branch = "z9hG4bK-inv-0123456789abcdef.!%*_+`'~ABCXYZ";
  EXPECT_EQ(token_run_end(branch, 0), branch.size());
  EXPECT_EQ(token_run_end(branch, branch.size()), branch.size());
  EXPECT_EQ(token_run_end("branch=z9hG4bK;rport;received=192.0.2.1", 0), 6u);
  EXPECT_EQ(token_run_end("0123456789abcdef@", 0), 16u);
  EXPECT_EQ(token_run_end("\x80"
                          "0123456789abcdef",
                          0),
            0u);
  EXPECT_EQ(token_run_end("", 0), 0u);
}

// --- the parsed-value structs -----------------------------------------------------------------

template <class T>
bool all_zero_octets(const T& value) {
  unsigned char octets[sizeof(T)];
  std::memcpy(octets, &value, sizeof(T));
  return std::all_of(std::begin(octets), std::end(octets), [](unsigned char c) { return c == 0; });
}

TEST(ParsedValues, DefaultValuesAreAllZeroOctets) {
  EXPECT_TRUE(all_zero_octets(Uri{}));
  EXPECT_TRUE(all_zero_octets(Via{}));
  EXPECT_TRUE(all_zero_octets(NameAddr{}));
}

}  // namespace
}  // namespace sipline::sip

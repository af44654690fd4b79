// Conformance over tests/corpus (RFC 4475 torture tests, RFC 3665 call flows, carrier
// messages): every file gets its manifest's treatment, and the RFC 4475 §3.1.1 valid
// messages have their fields checked one by one.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sip/message.hpp"
#include "sip/name_addr.hpp"
#include "sip/token_list.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

using test::read_corpus;

struct ManifestRow {
  std::string file;
  std::string expectation;
};

std::vector<ManifestRow> load_manifest() {
  std::vector<ManifestRow> rows;
  std::istringstream lines(read_corpus("manifest.tsv"));
  std::string line;
  std::getline(lines, line);  // column names
  while (std::getline(lines, line)) {
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string column; std::getline(fields, column, '\t');)
      columns.push_back(column);
    if (columns.size() >= 3) rows.push_back({columns[0], columns[2]});
  }
  return rows;
}

std::unique_ptr<test::HeldMessage> parse_file(const std::string& relative) {
  return test::parse_held(read_corpus(relative));
}

bool has_whitespace_or_brackets(std::string_view text) {
  return text.find_first_of(" \t\r\n<>") != std::string_view::npos;
}

class ManifestTest : public ::testing::TestWithParam<ManifestRow> {};

TEST_P(ManifestTest, FileGetsItsTreatment) {
  const ManifestRow& row = GetParam();
  const auto parsed = parse_file(row.file);
  ASSERT_FALSE(parsed->bytes.empty()) << row.file << " not found";
  const Message& m = *parsed;
  if (row.expectation == "accept" || row.expectation == "accept-app-error") {
    EXPECT_TRUE(m.ok()) << row.file << ": " << describe(m.error);
    EXPECT_FALSE(m.call_id.empty());
    EXPECT_GE(m.via_count, 1);
  } else if (row.expectation == "reject" || row.expectation == "n/a") {
    EXPECT_FALSE(m.ok()) << row.file << " was accepted";
    EXPECT_NE(describe(m.error), "OK");
  } else {
    ASSERT_EQ(row.expectation, "reject-or-liberal");
    if (m.ok()) {
      // Liberal acceptance must not carry garbage forward: the start line elements are
      // clean and the addressing headers parsed.
      EXPECT_FALSE(has_whitespace_or_brackets(m.request_uri_text)) << row.file;
      EXPECT_FALSE(has_whitespace_or_brackets(m.version)) << row.file;
      EXPECT_FALSE(m.call_id.empty());
      EXPECT_FALSE(has_whitespace_or_brackets(m.to.uri_text)) << row.file;
      EXPECT_FALSE(has_whitespace_or_brackets(m.from.uri_text)) << row.file;
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<ManifestRow>& info) {
  std::string name = info.param.file;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, ManifestTest, ::testing::ValuesIn(load_manifest()), test_name);

TEST(CorpusManifest, ListsEveryFile) {
  EXPECT_EQ(load_manifest().size(), 70u);
}

// --- RFC 4475 §3.1.2 and §3.3: the reason each invalid message is refused for -----------

struct RejectCase {
  const char* file;
  ParseError error;
};

class RejectReasonTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RejectReasonTest, RefusedForTheRightReason) {
  const auto parsed = parse_file(GetParam().file);
  EXPECT_EQ(describe(parsed->error), describe(GetParam().error)) << GetParam().file;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4475, RejectReasonTest,
    ::testing::Values(RejectCase{"rfc4475/badinv01.dat", ParseError::EmptyListElement},
                      RejectCase{"rfc4475/clerr.dat", ParseError::BodyTruncated},
                      RejectCase{"rfc4475/ncl.dat", ParseError::BadContentLength},
                      RejectCase{"rfc4475/scalar02.dat", ParseError::BadCSeq},
                      RejectCase{"rfc4475/scalarlg.dat", ParseError::BadCSeq},
                      RejectCase{"rfc4475/badvers.dat", ParseError::UnsupportedVersion},
                      RejectCase{"rfc4475/mismatch01.dat", ParseError::CSeqMethodMismatch},
                      RejectCase{"rfc4475/mismatch02.dat", ParseError::CSeqMethodMismatch},
                      RejectCase{"rfc4475/bigcode.dat", ParseError::BadStatusCode},
                      RejectCase{"rfc4475/insuf.dat", ParseError::MissingFrom},
                      RejectCase{"rfc4475/multi01.dat", ParseError::DuplicateHeader},
                      RejectCase{"rfc4475/mcl01.dat", ParseError::ConflictingContentLength},
                      RejectCase{"rfc4475/baddn.dat", ParseError::NoHeaderEnd},
                      RejectCase{"rfc4475/test.dat", ParseError::BadStartLine}));

TEST(RejectedMessages, StillIndexTheLinesA400IsBuiltFrom) {
  // badvers.dat earns a 505, which needs the Via/From/To/Call-ID/CSeq lines.
  const auto parsed = parse_file("rfc4475/badvers.dat");
  const Message& m = *parsed;
  EXPECT_EQ(m.error, ParseError::UnsupportedVersion);
  EXPECT_EQ(m.version, "SIP/7.0");
  EXPECT_TRUE(m.headers_complete());
  EXPECT_NE(m.find(HeaderId::Via), nullptr);
  EXPECT_NE(m.find(HeaderId::From), nullptr);
  EXPECT_NE(m.find(HeaderId::To), nullptr);
  EXPECT_NE(m.find(HeaderId::CallId), nullptr);
  EXPECT_NE(m.find(HeaderId::CSeq), nullptr);
}

// --- RFC 4475 §3.1.1: valid messages, field by field -----------------------------------

TEST(RejectedMessages, UnterminatedHeaderSectionIsNotAnswerable) {
  const auto parsed = parse_file("rfc4475/baddn.dat");
  EXPECT_FALSE(parsed->headers_complete());
}

TEST(ValidMessages, Wsinv) {
  const auto parsed = parse_file("rfc4475/wsinv.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Invite);
  EXPECT_EQ(m.request_uri_text, "sip:vivekg@chair-dnrc.example.com;unknownparam");
  EXPECT_EQ(m.request_uri.host_port.host, "chair-dnrc.example.com");
  EXPECT_EQ(m.call_id, "wsinv.ndaksdj@192.0.2.1");
  EXPECT_EQ(m.cseq.number, 9u);
  EXPECT_EQ(m.cseq.method, Method::Invite);
  EXPECT_EQ(m.via_count, 3);
  EXPECT_EQ(m.top_via.transport, "UDP");
  EXPECT_EQ(m.top_via.sent_by.host, "192.0.2.2");
  EXPECT_EQ(m.top_via.branch, "390skdjuw");
  EXPECT_EQ(m.from.tag, "98asjd8");
  EXPECT_EQ(m.to.tag, "1918181833n");
  EXPECT_FALSE(m.to.uri_parsed);  // From/To URIs are parsed on demand
  EXPECT_EQ(parse_uri(m.to.uri_text).value.user, "vivekg");
  EXPECT_EQ(m.max_forwards, 68);
  EXPECT_EQ(m.content_length, 150u);
  EXPECT_EQ(m.body.size(), 150u);
  EXPECT_EQ(m.count(HeaderId::Subject), 1u);
  ASSERT_NE(m.find("NewFangledHeader"), nullptr);
  EXPECT_EQ(m.find("newfangledheader")->value, "newfangled value\r\n continued newfangled value");
  // The third Via sits on the folded second line of the "v:" header.
  EXPECT_EQ(parse_via(m.vias[2].text).value.branch, "z9hG4bK30239");
  const Parsed<ContactValue> contact = parse_contact(m.find(HeaderId::Contact)->value);
  ASSERT_TRUE(contact.ok());
  EXPECT_EQ(contact.value.q_milli, 330);
}

TEST(ValidMessages, Intmeth) {
  const auto parsed = parse_file("rfc4475/intmeth.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Extension);
  EXPECT_EQ(m.method_text, "!interesting-Method0123456789_*+`.%indeed'~");
  EXPECT_EQ(m.cseq.method_text, m.method_text);
  EXPECT_EQ(m.cseq.number, 139122385u);
  EXPECT_EQ(m.request_uri.host_port.host, "example.com");
  EXPECT_EQ(m.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(m.top_via.sent_by.host, "host1.example.com");
  EXPECT_EQ(m.top_via.branch, "z9hG4bK-.!%66*_+`'~");
  EXPECT_EQ(m.from.tag, "_token~1'+`*%!-.");
  EXPECT_FALSE(m.to.has_tag);
  EXPECT_EQ(m.max_forwards, 255);
  EXPECT_EQ(m.content_length, 0u);
}

TEST(ValidMessages, Esc01) {
  const auto parsed = parse_file("rfc4475/esc01.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.request_uri.user, "sips%3Auser%40example.com");
  EXPECT_EQ(m.request_uri.host_port.host, "example.net");
  EXPECT_EQ(m.call_id, "esc01.239409asdfakjkn23onasd0-3234");
  EXPECT_EQ(m.cseq.number, 234234u);
  EXPECT_EQ(m.top_via.sent_by.host, "host5.example.net");
  EXPECT_EQ(m.top_via.branch, "z9hG4bKkdjuw");
  EXPECT_EQ(parse_uri(m.to.uri_text).value.user, "%75se%72");
  EXPECT_EQ(m.from.tag, "938");
  EXPECT_EQ(m.max_forwards, 87);
  EXPECT_EQ(m.content_length, 150u);
}

TEST(ValidMessages, Escnull) {
  const auto parsed = parse_file("rfc4475/escnull.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Register);
  EXPECT_EQ(parse_uri(m.to.uri_text).value.user,
            "null-%00-null");  // the AOR is not truncated at %00
  EXPECT_EQ(m.call_id, "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd");
  EXPECT_EQ(m.cseq.number, 14398234u);
  EXPECT_EQ(m.top_via.sent_by.host, "host5.example.com");
  EXPECT_EQ(m.top_via.branch, "z9hG4bKkdjuw");
  EXPECT_EQ(m.from.tag, "839923423");
  EXPECT_EQ(m.max_forwards, 70);
  EXPECT_EQ(m.content_length, 0u);
  EXPECT_EQ(m.count(HeaderId::Contact), 2u);
}

TEST(ValidMessages, Esc02) {
  const auto parsed = parse_file("rfc4475/esc02.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Extension);  // RE%47IST%45R is not REGISTER
  EXPECT_EQ(m.method_text, "RE%47IST%45R");
  EXPECT_EQ(m.cseq.number, 29344u);
  EXPECT_EQ(m.call_id, "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf");
  EXPECT_EQ(m.top_via.sent_by.host, "host.example.com");
  EXPECT_EQ(m.top_via.branch, "z9hG4bK209%fzsnel234");
  EXPECT_EQ(m.from.tag, "f232jadfj23");
  EXPECT_EQ(m.count(HeaderId::Contact), 2u);  // C%6Fntact is an extension header
  EXPECT_NE(m.find("C%6Fntact"), nullptr);
  EXPECT_EQ(m.content_length, 0u);
}

TEST(ValidMessages, Lwsdisp) {
  const auto parsed = parse_file("rfc4475/lwsdisp.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Options);
  EXPECT_EQ(m.call_id, "lwsdisp.1234abcd@funky.example.com");
  EXPECT_EQ(m.cseq.number, 60u);
  EXPECT_EQ(m.top_via.sent_by.host, "funky.example.com");
  EXPECT_EQ(m.from.display_name, "caller");
  EXPECT_EQ(parse_uri(m.from.uri_text).value.user, "caller");
  EXPECT_EQ(m.from.tag, "323");
  EXPECT_EQ(m.max_forwards, 70);
}

TEST(ValidMessages, Longreq) {
  const auto parsed = parse_file("rfc4475/longreq.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.via_count, 34);
  EXPECT_EQ(m.top_via.sent_by.host, "sip33.example.com");
  EXPECT_FALSE(m.top_via.has_branch);
  EXPECT_TRUE(parse_via(m.vias[33].text).value.branch.starts_with("verylonglong"));
  EXPECT_EQ(m.cseq.number, 3882340u);
  EXPECT_TRUE(m.call_id.starts_with("longreq.onereallyreally"));
  EXPECT_EQ(m.from.tag.size(), 155u);
  EXPECT_TRUE(m.from.tag.starts_with("12982982982982"));
  EXPECT_EQ(m.to.display_name.front(), '"');
  EXPECT_EQ(parse_uri(m.to.uri_text).value.host_port.port, 6000);
  EXPECT_EQ(m.max_forwards, 70);
  EXPECT_EQ(m.content_length, 150u);
}

TEST(ValidMessages, DblreqProcessesOnlyTheRegister) {
  const auto parsed = parse_file("rfc4475/dblreq.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Register);
  EXPECT_EQ(m.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
  EXPECT_EQ(m.cseq.number, 8u);
  EXPECT_EQ(m.top_via.branch, "z9hG4bKkdjuw23492");
  EXPECT_EQ(m.from.tag, "43251j3j324");
  EXPECT_EQ(m.max_forwards, 8);
  EXPECT_EQ(m.content_length, 0u);
  EXPECT_TRUE(m.body.empty());
  EXPECT_TRUE(m.message.ends_with("\r\n\r\n"));
  EXPECT_LT(m.message.size(), m.data.size());  // the INVITE after it is not part of it
  EXPECT_EQ(m.message.find("INVITE"), std::string_view::npos);
}

TEST(ValidMessages, Semiuri) {
  const auto parsed = parse_file("rfc4475/semiuri.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.request_uri.user, "user;par=u%40example.net");
  EXPECT_EQ(m.request_uri.host_port.host, "example.com");
  EXPECT_EQ(m.call_id, "semiuri.0ha0isndaksdj");
  EXPECT_EQ(m.cseq.method, Method::Options);
  EXPECT_EQ(m.from.tag, "33242");
  EXPECT_EQ(m.max_forwards, 3);
}

TEST(ValidMessages, Transports) {
  const auto parsed = parse_file("rfc4475/transports.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.call_id, "transports.kijh4akdnaqjkwendsasfdj");
  ASSERT_EQ(m.via_count, 5);
  const char* expected[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(parse_via(m.vias[i].text).value.transport, expected[i]);
  EXPECT_EQ(m.top_via.sent_by.host, "t1.example.com");
  EXPECT_EQ(m.top_via.branch, "z9hG4bKkdjuw");
}

TEST(ValidMessages, Mpart01) {
  const auto parsed = parse_file("rfc4475/mpart01.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.method, Method::Message);
  EXPECT_EQ(m.call_id, "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..");
  EXPECT_EQ(m.top_via.sent_by.host, "127.0.0.1");
  EXPECT_EQ(m.top_via.sent_by.port, 5070);
  EXPECT_TRUE(m.top_via.has_rport);
  EXPECT_EQ(m.top_via.branch, "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-");
  EXPECT_EQ(m.from.tag, "2fb0dcc9");
  EXPECT_EQ(m.content_length, 553u);
  EXPECT_EQ(m.body.size(), 553u);
}

TEST(ValidMessages, Unreason) {
  const auto parsed = parse_file("rfc4475/unreason.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.status_code, 200);
  EXPECT_TRUE(m.reason_phrase.starts_with("= 2**3 * 5**2"));
  EXPECT_EQ(m.call_id, "unreason.1234ksdfak3j2erwedfsASdf");
  EXPECT_EQ(m.cseq.number, 35u);
  EXPECT_EQ(m.cseq.method, Method::Invite);
  EXPECT_EQ(m.top_via.branch, "z9hG4bK1324923");
  EXPECT_EQ(m.from.tag, "11141343");
  EXPECT_EQ(m.to.tag, "2229");
  EXPECT_EQ(m.content_length, 154u);
}

TEST(ValidMessages, Noreason) {
  const auto parsed = parse_file("rfc4475/noreason.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.status_code, 100);
  EXPECT_TRUE(m.reason_phrase.empty());
  EXPECT_EQ(m.call_id, "noreason.asndj203insdf99223ndf");
  EXPECT_EQ(m.from.tag, "39ansfi3");
  EXPECT_EQ(m.to.tag, "902jndnke3");
  EXPECT_EQ(m.content_length, 0u);
}

TEST(ValidMessages, Inv2543HasNoMaxForwardsNorContentLength) {
  const auto parsed = parse_file("rfc4475/inv2543.dat");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_FALSE(m.has_max_forwards);
  EXPECT_FALSE(m.has_content_length);
  EXPECT_FALSE(m.top_via.has_branch);
  EXPECT_FALSE(m.from.has_tag);
  EXPECT_EQ(m.body.size(), m.data.size() - m.body_offset);
}

TEST(CarrierMessages, InviteWithFiveViasAndRecordRoutes) {
  const auto parsed = parse_file("carrier/invite-carrier-sdp.sip");
  const Message& m = *parsed;
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.via_count, 5);
  EXPECT_EQ(m.top_via.sent_by.host, "198.51.100.20");
  EXPECT_EQ(m.top_via.sent_by.port, 5060);
  EXPECT_EQ(m.top_via.branch, "z9hG4bK-524287-1---9a3f1c6e2b7d4a10");
  EXPECT_TRUE(m.top_via.has_rport);
  EXPECT_EQ(m.request_uri.user, "+14085551234");
  EXPECT_EQ(m.count(HeaderId::RecordRoute), 2u);
  EXPECT_EQ(m.count(HeaderId::PAssertedIdentity), 2u);
  EXPECT_EQ(m.max_forwards, 66);
  EXPECT_EQ(m.content_length, 1181u);
  EXPECT_EQ(m.body.size(), 1181u);
  EXPECT_EQ(m.from.tag, "as5d8f2a1c");
  EXPECT_EQ(m.from.display_name, "\"Alice Smith\"");
  size_t record_routes = 0;
  for (const HeaderField* f = m.find(HeaderId::RecordRoute); f; f = m.next(*f)) {
    ListCursor elements(f->value);
    while (elements.next())
      ++record_routes;
  }
  EXPECT_EQ(record_routes, 3u);
}

TEST(FramingRules, LeadingCrlfIsIgnoredAndKeepAliveIsEmpty) {
  std::string text =
      "\r\n\r\nOPTIONS sip:a@b.c SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
      "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b.c>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
  Message m = parse_message(text);
  EXPECT_TRUE(m.ok()) << describe(m.error);
  EXPECT_TRUE(m.message.starts_with("OPTIONS"));
  EXPECT_EQ(parse_message("\r\n\r\n").error, ParseError::Empty);
  EXPECT_EQ(parse_message(std::string(70000, 'x')).error, ParseError::MessageTooLarge);
}

TEST(FramingRules, TooManyHeaderLinesIsAnErrorNotACrash) {
  std::string text = "OPTIONS sip:a@b.c SIP/2.0\r\n";
  for (size_t i = 0; i < kMaxHeaders + 5; ++i)
    text += "X-Filler: " + std::to_string(i) + "\r\n";
  text += "\r\n";
  EXPECT_EQ(parse_message(text).error, ParseError::TooManyHeaders);
}

// ParseScope::Proxy: a response's From and To are indexed but not parsed (a proxy forwards
// responses by their Via); a request's are parsed as in the full scope.
TEST(ParseScopes, ProxyScopeLeavesOnlyAResponsesFromAndToUnparsed) {
  const std::string response = read_corpus("rfc4475/unreason.dat");
  Message m;
  parse_message_into(m, response, ParseScope::Proxy);
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_FALSE(m.addresses_parsed);
  EXPECT_TRUE(m.from.tag.empty());
  ASSERT_NE(m.find(HeaderId::From), nullptr);
  EXPECT_TRUE(m.find(HeaderId::From)->value.ends_with("tag=11141343"));
  EXPECT_EQ(m.top_via.branch, "z9hG4bK1324923");
  EXPECT_EQ(m.call_id, "unreason.1234ksdfak3j2erwedfsASdf");

  parse_message_into(m, response, ParseScope::Full);
  EXPECT_TRUE(m.addresses_parsed);
  EXPECT_EQ(m.from.tag, "11141343");

  const std::string request = read_corpus("rfc4475/wsinv.dat");  // m views it
  parse_message_into(m, request, ParseScope::Proxy);
  ASSERT_TRUE(m.ok()) << describe(m.error);
  EXPECT_TRUE(m.addresses_parsed);
  EXPECT_EQ(m.from.tag, "98asjd8");
}

TEST(ParseScopes, ABadFromFailsARequestInEveryScopeAndAResponseOnlyInTheFullOne) {
  const std::string tail =
      "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y;tag=1\r\nTo: <sip:a@b.c>\r\n"
      "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
  const std::string request = "OPTIONS sip:a@b.c SIP/2.0\r\n" + tail;
  const std::string response = "SIP/2.0 200 OK\r\n" + tail;
  Message m;
  parse_message_into(m, request, ParseScope::Proxy);
  EXPECT_EQ(m.error, ParseError::BadFrom);
  parse_message_into(m, response, ParseScope::Full);
  EXPECT_EQ(m.error, ParseError::BadFrom);
  parse_message_into(m, response, ParseScope::Proxy);
  EXPECT_TRUE(m.ok()) << describe(m.error);
  EXPECT_EQ(m.status_code, 200);
}

// parse_addresses completes a proxy-scoped response as the full scope would have parsed it
// (call accounting reads its tags and users): the same From and To, the same error for a bad
// one, and nothing more the second time.
TEST(ParseScopes, ParseAddressesCompletesAResponseAsTheFullScopeWould) {
  for (const char* name : {"rfc4475/unreason.dat", "rfc4475/noreason.dat"}) {
    const std::string response = read_corpus(name);
    Message full;
    parse_message_into(full, response, ParseScope::Full);
    Message m;
    parse_message_into(m, response, ParseScope::Proxy);
    parse_addresses(m);
    EXPECT_TRUE(m.addresses_parsed) << name;
    EXPECT_EQ(m.error, full.error) << name;
    EXPECT_EQ(m.from.tag, full.from.tag) << name;
    EXPECT_EQ(m.from.uri_text, full.from.uri_text) << name;
    EXPECT_EQ(m.to.tag, full.to.tag) << name;
    EXPECT_EQ(m.to.display_name, full.to.display_name) << name;
    parse_addresses(m);
    EXPECT_EQ(m.from.tag, full.from.tag) << name;
  }
  const std::string bad =
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y;tag=1\r\n"
      "To: <sip:a@b.c>;tag=t\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
  Message m;
  parse_message_into(m, bad, ParseScope::Proxy);
  ASSERT_TRUE(m.ok());
  parse_addresses(m);
  EXPECT_EQ(m.error, ParseError::BadFrom);
  EXPECT_FALSE(m.from.has_tag);
  EXPECT_EQ(m.to.tag, "t");
}

}  // namespace
}  // namespace sipline::sip

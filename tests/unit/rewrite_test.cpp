#include "sip/rewrite.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sip/message.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

using test::HeldMessage;
using test::parse_held;
using test::parse_ok;
using test::read_corpus;
using test::replace_once;

std::unique_ptr<HeldMessage> parse(std::string bytes, bool expect_ok = true) {
  return expect_ok ? parse_ok(std::move(bytes)) : parse_held(std::move(bytes));
}

constexpr std::size_t kGuard = 32;
constexpr char kGuardByte = '#';

// Runs `write` into a buffer of exactly `capacity` bytes followed by guard bytes, checks the
// guard survived, and returns the output (or the error).
template <class WriteFn>
Written write_into(std::vector<char>& buffer, std::size_t capacity, WriteFn write) {
  buffer.assign(capacity + kGuard, kGuardByte);
  const Written written = write(std::span<char>(buffer.data(), capacity));
  for (std::size_t i = capacity; i < buffer.size(); ++i) {
    EXPECT_EQ(buffer[i], kGuardByte) << "wrote past the end at " << i;
  }
  return written;
}

template <class WriteFn>
std::string write_ok(WriteFn write) {
  std::vector<char> buffer;
  const Written written = write_into(buffer, 70000, write);
  EXPECT_TRUE(written.ok()) << static_cast<int>(written.error);
  return std::string(buffer.data(), written.size);
}

// The exact size fits; one byte less is BufferTooSmall and nothing is written past it.
template <class WriteFn>
void expect_exact_fit(WriteFn write) {
  const std::string full = write_ok(write);
  ASSERT_FALSE(full.empty());
  std::vector<char> buffer;
  const Written exact = write_into(buffer, full.size(), write);
  EXPECT_TRUE(exact.ok());
  EXPECT_EQ(exact.size, full.size());
  EXPECT_EQ(std::string(buffer.data(), exact.size), full);
  const Written short_by_one = write_into(buffer, full.size() - 1, write);
  EXPECT_EQ(short_by_one.error, WriteError::BufferTooSmall);
  EXPECT_FALSE(short_by_one.ok());
  const Written empty = write_into(buffer, 0, write);
  EXPECT_EQ(empty.error, WriteError::BufferTooSmall);
}

constexpr std::string_view kOurBranch = "z9hG4bK-sl0123456789abcdef01234567";

RequestEdits basic_edits() {
  RequestEdits edits;
  edits.via.sent_by = "192.0.2.1:5060";
  edits.via.branch = kOurBranch;
  return edits;
}

const std::string kOurViaLine =
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sl0123456789abcdef01234567;rport\r\n";

const std::string kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "v=0\r\n";

std::string forward(const Message& request, const RequestEdits& edits) {
  return write_ok(
      [&](std::span<char> out) { return write_forwarded_request(request, edits, out); });
}

// --- write_forwarded_request -------------------------------------------------------------

TEST(ForwardedRequest, SimpleInvite) {
  const auto request = parse(kInvite);
  EXPECT_EQ(forward(*request, basic_edits()),
            "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sl0123456789abcdef01234567;rport\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
            "Max-Forwards: 69\r\n"
            "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: Bob <sip:bob@biloxi.example.com>\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: 1 INVITE\r\n"
            "Contact: <sip:alice@client.atlanta.example.com>\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "v=0\r\n");
}

// RFC 3581 §4 / RFC 3261 §18.2.1: only the sender's element is stamped, the rest of its line
// (a second Via element here) and every other byte stay as received.
TEST(ForwardedRequest, SenderViaStampedWithRportAndReceived) {
  const auto request = parse(replace_once(
      kInvite, "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n",
      "Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK74bf9 , SIP/2.0/UDP "
      "p1;branch=z9hG4bKx\r\n"));
  RequestEdits edits = basic_edits();
  edits.received = "198.51.100.9";
  edits.rport = 40123;
  const std::string out = forward(*request, edits);
  EXPECT_NE(out.find(kOurViaLine + "Via: SIP/2.0/UDP 10.0.0.5:5060;rport=40123;branch=z9hG4bK74bf9"
                                   ";received=198.51.100.9 , SIP/2.0/UDP p1;branch=z9hG4bKx\r\n"
                                   "Max-Forwards: 69\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.size(), request->message.size() + kOurViaLine.size() +
                            std::string_view("=40123;received=198.51.100.9").size());
}

TEST(ForwardedRequest, ReceivedAloneLeavesAValuedRportAlone) {
  const auto request =
      parse(replace_once(kInvite, ";branch=z9hG4bK74bf9", ";rport=1;branch=z9hG4bK74bf9"));
  RequestEdits edits = basic_edits();
  edits.received = "198.51.100.9";
  const std::string out = forward(*request, edits);
  EXPECT_NE(out.find("Via: SIP/2.0/UDP client.atlanta.example.com:5060;rport=1;branch=z9hG4bK74bf9;"
                     "received=198.51.100.9\r\n"),
            std::string::npos)
      << out;
}

TEST(ForwardedRequest, ViaWithoutRportAndOtherTransport) {
  const auto request = parse(kInvite);
  RequestEdits edits = basic_edits();
  edits.via.transport = "TCP";
  edits.via.sent_by = "[2001:db8::1]:5070";
  edits.via.rport = false;
  const std::string out = forward(*request, edits);
  EXPECT_EQ(out.substr(0, out.find("Via: SIP/2.0/UDP client")),
            "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
            "Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK-sl0123456789abcdef01234567\r\n");
}

TEST(ForwardedRequest, MaxForwardsNameKeptAsWritten) {
  const auto request = parse(replace_once(kInvite, "Max-Forwards: 70", "max-forwards:   10"));
  const std::string out = forward(*request, basic_edits());
  EXPECT_NE(out.find("\r\nmax-forwards: 9\r\nFrom:"), std::string::npos) << out;
}

TEST(ForwardedRequest, MaxForwardsInsertedWhenAbsent) {
  // RFC 4475 §3.4.1: an RFC 2543 INVITE without Max-Forwards (and without Content-Length).
  const std::string received = read_corpus("rfc4475/inv2543.dat");
  const auto request = parse(received);
  ASSERT_FALSE(request->has_max_forwards);
  const std::size_t first_line_end = received.find("\r\n") + 2;
  const std::string expected = received.substr(0, first_line_end) + kOurViaLine +
                               "Max-Forwards: 70\r\n" + received.substr(first_line_end);
  EXPECT_EQ(forward(*request, basic_edits()), expected);
}

TEST(ForwardedRequest, RecordRouteOnTop) {
  const auto request = parse(kInvite);
  RequestEdits edits = basic_edits();
  edits.record_route_uri = "sip:192.0.2.1:5060";
  const std::string expected =
      replace_once(replace_once(kInvite, "Max-Forwards: 70", "Max-Forwards: 69"), "SIP/2.0\r\n",
                   "SIP/2.0\r\nRecord-Route: <sip:192.0.2.1:5060;lr>\r\n" + kOurViaLine);
  EXPECT_EQ(forward(*request, edits), expected);
}

TEST(ForwardedRequest, RequestUriReplaced) {
  const auto request = parse(kInvite);
  RequestEdits edits = basic_edits();
  edits.request_uri = "sip:bob@192.0.2.4:5062;transport=udp";
  const std::string expected =
      replace_once(replace_once(kInvite, "Max-Forwards: 70", "Max-Forwards: 69"),
                   "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n",
                   "INVITE sip:bob@192.0.2.4:5062;transport=udp SIP/2.0\r\n" + kOurViaLine);
  EXPECT_EQ(forward(*request, edits), expected);
}

// Credentials for our realm are consumed (RFC 7235 §4.4), in whichever line they are; other
// realms', and a line that is not Digest credentials, go on; extra lines come last.
TEST(ForwardedRequest, OurRealmsCredentialsAreConsumedAndExtraLinesAppended) {
  const std::string ours =
      "Proxy-Authorization: Digest username=\"1001\", realm=\"sipline.local\", nonce=\"a\", "
      "uri=\"sip:bob@biloxi.example.com\", response=\"0\"\r\n";
  const std::string theirs =
      "Proxy-Authorization: Digest username=\"u\", realm=\"biloxi.example.com\", nonce=\"b\", "
      "uri=\"sip:bob@biloxi.example.com\", response=\"1\"\r\n";
  const std::string other_scheme = "Proxy-Authorization: Token abc\r\n";
  const auto request = parse(replace_once(kInvite, "CSeq: 1 INVITE\r\n",
                                          "CSeq: 1 INVITE\r\n" + theirs + ours + other_scheme));
  RequestEdits edits = basic_edits();
  edits.consumed_realm = "sipline.local";
  edits.extra_headers = "Proxy-Authorization: Digest username=\"acct\"\r\n";
  const std::string expected =
      replace_once(replace_once(replace_once(kInvite, "Max-Forwards: 70", "Max-Forwards: 69"),
                                "SIP/2.0\r\n", "SIP/2.0\r\n" + kOurViaLine),
                   "CSeq: 1 INVITE\r\n", "CSeq: 1 INVITE\r\n" + theirs + other_scheme);
  EXPECT_EQ(forward(*request, edits),
            replace_once(expected, "Content-Length: 5\r\n",
                         "Content-Length: 5\r\nProxy-Authorization: Digest username=\"acct\"\r\n"));
  // Without a consumed realm every line is copied.
  edits.consumed_realm = {};
  edits.extra_headers = {};
  EXPECT_NE(forward(*request, edits).find(ours), std::string::npos);
}

// Leading lines (our Diversion) follow the received Via lines and come before any Diversion
// the request carried: the newest diversion first (RFC 5806 §4).
TEST(ForwardedRequest, LeadingLinesFollowTheViasAndPrecedeReceivedDiversions) {
  const std::string ours = "Diversion: <sip:1002@sipline.local>;reason=user-busy;counter=1\r\n";
  const std::string second_via =
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n";
  const auto two_vias =
      parse(replace_once(kInvite, "Max-Forwards: 70\r\n", second_via + "Max-Forwards: 70\r\n"));
  RequestEdits edits = basic_edits();
  edits.leading_headers = ours;
  EXPECT_EQ(forward(*two_vias, edits),
            replace_once(replace_once(replace_once(kInvite, "Max-Forwards: 70", "Max-Forwards: 69"),
                                      "SIP/2.0\r\n", "SIP/2.0\r\n" + kOurViaLine),
                         "Max-Forwards: 69\r\n", second_via + ours + "Max-Forwards: 69\r\n"));
  // A carrier's Diversion written above the Via lines: ours goes before it.
  const std::string carriers = "diversion: <sip:+4420@carrier.example>;reason=unconditional\r\n";
  const auto diverted = parse(replace_once(kInvite, "Via: ", carriers + "Via: "));
  const std::string written = forward(*diverted, edits);
  EXPECT_NE(written.find(ours + carriers + "Via: SIP/2.0/UDP client"), std::string::npos)
      << written;
  // Without leading lines nothing changes.
  edits.leading_headers = {};
  EXPECT_EQ(forward(*diverted, edits).find("reason=user-busy"), std::string::npos);
}

TEST(ForwardedRequest, IdentityHeadersDroppedWhenAsked) {
  const std::string identity =
      "P-Asserted-Identity: <sip:+15551230000@atlanta.example.com>\r\n"
      "P-Preferred-Identity: <sip:alice@atlanta.example.com>\r\n";
  const auto request =
      parse(replace_once(kInvite, "CSeq: 1 INVITE\r\n", "CSeq: 1 INVITE\r\n" + identity));
  RequestEdits edits = basic_edits();
  EXPECT_NE(forward(*request, edits).find(identity), std::string::npos);
  edits.drop_identity = true;
  EXPECT_EQ(forward(*request, edits),
            replace_once(replace_once(kInvite, "Max-Forwards: 70", "Max-Forwards: 69"),
                         "SIP/2.0\r\n", "SIP/2.0\r\n" + kOurViaLine));
}

std::string with_routes(const std::string& route_lines) {
  return replace_once(kInvite, "CSeq: 1 INVITE\r\n", "CSeq: 1 INVITE\r\n" + route_lines);
}

std::string forwarded_with_routes(const std::string& route_lines) {
  return replace_once(
      replace_once(with_routes(route_lines), "Max-Forwards: 70", "Max-Forwards: 69"), "SIP/2.0\r\n",
      "SIP/2.0\r\n" + kOurViaLine);
}

TEST(ForwardedRequest, TopRouteLineWithOneElementDropped) {
  const auto request = parse(with_routes("Route: <sip:us;lr>\r\nRoute: <sip:next;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:next;lr>\r\n"));
}

TEST(ForwardedRequest, TopRouteElementRemovedFromItsLine) {
  const auto request = parse(with_routes("Route: <sip:us;lr>,<sip:next;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:next;lr>\r\n"));
}

TEST(ForwardedRequest, RemainingRouteElementsKeptAsWritten) {
  const auto request = parse(
      with_routes("route:  <sip:us;lr> ,\r\n <sip:b;lr>,  <sip:c;lr>\r\nRoute: <sip:d;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits),
            forwarded_with_routes("route: <sip:b;lr>,  <sip:c;lr>\r\nRoute: <sip:d;lr>\r\n"));
}

TEST(ForwardedRequest, FoldedRouteLineLosesItsFirstElement) {
  // RFC 3665 §3.2 F18: "Route: <sip:ss2...;lr>,CRLF <sip:ss1...;lr>" on one folded line.
  const std::string received = read_corpus("rfc3665/3.2-F18-BYE.sip");
  const auto request = parse(received);
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  const std::size_t first_line_end = received.find("\r\n") + 2;
  const std::string expected =
      received.substr(0, first_line_end) + kOurViaLine +
      replace_once(
          replace_once(received.substr(first_line_end), "Max-Forwards: 70", "Max-Forwards: 69"),
          "Route: <sip:ss2.biloxi.example.com;lr>,\r\n <sip:ss1.atlanta.example.com;lr>",
          "Route: <sip:ss1.atlanta.example.com;lr>");
  EXPECT_EQ(forward(*request, edits), expected);
}

TEST(ForwardedRequest, MalformedRestOfRouteLineKeptAfterPop) {
  const auto request = parse(with_routes("Route: <sip:us;lr> , ,<sip:b;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:b;lr>\r\n"));
}

TEST(ForwardedRequest, RouteElementWithQuotedCommaPopped) {
  const auto request =
      parse(with_routes("Route: \"us, really\" <sip:us;lr>, <sip:b;lr;x=\"a,b\">\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:b;lr;x=\"a,b\">\r\n"));
}

TEST(ForwardedRequest, RoutesKeptWhenNotPopping) {
  const std::string routes = "Route: <sip:us;lr>,<sip:next;lr>\r\n";
  const auto request = parse(with_routes(routes));
  EXPECT_EQ(forward(*request, basic_edits()), forwarded_with_routes(routes));
}

TEST(ForwardedRequest, PopWithoutRouteChangesNothingElse) {
  const auto request = parse(kInvite);
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  EXPECT_EQ(forward(*request, edits), forward(*request, basic_edits()));
}

// The Route edits of §16.4 and §16.6 step 7 count values across lines, in order.
TEST(ForwardedRequest, TwoRouteValuesPoppedAcrossLines) {
  const auto request = parse(with_routes("Route: <sip:us;lr>\r\nRoute: <sip:b>, <sip:c;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 2;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:c;lr>\r\n"));
}

TEST(ForwardedRequest, LastRouteValueRemovedFromItsLine) {
  const auto request = parse(with_routes("Route: <sip:a;lr>\r\nRoute: <sip:b;lr> ,  <sip:c>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_last_route = true;
  EXPECT_EQ(forward(*request, edits),
            forwarded_with_routes("Route: <sip:a;lr>\r\nRoute: <sip:b;lr>\r\n"));
}

TEST(ForwardedRequest, LastRouteLineDroppedWithItsOnlyValue) {
  const auto request = parse(with_routes("Route: <sip:a;lr>, <sip:b;lr>\r\nRoute: <sip:c>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_last_route = true;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:a;lr>, <sip:b;lr>\r\n"));
}

TEST(ForwardedRequest, TopAndLastRemovedFromOneLine) {
  const auto request = parse(with_routes("Route: <sip:us;lr>, <sip:b;lr>, <sip:c>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  edits.pop_last_route = true;
  EXPECT_EQ(forward(*request, edits), forwarded_with_routes("Route: <sip:b;lr>\r\n"));
}

TEST(ForwardedRequest, AppendedRouteFollowsTheLastRouteLine) {
  const auto request =
      parse(with_routes("Route: <sip:strict>\r\nSubject: between\r\nRoute: <sip:far;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  edits.request_uri = "sip:strict";
  edits.append_route_uri = "sip:bob@biloxi.example.com";
  const std::string expected = replace_once(
      forwarded_with_routes(
          "Subject: between\r\nRoute: <sip:far;lr>\r\nRoute: <sip:bob@biloxi.example.com>\r\n"),
      "INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:strict SIP/2.0");
  EXPECT_EQ(forward(*request, edits), expected);
}

TEST(ForwardedRequest, AppendedRouteTakesThePlaceOfTheOnlyRouteLine) {
  const auto request = parse(with_routes("Route: <sip:strict>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  edits.append_route_uri = "sip:bob@biloxi.example.com";
  EXPECT_EQ(forward(*request, edits),
            forwarded_with_routes("Route: <sip:bob@biloxi.example.com>\r\n"));
}

TEST(ForwardedRequest, AppendedRouteWithoutRouteLinesEndsTheHeaders) {
  const auto request = parse(kInvite);
  RequestEdits edits = basic_edits();
  edits.append_route_uri = "sip:x";
  EXPECT_EQ(forward(*request, edits),
            replace_once(forward(*request, basic_edits()), "Content-Length: 5\r\n",
                         "Content-Length: 5\r\nRoute: <sip:x>\r\n"));
}

TEST(ForwardedRequest, CarrierInviteOnlyTheExpectedEdits) {
  const std::string received = read_corpus("carrier/invite-carrier-sdp.sip");
  const auto request = parse(received);
  ASSERT_EQ(request->body.size(), 1181u);
  RequestEdits edits = basic_edits();
  edits.request_uri = "sip:+14085551234@192.0.2.50:5060;user=phone";
  edits.record_route_uri = "sip:192.0.2.1";
  const std::string received_line =
      "INVITE sip:+14085551234@sbc-core.carrier-b.example.net;user=phone SIP/2.0\r\n";
  ASSERT_TRUE(received.starts_with(received_line));
  const std::string expected =
      "INVITE sip:+14085551234@192.0.2.50:5060;user=phone SIP/2.0\r\n"
      "Record-Route: <sip:192.0.2.1;lr>\r\n" +
      kOurViaLine +
      replace_once(received.substr(received_line.size()), "\r\nMax-Forwards: 66\r\n",
                   "\r\nMax-Forwards: 65\r\n");
  EXPECT_EQ(forward(*request, edits), expected);
}

TEST(ForwardedRequest, OctetsPastTheMessageAreNotForwarded) {
  // RFC 4475 §3.1.1.8: a REGISTER with Content-Length 0, then a whole INVITE in the same
  // datagram. Only the REGISTER is forwarded.
  const std::string received = read_corpus("rfc4475/dblreq.dat");
  const auto request = parse(received);
  const std::size_t register_end = received.find("\r\n\r\n") + 4;
  const std::size_t first_line_end = received.find("\r\n") + 2;
  const std::string expected =
      received.substr(0, first_line_end) + kOurViaLine +
      replace_once(received.substr(first_line_end, register_end - first_line_end),
                   "Max-Forwards: 8\r\n", "Max-Forwards: 7\r\n");
  const std::string out = forward(*request, basic_edits());
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.find("INVITE"), std::string::npos);
}

TEST(ForwardedRequest, BareLineFeedsAreCopiedAsReceived) {
  const std::string received =
      "OPTIONS sip:bob@biloxi.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP pc.example.com;branch=z9hG4bKlf\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:bob@biloxi.example.com>\n"
      "Call-ID: lf@pc\n"
      "CSeq: 3 OPTIONS\n"
      "Max-Forwards: 2\n"
      "Content-Length: 0\n"
      "\n";
  const auto request = parse(received);
  EXPECT_EQ(forward(*request, basic_edits()),
            "OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n" + kOurViaLine +
                "Via: SIP/2.0/UDP pc.example.com;branch=z9hG4bKlf\n"
                "From: <sip:a@example.com>;tag=1\n"
                "To: <sip:bob@biloxi.example.com>\n"
                "Call-ID: lf@pc\n"
                "CSeq: 3 OPTIONS\n"
                "Max-Forwards: 1\r\n"
                "Content-Length: 0\n"
                "\n");
}

TEST(ForwardedRequest, RefusesResponsesAndUnparsedRequests) {
  const std::string response_bytes = read_corpus("rfc3665/3.2-F9-180.sip");
  const auto response = parse(response_bytes);
  std::vector<char> buffer(4096);
  EXPECT_EQ(write_forwarded_request(*response, basic_edits(), buffer).error,
            WriteError::NotARequest);
  const std::string broken_bytes = replace_once(kInvite, "CSeq: 1 INVITE", "CSeq: 1 BYE");
  const auto broken = parse(broken_bytes, false);
  ASSERT_EQ(broken->error, ParseError::CSeqMethodMismatch);
  EXPECT_EQ(write_forwarded_request(*broken, basic_edits(), buffer).error, WriteError::NotARequest);
}

TEST(ForwardedRequest, BufferOneByteTooSmall) {
  const auto request = parse(with_routes("Route: <sip:us;lr>,<sip:next;lr>\r\n"));
  RequestEdits edits = basic_edits();
  edits.pop_top_routes = 1;
  edits.record_route_uri = "sip:192.0.2.1";
  expect_exact_fit(
      [&](std::span<char> out) { return write_forwarded_request(*request, edits, out); });
  const std::string no_mf = read_corpus("rfc4475/inv2543.dat");
  const auto without_max_forwards = parse(no_mf);
  expect_exact_fit([&](std::span<char> out) {
    return write_forwarded_request(*without_max_forwards, basic_edits(), out);
  });
}

// --- write_forwarded_response ------------------------------------------------------------

std::string forward_response(const Message& response) {
  return write_ok([&](std::span<char> out) { return write_forwarded_response(response, {}, out); });
}

TEST(ForwardedResponse, TopViaLineDropped) {
  // RFC 3665 §3.2 F9: three folded Via lines, one element each.
  const std::string received = read_corpus("rfc3665/3.2-F9-180.sip");
  const auto response = parse(received);
  const std::string top_via =
      "Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1\r\n"
      " ;received=192.0.2.222\r\n";
  EXPECT_EQ(forward_response(*response), replace_once(received, top_via, ""));
}

const std::string kResponse =
    "SIP/2.0 486 Busy Here\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sl0123456789abcdef01234567;rport=5060,"
    " SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n"
    "Via: SIP/2.0/UDP far.example.com;branch=z9hG4bKfar\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(ForwardedResponse, TopElementRemovedFromItsLine) {
  const auto response = parse(kResponse);
  ASSERT_EQ(response->via_count, 3);
  EXPECT_EQ(forward_response(*response),
            "SIP/2.0 486 Busy Here\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;"
            "received=192.0.2.101\r\n"
            "Via: SIP/2.0/UDP far.example.com;branch=z9hG4bKfar\r\n"
            "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(ForwardedResponse, CompactViaLineWithThreeElements) {
  const std::string received =
      "SIP/2.0 200 OK\r\n"
      "v: SIP/2.0/UDP a.example.com;branch=z9hG4bKa ,SIP/2.0/UDP b.example.com;branch=z9hG4bKb,"
      "  SIP/2.0/UDP c.example.com;branch=z9hG4bKc\r\n"
      "f: <sip:a@example.com>;tag=1\r\n"
      "t: <sip:b@example.com>;tag=2\r\n"
      "i: compact@example.com\r\n"
      "CSeq: 4 OPTIONS\r\n"
      "l: 3\r\n"
      "\r\n"
      "abc";
  const auto response = parse(received);
  EXPECT_EQ(forward_response(*response),
            replace_once(received, "SIP/2.0/UDP a.example.com;branch=z9hG4bKa ,", ""));
}

TEST(ForwardedResponse, BodyAndExtraOctets) {
  const std::string received =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-sl1\r\n"
      "Via: SIP/2.0/UDP client.example.com;branch=z9hG4bKc\r\n"
      "From: <sip:a@example.com>;tag=1\r\n"
      "To: <sip:b@example.com>;tag=2\r\n"
      "Call-ID: body@example.com\r\n"
      "CSeq: 4 OPTIONS\r\n"
      "Content-Length: 4\r\n"
      "\r\n"
      "bodyEXTRA";
  const auto response = parse(received);
  EXPECT_EQ(forward_response(*response),
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP client.example.com;branch=z9hG4bKc\r\n"
            "From: <sip:a@example.com>;tag=1\r\n"
            "To: <sip:b@example.com>;tag=2\r\n"
            "Call-ID: body@example.com\r\n"
            "CSeq: 4 OPTIONS\r\n"
            "Content-Length: 4\r\n"
            "\r\n"
            "body");
}

TEST(ForwardedResponse, CarrierResponseOnlyTopViaRemoved) {
  const std::string received = read_corpus("carrier/200ok-carrier-sdp.sip");
  const auto response = parse(received);
  ASSERT_GE(response->via_count, 2);
  const HeaderField& top_line = response->fields[response->vias[0].field];
  ASSERT_NE(response->vias[1].field, response->vias[0].field);
  EXPECT_EQ(forward_response(*response), replace_once(received, std::string(top_line.raw), ""));
}

// RFC 3325 §5, §7: identity lines left out, wherever they are; the top Via element popped
// from its line as always; everything else, the body included, byte for byte.
TEST(ForwardedResponse, IdentityLinesDroppedWhenAsked) {
  const std::string received =
      "SIP/2.0 200 OK\r\n"
      "P-Asserted-Identity: <sip:+442079460001@carrier.example>\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sl0123456789abcdef01234567;rport=5060,"
      " SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
      "From: <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
      "To: <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
      "P-Preferred-Identity: <sip:bob@biloxi.example.com>\r\n"
      "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
      "CSeq: 1 INVITE\r\n"
      "Privacy: id\r\n"
      "P-Asserted-Identity: <tel:+442079460001>\r\n"
      "Content-Length: 4\r\n"
      "\r\n"
      "body";
  const auto response = parse(received);
  ResponseEdits edits;
  edits.drop_identity = true;
  const std::string forwarded = write_ok(
      [&](std::span<char> out) { return write_forwarded_response(*response, edits, out); });
  EXPECT_EQ(forwarded,
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
            "From: <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: 1 INVITE\r\n"
            "Privacy: id\r\n"
            "Content-Length: 4\r\n"
            "\r\n"
            "body");
  expect_exact_fit(
      [&](std::span<char> out) { return write_forwarded_response(*response, edits, out); });
  // Not asked: the identity lines stay.
  const std::string kept = forward_response(*response);
  EXPECT_NE(kept.find("P-Asserted-Identity: <tel:+442079460001>\r\n"), std::string::npos);
  EXPECT_NE(kept.find("P-Preferred-Identity"), std::string::npos);
}

// §16.7 step 6: a 503 passed on as 500; only the status line changes, with or without the
// identity lines.
TEST(ForwardedResponse, StatusLineReplacedWhenAsked) {
  // What follows the top Via line: the part that must come through unchanged.
  const std::string rest =
      "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
      "From: <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
      "To: <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
      "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
      "CSeq: 1 INVITE\r\n"
      "P-Asserted-Identity: <tel:+442079460001>\r\n"
      "Retry-After: 30\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  const auto response = parse(
      "SIP/2.0 503 Service Unavailable\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sl0123456789abcdef01234567\r\n" +
      rest);
  ResponseEdits edits;
  edits.status_code = 500;
  const auto write = [&](std::span<char> out) {
    return write_forwarded_response(*response, edits, out);
  };
  EXPECT_EQ(write_ok(write), "SIP/2.0 500 Server Internal Error\r\n" + rest);
  expect_exact_fit(write);
  edits.drop_identity = true;
  std::string without = rest;
  without.erase(without.find("P-Asserted"),
                without.find("Retry-After") - without.find("P-Asserted"));
  EXPECT_EQ(write_ok(write), "SIP/2.0 500 Server Internal Error\r\n" + without);
}

TEST(ForwardedResponse, RefusesRequests) {
  const auto request = parse(kInvite);
  std::vector<char> buffer(4096);
  EXPECT_EQ(write_forwarded_response(*request, {}, buffer).error, WriteError::NotAResponse);
}

TEST(ForwardedResponse, BufferOneByteTooSmall) {
  const auto split = parse(kResponse);
  expect_exact_fit([&](std::span<char> out) { return write_forwarded_response(*split, {}, out); });
  const std::string received = read_corpus("rfc3665/3.2-F9-180.sip");
  const auto whole_line = parse(received);
  expect_exact_fit(
      [&](std::span<char> out) { return write_forwarded_response(*whole_line, {}, out); });
}

// --- write_local_response ----------------------------------------------------------------

LocalResponse local(std::uint16_t code, std::string_view to_tag = {}, std::string_view reason = {},
                    std::string_view extra_headers = {}, std::string_view body = {}) {
  LocalResponse response;
  response.code = code;
  response.reason = reason;
  response.to_tag = to_tag;
  response.extra_headers = extra_headers;
  response.body = body;
  return response;
}

std::string respond(const Message& request, const LocalResponse& response) {
  return write_ok(
      [&](std::span<char> out) { return write_local_response(request, response, out); });
}

TEST(LocalResponse, NotFoundWithToTag) {
  const auto request = parse(kInvite);
  EXPECT_EQ(respond(*request, local(404, "sl-4f2a")),
            "SIP/2.0 404 Not Found\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
            "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: Bob <sip:bob@biloxi.example.com>;tag=sl-4f2a\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(LocalResponse, ExistingToTagKept) {
  // RFC 3665 §3.2 F15-style in-dialog request: To already tagged.
  const std::string received = read_corpus("rfc3665/3.2-F18-BYE.sip");
  const auto request = parse(received);
  ASSERT_TRUE(request->to.has_tag);
  const std::string out = respond(*request, local(481, "sl-4f2a"));
  EXPECT_TRUE(out.starts_with("SIP/2.0 481 Call/Transaction Does Not Exist\r\n"));
  EXPECT_EQ(out.find("sl-4f2a"), std::string::npos);
  const HeaderField* to = request->find(HeaderId::To);
  ASSERT_NE(to, nullptr);
  EXPECT_NE(out.find(std::string(to->raw)), std::string::npos);
}

TEST(LocalResponse, AllViasInOrderAndOnlyTheListedHeaders) {
  const std::string received = read_corpus("carrier/invite-carrier-sdp.sip");
  const auto request = parse(received);
  const std::string out = respond(*request, local(503, "x1"));
  std::string expected = "SIP/2.0 503 Service Unavailable\r\n";
  for (const HeaderField* via = request->find(HeaderId::Via); via != nullptr;
       via = request->next(*via)) {
    expected += via->raw;
  }
  expected +=
      "From: \"Alice Smith\" <sip:+12125550100@carrier-a.example.com;user=phone>;tag=as5d8f2a1c\r\n"
      "To: <sip:+14085551234@carrier-b.example.net;user=phone>;tag=x1\r\n"
      "Call-ID: 6a2c3f0e1d4b5a69788796a5b4c3d2e1@203.0.113.55\r\n"
      "CSeq: 102 INVITE\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  EXPECT_EQ(request->count(HeaderId::Via), 5u);
  EXPECT_EQ(out, expected);
}

// §18.2.1 / RFC 3581 §4: the top Via of a local response is the one the transport stamped;
// the other Via lines stay as received.
TEST(LocalResponse, TopViaCarriesTheReceivedAndRportStamp) {
  const auto request = parse(
      "OPTIONS sip:1002@sipline.local SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bK-top, SIP/2.0/UDP h2;branch=z9hG4bK-2\r\n"
      "Via: SIP/2.0/UDP h3;branch=z9hG4bK-3\r\n"
      "From: <sip:1001@sipline.local>;tag=a\r\n"
      "To: <sip:1002@sipline.local>\r\n"
      "Call-ID: stamp-1\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n");
  LocalResponse response = local(404, "t1");
  response.received = "198.51.100.7";
  response.rport = 40123;
  EXPECT_EQ(respond(*request, response),
            "SIP/2.0 404 Not Found\r\n"
            "Via: SIP/2.0/UDP 10.0.0.5:5062;rport=40123;branch=z9hG4bK-top;received=198.51.100.7, "
            "SIP/2.0/UDP h2;branch=z9hG4bK-2\r\n"
            "Via: SIP/2.0/UDP h3;branch=z9hG4bK-3\r\n"
            "From: <sip:1001@sipline.local>;tag=a\r\n"
            "To: <sip:1002@sipline.local>;tag=t1\r\n"
            "Call-ID: stamp-1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n");
}

TEST(LocalResponse, ExtraHeadersReasonAndBody) {
  const auto request = parse(kInvite);
  const LocalResponse response =
      local(302, "t9", "Moved", "Contact: <sip:bob@192.0.2.4>\r\nContent-Type: text/plain\r\n",
            "moved\r\n");
  EXPECT_EQ(respond(*request, response),
            "SIP/2.0 302 Moved\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
            "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: Bob <sip:bob@biloxi.example.com>;tag=t9\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: 1 INVITE\r\n"
            "Contact: <sip:bob@192.0.2.4>\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 7\r\n"
            "\r\n"
            "moved\r\n");
}

TEST(LocalResponse, NoTagWhenNoneGiven) {
  const auto request = parse(kInvite);
  const std::string out = respond(*request, local(100));
  EXPECT_TRUE(out.starts_with("SIP/2.0 100 Trying\r\n"));
  EXPECT_NE(out.find("\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n"), std::string::npos);
}

TEST(LocalResponse, FoldedToLineGetsTheTagAfterItsValue) {
  const auto request = parse(replace_once(kInvite, "To: Bob <sip:bob@biloxi.example.com>\r\n",
                                          "To: Bob\r\n <sip:bob@biloxi.example.com>  \r\n"));
  const std::string out = respond(*request, local(480, "ab"));
  EXPECT_NE(out.find("\r\nTo: Bob\r\n <sip:bob@biloxi.example.com>;tag=ab  \r\nCall-ID"),
            std::string::npos)
      << out;
}

TEST(LocalResponse, AnswersARequestThatFailedToParse) {
  // A CSeq that is not a number: the request is refused, but its raw lines are indexed, so
  // a 400 can still be built (RFC 3261 §8.2.6, §16.3).
  const auto request = parse(replace_once(kInvite, "CSeq: 1 INVITE", "CSeq: one INVITE"), false);
  ASSERT_EQ(request->error, ParseError::BadCSeq);
  EXPECT_EQ(respond(*request, local(400, "z", "Bad CSeq")),
            "SIP/2.0 400 Bad CSeq\r\n"
            "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
            "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
            "To: Bob <sip:bob@biloxi.example.com>;tag=z\r\n"
            "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
            "CSeq: one INVITE\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(LocalResponse, UnparsedToWithTagIsNotTaggedTwice) {
  // Unterminated quote in the display name: To did not parse, its raw line has a tag.
  const auto request = parse(replace_once(kInvite, "To: Bob <sip:bob@biloxi.example.com>",
                                          "To: \"Bob <sip:bob@biloxi.example.com> ; TAG = 77"),
                             false);
  ASSERT_FALSE(request->ok());
  const std::string out = respond(*request, local(400, "z"));
  EXPECT_NE(out.find("\r\nTo: \"Bob <sip:bob@biloxi.example.com> ; TAG = 77\r\nCall-ID"),
            std::string::npos)
      << out;
}

TEST(LocalResponse, MissingLinesAreSkipped) {
  // RFC 4475 §3.3.1 (insuf.dat): no Call-ID, From or To.
  const std::string received = read_corpus("rfc4475/insuf.dat");
  const auto request = parse(received, false);
  ASSERT_FALSE(request->ok());
  ASSERT_EQ(request->find(HeaderId::CallId), nullptr);
  const std::string out = respond(*request, local(400, "z"));
  std::string expected = "SIP/2.0 400 Bad Request\r\n";
  for (const HeaderField* via = request->find(HeaderId::Via); via != nullptr;
       via = request->next(*via)) {
    expected += via->raw;
  }
  if (const HeaderField* cseq = request->find(HeaderId::CSeq)) expected += cseq->raw;
  expected += "Content-Length: 0\r\n\r\n";
  EXPECT_EQ(out, expected);
}

TEST(LocalResponse, RefusesResponses) {
  const std::string received = read_corpus("rfc3665/3.2-F9-180.sip");
  const auto response = parse(received);
  std::vector<char> buffer(4096);
  EXPECT_EQ(write_local_response(*response, local(400), buffer).error, WriteError::NotARequest);
}

TEST(LocalResponse, BufferOneByteTooSmall) {
  const auto request = parse(kInvite);
  const LocalResponse response = local(302, "t9", {}, "Contact: <sip:bob@192.0.2.4>\r\n", "x");
  expect_exact_fit(
      [&](std::span<char> out) { return write_local_response(*request, response, out); });
  const LocalResponse tag_is_last = local(404, "t9");
  expect_exact_fit(
      [&](std::span<char> out) { return write_local_response(*request, tag_is_last, out); });
}

// --- our CANCEL at Timer C (§9.1, §16.8) ------------------------------------------------

std::string cancel_from(const std::string& response, std::string_view request_uri) {
  const std::unique_ptr<HeldMessage> parsed = parse(response);
  std::string out(1024, '\0');
  const Written written = write_cancel_for_provisional(*parsed, request_uri, out);
  if (!written.ok()) return "error";
  out.resize(written.size);
  return out;
}

const std::string kRinging =
    "SIP/2.0 183 Session Progress\r\n"
    "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours1\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5099;branch=z9hG4bKcaller;rport=5099\r\n"
    "From: \"Alice\" <sip:1001@example.com>;tag=a1\r\n"
    "t: \"Bob\" <sip:2002@example.com>;user=phone ; tag = b2;x=1\r\n"
    "Call-ID: c1@192.0.2.10\r\n"
    "CSeq: 41 INVITE\r\n"
    "Content-Length: 0\r\n\r\n";

TEST(CancelForProvisional, MatchesTheInviteAndDropsOnlyTheCalleesTag) {
  EXPECT_EQ(cancel_from(kRinging, "sip:2002@192.0.2.20"),
            "CANCEL sip:2002@192.0.2.20 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours1\r\n"
            "Max-Forwards: 70\r\n"
            "From: \"Alice\" <sip:1001@example.com>;tag=a1\r\n"
            "To: \"Bob\" <sip:2002@example.com>;user=phone ;x=1\r\n"
            "Call-ID: c1@192.0.2.10\r\n"
            "CSeq: 41 CANCEL\r\n"
            "Content-Length: 0\r\n\r\n");
}

TEST(CancelForProvisional, OnlyFromAProvisionalAnswerWithARequestUri) {
  std::string final_answer = kRinging;
  final_answer.replace(8, 3, "200");
  EXPECT_EQ(cancel_from(final_answer, "sip:2002@192.0.2.20"), "error");
  EXPECT_EQ(cancel_from(kRinging, ""), "error");
  std::string trying = kRinging;
  trying.replace(8, 3, "100");
  EXPECT_NE(cancel_from(trying, "sip:2002@192.0.2.20").find("\r\nCSeq: 41 CANCEL\r\n"),
            std::string::npos);
}

}  // namespace
}  // namespace sipline::sip

// sipblast's prebuilt messages: what the patched templates produce must be exactly the SIP
// message intended, which sip::parse_message (the proxy's own parser) checks field by field.
#include "bench/sipblast/templates.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

#include "sip/message.hpp"
#include "sip/scalar_headers.hpp"

namespace {

using namespace sipline::sipblast;
namespace sip = sipline::sip;

constexpr std::string_view kInstance = "0badcafe03";

ClientIdentity identity() {
  ClientIdentity id;
  id.instance = std::string(kInstance);
  id.local_address = "127.0.0.1";
  id.local_port = 5071;
  id.from_user = "1001";
  id.request_uri = "sip:1002@127.0.0.1:5060";
  id.register_domain = "127.0.0.1";
  id.register_expires = 600;
  return id;
}

// Parses into heap storage: sip::Message is about 10 KiB.
std::unique_ptr<sip::Message> parse(std::string_view text) {
  auto message = std::make_unique<sip::Message>();
  sip::parse_message_into(*message, text);
  return message;
}

std::string_view header(const sip::Message& message, sip::HeaderId id) {
  const sip::HeaderField* field = message.find(id);
  return field == nullptr ? std::string_view("<absent>") : field->value;
}

struct Buffer {
  std::array<char, 4096> bytes{};
  std::size_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};

TEST(SipblastTemplates, FixedDecimalWritesExactlyTheWidth) {
  std::array<char, 6> out{};
  out[5] = 'x';
  write_fixed_decimal(out.data(), 5, 42);
  EXPECT_EQ(std::string_view(out.data(), 6), "00042x");
  write_fixed_decimal(out.data(), 5, 1234567);  // keeps the lowest digits
  EXPECT_EQ(std::string_view(out.data(), 5), "34567");
  EXPECT_EQ(read_fixed_decimal("000000000042"), 42u);
  EXPECT_FALSE(read_fixed_decimal("00004x").has_value());
}

TEST(SipblastTemplates, InviteCarriesTheCallsIdentifiersAndAnSdpOffer) {
  const ClientTemplates templates(identity());
  Buffer buffer;
  buffer.size = templates.invite(buffer.bytes, 42);
  ASSERT_GT(buffer.size, 0u);
  const auto message = parse(buffer.view());
  ASSERT_TRUE(message->ok()) << sip::describe(message->error) << "\n" << buffer.view();
  EXPECT_EQ(message->method, sip::Method::Invite);
  EXPECT_EQ(message->request_uri_text, "sip:1002@127.0.0.1:5060");
  EXPECT_EQ(message->via_count, 1);
  EXPECT_EQ(message->top_via.sent_by.host, "127.0.0.1");
  EXPECT_EQ(message->top_via.sent_by.port, 5071);
  EXPECT_EQ(message->top_via.branch, "z9hG4bKsb0badcafe03i000000000042");
  EXPECT_TRUE(message->top_via.has_rport);
  EXPECT_EQ(message->from.tag, "sb0badcafe03000000000042");
  EXPECT_EQ(message->from.display_name, "\"sipblast\"");
  EXPECT_EQ(message->from.uri_text, "sip:1001@127.0.0.1");
  EXPECT_FALSE(message->to.has_tag);
  EXPECT_EQ(message->to.uri_text, "sip:1002@127.0.0.1:5060");
  EXPECT_EQ(message->call_id, "sb0badcafe03-000000000042@127.0.0.1");
  EXPECT_EQ(message->cseq.number, 1u);
  EXPECT_EQ(message->cseq.method, sip::Method::Invite);
  EXPECT_EQ(message->max_forwards, 70);
  EXPECT_EQ(header(*message, sip::HeaderId::Contact), "<sip:1001@127.0.0.1:5071>");
  EXPECT_EQ(header(*message, sip::HeaderId::ContentType), "application/sdp");
  EXPECT_EQ(message->content_length, templates.sdp_size());
  EXPECT_EQ(message->body.size(), templates.sdp_size());
  EXPECT_TRUE(message->body.starts_with(
      "v=0\r\no=sipblast 000000000042 1 IN IP4 127.0.0.1\r\ns=sipblast\r\n"
      "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\n"))
      << message->body;
  EXPECT_TRUE(message->body.ends_with("a=sendrecv\r\n"));
}

TEST(SipblastTemplates, EachCallGetsItsOwnCallIdTagAndBranch) {
  const ClientTemplates templates(identity());
  Buffer first, second;
  first.size = templates.invite(first.bytes, 7);
  second.size = templates.invite(second.bytes, 999'999'999'999);
  ASSERT_EQ(first.size, second.size);  // fixed-width slots: same length for every call
  const auto a = parse(first.view());
  const auto b = parse(second.view());
  ASSERT_TRUE(a->ok() && b->ok());
  EXPECT_EQ(b->call_id, "sb0badcafe03-999999999999@127.0.0.1");
  EXPECT_NE(a->call_id, b->call_id);
  EXPECT_NE(a->from.tag, b->from.tag);
  EXPECT_NE(a->top_via.branch, b->top_via.branch);
}

TEST(SipblastTemplates, BranchDecodesToKindAndSequenceForItsInstanceOnly) {
  const auto ref = decode_branch("z9hG4bKsb0badcafe03b000000001234", kInstance);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->kind, TxKind::Bye);
  EXPECT_EQ(ref->sequence, 1234u);
  EXPECT_FALSE(decode_branch("z9hG4bKsb0badcafe04b000000001234", kInstance));  // other thread
  EXPECT_FALSE(decode_branch("z9hG4bKsb0badcafe03x000000001234", kInstance));  // unknown kind
  EXPECT_FALSE(decode_branch("z9hG4bKsb0badcafe03b00000000123", kInstance));   // short
  EXPECT_FALSE(decode_branch("z9hG4bKsb0badcafe03b00000000123a", kInstance));  // not digits
  EXPECT_FALSE(decode_branch("z9hG4bK776asdhds", kInstance));
}

TEST(SipblastTemplates, AckAndByeFollowTheDialog) {
  const ClientTemplates templates(identity());
  const DialogView dialog{"sip:1002@127.0.0.1:5070",
                          "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>\r\n",
                          "a1b2c3d4e5f60718"};
  Buffer ack;
  ack.size = templates.ack_2xx(ack.bytes, 42, dialog);
  const auto parsed_ack = parse(ack.view());
  ASSERT_TRUE(parsed_ack->ok()) << sip::describe(parsed_ack->error) << "\n" << ack.view();
  EXPECT_EQ(parsed_ack->method, sip::Method::Ack);
  EXPECT_EQ(parsed_ack->request_uri_text, "sip:1002@127.0.0.1:5070");
  EXPECT_EQ(parsed_ack->top_via.branch, "z9hG4bKsb0badcafe03a000000000042");
  EXPECT_EQ(header(*parsed_ack, sip::HeaderId::Route),
            "<sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>");
  EXPECT_EQ(parsed_ack->to.tag, "a1b2c3d4e5f60718");
  EXPECT_EQ(parsed_ack->from.tag, "sb0badcafe03000000000042");
  EXPECT_EQ(parsed_ack->call_id, "sb0badcafe03-000000000042@127.0.0.1");
  EXPECT_EQ(parsed_ack->cseq.number, 1u);
  EXPECT_EQ(parsed_ack->cseq.method, sip::Method::Ack);
  EXPECT_EQ(parsed_ack->content_length, 0u);

  Buffer bye;
  bye.size = templates.bye(bye.bytes, 42, {"sip:1002@127.0.0.1:5070", "", "tag-9"});
  const auto parsed_bye = parse(bye.view());
  ASSERT_TRUE(parsed_bye->ok()) << bye.view();
  EXPECT_EQ(parsed_bye->method, sip::Method::Bye);
  EXPECT_EQ(parsed_bye->top_via.branch, "z9hG4bKsb0badcafe03b000000000042");
  EXPECT_EQ(parsed_bye->find(sip::HeaderId::Route), nullptr);
  EXPECT_EQ(parsed_bye->to.tag, "tag-9");
  EXPECT_EQ(parsed_bye->cseq.number, 2u);
  EXPECT_EQ(parsed_bye->cseq.method, sip::Method::Bye);
}

TEST(SipblastTemplates, AckForAFailureReusesTheInviteBranch) {
  const ClientTemplates templates(identity());
  Buffer ack;
  ack.size = templates.ack_failure(ack.bytes, 5, "busy1");
  const auto message = parse(ack.view());
  ASSERT_TRUE(message->ok()) << ack.view();
  EXPECT_EQ(message->method, sip::Method::Ack);
  EXPECT_EQ(message->request_uri_text, "sip:1002@127.0.0.1:5060");
  EXPECT_EQ(message->top_via.branch, "z9hG4bKsb0badcafe03i000000000005");
  EXPECT_EQ(message->to.tag, "busy1");
  EXPECT_EQ(message->cseq.method, sip::Method::Ack);

  ack.size = templates.ack_failure(ack.bytes, 5, "");
  const auto untagged = parse(ack.view());
  ASSERT_TRUE(untagged->ok());
  EXPECT_FALSE(untagged->to.has_tag);
}

TEST(SipblastTemplates, Options) {
  const ClientTemplates templates(identity());
  Buffer buffer;
  buffer.size = templates.options(buffer.bytes, 3);
  const auto message = parse(buffer.view());
  ASSERT_TRUE(message->ok()) << buffer.view();
  EXPECT_EQ(message->method, sip::Method::Options);
  EXPECT_EQ(message->top_via.branch, "z9hG4bKsb0badcafe03o000000000003");
  EXPECT_EQ(message->cseq.method, sip::Method::Options);
  EXPECT_EQ(message->call_id, "sb0badcafe03-000000000003@127.0.0.1");
}

TEST(SipblastTemplates, RegisterForAUserWithAndWithoutCredentials) {
  const ClientTemplates templates(identity());
  Buffer buffer;
  buffer.size = templates.register_request(buffer.bytes, TxKind::Register, 77, {"alice", 7, ""});
  auto message = parse(buffer.view());
  ASSERT_TRUE(message->ok()) << sip::describe(message->error) << "\n" << buffer.view();
  EXPECT_EQ(message->method, sip::Method::Register);
  EXPECT_EQ(message->request_uri_text, "sip:127.0.0.1");
  EXPECT_EQ(message->top_via.branch, "z9hG4bKsb0badcafe03r000000000077");
  EXPECT_EQ(message->from.uri_text, "sip:alice@127.0.0.1");
  EXPECT_EQ(message->to.uri_text, "sip:alice@127.0.0.1");
  EXPECT_FALSE(message->to.has_tag);
  EXPECT_EQ(message->call_id, "sbreg-alice-0badcafe03@127.0.0.1");
  EXPECT_EQ(message->cseq.number, 7u);
  EXPECT_EQ(message->cseq.method, sip::Method::Register);
  EXPECT_EQ(header(*message, sip::HeaderId::Contact), "<sip:alice@127.0.0.1:5071>");
  EXPECT_EQ(header(*message, sip::HeaderId::Expires), "600");
  EXPECT_EQ(message->find(sip::HeaderId::Authorization), nullptr);

  const std::string_view credentials =
      "Authorization: Digest username=\"alice\", realm=\"r\", nonce=\"n\", uri=\"sip:127.0.0.1\", "
      "response=\"00\"\r\n";
  buffer.size =
      templates.register_request(buffer.bytes, TxKind::RegisterAuth, 77, {"alice", 8, credentials});
  message = parse(buffer.view());
  ASSERT_TRUE(message->ok()) << buffer.view();
  EXPECT_EQ(message->top_via.branch, "z9hG4bKsb0badcafe03s000000000077");
  EXPECT_EQ(message->cseq.number, 8u);
  EXPECT_EQ(message->call_id, "sbreg-alice-0badcafe03@127.0.0.1");  // same Call-ID, §10.2
  EXPECT_EQ(
      header(*message, sip::HeaderId::Authorization),
      credentials.substr(std::string_view("Authorization: ").size(),
                         credentials.size() - std::string_view("Authorization: \r\n").size()));
}

TEST(SipblastTemplates, Ipv6AddressesAreBracketedInSipAndBareInSdp) {
  ClientIdentity id = identity();
  id.local_address = "::1";
  id.request_uri = "sip:1002@[::1]:5060";
  const ClientTemplates templates(id);
  Buffer buffer;
  buffer.size = templates.invite(buffer.bytes, 1);
  const auto message = parse(buffer.view());
  ASSERT_TRUE(message->ok()) << buffer.view();
  EXPECT_EQ(message->top_via.sent_by.host, "[::1]");
  EXPECT_EQ(message->call_id, "sb0badcafe03-000000000001@[::1]");
  EXPECT_NE(message->body.find("c=IN IP6 ::1\r\n"), std::string_view::npos);
}

TEST(SipblastTemplates, TooSmallABufferWritesNothing) {
  const ClientTemplates templates(identity());
  std::array<char, 100> small{};
  EXPECT_EQ(templates.invite(small, 1), 0u);
  EXPECT_EQ(templates.bye(small, 1, {"sip:a@b", "", "t"}), 0u);
}

// What a proxy forwards to the UAS: its own Via on top, a Record-Route.
constexpr std::string_view kForwardedInvite =
    "INVITE sip:1002@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy1\r\n"
    "v: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKsb0badcafe03i000000000042;rport=5071\r\n"
    "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
    "Max-Forwards: 69\r\n"
    "From: \"sipblast\" <sip:1001@127.0.0.1>;tag=sb0badcafe03000000000042\r\n"
    "To: <sip:1002@127.0.0.1:5060>\r\n"
    "Call-ID: sb0badcafe03-000000000042@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(SipblastTemplates, TryingCopiesTheRequestHeadersExactly) {
  const UasResponder responder({"sip:1002@127.0.0.1:5070", "127.0.0.1"});
  const auto request = parse(kForwardedInvite);
  ASSERT_TRUE(request->ok());
  Buffer buffer;
  buffer.size = responder.write(buffer.bytes, *request, ResponseKind::Trying);
  EXPECT_EQ(buffer.view(),
            "SIP/2.0 100 Trying\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy1\r\n"
            "v: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKsb0badcafe03i000000000042;rport=5071\r\n"
            "From: \"sipblast\" <sip:1001@127.0.0.1>;tag=sb0badcafe03000000000042\r\n"
            "To: <sip:1002@127.0.0.1:5060>\r\n"
            "Call-ID: sb0badcafe03-000000000042@127.0.0.1\r\n"
            "CSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(SipblastTemplates, RingingAndOkAddTheSameTagRecordRouteAndContact) {
  const UasResponder responder({"sip:1002@127.0.0.1:5070", "127.0.0.1"});
  const auto request = parse(kForwardedInvite);
  ASSERT_TRUE(request->ok());
  const std::array<char, 16> tag_chars = uas_tag(request->call_id);
  const std::string_view tag(tag_chars.data(), tag_chars.size());
  EXPECT_EQ(tag.find_first_not_of("0123456789abcdef"), std::string_view::npos);

  Buffer ringing, ok;
  ringing.size = responder.write(ringing.bytes, *request, ResponseKind::Ringing);
  ok.size = responder.write(ok.bytes, *request, ResponseKind::OkSdp);
  const auto parsed_ringing = parse(ringing.view());
  const auto parsed_ok = parse(ok.view());
  ASSERT_TRUE(parsed_ringing->ok()) << ringing.view();
  ASSERT_TRUE(parsed_ok->ok()) << ok.view();

  EXPECT_EQ(parsed_ringing->status_code, 180);
  EXPECT_EQ(parsed_ringing->to.tag, tag);
  EXPECT_EQ(parsed_ok->status_code, 200);
  EXPECT_EQ(parsed_ok->to.tag, tag);
  EXPECT_EQ(parsed_ok->via_count, 2);
  EXPECT_EQ(parsed_ok->top_via.branch, "z9hG4bKproxy1");
  EXPECT_EQ(header(*parsed_ok, sip::HeaderId::RecordRoute), "<sip:127.0.0.1:5060;lr>");
  EXPECT_EQ(header(*parsed_ok, sip::HeaderId::Contact), "<sip:1002@127.0.0.1:5070>");
  EXPECT_EQ(parsed_ok->cseq.method, sip::Method::Invite);
  EXPECT_EQ(parsed_ok->call_id, request->call_id);
  EXPECT_EQ(parsed_ok->from.tag, request->from.tag);
  EXPECT_EQ(header(*parsed_ok, sip::HeaderId::ContentType), "application/sdp");
  EXPECT_EQ(parsed_ok->content_length, parsed_ok->body.size());
  EXPECT_TRUE(parsed_ok->body.starts_with("v=0\r\no=sipblast-uas 1 1 IN IP4 127.0.0.1\r\n"));
}

TEST(SipblastTemplates, OkToRegisterEchoesTheContact) {
  const UasResponder responder({"sip:1002@127.0.0.1:5070", "127.0.0.1"});
  const ClientTemplates templates(identity());
  Buffer request_bytes;
  request_bytes.size =
      templates.register_request(request_bytes.bytes, TxKind::Register, 1, {"bob", 1, ""});
  const auto request = parse(request_bytes.view());
  ASSERT_TRUE(request->ok());
  Buffer buffer;
  buffer.size = responder.write(buffer.bytes, *request, ResponseKind::Ok);
  const auto response = parse(buffer.view());
  ASSERT_TRUE(response->ok()) << buffer.view();
  EXPECT_EQ(response->status_code, 200);
  EXPECT_EQ(response->cseq.method, sip::Method::Register);
  EXPECT_EQ(header(*response, sip::HeaderId::Contact), "<sip:bob@127.0.0.1:5071>");
  EXPECT_TRUE(response->to.has_tag);
  EXPECT_EQ(response->content_length, 0u);
}

TEST(SipblastTemplates, ReInviteKeepsItsToTag) {
  const UasResponder responder({"sip:1002@127.0.0.1:5070", "127.0.0.1"});
  std::string text(kForwardedInvite);
  text.replace(text.find("To: <sip:1002@127.0.0.1:5060>"),
               std::string_view("To: <sip:1002@127.0.0.1:5060>").size(),
               "To: <sip:1002@127.0.0.1:5060>;tag=existing");
  const auto request = parse(text);
  ASSERT_TRUE(request->ok());
  Buffer buffer;
  buffer.size = responder.write(buffer.bytes, *request, ResponseKind::OkSdp);
  const auto response = parse(buffer.view());
  ASSERT_TRUE(response->ok());
  EXPECT_EQ(response->to.tag, "existing");
  EXPECT_EQ(response->count(sip::HeaderId::To), 1u);
}

}  // namespace

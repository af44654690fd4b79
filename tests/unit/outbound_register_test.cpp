#include "sip/outbound_register.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sip/message.hpp"

namespace sipline::sip {
namespace {

// A parsed message with the bytes its views point into (Message is large: on the heap).
struct HeldMessage : Message {
  std::string bytes;
};

std::unique_ptr<HeldMessage> parse(std::string text) {
  auto message = std::make_unique<HeldMessage>();
  message->bytes = std::move(text);
  parse_message_into(*message, message->bytes);
  EXPECT_TRUE(message->ok()) << describe(message->error) << "\n" << message->bytes;
  return message;
}

std::string ok_with(const std::string& headers) {
  return "SIP/2.0 200 OK\r\n"
         "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r1\r\n"
         "From: <sip:+15551230000@carrier.example>;tag=t1\r\n"
         "To: <sip:+15551230000@carrier.example>;tag=r1\r\n"
         "Call-ID: reg-1\r\n"
         "CSeq: 2 REGISTER\r\n" +
         headers + "Content-Length: 0\r\n\r\n";
}

TEST(OutboundRegister, WritesARegisterAsSection10_2Asks) {
  OutboundRegister request;
  request.registrar_uri = "sip:carrier.example";
  request.aor = "sip:+15551230000@carrier.example";
  request.contact_uri = "sip:+15551230000@192.0.2.1:5060";
  request.sent_by = "192.0.2.1:5060";
  request.branch = "z9hG4bK-ours";
  request.from_tag = "ft";
  request.call_id = "reg-1";
  request.cseq = 7;
  request.expires_s = 600;
  request.credentials = "Authorization: Digest username=\"u\"\r\n";
  EXPECT_EQ(write_outbound_register(request),
            "REGISTER sip:carrier.example SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ours;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:+15551230000@carrier.example>;tag=ft\r\n"
            "To: <sip:+15551230000@carrier.example>\r\n"
            "Call-ID: reg-1\r\n"
            "CSeq: 7 REGISTER\r\n"
            "Contact: <sip:+15551230000@192.0.2.1:5060>\r\n"
            "Expires: 600\r\n"
            "Authorization: Digest username=\"u\"\r\n"
            "User-Agent: sipline\r\n"
            "Content-Length: 0\r\n\r\n");
}

// §10.2.4: the registrar lists every binding of the AOR; ours is the one with our URI
// (compared as URIs: case-insensitive host).
TEST(OutboundRegister, TheGrantIsOurContactsExpires) {
  const auto ok =
      parse(ok_with("Contact: <sip:+15551230000@192.0.2.9:5060>;expires=50, "
                    "<sip:+15551230000@192.0.2.1:5060>;expires=120\r\nExpires: 3600\r\n"));
  EXPECT_EQ(granted_expires(*ok, "sip:+15551230000@192.0.2.1:5060"), 120u);
  EXPECT_EQ(granted_expires(*ok, "sip:+15551230000@192.0.2.7:5060"), 3600u);  // Expires
  const auto bare = parse(ok_with(""));
  EXPECT_EQ(granted_expires(*bare, "sip:+15551230000@192.0.2.1:5060"), std::nullopt);
}

TEST(OutboundRegister, MinExpiresOfA423) {
  std::string text = ok_with("Min-Expires: 1800\r\n");
  text.replace(8, 6, "423 Interval Too Brief");
  EXPECT_EQ(min_expires(*parse(text)), 1800u);
  EXPECT_EQ(min_expires(*parse(ok_with(""))), std::nullopt);
}

}  // namespace
}  // namespace sipline::sip

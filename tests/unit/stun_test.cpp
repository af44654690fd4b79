// STUN Binding on the SIP port (sip/stun.hpp): the answers, octet for octet. The
// XOR-MAPPED-ADDRESS values are RFC 5769's test vectors (§2.2, §2.3: the same transaction ID,
// address and port), the CRC the check value of CRC-32.
#include "sip/stun.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sipline::sip {
namespace {

// Octets from "01 01 00 0c ..." text.
std::string octets(std::string_view hex) {
  std::string bytes;
  for (std::size_t i = 0; i < hex.size();) {
    if (hex[i] == ' ') {
      ++i;
      continue;
    }
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return bytes;
}

constexpr std::string_view kTransactionId = "b7 e7 a7 01 bc 34 d6 86 fa 87 df ae";

// A Binding request (or another type) with these attributes (already encoded).
std::string stun_message(std::string_view type, const std::string& attributes = {}) {
  std::string message = octets(type);
  message.push_back(static_cast<char>(attributes.size() >> 8));
  message.push_back(static_cast<char>(attributes.size()));
  return message + octets("21 12 a4 42") + octets(kTransactionId) + attributes;
}

// `message` with FINGERPRINT appended (its header length counting it, RFC 5389 §15.5).
std::string with_fingerprint(std::string message, std::uint32_t corrupt = 0) {
  const std::size_t length = message.size() - kStunHeaderSize + 8;
  message[2] = static_cast<char>(length >> 8);
  message[3] = static_cast<char>(length);
  const std::uint32_t value = (crc32(message) ^ 0x5354554Eu) ^ corrupt;
  message += octets("80 28 00 04");
  for (int shift = 24; shift >= 0; shift -= 8)
    message.push_back(static_cast<char>(value >> shift));
  return message;
}

StunPeer ipv4_peer() {
  StunPeer peer;
  peer.address = {192, 0, 2, 1};
  peer.port = 32853;
  return peer;
}

struct Answered {
  StunReply reply;
  std::string bytes;
};

Answered answer(const std::string& request, const StunPeer& peer = ipv4_peer(),
                std::size_t room = 1500) {
  std::vector<char> out(room);
  const StunAnswer answer = answer_stun(request, peer, out);
  return {answer.reply, std::string(out.data(), answer.size)};
}

TEST(Crc32, TheCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
}

TEST(LooksLikeStun, TellsStunFromSip) {
  EXPECT_TRUE(looks_like_stun(stun_message("00 01")));
  EXPECT_FALSE(looks_like_stun("INVITE sip:2000@sipline.local SIP/2.0\r\n"));
  // CR and LF have their top two bits zero too: the cookie tells them apart.
  EXPECT_FALSE(looks_like_stun("\r\n\r\nOPTIONS sip:x SIP/2.0\r\n"));
  EXPECT_FALSE(looks_like_stun(stun_message("00 01").substr(0, 19)));
}

TEST(AnswerStun, ABindingRequestGetsItsSourceInXorMappedAddress) {
  const Answered answered = answer(stun_message("00 01"));
  EXPECT_EQ(answered.reply, StunReply::BindingSuccess);
  EXPECT_EQ(answered.bytes, octets("01 01 00 0c 21 12 a4 42") + octets(kTransactionId) +
                                octets("00 20 00 08 00 01 a1 47 e1 12 a6 43"));
}

TEST(AnswerStun, AnIpv6SourceIsXoredWithTheCookieAndTheTransactionId) {
  StunPeer peer;
  peer.ipv6 = true;
  peer.address = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
                  0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
  peer.port = 32853;
  const Answered answered = answer(stun_message("00 01"), peer);
  EXPECT_EQ(answered.reply, StunReply::BindingSuccess);
  EXPECT_EQ(answered.bytes,
            octets("01 01 00 18 21 12 a4 42") + octets(kTransactionId) +
                octets("00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"));
}

TEST(AnswerStun, AFingerprintedRequestGetsAFingerprintedAnswer) {
  // SOFTWARE (optional to understand, §15.10) is ignored.
  const std::string request =
      with_fingerprint(stun_message("00 01", octets("80 22 00 03 61 62 63 00")));
  const Answered answered = answer(request);
  ASSERT_EQ(answered.reply, StunReply::BindingSuccess);
  ASSERT_EQ(answered.bytes.size(), 20u + 12u + 8u);
  EXPECT_EQ(answered.bytes.substr(0, 4), octets("01 01 00 14"));
  EXPECT_EQ(answered.bytes.substr(20, 12), octets("00 20 00 08 00 01 a1 47 e1 12 a6 43"));
  EXPECT_EQ(answered.bytes, with_fingerprint(answered.bytes.substr(0, 32)));
  // A FINGERPRINT that does not match, or one that is not last: discarded (§7.3).
  EXPECT_EQ(answer(with_fingerprint(stun_message("00 01"), 1)).reply, StunReply::None);
  std::string not_last = with_fingerprint(stun_message("00 01")) + octets("80 22 00 00");
  not_last[3] = static_cast<char>(not_last[3] + 4);
  EXPECT_EQ(answer(not_last).reply, StunReply::None);
}

TEST(AnswerStun, AttributesThatMustBeUnderstoodGet420ListingThem) {
  // PRIORITY and USERNAME (ICE: not for a keep-alive server), SOFTWARE between them.
  const std::string request = stun_message(
      "00 01", octets("00 24 00 04 6e 00 01 ff 80 22 00 01 61 00 00 00 00 06 00 01 75 00 00 00"));
  const Answered answered = answer(request);
  EXPECT_EQ(answered.reply, StunReply::UnknownAttributes);
  EXPECT_EQ(answered.bytes, octets("01 11 00 24 21 12 a4 42") + octets(kTransactionId) +
                                octets("00 09 00 15 00 00 04 14") + "Unknown Attribute" +
                                octets("00 00 00") + octets("00 0a 00 04 00 24 00 06"));
  const Answered fingerprinted = answer(with_fingerprint(request));
  EXPECT_EQ(fingerprinted.reply, StunReply::UnknownAttributes);
  EXPECT_EQ(fingerprinted.bytes.size(), answered.bytes.size() + 8);
}

TEST(AnswerStun, IndicationsResponsesOtherMethodsAndMalformedMessagesGetNothing) {
  const Answered indication = answer(stun_message("00 11"));
  EXPECT_EQ(indication.reply, StunReply::Indication);
  EXPECT_TRUE(indication.bytes.empty());
  EXPECT_EQ(answer(stun_message("01 01")).reply, StunReply::None);  // a response
  EXPECT_EQ(answer(stun_message("00 03")).reply, StunReply::None);  // Allocate (TURN)
  std::string wrong_length = stun_message("00 01", octets("80 22 00 00"));
  wrong_length[3] = 8;
  EXPECT_EQ(answer(wrong_length).reply, StunReply::None);
  // An attribute running past the end, and a message that is not whole words.
  EXPECT_EQ(answer(stun_message("00 01", octets("80 22 00 08 61 62 63 64"))).reply,
            StunReply::None);
  EXPECT_EQ(answer(stun_message("00 01", octets("80 22 00"))).reply, StunReply::None);
}

TEST(AnswerStun, NothingIsWrittenWithoutRoom) {
  const Answered answered = answer(stun_message("00 01"), ipv4_peer(), 31);
  EXPECT_EQ(answered.reply, StunReply::None);
  EXPECT_TRUE(answered.bytes.empty());
}

}  // namespace
}  // namespace sipline::sip

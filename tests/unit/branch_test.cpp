#include "sip/branch.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "sip/hex.hpp"
#include "sip/message.hpp"
#include "tests/unit/test_support.hpp"

namespace sipline::sip {
namespace {

using test::HeldMessage;
using test::parse_held;
using test::parse_ok;
using test::read_corpus;
using test::replace_once;

std::unique_ptr<HeldMessage> parse(std::string bytes) {
  return parse_ok(std::move(bytes));
}

std::string hex(std::uint64_t value, int digits) {
  char text[17];
  std::snprintf(text, sizeof text, "%0*llx", digits, static_cast<unsigned long long>(value));
  return text;
}

constexpr BranchKey kKey{0x5eed5eed12345678ull};
constexpr BranchKey kOtherKey{0x5eed5eed12345679ull};

// An RFC 3261 INVITE, its CANCEL (§9.1: same Request-URI, top Via, Call-ID, From, To, CSeq
// number) and the ACK of a 487 (§17.1.1.3: same, plus the To tag of the response).
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

const std::string kCancel =
    "CANCEL sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 CANCEL\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

const std::string kAckFor487 =
    "ACK sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=314159\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 ACK\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(Branch, LayoutIsPrefixHashAndSignatureInLowercaseHex) {
  const auto invite = parse(kInvite);
  const Branch branch = stateless_branch(*invite, kKey);
  const std::string hash_hex = hex(stateless_transaction_hash(*invite), 16);
  const std::uint32_t signature = static_cast<std::uint32_t>(
      XXH3_64bits_withSeed(hash_hex.data(), hash_hex.size(), kKey.secret));
  EXPECT_EQ(std::string(branch.view()), "z9hG4bK-sl" + hash_hex + hex(signature, 8));
  EXPECT_EQ(branch.view().size(), 34u);
  EXPECT_TRUE(branch.view().starts_with(kMagicCookie));
}

TEST(Branch, Rfc3261InviteRetransmissionCancelAndAckShareTheBranch) {
  const auto invite = parse(kInvite);
  const auto retransmission = parse(std::string(kInvite));
  const auto cancel = parse(kCancel);
  const auto ack = parse(kAckFor487);
  const std::string expected(stateless_branch(*invite, kKey).view());
  EXPECT_EQ(std::string(stateless_branch(*retransmission, kKey).view()), expected);
  EXPECT_EQ(std::string(stateless_branch(*cancel, kKey).view()), expected);
  EXPECT_EQ(std::string(stateless_branch(*ack, kKey).view()), expected);
}

TEST(Branch, Rfc3261DifferentBranchOrSentByGivesDifferentHash) {
  const auto invite = parse(kInvite);
  const auto other_branch = parse(replace_once(kInvite, "z9hG4bK74bf9", "z9hG4bK74bfa"));
  const auto other_sent_by = parse(replace_once(kInvite, "client.atlanta.example.com:5060;",
                                                "client.atlanta.example.com:5062;"));
  const auto other_host = parse(
      replace_once(kInvite, "client.atlanta.example.com:5060;", "pc.atlanta.example.com:5060;"));
  const std::uint64_t hash = stateless_transaction_hash(*invite);
  EXPECT_NE(stateless_transaction_hash(*other_branch), hash);
  EXPECT_NE(stateless_transaction_hash(*other_sent_by), hash);
  EXPECT_NE(stateless_transaction_hash(*other_host), hash);
  EXPECT_NE(std::string(stateless_branch(*other_branch, kKey).view()),
            std::string(stateless_branch(*invite, kKey).view()));
}

TEST(Branch, Rfc3261HashIgnoresFieldsOutsideTheBranch) {
  // With a cookie branch, only branch and sent-by count: a different Call-ID under the same
  // branch is the same transaction as far as a stateless proxy can tell.
  const auto invite = parse(kInvite);
  const auto other_call_id = parse(replace_once(kInvite, "3848276298220188511@", "1111@"));
  EXPECT_EQ(stateless_transaction_hash(*other_call_id), stateless_transaction_hash(*invite));
}

// RFC 4475 §3.4.1: an RFC 2543 INVITE (no branch, no From tag, no Max-Forwards).
std::string inv2543() {
  return read_corpus("rfc4475/inv2543.dat");
}

std::string cancel2543() {
  return "CANCEL sip:UserB@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP iftgw.example.com\r\n"
         "From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
         "To: sip:+16505552222@ss1.example.net;user=phone\r\n"
         "Call-ID: inv2543.1717@ift.client.example.com\r\n"
         "CSeq: 56 CANCEL\r\n"
         "\r\n";
}

std::string ack2543() {
  return "ACK sip:UserB@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP iftgw.example.com\r\n"
         "From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
         "To: sip:+16505552222@ss1.example.net;user=phone;tag=8321234356\r\n"
         "Call-ID: inv2543.1717@ift.client.example.com\r\n"
         "CSeq: 56 ACK\r\n"
         "\r\n";
}

TEST(Branch, Rfc2543InviteRetransmissionCancelAndAckShareTheBranch) {
  const std::string invite_bytes = inv2543();
  ASSERT_FALSE(invite_bytes.empty());
  const auto invite = parse(invite_bytes);
  ASSERT_FALSE(invite->top_via.has_branch);
  const auto retransmission = parse(std::string(invite_bytes));
  const auto cancel = parse(cancel2543());
  const auto ack = parse(ack2543());
  ASSERT_TRUE(ack->to.has_tag);
  const std::string expected(stateless_branch(*invite, kKey).view());
  EXPECT_EQ(std::string(stateless_branch(*retransmission, kKey).view()), expected);
  EXPECT_EQ(std::string(stateless_branch(*cancel, kKey).view()), expected);
  EXPECT_EQ(std::string(stateless_branch(*ack, kKey).view()), expected);
}

TEST(Branch, Rfc2543EachHashedFieldMatters) {
  const std::string base = inv2543();
  const std::uint64_t hash = stateless_transaction_hash(*parse(base));
  const std::string variants[] = {
      replace_once(base, "Call-ID: inv2543.1717@", "Call-ID: inv2543.1718@"),
      replace_once(base, "CSeq: 56 INVITE", "CSeq: 57 INVITE"),
      replace_once(base, "INVITE sip:UserB@example.com", "INVITE sip:UserC@example.com"),
      replace_once(base, "Via: SIP/2.0/UDP iftgw.example.com",
                   "Via: SIP/2.0/UDP iftgw2.example.com"),
      replace_once(base, "user=phone>\r\nRecord-Route", "user=phone>;tag=1\r\nRecord-Route"),
  };
  for (const std::string& variant : variants) {
    EXPECT_NE(stateless_transaction_hash(*parse(variant)), hash) << variant;
  }
}

TEST(Branch, BareCookieBranchIsTreatedLikeRfc2543) {
  // RFC 4475 §3.2.1 (badbranch.dat): "branch=z9hG4bK" carries no transaction id, so two
  // different INVITEs from one sent-by must not collapse into one branch.
  const std::string base = replace_once(kInvite, "branch=z9hG4bK74bf9", "branch=z9hG4bK");
  const auto first = parse(base);
  const auto second = parse(replace_once(base, "3848276298220188511@", "1111@"));
  EXPECT_NE(stateless_transaction_hash(*first), stateless_transaction_hash(*second));
}

TEST(Branch, DifferentInviteGivesDifferentBranch) {
  const auto invite = parse(kInvite);
  const auto other = parse(read_corpus("carrier/invite-carrier-sdp.sip"));
  EXPECT_NE(std::string(stateless_branch(*other, kKey).view()),
            std::string(stateless_branch(*invite, kKey).view()));
}

TEST(Branch, SecretChangesOnlyTheSignature) {
  const auto invite = parse(kInvite);
  const std::string ours(stateless_branch(*invite, kKey).view());
  const std::string other(stateless_branch(*invite, kOtherKey).view());
  EXPECT_EQ(ours.substr(0, 26), other.substr(0, 26));
  EXPECT_NE(ours.substr(26), other.substr(26));
}

TEST(Branch, OursIsRecognised) {
  const auto invite = parse(kInvite);
  const std::string ours(stateless_branch(*invite, kKey).view());
  EXPECT_TRUE(branch_is_ours(ours, kKey));
  EXPECT_FALSE(branch_is_ours(ours, kOtherKey));
}

TEST(Branch, TamperedOrForeignBranchesAreRejected) {
  const auto invite = parse(kInvite);
  const std::string ours(stateless_branch(*invite, kKey).view());

  std::string tampered_hash = ours;
  tampered_hash[12] = tampered_hash[12] == '0' ? '1' : '0';
  EXPECT_FALSE(branch_is_ours(tampered_hash, kKey));

  std::string tampered_signature = ours;
  tampered_signature[33] = tampered_signature[33] == '0' ? '1' : '0';
  EXPECT_FALSE(branch_is_ours(tampered_signature, kKey));

  std::string not_hex = ours;
  not_hex[20] = 'g';
  EXPECT_FALSE(branch_is_ours(not_hex, kKey));

  std::string uppercase = ours;
  for (std::size_t i = 10; i < uppercase.size(); ++i)
    uppercase[i] = static_cast<char>(std::toupper(uppercase[i]));
  ASSERT_NE(uppercase, ours);  // the hex part always holds some letter a-f in practice
  EXPECT_FALSE(branch_is_ours(uppercase, kKey));

  EXPECT_FALSE(branch_is_ours(ours.substr(0, 33), kKey));
  EXPECT_FALSE(branch_is_ours(ours + "0", kKey));
  EXPECT_FALSE(branch_is_ours("", kKey));
  EXPECT_FALSE(branch_is_ours("z9hG4bK74bf9", kKey));
  EXPECT_FALSE(branch_is_ours("z9hG4bK-xx" + ours.substr(10), kKey));
}

}  // namespace
}  // namespace sipline::sip

namespace sipline::sip {
namespace {

TEST(SignedBranch, CarriesItsTransactionNumberBackUnderOurKey) {
  const Branch branch = signed_branch(0x0000'0100'0000'0007ull, kKey);
  EXPECT_EQ(branch.view(),
            "z9hG4bK-sl0000010000000007" + hex(static_cast<std::uint32_t>(XXH3_64bits_withSeed(
                                                   "0000010000000007", 16, kKey.secret)),
                                               8));
  EXPECT_TRUE(branch_is_ours(branch.view(), kKey));
  EXPECT_EQ(our_branch_transaction(branch.view(), kKey), 0x0000'0100'0000'0007ull);
}

TEST(SignedBranch, IsNotOursUnderAnotherKeyOrWhenAltered) {
  const Branch branch = signed_branch(42, kKey);
  EXPECT_FALSE(our_branch_transaction(branch.view(), kOtherKey).has_value());
  std::string altered(branch.view());
  altered[kBranchPrefix.size() + 15] = altered[kBranchPrefix.size() + 15] == '0' ? '1' : '0';
  EXPECT_FALSE(our_branch_transaction(altered, kKey).has_value());
  EXPECT_FALSE(our_branch_transaction("z9hG4bK-sl", kKey).has_value());
}

TEST(Hex, DigitsMostSignificantFirstAndOctetsInOrder) {
  EXPECT_EQ(hex64(0x0123456789abcdefULL).view(), "0123456789abcdef");
  EXPECT_EQ(hex64(0xf).view(), "000000000000000f");
  std::array<char, 5> five{};
  write_hex_digits(0xabcdef12345ULL, five);  // the low 20 bits only
  EXPECT_EQ(std::string_view(five.data(), five.size()), "12345");
  const std::array<std::uint8_t, 3> octets{0x00, 0x9f, 0xa0};
  std::array<char, 6> text{};
  write_hex_octets(octets, text.data());
  EXPECT_EQ(std::string_view(text.data(), text.size()), "009fa0");
}

}  // namespace
}  // namespace sipline::sip

// sipblast answering digest challenges: the credentials it writes must be accepted by the
// proxy's own verifier (sip/digest_auth) for MD5 and SHA-256, whichever the server offers
// first, and refused when the password is wrong.
#include "sip/digest_client.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "bench/sipblast/templates.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"

namespace {

using namespace sipline::sipblast;
namespace sip = sipline::sip;
using sip::ChallengeError;
using sip::CredentialsInput;
using sip::pick_challenge;
using sip::PickedChallenge;
using sip::write_authorization;

constexpr std::int64_t kNow = 1'800'000'000;

std::unique_ptr<sip::Message> parse(std::string_view text) {
  auto message = std::make_unique<sip::Message>();
  sip::parse_message_into(*message, text);
  return message;
}

std::string challenge_response(int code, std::string_view challenge_lines) {
  return std::string("SIP/2.0 ") + std::to_string(code) +
         (code == 401 ? " Unauthorized" : " Proxy Authentication Required") +
         "\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKsb0badcafe03r000000000001;rport=5071\r\n"
         "From: <sip:alice@127.0.0.1>;tag=sb0badcafe03000000000001\r\n"
         "To: <sip:alice@127.0.0.1>;tag=reg\r\n"
         "Call-ID: sbreg-alice-0badcafe03@127.0.0.1\r\n"
         "CSeq: 1 REGISTER\r\n" +
         std::string(challenge_lines) + "Content-Length: 0\r\n\r\n";
}

ClientIdentity identity() {
  ClientIdentity id;
  id.instance = "0badcafe03";
  id.local_address = "127.0.0.1";
  id.local_port = 5071;
  id.request_uri = "sip:1002@127.0.0.1:5060";
  id.register_domain = "127.0.0.1";
  return id;
}

struct Outcome {
  sip::DigestAlgorithm picked = sip::DigestAlgorithm::Unknown;
  sip::AuthResult result = sip::AuthResult::NoCredentials;
  std::string username;
};

// A registrar challenges; sipblast answers with `password`; the registrar verifies.
Outcome register_round_trip(std::vector<sip::DigestAlgorithm> offered, std::string_view password,
                            sip::AuthHeaderKind kind = sip::AuthHeaderKind::Www) {
  sip::DigestAuthSettings settings;
  settings.realm = "sipline.test";
  settings.algorithms = offered;
  settings.secret = sip::random_nonce_secret();
  sip::DigestAuthenticator authenticator(settings);
  const sip::UserTable users(std::vector<std::pair<std::string, std::string>>{{"alice", "secret"}});

  const int code = kind == sip::AuthHeaderKind::Www ? 401 : 407;
  const std::string response_text =
      challenge_response(code, authenticator.challenges(kind, false, kNow));
  const auto response = parse(response_text);
  EXPECT_TRUE(response->ok()) << response_text;
  const PickedChallenge picked = pick_challenge(*response);
  EXPECT_EQ(picked.error, ChallengeError::None);
  EXPECT_EQ(picked.challenge.proxy, kind == sip::AuthHeaderKind::Proxy);

  const ClientTemplates templates(identity());
  std::array<char, 1024> line{};
  const std::size_t line_size = write_authorization(
      line, picked.challenge,
      {"alice", password, "REGISTER", templates.register_uri(), "0badcafe03000000000001", 1});
  EXPECT_GT(line_size, 0u);
  std::array<char, 4096> request_bytes{};
  const std::size_t request_size = templates.register_request(
      request_bytes, TxKind::RegisterAuth, 1, {"alice", 2, {line.data(), line_size}});
  const auto request = parse({request_bytes.data(), request_size});
  EXPECT_TRUE(request->ok()) << std::string_view(request_bytes.data(), request_size);

  Outcome outcome;
  outcome.picked = picked.challenge.algorithm;
  const sip::AuthCheck check = authenticator.authenticate(*request, kind, users, kNow);
  outcome.result = check.result;
  outcome.username = std::string(check.username);
  return outcome;
}

TEST(SipblastDigest, AnswersSha256WhenOfferedFirst) {
  const Outcome outcome =
      register_round_trip({sip::DigestAlgorithm::Sha256, sip::DigestAlgorithm::Md5}, "secret");
  EXPECT_EQ(outcome.picked, sip::DigestAlgorithm::Sha256);
  EXPECT_EQ(outcome.result, sip::AuthResult::Ok);
  EXPECT_EQ(outcome.username, "alice");
}

TEST(SipblastDigest, AnswersMd5WhenOfferedFirst) {
  const Outcome outcome =
      register_round_trip({sip::DigestAlgorithm::Md5, sip::DigestAlgorithm::Sha256}, "secret");
  EXPECT_EQ(outcome.picked, sip::DigestAlgorithm::Md5);
  EXPECT_EQ(outcome.result, sip::AuthResult::Ok);
}

TEST(SipblastDigest, WrongPasswordIsRefused) {
  const Outcome outcome = register_round_trip({sip::DigestAlgorithm::Sha256}, "guess");
  EXPECT_EQ(outcome.result, sip::AuthResult::WrongPassword);
}

TEST(SipblastDigest, ProxyChallengeIsAnsweredInProxyAuthorization) {
  const Outcome outcome =
      register_round_trip({sip::DigestAlgorithm::Md5}, "secret", sip::AuthHeaderKind::Proxy);
  EXPECT_EQ(outcome.result, sip::AuthResult::Ok);
}

// RFC 2617 §3.5's worked example (MD5, qop=auth): the response digest is known.
TEST(SipblastDigest, WritesTheRfc2617ExampleExactly) {
  const std::string text = challenge_response(
      401,
      "WWW-Authenticate: Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n");
  const auto response = parse(text);
  ASSERT_TRUE(response->ok());
  const PickedChallenge picked = pick_challenge(*response);
  ASSERT_EQ(picked.error, ChallengeError::None);
  EXPECT_EQ(picked.challenge.algorithm, sip::DigestAlgorithm::Md5);  // absent means MD5
  EXPECT_TRUE(picked.challenge.qop_auth);
  std::array<char, 1024> line{};
  const std::size_t size =
      write_authorization(line, picked.challenge,
                          {"Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1});
  EXPECT_EQ(std::string_view(line.data(), size),
            "Authorization: Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
            "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
            "response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", "
            "qop=auth, nc=00000001, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n");
}

TEST(SipblastDigest, SkipsChallengesItCannotAnswer) {
  const std::string text = challenge_response(
      401,
      "WWW-Authenticate: Basic realm=\"x\"\r\n"
      "WWW-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=SHA-1\r\n"
      "WWW-Authenticate: Digest realm=\"x\", nonce=\"n2\", qop=\"auth-int\"\r\n"
      "WWW-Authenticate: Digest realm=\"x\", nonce=\"n3\", algorithm=SHA-256\r\n");
  const auto response = parse(text);
  ASSERT_TRUE(response->ok());
  const PickedChallenge picked = pick_challenge(*response);
  ASSERT_EQ(picked.error, ChallengeError::None);
  EXPECT_EQ(picked.challenge.nonce.view(), "n3");
  EXPECT_EQ(picked.challenge.algorithm, sip::DigestAlgorithm::Sha256);
  EXPECT_FALSE(picked.challenge.qop_auth);
}

TEST(SipblastDigest, NoAnswerableChallengeAndTooLongNonce) {
  // The texts outlive the parsed views into them.
  const std::string basic_only = challenge_response(401, "WWW-Authenticate: Basic realm=\"x\"\r\n");
  const auto none = parse(basic_only);
  ASSERT_TRUE(none->ok());
  EXPECT_EQ(pick_challenge(*none).error, ChallengeError::NoChallenge);

  const std::string long_nonce(200, 'a');
  const std::string long_text = challenge_response(
      401, "WWW-Authenticate: Digest realm=\"x\", nonce=\"" + long_nonce + "\"\r\n");
  const auto too_long = parse(long_text);
  ASSERT_TRUE(too_long->ok());
  EXPECT_EQ(pick_challenge(*too_long).error, ChallengeError::TooLong);
}

}  // namespace

#include "sip/registrar.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.hpp"
#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

constexpr std::int64_t kNow = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr std::string_view kDate = "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n";
constexpr std::string_view kSource = "127.0.0.1:5070";

NonceSecret test_secret() {
  NonceSecret secret;
  for (std::size_t i = 0; i < secret.size(); ++i)
    secret[i] = std::uint8_t(0xA0 + i);
  return secret;
}

// A REGISTER in text form; fields left at their defaults give a valid request from 1001.
struct RegisterText {
  std::string request_uri = "sip:sipline.local";
  std::string to = "<sip:1001@sipline.local>";
  std::string call_id = "reg-1@127.0.0.1";
  std::uint32_t cseq = 1;
  std::vector<std::string> contacts;  // Contact header values, one line each
  std::string expires;                // Expires header value; "" = none
  std::string extra;                  // complete extra lines

  std::string text() const {
    std::string message = "REGISTER " + request_uri +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" +
                          std::to_string(cseq) +
                          "\r\n"
                          "Max-Forwards: 70\r\n"
                          "From: <sip:1001@sipline.local>;tag=456248\r\n"
                          "To: " +
                          to + "\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) +
                          " REGISTER\r\n";
    for (const std::string& contact : contacts)
      message += "Contact: " + contact + "\r\n";
    if (!expires.empty()) message += "Expires: " + expires + "\r\n";
    return message + extra + "Content-Length: 0\r\n\r\n";
  }
};

// The parsed message keeps views into its text, so both live together and never move.
struct ParsedRequest {
  explicit ParsedRequest(std::string text_in) : text(std::move(text_in)) {
    message = parse_message(text);
  }
  std::string text;
  Message message;
};

Binding binding(std::string contact, std::int64_t expires_at, std::string call_id = "old@host",
                std::uint32_t cseq = 10, std::uint16_t q_milli = 1000) {
  Binding result;
  result.aor = "1001";
  result.contact = std::move(contact);
  result.received = "127.0.0.1:5070";
  result.call_id = std::move(call_id);
  result.cseq = cseq;
  result.expires_at = expires_at;
  result.q_milli = q_milli;
  return result;
}

class Registrar : public ::testing::Test {
 protected:
  Registrar() {
    settings_.domains = {"sipline.local", "127.0.0.1"};
    settings_.realm = "sipline.local";
    settings_.auth = false;
    settings_.min_expires = 60;
    settings_.max_expires = 3600;
    settings_.default_expires = 3600;
    settings_.max_contacts = 3;
    rebuild_auth();
  }

  void rebuild_auth() {
    auth_ =
        std::make_unique<DigestAuthenticator>(registrar_auth_settings(settings_, test_secret()));
  }

  RegisterOutcome handle(const std::string& text, std::int64_t now = kNow) {
    request_ = std::make_unique<ParsedRequest>(text);
    EXPECT_TRUE(request_->message.ok()) << describe(request_->message.error) << "\n" << text;
    looked_up_.clear();
    const RegistrarContext context{settings_, users_, *auth_, node_address_};
    return handle_register(request_->message, kSource, now, context, [this](std::string_view aor) {
      looked_up_ = std::string(aor);
      return current_;
    });
  }

  RegisterOutcome handle(const RegisterText& request, std::int64_t now = kNow) {
    return handle(request.text(), now);
  }

  RegistrarSettings settings_;
  UserTable users_{{{"1001", "1234567890"}, {"1002", "1234567890"}, {"bob", "zanzibar"}}};
  std::unique_ptr<DigestAuthenticator> auth_;
  std::vector<Binding> current_;
  std::string looked_up_;
  std::unique_ptr<ParsedRequest> request_;
  std::string node_address_;  // RegistrarContext::node_address
};

// --- refusals before authentication ----------------------------------------------------------

TEST_F(Registrar, ForeignRequestUriDomainIs404) {
  RegisterText request;
  request.request_uri = "sip:example.com";
  request.contacts = {"<sip:1001@127.0.0.1:5070>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 404);
  EXPECT_EQ(outcome.reason, "Domain Not Served");
  EXPECT_TRUE(outcome.needs_to_tag);
  EXPECT_EQ(outcome.aor, "");
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(looked_up_, "");
}

TEST_F(Registrar, RequestUriDomainIsCaseInsensitiveAndIpAliasesWork) {
  RegisterText request;
  request.request_uri = "sip:SIPLINE.Local";
  EXPECT_EQ(handle(request).code, 200);
  request.request_uri = "sip:127.0.0.1:5060";
  EXPECT_EQ(handle(request).code, 200);
}

TEST_F(Registrar, NonSipRequestUriIs416) {
  RegisterText request;
  request.request_uri = "tel:+15551234567";
  EXPECT_EQ(handle(request).code, 416);
}

TEST_F(Registrar, ToWithoutUserIs400) {
  RegisterText request;
  request.to = "<sip:sipline.local>";
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "To Must Be a SIP URI With a User");
}

TEST_F(Registrar, CorpusUnksm2NonSipToIs400EvenWithAuth) {
  // RFC 4475 §3.3.4: To isbn:, Contact name: -- the manifest says "registrar 400".
  settings_.domains = {"example.com"};
  settings_.auth = true;
  const RegisterOutcome outcome = handle(test::read_corpus_file("rfc4475/unksm2.dat"));
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "To Must Be a SIP URI With a User");
  EXPECT_EQ(outcome.extra_headers, "");
}

TEST_F(Registrar, NonSipContactIs400) {
  RegisterText request;
  request.contacts = {"<mailto:1001@example.com>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "Contact Must Be a SIP URI");
}

TEST_F(Registrar, MalformedContactOrExpiresIs400) {
  RegisterText request;
  request.contacts = {"<sip:1001@127.0.0.1>;q=2"};
  RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "Malformed Contact");
  request.contacts = {"<sip:1001@127.0.0.1>"};
  request.expires = "soon";
  outcome = handle(request);
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "Malformed Expires");
}

TEST_F(Registrar, RequireIs420WithUnsupported) {
  RegisterText request;
  request.contacts = {"<sip:1001@127.0.0.1:5070>"};
  request.extra = "Require: path, gruu\r\n";
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 420);
  EXPECT_EQ(outcome.extra_headers, "Unsupported: path, gruu\r\n");
}

TEST_F(Registrar, StarRules) {
  RegisterText request;
  request.contacts = {"*"};
  EXPECT_EQ(handle(request).code, 400);  // no Expires
  request.expires = "3600";
  EXPECT_EQ(handle(request).code, 400);  // Expires not 0
  request.expires = "0";
  request.contacts = {"*", "<sip:1001@127.0.0.1:5070>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 400);
  EXPECT_EQ(outcome.reason, "Contact * Needs Expires 0 and No Other Contact");
  request.contacts = {"*, <sip:1001@127.0.0.1:5070>"};
  EXPECT_EQ(handle(request).code, 400);
}

// --- authentication --------------------------------------------------------------------------

class RegistrarAuth : public Registrar {
 protected:
  RegistrarAuth() {
    settings_.auth = true;
    rebuild_auth();
  }

  // The nonce of the first challenge line of a 401's extra headers.
  static std::string nonce_of(std::string_view headers) {
    const std::size_t start = headers.find("nonce=\"") + 7;
    return std::string(headers.substr(start, headers.find('"', start) - start));
  }

  static std::string authorization(std::string_view user, std::string_view password,
                                   std::string_view nonce, DigestAlgorithm algorithm,
                                   std::string_view uri = "sip:sipline.local",
                                   std::string_view nc = "00000001",
                                   std::string_view realm = "sipline.local") {
    const DigestHex ha1 = digest_ha1(algorithm, user, realm, password);
    const DigestHex response =
        digest_response({algorithm, ha1.view(), "REGISTER", uri, nonce, nc, "c0ffee", "auth"});
    return "Authorization: Digest username=\"" + std::string(user) + "\", realm=\"" +
           std::string(realm) + "\", nonce=\"" + std::string(nonce) + "\", uri=\"" +
           std::string(uri) + "\", response=\"" + std::string(response.view()) +
           "\", algorithm=" + std::string(digest_algorithm_name(algorithm)) +
           ", qop=auth, nc=" + std::string(nc) + ", cnonce=\"c0ffee\"\r\n";
  }

  // Sends `request` without credentials, expects the 401, answers it as `user`.
  RegisterOutcome challenge_and_answer(RegisterText request, std::string_view user,
                                       std::string_view password, DigestAlgorithm algorithm) {
    const RegisterOutcome challenge = handle(request);
    EXPECT_EQ(challenge.code, 401);
    request.cseq += 1;
    request.extra += authorization(user, password, nonce_of(challenge.extra_headers), algorithm);
    return handle(request);
  }

  RegisterText register_1001() const {
    RegisterText request;
    request.contacts = {"<sip:1001@127.0.0.1:5070;transport=udp>"};
    return request;
  }
};

TEST_F(RegistrarAuth, NoCredentialsGets401WithShaThenMd5Challenges) {
  const RegisterOutcome outcome = handle(register_1001());
  EXPECT_EQ(outcome.code, 401);
  EXPECT_EQ(outcome.reason, "");
  EXPECT_EQ(outcome.auth, AuthResult::NoCredentials);
  EXPECT_EQ(looked_up_, "");  // nothing looked up before authentication
  const std::string nonce = nonce_of(outcome.extra_headers);
  const std::string opaque(auth_->nonces().opaque());
  EXPECT_EQ(outcome.extra_headers,
            "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" + nonce + "\", opaque=\"" +
                opaque +
                "\", algorithm=SHA-256, qop=\"auth\"\r\n"
                "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" +
                nonce + "\", opaque=\"" + opaque + "\", algorithm=MD5, qop=\"auth\"\r\n");
}

TEST_F(RegistrarAuth, Sha256ChallengeResponseRegisters) {
  const RegisterOutcome outcome =
      challenge_and_answer(register_1001(), "1001", "1234567890", DigestAlgorithm::Sha256);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.auth, AuthResult::Ok);
  EXPECT_EQ(outcome.username, "1001");
  EXPECT_EQ(outcome.aor, "1001");
  EXPECT_EQ(looked_up_, "1001");
  EXPECT_TRUE(outcome.changed);
  EXPECT_EQ(
      outcome.extra_headers,
      "Contact: <sip:1001@127.0.0.1:5070;transport=udp>;expires=3600\r\n" + std::string(kDate));
  ASSERT_EQ(outcome.bindings_after.size(), 1u);
  const Binding& stored = outcome.bindings_after[0];
  EXPECT_EQ(stored.aor, "1001");
  EXPECT_EQ(stored.contact, "sip:1001@127.0.0.1:5070;transport=udp");
  EXPECT_EQ(stored.received, "127.0.0.1:5070");
  EXPECT_EQ(stored.call_id, "reg-1@127.0.0.1");
  EXPECT_EQ(stored.cseq, 2u);
  EXPECT_EQ(stored.expires_at, kNow + 3600);
  EXPECT_EQ(stored.q_milli, 1000);
}

TEST_F(RegistrarAuth, Md5ChallengeResponseRegisters) {
  const RegisterOutcome outcome =
      challenge_and_answer(register_1001(), "1001", "1234567890", DigestAlgorithm::Md5);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(
      outcome.extra_headers,
      "Contact: <sip:1001@127.0.0.1:5070;transport=udp>;expires=3600\r\n" + std::string(kDate));
}

TEST_F(RegistrarAuth, WrongPasswordIs403) {
  const RegisterOutcome outcome =
      challenge_and_answer(register_1001(), "1001", "0000000000", DigestAlgorithm::Sha256);
  EXPECT_EQ(outcome.code, 403);
  EXPECT_EQ(outcome.auth, AuthResult::WrongPassword);
  EXPECT_EQ(outcome.extra_headers, "");
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(looked_up_, "");
}

TEST_F(RegistrarAuth, UnknownUserIsChallengedThen403) {
  RegisterText request;
  request.to = "<sip:1099@sipline.local>";
  request.contacts = {"<sip:1099@127.0.0.1:5070>"};
  const RegisterOutcome challenge = handle(request);
  EXPECT_EQ(challenge.code, 401);  // like any user: no enumeration
  request.cseq = 2;
  request.extra =
      authorization("1099", "1234567890", nonce_of(challenge.extra_headers), DigestAlgorithm::Md5);
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 403);
  EXPECT_EQ(outcome.auth, AuthResult::UnknownUser);
}

TEST_F(RegistrarAuth, UsernameOtherThanToUserIs403) {
  RegisterText request = register_1001();
  request.to = "<sip:1002@sipline.local>";
  const RegisterOutcome outcome =
      challenge_and_answer(request, "1001", "1234567890", DigestAlgorithm::Sha256);
  EXPECT_EQ(outcome.code, 403);
  EXPECT_EQ(outcome.reason, "Username Does Not Match To");
  EXPECT_EQ(outcome.auth, AuthResult::Ok);
}

TEST_F(RegistrarAuth, StaleNonceGets401WithStaleTrue) {
  RegisterText request = register_1001();
  const RegisterOutcome challenge = handle(request);
  request.cseq = 2;
  request.extra = authorization("1001", "1234567890", nonce_of(challenge.extra_headers),
                                DigestAlgorithm::Sha256);
  const RegisterOutcome outcome = handle(request, kNow + 301);
  EXPECT_EQ(outcome.code, 401);
  EXPECT_EQ(outcome.auth, AuthResult::StaleNonce);
  const std::string nonce = nonce_of(outcome.extra_headers);
  EXPECT_NE(nonce, nonce_of(challenge.extra_headers));
  const std::string opaque(auth_->nonces().opaque());
  EXPECT_EQ(outcome.extra_headers,
            "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" + nonce + "\", opaque=\"" +
                opaque +
                "\", algorithm=SHA-256, qop=\"auth\", stale=true\r\n"
                "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" +
                nonce + "\", opaque=\"" + opaque +
                "\", algorithm=MD5, qop=\"auth\", stale=true\r\n");
}

TEST_F(RegistrarAuth, RetransmissionIsAcceptedReplayIsChallengedStale) {
  RegisterText request = register_1001();
  const RegisterOutcome challenge = handle(request);
  request.cseq = 2;
  request.extra = authorization("1001", "1234567890", nonce_of(challenge.extra_headers),
                                DigestAlgorithm::Sha256);
  EXPECT_EQ(handle(request).code, 200);
  current_ = {binding("sip:1001@127.0.0.1:5070;transport=udp", kNow + 3600, "reg-1@127.0.0.1", 2)};
  const RegisterOutcome again = handle(request);  // the same datagram again
  EXPECT_EQ(again.code, 200);
  EXPECT_FALSE(again.changed);
  request.cseq = 3;  // a new request reusing nc=1
  const RegisterOutcome replay = handle(request);
  EXPECT_EQ(replay.code, 401);
  EXPECT_EQ(replay.auth, AuthResult::Replay);
  EXPECT_NE(replay.extra_headers.find("stale=true"), std::string::npos);
}

TEST_F(RegistrarAuth, ForeignRealmOrOtherSchemeIsChallenged) {
  RegisterText request = register_1001();
  request.extra =
      authorization("1001", "1234567890", std::string(kNonceLength, '0'), DigestAlgorithm::Md5,
                    "sip:sipline.local", "00000001", "other.example");
  EXPECT_EQ(handle(request).code, 401);
  request.extra = "Authorization: NoOneKnowsThisScheme opaque-data=here\r\n";
  EXPECT_EQ(handle(request).code, 401);
}

TEST_F(RegistrarAuth, CorpusRegaut01UnknownSchemeGets401) {
  // RFC 4475 §3.3.7: "registrar 401 with a scheme it knows".
  settings_.domains = {"example.com"};
  const RegisterOutcome outcome = handle(test::read_corpus_file("rfc4475/regaut01.dat"));
  EXPECT_EQ(outcome.code, 401);
  EXPECT_EQ(outcome.extra_headers.rfind("WWW-Authenticate: Digest realm=\"sipline.local\"", 0), 0u);
}

TEST_F(RegistrarAuth, Rfc3665RegistrationFlow) {
  // RFC 3665 §2.1: F1 REGISTER -> F2 401 -> F3 REGISTER with credentials -> F4 200.
  settings_.domains = {"ss2.biloxi.example.com", "biloxi.example.com"};
  settings_.realm = "biloxi.example.com";
  rebuild_auth();
  const std::string f1 = test::read_corpus_file("rfc3665/2.1-F1-REGISTER.sip");
  const RegisterOutcome f2 = handle(f1);
  ASSERT_EQ(f2.code, 401);
  const std::string nonce = nonce_of(f2.extra_headers);

  std::string f3 = f1;
  const std::string cseq_line = "CSeq: 1 REGISTER\r\n";
  ASSERT_NE(f3.find(cseq_line), std::string::npos);
  f3.replace(f3.find(cseq_line), cseq_line.size(),
             "CSeq: 2 REGISTER\r\n" +
                 authorization("bob", "zanzibar", nonce, DigestAlgorithm::Sha256,
                               "sips:ss2.biloxi.example.com", "00000001", "biloxi.example.com"));
  const RegisterOutcome f4 = handle(f3);
  EXPECT_EQ(f4.code, 200);
  EXPECT_EQ(f4.aor, "bob");
  EXPECT_EQ(f4.extra_headers,
            "Contact: <sips:bob@client.biloxi.example.com>;expires=3600\r\n" + std::string(kDate));
  ASSERT_EQ(f4.bindings_after.size(), 1u);
  EXPECT_EQ(f4.bindings_after[0].call_id, "1j9FpLxk3uxtm8tn@biloxi.example.com");
  EXPECT_EQ(f4.bindings_after[0].cseq, 2u);
}

TEST_F(RegistrarAuth, ToDomainMustBeOursAfterAuthentication) {
  RegisterText request = register_1001();
  request.to = "<sip:1001@elsewhere.example>";
  const RegisterOutcome outcome =
      challenge_and_answer(request, "1001", "1234567890", DigestAlgorithm::Sha256);
  EXPECT_EQ(outcome.code, 404);
}

// --- bindings (auth off) -----------------------------------------------------------------------

TEST_F(Registrar, QueryWithoutContactListsCurrentBindings) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100), binding("sip:1001@10.0.0.2", kNow + 200)};
  const RegisterOutcome outcome = handle(RegisterText{});
  EXPECT_EQ(outcome.code, 200);
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(outcome.bindings_after, current_);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=100\r\n"
            "Contact: <sip:1001@10.0.0.2>;expires=200\r\n" +
                std::string(kDate));
}

TEST_F(Registrar, QueryDropsExpiredBindings) {
  current_ = {binding("sip:1001@10.0.0.1", kNow), binding("sip:1001@10.0.0.2", kNow + 5)};
  const RegisterOutcome outcome = handle(RegisterText{});
  EXPECT_EQ(outcome.code, 200);
  EXPECT_TRUE(outcome.changed);
  ASSERT_EQ(outcome.bindings_after.size(), 1u);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.2>;expires=5\r\n" + std::string(kDate));
}

TEST_F(Registrar, EmptyAorAnswers200WithoutContacts) {
  const RegisterOutcome outcome = handle(RegisterText{});
  EXPECT_EQ(outcome.code, 200);
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(outcome.extra_headers, kDate);
}

TEST_F(Registrar, ExpiresPrecedenceParamThenHeaderThenDefault) {
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>;expires=600", "<sip:1001@10.0.0.2>"};
  request.expires = "1200";
  RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=600\r\n"
            "Contact: <sip:1001@10.0.0.2>;expires=1200\r\n" +
                std::string(kDate));
  request.expires = "";
  request.contacts = {"<sip:1001@10.0.0.3>"};
  outcome = handle(request);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.3>;expires=3600\r\n" + std::string(kDate));
}

TEST_F(Registrar, ExpiresAboveMaxIsClamped) {
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>;expires=7200"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.bindings_after[0].expires_at, kNow + 3600);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=3600\r\n" + std::string(kDate));
}

TEST_F(Registrar, ExpiresBelowMinIs423AndChangesNothing) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.2>", "<sip:1001@10.0.0.3>;expires=30"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 423);
  EXPECT_EQ(outcome.extra_headers, "Min-Expires: 60\r\n");
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(outcome.bindings_after, current_);
  EXPECT_EQ(outcome.aor, "1001");
}

TEST_F(Registrar, ExpiresZeroRemovesThatContactOnly) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100), binding("sip:1001@10.0.0.2", kNow + 200)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>;expires=0"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_TRUE(outcome.changed);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.2>;expires=200\r\n" + std::string(kDate));
}

TEST_F(Registrar, ExpiresHeaderZeroRemovesAndUnknownContactIsNoOp) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>", "<sip:1001@10.0.0.9>"};
  request.expires = "0";
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_TRUE(outcome.changed);
  EXPECT_TRUE(outcome.bindings_after.empty());
  EXPECT_EQ(outcome.extra_headers, kDate);
}

TEST_F(Registrar, StarWithExpiresZeroRemovesAll) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100), binding("sip:1001@10.0.0.2", kNow + 200)};
  RegisterText request;
  request.contacts = {"*"};
  request.expires = "0";
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_TRUE(outcome.changed);
  EXPECT_TRUE(outcome.bindings_after.empty());
  EXPECT_EQ(outcome.extra_headers, kDate);
}

TEST_F(Registrar, StarKeepsBindingsOfTheSameCallIdWithHigherCSeq) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100, "reg-1@127.0.0.1", 5),
              binding("sip:1001@10.0.0.2", kNow + 200, "other@host", 50)};
  RegisterText request;  // Call-ID reg-1@127.0.0.1, CSeq 1
  request.contacts = {"*"};
  request.expires = "0";
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=100\r\n" + std::string(kDate));
}

TEST_F(Registrar, SameCallIdNeedsHigherCSeq) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100, "reg-1@127.0.0.1", 5)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>;expires=1800"};
  request.cseq = 5;  // equal: a retransmission or an old request, ignored
  RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=100\r\n" + std::string(kDate));
  request.cseq = 4;
  EXPECT_FALSE(handle(request).changed);
  request.cseq = 6;  // higher: refreshed
  outcome = handle(request);
  EXPECT_TRUE(outcome.changed);
  EXPECT_EQ(outcome.bindings_after[0].cseq, 6u);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1>;expires=1800\r\n" + std::string(kDate));
}

TEST_F(Registrar, OtherCallIdReplacesEvenWithLowerCSeq) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100, "phone-before-reboot", 500)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>"};
  request.cseq = 1;
  const RegisterOutcome outcome = handle(request);
  EXPECT_TRUE(outcome.changed);
  ASSERT_EQ(outcome.bindings_after.size(), 1u);
  EXPECT_EQ(outcome.bindings_after[0].call_id, "reg-1@127.0.0.1");
  EXPECT_EQ(outcome.bindings_after[0].cseq, 1u);
  EXPECT_EQ(outcome.bindings_after[0].expires_at, kNow + 3600);
}

TEST_F(Registrar, ContactsMatchByUriEquivalence) {
  current_ = {binding("sip:1001@Example.COM:5070;transport=udp", kNow + 100)};
  RegisterText request;
  request.contacts = {"<sip:1001@example.com:5070;transport=UDP>;expires=0"};
  EXPECT_TRUE(handle(request).bindings_after.empty());
}

TEST_F(Registrar, QValuesOrderTheContactsHighestFirst) {
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1>;q=0.25", "<sip:1001@10.0.0.2>;q=0.5",
                      "<sip:1001@10.0.0.3>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.3>;expires=3600\r\n"
            "Contact: <sip:1001@10.0.0.2>;expires=3600;q=0.5\r\n"
            "Contact: <sip:1001@10.0.0.1>;expires=3600;q=0.25\r\n" +
                std::string(kDate));
  EXPECT_EQ(outcome.bindings_after[1].q_milli, 500);
  EXPECT_EQ(outcome.bindings_after[2].q_milli, 250);
}

TEST_F(Registrar, CommaSeparatedContactsAndBindingFields) {
  RegisterText request;
  request.to = "<sip:%31001@sipline.local>";  // escaped "1001"
  request.contacts = {
      "\"Desk\" <sip:1001@10.0.0.1:5062>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
      "000A95A0E128>\", <sip:1001@10.0.0.2>;q=0"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.aor, "1001");
  ASSERT_EQ(outcome.bindings_after.size(), 2u);
  EXPECT_EQ(outcome.bindings_after[0].aor, "1001");
  EXPECT_EQ(outcome.bindings_after[0].contact, "sip:1001@10.0.0.1:5062");
  EXPECT_EQ(outcome.bindings_after[0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
  EXPECT_EQ(outcome.bindings_after[1].q_milli, 0);
  EXPECT_EQ(outcome.extra_headers,
            "Contact: <sip:1001@10.0.0.1:5062>;expires=3600\r\n"
            "Contact: <sip:1001@10.0.0.2>;expires=3600;q=0\r\n" +
                std::string(kDate));
}

// Where nodes share the bindings, each binding names the node that took it; else none.
TEST_F(Registrar, BindingsNameTheNodeThatTookThemWhereNodesShareThem) {
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.1:5062>"};
  EXPECT_EQ(handle(request).bindings_after.at(0).node_address, "");
  node_address_ = "192.0.2.1:5060";
  request.cseq = 2;
  const RegisterOutcome outcome = handle(request);
  ASSERT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.bindings_after.at(0).node_address, "192.0.2.1:5060");
  EXPECT_EQ(outcome.bindings_after.at(0).received, std::string(kSource));
}

TEST_F(Registrar, TooManyContactsIs403WithWarningAndChangesNothing) {
  current_ = {binding("sip:1001@10.0.0.1", kNow + 100), binding("sip:1001@10.0.0.2", kNow + 100),
              binding("sip:1001@10.0.0.3", kNow + 100)};
  RegisterText request;
  request.contacts = {"<sip:1001@10.0.0.4>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 403);
  EXPECT_EQ(outcome.reason, "Too Many Contacts");
  EXPECT_EQ(outcome.extra_headers,
            "Warning: 399 sipline.local \"At most 3 contacts per address-of-record\"\r\n");
  EXPECT_FALSE(outcome.changed);
  EXPECT_EQ(outcome.bindings_after, current_);
  // Refreshing one of the three is fine, and so is replacing one in the same request.
  request.contacts = {"<sip:1001@10.0.0.3>", "<sip:1001@10.0.0.1>;expires=0",
                      "<sip:1001@10.0.0.4>"};
  EXPECT_EQ(handle(request).code, 200);
}

TEST_F(Registrar, AuthOffAcceptsAnyUserOfOurDomains) {
  RegisterText request;
  request.to = "<sip:anyone@127.0.0.1>";
  request.contacts = {"<sip:anyone@10.0.0.1>"};
  const RegisterOutcome outcome = handle(request);
  EXPECT_EQ(outcome.code, 200);
  EXPECT_EQ(outcome.auth, AuthResult::Ok);
  EXPECT_EQ(outcome.aor, "anyone");
}

TEST(RegistrarFormat, SipDate) {
  EXPECT_EQ(format_sip_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_sip_date(1289690940), "Sat, 13 Nov 2010 23:29:00 GMT");
  EXPECT_EQ(format_sip_date(kNow), "Tue, 14 Nov 2023 22:13:20 GMT");
}

TEST(RegistrarFormat, ContactLines) {
  std::vector<Binding> bindings = {binding("sip:a@h", kNow + 10, "c", 1, 1000),
                                   binding("sip:b@h", kNow + 20, "c", 1, 1),
                                   binding("sip:c@h", kNow + 30, "c", 1, 900)};
  EXPECT_EQ(binding_contact_lines(bindings, kNow),
            "Contact: <sip:a@h>;expires=10\r\n"
            "Contact: <sip:b@h>;expires=20;q=0.001\r\n"
            "Contact: <sip:c@h>;expires=30;q=0.9\r\n");
}

TEST(RegistrarFormat, AuthSettingsCopyTheRegistrarSettings) {
  RegistrarSettings settings;
  settings.realm = "sipline.local";
  settings.algorithms = {DigestAlgorithm::Md5};
  settings.nonce_lifetime_s = 120;
  const DigestAuthSettings auth = registrar_auth_settings(settings, NonceSecret{});
  EXPECT_EQ(auth.realm, "sipline.local");
  ASSERT_EQ(auth.algorithms.size(), 1u);
  EXPECT_EQ(auth.algorithms[0], DigestAlgorithm::Md5);
  EXPECT_EQ(auth.nonce_lifetime_s, 120u);
  EXPECT_EQ(auth.issuer, 0);
}

}  // namespace
}  // namespace sipline::sip

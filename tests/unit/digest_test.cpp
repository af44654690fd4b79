#include "sip/digest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/unit/corpus_header.hpp"

namespace sipline::sip {
namespace {

using test::corpus_header_value;

TEST(Digest, CredentialsWithQop) {
  const std::string_view value =
      "Digest username=\"bob\", realm=\"biloxi.com\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", qop=auth, "
      "nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok()) << describe(parsed.error);
  const DigestParams& digest = parsed.value;
  EXPECT_EQ(digest.scheme, "Digest");
  EXPECT_TRUE(digest.is_digest);
  EXPECT_EQ(digest.username, "bob");
  EXPECT_EQ(digest.realm, "biloxi.com");
  EXPECT_EQ(digest.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  EXPECT_EQ(digest.uri, "sip:bob@biloxi.com");
  EXPECT_EQ(digest.qop, "auth");
  EXPECT_EQ(digest.nc, "00000001");
  EXPECT_EQ(digest.cnonce, "0a4f113b");
  EXPECT_EQ(digest.response, "6629fae49393a05397450978507c4ef1");
  EXPECT_EQ(digest.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  EXPECT_EQ(digest.algorithm_text, "");
  EXPECT_EQ(digest.algorithm, DigestAlgorithm::Md5);  // RFC 7616 §3.3: absent means MD5
  EXPECT_FALSE(digest.userhash);
  // Zero-copy: the unquoted value is a view just inside its quotes.
  EXPECT_EQ(digest.username.data(), value.data() + 17);
}

TEST(Digest, Rfc3665ChallengeWithFoldedLines) {
  const std::string value = corpus_header_value("rfc3665/2.1-F2-401.sip", "WWW-Authenticate");
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok()) << value;
  const DigestParams& challenge = parsed.value;
  EXPECT_TRUE(challenge.is_digest);
  EXPECT_EQ(challenge.realm, "atlanta.example.com");
  EXPECT_EQ(challenge.qop, "auth");
  EXPECT_EQ(challenge.nonce, "ea9c8e88df84f1cec4341ae6cbe5a359");
  EXPECT_EQ(challenge.opaque, "");
  EXPECT_EQ(challenge.stale, "FALSE");
  EXPECT_EQ(challenge.algorithm_text, "MD5");
  EXPECT_EQ(challenge.algorithm, DigestAlgorithm::Md5);
}

TEST(Digest, Rfc3665CredentialsWithFoldedLines) {
  const std::string value =
      corpus_header_value("rfc3665/2.1-F3-REGISTER-auth.sip", "Authorization");
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok()) << value;
  const DigestParams& credentials = parsed.value;
  EXPECT_EQ(credentials.username, "bob");
  EXPECT_EQ(credentials.realm, "atlanta.example.com");
  EXPECT_EQ(credentials.nonce, "ea9c8e88df84f1cec4341ae6cbe5a359");
  EXPECT_EQ(credentials.opaque, "");
  EXPECT_EQ(credentials.uri, "sips:ss2.biloxi.example.com");
  EXPECT_EQ(credentials.response, "dfe56131d1958046689d83306477ecc");
  EXPECT_EQ(credentials.qop, "");
  EXPECT_EQ(credentials.algorithm, DigestAlgorithm::Md5);
}

TEST(Digest, Rfc3665ProxyAuthorization) {
  const std::string value =
      corpus_header_value("rfc3665/3.2-F4-INVITE-proxyauth.sip", "Proxy-Authorization");
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok()) << value;
  EXPECT_EQ(parsed.value.username, "alice");
  EXPECT_EQ(parsed.value.realm, "atlanta.example.com");
  EXPECT_EQ(parsed.value.nonce, "wf84f1ceczx41ae6cbe5aea9c8e88d359");
  EXPECT_EQ(parsed.value.uri, "sip:bob@biloxi.example.com");
  EXPECT_EQ(parsed.value.response, "42ce3cef44b22f50c6a6071bc8");
}

TEST(Digest, CarrierRegisterCredentials) {
  const std::string value =
      corpus_header_value("carrier/register-carrier-auth.sip", "Authorization");
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok()) << value;
  const DigestParams& credentials = parsed.value;
  EXPECT_EQ(credentials.username, "+14085551234@ims.carrier-b.example.net");
  EXPECT_EQ(credentials.realm, "ims.carrier-b.example.net");
  EXPECT_EQ(credentials.nonce, "5f2b9c1e7a3d4e6f8a9b0c1d2e3f4a5b");
  EXPECT_EQ(credentials.uri, "sip:ims.carrier-b.example.net");
  EXPECT_EQ(credentials.response, "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a");
  EXPECT_EQ(credentials.algorithm_text, "MD5");
  EXPECT_EQ(credentials.algorithm, DigestAlgorithm::Md5);
  EXPECT_EQ(credentials.cnonce, "a1b2c3d4e5f6");
  EXPECT_EQ(credentials.qop, "auth");
  EXPECT_EQ(credentials.nc, "00000001");
}

TEST(Digest, Regaut01UnknownSchemeIsReportedNotInterpreted) {
  const std::string value = corpus_header_value("rfc4475/regaut01.dat", "Authorization");
  ASSERT_EQ(value, "NoOneKnowsThisScheme opaque-data=here");
  const Parsed<DigestParams> parsed = parse_digest(value);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value.scheme, "NoOneKnowsThisScheme");
  EXPECT_FALSE(parsed.value.is_digest);
  EXPECT_EQ(parsed.value.opaque, "");

  const Parsed<DigestParams> basic = parse_digest("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic.value.scheme, "Basic");
  EXPECT_FALSE(basic.value.is_digest);
}

TEST(Digest, Algorithms) {
  EXPECT_EQ(parse_digest("Digest algorithm=SHA-256, realm=\"r\"").value.algorithm,
            DigestAlgorithm::Sha256);
  EXPECT_EQ(parse_digest("Digest algorithm=md5").value.algorithm, DigestAlgorithm::Md5);
  EXPECT_EQ(parse_digest("Digest algorithm=MD5-sess").value.algorithm, DigestAlgorithm::Md5Sess);
  EXPECT_EQ(parse_digest("Digest algorithm=SHA-512-256-sess").value.algorithm,
            DigestAlgorithm::Sha512_256Sess);
  EXPECT_EQ(parse_digest("Digest algorithm=\"SHA-256\"").value.algorithm, DigestAlgorithm::Sha256);
  const Parsed<DigestParams> unknown = parse_digest("Digest algorithm=SHA-1");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown.value.algorithm, DigestAlgorithm::Unknown);
  EXPECT_EQ(unknown.value.algorithm_text, "SHA-1");
}

TEST(Digest, AlgorithmNamesRoundTrip) {
  for (DigestAlgorithm algorithm : {DigestAlgorithm::Md5, DigestAlgorithm::Md5Sess,
                                    DigestAlgorithm::Sha256, DigestAlgorithm::Sha256Sess,
                                    DigestAlgorithm::Sha512_256, DigestAlgorithm::Sha512_256Sess}) {
    EXPECT_EQ(digest_algorithm_from_text(digest_algorithm_name(algorithm)), algorithm);
  }
  EXPECT_EQ(digest_algorithm_name(DigestAlgorithm::Sha256), "SHA-256");
  EXPECT_EQ(digest_algorithm_name(DigestAlgorithm::Md5Sess), "MD5-sess");
  EXPECT_EQ(digest_algorithm_name(DigestAlgorithm::Unknown), "");
  EXPECT_EQ(digest_algorithm_from_text(""), DigestAlgorithm::Unknown);
}

TEST(Digest, ChallengeFields) {
  const Parsed<DigestParams> parsed = parse_digest(
      "Digest realm=\"biloxi.com\", qop=\"auth,auth-int\", domain=\"sip:biloxi.com\", "
      "stale=true, userhash=true, nonce=\"n\"");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value.qop, "auth,auth-int");
  EXPECT_EQ(parsed.value.domain, "sip:biloxi.com");
  EXPECT_EQ(parsed.value.stale, "true");
  EXPECT_TRUE(parsed.value.userhash);
  EXPECT_FALSE(parse_digest("Digest userhash=false").value.userhash);
}

TEST(Digest, UnknownParamsSkippedAndNamesCaseInsensitive) {
  const Parsed<DigestParams> parsed =
      parse_digest("digest REALM=\"r\", x-unknown=token, x-quoted=\"a, b=c\", Nonce=\"n\"");
  ASSERT_TRUE(parsed.ok()) << describe(parsed.error);
  EXPECT_TRUE(parsed.value.is_digest);
  EXPECT_EQ(parsed.value.scheme, "digest");
  EXPECT_EQ(parsed.value.realm, "r");
  EXPECT_EQ(parsed.value.nonce, "n");
}

TEST(Digest, EscapedQuoteInsideValueStaysAsWritten) {
  const Parsed<DigestParams> parsed = parse_digest(R"(Digest realm="a \"b\" c", nonce="n\\")");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value.realm, R"(a \"b\" c)");
  EXPECT_EQ(parsed.value.nonce, R"(n\\)");
}

TEST(Digest, LwsAroundEqualAndComma) {
  const Parsed<DigestParams> parsed =
      parse_digest("Digest\r\n username = \"bob\"\r\n\t,realm\t=\r\n \"r\"");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value.username, "bob");
  EXPECT_EQ(parsed.value.realm, "r");
  EXPECT_TRUE(parse_digest("Digest").ok());
}

TEST(Digest, Malformed) {
  EXPECT_EQ(parse_digest("").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("\"Digest\" realm=\"r\"").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=\"unterminated").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=\"r\", nonce=\"n").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=\"r\",").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=\"r\",, nonce=\"n\"").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest realm=\"r\" nonce=\"n\"").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest,realm=\"r\"").error, ParseError::BadAuthorization);
  EXPECT_EQ(parse_digest("Digest uri=sip:bob@biloxi.com").error, ParseError::BadAuthorization);
}

TEST(Digest, CredentialsForRealmOnlyDigestForThatRealm) {
  const std::optional<DigestParams> ours =
      digest_credentials_for_realm(R"(Digest username="1001", realm="sip.example")", "sip.example");
  ASSERT_TRUE(ours.has_value());
  EXPECT_EQ(ours->username, "1001");
  EXPECT_FALSE(
      digest_credentials_for_realm(R"(Digest username="1001", realm="carrier")", "sip.example"));
  EXPECT_FALSE(digest_credentials_for_realm(R"(Basic realm="sip.example")", "sip.example"));
  EXPECT_FALSE(digest_credentials_for_realm(R"(Digest realm="sip.example)", "sip.example"));
  EXPECT_FALSE(digest_credentials_for_realm(R"(Digest username="1001")", ""));
}

}  // namespace
}  // namespace sipline::sip

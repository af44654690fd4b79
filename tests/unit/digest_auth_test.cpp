#include "sip/digest_auth.hpp"

#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.hpp"

// --- allocation counting -------------------------------------------------------------------
// The worker path (authenticate + write_challenges) must not allocate. Both the C++ heap
// (global operator new) and OpenSSL's allocator (CRYPTO_set_mem_functions, which only works
// before OpenSSL's first allocation, hence the static initializer) are counted while
// g_counting is set.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counting_malloc(std::size_t size, const char*, int) {
  if (g_counting) ++g_allocations;
  return std::malloc(size);
}
void* counting_realloc(void* pointer, std::size_t size, const char*, int) {
  if (g_counting) ++g_allocations;
  return std::realloc(pointer, size);
}
void counting_free(void* pointer, const char*, int) {
  std::free(pointer);
}

const bool g_openssl_hooked =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;
}  // namespace

// Every replaceable non-aligned form is replaced, so that each allocation and its release go
// through the same pair (sanitizers check that). noinline: GCC otherwise sees the malloc/free
// pair through the inlined replacements and warns about a "mismatched" new/delete.
namespace {
void* counted_allocation(std::size_t size) noexcept {
  if (g_counting) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  if (void* pointer = counted_allocation(size)) return pointer;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) {
  if (void* pointer = counted_allocation(size)) return pointer;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_allocation(size);
}
[[gnu::noinline]] void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_allocation(size);
}
[[gnu::noinline]] void operator delete(void* pointer) noexcept {
  std::free(pointer);
}
[[gnu::noinline]] void operator delete[](void* pointer) noexcept {
  std::free(pointer);
}
[[gnu::noinline]] void operator delete(void* pointer, std::size_t) noexcept {
  std::free(pointer);
}
[[gnu::noinline]] void operator delete[](void* pointer, std::size_t) noexcept {
  std::free(pointer);
}
[[gnu::noinline]] void operator delete(void* pointer, const std::nothrow_t&) noexcept {
  std::free(pointer);
}
[[gnu::noinline]] void operator delete[](void* pointer, const std::nothrow_t&) noexcept {
  std::free(pointer);
}

namespace sipline::sip {
namespace {

constexpr std::int64_t kNow = 1700000000;

NonceSecret secret_of(std::uint8_t seed) {
  NonceSecret secret;
  for (std::size_t i = 0; i < secret.size(); ++i)
    secret[i] = std::uint8_t(seed + i);
  return secret;
}

// --- hashes: RFC vectors -----------------------------------------------------------------

TEST(DigestHash, Rfc2617Section3_5Md5Qop) {
  const DigestHex ha1 =
      digest_ha1(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(ha1.view(), "939e7578ed9e3c518a452acee763bce9");
  const DigestHex response =
      digest_response({DigestAlgorithm::Md5, ha1.view(), "GET", "/dir/index.html",
                       "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth"});
  EXPECT_EQ(response.view(), "6629fae49393a05397450978507c4ef1");
}

TEST(DigestHash, Rfc7616Section3_9_1Sha256AndMd5) {
  const std::string_view nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  const std::string_view cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  const DigestHex sha_ha1 =
      digest_ha1(DigestAlgorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(digest_response({DigestAlgorithm::Sha256, sha_ha1.view(), "GET", "/dir/index.html",
                             nonce, "00000001", cnonce, "auth"})
                .view(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  const DigestHex md5_ha1 =
      digest_ha1(DigestAlgorithm::Md5, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(digest_response({DigestAlgorithm::Md5, md5_ha1.view(), "GET", "/dir/index.html", nonce,
                             "00000001", cnonce, "auth"})
                .view(),
            "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(DigestHash, Rfc2069FormWithoutQop) {
  // RFC 2069 §2.4's inputs; expected value computed independently with Python's hashlib.
  const DigestHex ha1 =
      digest_ha1(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "CircleOfLife");
  const DigestHex response =
      digest_response({DigestAlgorithm::Md5, ha1.view(), "GET", "/dir/index.html",
                       "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", ""});
  EXPECT_EQ(response.view(), "1949323746fe6a43ef61f9606e7febea");
}

TEST(DigestHash, Md5SessDerivesSessionHa1) {
  // H(H(HA1:nonce:cnonce):nonce:nc:cnonce:qop:HA2), expected value from Python's hashlib.
  const DigestHex ha1 =
      digest_ha1(DigestAlgorithm::Md5Sess, "Mufasa", "testrealm@host.com", "Circle Of Life");
  const DigestHex response =
      digest_response({DigestAlgorithm::Md5Sess, ha1.view(), "GET", "/dir/index.html",
                       "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth"});
  EXPECT_EQ(response.view(), "8e3825c57e897f5a0dec6c2d4e5059d0");
}

TEST(DigestHash, FipsVectorsForTheUnderlyingHashes) {
  // FIPS 180-4 example "abc"; SHA-512/256 uses its own initial hash value, not truncation only.
  EXPECT_EQ(digest_hash(DigestAlgorithm::Sha256, {"abc"}).view(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_hash(DigestAlgorithm::Sha512_256, {"abc"}).view(),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
  EXPECT_EQ(digest_hash(DigestAlgorithm::Md5, {"a", "b"}).view(),
            digest_hash(DigestAlgorithm::Md5, {"a:b"}).view());
}

TEST(DigestHash, Sha512_256Response) {
  // RFC 7616 §3.9.2's inputs without userhash; expected value from Python's hashlib
  // (the response printed in that section does not match its inputs).
  const DigestHex ha1 = digest_ha1(DigestAlgorithm::Sha512_256, "J\xC3\xA4s\xC3\xB8n Doe",
                                   "api@example.org", "Secret, or not?");
  const DigestHex response =
      digest_response({DigestAlgorithm::Sha512_256, ha1.view(), "GET", "/doe.json",
                       "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "00000001",
                       "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", "auth"});
  EXPECT_EQ(response.view(), "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5");
}

TEST(DigestHash, UnsupportedAlgorithmGivesEmptyHex) {
  EXPECT_FALSE(digest_algorithm_supported(DigestAlgorithm::Unknown));
  EXPECT_TRUE(digest_algorithm_supported(DigestAlgorithm::Sha512_256Sess));
  EXPECT_EQ(digest_hash(DigestAlgorithm::Unknown, {"abc"}).size, 0);
  EXPECT_EQ(digest_hex_length(DigestAlgorithm::Md5), 32u);
  EXPECT_EQ(digest_hex_length(DigestAlgorithm::Sha256), 64u);
  EXPECT_EQ(digest_hex_length(DigestAlgorithm::Unknown), 0u);
}

// --- nonces --------------------------------------------------------------------------------

NonceService make_nonces(std::uint8_t seed = 1, std::string_view realm = "sipline.local",
                         std::uint16_t issuer = 0) {
  return NonceService(NonceSettings{secret_of(seed), realm, 300, issuer});
}

TEST(Nonce, LayoutIsTimeSerialMac) {
  NonceService nonces = make_nonces(1, "sipline.local", 3);
  const NonceText first = nonces.issue(0x6553F100);  // 1700000000
  const NonceText second = nonces.issue(0x6553F100);
  EXPECT_EQ(first.view().substr(0, 32), "000000006553f1000003000000000000");
  EXPECT_EQ(second.view().substr(0, 32), "000000006553f1000003000000000001");
  EXPECT_NE(first.view().substr(32), second.view().substr(32));
  EXPECT_EQ(first.view().find_first_not_of("0123456789abcdef"), std::string_view::npos);
}

TEST(Nonce, RoundTripIsValidWithItsId) {
  NonceService nonces = make_nonces(1, "sipline.local", 2);
  const NonceText text = nonces.issue(kNow);
  const NonceCheck check = nonces.check(text.view(), kNow + 10);
  EXPECT_EQ(check.status, NonceStatus::Valid);
  EXPECT_EQ(check.id.issued_at, std::uint64_t(kNow));
  EXPECT_EQ(check.id.serial, std::uint64_t(2) << 48);
}

TEST(Nonce, ValidatesAcrossInstancesWithTheSameSecret) {
  NonceService control = make_nonces(1, "sipline.local", 0);
  const NonceService worker = make_nonces(1, "sipline.local", 1);
  EXPECT_EQ(worker.check(control.issue(kNow).view(), kNow).status, NonceStatus::Valid);
  EXPECT_EQ(worker.opaque(), control.opaque());
}

TEST(Nonce, AnyTamperingIsInvalid) {
  NonceService nonces = make_nonces();
  const std::string good(nonces.issue(kNow).view());
  for (std::size_t position : {0u, 15u, 16u, 31u, 32u, 63u}) {
    std::string bad = good;
    bad[position] = bad[position] == '0' ? '1' : '0';
    EXPECT_EQ(nonces.check(bad, kNow).status, NonceStatus::Invalid) << position;
  }
  EXPECT_EQ(nonces.check(good.substr(1), kNow).status, NonceStatus::Invalid);
  EXPECT_EQ(nonces.check(good + "0", kNow).status, NonceStatus::Invalid);
  EXPECT_EQ(nonces.check("", kNow).status, NonceStatus::Invalid);
  std::string not_hex = good;
  not_hex[40] = 'g';
  EXPECT_EQ(nonces.check(not_hex, kNow).status, NonceStatus::Invalid);
}

TEST(Nonce, OtherSecretOrRealmIsInvalid) {
  NonceService nonces = make_nonces(1, "sipline.local");
  const std::string text(nonces.issue(kNow).view());
  EXPECT_EQ(make_nonces(2, "sipline.local").check(text, kNow).status, NonceStatus::Invalid);
  EXPECT_EQ(make_nonces(1, "other.example").check(text, kNow).status, NonceStatus::Invalid);
}

TEST(Nonce, StaleAfterLifetime) {
  NonceService nonces = make_nonces();
  const std::string text(nonces.issue(kNow).view());
  EXPECT_EQ(nonces.check(text, kNow + 300).status, NonceStatus::Valid);
  EXPECT_EQ(nonces.check(text, kNow + 301).status, NonceStatus::Stale);
  EXPECT_EQ(nonces.check(text, kNow + 100000).status, NonceStatus::Stale);
}

TEST(Nonce, FromTheFutureIsInvalidBeyondSkew) {
  NonceService nonces = make_nonces();
  const std::string text(nonces.issue(kNow).view());
  EXPECT_EQ(nonces.check(text, kNow - kNonceFutureSkew).status, NonceStatus::Valid);
  EXPECT_EQ(nonces.check(text, kNow - kNonceFutureSkew - 1).status, NonceStatus::Invalid);
}

TEST(Nonce, OpaqueIsSixteenHexDigitsPerSecretAndRealm) {
  const NonceService a = make_nonces(1, "sipline.local");
  EXPECT_EQ(a.opaque().size(), 16u);
  EXPECT_EQ(a.opaque().find_first_not_of("0123456789abcdef"), std::string_view::npos);
  EXPECT_NE(a.opaque(), make_nonces(2, "sipline.local").opaque());
  EXPECT_NE(a.opaque(), make_nonces(1, "other.example").opaque());
}

TEST(Nonce, RandomSecretsDiffer) {
  EXPECT_NE(random_nonce_secret(), random_nonce_secret());
}

// --- nonce counts ----------------------------------------------------------------------------

TEST(NonceCount, IncreasingCountsAreFreshRepeatsAreReplays) {
  NonceCountTable table(16);
  const NonceId nonce{kNow, 7};
  EXPECT_EQ(table.record(nonce, 1, 100), NonceCountVerdict::Fresh);
  EXPECT_EQ(table.record(nonce, 2, 200), NonceCountVerdict::Fresh);
  EXPECT_EQ(table.record(nonce, 2, 200), NonceCountVerdict::Retransmission);
  EXPECT_EQ(table.record(nonce, 2, 201), NonceCountVerdict::Replay);
  EXPECT_EQ(table.record(nonce, 1, 100), NonceCountVerdict::Replay);
  EXPECT_EQ(table.record(nonce, 5, 300), NonceCountVerdict::Fresh);
  EXPECT_EQ(table.record(NonceId{kNow, 8}, 1, 100), NonceCountVerdict::Fresh);
}

TEST(NonceCount, CapacityRoundsUpToPowerOfTwo) {
  EXPECT_EQ(NonceCountTable(1).capacity(), NonceCountTable::kWays);
  EXPECT_EQ(NonceCountTable(5).capacity(), 8u);
  EXPECT_EQ(NonceCountTable(4096).capacity(), 4096u);
}

TEST(NonceCount, EvictedNoncesAreForgottenNeverAcceptedAgain) {
  NonceCountTable table(4);  // a single set of 4 ways
  for (std::uint64_t serial = 0; serial < 4; ++serial) {
    ASSERT_EQ(table.record(NonceId{kNow, serial}, 1, serial), NonceCountVerdict::Fresh);
  }
  // A fifth nonce evicts the oldest (serial 0).
  EXPECT_EQ(table.record(NonceId{kNow + 1, 0}, 1, 9), NonceCountVerdict::Fresh);
  // Serial 0 replayed: not in the table, but not newer than what was evicted.
  EXPECT_EQ(table.record(NonceId{kNow, 0}, 1, 0), NonceCountVerdict::Forgotten);
  EXPECT_EQ(table.record(NonceId{kNow, 0}, 2, 0), NonceCountVerdict::Forgotten);
  // The others are still tracked.
  EXPECT_EQ(table.record(NonceId{kNow, 1}, 1, 5), NonceCountVerdict::Replay);
  EXPECT_EQ(table.record(NonceId{kNow, 1}, 2, 5), NonceCountVerdict::Fresh);
  // Newer nonces are fresh.
  EXPECT_EQ(table.record(NonceId{kNow + 2, 0}, 1, 5), NonceCountVerdict::Fresh);
}

// --- users -----------------------------------------------------------------------------------

TEST(UserTable, FindsExactNamesOnly) {
  const UserTable users({{"1002", "b"}, {"1001", "a"}, {"alice", "c"}});
  EXPECT_EQ(users.size(), 3u);
  ASSERT_TRUE(users.find("1001").has_value());
  EXPECT_EQ(users.find("1001")->password, "a");
  EXPECT_EQ(users.find("1002")->password, "b");
  EXPECT_EQ(users.find("alice")->password, "c");
  EXPECT_FALSE(users.find("100").has_value());
  EXPECT_FALSE(users.find("10011").has_value());
  EXPECT_FALSE(users.find("Alice").has_value());
  EXPECT_FALSE(users.find("").has_value());
}

// --- reply mapping -----------------------------------------------------------------------------

TEST(AuthReply, MapsEveryResult) {
  using enum AuthResult;
  const auto www = [](AuthResult r) { return auth_reply(r, AuthHeaderKind::Www); };
  EXPECT_EQ(www(Ok).code, 0);
  EXPECT_EQ(www(NoCredentials).code, 401);
  EXPECT_FALSE(www(NoCredentials).stale);
  EXPECT_EQ(www(BadNonce).code, 401);
  EXPECT_EQ(www(AlgorithmNotOffered).code, 401);
  EXPECT_EQ(www(StaleNonce).code, 401);
  EXPECT_TRUE(www(StaleNonce).stale);
  EXPECT_EQ(www(Replay).code, 401);
  EXPECT_TRUE(www(Replay).stale);
  EXPECT_EQ(www(WrongPassword).code, 403);
  EXPECT_EQ(www(UnknownUser).code, 403);
  EXPECT_EQ(www(Malformed).code, 400);
  EXPECT_EQ(auth_reply(NoCredentials, AuthHeaderKind::Proxy).code, 407);
  EXPECT_EQ(auth_reply(StaleNonce, AuthHeaderKind::Proxy).code, 407);
  EXPECT_EQ(auth_reply(WrongPassword, AuthHeaderKind::Proxy).code, 403);
  EXPECT_EQ(auth_result_name(AlgorithmNotOffered), "algorithm-not-offered");
  EXPECT_FALSE(method_may_be_challenged(Method::Ack));
  EXPECT_FALSE(method_may_be_challenged(Method::Cancel));
  EXPECT_TRUE(method_may_be_challenged(Method::Invite));
}

// --- authenticator ---------------------------------------------------------------------------

constexpr DigestAlgorithm kShaThenMd5[] = {DigestAlgorithm::Sha256, DigestAlgorithm::Md5};

DigestAuthSettings settings_for(std::span<const DigestAlgorithm> algorithms = kShaThenMd5,
                                std::uint16_t issuer = 0) {
  DigestAuthSettings settings;
  settings.realm = "sipline.local";
  settings.algorithms = algorithms;
  settings.secret = secret_of(1);
  settings.nonce_lifetime_s = 300;
  settings.issuer = issuer;
  settings.nonce_count_capacity = 64;
  return settings;
}

// The nonce="..." value of a challenge line.
std::string nonce_of(std::string_view challenge) {
  const std::size_t start = challenge.find("nonce=\"") + 7;
  return std::string(challenge.substr(start, challenge.find('"', start) - start));
}

TEST(Challenge, OneLinePerAlgorithmInOrderWithOneNonce) {
  DigestAuthenticator auth(settings_for());
  const std::string text = auth.challenges(AuthHeaderKind::Www, false, kNow);
  const std::string nonce = nonce_of(text);
  const std::string opaque(auth.nonces().opaque());
  EXPECT_EQ(text, "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" + nonce +
                      "\", opaque=\"" + opaque +
                      "\", algorithm=SHA-256, qop=\"auth\"\r\n"
                      "WWW-Authenticate: Digest realm=\"sipline.local\", nonce=\"" +
                      nonce + "\", opaque=\"" + opaque + "\", algorithm=MD5, qop=\"auth\"\r\n");
  EXPECT_EQ(auth.nonces().check(nonce, kNow).status, NonceStatus::Valid);
}

TEST(Challenge, ProxyStaleAndOrder) {
  constexpr DigestAlgorithm kMd5First[] = {DigestAlgorithm::Md5, DigestAlgorithm::Sha512_256};
  DigestAuthenticator auth(settings_for(kMd5First));
  const std::string text = auth.challenges(AuthHeaderKind::Proxy, true, kNow);
  const std::string nonce = nonce_of(text);
  const std::string opaque(auth.nonces().opaque());
  EXPECT_EQ(text, "Proxy-Authenticate: Digest realm=\"sipline.local\", nonce=\"" + nonce +
                      "\", opaque=\"" + opaque +
                      "\", algorithm=MD5, qop=\"auth\", stale=true\r\n"
                      "Proxy-Authenticate: Digest realm=\"sipline.local\", nonce=\"" +
                      nonce + "\", opaque=\"" + opaque +
                      "\", algorithm=SHA-512-256, qop=\"auth\", stale=true\r\n");
}

TEST(Challenge, UnsupportedAndDuplicateAlgorithmsAreNotOffered) {
  constexpr DigestAlgorithm kMessy[] = {DigestAlgorithm::Unknown, DigestAlgorithm::Md5,
                                        DigestAlgorithm::Md5};
  DigestAuthenticator auth(settings_for(kMessy));
  ASSERT_EQ(auth.algorithms().size(), 1u);
  EXPECT_EQ(auth.algorithms()[0], DigestAlgorithm::Md5);
}

TEST(Challenge, BufferTooSmallIsReported) {
  DigestAuthenticator auth(settings_for());
  std::array<char, 100> small{};
  const Written written = auth.write_challenges(AuthHeaderKind::Www, false, kNow, small);
  EXPECT_EQ(written.error, WriteError::BufferTooSmall);
  std::array<char, 2 * max_challenge_line_length(13)> enough{};
  EXPECT_TRUE(auth.write_challenges(AuthHeaderKind::Www, true, kNow, enough).ok());
}

// Credentials as a client computes them, for the verification tests.
struct ClientCredentials {
  std::string username = "1001";
  std::string password = "1234567890";
  std::string realm = "sipline.local";
  DigestAlgorithm algorithm = DigestAlgorithm::Sha256;
  std::string algorithm_param = "SHA-256";  // "" omits the parameter
  std::string method = "INVITE";
  std::string uri = "sip:1002@sipline.local";
  std::string nonce;
  std::string nc = "00000001";
  std::string cnonce = "0a4f113b";
  std::string qop = "auth";
  std::string opaque;
  std::string extra;  // more ", name=value" text

  std::string header_value() const {
    const DigestHex ha1 = digest_ha1(algorithm, username, realm, password);
    const DigestHex response =
        digest_response({algorithm, ha1.view(), method, uri, nonce, nc, cnonce, qop});
    std::string value = "Digest username=\"" + username + "\", realm=\"" + realm + "\", nonce=\"" +
                        nonce + "\", uri=\"" + uri + "\", response=\"" +
                        std::string(response.view()) + "\"";
    if (!algorithm_param.empty()) value += ", algorithm=" + algorithm_param;
    if (!qop.empty()) value += ", qop=" + qop + ", nc=" + nc + ", cnonce=\"" + cnonce + "\"";
    if (!opaque.empty()) value += ", opaque=\"" + opaque + "\"";
    return value + extra;
  }
};

class Verify : public ::testing::Test {
 protected:
  Verify() : auth_(settings_for()) {
    client_.nonce = std::string(auth_.nonces().issue(kNow).view());
  }

  AuthResult verify(const ClientCredentials& client, std::int64_t now = kNow,
                    std::uint64_t fingerprint = 1,
                    std::string_view request_uri = "sip:1002@sipline.local") {
    const std::string value = client.header_value();
    const Parsed<DigestParams> parsed = parse_digest(value);
    EXPECT_TRUE(parsed.ok()) << value;
    return auth_.verify(parsed.value, VerifyContext{client.method, request_uri, fingerprint},
                        users_.find(client.username), now);
  }

  DigestAuthenticator auth_;
  UserTable users_{{{"1001", "1234567890"}, {"1002", "secret"}}};
  ClientCredentials client_;
};

TEST_F(Verify, Sha256Ok) {
  EXPECT_EQ(verify(client_), AuthResult::Ok);
}

TEST_F(Verify, Md5OkWithAndWithoutAlgorithmParameter) {
  client_.algorithm = DigestAlgorithm::Md5;
  client_.algorithm_param = "MD5";
  EXPECT_EQ(verify(client_), AuthResult::Ok);
  client_.algorithm_param = "";  // RFC 7616 §3.3: absent means MD5
  client_.nc = "00000002";
  EXPECT_EQ(verify(client_), AuthResult::Ok);
}

TEST_F(Verify, OpaqueEchoedIsAcceptedOtherOpaqueIsBadNonce) {
  client_.opaque = std::string(auth_.nonces().opaque());
  EXPECT_EQ(verify(client_), AuthResult::Ok);
  client_.opaque = "0000000000000000";
  client_.nc = "00000002";
  EXPECT_EQ(verify(client_), AuthResult::BadNonce);
}

TEST_F(Verify, WrongPasswordUnknownUser) {
  client_.password = "wrong";
  EXPECT_EQ(verify(client_), AuthResult::WrongPassword);
  client_.username = "1099";
  EXPECT_EQ(verify(client_), AuthResult::UnknownUser);
}

TEST_F(Verify, StaleAndBadNonces) {
  EXPECT_EQ(verify(client_, kNow + 301), AuthResult::StaleNonce);
  ClientCredentials forged = client_;
  forged.nonce[63] = forged.nonce[63] == 'a' ? 'b' : 'a';
  EXPECT_EQ(verify(forged), AuthResult::BadNonce);
  DigestAuthenticator other_boot([] {
    DigestAuthSettings settings = settings_for();
    settings.secret = secret_of(9);
    return settings;
  }());
  forged.nonce = std::string(other_boot.nonces().issue(kNow).view());
  EXPECT_EQ(verify(forged), AuthResult::BadNonce);
}

TEST_F(Verify, NonceCountReplay) {
  EXPECT_EQ(verify(client_, kNow, 1), AuthResult::Ok);
  EXPECT_EQ(verify(client_, kNow, 1), AuthResult::Ok);  // a retransmission
  EXPECT_EQ(verify(client_, kNow, 2), AuthResult::Replay);
  client_.nc = "00000002";
  EXPECT_EQ(verify(client_, kNow, 2), AuthResult::Ok);
  client_.nc = "00000001";
  EXPECT_EQ(verify(client_, kNow, 3), AuthResult::Replay);
}

TEST_F(Verify, WrongResponseDoesNotBurnTheNonceCount) {
  ClientCredentials attacker = client_;
  attacker.password = "guess";
  attacker.nc = "00000009";
  EXPECT_EQ(verify(attacker), AuthResult::WrongPassword);
  EXPECT_EQ(verify(client_), AuthResult::Ok);
}

TEST_F(Verify, Rfc2069FormOnlyForMd5AndOnlyOnce) {
  client_.qop = "";
  EXPECT_EQ(verify(client_), AuthResult::Malformed);  // SHA-256 without qop
  client_.algorithm = DigestAlgorithm::Md5;
  client_.algorithm_param = "";
  EXPECT_EQ(verify(client_, kNow, 1), AuthResult::Ok);
  EXPECT_EQ(verify(client_, kNow, 1), AuthResult::Ok);  // retransmission
  EXPECT_EQ(verify(client_, kNow, 2), AuthResult::Replay);
}

TEST_F(Verify, MalformedCredentials) {
  ClientCredentials bad = client_;
  bad.qop = "auth-int";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
  bad = client_;
  bad.nc = "1";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
  bad.nc = "00000000";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
  bad = client_;
  bad.cnonce = "";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
  bad = client_;
  bad.extra = ", userhash=true";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
  bad = client_;
  bad.username = "";
  EXPECT_EQ(verify(bad), AuthResult::Malformed);
}

TEST_F(Verify, DigestUriMustMatchTheRequestUri) {
  EXPECT_EQ(verify(client_, kNow, 1, "sip:1003@sipline.local"), AuthResult::Malformed);
  // Equivalent per RFC 3261 §19.1.4 (host case) is accepted.
  EXPECT_EQ(verify(client_, kNow, 1, "sip:1002@SIPLINE.local"), AuthResult::Ok);
}

TEST_F(Verify, AlgorithmNotOffered) {
  client_.algorithm = DigestAlgorithm::Sha512_256;
  client_.algorithm_param = "SHA-512-256";
  EXPECT_EQ(verify(client_), AuthResult::AlgorithmNotOffered);
  client_.algorithm_param = "SHA-1";
  EXPECT_EQ(verify(client_), AuthResult::AlgorithmNotOffered);
}

TEST_F(Verify, OtherRealmIsNoCredentials) {
  client_.realm = "elsewhere.example";
  EXPECT_EQ(verify(client_), AuthResult::NoCredentials);
}

// --- authenticate() on whole requests --------------------------------------------------------

std::string invite(std::string_view auth_header, std::uint32_t cseq = 1,
                   std::string_view branch = "z9hG4bK776asdhds") {
  return "INVITE sip:1002@sipline.local SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=" +
         std::string(branch) +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=1928301774\r\n"
         "To: <sip:1002@sipline.local>\r\n"
         "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
         "CSeq: " +
         std::to_string(cseq) + " INVITE\r\n" + std::string(auth_header) +
         "Content-Length: 0\r\n\r\n";
}

class Authenticate : public ::testing::Test {
 protected:
  Authenticate() : auth_(settings_for(kShaThenMd5, 1)) {}

  std::string proxy_authorization(std::string_view nonce, std::string_view nc = "00000001") {
    ClientCredentials client;
    client.nonce = std::string(nonce);
    client.nc = std::string(nc);
    return "Proxy-Authorization: " + client.header_value() + "\r\n";
  }

  AuthCheck check(const std::string& text) {
    message_ = parse_message(text);
    EXPECT_TRUE(message_.ok()) << describe(message_.error);
    return auth_.authenticate(message_, AuthHeaderKind::Proxy, users_, kNow);
  }

  DigestAuthenticator auth_;
  UserTable users_{{{"1001", "1234567890"}}};
  Message message_;
};

TEST_F(Authenticate, ChallengeThenProxyAuthorization) {
  EXPECT_EQ(check(invite("")).result, AuthResult::NoCredentials);
  const std::string nonce = nonce_of(auth_.challenges(AuthHeaderKind::Proxy, false, kNow));
  const std::string text = invite(proxy_authorization(nonce), 2);
  const AuthCheck accepted = check(text);
  EXPECT_EQ(accepted.result, AuthResult::Ok);
  EXPECT_EQ(accepted.username, "1001");
  EXPECT_EQ(check(text).result, AuthResult::Ok);  // retransmission: identical request
  // Another request (new CSeq, new branch) with the same nc is a replay.
  EXPECT_EQ(check(invite(proxy_authorization(nonce), 3, "z9hG4bKother")).result,
            AuthResult::Replay);
  EXPECT_EQ(check(invite(proxy_authorization(nonce, "00000002"), 3, "z9hG4bKother")).result,
            AuthResult::Ok);
}

TEST_F(Authenticate, AuthorizationHeaderIsNotProxyCredentials) {
  const std::string nonce(auth_.nonces().issue(kNow).view());
  ClientCredentials client;
  client.nonce = nonce;
  EXPECT_EQ(check(invite("Authorization: " + client.header_value() + "\r\n")).result,
            AuthResult::NoCredentials);
}

TEST_F(Authenticate, PicksOurRealmAmongSeveralCredentials) {
  const std::string nonce(auth_.nonces().issue(kNow).view());
  const std::string text = invite(
      "Proxy-Authorization: Digest username=\"x\", realm=\"other.example\", nonce=\"1\", "
      "uri=\"sip:1002@sipline.local\", response=\"00\"\r\n"
      "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n" +
      proxy_authorization(nonce));
  EXPECT_EQ(check(text).result, AuthResult::Ok);
}

TEST_F(Authenticate, UnparsableDigestIsMalformed) {
  EXPECT_EQ(check(invite("Proxy-Authorization: Digest username=\r\n")).result,
            AuthResult::Malformed);
}

TEST_F(Authenticate, WorkerPathDoesNotAllocate) {
  ASSERT_TRUE(g_openssl_hooked) << "CRYPTO_set_mem_functions ran after OpenSSL allocated";
  const std::string nonce(auth_.nonces().issue(kNow).view());
  const std::string first = invite(proxy_authorization(nonce), 2);
  const std::string second = invite(proxy_authorization(nonce, "00000002"), 3, "z9hG4bKx");
  std::string forged = nonce;
  forged.back() = forged.back() == '0' ? '1' : '0';
  const std::string wrong = invite(proxy_authorization(forged), 4, "z9hG4bKy");
  const Message first_message = parse_message(first);
  const Message second_message = parse_message(second);
  const Message wrong_message = parse_message(wrong);
  std::array<char, 1024> buffer{};

  g_allocations = 0;
  g_counting = true;
  const AuthResult a =
      auth_.authenticate(first_message, AuthHeaderKind::Proxy, users_, kNow).result;
  const AuthResult b =
      auth_.authenticate(second_message, AuthHeaderKind::Proxy, users_, kNow).result;
  const AuthResult c =
      auth_.authenticate(wrong_message, AuthHeaderKind::Proxy, users_, kNow).result;
  const Written written = auth_.write_challenges(AuthHeaderKind::Proxy, false, kNow, buffer);
  g_counting = false;

  EXPECT_EQ(a, AuthResult::Ok);
  EXPECT_EQ(b, AuthResult::Ok);
  EXPECT_EQ(c, AuthResult::BadNonce);
  EXPECT_TRUE(written.ok());
  EXPECT_EQ(g_allocations.load(), 0);
}

TEST(RequestFingerprint, DependsOnCallIdCSeqAndBranch) {
  const std::string texts[] = {invite("", 1, "z9hG4bKa"), invite("", 1, "z9hG4bKa"),
                               invite("", 2, "z9hG4bKa"), invite("", 1, "z9hG4bKb")};
  const Message base = parse_message(texts[0]);
  const Message same = parse_message(texts[1]);
  const Message other_cseq = parse_message(texts[2]);
  const Message other_branch = parse_message(texts[3]);
  EXPECT_EQ(request_fingerprint(base), request_fingerprint(same));
  EXPECT_NE(request_fingerprint(base), request_fingerprint(other_cseq));
  EXPECT_NE(request_fingerprint(base), request_fingerprint(other_branch));
}

}  // namespace
}  // namespace sipline::sip

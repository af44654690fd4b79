// HTTP Digest authentication as a SIP server uses it (RFC 3261 §22, RFC 7616, RFC 8760):
// response computation, self-validating nonces, nonce-count replay protection, challenge
// lines and credential verification. Used by the registrar (401 / WWW-Authenticate, control
// thread) and by workers for routes with `auth = true` (407 / Proxy-Authenticate).
//
// Hot-path rules: nothing here allocates after construction. Hashes run on OpenSSL's
// fixed-size MD5_CTX / SHA256_CTX / SHA512_CTX on the stack, because OpenSSL 3.0's
// EVP_DigestInit_ex2 allocates a provider context on every call (measured: one malloc per
// init, even when the EVP_MD_CTX and the fetched EVP_MD are reused). Hex results live in
// fixed arrays (DigestHex, NonceText); challenge lines are written into a caller buffer.
//
// Threads: every object here is owned by one thread. The control thread owns one
// DigestAuthenticator for REGISTER; each worker owns its own for proxy authentication. They
// share only the per-boot NonceSecret, so a nonce issued by any of them validates in all.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sip/digest.hpp"
#include "sip/message.hpp"
#include "sip/method.hpp"
#include "sip/rewrite.hpp"

namespace sipline::sip {

// ---------------------------------------------------------------------------------------
// Hashing (RFC 7616 §3.4.1-§3.4.3)

// MD5 gives 32 hex digits, SHA-256 and SHA-512/256 give 64.
inline constexpr std::size_t kMaxDigestHexLength = 64;

struct DigestHex {
  std::array<char, kMaxDigestHexLength> chars{};
  std::uint8_t size = 0;  // 0: the algorithm is not supported

  std::string_view view() const { return {chars.data(), size}; }
};

// MD5, SHA-256, SHA-512-256 and their -sess variants.
bool digest_algorithm_supported(DigestAlgorithm algorithm);

// Lowercase hex length of H() for the algorithm (0 when unsupported).
std::size_t digest_hex_length(DigestAlgorithm algorithm);

// H(part0 ":" part1 ":" ...): the parts joined by ':' and hashed with the algorithm's hash
// (-sess variants use their base hash). Empty DigestHex for an unsupported algorithm.
DigestHex digest_hash(DigestAlgorithm algorithm, std::initializer_list<std::string_view> parts);

// HA1 of RFC 7616 §3.4.2 for the non-session algorithms: H(username ":" realm ":" password).
// For -sess algorithms digest_response() derives the session HA1 from this value.
DigestHex digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                     std::string_view password);

struct DigestResponseInput {
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;
  std::string_view ha1;  // digest_ha1() of the user, lowercase hex
  std::string_view method;
  std::string_view uri;  // the digest-uri as the client wrote it
  std::string_view nonce;
  std::string_view nc;      // 8LHEX; ignored without qop
  std::string_view cnonce;  // ignored without qop
  std::string_view qop;     // "auth", or empty for the RFC 2069 form H(HA1:nonce:HA2)
};

// request-digest of RFC 7616 §3.4.1 (qop=auth) or RFC 2069 (no qop).
DigestHex digest_response(const DigestResponseInput& input);

// ---------------------------------------------------------------------------------------
// Nonces: "<16 hex issue time><16 hex serial><32 hex MAC>", 64 lowercase hex digits.
// MAC = the first 16 octets of HMAC-SHA-256(secret, time (8 octets, big endian) | serial (8
// octets, big endian) | realm). The server keeps no state per nonce: the MAC proves we
// issued it, the time says whether it is stale. The secret is per boot, so a restart
// invalidates every outstanding nonce (clients get a fresh challenge and retry).

inline constexpr std::size_t kNonceLength = 64;
inline constexpr std::size_t kNonceSecretSize = 32;
using NonceSecret = std::array<std::uint8_t, kNonceSecretSize>;

// 32 random octets from OpenSSL's CSPRNG. Called once at start (not on a packet path).
NonceSecret random_nonce_secret();

struct NonceText {
  std::array<char, kNonceLength> chars{};
  std::string_view view() const { return {chars.data(), chars.size()}; }
};

// What identifies one issued nonce: unique per boot as long as issuers have distinct ids.
struct NonceId {
  std::uint64_t issued_at = 0;  // unix seconds
  std::uint64_t serial = 0;     // issuer id in the top 16 bits, a counter below
  bool operator==(const NonceId&) const = default;
};

enum class NonceStatus : std::uint8_t {
  Valid,
  Stale,    // ours, but older than the lifetime: challenge again with stale=true
  Invalid,  // not ours (bad syntax, bad MAC, other boot, other realm, from the future)
};

struct NonceCheck {
  NonceStatus status = NonceStatus::Invalid;
  NonceId id;
};

struct NonceSettings {
  NonceSecret secret{};
  std::string_view realm;          // copied
  std::uint32_t lifetime_s = 300;  // a nonce older than this is stale
  std::uint16_t issuer = 0;        // distinct per thread that issues nonces
};

// Clock skew tolerated for a nonce that looks issued in the future: the control thread and
// the workers each read the clock once per loop, so their "now" may differ by a little.
inline constexpr std::int64_t kNonceFutureSkew = 5;

class NonceService {
 public:
  explicit NonceService(const NonceSettings& settings);

  NonceText issue(std::int64_t now);
  NonceCheck check(std::string_view nonce, std::int64_t now) const;

  // The opaque value sent with every challenge: 16 hex digits derived from the secret and
  // the realm, constant for the boot. Credentials that carry another opaque are refused.
  std::string_view opaque() const { return {opaque_.data(), opaque_.size()}; }
  std::string_view realm() const { return realm_; }
  std::uint32_t lifetime() const { return lifetime_s_; }

 private:
  std::array<std::uint8_t, 16> mac(std::uint64_t issued_at, std::uint64_t serial) const;

  NonceSecret secret_;
  std::string realm_;
  std::uint32_t lifetime_s_;
  std::uint64_t next_serial_;
  std::array<char, 16> opaque_{};
};

// ---------------------------------------------------------------------------------------
// Nonce-count replay protection (RFC 7616 §3.4, §5.6).
//
// A set-associative table of NonceId -> highest nc accepted (and a fingerprint of the request
// that carried it). Fixed size, chosen at construction: capacity entries in sets of kWays,
// allocated once. A full set evicts its oldest nonce (smallest (issued_at, serial)) and keeps
// the greatest NonceId it ever evicted as the set's "forgotten horizon". A nonce that is not
// in the table but not above the horizon may have been evicted, so it is reported Forgotten
// (the caller challenges again with stale=true and the client retries with a fresh nonce)
// rather than accepted: eviction never opens a replay window. Size the table so that the
// nonces in use within one nonce lifetime fit (4096 entries of 32 octets = 128 KiB by
// default); a too-small table only costs clients extra challenges.
//
// A request identical to the one that used an nc (same fingerprint: Call-ID, CSeq number,
// top Via branch) is a retransmission, not a replay: UDP clients retransmit REGISTER and
// INVITE with unchanged credentials, and answering them with a challenge would fail the
// transaction. Credentials without qop (RFC 2069 clients) count as nc 0, so such a nonce is
// good for exactly one request (and its retransmissions).

enum class NonceCountVerdict : std::uint8_t { Fresh, Retransmission, Replay, Forgotten };

inline constexpr std::size_t kDefaultNonceCountCapacity = 4096;

class NonceCountTable {
 public:
  static constexpr std::size_t kWays = 4;

  // capacity is rounded up to a power of two, at least kWays.
  explicit NonceCountTable(std::size_t capacity = kDefaultNonceCountCapacity);

  // Records a use of `nonce` with `nc` when it is Fresh; leaves the table alone otherwise.
  NonceCountVerdict record(NonceId nonce, std::uint32_t nc, std::uint64_t request_fingerprint);

  std::size_t capacity() const { return sets_.size() * kWays; }

 private:
  struct Entry {
    NonceId nonce;
    std::uint64_t fingerprint = 0;
    std::uint32_t nc = 0;
    bool used = false;
  };
  struct Set {
    std::array<Entry, kWays> ways;
    NonceId forgotten_horizon;  // the greatest (issued_at, serial) ever evicted from the set
    bool has_forgotten = false;
  };

  Set& set_of(NonceId nonce);

  std::vector<Set> sets_;
  std::size_t set_mask_;
};

// The request fields that tell a retransmission from a new request (RFC 3261 §17.2.3):
// Call-ID, CSeq number and the top Via branch, hashed with XXH3.
std::uint64_t request_fingerprint(const Message& request);

// The username of the request's first Proxy-Authorization Digest credentials for `realm`
// (unverified: the caller knows they passed); empty when there are none.
std::string_view credentials_user(const Message& request, std::string_view realm);

// ---------------------------------------------------------------------------------------
// Users

struct UserSecret {
  std::string_view password;
};

// Who may authenticate. The runtime builds a UserTable from config; tests may implement it.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  // std::nullopt for an unknown user. Must not allocate (workers call it).
  virtual std::optional<UserSecret> find(std::string_view user) const = 0;
};

// Users and passwords, sorted once at construction; find() is a binary search that neither
// allocates nor writes, so the control thread and every worker may share one instance.
class UserTable final : public UserDirectory {
 public:
  explicit UserTable(std::vector<std::pair<std::string, std::string>> users);
  std::optional<UserSecret> find(std::string_view user) const override;
  std::size_t size() const { return users_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> users_;
};

// ---------------------------------------------------------------------------------------
// Verification and challenges

enum class AuthResult : std::uint8_t {
  Ok,
  NoCredentials,        // no Digest credentials for our realm (or another scheme only)
  WrongPassword,        // response does not match
  UnknownUser,          // well-formed credentials, valid nonce, user not configured
  StaleNonce,           // ours but too old, or possibly evicted from the nc table
  BadNonce,             // not a nonce we issued, or an opaque we did not send
  Replay,               // nc not above the last one accepted for this nonce
  Malformed,            // missing or bad fields, qop we did not offer, uri != Request-URI
  AlgorithmNotOffered,  // algorithm not in the configured list (or unknown)
};

std::string_view auth_result_name(AuthResult result);  // "ok", "wrong-password", ...

enum class AuthHeaderKind : std::uint8_t {
  Www,    // 401, WWW-Authenticate / Authorization (registrar, UAS)
  Proxy,  // 407, Proxy-Authenticate / Proxy-Authorization (proxy)
};

// What to answer for a verification result.
struct AuthReply {
  std::uint16_t code = 0;  // 0: accepted; 401/407: challenge; 403; 400
  bool stale = false;      // challenge with stale=true (the client retries silently)
};

// Ok -> 0. NoCredentials, BadNonce, AlgorithmNotOffered -> 401/407. StaleNonce and Replay ->
// 401/407 stale=true (a legitimate client that reordered or reused an nc just retries).
// WrongPassword and UnknownUser -> 403: the same answer, so the user list cannot be probed
// (an unknown user gets the same challenge as anyone first). Malformed -> 400 (RFC 7616
// §3.4.6 asks for 400 when the digest-uri does not match the Request-URI).
AuthReply auth_reply(AuthResult result, AuthHeaderKind kind);

// RFC 3261 §22.1: ACK and CANCEL cannot be resubmitted, so they are never challenged.
constexpr bool method_may_be_challenged(Method method) {
  return method != Method::Ack && method != Method::Cancel;
}

inline constexpr std::size_t kMaxOfferedAlgorithms = 6;

struct DigestAuthSettings {
  std::string_view realm;                       // copied
  std::span<const DigestAlgorithm> algorithms;  // offered, in order (RFC 8760 §2.4); copied
  NonceSecret secret{};
  std::uint32_t nonce_lifetime_s = 300;
  std::uint16_t issuer = 0;  // 0: control thread; 1 + worker index for workers
  std::size_t nonce_count_capacity = kDefaultNonceCountCapacity;
};

// What the request itself contributes to a verification.
struct VerifyContext {
  std::string_view method;        // the request's method as written
  std::string_view request_uri;   // as written
  std::uint64_t fingerprint = 0;  // request_fingerprint()
};

struct AuthCheck {
  AuthResult result = AuthResult::NoCredentials;
  std::string_view username;  // of the credentials examined; view into the request
};

// Longest challenge line for a realm of `realm_size` octets (for sizing caller buffers).
constexpr std::size_t max_challenge_line_length(std::size_t realm_size) {
  return 200 + realm_size;
}

// One per thread. Nonce counts are tracked per instance: on workers that means per worker.
// A call's requests all reach one worker (Call-ID ownership), so retries of a challenged
// request and its retransmissions are checked against one table; but a client that reuses a
// nonce across calls (preemptive credentials with nc=2, 3, ...) may reach different workers,
// and a replay of such an nc towards another worker is accepted once per worker. Every
// replay still needs a valid, unexpired nonce (lifetime bounds the window) and the replayed
// request cannot be altered (the response covers method and Request-URI).
class DigestAuthenticator {
 public:
  explicit DigestAuthenticator(const DigestAuthSettings& settings);

  // One challenge line per offered algorithm, in order, with one fresh nonce:
  //   WWW-Authenticate: Digest realm="R", nonce="N", opaque="O", algorithm=SHA-256,
  //   qop="auth"[, stale=true]\r\n
  // Never allocates; BufferTooSmall leaves `out` partly written.
  Written write_challenges(AuthHeaderKind kind, bool stale, std::int64_t now, std::span<char> out);
  // The same as a string (control plane).
  std::string challenges(AuthHeaderKind kind, bool stale, std::int64_t now);

  // Verifies one set of credentials. `user` is the directory entry for credentials.username
  // (std::nullopt: unknown user). Checks, in order: syntax, realm, algorithm, qop, nonce,
  // opaque, digest-uri, user, response, nonce count. The nonce count is recorded only for a
  // correct response, so nobody can burn a legitimate client's nc values.
  AuthResult verify(const DigestParams& credentials, const VerifyContext& request,
                    std::optional<UserSecret> user, std::int64_t now);

  // Finds the request's credentials for our realm (Authorization for Www, Proxy-Authorization
  // for Proxy; the first Digest one whose realm is ours) and verifies them. NoCredentials when
  // there are none. Never allocates.
  AuthCheck authenticate(const Message& request, AuthHeaderKind kind, const UserDirectory& users,
                         std::int64_t now);

  std::string_view realm() const { return nonces_.realm(); }
  std::span<const DigestAlgorithm> algorithms() const {
    return {algorithms_.data(), algorithm_count_};
  }
  NonceService& nonces() { return nonces_; }

 private:
  bool offered(DigestAlgorithm algorithm) const;
  bool digest_uri_matches(std::string_view digest_uri, std::string_view request_uri) const;

  NonceService nonces_;
  NonceCountTable nonce_counts_;
  std::array<DigestAlgorithm, kMaxOfferedAlgorithms> algorithms_{};
  std::size_t algorithm_count_ = 0;
};

}  // namespace sipline::sip

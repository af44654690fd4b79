#include "sip/digest_auth.hpp"

// The low-level hash contexts are deprecated in OpenSSL 3 but are the only allocation-free
// interface it offers (see the header); they remain in every 3.x release.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "sip/header_id.hpp"
#include "sip/hex.hpp"
#include "sip/span_writer.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {
namespace {

enum class HashKind : std::uint8_t { None, Md5, Sha256, Sha512_256 };

constexpr HashKind hash_kind(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::Md5:
    case DigestAlgorithm::Md5Sess:
      return HashKind::Md5;
    case DigestAlgorithm::Sha256:
    case DigestAlgorithm::Sha256Sess:
      return HashKind::Sha256;
    case DigestAlgorithm::Sha512_256:
    case DigestAlgorithm::Sha512_256Sess:
      return HashKind::Sha512_256;
    case DigestAlgorithm::Unknown:
      break;
  }
  return HashKind::None;
}

constexpr bool is_session_algorithm(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::Md5Sess || algorithm == DigestAlgorithm::Sha256Sess ||
         algorithm == DigestAlgorithm::Sha512_256Sess;
}

// FIPS 180-4 §5.3.6.2: SHA-512/256 is SHA-512 with this initial hash value, truncated to 256
// bits. OpenSSL's SHA512_Final truncates by md_len, so a SHA512_CTX with this IV and md_len
// 32 computes it.
constexpr std::uint64_t kSha512_256Iv[8] = {
    0x22312194FC2BF72CULL, 0x9F555FA3C84C64C2ULL, 0x2393B86B6F53B151ULL, 0x963877195940EABDULL,
    0x96283EE2A88EFFE3ULL, 0xBE5E1E2553863992ULL, 0x2B0199FC2C85B8AAULL, 0x0EB72DDC81C52CA2ULL};

// One hash computation on the stack.
class Hash {
 public:
  explicit Hash(HashKind kind) : kind_(kind) {
    switch (kind_) {
      case HashKind::Md5:
        MD5_Init(&md5_);
        break;
      case HashKind::Sha256:
        SHA256_Init(&sha256_);
        break;
      case HashKind::Sha512_256:
        SHA512_Init(&sha512_);
        std::memcpy(sha512_.h, kSha512_256Iv, sizeof kSha512_256Iv);
        sha512_.md_len = SHA256_DIGEST_LENGTH;
        break;
      case HashKind::None:
        break;
    }
  }

  void update(std::string_view text) { update(text.data(), text.size()); }

  void update(const void* data, std::size_t size) {
    switch (kind_) {
      case HashKind::Md5:
        MD5_Update(&md5_, data, size);
        break;
      case HashKind::Sha256:
        SHA256_Update(&sha256_, data, size);
        break;
      case HashKind::Sha512_256:
        SHA512_Update(&sha512_, data, size);
        break;
      case HashKind::None:
        break;
    }
  }

  // Writes the digest into `out` (at least 32 octets); returns its size.
  std::size_t finish(std::uint8_t* out) {
    switch (kind_) {
      case HashKind::Md5:
        MD5_Final(out, &md5_);
        return MD5_DIGEST_LENGTH;
      case HashKind::Sha256:
        SHA256_Final(out, &sha256_);
        return SHA256_DIGEST_LENGTH;
      case HashKind::Sha512_256:
        SHA512_Final(out, &sha512_);
        return SHA256_DIGEST_LENGTH;
      case HashKind::None:
        break;
    }
    return 0;
  }

 private:
  HashKind kind_;
  MD5_CTX md5_;
  SHA256_CTX sha256_;
  SHA512_CTX sha512_;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly 2*N hex digits (any case) into N octets of `out`.
bool read_hex(std::string_view text, std::uint8_t* out, std::size_t size) {
  if (text.size() != 2 * size) return false;
  for (std::size_t i = 0; i < size; ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = std::uint8_t(high << 4 | low);
  }
  return true;
}

std::optional<std::uint64_t> read_hex_u64(std::string_view text) {
  std::uint8_t bytes[8];
  if (!read_hex(text, bytes, sizeof bytes)) return std::nullopt;
  std::uint64_t value = 0;
  for (std::uint8_t byte : bytes)
    value = value << 8 | byte;
  return value;
}

void put_u64(std::uint64_t value, std::uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = std::uint8_t(value);
    value >>= 8;
  }
}

// HMAC-SHA-256 (RFC 2104) of the concatenated parts; the key is shorter than the block.
std::array<std::uint8_t, 32> hmac_sha256(const NonceSecret& key,
                                         std::initializer_list<std::string_view> parts) {
  constexpr std::size_t kBlock = 64;
  std::uint8_t pad[kBlock] = {};
  std::memcpy(pad, key.data(), key.size());
  for (std::uint8_t& octet : pad)
    octet ^= 0x36;
  Hash inner(HashKind::Sha256);
  inner.update(pad, kBlock);
  for (std::string_view part : parts)
    inner.update(part);
  std::uint8_t inner_digest[32];
  inner.finish(inner_digest);
  for (std::uint8_t& octet : pad)
    octet ^= 0x36 ^ 0x5C;
  Hash outer(HashKind::Sha256);
  outer.update(pad, kBlock);
  outer.update(inner_digest, sizeof inner_digest);
  std::array<std::uint8_t, 32> mac;
  outer.finish(mac.data());
  OPENSSL_cleanse(pad, sizeof pad);
  return mac;
}

// Case-insensitive hex comparison that does not stop at the first difference.
bool hex_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    difference |= unsigned(ascii_lower(a[i]) ^ ascii_lower(b[i]));
  return difference == 0;
}

// nc = 8LHEX (RFC 7616 §3.4); nc 0 is not a count a client can send.
std::optional<std::uint32_t> parse_nonce_count(std::string_view text) {
  if (text.size() != 8) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    const int digit = hex_value(c);
    if (digit < 0) return std::nullopt;
    value = value << 4 | std::uint32_t(digit);
  }
  if (value == 0) return std::nullopt;
  return value;
}

constexpr bool nonce_id_less(NonceId a, NonceId b) {
  return a.issued_at != b.issued_at ? a.issued_at < b.issued_at : a.serial < b.serial;
}

std::string_view challenge_header_name(AuthHeaderKind kind) {
  return kind == AuthHeaderKind::Www ? "WWW-Authenticate" : "Proxy-Authenticate";
}

}  // namespace

// --- hashing -----------------------------------------------------------------------------

bool digest_algorithm_supported(DigestAlgorithm algorithm) {
  return hash_kind(algorithm) != HashKind::None;
}

std::size_t digest_hex_length(DigestAlgorithm algorithm) {
  switch (hash_kind(algorithm)) {
    case HashKind::Md5:
      return 2 * MD5_DIGEST_LENGTH;
    case HashKind::Sha256:
    case HashKind::Sha512_256:
      return 2 * SHA256_DIGEST_LENGTH;
    case HashKind::None:
      break;
  }
  return 0;
}

DigestHex digest_hash(DigestAlgorithm algorithm, std::initializer_list<std::string_view> parts) {
  DigestHex hex;
  const HashKind kind = hash_kind(algorithm);
  if (kind == HashKind::None) return hex;
  Hash hash(kind);
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) hash.update(":", 1);
    hash.update(part);
    first = false;
  }
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  const std::size_t size = hash.finish(digest);
  write_hex_octets({digest, size}, hex.chars.data());
  hex.size = std::uint8_t(2 * size);
  return hex;
}

DigestHex digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                     std::string_view password) {
  return digest_hash(algorithm, {username, realm, password});
}

DigestHex digest_response(const DigestResponseInput& input) {
  // RFC 7616 §3.4.2: the -sess variants bind HA1 to this nonce and cnonce.
  DigestHex session_ha1;
  std::string_view ha1 = input.ha1;
  if (is_session_algorithm(input.algorithm)) {
    session_ha1 = digest_hash(input.algorithm, {input.ha1, input.nonce, input.cnonce});
    ha1 = session_ha1.view();
  }
  const DigestHex ha2 = digest_hash(input.algorithm, {input.method, input.uri});
  if (input.qop.empty()) {
    return digest_hash(input.algorithm, {ha1, input.nonce, ha2.view()});  // RFC 2069
  }
  return digest_hash(input.algorithm,
                     {ha1, input.nonce, input.nc, input.cnonce, input.qop, ha2.view()});
}

// --- nonces ------------------------------------------------------------------------------

NonceSecret random_nonce_secret() {
  NonceSecret secret{};
  if (RAND_bytes(secret.data(), int(secret.size())) != 1) {
    // No entropy source at all: nothing sensible can run; refuse loudly rather than issue
    // predictable nonces.
    std::abort();
  }
  return secret;
}

NonceService::NonceService(const NonceSettings& settings)
    : secret_(settings.secret),
      realm_(settings.realm),
      lifetime_s_(settings.lifetime_s),
      next_serial_(std::uint64_t(settings.issuer) << 48) {
  const auto opaque_mac = hmac_sha256(secret_, {"opaque:", realm_});
  write_hex_octets({opaque_mac.data(), opaque_.size() / 2}, opaque_.data());
}

std::array<std::uint8_t, 16> NonceService::mac(std::uint64_t issued_at,
                                               std::uint64_t serial) const {
  std::uint8_t fields[16];
  put_u64(issued_at, fields);
  put_u64(serial, fields + 8);
  const auto full = hmac_sha256(
      secret_, {std::string_view(reinterpret_cast<const char*>(fields), sizeof fields), realm_});
  std::array<std::uint8_t, 16> truncated;
  std::memcpy(truncated.data(), full.data(), truncated.size());
  return truncated;
}

NonceText NonceService::issue(std::int64_t now) {
  const std::uint64_t issued_at = std::uint64_t(std::max<std::int64_t>(now, 0));
  // The counter wraps inside its 48 bits, leaving the issuer id intact.
  const std::uint64_t serial = next_serial_;
  next_serial_ = (serial & ~0xFFFF'FFFF'FFFFULL) | ((serial + 1) & 0xFFFF'FFFF'FFFFULL);
  std::uint8_t fields[16];
  put_u64(issued_at, fields);
  put_u64(serial, fields + 8);
  const auto tag = mac(issued_at, serial);
  NonceText text;
  write_hex_octets(fields, text.chars.data());
  write_hex_octets(tag, text.chars.data() + 32);
  return text;
}

NonceCheck NonceService::check(std::string_view nonce, std::int64_t now) const {
  NonceCheck result;
  if (nonce.size() != kNonceLength) return result;
  const std::optional<std::uint64_t> issued_at = read_hex_u64(nonce.substr(0, 16));
  const std::optional<std::uint64_t> serial = read_hex_u64(nonce.substr(16, 16));
  std::array<std::uint8_t, 16> tag;
  if (!issued_at || !serial || !read_hex(nonce.substr(32), tag.data(), tag.size())) return result;
  const auto expected = mac(*issued_at, *serial);
  if (CRYPTO_memcmp(tag.data(), expected.data(), tag.size()) != 0) return result;
  // Compare in signed arithmetic only once the value is known to be a sane time.
  if (*issued_at > std::uint64_t(INT64_MAX)) return result;
  const std::int64_t age = now - std::int64_t(*issued_at);
  if (age < -kNonceFutureSkew) return result;
  result.id = NonceId{*issued_at, *serial};
  result.status = age > std::int64_t(lifetime_s_) ? NonceStatus::Stale : NonceStatus::Valid;
  return result;
}

// --- nonce counts --------------------------------------------------------------------------

NonceCountTable::NonceCountTable(std::size_t capacity)
    : sets_(std::bit_ceil(std::max(capacity, kWays)) / kWays), set_mask_(sets_.size() - 1) {}

NonceCountTable::Set& NonceCountTable::set_of(NonceId nonce) {
  const std::uint64_t key[2] = {nonce.issued_at, nonce.serial};
  return sets_[XXH3_64bits(key, sizeof key) & set_mask_];
}

NonceCountVerdict NonceCountTable::record(NonceId nonce, std::uint32_t nc,
                                          std::uint64_t request_fingerprint) {
  Set& set = set_of(nonce);
  for (Entry& entry : set.ways) {
    if (!entry.used || entry.nonce != nonce) continue;
    if (nc > entry.nc) {
      entry.nc = nc;
      entry.fingerprint = request_fingerprint;
      return NonceCountVerdict::Fresh;
    }
    if (nc == entry.nc && request_fingerprint == entry.fingerprint) {
      return NonceCountVerdict::Retransmission;
    }
    return NonceCountVerdict::Replay;
  }
  // Every evicted nonce is <= the horizon, so a nonce above it was never in the table.
  if (set.has_forgotten && !nonce_id_less(set.forgotten_horizon, nonce)) {
    return NonceCountVerdict::Forgotten;
  }
  Entry* slot = &set.ways[0];
  for (Entry& entry : set.ways) {
    if (!entry.used) {
      slot = &entry;
      break;
    }
    if (nonce_id_less(entry.nonce, slot->nonce)) slot = &entry;
  }
  if (slot->used) {
    if (!set.has_forgotten || nonce_id_less(set.forgotten_horizon, slot->nonce)) {
      set.forgotten_horizon = slot->nonce;
    }
    set.has_forgotten = true;
  }
  *slot = Entry{nonce, request_fingerprint, nc, true};
  return NonceCountVerdict::Fresh;
}

std::uint64_t request_fingerprint(const Message& request) {
  std::uint64_t hash =
      XXH3_64bits_withSeed(request.call_id.data(), request.call_id.size(), request.cseq.number);
  const std::string_view branch = request.top_via.branch;
  return XXH3_64bits_withSeed(branch.data(), branch.size(), hash);
}

// --- users ---------------------------------------------------------------------------------

UserTable::UserTable(std::vector<std::pair<std::string, std::string>> users)
    : users_(std::move(users)) {
  std::stable_sort(users_.begin(), users_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

std::optional<UserSecret> UserTable::find(std::string_view user) const {
  const auto found =
      std::lower_bound(users_.begin(), users_.end(), user,
                       [](const auto& entry, std::string_view key) { return entry.first < key; });
  if (found == users_.end() || found->first != user) return std::nullopt;
  return UserSecret{found->second};
}

// --- verification --------------------------------------------------------------------------

std::string_view auth_result_name(AuthResult result) {
  switch (result) {
    case AuthResult::Ok:
      return "ok";
    case AuthResult::NoCredentials:
      return "no-credentials";
    case AuthResult::WrongPassword:
      return "wrong-password";
    case AuthResult::UnknownUser:
      return "unknown-user";
    case AuthResult::StaleNonce:
      return "stale-nonce";
    case AuthResult::BadNonce:
      return "bad-nonce";
    case AuthResult::Replay:
      return "replay";
    case AuthResult::Malformed:
      return "malformed";
    case AuthResult::AlgorithmNotOffered:
      return "algorithm-not-offered";
  }
  return "";
}

AuthReply auth_reply(AuthResult result, AuthHeaderKind kind) {
  const std::uint16_t challenge = kind == AuthHeaderKind::Www ? 401 : 407;
  switch (result) {
    case AuthResult::Ok:
      return {0, false};
    case AuthResult::NoCredentials:
    case AuthResult::BadNonce:
    case AuthResult::AlgorithmNotOffered:
      return {challenge, false};
    case AuthResult::StaleNonce:
    case AuthResult::Replay:
      return {challenge, true};
    case AuthResult::WrongPassword:
    case AuthResult::UnknownUser:
      return {403, false};
    case AuthResult::Malformed:
      return {400, false};
  }
  return {400, false};
}

DigestAuthenticator::DigestAuthenticator(const DigestAuthSettings& settings)
    : nonces_(NonceSettings{settings.secret, settings.realm, settings.nonce_lifetime_s,
                            settings.issuer}),
      nonce_counts_(settings.nonce_count_capacity) {
  for (DigestAlgorithm algorithm : settings.algorithms) {
    if (algorithm_count_ == algorithms_.size()) break;
    if (digest_algorithm_supported(algorithm) && !offered(algorithm)) {
      algorithms_[algorithm_count_++] = algorithm;
    }
  }
}

bool DigestAuthenticator::offered(DigestAlgorithm algorithm) const {
  const auto offered = algorithms();
  return std::find(offered.begin(), offered.end(), algorithm) != offered.end();
}

Written DigestAuthenticator::write_challenges(AuthHeaderKind kind, bool stale, std::int64_t now,
                                              std::span<char> out) {
  const NonceText nonce = nonces_.issue(now);
  SpanWriter line(out);
  for (DigestAlgorithm algorithm : algorithms()) {
    line << challenge_header_name(kind) << ": Digest realm=\"" << nonces_.realm() << "\", nonce=\""
         << nonce.view() << "\", opaque=\"" << nonces_.opaque()
         << "\", algorithm=" << digest_algorithm_name(algorithm) << ", qop=\"auth\"";
    if (stale) line << ", stale=true";
    line << "\r\n";
  }
  return line.written();
}

std::string DigestAuthenticator::challenges(AuthHeaderKind kind, bool stale, std::int64_t now) {
  std::string text(algorithm_count_ * max_challenge_line_length(realm().size()), '\0');
  const Written written = write_challenges(kind, stale, now, text);
  text.resize(written.ok() ? written.size : 0);
  return text;
}

bool DigestAuthenticator::digest_uri_matches(std::string_view digest_uri,
                                             std::string_view request_uri) const {
  if (digest_uri == request_uri) return true;
  const Parsed<Uri> digest = parse_uri(digest_uri);
  const Parsed<Uri> request = parse_uri(request_uri);
  return digest.ok() && request.ok() && uri_equivalent(digest.value, request.value);
}

AuthResult DigestAuthenticator::verify(const DigestParams& credentials,
                                       const VerifyContext& request, std::optional<UserSecret> user,
                                       std::int64_t now) {
  if (!credentials.is_digest || credentials.realm != realm()) return AuthResult::NoCredentials;
  if (credentials.username.empty() || credentials.nonce.empty() || credentials.uri.empty() ||
      credentials.response.empty() || credentials.userhash) {
    return AuthResult::Malformed;  // we never offer userhash (RFC 7616 §3.4.4)
  }
  const DigestAlgorithm algorithm = credentials.algorithm;
  if (!offered(algorithm)) return AuthResult::AlgorithmNotOffered;

  // qop=auth is what we offer; no qop at all is the RFC 2069 form, which only MD5 clients
  // predating RFC 2617 send (RFC 7616 §3.4.1 keeps it for backward compatibility).
  std::uint32_t nonce_count = 0;
  if (credentials.qop.empty()) {
    if (algorithm != DigestAlgorithm::Md5) return AuthResult::Malformed;
  } else {
    const std::optional<std::uint32_t> nc = parse_nonce_count(credentials.nc);
    if (!iequals(credentials.qop, "auth") || credentials.cnonce.empty() || !nc) {
      return AuthResult::Malformed;
    }
    nonce_count = *nc;
  }

  const NonceCheck nonce = nonces_.check(credentials.nonce, now);
  if (nonce.status == NonceStatus::Invalid) return AuthResult::BadNonce;
  if (nonce.status == NonceStatus::Stale) return AuthResult::StaleNonce;
  if (!credentials.opaque.empty() && credentials.opaque != nonces_.opaque()) {
    return AuthResult::BadNonce;
  }
  if (!digest_uri_matches(credentials.uri, request.request_uri)) return AuthResult::Malformed;

  // An unknown user costs the same hashing as a known one, so timing does not tell them apart.
  const std::string_view password = user ? user->password : std::string_view();
  const DigestHex ha1 = digest_ha1(algorithm, credentials.username, realm(), password);
  const DigestHex expected =
      digest_response({algorithm, ha1.view(), request.method, credentials.uri, credentials.nonce,
                       credentials.nc, credentials.cnonce, credentials.qop});
  const bool correct = hex_equal(expected.view(), credentials.response);
  if (!user) return AuthResult::UnknownUser;
  if (!correct) return AuthResult::WrongPassword;

  switch (nonce_counts_.record(nonce.id, nonce_count, request.fingerprint)) {
    case NonceCountVerdict::Fresh:
    case NonceCountVerdict::Retransmission:
      return AuthResult::Ok;
    case NonceCountVerdict::Replay:
      return AuthResult::Replay;
    case NonceCountVerdict::Forgotten:
      return AuthResult::StaleNonce;
  }
  return AuthResult::Replay;
}

AuthCheck DigestAuthenticator::authenticate(const Message& request, AuthHeaderKind kind,
                                            const UserDirectory& users, std::int64_t now) {
  const HeaderId id =
      kind == AuthHeaderKind::Www ? HeaderId::Authorization : HeaderId::ProxyAuthorization;
  bool malformed = false;
  for (const HeaderField* field = request.find(id); field != nullptr;
       field = request.next(*field)) {
    const Parsed<DigestParams> parsed = parse_digest(field->value);
    if (!parsed.ok()) {
      malformed = true;
      continue;
    }
    const DigestParams& credentials = parsed.value;
    // RFC 3261 §22.4: credentials for other realms are meant for other elements.
    if (!credentials.is_digest || credentials.realm != realm()) continue;
    const VerifyContext context{request.method_text, request.request_uri_text,
                                request_fingerprint(request)};
    return AuthCheck{verify(credentials, context, users.find(credentials.username), now),
                     credentials.username};
  }
  return AuthCheck{malformed ? AuthResult::Malformed : AuthResult::NoCredentials, {}};
}

std::string_view credentials_user(const Message& request, std::string_view realm) {
  for (const HeaderField* field = request.find(HeaderId::ProxyAuthorization); field != nullptr;
       field = request.next(*field)) {
    const std::optional<DigestParams> credentials =
        digest_credentials_for_realm(field->value, realm);
    if (credentials) return credentials->username;
  }
  return {};
}

}  // namespace sipline::sip

// HTTP Digest credentials and challenges as SIP uses them (RFC 3261 §22.4, RFC 7616,
// RFC 8760): parsing Authorization / Proxy-Authorization / WWW-Authenticate /
// Proxy-Authenticate values, zero-copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/parse_error.hpp"

namespace sipline::sip {

enum class DigestAlgorithm : std::uint8_t {
  Unknown = 0,
  Md5,
  Md5Sess,
  Sha256,
  Sha256Sess,
  Sha512_256,
  Sha512_256Sess
};

DigestAlgorithm digest_algorithm_from_text(std::string_view text);  // case-insensitive
std::string_view digest_algorithm_name(DigestAlgorithm algorithm);  // "MD5", "SHA-256", ...

// One credentials or challenge value. Quoted parameter values are returned WITHOUT their
// quotes (escapes left as written); token values as written.
struct DigestParams {
  std::string_view scheme;  // "Digest" (or any other auth-scheme token, e.g. regaut01's)
  bool is_digest = false;   // scheme equals "Digest" case-insensitively
  std::string_view username;
  std::string_view realm;
  std::string_view nonce;
  std::string_view uri;
  std::string_view response;
  std::string_view algorithm_text;
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;  // RFC 7616 §3.3: absent means MD5
  std::string_view cnonce;
  std::string_view opaque;
  std::string_view qop;    // credentials: "auth"; challenge: the quoted list "auth,auth-int"
  std::string_view nc;     // 8LHEX as written
  std::string_view stale;  // challenge: "true"/"false"
  std::string_view domain;
  bool userhash = false;  // RFC 7616 §3.4.4
};

// Parses `scheme 1*SP auth-param *(COMMA auth-param)`; unknown parameters are skipped.
Parsed<DigestParams> parse_digest(std::string_view value);

// The Digest credentials in `value` when they are for `realm` (RFC 3261 §22.4: credentials
// for other realms are meant for other elements); none for other schemes, for values that do
// not parse and for an empty realm.
std::optional<DigestParams> digest_credentials_for_realm(std::string_view value,
                                                         std::string_view realm);

}  // namespace sipline::sip

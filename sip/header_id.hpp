// Header names known to the parser. Lookup is case-insensitive and knows the compact forms
// of RFC 3261 §7.3.3 and later RFCs (i m e l c f s k t v o u r b x y a j d n).
#pragma once

#include <cstdint>
#include <string_view>

namespace sipline::sip {

enum class HeaderId : std::uint8_t {
  Other = 0,  // unknown header: kept by name
  Via,        // v
  From,       // f
  To,         // t
  CallId,     // i
  CSeq,
  MaxForwards,
  ContentLength,    // l
  ContentType,      // c
  ContentEncoding,  // e
  Contact,          // m
  Expires,
  Route,
  RecordRoute,
  Require,
  ProxyRequire,
  Supported,  // k
  Unsupported,
  Allow,
  AllowEvents,     // u  (RFC 6665)
  Event,           // o  (RFC 6665)
  Subject,         // s
  ReferTo,         // r  (RFC 3515)
  ReferredBy,      // b  (RFC 3892)
  SessionExpires,  // x  (RFC 4028)
  MinSE,
  AcceptContact,       // a  (RFC 3841)
  RejectContact,       // j  (RFC 3841)
  RequestDisposition,  // d  (RFC 3841)
  Identity,            // y  (RFC 8224)
  IdentityInfo,        // n  (RFC 4474)
  Authorization,
  ProxyAuthorization,
  WWWAuthenticate,
  ProxyAuthenticate,
  AuthenticationInfo,
  Accept,
  AcceptEncoding,
  AcceptLanguage,
  MinExpires,
  RetryAfter,
  Timestamp,
  UserAgent,
  Server,
  Warning,
  Date,
  Path,                // RFC 3327
  ServiceRoute,        // RFC 3608
  Privacy,             // RFC 3323
  PAssertedIdentity,   // RFC 3325
  PPreferredIdentity,  // RFC 3325
  RSeq,                // RFC 3262
  RAck,                // RFC 3262
};

inline constexpr std::size_t kHeaderIdCount = static_cast<std::size_t>(HeaderId::RAck) + 1;

// Identifies a header by its name as written (any case, compact or long form).
HeaderId header_id_from_name(std::string_view name);

// The canonical long name ("Call-ID", "CSeq", "WWW-Authenticate"); "" for Other.
std::string_view header_canonical_name(HeaderId id);

// Headers whose value is a comma-separated list that may be split into elements
// (RFC 3261 §7.3.1). Authorization-family headers are NOT lists: their commas separate
// digest parameters.
bool header_is_list(HeaderId id);

// Headers that may appear at most once in a message (RFC 3261 §20, table 2/3 "1" entries
// for the ones a proxy depends on): From, To, Call-ID, CSeq, Max-Forwards, Content-Length...
bool header_is_single(HeaderId id);

}  // namespace sipline::sip

#include "sip/header_id.hpp"

#include <array>

#include "sip/text.hpp"

namespace sipline::sip {
namespace {

struct NameEntry {
  std::string_view name;
  HeaderId id;
};

// Long forms. Canonical spelling, as written by header_canonical_name().
constexpr NameEntry kLongNames[] = {
    {"Via", HeaderId::Via},
    {"From", HeaderId::From},
    {"To", HeaderId::To},
    {"Call-ID", HeaderId::CallId},
    {"CSeq", HeaderId::CSeq},
    {"Max-Forwards", HeaderId::MaxForwards},
    {"Content-Length", HeaderId::ContentLength},
    {"Content-Type", HeaderId::ContentType},
    {"Content-Encoding", HeaderId::ContentEncoding},
    {"Contact", HeaderId::Contact},
    {"Expires", HeaderId::Expires},
    {"Route", HeaderId::Route},
    {"Record-Route", HeaderId::RecordRoute},
    {"Require", HeaderId::Require},
    {"Proxy-Require", HeaderId::ProxyRequire},
    {"Supported", HeaderId::Supported},
    {"Unsupported", HeaderId::Unsupported},
    {"Allow", HeaderId::Allow},
    {"Allow-Events", HeaderId::AllowEvents},
    {"Event", HeaderId::Event},
    {"Subject", HeaderId::Subject},
    {"Refer-To", HeaderId::ReferTo},
    {"Referred-By", HeaderId::ReferredBy},
    {"Session-Expires", HeaderId::SessionExpires},
    {"Min-SE", HeaderId::MinSE},
    {"Accept-Contact", HeaderId::AcceptContact},
    {"Reject-Contact", HeaderId::RejectContact},
    {"Request-Disposition", HeaderId::RequestDisposition},
    {"Identity", HeaderId::Identity},
    {"Identity-Info", HeaderId::IdentityInfo},
    {"Authorization", HeaderId::Authorization},
    {"Proxy-Authorization", HeaderId::ProxyAuthorization},
    {"WWW-Authenticate", HeaderId::WWWAuthenticate},
    {"Proxy-Authenticate", HeaderId::ProxyAuthenticate},
    {"Authentication-Info", HeaderId::AuthenticationInfo},
    {"Accept", HeaderId::Accept},
    {"Accept-Encoding", HeaderId::AcceptEncoding},
    {"Accept-Language", HeaderId::AcceptLanguage},
    {"Min-Expires", HeaderId::MinExpires},
    {"Retry-After", HeaderId::RetryAfter},
    {"Timestamp", HeaderId::Timestamp},
    {"User-Agent", HeaderId::UserAgent},
    {"Server", HeaderId::Server},
    {"Warning", HeaderId::Warning},
    {"Date", HeaderId::Date},
    {"Path", HeaderId::Path},
    {"Service-Route", HeaderId::ServiceRoute},
    {"Privacy", HeaderId::Privacy},
    {"P-Asserted-Identity", HeaderId::PAssertedIdentity},
    {"P-Preferred-Identity", HeaderId::PPreferredIdentity},
    {"RSeq", HeaderId::RSeq},
    {"RAck", HeaderId::RAck},
};
static_assert(std::size(kLongNames) == kHeaderIdCount - 1, "every HeaderId has a long name");

// Compact forms: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 3515 (r), RFC 3892 (b),
// RFC 4028 (x), RFC 6665 (o u), RFC 3841 (a j d), RFC 8224 (y), RFC 4474 (n).
constexpr std::array<HeaderId, 26> make_compact_table() {
  std::array<HeaderId, 26> table{};
  auto set = [&table](char c, HeaderId id) { table[static_cast<std::size_t>(c - 'a')] = id; };
  set('i', HeaderId::CallId);
  set('m', HeaderId::Contact);
  set('e', HeaderId::ContentEncoding);
  set('l', HeaderId::ContentLength);
  set('c', HeaderId::ContentType);
  set('f', HeaderId::From);
  set('s', HeaderId::Subject);
  set('k', HeaderId::Supported);
  set('t', HeaderId::To);
  set('v', HeaderId::Via);
  set('r', HeaderId::ReferTo);
  set('b', HeaderId::ReferredBy);
  set('x', HeaderId::SessionExpires);
  set('o', HeaderId::Event);
  set('u', HeaderId::AllowEvents);
  set('a', HeaderId::AcceptContact);
  set('j', HeaderId::RejectContact);
  set('d', HeaderId::RequestDisposition);
  set('y', HeaderId::Identity);
  set('n', HeaderId::IdentityInfo);
  return table;
}
constexpr std::array<HeaderId, 26> kCompact = make_compact_table();

// Long names bucketed by length so a lookup compares against two or three candidates.
inline constexpr std::size_t kMaxNameLength = 20;
struct LengthBucket {
  std::array<NameEntry, 8> entries{};
  std::size_t size = 0;
};
constexpr std::array<LengthBucket, kMaxNameLength + 1> make_buckets() {
  std::array<LengthBucket, kMaxNameLength + 1> buckets{};
  for (const NameEntry& entry : kLongNames) {
    LengthBucket& bucket = buckets[entry.name.size()];
    bucket.entries[bucket.size++] = entry;
  }
  return buckets;
}
constexpr std::array<LengthBucket, kMaxNameLength + 1> kBuckets = make_buckets();

constexpr std::array<std::string_view, kHeaderIdCount> make_canonical() {
  std::array<std::string_view, kHeaderIdCount> names{};
  for (const NameEntry& entry : kLongNames)
    names[static_cast<std::size_t>(entry.id)] = entry.name;
  return names;
}
constexpr std::array<std::string_view, kHeaderIdCount> kCanonical = make_canonical();

}  // namespace

HeaderId header_id_from_name(std::string_view name) {
  if (name.size() == 1) {
    const char c = ascii_lower(name[0]);
    return (c >= 'a' && c <= 'z') ? kCompact[static_cast<std::size_t>(c - 'a')] : HeaderId::Other;
  }
  if (name.size() > kMaxNameLength) return HeaderId::Other;
  const LengthBucket& bucket = kBuckets[name.size()];
  const char first = ascii_lower(name[0]);
  for (std::size_t i = 0; i < bucket.size; ++i) {
    const NameEntry& entry = bucket.entries[i];
    if (ascii_lower(entry.name[0]) == first && iequals(entry.name, name)) return entry.id;
  }
  return HeaderId::Other;
}

std::string_view header_canonical_name(HeaderId id) {
  return kCanonical[static_cast<std::size_t>(id)];
}

bool header_is_list(HeaderId id) {
  switch (id) {
    case HeaderId::Via:
    case HeaderId::Contact:
    case HeaderId::Route:
    case HeaderId::RecordRoute:
    case HeaderId::Require:
    case HeaderId::ProxyRequire:
    case HeaderId::Supported:
    case HeaderId::Unsupported:
    case HeaderId::Allow:
    case HeaderId::AllowEvents:
    case HeaderId::ContentEncoding:
    case HeaderId::Accept:
    case HeaderId::AcceptEncoding:
    case HeaderId::AcceptLanguage:
    case HeaderId::AcceptContact:
    case HeaderId::RejectContact:
    case HeaderId::RequestDisposition:
    case HeaderId::Path:
    case HeaderId::ServiceRoute:
    case HeaderId::PAssertedIdentity:
    case HeaderId::PPreferredIdentity:
    case HeaderId::Warning:
      return true;
    default:
      return false;
  }
}

bool header_is_single(HeaderId id) {
  switch (id) {
    case HeaderId::From:
    case HeaderId::To:
    case HeaderId::CallId:
    case HeaderId::CSeq:
    case HeaderId::MaxForwards:
    case HeaderId::ContentLength:
    case HeaderId::ContentType:
    case HeaderId::Expires:
    case HeaderId::MinExpires:
    case HeaderId::RSeq:
    case HeaderId::RAck:
      return true;
    default:
      return false;
  }
}

}  // namespace sipline::sip

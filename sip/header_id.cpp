#include "sip/header_id.hpp"

#include <array>
#include <cstdint>
#include <cstring>

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

// Long names are found through a 256-slot table indexed by a hash of (length, first octet,
// last octet), each slot holding at most two candidates, then compared as up to three 64-bit
// words. A name of n octets is read as fixed-size loads that overlap when n is not a multiple
// of the load size (8-byte words for n >= 8; two 4-byte or two 2-byte loads below), so no
// load reaches past the name. A candidate matches when (name | letters) == lower, where
// `letters` has 0x20 in the octets that are letters in the canonical name and `lower` is the
// canonical name lower-cased: exact case-insensitive equality, no other octet is folded.
inline constexpr std::size_t kMaxNameLength = 24;
inline constexpr std::size_t kSlotCount = 256;
inline constexpr std::size_t kKeyWords = 3;

constexpr std::size_t slot_of(std::size_t length, char first, char last) {
  const std::size_t f = static_cast<unsigned char>(first) | 0x20u;
  const std::size_t l = static_cast<unsigned char>(last) | 0x20u;
  return (length * 29 + f * 7 + l * 3) % kSlotCount;
}

using NameKey = std::array<std::uint64_t, kKeyWords>;

// Little-endian load of `size` octets at `at`, usable at compile time.
constexpr std::uint64_t load_le(std::string_view text, std::size_t at, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    value |= std::uint64_t(static_cast<unsigned char>(text[at + i])) << (8 * i);
  }
  return value;
}

// The key of a name, for 2 <= n <= kMaxNameLength (compile-time form).
constexpr NameKey key_of(std::string_view text) {
  NameKey key{};
  const std::size_t n = text.size();
  if (n >= 8) {
    std::size_t w = 0;
    for (std::size_t at = 0; at + 8 <= n; at += 8)
      key[w++] = load_le(text, at, 8);
    if (n % 8 != 0) key[w] = load_le(text, n - 8, 8);
  } else if (n >= 4) {
    key[0] = load_le(text, 0, 4) | (load_le(text, n - 4, 4) << 32);
  } else {
    key[0] = load_le(text, 0, 2) | (load_le(text, n - 2, 2) << 16);
  }
  return key;
}

struct Candidate {
  NameKey lower{};
  NameKey letters{};
  HeaderId id = HeaderId::Other;
  std::uint8_t length = 0;  // beside the key: one cache line answers the whole comparison
};

constexpr Candidate candidate_of(const NameEntry& entry) {
  std::array<char, kMaxNameLength> lower{};
  std::array<char, kMaxNameLength> letters{};
  for (std::size_t i = 0; i < entry.name.size(); ++i) {
    const char c = entry.name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    lower[i] = letter ? char(c | 0x20) : c;
    letters[i] = letter ? char(0x20) : char(0);
  }
  const std::size_t n = entry.name.size();
  return Candidate{key_of({lower.data(), n}), key_of({letters.data(), n}), entry.id,
                   static_cast<std::uint8_t>(n)};
}

// 512 octets of slots pointing into 52 compact candidates: the whole table stays in a few
// cache lines.
using Slot = std::array<std::uint8_t, 2>;  // candidate indices, kNoCandidate when unused
inline constexpr std::uint8_t kNoCandidate = 0xFF;

constexpr std::array<Candidate, std::size(kLongNames)> make_candidates() {
  std::array<Candidate, std::size(kLongNames)> candidates{};
  for (std::size_t i = 0; i < std::size(kLongNames); ++i)
    candidates[i] = candidate_of(kLongNames[i]);
  return candidates;
}
constexpr std::array<Candidate, std::size(kLongNames)> kCandidates = make_candidates();

constexpr std::array<Slot, kSlotCount> make_slots() {
  std::array<Slot, kSlotCount> slots{};
  for (Slot& slot : slots)
    slot = {kNoCandidate, kNoCandidate};
  for (std::size_t i = 0; i < std::size(kLongNames); ++i) {
    const std::string_view name = kLongNames[i].name;
    if (name.size() < 2 || name.size() > kMaxNameLength) throw "name length out of range";
    Slot& slot = slots[slot_of(name.size(), name.front(), name.back())];
    if (slot[1] != kNoCandidate) throw "three header names share a slot";
    slot[slot[0] == kNoCandidate ? 0 : 1] = static_cast<std::uint8_t>(i);
  }
  return slots;
}
constexpr std::array<Slot, kSlotCount> kSlots = make_slots();

template <class Word>
Word load(const char* at) {
  Word word;
  std::memcpy(&word, at, sizeof word);
  return word;
}

// The same key as key_of(), built in registers from at most three loads (the name's length
// is 2..kMaxNameLength): words at 0, 8 and n - 8 cover every length above 8, overlapping.
NameKey runtime_key(std::string_view name) {
  const std::size_t n = name.size();
  const char* p = name.data();
  if (n > 16) {
    return {load<std::uint64_t>(p), load<std::uint64_t>(p + 8), load<std::uint64_t>(p + n - 8)};
  }
  if (n > 8) return {load<std::uint64_t>(p), load<std::uint64_t>(p + n - 8), 0};
  if (n == 8) return {load<std::uint64_t>(p), 0, 0};
  if (n >= 4) {
    return {load<std::uint32_t>(p) | (std::uint64_t(load<std::uint32_t>(p + n - 4)) << 32), 0, 0};
  }
  return {load<std::uint16_t>(p) | (std::uint64_t(load<std::uint16_t>(p + n - 2)) << 16), 0, 0};
}

bool matches(const NameKey& key, const Candidate& candidate) {
  return (key[0] | candidate.letters[0]) == candidate.lower[0] &&
         (key[1] | candidate.letters[1]) == candidate.lower[1] &&
         (key[2] | candidate.letters[2]) == candidate.lower[2];
}

HeaderId lookup_long_name(std::string_view name) {
  const Slot& slot = kSlots[slot_of(name.size(), name.front(), name.back())];
  if (slot[0] == kNoCandidate) return HeaderId::Other;
  const NameKey key = runtime_key(name);
  for (std::uint8_t index : slot) {
    if (index == kNoCandidate) break;
    // The slot hash takes the length modulo 256 and the key words ignore it: compare it.
    const Candidate& candidate = kCandidates[index];
    if (candidate.length == name.size() && matches(key, candidate)) return candidate.id;
  }
  return HeaderId::Other;
}

constexpr std::array<std::string_view, kHeaderIdCount> make_canonical() {
  std::array<std::string_view, kHeaderIdCount> names{};
  for (const NameEntry& entry : kLongNames)
    names[static_cast<std::size_t>(entry.id)] = entry.name;
  return names;
}
constexpr std::array<std::string_view, kHeaderIdCount> kCanonical = make_canonical();

}  // namespace

HeaderId header_id_from_name(std::string_view name) {
  // Long names (2..kMaxNameLength octets) first, in one unsigned compare: they are most lines.
  if (name.size() - 2 <= kMaxNameLength - 2) return lookup_long_name(name);
  if (name.size() == 1) {
    const char c = ascii_lower(name[0]);
    return (c >= 'a' && c <= 'z') ? kCompact[static_cast<std::size_t>(c - 'a')] : HeaderId::Other;
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

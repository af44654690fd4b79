// Stateless branches (RFC 3261 §16.11). See branch.hpp for the layout and the field choice.
//
// Hashing: XXH3-64 over the chosen fields, each fed as a 4-byte length followed by its bytes
// (plus a leading byte naming which field set was used), so two messages whose fields only
// split differently ("ab"+"c" vs "a"+"bc") never feed the same byte stream. The stream is
// gathered on the stack (nothing is allocated) and XXH3 is compiled inline (XXH_INLINE_ALL):
// the inputs are a few dozen octets, where a call into the shared library and its
// streaming state cost more than the hashing.
//
// Signature: the low 32 bits of XXH3-64 seeded with the per-boot secret, over the 16
// lowercase hex characters of the transaction hash as they appear in the branch. Signing
// the text (not the 8 binary bytes) lets branch_is_ours check a received branch without
// decoding it. XXH3 is not a MAC: the signature tells our own branches from other elements'
// branches without state; it is not meant to stop a peer who can observe our branches.
#include "sip/branch.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <array>
#include <cstring>

#include "sip/hex.hpp"

namespace sipline::sip {
namespace {

constexpr std::size_t kHashHexLength = 16;
constexpr std::size_t kSignatureHexLength = 8;

static_assert(kBranchLength == kBranchPrefix.size() + kHashHexLength + kSignatureHexLength);

// Which field set produced a hash: kept apart so an RFC 3261 branch can never collide with
// an RFC 2543 field set by construction of the byte stream.
enum class FieldSet : unsigned char { CookieBranch = 1, Rfc2543 = 2 };

// Feeds the fields into a stack buffer and hashes it in one XXH3 call: the fields of a
// usual request (a branch of 20-40 octets, a sent-by host) fit, and the one-shot call costs
// a fraction of the streaming state's reset, updates and digest. A stream that outgrows the
// buffer moves to the streaming state; XXH3's streaming and one-shot results are equal for
// the same octets, so the hash does not depend on which path ran.
class FieldHasher {
 public:
  explicit FieldHasher(FieldSet set) {
    const unsigned char tag = static_cast<unsigned char>(set);
    append(&tag, 1);
  }

  void add(std::string_view field) {
    add_u32(static_cast<std::uint32_t>(field.size()));
    append(field.data(), field.size());
  }

  void add_u32(std::uint32_t value) {
    const unsigned char bytes[4] = {
        static_cast<unsigned char>(value), static_cast<unsigned char>(value >> 8),
        static_cast<unsigned char>(value >> 16), static_cast<unsigned char>(value >> 24)};
    append(bytes, sizeof bytes);
  }

  std::uint64_t digest() const {
    return streaming_ ? XXH3_64bits_digest(&state_) : XXH3_64bits(buffer_, used_);
  }

 private:
  void append(const void* data, std::size_t size) {
    if (size == 0) return;  // an empty field's view may hold a null pointer (no memcpy of it)
    if (!streaming_ && size <= sizeof buffer_ - used_) {
      std::memcpy(buffer_ + used_, data, size);
      used_ += size;
      return;
    }
    if (!streaming_) {
      XXH3_INITSTATE(&state_);
      XXH3_64bits_reset(&state_);
      XXH3_64bits_update(&state_, buffer_, used_);
      streaming_ = true;
    }
    XXH3_64bits_update(&state_, data, size);
  }

  unsigned char buffer_[192];
  std::size_t used_ = 0;
  bool streaming_ = false;
  XXH3_state_t state_;
};

// A branch that is exactly the cookie carries no transaction id (RFC 4475 §3.2.1,
// badbranch.dat): such a peer is matched like an RFC 2543 peer.
bool has_usable_cookie_branch(const Via& via) {
  return via.has_branch && has_magic_cookie(via.branch) && via.branch.size() > kMagicCookie.size();
}

std::uint64_t hash_cookie_branch(const Via& via) {
  FieldHasher hasher(FieldSet::CookieBranch);
  hasher.add(via.branch);
  hasher.add(via.sent_by.host);
  hasher.add_u32(via.sent_by.has_port ? via.sent_by.port : 0x10000u);
  return hasher.digest();
}

// §16.11 for RFC 2543 peers: From tag, Call-ID, Request-URI, top Via and CSeq number are
// equal in an INVITE, its CANCEL (§9.1) and the ACK of a non-2xx response (§17.1.1.3).
std::uint64_t hash_rfc2543_fields(const Message& request) {
  FieldHasher hasher(FieldSet::Rfc2543);
  hasher.add(request.from.tag);
  hasher.add(request.call_id);
  hasher.add(request.request_uri_text);
  hasher.add(request.via_count > 0 ? request.vias[0].text : std::string_view{});
  hasher.add_u32(request.cseq.number);
  return hasher.digest();
}

std::uint32_t signature_of(std::string_view hash_hex, BranchKey key) {
  return static_cast<std::uint32_t>(
      XXH3_64bits_withSeed(hash_hex.data(), hash_hex.size(), key.secret));
}

// The value of each lowercase hex digit; kNotHex for every other octet. One table lookup per
// octet and no branch: the digits of a hash are random, and a digit-or-letter branch per
// octet was mispredicted about half the time (measured: most of branch_is_ours' cost).
constexpr std::uint8_t kNotHex = 0x10;
constexpr std::array<std::uint8_t, 256> make_hex_values() {
  std::array<std::uint8_t, 256> values{};
  values.fill(kNotHex);
  for (int i = 0; i < 16; ++i)
    values[static_cast<unsigned char>(kHexDigits[i])] = static_cast<std::uint8_t>(i);
  return values;
}
constexpr std::array<std::uint8_t, 256> kHexValues = make_hex_values();

// ORs the digits' table values together: the result has kNotHex set when any is not one.
std::uint8_t hex_flags(std::string_view text) {
  std::uint8_t flags = 0;
  for (char c : text)
    flags |= kHexValues[static_cast<unsigned char>(c)];
  return flags;
}

// `text` as a 32-bit number, with kNotHex set in `flags` when a digit is not lowercase hex.
struct Hex32 {
  std::uint32_t value;
  std::uint8_t flags;
};
Hex32 parse_hex32(std::string_view text) {
  Hex32 hex{0, 0};
  for (char c : text) {
    const std::uint8_t digit = kHexValues[static_cast<unsigned char>(c)];
    hex.flags |= digit;
    hex.value = (hex.value << 4) | (digit & 0xFu);
  }
  return hex;
}

}  // namespace

std::uint64_t stateless_transaction_hash(const Message& request) {
  if (request.via_count > 0 && has_usable_cookie_branch(request.top_via)) {
    return hash_cookie_branch(request.top_via);
  }
  return hash_rfc2543_fields(request);
}

std::optional<std::uint64_t> cookie_transaction_hash(const Via& via) {
  if (!has_usable_cookie_branch(via)) return std::nullopt;
  return hash_cookie_branch(via);
}

Branch stateless_branch(const Message& request, BranchKey key) {
  return signed_branch(stateless_transaction_hash(request), key);
}

Branch signed_branch(std::uint64_t transaction, BranchKey key) {
  Branch branch;
  char* out = branch.text.data();
  std::memcpy(out, kBranchPrefix.data(), kBranchPrefix.size());
  char* hash_hex = out + kBranchPrefix.size();
  write_hex_digits(transaction, {hash_hex, kHashHexLength});
  const std::uint32_t signature = signature_of({hash_hex, kHashHexLength}, key);
  write_hex_digits(signature, {hash_hex + kHashHexLength, kSignatureHexLength});
  return branch;
}

std::optional<std::uint64_t> our_branch_transaction(std::string_view branch, BranchKey key) {
  if (!branch_is_ours(branch, key)) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : branch.substr(kBranchPrefix.size(), kHashHexLength))
    value = value << 4 | kHexValues[static_cast<unsigned char>(c)];
  return value;
}

bool branch_is_ours(std::string_view branch, BranchKey key) {
  if (branch.size() != kBranchLength || !branch.starts_with(kBranchPrefix)) return false;
  const std::string_view hash_hex = branch.substr(kBranchPrefix.size(), kHashHexLength);
  const Hex32 signature = parse_hex32(branch.substr(kBranchPrefix.size() + kHashHexLength));
  if (((hex_flags(hash_hex) | signature.flags) & kNotHex) != 0) return false;
  return signature.value == signature_of(hash_hex, key);
}

}  // namespace sipline::sip

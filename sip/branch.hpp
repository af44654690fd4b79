// Stateless proxy branches (RFC 3261 §16.11) and our signature on them.
//
// Branch layout: "z9hG4bK" "-sl" <16 hex: transaction hash> <8 hex: signature>
// The transaction hash is derived only from the received request, so an INVITE, its
// retransmissions, its CANCEL and the ACK for a non-2xx final response map to the same
// branch (and therefore to the same next hop):
//   - received top branch with the magic cookie: hash of that branch and the top Via sent-by;
//   - RFC 2543 peer (no cookie): hash of From tag, Call-ID, Request-URI as received, the top
//     Via element and the CSeq number. The To tag is left out on purpose: the ACK for a
//     non-2xx response carries the To tag the INVITE did not have (§17.1.1.3).
// The signature is a keyed hash (per-boot secret) of the transaction hash, so a response's
// top Via can be recognised as ours without any state (§16.7 step 3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/message.hpp"

namespace sipline::sip {

inline constexpr std::string_view kBranchPrefix = "z9hG4bK-sl";
inline constexpr std::size_t kBranchLength = 10 + 16 + 8;

struct BranchKey {
  std::uint64_t secret = 0;
};

struct Branch {
  std::array<char, kBranchLength> text;
  std::string_view view() const { return {text.data(), text.size()}; }
};

// The transaction hash described above (exposed for tests and loop detection).
std::uint64_t stateless_transaction_hash(const Message& request);

Branch stateless_branch(const Message& request, BranchKey key);

// The transaction hash of a request whose top Via is `via`, when that Via carries a usable
// RFC 3261 branch (magic cookie and more): what stateless_transaction_hash() gives for such a
// request. A response carries the request's top Via as its second one (under ours), so a
// proxy finds the transaction a response answers with it (§17.2.3). std::nullopt otherwise.
std::optional<std::uint64_t> cookie_transaction_hash(const Via& via);

// True when `branch` has our layout and a valid signature under `key`.
bool branch_is_ours(std::string_view branch, BranchKey key);

// A branch of our layout for a request the proxy originates itself (a health probe): the
// 64-bit `transaction` in place of the hash, signed under `key`. The answers to it carry it
// back, and our_branch_transaction() reads it out of them.
Branch signed_branch(std::uint64_t transaction, BranchKey key);

// The transaction number of one of our branches; std::nullopt when `branch` is not ours.
std::optional<std::uint64_t> our_branch_transaction(std::string_view branch, BranchKey key);

}  // namespace sipline::sip

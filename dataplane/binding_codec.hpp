// The bytes a binding list takes in a shared location store (Redis: the value of an AOR's key
// and the body of a change notice), so that every sipline node reads what another wrote.
//
// A list is "SLB1" followed, per binding, by seven netstrings (LENGTH ":" BYTES ","): contact,
// received, call_id, instance, then expires_at, cseq and q_milli in decimal. Netstrings carry
// any octet, so a Contact URI or an instance ID needs no escaping, and a decoder never guesses
// where a field ends. A change notice (what one node publishes after it saved an AOR) is "SLN1",
// a netstring with the publishing node's ID, one with the AOR, then the AOR's list as above.
//
// Decoding is strict: a truncated, overlong or foreign value gives std::nullopt, never a
// half-read list (another version of sipline, or a key someone else wrote).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/registrar.hpp"

namespace sipline::dataplane {

std::string encode_bindings(const std::vector<sip::Binding>& bindings);
// Every binding of `encoded`, with `aor` as their aor field.
std::optional<std::vector<sip::Binding>> decode_bindings(std::string_view encoded,
                                                         std::string_view aor);

struct ChangeNotice {
  std::uint64_t node = 0;  // who saved the change (LocationSync ignores its own)
  std::string aor;
  std::vector<sip::Binding> bindings;  // empty: the AOR was removed
};

std::string encode_change_notice(std::uint64_t node, std::string_view aor,
                                 const std::vector<sip::Binding>& bindings);
std::optional<ChangeNotice> decode_change_notice(std::string_view encoded);
// The publishing node only, without decoding the list: a node skips its own notices cheaply.
std::optional<std::uint64_t> change_notice_node(std::string_view encoded);

}  // namespace sipline::dataplane

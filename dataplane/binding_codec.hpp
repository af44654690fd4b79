// The bytes bindings take in a shared location store (Redis: the value of each binding in its
// AOR's hash, and the body of a change notice), so that every sipline node reads what another
// wrote.
//
// A list is "SLB1" followed, per binding, by seven netstrings (LENGTH ":" BYTES ","): contact,
// received, call_id, instance, then expires_at, cseq and q_milli in decimal; or, when some
// binding of it names the node that took its REGISTER, "SLB2" and an eighth netstring per
// binding, that node's address (so that nodes of earlier versions still read every list
// without one). Netstrings carry
// any octet, so a Contact URI or an instance ID needs no escaping, and a decoder never guesses
// where a field ends. A stored binding is its expires_at in decimal, a space, then a list of
// that one binding: the store's script reads the expiry without decoding the rest.
// A change notice (what one node publishes after it saved a change of an AOR) is "SLN2", then
// netstrings: the publishing node's ID, the AOR, a mode digit (1: the list that ends it is
// the AOR's whole list, else only these bindings changed; plus 2 when the change is written
// again after the store refused it), the number of removed contacts and each of them; then
// the list of added or changed bindings as above.
//
// Decoding is strict: a truncated, overlong or foreign value gives std::nullopt, never a
// half-read list (another version of sipline, or a key someone else wrote).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/binding_delta.hpp"
#include "sip/registrar.hpp"

namespace sipline::dataplane {

std::string encode_bindings(const std::vector<sip::Binding>& bindings);
// Every binding of `encoded`, with `aor` as their aor field.
std::optional<std::vector<sip::Binding>> decode_bindings(std::string_view encoded,
                                                         std::string_view aor);

// One binding as its AOR's hash holds it.
std::string encode_stored_binding(const sip::Binding& binding);
std::optional<sip::Binding> decode_stored_binding(std::string_view encoded, std::string_view aor);

struct ChangeNotice {
  std::uint64_t node = 0;  // who saved the change (LocationSync ignores its own)
  std::string aor;
  // true: delta.upserts is the AOR's whole list (empty: the AOR was removed); delta.removed
  // is empty.
  bool whole = false;
  BindingDelta delta;
  // Written again after the store refused it: the publishing node applies it too.
  bool retried = false;
};

std::string encode_change_notice(const ChangeNotice& notice);
std::optional<ChangeNotice> decode_change_notice(std::string_view encoded);
// The publishing node and whether the change was written again, without decoding the list:
// a node skips its own notices cheaply (all but the retried ones).
struct NoticeOrigin {
  std::uint64_t node = 0;
  bool retried = false;

  bool operator==(const NoticeOrigin&) const = default;
};
std::optional<NoticeOrigin> change_notice_origin(std::string_view encoded);

}  // namespace sipline::dataplane

// What one change did to an address-of-record's bindings, binding by binding: the bindings
// it added or changed (whole) and the contacts it removed. A binding is named by its contact
// URI as registered (RFC 3261 §10.3 step 7 compares Contact URIs; the stores key bindings by
// the same string).
//
// A shared store (Redis) writes changes, not whole lists: two nodes that register two phones
// of one user at the same moment each change only their phone's binding, so Redis and every
// node end up with both, whichever write lands first (dataplane/README.md). The other nodes
// apply the same change to their tables.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sip/registrar.hpp"

namespace sipline::dataplane {

struct BindingDelta {
  std::vector<sip::Binding> upserts;  // added or changed, whole
  std::vector<std::string> removed;   // contact URIs no longer bound

  bool empty() const noexcept { return upserts.empty() && removed.empty(); }
  bool operator==(const BindingDelta&) const = default;
};

// The change from `before` to `after` (a binding whose fields all stayed is not in it).
BindingDelta binding_delta(std::span<const sip::Binding> before,
                           std::span<const sip::Binding> after);

// `earlier` followed by `later`, as one change (the store writes several changes of one AOR,
// queued or waiting for a retry, at once).
BindingDelta merge_deltas(BindingDelta earlier, BindingDelta later);

// `bindings` with `delta` applied: removed contacts dropped, upserts replacing the binding of
// their contact in place or appended.
std::vector<sip::Binding> apply_delta(std::vector<sip::Binding> bindings,
                                      const BindingDelta& delta);

// `delta` as it applies at `now`: an upsert already expired becomes the removal of its contact
// (a retry written late, another node's change read late).
BindingDelta without_expired(BindingDelta delta, std::int64_t now);

}  // namespace sipline::dataplane

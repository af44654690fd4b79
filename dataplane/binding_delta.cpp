#include "dataplane/binding_delta.hpp"

#include <algorithm>
#include <string_view>

namespace sipline::dataplane {
namespace {

template <class Range>
bool names_contact(const Range& contacts, std::string_view contact) {
  return std::find(contacts.begin(), contacts.end(), contact) != contacts.end();
}

bool has_binding_for(std::span<const sip::Binding> bindings, std::string_view contact) {
  return std::any_of(bindings.begin(), bindings.end(),
                     [contact](const sip::Binding& b) { return b.contact == contact; });
}

}  // namespace

BindingDelta binding_delta(std::span<const sip::Binding> before,
                           std::span<const sip::Binding> after) {
  BindingDelta delta;
  for (const sip::Binding& old : before) {
    if (!has_binding_for(after, old.contact) && !names_contact(delta.removed, old.contact)) {
      delta.removed.push_back(old.contact);
    }
  }
  for (const sip::Binding& now : after) {
    if (std::find(before.begin(), before.end(), now) == before.end()) delta.upserts.push_back(now);
  }
  return delta;
}

BindingDelta merge_deltas(BindingDelta earlier, BindingDelta later) {
  // What `later` writes or removes supersedes what `earlier` did to the same contact.
  std::erase_if(earlier.upserts, [&later](const sip::Binding& b) {
    return names_contact(later.removed, b.contact) || has_binding_for(later.upserts, b.contact);
  });
  std::erase_if(earlier.removed, [&later](const std::string& contact) {
    return has_binding_for(later.upserts, contact) || names_contact(later.removed, contact);
  });
  for (sip::Binding& binding : later.upserts)
    earlier.upserts.push_back(std::move(binding));
  for (std::string& contact : later.removed)
    earlier.removed.push_back(std::move(contact));
  return earlier;
}

std::vector<sip::Binding> apply_delta(std::vector<sip::Binding> bindings,
                                      const BindingDelta& delta) {
  std::erase_if(bindings, [&delta](const sip::Binding& b) {
    return names_contact(delta.removed, b.contact);
  });
  for (const sip::Binding& upsert : delta.upserts) {
    const auto same =
        std::find_if(bindings.begin(), bindings.end(),
                     [&upsert](const sip::Binding& b) { return b.contact == upsert.contact; });
    if (same != bindings.end()) {
      *same = upsert;
    } else {
      bindings.push_back(upsert);
    }
  }
  return bindings;
}

BindingDelta without_expired(BindingDelta delta, std::int64_t now) {
  const auto expired = [now](const sip::Binding& b) { return b.expires_at <= now; };
  for (const sip::Binding& binding : delta.upserts) {
    if (expired(binding)) delta.removed.push_back(binding.contact);
  }
  std::erase_if(delta.upserts, expired);
  return delta;
}

}  // namespace sipline::dataplane

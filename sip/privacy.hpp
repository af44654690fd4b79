// Network-asserted identity and the caller's privacy request (RFC 3325, RFC 3323): what a
// proxy at the edge of a trust domain reads before it passes P-Asserted-Identity on.
#pragma once

#include "sip/message.hpp"

namespace sipline::sip {

// P-Asserted-Identity or P-Preferred-Identity present (RFC 3325 §9.1, §9.2). Inline: every
// forwarded message asks.
inline bool carries_identity(const Message& message) {
  return message.find(HeaderId::PAssertedIdentity) != nullptr ||
         message.find(HeaderId::PPreferredIdentity) != nullptr;
}

// A Privacy header with the priv-value "id" (RFC 3325 §9.3, RFC 3323 §4.2: values separated
// by ';', case-insensitive, on any Privacy line): the asserted identity must not leave the
// trust domain.
bool withholds_identity(const Message& message);

}  // namespace sipline::sip

// The cheap Call-ID scan a worker runs on every datagram before deciding which core owns it
// (DESIGN.md §1 step 2): walk header lines until Call-ID (or its compact form "i") and
// return its value, without parsing anything else. The owner then parses fully.
#pragma once

#include <cstdint>
#include <string_view>

namespace sipline::sip {

// The Call-ID value (LWS-trimmed), or "" when the datagram has none in its header section.
// Never reads past `datagram`.
std::string_view scan_call_id(std::string_view datagram);

// Stable 64-bit hash of a Call-ID (xxHash3), used to pick the owning worker.
std::uint64_t call_id_hash(std::string_view call_id);

// The worker that owns a call among `workers` (hash mod N, DESIGN.md §1).
inline std::uint32_t owner_of(std::string_view call_id, std::uint32_t workers) {
  return workers <= 1 ? 0 : static_cast<std::uint32_t>(call_id_hash(call_id) % workers);
}

}  // namespace sipline::sip

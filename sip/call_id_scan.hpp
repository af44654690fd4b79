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

// The worker that owns a call among `workers` (DESIGN.md §1): the hash scaled onto [0, N) by
// a multiply and a shift (Lemire's reduction) rather than `% N`, a 64-bit division of 25-40
// cycles that the receiving worker would pay for every datagram of a trunk.
inline std::uint32_t owner_of(std::string_view call_id, std::uint32_t workers) {
  if (workers <= 1) return 0;
  const unsigned __int128 scaled = static_cast<unsigned __int128>(call_id_hash(call_id)) *
                                   static_cast<unsigned __int128>(workers);
  return static_cast<std::uint32_t>(scaled >> 64);
}

// The owner when the first `dispatchers` of `workers` own no calls (dataplane.dispatchers;
// config/ keeps it below `workers`, and a worker count without room for an owner falls back
// to every worker owning calls).
inline std::uint32_t owner_of(std::string_view call_id, std::uint32_t workers,
                              std::uint32_t dispatchers) {
  if (dispatchers >= workers) return owner_of(call_id, workers);
  return dispatchers + owner_of(call_id, workers - dispatchers);
}

// The worker that owns the call of a received datagram, or `receiver` when the datagram has
// no Call-ID (nobody owns it; the receiving worker's pipeline answers or drops it). When one
// worker owns every call there is nothing to choose: the Call-ID is not looked for (a message
// without one goes to that worker too), which saves the scan's share of a one-owner worker's
// cycles (3.6% of bench_pipeline --workers 1).
inline std::uint32_t datagram_owner(std::string_view datagram, std::uint32_t workers,
                                    std::uint32_t dispatchers, std::uint32_t receiver) {
  if (workers <= 1) return 0;
  if (dispatchers + 1 == workers) return dispatchers;
  const std::string_view call_id = scan_call_id(datagram);
  return call_id.empty() ? receiver : owner_of(call_id, workers, dispatchers);
}

}  // namespace sipline::sip

// The requests the control thread originates (health probes, trunk registrations): how they
// are sent, and their identifiers, random per start so that Call-IDs, tags and branches
// differ per boot (RFC 3261 §8.1.1.4, §19.3 ask for global uniqueness).
#pragma once

#include <openssl/rand.h>

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "dataplane/peer_address.hpp"

namespace sipline::dataplane {

// Sends one datagram from listen address `socket` (an index into PipelineContext::listen) to
// `to`; false when it could not be sent. Socket mode sends on a worker socket, DPDK mode on
// the control lcore's TX queue.
using OwnRequestSender =
    std::function<bool(std::string_view datagram, std::size_t socket, const PeerAddress& to)>;

inline std::uint64_t random_u64() {
  std::uint64_t value = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1) value = 0x5e1f;
  return value;
}

inline std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, value);
  return text;
}

}  // namespace sipline::dataplane

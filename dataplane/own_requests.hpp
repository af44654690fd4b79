// The requests the control thread originates (health probes, trunk registrations): how they
// are sent, and their identifiers, random per start so that Call-IDs, tags and branches
// differ per boot (RFC 3261 §8.1.1.4, §19.3 ask for global uniqueness).
#pragma once

#include <openssl/rand.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "dataplane/peer_address.hpp"
#include "sip/hex.hpp"

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

// For the control thread's identifiers (Call-IDs, tags, cnonces), kept as strings.
inline std::string hex64_string(std::uint64_t value) {
  return std::string(sip::hex64(value).view());
}

}  // namespace sipline::dataplane

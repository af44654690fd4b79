// Identifiers of the requests the control thread originates (health probes, trunk
// registrations): random per start, so that Call-IDs, tags and branches differ per boot
// (RFC 3261 §8.1.1.4, §19.3 ask for global uniqueness).
#pragma once

#include <openssl/rand.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

namespace sipline::dataplane {

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

#include "dataplane/packet.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace sipline::dataplane {

PacketPool::PacketPool(std::uint16_t home, std::size_t count)
    : home_(home), count_(count), storage_(new Packet[count]) {
  free_.reserve(count);
  // Hand out low addresses first (LIFO free list): a lightly loaded worker keeps reusing the
  // same few packets, which stay in cache.
  for (std::size_t i = count; i > 0; --i) {
    storage_[i - 1].home = home;
    free_.push_back(&storage_[i - 1]);
  }
}

Packet* PacketPool::allocate() {
  if (free_.empty()) return nullptr;
  Packet* packet = free_.back();
  free_.pop_back();
  return packet;
}

std::size_t PacketPool::allocate_burst(std::span<Packet*> out) {
  const std::size_t count = std::min(out.size(), free_.size());
  for (std::size_t i = 0; i < count; ++i) {
    out[i] = free_.back();
    free_.pop_back();
  }
  return count;
}

void PacketPool::release(Packet* packet) {
  if (!owns(packet) || free_.size() == count_) {
    // A packet released into the wrong pool (or twice) would corrupt two threads' state:
    // stop loudly rather than route traffic through freed memory.
    std::fprintf(stderr, "sipline: error: packet %p released into pool %u that does not own it\n",
                 static_cast<void*>(packet), home_);
    std::abort();
  }
  free_.push_back(packet);
}

void PacketPool::release_burst(std::span<Packet* const> packets) {
  for (Packet* packet : packets)
    release(packet);
}

}  // namespace sipline::dataplane

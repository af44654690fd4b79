// Packet buffers and the per-owner pools they live in.
//
// Every received datagram lives in a Packet taken from the receiving worker's pool (its
// "home"). A packet handed to another worker or to the control thread travels by pointer
// over an SPSC ring and, once processed, comes back to its home over a return ring: only the
// home thread ever touches its pool's free list, so nothing is locked and nothing is
// allocated per packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/peer_address.hpp"
#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

struct alignas(kCacheLine) Packet {
  PeerAddress peer;          // received: the source; a control answer: the destination
  std::uint32_t length = 0;  // octets used in data
  std::uint16_t home = 0;    // the worker whose pool it returns to
  std::uint8_t socket = 0;   // listen socket index it arrived on / leaves from
  // Left uninitialised on purpose: a pool of them then costs only the pages that packets
  // actually use.
  std::array<char, kPacketCapacity> data;

  std::string_view bytes() const { return {data.data(), length}; }
  std::span<char> buffer() { return {data.data(), data.size()}; }
};

// A fixed set of packets owned by one thread (the home). allocate/release are for the home
// thread only; other threads give packets back through the home's return rings.
class PacketPool {
 public:
  PacketPool(std::uint16_t home, std::size_t count);

  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  std::uint16_t home() const { return home_; }
  std::size_t size() const { return count_; }
  std::size_t available() const { return free_.size(); }

  // nullptr when every packet is out.
  Packet* allocate();
  // Fills `out` from the free list; returns how many it could.
  std::size_t allocate_burst(std::span<Packet*> out);
  // The packet must belong to this pool.
  void release(Packet* packet);
  void release_burst(std::span<Packet* const> packets);

  bool owns(const Packet* packet) const {
    return packet >= storage_.get() && packet < storage_.get() + count_;
  }

 private:
  std::uint16_t home_;
  std::size_t count_;
  std::unique_ptr<Packet[]> storage_;
  std::vector<Packet*> free_;  // capacity reserved at start: push/pop never reallocates
};

}  // namespace sipline::dataplane

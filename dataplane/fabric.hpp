// The rings between the runtime's threads ("endpoints": workers 0..N-1 and the control
// thread, index N), and the waker of each endpoint.
//
//   work(i, j), worker → worker   received packets owned by j (Call-ID hash), to process;
//                                 ring_size slots (config limits.ring_size)
//   work(i, N), worker → control  REGISTERs for the registrar; ring_size slots
//   work(N, i), control → worker  responses the worker sends as they are (intent Transmit);
//                                 as many slots as the control pool has packets: never full
//   back(i, h)                    packets going home to pool h once used; as many slots as
//                                 pool h has packets, so a return never finds its ring full
//
// Every ring has exactly one producer (its first index) and one consumer (its second).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/packet.hpp"
#include "dataplane/spsc_ring.hpp"
#include "dataplane/waker.hpp"

namespace sipline::dataplane {

using PacketRing = SpscRing<Packet>;

class Fabric {
 public:
  Fabric(std::size_t workers, std::size_t ring_size);

  std::size_t workers() const { return workers_; }
  std::uint16_t control() const { return static_cast<std::uint16_t>(workers_); }
  std::size_t endpoints() const { return workers_ + 1; }

  // from != to; at least one of them is a worker.
  PacketRing& work(std::size_t from, std::size_t to) { return *work_[from * endpoints() + to]; }
  PacketRing& back(std::size_t from, std::size_t home) { return *back_[from * endpoints() + home]; }
  Waker& waker(std::size_t endpoint) { return *wakers_[endpoint]; }

  // Pool sizes the return rings are built for.
  std::size_t pool_size(std::size_t endpoint) const {
    return endpoint == workers_ ? kPacketsForControl : kPacketsPerWorker;
  }

 private:
  std::size_t workers_;
  std::vector<std::unique_ptr<PacketRing>> work_;  // [from * endpoints + to], null on the diagonal
  std::vector<std::unique_ptr<PacketRing>> back_;
  std::vector<std::unique_ptr<Waker>> wakers_;
};

}  // namespace sipline::dataplane

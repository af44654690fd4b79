// The rings between the runtime's threads ("endpoints": workers 0..N-1 and the control
// thread, index N), and the waker of each endpoint.
//
//   work(i, j), worker → worker   received packets owned by j (Call-ID hash), to process;
//                                 ring_size slots (config limits.ring_size)
//   work(i, N), worker → control  REGISTERs for the registrar; ring_size slots
//   back(N, i), control → worker  those REGISTERs going home once answered
//   back(i, h), worker → worker   handed-off packets going home to pool h once used
// Return rings have as many slots as the home pool has packets, so a return never finds its
// ring full. The control thread sends its answers itself (control_thread.hpp) and has no
// packet pool, so nothing goes from it to a worker but REGISTERs going home: work(N, i) and
// back(i, N) do not exist.
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

  // from != to, `from` a worker (work) / `home` a worker (back).
  PacketRing& work(std::size_t from, std::size_t to) { return *work_[from * endpoints() + to]; }
  PacketRing& back(std::size_t from, std::size_t home) { return *back_[from * endpoints() + home]; }
  Waker& waker(std::size_t endpoint) { return *wakers_[endpoint]; }

 private:
  std::size_t workers_;
  // [from * endpoints + to]; null on the diagonal, work_ for from = N, back_ for home = N
  std::vector<std::unique_ptr<PacketRing>> work_;
  std::vector<std::unique_ptr<PacketRing>> back_;
  std::vector<std::unique_ptr<Waker>> wakers_;
};

}  // namespace sipline::dataplane

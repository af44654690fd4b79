#include "dataplane/fabric.hpp"

namespace sipline::dataplane {

Fabric::Fabric(std::size_t workers, std::size_t ring_size)
    : workers_(workers), work_(endpoints() * endpoints()), back_(endpoints() * endpoints()) {
  const std::size_t control_endpoint = workers;
  for (std::size_t from = 0; from < endpoints(); ++from) {
    for (std::size_t to = 0; to < endpoints(); ++to) {
      if (from == to) continue;
      const std::size_t slot = from * endpoints() + to;
      const std::size_t work_size = from == control_endpoint ? kPacketsForControl : ring_size;
      work_[slot] = std::make_unique<PacketRing>(work_size);
      back_[slot] = std::make_unique<PacketRing>(pool_size(to));
    }
  }
  for (std::size_t endpoint = 0; endpoint < endpoints(); ++endpoint) {
    wakers_.push_back(std::make_unique<Waker>());
  }
}

}  // namespace sipline::dataplane

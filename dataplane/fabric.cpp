#include "dataplane/fabric.hpp"

namespace sipline::dataplane {

Fabric::Fabric(std::size_t workers, std::size_t ring_size)
    : workers_(workers), work_(endpoints() * endpoints()), back_(endpoints() * endpoints()) {
  for (std::size_t from = 0; from < endpoints(); ++from) {
    for (std::size_t to = 0; to < endpoints(); ++to) {
      if (from == to) continue;
      const std::size_t slot = from * endpoints() + to;
      if (from != control()) work_[slot] = std::make_unique<PacketRing>(ring_size);
      if (to != control()) back_[slot] = std::make_unique<PacketRing>(kPacketsPerWorker);
    }
  }
  for (std::size_t endpoint = 0; endpoint < endpoints(); ++endpoint) {
    wakers_.push_back(std::make_unique<Waker>());
  }
}

}  // namespace sipline::dataplane

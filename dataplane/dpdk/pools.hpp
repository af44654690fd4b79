// The mbuf pools of the dataplane, created once at start and sized by dpdk_sizing.hpp:
// packets (NIC receive, every frame we build, fragment headers) and indirect mbufs (no data
// room; a fragment's view into the datagram it was cut from).
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sipline::dataplane::dpdk {

class PacketPools {
 public:
  struct Created {
    std::unique_ptr<PacketPools> pools;  // null on failure
    std::string error;
  };
  // `handoff_in_flight`: mbufs the runtime may keep on hand-off rings and the control ring
  // at once (their capacities), added to the l3fwd rule. `name` prefixes the pool names,
  // which must be unique in the process.
  static Created create(std::uint16_t workers, std::uint32_t handoff_in_flight, int socket_id,
                        const std::string& name = "sipline");

  ~PacketPools();
  PacketPools(const PacketPools&) = delete;
  PacketPools& operator=(const PacketPools&) = delete;

  rte_mempool* packets() const { return packets_; }
  rte_mempool* indirect() const { return indirect_; }

 private:
  PacketPools() = default;
  rte_mempool* packets_ = nullptr;
  rte_mempool* indirect_ = nullptr;
};

}  // namespace sipline::dataplane::dpdk

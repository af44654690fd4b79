#include "dataplane/dpdk/pools.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>

#include "dataplane/dpdk/dpdk_sizing.hpp"

namespace sipline::dataplane::dpdk {

PacketPools::Created PacketPools::create(std::uint16_t workers, std::uint32_t handoff_in_flight,
                                         int socket_id, const std::string& name) {
  auto pools = std::unique_ptr<PacketPools>(new PacketPools());
  const std::uint32_t packet_count = packet_pool_size(workers, handoff_in_flight);
  const std::string packets_name = name + "_pkt";
  pools->packets_ = rte_pktmbuf_pool_create(packets_name.c_str(), packet_count, kMempoolCache, 0,
                                            kMbufDataRoom, socket_id);
  if (pools->packets_ == nullptr) {
    const int error = rte_errno;
    return {nullptr, "rte_pktmbuf_pool_create(" + std::to_string(packet_count) +
                         " mbufs) failed: " + rte_strerror(error) +
                         " (raise -m in [dataplane] eal, or reserve more hugepages)"};
  }
  const std::uint32_t indirect_count = indirect_pool_size(workers);
  const std::string indirect_name = name + "_ind";
  pools->indirect_ = rte_pktmbuf_pool_create(indirect_name.c_str(), indirect_count, kMempoolCache,
                                             0, 0, socket_id);
  if (pools->indirect_ == nullptr) {
    const int error = rte_errno;
    return {nullptr, "rte_pktmbuf_pool_create(" + std::to_string(indirect_count) +
                         " indirect mbufs) failed: " + rte_strerror(error)};
  }
  return {std::move(pools), {}};
}

PacketPools::~PacketPools() {
  rte_mempool_free(indirect_);
  rte_mempool_free(packets_);
}

}  // namespace sipline::dataplane::dpdk

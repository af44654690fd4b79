// The EAL arguments of a test or fuzz program: no NIC and no hugepages (--no-pci --no-huge,
// 256 MiB of ordinary memory), lcore 0 only, nothing shared with other DPDK processes
// (--no-shconf, no telemetry socket, a file prefix of its own), so programs run in parallel.
// The caller appends what it needs more (vdevs, log levels).
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

namespace sipline::dataplane::dpdk::testing {

inline std::vector<std::string> private_eal_args(const std::string& name) {
  return {"--no-pci",
          "--no-huge",
          "-m",
          "256",
          "--no-shconf",
          "--no-telemetry",
          "-l",
          "0",
          "--file-prefix=sipline_" + name + "_" + std::to_string(::getpid())};
}

}  // namespace sipline::dataplane::dpdk::testing

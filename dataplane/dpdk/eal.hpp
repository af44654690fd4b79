// The DPDK Environment Abstraction Layer: started once per process from the configured
// arguments (`[dataplane] eal`), torn down at exit.
#pragma once

#include <span>
#include <string>

namespace sipline::dataplane::dpdk {

struct EalStart {
  std::string error;  // empty on success; otherwise one line saying what to change
  bool ok() const { return error.empty(); }
};

// Calls rte_eal_init with `program` as argv[0] followed by `args` as written. Fails (with a
// hint for the usual causes: no hugepages, no permission, a PCI NIC grabbed, a missing PMD)
// when EAL refuses them, when an argument is left unparsed, or when EAL is already running
// in this process (it can be initialised only once).
EalStart start_eal(std::span<const std::string> args, const std::string& program = "sipline");

// Releases what EAL holds (hugepage mappings, the interrupt thread, vdevs). Call once, after
// every port is closed and every lcore has returned.
void stop_eal();

}  // namespace sipline::dataplane::dpdk

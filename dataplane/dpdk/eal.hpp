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
// when EAL refuses them or when an argument is left unparsed. There is one attempt per
// process: EAL cannot be initialised twice, nor retried after a failure (it keeps state), so
// a failed start means the process exits.
EalStart start_eal(std::span<const std::string> args, const std::string& program = "sipline");

// Releases what EAL holds (hugepage mappings, the interrupt thread, vdevs). Call once, after
// every port is closed and every lcore has returned.
void stop_eal();

}  // namespace sipline::dataplane::dpdk

// Assembles and runs the proxy with io = "dpdk" (DESIGN.md §5):
//
//   EAL from [dataplane] eal → an lcore per worker (EAL worker lcores, in order) plus the
//   main lcore for the control loop → the mbuf pools (l3fwd rule) → the ethdev port
//   [dataplane] port with RX/TX queue i per worker and one more TX queue for the control lcore
//   → the interface ([dataplane] address, address6, gateway, mtu; SIP ports from [listen] udp)
//   → the neighbour table → one LcoreNet per lcore → the hand-off and control rings → the
//   DpdkWorkers, launched on their lcores → "sipline: ready" → the ControlThread loop (with
//   DpdkControl as its duty) until SIGINT/SIGTERM → stop, wait for the lcores, flush the
//   store, print the counters, close the port, release EAL.
//
// EAL starts before any other thread exists, so the store's thread and EAL's own threads
// inherit the main lcore's CPU set and never compete with a worker's core.
#pragma once

#include <memory>

#include "config/config.hpp"

namespace sipline::dataplane {

// Same contract as run_proxy (runtime.hpp): exit code 0 after a clean stop, 1 when EAL, the
// port or the store cannot be set up, 2 when the configuration cannot work (too few lcores).
int run_dpdk_proxy(std::shared_ptr<const config::Config> config);

}  // namespace sipline::dataplane

// Assembles and runs the proxy: location table and store, pipeline context, rings, the
// workers (threads on kernel sockets, or DPDK lcores on a NIC: dpdk_runtime.hpp), and the
// control loop on the calling thread.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "dataplane/admin_socket.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_sync.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/metrics_endpoint.hpp"

namespace sipline::dataplane {

// Exit codes of the program (main returns them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;  // cannot bind, cannot open the store, ...
inline constexpr int kExitConfigError = 2;   // the configuration was refused

// Runs until SIGINT/SIGTERM; prints "sipline: ready" once every socket is bound (or the DPDK
// port is up) and every worker runs, and the counters at the end. Call
// block_control_signals() first. io = "dpdk" goes to run_dpdk_proxy (dpdk_runtime.hpp).
int run_proxy(std::shared_ptr<const config::Config> config);

// The registrar's store (`config.registrar.store`), opened, with its live bindings loaded into
// `location` before any worker looks; and, with a Redis store, the subscription to the other
// nodes' changes, made before the load so no change falls between the two (location_sync.hpp).
// `store` is null, after logging why, when the store cannot be opened or read. Both runtimes
// start with it.
struct LocationPersistence {
  std::unique_ptr<AsyncStore> store;
  std::unique_ptr<LocationSync> sync;  // Redis only; uses the store: destroyed first
};
LocationPersistence open_location_store(const config::Config& config, LocationTable& location);

// The [admin] socket, or none when `config.admin.socket` is empty; `error` set (and logged)
// when it cannot be opened. Both runtimes open it before any thread starts.
AdminSocket::Opened open_admin_socket(const config::Config& config);

// The [admin] metrics endpoint, or none when `config.admin.metrics` is unset; `error` set
// (and logged) when it cannot listen.
MetricsEndpoint::Opened open_metrics_endpoint(const config::Config& config);

// After the workers have stopped: whatever the control thread still queued reaches the store.
void flush_location_store(AsyncStore& store);

}  // namespace sipline::dataplane

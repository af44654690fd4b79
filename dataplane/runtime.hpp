// Assembles and runs the socket-mode proxy: location table and store, pipeline context,
// rings, sockets, worker threads, and the control loop on the calling thread.
#pragma once

#include <memory>

#include "config/config.hpp"

namespace sipline::dataplane {

// Exit codes of the program (main returns them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;  // cannot bind, cannot open the store, ...
inline constexpr int kExitConfigError = 2;   // the configuration was refused

// Runs until SIGINT/SIGTERM; prints "sipline: ready" once every socket is bound and every
// worker runs, and the counters at the end. Call block_control_signals() first.
int run_proxy(std::shared_ptr<const config::Config> config);

}  // namespace sipline::dataplane

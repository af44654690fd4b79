// Configuration reload on SIGHUP (the control thread's side; the workers' side is
// context_exchange.hpp). The file the proxy started with is read again and checked as at
// start; what a reload may change is the routing: [domain], [registrar] (but its store),
// [[users]], [[pools]], [[routes]] and [log]. The rest is bound at start (sockets, DPDK ports
// and lcores, rings and tables sized from [limits], the overload gates, the source guard, the
// store): a file that changes it is refused whole, saying which sections need a restart, and
// the running configuration stays. So does it when the file no longer loads (FILE:LINE
// errors, as at start).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {

// The sections of `loaded` that differ from `running` and cannot change without a restart
// ("listen", "dataplane", "registrar.store", "limits", "overload", "source_limits" but its
// trusted_sources, which the reloaded context carries).
std::vector<std::string> sections_needing_restart(const config::Config& running,
                                                  const config::Config& loaded);

struct PreparedReload {
  std::unique_ptr<PipelineContext> context;  // null when refused
  std::vector<std::string> errors;           // why it was refused
};

// Loads `path` and builds the context the workers will route with (PipelineContext::reloaded:
// the per-boot secrets, location table and source guard of `current` are kept).
PreparedReload prepare_reload(const std::string& path, const PipelineContext& current);
// The same from a load already done (a DNS refresh loads on a thread of its own).
PreparedReload prepare_reload_from(config::LoadResult loaded, const std::string& path,
                                   const PipelineContext& current);

// What a DNS refresh changed (the same file loaded again, its names resolved again): the pools
// whose members and the forward routes whose targets now have other addresses, one
// "pool \"pbx\": 192.0.2.1:5060 -> 192.0.2.2:5060" clause each, "; " between; "" when none.
std::string next_hop_changes(const config::Config& running, const config::Config& loaded);

}  // namespace sipline::dataplane

#include "dataplane/reload.hpp"

#include <utility>

namespace sipline::dataplane {

std::vector<std::string> sections_needing_restart(const config::Config& running,
                                                  const config::Config& loaded) {
  std::vector<std::string> sections;
  if (running.listen != loaded.listen) sections.emplace_back("listen");
  if (running.dataplane != loaded.dataplane) sections.emplace_back("dataplane");
  if (running.registrar.store != loaded.registrar.store) {
    sections.emplace_back("registrar.store");
  }
  if (running.limits != loaded.limits) sections.emplace_back("limits");
  if (running.overload != loaded.overload) sections.emplace_back("overload");
  // Its tables and rates are sized at start; the trusted sources are the context's.
  config::SourceLimitsConfig running_limits = running.source_limits;
  running_limits.trusted_sources = loaded.source_limits.trusted_sources;
  if (running_limits != loaded.source_limits) sections.emplace_back("source_limits");
  if (running.admin != loaded.admin) sections.emplace_back("admin");
  return sections;
}

PreparedReload prepare_reload(const std::string& path, const PipelineContext& current) {
  PreparedReload prepared;
  config::LoadResult loaded = config::load_config_file(path);
  if (!loaded.ok()) {
    prepared.errors = std::move(loaded.errors);
    return prepared;
  }
  const std::vector<std::string> restart =
      sections_needing_restart(*current.config, *loaded.config);
  for (const std::string& section : restart) {
    prepared.errors.push_back(path + ": [" + section +
                              "] differs from the running configuration: it takes effect only "
                              "at a restart");
  }
  if (!prepared.errors.empty()) return prepared;
  prepared.context = PipelineContext::reloaded(std::move(loaded.config), current);
  return prepared;
}

}  // namespace sipline::dataplane

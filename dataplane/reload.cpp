#include "dataplane/reload.hpp"

#include <utility>

#include "dataplane/source_guard.hpp"

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
  if (running.source_limits != loaded.source_limits) sections.emplace_back("source_limits");
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
  // The source guard is built at start: the addresses it trusts for being forward targets or
  // pool members are those of the configuration it started with.
  if (source_limits_from(*current.config).trusted != source_limits_from(*loaded.config).trusted) {
    prepared.warnings.push_back(
        "the forward targets or pool members changed: [source_limits] keeps trusting the "
        "addresses of the configuration sipline started with until a restart");
  }
  prepared.context = PipelineContext::reloaded(std::move(loaded.config), current);
  return prepared;
}

}  // namespace sipline::dataplane

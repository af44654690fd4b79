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
  running_limits.scanner_user_agents = loaded.source_limits.scanner_user_agents;
  if (running_limits != loaded.source_limits) sections.emplace_back("source_limits");
  if (running.admin != loaded.admin) sections.emplace_back("admin");
  if (running.capture != loaded.capture) sections.emplace_back("capture");
  // The workers' rings exist only when it was on at start; another file is fine.
  if (running.accounting.file.empty() != loaded.accounting.file.empty()) {
    sections.emplace_back("accounting");
  }
  return sections;
}

PreparedReload prepare_reload(const std::string& path, const PipelineContext& current) {
  return prepare_reload_from(config::load_config_file(path), path, current);
}

PreparedReload prepare_reload_from(config::LoadResult loaded, const std::string& path,
                                   const PipelineContext& current) {
  PreparedReload prepared;
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

namespace {

std::string members_text(const lb::PoolSpec& pool) {
  std::string text;
  for (const lb::PoolMember& member : pool.members) {
    if (!text.empty()) text += ", ";
    text += member.address.to_string();
  }
  return text;
}

void add_change(std::string& changes, const std::string& what, const std::string& before,
                const std::string& after) {
  if (!changes.empty()) changes += "; ";
  changes += what + ": " + before + " -> " + after;
}

}  // namespace

std::string next_hop_changes(const config::Config& running, const config::Config& loaded) {
  std::string changes;
  for (std::size_t i = 0; i < running.pools.size() && i < loaded.pools.size(); ++i) {
    if (running.pools[i] == loaded.pools[i]) continue;
    add_change(changes, "pool \"" + loaded.pools[i].name + "\"", members_text(running.pools[i]),
               members_text(loaded.pools[i]));
  }
  for (std::size_t i = 0; i < running.routes.size() && i < loaded.routes.size(); ++i) {
    const std::optional<lb::ForwardTarget>& before = running.routes[i].forward;
    const std::optional<lb::ForwardTarget>& after = loaded.routes[i].forward;
    if (!before || !after || before->next_hop == after->next_hop) continue;
    add_change(changes, "route \"" + loaded.routes[i].name + "\"", before->next_hop.to_string(),
               after->next_hop.to_string());
  }
  const auto& running_trunks = running.trunk_registrations;
  const auto& loaded_trunks = loaded.trunk_registrations;
  for (std::size_t i = 0; i < running_trunks.size() && i < loaded_trunks.size(); ++i) {
    const config::TrunkRegistration& was = running_trunks[i];
    const config::TrunkRegistration& now = loaded_trunks[i];
    const std::string what = "trunk registration \"" + now.name + "\"";
    if (was.registrar.next_hop != now.registrar.next_hop) {
      add_change(changes, what, was.registrar.next_hop.to_string(),
                 now.registrar.next_hop.to_string());
    }
    if (was.outbound_proxy && now.outbound_proxy &&
        was.outbound_proxy->next_hop != now.outbound_proxy->next_hop) {
      add_change(changes, what + " outbound proxy", was.outbound_proxy->next_hop.to_string(),
                 now.outbound_proxy->next_hop.to_string());
    }
  }
  return changes;
}

}  // namespace sipline::dataplane

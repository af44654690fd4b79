#include "dataplane/location_resync.hpp"

#include <iterator>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace sipline::dataplane {
namespace {

using AorSet = std::unordered_set<std::string_view>;

// The table's AORs that `read` lacks and `saved_here` does not name: removed while away.
std::vector<AorUpdate> removed_meanwhile(const LocationTable& table, const AorSet& read,
                                         const AorSet& saved_here) {
  std::vector<AorUpdate> removals;
  for (std::size_t shard = 0; shard < table.shard_count(); ++shard) {
    std::string_view last;  // one record's contacts come together
    table.visit_shard(shard, [&](std::string_view aor, const ContactView&) {
      if (aor == last) return;
      last = aor;
      if (!read.contains(aor) && !saved_here.contains(aor)) {
        removals.push_back({std::string(aor), {}, std::nullopt});
      }
    });
  }
  return removals;
}

}  // namespace

ResolvedSync resolve_sync(SyncUpdates taken, const LocationTable& table,
                          const std::optional<std::vector<std::string>>& saved_here) {
  if (!taken.snapshot) return {std::move(taken.updates), 0};
  const SyncSnapshot& snapshot = *taken.snapshot;
  if (!saved_here) return {std::move(taken.updates), 0};  // as read: the old way
  const AorSet saved(saved_here->begin(), saved_here->end());
  std::vector<AorUpdate>& updates = taken.updates;
  const auto read_end = updates.begin() + static_cast<std::ptrdiff_t>(snapshot.aors);
  ResolvedSync resolved;
  if (snapshot.complete) {
    AorSet read;
    for (auto update = updates.begin(); update != read_end; ++update)
      read.insert(update->aor);
    resolved.updates = removed_meanwhile(table, read, saved);
    resolved.forgotten = resolved.updates.size();
  }
  resolved.updates.reserve(resolved.updates.size() + updates.size());
  for (auto update = updates.begin(); update != read_end; ++update) {
    if (!saved.contains(update->aor)) resolved.updates.push_back(std::move(*update));
  }
  std::move(read_end, updates.end(), std::back_inserter(resolved.updates));
  return resolved;
}

}  // namespace sipline::dataplane

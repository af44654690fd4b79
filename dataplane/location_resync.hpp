// What the control thread applies of the location sync's queue (location_sync.hpp) when it
// starts with a resynchronisation: the whole store as read after a lost change channel.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/location_sync.hpp"
#include "dataplane/location_table.hpp"

namespace sipline::dataplane {

struct ResolvedSync {
  std::vector<AorUpdate> updates;  // for LocationTable::apply, in order
  std::size_t forgotten = 0;       // removals of AORs a complete read lacks
};

// `taken` as LocationSync::take_updates() gave it; `saved_here`: the AORs this node saved
// since the read may have run (AsyncStore::saved_after), or nullopt when unknown.
// - The read's AORs replace the table's, except those saved here (their notices are this
//   node's own, skipped: the read may predate the save).
// - A complete read (the same dataset) removes the AORs the table holds and the read lacks,
//   except those saved here; only when `saved_here` is known.
// - The notices queued after the read follow, as they came.
ResolvedSync resolve_sync(SyncUpdates taken, const LocationTable& table,
                          const std::optional<std::vector<std::string>>& saved_here);

}  // namespace sipline::dataplane

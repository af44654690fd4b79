// The location service (RFC 3261 §10, §16.5): address-of-record → registered contacts, read by
// every worker on the call path and written only by the control thread (registrar, expiry
// timer, restore at start).
//
// Concurrency (DESIGN.md §3: "shared state read by workers is immutable or RCU-protected"):
// - One writer. replace()/remove()/apply()/restore()/expire()/reclaim() and the other writer-
//   side calls must all come from the same thread (the control thread).
// - Lock-free readers. lookup() takes no lock, never blocks and never allocates: it hashes the
//   AOR, loads one shard pointer (acquire) and binary-searches an immutable array.
// - Copy-on-write per shard. The table is 2^shard_bits shards (default 4096), each an
//   immutable sorted array of (hash, record) published through its own atomic pointer, and each
//   AOR's contacts live in one immutable record allocated in one block. A change builds a new
//   record and a new copy of one shard (about 16 bytes per AOR of that shard: ~4 KB at 1M
//   AORs), so the cost of a REGISTER does not grow with the table.
// - QSBR reclamation (dataplane/qsbr.hpp). Replaced shards and records are retired and freed
//   once every worker has called quiescent(i) since; a worker that sleeps calls offline(i) and
//   online(i). A ContactsView stays valid until its worker's next quiescent(i) or offline(i).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/binding_delta.hpp"
#include "dataplane/qsbr.hpp"
#include "sip/registrar.hpp"

namespace sipline::dataplane {

// One registered contact as workers see it. The views point into the immutable record.
struct ContactView {
  std::string_view uri;           // the Contact URI as registered
  std::string_view received;      // "ip:port" the REGISTER came from, or "" (NAT help)
  std::string_view call_id;       // of the REGISTER that created or refreshed the binding
  std::string_view instance;      // +sip.instance, or ""
  std::string_view node_address;  // sip::Binding::node_address, or ""
  std::int64_t expires_at = 0;    // unix seconds
  std::uint32_t cseq = 0;
  std::uint16_t q_milli = 1000;
};

namespace detail {

// All contacts of one AOR, in one allocation: this header, the ContactView array, the text.
struct AorRecord {
  std::uint64_t hash = 0;
  std::string_view aor;
  const ContactView* contacts = nullptr;
  std::uint32_t contact_count = 0;
  std::uint32_t bytes = 0;           // size of the allocation, for memory accounting
  std::int64_t earliest_expiry = 0;  // the expiry timer's key
};

struct ShardEntry {
  std::uint64_t hash;
  const AorRecord* record;
};

// Immutable once published: `count` entries sorted by hash follow this header.
struct Shard {
  std::uint32_t count = 0;
  std::uint32_t bytes = 0;
  const ShardEntry* entries() const noexcept;
};

}  // namespace detail

// The contacts of one AOR, highest q first, then the most recently refreshed (latest expiry)
// first, then in the order the registrar gave them. Empty when the AOR has no binding.
class ContactsView {
 public:
  ContactsView() = default;

  bool empty() const noexcept { return record_ == nullptr; }
  std::size_t size() const noexcept { return record_ ? record_->contact_count : 0; }
  std::string_view aor() const noexcept { return record_ ? record_->aor : std::string_view(); }
  std::span<const ContactView> contacts() const noexcept {
    return record_ ? std::span(record_->contacts, record_->contact_count)
                   : std::span<const ContactView>();
  }
  const ContactView& operator[](std::size_t index) const noexcept {
    return record_->contacts[index];
  }
  const ContactView* begin() const noexcept { return contacts().data(); }
  const ContactView* end() const noexcept { return begin() + size(); }

 private:
  friend class LocationTable;
  explicit ContactsView(const detail::AorRecord* record) : record_(record) {}

  const detail::AorRecord* record_ = nullptr;
};

// A change for one AOR: its whole list (no bindings removes the AOR), or, with `change`, only
// what changed (another node's REGISTER), applied to what the table holds (`bindings` unused).
struct AorUpdate {
  std::string aor;
  std::vector<sip::Binding> bindings;
  std::optional<BindingDelta> change;
};

class LocationTable {
 public:
  static constexpr unsigned kDefaultShardBits = 12;  // 4096 shards

  // `readers`: the number of worker threads that call lookup(); each uses its index in
  // [0, readers) for quiescent()/offline()/online().
  explicit LocationTable(std::size_t readers, unsigned shard_bits = kDefaultShardBits);
  ~LocationTable();  // no reader may be running any more

  LocationTable(const LocationTable&) = delete;
  LocationTable& operator=(const LocationTable&) = delete;

  // --- reader side (workers) ---

  ContactsView lookup(std::string_view aor) const noexcept;

  // Once per poll loop iteration, when the worker holds no ContactsView.
  void quiescent(std::size_t reader) noexcept { qsbr_.quiescent(reader); }
  void offline(std::size_t reader) noexcept { qsbr_.offline(reader); }
  void online(std::size_t reader) noexcept { qsbr_.online(reader); }

  // --- writer side (the control thread only) ---

  // Sets the AOR's bindings (their `aor` fields are ignored); an empty list removes the AOR.
  void replace(std::string_view aor, std::vector<sip::Binding> bindings);
  void remove(std::string_view aor) { replace(aor, {}); }

  // Several AORs at once, copying each touched shard once (restore, expiry). When an AOR occurs
  // more than once, its updates apply in order (a whole list replaces what came before it).
  void apply(std::vector<AorUpdate> updates);

  // Loads bindings read from the store at start (grouped by their `aor` field), replacing the
  // AORs they name.
  void restore(std::vector<sip::Binding> bindings);

  // Removes every binding with expires_at <= now (RFC 3261 §10.3 step 7: a binding lives for
  // its expiration interval) and returns the AORs that changed, each once.
  std::vector<std::string> expire(std::int64_t now);

  // The AOR's current bindings as the registrar needs them (a copy, in lookup order).
  std::vector<sip::Binding> bindings(std::string_view aor) const;

  // Every contact of the AORs of shard `shard` (< shard_count()), handed to `visit(aor,
  // contact)`: a walk over the whole table a slice at a time (the NAT keep-alives,
  // nat_pinger.hpp). Writer side: the views are valid until the writer's next change.
  std::size_t shard_count() const noexcept { return std::size_t{1} << shard_bits_; }
  template <class Visit>
  void visit_shard(std::size_t shard, Visit&& visit) const {
    const detail::Shard* published = shards_[shard].load(std::memory_order_relaxed);
    if (published == nullptr) return;
    for (std::uint32_t entry = 0; entry < published->count; ++entry) {
      const ContactsView record(published->entries()[entry].record);
      for (const ContactView& contact : record)
        visit(record.aor(), contact);
    }
  }

  // Frees retired versions every reader has moved past; returns how many. The writer calls
  // it after each change; the control loop may call it on a timer as well.
  std::size_t reclaim() { return qsbr_.reclaim(); }

  std::size_t size() const noexcept { return aor_count_; }  // AORs with at least one binding
  std::size_t binding_count() const noexcept { return binding_count_; }
  // Bytes of the published records and shards (excluding allocator overhead and the expiry
  // index), for sizing.
  std::size_t memory_bytes() const noexcept { return memory_bytes_; }
  std::uint64_t retired_total() const noexcept { return qsbr_.retired_total(); }
  std::uint64_t freed_total() const noexcept { return qsbr_.freed_total(); }
  std::size_t pending_reclaim() const noexcept { return qsbr_.pending(); }

 private:
  struct Change {
    std::uint64_t hash;
    std::size_t shard;
    const detail::AorRecord* record;  // nullptr: remove
    std::string_view aor;
  };

  std::size_t shard_of(std::uint64_t hash) const noexcept;
  const detail::AorRecord* find_record(std::uint64_t hash, std::string_view aor) const noexcept;
  void rebuild_shard(std::size_t shard, std::span<const Change> changes);
  std::vector<AorUpdate> resolve_changes(std::vector<AorUpdate> updates) const;
  void forget(const detail::AorRecord* record);
  void remember(const detail::AorRecord* record);

  unsigned shard_bits_;
  std::unique_ptr<std::atomic<const detail::Shard*>[]> shards_;
  Qsbr qsbr_;
  // Writer-only: (earliest expiry, record) of every published record, so expire() visits only
  // the AORs that have something to expire.
  std::set<std::pair<std::int64_t, const detail::AorRecord*>> expiry_;
  std::size_t aor_count_ = 0;
  std::size_t binding_count_ = 0;
  std::size_t memory_bytes_ = 0;
};

}  // namespace sipline::dataplane

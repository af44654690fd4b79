#include "dataplane/location_table.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <unordered_map>

namespace sipline::dataplane {

namespace detail {

const ShardEntry* Shard::entries() const noexcept {
  return std::launder(reinterpret_cast<const ShardEntry*>(this + 1));
}

}  // namespace detail

namespace {

using detail::AorRecord;
using detail::Shard;
using detail::ShardEntry;

static_assert(alignof(ContactView) <= alignof(AorRecord));
static_assert(sizeof(AorRecord) % alignof(ContactView) == 0);
static_assert(sizeof(Shard) % alignof(ShardEntry) == 0);

std::uint64_t hash_aor(std::string_view aor) noexcept {
  return XXH3_64bits(aor.data(), aor.size());
}

// Records and shards are trivially destructible blocks from ::operator new.
void free_block(void* block) {
  ::operator delete(block);
}

// Highest q first (RFC 3261 §16.6 tries higher q first); among equal q the binding refreshed
// last (latest expiry) first; otherwise the registrar's order.
void order_for_lookup(std::vector<sip::Binding>& bindings) {
  std::stable_sort(bindings.begin(), bindings.end(),
                   [](const sip::Binding& left, const sip::Binding& right) {
                     if (left.q_milli != right.q_milli) return left.q_milli > right.q_milli;
                     return left.expires_at > right.expires_at;
                   });
}

class TextWriter {
 public:
  explicit TextWriter(char* at) : at_(at) {}
  std::string_view copy(std::string_view text) {
    if (text.empty()) return {};
    std::memcpy(at_, text.data(), text.size());
    std::string_view copied(at_, text.size());
    at_ += text.size();
    return copied;
  }

 private:
  char* at_;
};

// One allocation: header, contacts, then every string they view.
const AorRecord* make_record(std::uint64_t hash, std::string_view aor,
                             const std::vector<sip::Binding>& ordered) {
  std::size_t text_bytes = aor.size();
  for (const sip::Binding& binding : ordered) {
    text_bytes += binding.contact.size() + binding.received.size() + binding.call_id.size() +
                  binding.instance.size() + binding.node_address.size();
  }
  const std::size_t contacts_offset = sizeof(AorRecord);
  const std::size_t text_offset = contacts_offset + ordered.size() * sizeof(ContactView);
  const std::size_t bytes = text_offset + text_bytes;
  char* block = static_cast<char*>(::operator new(bytes));

  TextWriter text(block + text_offset);
  ContactView* contacts = reinterpret_cast<ContactView*>(block + contacts_offset);
  std::int64_t earliest_expiry = ordered.front().expires_at;
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    const sip::Binding& binding = ordered[i];
    ContactView* contact = new (contacts + i) ContactView();
    contact->uri = text.copy(binding.contact);
    contact->received = text.copy(binding.received);
    contact->call_id = text.copy(binding.call_id);
    contact->instance = text.copy(binding.instance);
    contact->node_address = text.copy(binding.node_address);
    contact->expires_at = binding.expires_at;
    contact->cseq = binding.cseq;
    contact->q_milli = binding.q_milli;
    earliest_expiry = std::min(earliest_expiry, binding.expires_at);
  }
  AorRecord* record = new (block) AorRecord();
  record->hash = hash;
  record->aor = text.copy(aor);
  record->contacts = std::launder(contacts);
  record->contact_count = static_cast<std::uint32_t>(ordered.size());
  record->bytes = static_cast<std::uint32_t>(bytes);
  record->earliest_expiry = earliest_expiry;
  return record;
}

const Shard* make_shard(const std::vector<ShardEntry>& entries) {
  const std::size_t bytes = sizeof(Shard) + entries.size() * sizeof(ShardEntry);
  char* block = static_cast<char*>(::operator new(bytes));
  ShardEntry* copied = reinterpret_cast<ShardEntry*>(block + sizeof(Shard));
  for (std::size_t i = 0; i < entries.size(); ++i)
    new (copied + i) ShardEntry(entries[i]);
  Shard* shard = new (block) Shard();
  shard->count = static_cast<std::uint32_t>(entries.size());
  shard->bytes = static_cast<std::uint32_t>(bytes);
  return shard;
}

bool less_hash(const ShardEntry& entry, std::uint64_t hash) {
  return entry.hash < hash;
}

// Index of the AOR's entry in a hash-sorted array, or `count` when absent. Distinct AORs with
// one hash sit next to each other, so the scan past lower_bound compares the names.
std::size_t find_entry(const ShardEntry* entries, std::size_t count, std::uint64_t hash,
                       std::string_view aor) noexcept {
  const ShardEntry* at = std::lower_bound(entries, entries + count, hash, less_hash);
  for (; at != entries + count && at->hash == hash; ++at) {
    if (at->record->aor == aor) return static_cast<std::size_t>(at - entries);
  }
  return count;
}

std::vector<sip::Binding> to_bindings(const AorRecord& record) {
  std::vector<sip::Binding> bindings;
  bindings.reserve(record.contact_count);
  for (std::uint32_t i = 0; i < record.contact_count; ++i) {
    const ContactView& contact = record.contacts[i];
    sip::Binding binding;
    binding.aor = record.aor;
    binding.contact = contact.uri;
    binding.received = contact.received;
    binding.call_id = contact.call_id;
    binding.cseq = contact.cseq;
    binding.expires_at = contact.expires_at;
    binding.q_milli = contact.q_milli;
    binding.instance = contact.instance;
    binding.node_address = contact.node_address;
    bindings.push_back(std::move(binding));
  }
  return bindings;
}

}  // namespace

LocationTable::LocationTable(std::size_t readers, unsigned shard_bits)
    : shard_bits_(std::clamp(shard_bits, 1u, 24u)),
      shards_(new std::atomic<const Shard*>[std::size_t{1} << shard_bits_]),
      qsbr_(readers) {
  for (std::size_t i = 0; i < (std::size_t{1} << shard_bits_); ++i) {
    shards_[i].store(nullptr, std::memory_order_relaxed);
  }
}

LocationTable::~LocationTable() {
  for (std::size_t i = 0; i < (std::size_t{1} << shard_bits_); ++i) {
    const Shard* shard = shards_[i].load(std::memory_order_relaxed);
    if (shard == nullptr) continue;
    for (std::uint32_t e = 0; e < shard->count; ++e) {
      free_block(const_cast<AorRecord*>(shard->entries()[e].record));
    }
    free_block(const_cast<Shard*>(shard));
  }
}

std::size_t LocationTable::shard_of(std::uint64_t hash) const noexcept {
  return static_cast<std::size_t>(hash >> (64 - shard_bits_));
}

ContactsView LocationTable::lookup(std::string_view aor) const noexcept {
  return ContactsView(find_record(hash_aor(aor), aor));
}

const AorRecord* LocationTable::find_record(std::uint64_t hash,
                                            std::string_view aor) const noexcept {
  const Shard* shard = shards_[shard_of(hash)].load(std::memory_order_acquire);
  if (shard == nullptr) return nullptr;
  const std::size_t index = find_entry(shard->entries(), shard->count, hash, aor);
  return index == shard->count ? nullptr : shard->entries()[index].record;
}

void LocationTable::replace(std::string_view aor, std::vector<sip::Binding> bindings) {
  std::vector<AorUpdate> updates;
  updates.push_back({std::string(aor), std::move(bindings), std::nullopt});
  apply(std::move(updates));
}

void LocationTable::apply(std::vector<AorUpdate> updates) {
  updates = resolve_changes(std::move(updates));
  // Index of each AOR's last update; a single update (a REGISTER) needs no map.
  std::unordered_map<std::string_view, std::size_t> last_update;
  if (updates.size() > 1) {
    last_update.reserve(updates.size());
    for (std::size_t i = 0; i < updates.size(); ++i) {
      last_update[updates[i].aor] = i;
    }
  }

  std::vector<Change> changes;
  changes.reserve(updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) {
    AorUpdate& update = updates[i];
    if (updates.size() > 1 && last_update[update.aor] != i) continue;
    const std::uint64_t hash = hash_aor(update.aor);
    const AorRecord* record = nullptr;
    if (!update.bindings.empty()) {
      order_for_lookup(update.bindings);
      record = make_record(hash, update.aor, update.bindings);
    }
    changes.push_back({hash, shard_of(hash), record, update.aor});
  }
  std::stable_sort(changes.begin(), changes.end(), [](const Change& left, const Change& right) {
    return left.shard < right.shard;
  });

  for (std::size_t begin = 0; begin < changes.size();) {
    std::size_t end = begin + 1;
    while (end < changes.size() && changes[end].shard == changes[begin].shard) {
      ++end;
    }
    rebuild_shard(changes[begin].shard, std::span(changes).subspan(begin, end - begin));
    begin = end;
  }
  reclaim();
}

// Each partial update becomes the whole list it leads to: applied to the AOR's list as the
// updates before it in `updates` left it, else as the table holds it.
std::vector<AorUpdate> LocationTable::resolve_changes(std::vector<AorUpdate> updates) const {
  if (std::none_of(updates.begin(), updates.end(),
                   [](const AorUpdate& update) { return update.change.has_value(); })) {
    return updates;
  }
  std::unordered_map<std::string_view, std::size_t> latest;  // AOR -> its last update so far
  for (std::size_t i = 0; i < updates.size(); ++i) {
    AorUpdate& update = updates[i];
    if (update.change) {
      const auto before = latest.find(update.aor);
      std::vector<sip::Binding> base =
          before != latest.end() ? updates[before->second].bindings : bindings(update.aor);
      update.bindings = apply_delta(std::move(base), *update.change);
      update.change.reset();
    }
    latest[update.aor] = i;
  }
  return updates;
}

void LocationTable::rebuild_shard(std::size_t shard_index, std::span<const Change> changes) {
  const Shard* old_shard = shards_[shard_index].load(std::memory_order_relaxed);
  std::vector<ShardEntry> entries;
  if (old_shard != nullptr) {
    entries.assign(old_shard->entries(), old_shard->entries() + old_shard->count);
  }
  const std::size_t old_count = entries.size();
  std::vector<const AorRecord*> replaced;
  // Applied after the search loop: find_entry() reads the names of the old records.
  std::vector<std::pair<std::size_t, const AorRecord*>> replacements;
  for (const Change& change : changes) {
    const std::size_t index = find_entry(entries.data(), old_count, change.hash, change.aor);
    if (index != old_count) {
      replaced.push_back(entries[index].record);
      replacements.emplace_back(index, change.record);
    } else if (change.record != nullptr) {
      entries.push_back({change.hash, change.record});
    }
    if (change.record != nullptr) remember(change.record);
  }
  for (const auto& [index, record] : replacements)
    entries[index].record = record;
  std::erase_if(entries, [](const ShardEntry& entry) { return entry.record == nullptr; });
  std::sort(entries.begin(), entries.end(),
            [](const ShardEntry& left, const ShardEntry& right) { return left.hash < right.hash; });

  const Shard* new_shard = entries.empty() ? nullptr : make_shard(entries);
  if (new_shard != nullptr) memory_bytes_ += new_shard->bytes;
  shards_[shard_index].store(new_shard, std::memory_order_release);

  // Unreachable for new lookups from here on; readers that loaded them before keep them alive
  // until their next quiescent state.
  if (old_shard != nullptr) {
    memory_bytes_ -= old_shard->bytes;
    qsbr_.retire(const_cast<Shard*>(old_shard), free_block);
  }
  for (const AorRecord* record : replaced) {
    forget(record);
    qsbr_.retire(const_cast<AorRecord*>(record), free_block);
  }
}

void LocationTable::remember(const AorRecord* record) {
  expiry_.emplace(record->earliest_expiry, record);
  ++aor_count_;
  binding_count_ += record->contact_count;
  memory_bytes_ += record->bytes;
}

void LocationTable::forget(const AorRecord* record) {
  expiry_.erase({record->earliest_expiry, record});
  --aor_count_;
  binding_count_ -= record->contact_count;
  memory_bytes_ -= record->bytes;
}

void LocationTable::restore(std::vector<sip::Binding> bindings) {
  std::unordered_map<std::string, std::size_t> index_of_aor;
  std::vector<AorUpdate> updates;
  for (sip::Binding& binding : bindings) {
    auto [at, inserted] = index_of_aor.try_emplace(binding.aor, updates.size());
    if (inserted) updates.push_back({binding.aor, {}, std::nullopt});
    updates[at->second].bindings.push_back(std::move(binding));
  }
  apply(std::move(updates));
}

std::vector<std::string> LocationTable::expire(std::int64_t now) {
  std::vector<AorUpdate> updates;
  for (auto at = expiry_.begin(); at != expiry_.end() && at->first <= now; ++at) {
    std::vector<sip::Binding> live = to_bindings(*at->second);
    std::erase_if(live, [now](const sip::Binding& binding) { return binding.expires_at <= now; });
    updates.push_back({std::string(at->second->aor), std::move(live), std::nullopt});
  }
  std::vector<std::string> changed;
  changed.reserve(updates.size());
  for (const AorUpdate& update : updates)
    changed.push_back(update.aor);
  apply(std::move(updates));
  return changed;
}

std::vector<sip::Binding> LocationTable::bindings(std::string_view aor) const {
  const AorRecord* record = find_record(hash_aor(aor), aor);
  return record == nullptr ? std::vector<sip::Binding>() : to_bindings(*record);
}

}  // namespace sipline::dataplane

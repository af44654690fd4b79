#include "sip/transaction_table.hpp"

#include <bit>
#include <cstring>
#include <utility>

namespace sipline::sip {

TransactionTable::TransactionTable(std::size_t capacity, std::size_t stored_requests)
    : entries_(capacity),
      buckets_(std::bit_ceil(std::max<std::size_t>(2 * capacity, 2)), kNone),
      bucket_of_entry_(capacity, kNoSlot),
      heap_position_(capacity, kNoSlot),
      slot_of_entry_(capacity, kNoSlot),
      stored_size_(capacity, 0),
      trailer_size_(capacity, 0),
      // Not value-initialised either: a CANCEL's page becomes resident when a call rings.
      cancels_(new char[capacity * kCancelSize]),
      cancel_size_(capacity, 0),
      stored_requests_(stored_requests) {
  for (std::size_t c = 0; c < classes_.size(); ++c) {
    SlotClass& slots = classes_[c];
    slots.size = kSlotClassSizes[c];
    // Not value-initialised: a slot's pages become resident when a request is first stored.
    slots.memory.reset(new char[stored_requests * slots.size]);
    slots.free.reserve(stored_requests);
    for (std::size_t i = stored_requests; i-- > 0;)
      slots.free.push_back(static_cast<std::uint32_t>(c << kClassShift | i));
  }
  bucket_mask_ = buckets_.size() - 1;
  heap_.reserve(capacity);
  free_entries_.reserve(capacity);
  for (std::size_t i = capacity; i-- > 0;)
    free_entries_.push_back(static_cast<Index>(i));
}

TransactionTable::Index TransactionTable::find(std::uint64_t key) const {
  for (std::size_t bucket = bucket_of(key);; bucket = (bucket + 1) & bucket_mask_) {
    const Index index = buckets_[bucket];
    if (index == kNone) return kNone;
    if (entries_[index].key == key) return index;
  }
}

TransactionTable::Index TransactionTable::insert(std::uint64_t key) {
  if (free_entries_.empty()) return kNone;
  const Index index = free_entries_.back();
  free_entries_.pop_back();
  entries_[index] = Entry{};
  entries_[index].key = key;
  // At most half the buckets are ever used, so an empty one is always found.
  std::size_t bucket = bucket_of(key);
  while (buckets_[bucket] != kNone)
    bucket = (bucket + 1) & bucket_mask_;
  buckets_[bucket] = index;
  bucket_of_entry_[index] = static_cast<std::uint32_t>(bucket);
  ++size_;
  return index;
}

void TransactionTable::erase(Index index) {
  if (bucket_of_entry_[index] == kNoSlot) return;
  heap_remove(index);
  release_request(index);
  cancel_size_[index] = 0;
  unlink_bucket(index);
  free_entries_.push_back(index);
  --size_;
}

// Backward-shift deletion: every later entry of the probe run that may move into the hole
// (its home bucket is not between the hole and itself) does, so a run never has a gap.
void TransactionTable::unlink_bucket(Index index) {
  std::size_t hole = bucket_of_entry_[index];
  bucket_of_entry_[index] = kNoSlot;
  buckets_[hole] = kNone;
  for (std::size_t next = (hole + 1) & bucket_mask_; buckets_[next] != kNone;
       next = (next + 1) & bucket_mask_) {
    const Index moving = buckets_[next];
    const std::size_t home = bucket_of(entries_[moving].key);
    // Distances along the ring: `moving` may fill the hole when its home is no further from
    // it than the hole is.
    if (((next - home) & bucket_mask_) >= ((next - hole) & bucket_mask_)) {
      buckets_[hole] = moving;
      bucket_of_entry_[moving] = static_cast<std::uint32_t>(hole);
      buckets_[next] = kNone;
      hole = next;
    }
  }
}

std::size_t TransactionTable::class_for(std::size_t size) {
  std::size_t wanted = 0;
  while (kSlotClassSizes[wanted] < size)
    ++wanted;
  return wanted;
}

bool TransactionTable::store_request(Index index, std::string_view request) {
  if (request.size() > kStoredRequestSize) return false;
  const std::size_t wanted = class_for(request.size());
  trailer_size_[index] = 0;
  std::uint32_t slot = slot_of_entry_[index];
  if (slot != kNoSlot && classes_[slot >> kClassShift].size < request.size()) {
    release_request(index);  // outgrown: a larger class
    slot = kNoSlot;
  }
  if (slot == kNoSlot) {
    if (stored_count_ == stored_requests_) return false;
    SlotClass& slots = classes_[wanted];
    slot = slots.free.back();  // never empty: each class has room for every stored request
    slots.free.pop_back();
    slot_of_entry_[index] = slot;
    ++stored_count_;
  }
  if (!request.empty()) std::memcpy(slot_memory(slot), request.data(), request.size());
  stored_size_[index] = static_cast<std::uint32_t>(request.size());
  return true;
}

std::string_view TransactionTable::stored_request(Index index) const {
  const std::uint32_t slot = slot_of_entry_[index];
  if (slot == kNoSlot) return {};
  return {slot_memory(slot), stored_size_[index]};
}

bool TransactionTable::attach_trailer(Index index, std::string_view trailer) {
  const std::uint32_t slot = slot_of_entry_[index];
  const std::size_t request_size = stored_size_[index];
  const std::size_t total = request_size + trailer.size();
  if (slot == kNoSlot || total > kStoredRequestSize) return false;
  std::uint32_t target = slot;
  if (classes_[slot >> kClassShift].size < total) {
    // A slot of the larger class, taken before the old one is given back (the copy reads
    // it); every class has room for every stored request, so one is free.
    SlotClass& larger = classes_[class_for(total)];
    target = larger.free.back();
    larger.free.pop_back();
    std::memcpy(slot_memory(target), slot_memory(slot), request_size);
    classes_[slot >> kClassShift].free.push_back(slot);
    slot_of_entry_[index] = target;
  }
  if (!trailer.empty())
    std::memcpy(slot_memory(target) + request_size, trailer.data(), trailer.size());
  trailer_size_[index] = static_cast<std::uint16_t>(trailer.size());
  return true;
}

std::string_view TransactionTable::stored_trailer(Index index) const {
  const std::uint32_t slot = slot_of_entry_[index];
  if (slot == kNoSlot) return {};
  return {slot_memory(slot) + stored_size_[index], trailer_size_[index]};
}

void TransactionTable::release_request(Index index) {
  const std::uint32_t slot = slot_of_entry_[index];
  trailer_size_[index] = 0;
  if (slot == kNoSlot) return;
  slot_of_entry_[index] = kNoSlot;
  classes_[slot >> kClassShift].free.push_back(slot);
  --stored_count_;
}

void TransactionTable::arm(Index index, std::int64_t deadline_ms) {
  entries_[index].deadline_ms = deadline_ms;
  std::uint32_t position = heap_position_[index];
  if (position == kNoSlot) {
    position = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(index);
    heap_position_[index] = position;
  }
  sift_up(position);
  sift_down(heap_position_[index]);
}

TransactionTable::Index TransactionTable::pop_expired(std::int64_t now_ms) {
  if (heap_.empty() || entries_[heap_.front()].deadline_ms > now_ms) return kNone;
  const Index index = heap_.front();
  heap_remove(index);
  return index;
}

std::optional<std::int64_t> TransactionTable::next_deadline() const {
  if (heap_.empty()) return std::nullopt;
  return entries_[heap_.front()].deadline_ms;
}

void TransactionTable::heap_remove(Index index) {
  const std::uint32_t position = heap_position_[index];
  if (position == kNoSlot) return;
  const std::size_t last = heap_.size() - 1;
  if (position != last) heap_swap(position, last);
  heap_.pop_back();
  heap_position_[index] = kNoSlot;
  if (position != last) {
    sift_up(position);
    sift_down(position);
  }
}

void TransactionTable::heap_swap(std::size_t a, std::size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_position_[heap_[a]] = static_cast<std::uint32_t>(a);
  heap_position_[heap_[b]] = static_cast<std::uint32_t>(b);
}

void TransactionTable::sift_up(std::size_t position) {
  while (position > 0) {
    const std::size_t parent = (position - 1) / 2;
    if (entries_[heap_[parent]].deadline_ms <= entries_[heap_[position]].deadline_ms) return;
    heap_swap(parent, position);
    position = parent;
  }
}

void TransactionTable::sift_down(std::size_t position) {
  for (;;) {
    std::size_t smallest = position;
    for (const std::size_t child : {2 * position + 1, 2 * position + 2}) {
      if (child < heap_.size() &&
          entries_[heap_[child]].deadline_ms < entries_[heap_[smallest]].deadline_ms) {
        smallest = child;
      }
    }
    if (smallest == position) return;
    heap_swap(position, smallest);
    position = smallest;
  }
}

}  // namespace sipline::sip

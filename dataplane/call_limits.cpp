#include "dataplane/call_limits.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "sip/call_id_scan.hpp"

namespace sipline::dataplane {

CallCounters::~CallCounters() {
  for (std::atomic<Counter*>& chunk : chunks_)
    delete[] chunk.load(std::memory_order_relaxed);
}

std::uint32_t CallCounters::counter_for(std::string_view name) {
  const std::string key(name);
  if (const auto found = names_.find(key); found != names_.end()) return found->second;
  const auto counter = static_cast<std::uint32_t>(names_.size());
  if (counter >= kChunkSize * kMaxChunks) return kNoCallCounter;
  std::atomic<Counter*>& chunk = chunks_[counter / kChunkSize];
  if (chunk.load(std::memory_order_relaxed) == nullptr) {
    chunk.store(new Counter[kChunkSize], std::memory_order_release);
  }
  names_.emplace(key, counter);
  return counter;
}

void ActiveCallTable::FreeDeleter::operator()(ActiveCall* calls) const {
  std::free(calls);
}

ActiveCallTable::ActiveCallTable(std::size_t capacity) : mask_(capacity - 1) {
  // calloc: a large zeroed block comes as untouched pages. All-zero octets are a free
  // ActiveCall (key 0); the counters of a free slot are never read.
  void* memory = std::calloc(capacity, sizeof(ActiveCall));
  if (memory == nullptr) throw std::bad_alloc();
  slots_.reset(static_cast<ActiveCall*>(memory));
}

std::uint64_t ActiveCallTable::key_of(std::string_view call_id) {
  const std::uint64_t hash = sip::call_id_hash(call_id);
  return hash == 0 ? 1 : hash;
}

ActiveCall* ActiveCallTable::find(std::uint64_t key) {
  for (std::size_t probe = 0; probe < kMaxProbe; ++probe) {
    ActiveCall& slot = slots_[(home(key) + probe) & mask_];
    if (slot.key == key) return &slot;
    if (slot.key == 0) return nullptr;
  }
  return nullptr;
}

ActiveCall* ActiveCallTable::insert(std::uint64_t key) {
  for (std::size_t probe = 0; probe < kMaxProbe && probe <= mask_; ++probe) {
    ActiveCall& slot = slots_[(home(key) + probe) & mask_];
    if (slot.key != 0) continue;
    slot = ActiveCall{};
    slot.key = key;
    ++size_;
    return &slot;
  }
  return nullptr;
}

void ActiveCallTable::end(ActiveCall* call, CallCounters& counters) {
  if (call->route_counter != kNoCallCounter) counters.give_back(call->route_counter);
  if (call->user_counter != kNoCallCounter) counters.give_back(call->user_counter);
  erase_at(static_cast<std::size_t>(call - slots_.get()));
}

void ActiveCallTable::erase_at(std::size_t index) {
  std::size_t hole = index;
  for (std::size_t next = (hole + 1) & mask_; slots_[next].key != 0; next = (next + 1) & mask_) {
    // The entry at `next` may fill the hole when its home is not in (hole, next]: moving it
    // there keeps it between its home and where it was.
    const std::size_t distance_from_home = (next - home(slots_[next].key)) & mask_;
    const std::size_t distance_to_hole = (next - hole) & mask_;
    if (distance_from_home >= distance_to_hole) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = ActiveCall{};
  --size_;
}

std::size_t ActiveCallTable::expire(std::int64_t now, CallCounters& counters) {
  if (size_ == 0) return 0;
  const std::size_t span = std::max<std::size_t>(capacity() / 16, 1);
  std::size_t ended = 0;
  for (std::size_t step = 0; step < span; ++step) {
    ActiveCall& slot = slots_[sweep_];
    if (slot.key != 0 && slot.expires <= now) {
      end(&slot, counters);
      ++ended;
      // What moved into this slot is looked at on the next step.
      continue;
    }
    sweep_ = (sweep_ + 1) & mask_;
  }
  return ended;
}

std::size_t ActiveCallTable::holding(std::uint32_t counter) const {
  std::size_t count = 0;
  for (std::size_t i = 0; i <= mask_; ++i) {
    const ActiveCall& call = slots_[i];
    count += call.key != 0 && (call.route_counter == counter || call.user_counter == counter);
  }
  return count;
}

}  // namespace sipline::dataplane

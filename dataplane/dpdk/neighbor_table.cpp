#include "dataplane/dpdk/neighbor_table.hpp"

#include <bit>
#include <cstring>

namespace sipline::dataplane::dpdk {
namespace {

std::uint64_t pack_mac(const rte_ether_addr& mac) {
  std::uint64_t packed = 0;
  std::memcpy(&packed, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  return packed;
}

rte_ether_addr unpack_mac(std::uint64_t packed) {
  rte_ether_addr mac;
  std::memcpy(mac.addr_bytes, &packed, RTE_ETHER_ADDR_LEN);
  return mac;
}

}  // namespace

NeighborTable::NeighborTable(std::size_t capacity, std::uint64_t lifetime_ticks)
    : slot_count_(std::bit_ceil(std::max(capacity, kBucketSlots))),
      bucket_mask_(slot_count_ / kBucketSlots - 1),
      lifetime_(lifetime_ticks),
      slots_(std::make_unique<Slot[]>(slot_count_)) {}

// IPv4 a.b.c.d is stored as ff00::a.b.c.d, an IPv6 multicast address of reserved scope 0
// (RFC 4291 §2.7) that no neighbour ever has (ND refuses multicast), so one 16-octet key
// serves both families without colliding - not even with ::ffff:a.b.c.d.
NeighborTable::Key NeighborTable::key_of(const IpAddress& address) {
  std::uint8_t bytes[16] = {};
  if (is_ipv6(address)) {
    std::memcpy(bytes, address.bytes.data(), 16);
  } else {
    bytes[0] = 0xff;
    std::memcpy(bytes + 12, address.bytes.data(), 4);
  }
  Key key;
  std::memcpy(&key.high, bytes, 8);
  std::memcpy(&key.low, bytes + 8, 8);
  return key;
}

NeighborTable::Slot* NeighborTable::bucket_of(const Key& key) const {
  // Fibonacci hashing of both halves; the low bits of an IPv4 host differ the most.
  const std::uint64_t mixed =
      (key.low ^ (key.high * 0x9E3779B97F4A7C15ull)) * 0x9E3779B97F4A7C15ull;
  const std::size_t bucket = static_cast<std::size_t>(mixed >> 32) & bucket_mask_;
  return &slots_[bucket * kBucketSlots];
}

std::optional<NeighborTable::Snapshot> NeighborTable::read(const Slot& slot) {
  for (unsigned attempt = 0; attempt < kReadAttempts; ++attempt) {
    const std::uint32_t before = slot.sequence.load(std::memory_order_acquire);
    if (before & 1u) continue;
    Snapshot snapshot;
    snapshot.state = slot.state.load(std::memory_order_relaxed);
    snapshot.key.high = slot.key_high.load(std::memory_order_relaxed);
    snapshot.key.low = slot.key_low.load(std::memory_order_relaxed);
    snapshot.mac = slot.mac.load(std::memory_order_relaxed);
    snapshot.expires = slot.expires.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) == before) return snapshot;
  }
  return std::nullopt;
}

void NeighborTable::write(Slot& slot, std::uint32_t state, const Key& key, std::uint64_t mac,
                          std::uint64_t expires) {
  const std::uint32_t sequence = slot.sequence.load(std::memory_order_relaxed);
  slot.sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slot.state.store(state, std::memory_order_relaxed);
  slot.key_high.store(key.high, std::memory_order_relaxed);
  slot.key_low.store(key.low, std::memory_order_relaxed);
  slot.mac.store(mac, std::memory_order_relaxed);
  slot.expires.store(expires, std::memory_order_relaxed);
  slot.sequence.store(sequence + 2, std::memory_order_release);
}

std::optional<rte_ether_addr> NeighborTable::lookup(const IpAddress& address,
                                                    std::uint64_t now) const {
  const Key key = key_of(address);
  const Slot* bucket = bucket_of(key);
  for (std::size_t i = 0; i < kBucketSlots; ++i) {
    const auto snapshot = read(bucket[i]);
    if (!snapshot || snapshot->state == kEmpty) continue;
    if (snapshot->key.high != key.high || snapshot->key.low != key.low) continue;
    if (snapshot->state == kDynamic && now >= snapshot->expires) return std::nullopt;
    return unpack_mac(snapshot->mac);
  }
  return std::nullopt;
}

// Writer side: the writer is the only one changing slots, so it reads them directly.
NeighborTable::Slot* NeighborTable::find(const Key& key) const {
  Slot* bucket = bucket_of(key);
  for (std::size_t i = 0; i < kBucketSlots; ++i) {
    Slot& slot = bucket[i];
    if (slot.state.load(std::memory_order_relaxed) != kEmpty &&
        slot.key_high.load(std::memory_order_relaxed) == key.high &&
        slot.key_low.load(std::memory_order_relaxed) == key.low) {
      return &slot;
    }
  }
  return nullptr;
}

// An empty slot of the key's bucket, else its dynamic entry closest to expiry (expired ones
// first, as they expire earliest); null when every slot is static.
NeighborTable::Slot* NeighborTable::free_or_oldest_dynamic(const Key& key) const {
  Slot* bucket = bucket_of(key);
  Slot* victim = nullptr;
  for (std::size_t i = 0; i < kBucketSlots; ++i) {
    Slot& slot = bucket[i];
    const std::uint32_t state = slot.state.load(std::memory_order_relaxed);
    if (state == kEmpty) return &slot;
    if (state == kDynamic &&
        (victim == nullptr || slot.expires.load(std::memory_order_relaxed) <
                                  victim->expires.load(std::memory_order_relaxed))) {
      victim = &slot;
    }
  }
  return victim;
}

// Most refreshes (every ARP or NA the neighbour sends) keep the MAC: only the expiry moves,
// in one store that needs no seqlock, so a reader never misses an entry that is merely being
// refreshed - not even while the control lcore is descheduled halfway through a refresh.
void NeighborTable::refresh(Slot& slot, const Key& key, std::uint64_t mac, std::uint64_t expires) {
  if (slot.state.load(std::memory_order_relaxed) == kDynamic &&
      slot.mac.load(std::memory_order_relaxed) == mac) {
    slot.expires.store(expires, std::memory_order_relaxed);
    return;
  }
  write(slot, kDynamic, key, mac, expires);
}

NeighborTable::Learned NeighborTable::learn(const IpAddress& address, const rte_ether_addr& mac,
                                            std::uint64_t now) {
  const Key key = key_of(address);
  if (Slot* existing = find(key)) {
    if (existing->state.load(std::memory_order_relaxed) == kStatic) return Learned::Static;
    refresh(*existing, key, pack_mac(mac), now + lifetime_);
    return Learned::Updated;
  }
  Slot* victim = free_or_oldest_dynamic(key);
  if (victim == nullptr) return Learned::Full;
  write(*victim, kDynamic, key, pack_mac(mac), now + lifetime_);
  return Learned::Added;
}

bool NeighborTable::update_if_present(const IpAddress& address, const rte_ether_addr& mac,
                                      std::uint64_t now) {
  const Key key = key_of(address);
  Slot* existing = find(key);
  if (existing == nullptr || existing->state.load(std::memory_order_relaxed) == kStatic) {
    return false;
  }
  refresh(*existing, key, pack_mac(mac), now + lifetime_);
  return true;
}

bool NeighborTable::add_static(const IpAddress& address, const rte_ether_addr& mac) {
  const Key key = key_of(address);
  Slot* slot = find(key);
  if (slot == nullptr) slot = free_or_oldest_dynamic(key);
  if (slot == nullptr) return false;
  write(*slot, kStatic, key, pack_mac(mac), 0);
  return true;
}

}  // namespace sipline::dataplane::dpdk

// The neighbour cache: IPv4 (ARP, RFC 826) and IPv6 (neighbour discovery, RFC 4861)
// addresses of on-link hosts and their MAC addresses, in one fixed-size table.
//
// One writer, many readers, no lock (DESIGN.md §3): the control lcore learns and refreshes
// entries; every worker looks up next hops concurrently. Each slot is a seqlock: the writer
// makes the sequence odd, writes, and makes it even again; a reader that sees the sequence
// change (or odd) retries a few times and otherwise reports a miss, which only makes the
// worker park its datagram and ask again, so a reader never waits on the writer. A refresh
// that keeps the MAC moves only the expiry, outside the seqlock, so it never causes a miss.
//
// Slots are grouped in buckets of eight by address hash; a full bucket evicts its dynamic
// entry closest to expiry. Static entries (from configuration) never expire or move.
#pragma once

#include <rte_ether.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "dataplane/dpdk/net_headers.hpp"

namespace sipline::dataplane::dpdk {

class NeighborTable {
 public:
  // `capacity` is rounded up to a power of two (at least one bucket); `lifetime_ticks` is
  // how long a learned entry is valid, in the unit of the `now` arguments (TSC cycles): in
  // the runtime, NeighborTable(kNeighborCapacity,
  //                            milliseconds_to_ticks(rte_get_tsc_hz(), kNeighborLifetimeMs)).
  NeighborTable(std::size_t capacity, std::uint64_t lifetime_ticks);

  NeighborTable(const NeighborTable&) = delete;
  NeighborTable& operator=(const NeighborTable&) = delete;

  std::size_t capacity() const { return slot_count_; }

  // Any thread. The MAC of `address` when a valid entry exists.
  std::optional<rte_ether_addr> lookup(const IpAddress& address, std::uint64_t now) const;

  // --- writer (the control lcore) only ---
  enum class Learned : std::uint8_t { Added, Updated, Static, Full };
  // Adds or refreshes a dynamic entry (valid until now + lifetime). A static entry for the
  // address is left alone (Static); Full when the bucket holds only static entries.
  Learned learn(const IpAddress& address, const rte_ether_addr& mac, std::uint64_t now);
  // Refreshes the entry only if one exists (RFC 826 "merge"; unsolicited NA). True if so.
  bool update_if_present(const IpAddress& address, const rte_ether_addr& mac, std::uint64_t now);
  // A permanent entry; false when the bucket is full of static entries.
  bool add_static(const IpAddress& address, const rte_ether_addr& mac);

 private:
  static constexpr std::size_t kBucketSlots = 8;
  static constexpr unsigned kReadAttempts = 4;

  enum State : std::uint32_t { kEmpty = 0, kDynamic = 1, kStatic = 2 };

  struct alignas(64) Slot {
    std::atomic<std::uint32_t> sequence{0};  // odd while the writer is changing the slot
    std::atomic<std::uint32_t> state{kEmpty};
    std::atomic<std::uint64_t> key_high{0};
    std::atomic<std::uint64_t> key_low{0};
    std::atomic<std::uint64_t> mac{0};      // six octets in the low 48 bits
    std::atomic<std::uint64_t> expires{0};  // in `now` units; unused for static entries
  };

  struct Key {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
  };
  struct Snapshot {
    std::uint32_t state = kEmpty;
    Key key;
    std::uint64_t mac = 0;
    std::uint64_t expires = 0;
  };

  static Key key_of(const IpAddress& address);
  Slot* bucket_of(const Key& key) const;
  static std::optional<Snapshot> read(const Slot& slot);
  static void write(Slot& slot, std::uint32_t state, const Key& key, std::uint64_t mac,
                    std::uint64_t expires);
  static void refresh(Slot& slot, const Key& key, std::uint64_t mac, std::uint64_t expires);
  Slot* find(const Key& key) const;
  Slot* free_or_oldest_dynamic(const Key& key) const;

  std::size_t slot_count_;
  std::size_t bucket_mask_;
  std::uint64_t lifetime_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace sipline::dataplane::dpdk

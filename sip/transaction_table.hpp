// The per-core transaction table (DESIGN.md §4): the transactions a worker keeps state for,
// so that a pool member that answers 5xx or nothing at all can be replaced by the next
// one (RFC 3261 §16.6-§16.8: a proxy that is stateful for a request may send it to further
// targets until one answers).
//
// One table per worker, touched by that worker only (every message of a call reaches the
// worker that owns its Call-ID), so nothing here locks. Everything is sized at construction:
//   - entries: `capacity`, found by key through an open-addressing index (linear probing,
//     backward-shift deletion: no tombstones, so lookups stay short however long it runs);
//   - stored requests: up to `stored_requests` INVITEs as received, of at most
//     kStoredRequestSize octets, kept only while they may still be sent to another member.
//     Each goes into a slot of the smallest of four size classes (512, 1024, 2048, 4096
//     octets) that fits it: a 700-octet INVITE costs 1 KiB, not 4. Every class has room for
//     all `stored_requests` (virtual memory; pages become resident as slots are first used,
//     and free slots are reused last-in first-out, so the resident set follows the load);
//   - a CANCEL per entry, of at most kCancelSize octets, written when the callee first rang
//     and sent by the proxy itself should Timer C end the call (§16.8); virtual memory too,
//     resident as entries ring, so ringing calls never take the INVITEs' slots;
//   - timers: one deadline per entry, in a binary heap that knows each entry's position (arm,
//     re-arm and cancel in O(log n), no stale timer left behind).
// A full table, or no free slot, is the caller's to count: the call then goes on statelessly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sipline::sip {

class TransactionTable {
 public:
  using Index = std::uint32_t;
  static constexpr Index kNone = ~Index{0};
  // An INVITE of a carrier with SDP is 2-3 KiB; larger ones are forwarded without failover.
  static constexpr std::size_t kStoredRequestSize = 4096;
  static constexpr std::array<std::size_t, 4> kSlotClassSizes = {512, 1024, 2048, 4096};
  static_assert(kSlotClassSizes.back() == kStoredRequestSize);
  // A CANCEL is the INVITE's Request-URI, our Via, From, To, Call-ID and CSeq: a few
  // hundred octets (a larger one is not kept: Timer C then ends tracking without it).
  static constexpr std::size_t kCancelSize = 512;

  // Where the transaction stands, in the terms of the client transaction towards the member
  // it was last sent to (RFC 3261 §17.1.1.2).
  enum class Phase : std::uint8_t {
    Calling,     // sent, nothing heard yet: the failover timer runs
    Proceeding,  // a provisional response came (Timer C runs, §16.6 step 11)
    Completed,   // a final response went upstream: kept to absorb the ACK and retransmissions
  };

  struct Entry {
    std::uint64_t key = 0;     // the UAC's branch and sent-by, hashed (branch.hpp)
    std::uint64_t branch = 0;  // the transaction number in our branch of the current attempt
    std::uint64_t tried = 0;   // pool members tried so far, one bit each
    std::int64_t deadline_ms = 0;
    std::uint16_t pool = 0;
    std::uint16_t last_code = 0;   // the failover code the current attempt's member answered
    std::uint16_t member = 0;      // the current attempt's member
    std::uint8_t attempt = 0;      // 0: the first member
    std::uint8_t retransmits = 0;  // of the current attempt's request (Timer A, §17.1.1.2)
    Phase phase = Phase::Calling;
    std::uint8_t epoch = 0;  // the caller's: which configuration chose `pool` and `member`
    // One bit each, so that the entry stays 48 octets:
    bool may_fail_over : 1 = true;  // cleared by a provisional above 100 and by CANCEL
    bool cancelled : 1 = false;     // the caller sent CANCEL
    bool invite : 1 = true;  // an INVITE transaction (§17.1.1), else a non-INVITE (§17.1.2)
    // The final answer to the caller is ours (408, 487, the last failover code), `last_code`:
    // our server transaction sends it again (Timer G for an INVITE) until the caller's ACK.
    bool answered_here : 1 = false;
    bool caller_acked : 1 = false;  // the caller's ACK for our own final answer came
    // The current attempt is the request sent again with credentials for its member's
    // 401/407 (lb::PoolCredentials): a second challenge goes to the caller.
    bool challenge_answered : 1 = false;
    // Sent to `member` by its Route or Request-URI (a BYE or re-INVITE of a call through a
    // carrier), not chosen from the pool: tracked only to answer the member's challenge, it
    // never fails over.
    bool pinned : 1 = false;
    // The route asserts the caller's identity (assert_identity): every copy of the request
    // carries our P-Asserted-Identity, rebuilt from the stored request's credentials.
    bool asserts_identity : 1 = false;
    // The member challenged our credentials again with stale=true (RFC 7616 §3.3), and was
    // answered once more with its new nonce.
    bool stale_answered : 1 = false;
    // Timer C ran out while the callee rang: our CANCEL went to the member (§16.8), and goes
    // again (Timer E) until the INVITE's final answer or Timer F.
    bool cancel_sent : 1 = false;
    // A user's contacts, one after another (a location route's fork = "serial"): `pool`,
    // `member` and `tried` are unused; the pipeline's hunt state says what was tried.
    bool hunts : 1 = false;
    // A user's contacts all at once (fork = "parallel"): `forks` on the caller's transaction,
    // which is never sent anywhere itself; `fork_branch` on each contact's client
    // transaction, an entry of its own (its request is the caller's entry's stored one).
    bool forks : 1 = false;
    bool fork_branch : 1 = false;
  };

  static_assert(sizeof(Entry) == 48, "an entry's size is counted in bench/memory's figures");

  TransactionTable(std::size_t capacity, std::size_t stored_requests);
  TransactionTable(const TransactionTable&) = delete;
  TransactionTable& operator=(const TransactionTable&) = delete;

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return entries_.size(); }
  bool empty() const { return size_ == 0; }

  Index find(std::uint64_t key) const;
  // A new entry for `key` (which must not be in the table), or kNone when the table is full.
  Index insert(std::uint64_t key);
  // Removes the entry, its timer and its stored request.
  void erase(Index index);

  Entry& at(Index index) { return entries_[index]; }
  const Entry& at(Index index) const { return entries_[index]; }

  // Keeps a copy of `request` with the entry: false (nothing kept) when it is larger than a
  // slot or every slot is in use.
  bool store_request(Index index, std::string_view request);
  // The stored copy, empty when there is none.
  std::string_view stored_request(Index index) const;
  void release_request(Index index);
  // Header lines kept after the stored request (an Authorization line answering a
  // member's challenge), added to every copy of it sent to the current member; moves the
  // request to a larger slot when needed. False (nothing changed) when no request is stored
  // or both would not fit one slot.
  bool attach_trailer(Index index, std::string_view trailer);
  std::string_view stored_trailer(Index index) const;
  void drop_trailer(Index index) { trailer_size_[index] = 0; }
  // The size of the slot the entry's request occupies (its size class), 0 when none.
  std::size_t slot_size(Index index) const {
    const std::uint32_t slot = slot_of_entry_[index];
    return slot == kNoSlot ? 0 : classes_[slot >> kClassShift].size;
  }
  std::size_t stored_count() const { return stored_count_; }

  // The entry's CANCEL (§16.8): written in place into cancel_space(), then kept with
  // keep_cancel(size); stored_cancel() is empty until then and after erase().
  std::span<char> cancel_space(Index index) {
    return {&cancels_[std::size_t{index} * kCancelSize], kCancelSize};
  }
  void keep_cancel(Index index, std::size_t size) {
    cancel_size_[index] = static_cast<std::uint16_t>(size);
  }
  std::string_view stored_cancel(Index index) const {
    return {&cancels_[std::size_t{index} * kCancelSize], cancel_size_[index]};
  }

  // Sets the entry's deadline (replacing any earlier one).
  void arm(Index index, std::int64_t deadline_ms);
  // The entry whose deadline passed earliest, its timer disarmed; kNone when none has passed.
  Index pop_expired(std::int64_t now_ms);
  // The earliest deadline, if any timer is armed.
  std::optional<std::int64_t> next_deadline() const;

 private:
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};

  std::size_t bucket_of(std::uint64_t key) const { return key & bucket_mask_; }
  void unlink_bucket(Index index);
  static std::size_t class_for(std::size_t size);
  void heap_remove(Index index);
  void heap_swap(std::size_t a, std::size_t b);
  void sift_up(std::size_t position);
  void sift_down(std::size_t position);

  std::vector<Entry> entries_;
  std::vector<Index> free_entries_;
  std::vector<Index> buckets_;  // entry index or kNone; twice the capacity, a power of two
  std::size_t bucket_mask_ = 0;
  std::vector<std::uint32_t> bucket_of_entry_;  // where each live entry sits in buckets_
  std::vector<std::uint32_t> heap_position_;    // kNoSlot when the entry has no timer
  std::vector<Index> heap_;
  // One size class of the request store: `stored_requests` slots of `size` octets.
  struct SlotClass {
    std::size_t size = 0;
    std::unique_ptr<char[]> memory;
    std::vector<std::uint32_t> free;  // last freed on top
  };
  char* slot_memory(std::uint32_t slot) const {
    const SlotClass& slots = classes_[slot >> kClassShift];
    return &slots.memory[(slot & kSlotMask) * slots.size];
  }
  static constexpr unsigned kClassShift = 30;  // a slot id: class << 30 | index in the class
  static constexpr std::uint32_t kSlotMask = (std::uint32_t{1} << kClassShift) - 1;

  std::vector<std::uint32_t> slot_of_entry_;  // stored request slot id, or kNoSlot
  std::vector<std::uint32_t> stored_size_;    // octets stored, per entry
  std::vector<std::uint16_t> trailer_size_;   // octets of trailer after them, per entry
  std::array<SlotClass, kSlotClassSizes.size()> classes_;
  std::unique_ptr<char[]> cancels_;         // kCancelSize octets per entry
  std::vector<std::uint16_t> cancel_size_;  // octets of the entry's CANCEL, 0: none
  std::size_t stored_requests_ = 0;
  std::size_t stored_count_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sipline::sip

// Call accounting ([accounting] file): one JSON line per call event, what a carrier's billing
// and a PBX's CDR tools reconcile against (Kamailio's acc module with its default flags: the
// answered INVITE, the failed INVITE, the BYE).
//
// The workers see each event as a message they forward or answer: a final response to an
// INVITE (answered with a 2xx, failed with 300-699 but for a 401/407 challenge), the 2xx of a
// BYE (ended), and their own final answers to an INVITE (404, 480, 486, 408 after a
// fork...). A worker copies the few fields of it into a CallRecord and puts it on its own
// CallRecordRing, never blocking: a full ring is counted (call_records_dropped). The control
// thread drains every ring (CallRecordLog::drain) at each pass of its loop, stamps the time,
// keeps the calls it saw answered (by Call-ID and both tags, either direction), leaves out
// the copies a stateless proxy sees twice (a UAS sends its 2xx again until the ACK, a
// re-INVITE's 2xx is the same dialog), joins each BYE to its call for the duration and who
// hung up, and appends the lines to the file.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dataplane/peer_address.hpp"
#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

struct CallRecord {
  enum class Event : std::uint8_t {
    Answered,  // a 2xx to an INVITE
    Failed,    // a final 300-699 to an INVITE (not a 401/407 challenge), ours or relayed
    Ended,     // a 2xx to a BYE
  };
  // The texts copied from the message, one after the other in `text` (a record touches a few
  // cache lines of its ring slot, not one per field), each cut at its limit.
  // Reason: the response's reason phrase as relayed (empty for our own answers: the log writes
  // the standard phrase of the code).
  enum class Field : std::uint8_t { CallId, FromTag, ToTag, FromUser, ToUser, Reason };
  static constexpr std::size_t kFields = 6;
  static constexpr std::array<std::uint8_t, kFields> kLimits{128, 64, 64, 64, 64, 48};

  Event event = Event::Answered;
  bool local = false;  // the proxy's own answer (no callee)
  std::uint16_t code = 0;
  std::array<std::uint8_t, kFields> sizes{};  // octets of each field kept in `text`
  std::uint8_t cut = 0;                       // bit i: field i was longer than its limit
  PeerAddress caller;                         // where the answer went (the request's sender)
  PeerAddress callee;                         // where it came from (none for our own answers)
  std::array<char, 432> text;

  // Every field at once (the users as written in the URIs, %-escaped).
  void set_texts(std::string_view call_id, std::string_view from_tag, std::string_view to_tag,
                 std::string_view from_user, std::string_view to_user,
                 std::string_view reason = {}) {
    const std::array<std::string_view, kFields> values{call_id,   from_tag, to_tag,
                                                       from_user, to_user,  reason};
    std::size_t offset = 0;
    cut = 0;
    for (std::size_t i = 0; i < kFields; ++i) {
      const std::size_t size = std::min<std::size_t>(values[i].size(), kLimits[i]);
      if (size < values[i].size()) cut |= static_cast<std::uint8_t>(1u << i);
      std::copy_n(values[i].data(), size, text.data() + offset);
      sizes[i] = static_cast<std::uint8_t>(size);
      offset += size;
    }
  }
  std::string_view get(Field field) const {
    const auto index = static_cast<std::size_t>(field);
    std::size_t offset = 0;
    for (std::size_t i = 0; i < index; ++i)
      offset += sizes[i];
    return {text.data() + offset, sizes[index]};
  }
  bool is_cut(Field field) const { return (cut >> static_cast<unsigned>(field)) & 1u; }
};
static_assert(128 + 4 * 64 + 48 <= sizeof(CallRecord::text), "every field fits at its limit");

// One worker's records for the control thread: a single-producer single-consumer ring of
// whole records (copied in, copied out; no pointers into packets that go back to a pool).
class CallRecordRing {
 public:
  CallRecordRing() : slots_(std::make_unique<CallRecord[]>(kCallRecordRingSize)) {}

  // Producer: false (nothing kept) when the ring is full.
  bool push(const CallRecord& record) {
    CallRecord* slot = claim();
    if (slot == nullptr) return false;
    *slot = record;
    commit();
    return true;
  }
  // Producer, without a copy: the next free slot to fill in place (its old contents still
  // there), null when the ring is full; commit() hands it to the consumer.
  CallRecord* claim();
  void commit() {
    tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // Consumer: the records in order, handed to `take` one at a time; how many.
  template <class Take>
  std::size_t drain(Take&& take) {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    for (std::uint64_t i = head; i != tail; ++i)
      take(slots_[i & (kCallRecordRingSize - 1)]);
    head_.store(tail, std::memory_order_release);
    return static_cast<std::size_t>(tail - head);
  }

 private:
  std::unique_ptr<CallRecord[]> slots_;
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // written by the worker
  std::uint64_t cached_head_ = 0;                           // the worker's view of head_
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // written by the control thread
};

// The control thread's side: the calls in progress and the file.
class CallRecordLog {
 public:
  struct Counters {
    // Calls by outcome, each written once: what ASR (answered / (answered + failed)) and ACD
    // (talk_ms / ended_timed) are computed from.
    std::uint64_t answered = 0;
    std::uint64_t failed = 0;
    std::uint64_t ended = 0;
    std::uint64_t ended_timed = 0;  // ended calls whose answer was seen: their duration is known
    std::uint64_t talk_ms = 0;      // the sum of those durations
    std::uint64_t written = 0;      // lines appended
    std::uint64_t duplicates = 0;   // records of an event already written (2xx copies)
    std::uint64_t untracked = 0;    // answered calls beyond kMaxCalls: their BYE has no duration
    std::uint64_t unended = 0;      // answered calls forgotten after kMaxCallMs without a BYE
    std::uint64_t write_errors = 0;
  };
  // Calls remembered at once (about 64 B each); answered calls beyond it are still written.
  static constexpr std::size_t kMaxCalls = 1'000'000;
  // How long an event's copies are recognised after the call failed or ended (64 x T1, the
  // longest a UAS sends its final answer again, RFC 3261 §17.2.1 Timer H).
  static constexpr std::int64_t kEchoWindowMs = 32'000;
  // An answered call whose BYE never came past us (without record_route the phones send it to
  // each other; a phone that lost power sends none) is forgotten after this long, as
  // Kamailio's dialog module ends a dialog at its default timeout (12 h).
  static constexpr std::int64_t kMaxCallMs = 12 * 3600 * 1000;

  // Opens (creates, appends to) `path`; the error text when it cannot.
  std::string open(const std::string& path);
  // Opens the file again by its name (logrotate moved it: a reload, SIGHUP); the error text.
  std::string reopen();
  bool is_open() const { return fd_ >= 0; }
  ~CallRecordLog();

  // One record, taken at `unix_ms`: the line it makes (if any) goes to the buffer.
  void take(const CallRecord& record, std::int64_t unix_ms);
  // Every ring's records, then the buffer written to the file.
  std::size_t drain(std::span<CallRecordRing> rings, std::int64_t unix_ms);
  // Calls ended or failed more than kEchoWindowMs ago are forgotten, and answered ones after
  // kMaxCallMs (counted unended).
  void expire(std::int64_t unix_ms);
  // Appends the buffered lines (write errors counted and logged once).
  void flush();

  const Counters& counters() const { return counters_; }
  std::size_t calls() const { return calls_.size(); }
  // "accounting: answered=N failed=N ended=N ended_timed=N talk_ms=N written=N duplicates=N
  // untracked=N unended=N write_errors=N calls=N\n"
  std::string counters_text() const;
  // The lines not yet flushed (tests).
  const std::string& pending() const { return buffer_; }

 private:
  struct Call {
    std::int64_t answered_ms = 0;  // 0: it failed (no dialog), or we never saw the answer
    std::int64_t done_ms = 0;      // ended or failed at; 0 while in progress
    std::uint64_t caller_tag = 0;  // hash of the INVITE's From tag: who sent the BYE
  };
  void write_line(const CallRecord& record, std::int64_t unix_ms, const Call* call);

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  std::unordered_map<std::uint64_t, Call> calls_;  // by call_key()
  Counters counters_;
  bool logged_write_error_ = false;
};

// What a runtime makes at start for [accounting]: a ring per worker and the open file (none
// of them when accounting is off).
struct CallAccounting {
  std::unique_ptr<CallRecordRing[]> rings;
  std::size_t workers = 0;
  std::unique_ptr<CallRecordLog> log;
  std::string error;  // the file could not be opened (logged): the runtime does not start

  std::span<CallRecordRing> ring_span() const { return {rings.get(), rings ? workers : 0}; }
};
// `record_route`: [domain] record_route (without it the BYEs seldom pass the proxy: warned).
CallAccounting open_call_accounting(const std::string& file, bool record_route,
                                    std::size_t workers);

}  // namespace sipline::dataplane

// Server pools: the SIP servers a [[routes]] rule with `pool` forwards to (a farm of
// Asterisk/FreeSWITCH boxes, a carrier's redundant SBCs), each member's weight, and whether
// the health prober (lb/health_check.hpp, run by the control thread) finds it up.
//
// A new request goes to one member chosen by weighted rendezvous hashing of its Call-ID
// among the members that are up, of the lowest priority that has one up: every message of a call
// (INVITE, its retransmissions and CANCEL, the ACK of a non-2xx answer) reaches the same member
// without any state, as stateless forwarding needs (RFC 3261 §16.11), and when a member goes down
// only the calls that hashed to it move; when it comes back exactly those return. A member's
// identity in the hash is its URI, so the other members' calls stay put when the configuration adds
// or removes one.
//
// Health is one 64-bit word per pool (a bit per member), written by the control thread and
// read by the workers with relaxed loads: a worker never waits, and a request routed with a
// word a moment old goes where it would have gone a moment earlier.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lb/address.hpp"
#include "sip/uri.hpp"

namespace sipline::lb {

inline constexpr std::size_t kMaxPoolMembers = 64;  // one bit each in the health word
inline constexpr std::size_t kMaxPools = 256;
inline constexpr std::uint32_t kMaxMemberWeight = 1000;

struct PoolMember {
  std::string uri;  // as configured, "sip:10.0.0.11:5060": the probes' Request-URI
  sip::UriScheme scheme = sip::UriScheme::Sip;
  SocketAddress address;     // where requests and probes go (absent port: 5060, sips 5061)
  std::uint32_t weight = 1;  // share of new calls relative to the other members, 1..1000
  // Failover order (as DNS SRV priorities, RFC 2782): members of a higher number take calls
  // only while no member of a lower one is up: a standby SBC behind the carrier's active one.
  std::uint8_t priority = 0;
  // Taken out of service by the operator (config, then SIGHUP): no new call, still probed.
  // Calls it already has go on: their in-dialog requests follow Route/Contact, not the pool.
  bool drain = false;

  bool operator==(const PoolMember&) const = default;
};

// The OPTIONS health probes of a pool (RFC 3261 §11.1: OPTIONS asks a server what it can
// do; any answer shows it is there).
struct ProbeSettings {
  // Seconds between two probes of a member; a probe not answered by the next one is lost.
  // 0: the members are never probed and always count as up.
  std::uint32_t interval_s = 10;
  std::uint32_t down_after = 3;  // consecutive lost (or 5xx-answered) probes: member down
  std::uint32_t up_after = 2;    // consecutive answered probes: a down member is up again

  bool operator==(const ProbeSettings&) const = default;
};

// Per-call failover (RFC 3261 §16.7 step 6, §21.5.4): an INVITE that its member answers with
// one of `codes`, or does not answer at all within `timeout_ms`, goes to the next member up
// (the next by the same Call-ID hash, the tried ones left out), as long as no provisional
// response above 100 came (the callee may already be ringing) and the caller did not cancel.
// Needs the worker's transaction table (DESIGN.md §4, sip/transaction_table.hpp).
struct FailoverSettings {
  bool enabled = false;
  std::vector<std::uint16_t> codes = {500, 502, 503, 504};
  std::uint32_t timeout_ms = 2000;  // no response at all (not even 100) within this: next member
  // Timer C (RFC 3261 §16.6 step 11): an INVITE answered provisionally but not finally within
  // this after its last provisional answer is cancelled by the proxy (§16.8). The RFC wants
  // more than 3 minutes; a shorter one is a no-answer policy (Kamailio's fr_inv_timer).
  std::uint32_t timer_c_ms = 180'000;

  bool operator==(const FailoverSettings&) const = default;
};

// The account a carrier's SBCs challenge our requests for (RFC 3261 §22.2): a member's 401
// or 407 to a request sent to the pool is answered with these, once per attempt, instead
// of being passed to the caller, who has no credentials for the carrier's realm.
struct PoolCredentials {
  std::string auth_user;  // the digest username
  std::string password;   // empty: the pool answers no challenge

  bool configured() const { return !password.empty(); }
  bool operator==(const PoolCredentials&) const = default;
};

struct PoolSpec {
  std::string name;
  std::vector<PoolMember> members;  // 1..kMaxPoolMembers, each address once
  ProbeSettings probe;
  FailoverSettings failover;
  PoolCredentials credentials;
  std::uint32_t line = 0;  // the [[pools]] header line, for logs

  // Requests sent to the pool are transaction-stateful (the worker's transaction table):
  // to try another member, or to send the request again with credentials.
  bool tracks_transactions() const { return failover.enabled || credentials.configured(); }
  bool operator==(const PoolSpec&) const = default;
};

// The member for `call_id_hash` among those whose bit is set in `up`: highest weighted
// rendezvous score (Schindelhauer-Schomaker logarithmic method: weight / -ln(u), u drawn
// from the hash of the key and the member's URI). std::nullopt when no member is up.
std::optional<std::size_t> rendezvous_member(std::span<const PoolMember> members,
                                             std::span<const std::uint64_t> member_seeds,
                                             std::uint64_t up, std::uint64_t call_id_hash);

// The hash a pool choice is keyed on.
std::uint64_t pool_key_hash(std::string_view call_id);

// The configured pools and the health of their members. Built once per configuration on the
// control plane; choose() runs per request on a worker and never allocates.
class PoolSet {
 public:
  PoolSet() = default;
  explicit PoolSet(std::vector<PoolSpec> pools);

  std::size_t size() const { return specs_.size(); }
  const PoolSpec& pool(std::size_t index) const { return specs_[index]; }
  std::span<const PoolSpec> specs() const { return specs_; }

  // The member a new request with this Call-ID goes to (index into pool(index).members), or
  // std::nullopt when every member is down.
  std::optional<std::size_t> choose(std::size_t index, std::string_view call_id) const {
    return choose(index, call_id, 0);
  }
  // The same with the members of `excluded` (one bit each) left out: the next member for a
  // call whose earlier members failed it (failover).
  std::optional<std::size_t> choose(std::size_t index, std::string_view call_id,
                                    std::uint64_t excluded) const;

  // Bit i set: member i takes new calls: it is up and not drained. Every member starts up
  // (the first probes go out at start).
  std::uint64_t up_members(std::size_t index) const {
    return health_[index].up.load(std::memory_order_relaxed);
  }
  // The control thread's prober writes the word; drained members, and members a worker found
  // unanswering, stay out whatever `up` says.
  void set_up_members(std::size_t index, std::uint64_t up) {
    Health& health = health_[index];
    const std::uint64_t unanswering = health.unanswering.load(std::memory_order_relaxed);
    health.up.store(up & ~drained_[index] & ~unanswering, std::memory_order_relaxed);
    // A worker that marked a member between the load and the store: take it out again.
    const std::uint64_t late = health.unanswering.load(std::memory_order_relaxed) & ~unanswering;
    if (late != 0) health.up.fetch_and(~late, std::memory_order_relaxed);
  }
  // Failover (FailoverSettings) found `member` not answering an INVITE at all: it takes no new
  // call until it answers a probe again (the prober clears the mark; only probed pools are
  // marked, or nothing would bring it back). Any worker may call it. True when the member
  // was not marked yet.
  // Const: the workers hold the set const; the health words are atomics they may change.
  bool mark_unanswering(std::size_t index, std::size_t member) const {
    const std::uint64_t bit = std::uint64_t{1} << member;
    Health& health = health_[index];
    const std::uint64_t before = health.unanswering.fetch_or(bit, std::memory_order_relaxed);
    health.up.fetch_and(~bit, std::memory_order_relaxed);
    return (before & bit) == 0;
  }
  // The prober: the member answered a probe. True when it was marked.
  bool clear_unanswering(std::size_t index, std::size_t member) {
    const std::uint64_t bit = std::uint64_t{1} << member;
    return (health_[index].unanswering.fetch_and(~bit, std::memory_order_relaxed) & bit) != 0;
  }
  std::uint64_t unanswering_members(std::size_t index) const {
    return health_[index].unanswering.load(std::memory_order_relaxed);
  }
  // Every member of the pool, as a health word.
  std::uint64_t all_members(std::size_t index) const;

 private:
  // One cache line per pool: the prober's store does not disturb the other pools' readers.
  struct alignas(64) Health {
    std::atomic<std::uint64_t> up{0};
    std::atomic<std::uint64_t> unanswering{0};  // marked by workers, cleared by the prober
  };

  std::vector<PoolSpec> specs_;
  std::vector<std::vector<std::uint64_t>> seeds_;  // per pool, per member: its URI's hash
  std::vector<std::uint64_t> drained_;             // per pool: the drained members' bits
  // Per pool: the members of each priority as a mask, lowest priority first.
  std::vector<std::vector<std::uint64_t>> tiers_;
  std::unique_ptr<Health[]> health_;
};

}  // namespace sipline::lb

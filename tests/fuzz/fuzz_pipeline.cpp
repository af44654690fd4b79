// libFuzzer target for the whole packet path of a worker (DESIGN.md §1 steps 2-5): a
// datagram in, what the worker would send (or hand to the control thread) out.
//
// Built once: a PipelineContext from a fixed in-memory config (IPv4 and IPv6 listen
// addresses, record_route on, a route for every action: location with and without proxy
// auth and with serial and parallel forking to a fallback, forward to IPv4 and IPv6 targets,
// forward to ourselves, forward to a server pool, redirect to a fixed contact and to the registered
// ones, reject; number translation to a target, a pool and a location lookup), a LocationTable with
// a few bindings (IPv4, IPv6, a host name, our own address), fixed secrets and a fixed clock, so
// that an input always gets the same decisions. (What carries over between inputs is reset:
// registrations after each REGISTER, the digest authenticators' nonce counts after each input with
// credentials; only the serial inside a fresh challenge's nonce counts up.)
//
// Input layout: octet 0 picks the source (address, port, listen socket; IPv4, IPv6, our own
// addresses), octet 1 the size of the primary output buffer (smaller than the fallback, as a
// DPDK worker's mbuf data room is), the status code of the response variant and which pool
// members are up; the rest is the datagram. Per input:
//   1. the Call-ID scan the worker uses to pick the owner (sip/call_id_scan.hpp);
//   2. Pipeline::process into the primary + fallback buffers;
//   3. a REGISTER for us (ToControl) goes through the control thread's RegisterService,
//      in-process (its store is a MemoryStore behind AsyncStore; the location table is put
//      back to its seed bindings afterwards); a response for the control thread (an answer
//      to one of our probes or trunk REGISTERs) goes to the TrunkRegistrar, then the
//      HealthProber, which must take it;
//   4. a forwarded request is answered "200" by the next hop and that response goes through
//      the pipeline again (when we stamped the sender's Via with its source, RFC 3581, the
//      answer must reach exactly that source);
//   5. a request datagram is also fed as a response (its start line replaced by a status
//      line), so the §16.7 path sees the fuzzed headers too.
// Invariants (abort with a message when broken):
//   - a parsed Call-ID is what the cheap scan found (else a call's messages could be split
//     over two workers); the owner is a worker index;
//   - verdicts and drop reasons are within range, and the pipeline never reports a drop only
//     the worker may count (ring full, control full, send failed, no Call-ID);
//   - a Send outcome: size within the buffer it names (primary unless it did not fit),
//     within a UDP datagram, from an existing socket of the destination's family;
//   - its bytes re-parse with the sipline parser (when the input left headroom under the
//     parser's limits for what we add);
//   - a forwarded request keeps method, Call-ID, CSeq and body, carries our Via on top (our
//     sent-by, a branch whose signature validates), Max-Forwards decremented, our
//     Record-Route, and is not sent to one of our own addresses;
//   - a STUN answer (RFC 5626 keep-alive) goes back to its source from the socket it came
//     in on and is a Binding response with the request's transaction ID; what is absorbed
//     is an ACK for our answer, a member's 100 (response path) or a CRLF/STUN keep-alive;
//   - a local response has the outcome's status code, the request's Call-ID and CSeq, a To
//     tag, the request's Vias, and goes back to the source address from the socket it came in;
//   - a forwarded response has the status code, Call-ID and body of the input and one Via
//     fewer;
//   - the control thread's answer to a REGISTER is a final response with the REGISTER's
//     Call-ID and CSeq and a To tag.
//   - call limits (max_calls on two routes and a user, max_cps on one, a [[call_limits]] group,
//     session timers asked for):
//     each counter equals the calls of the worker's table that hold it, never above its
//     limit (a refused or failed call gives back what it took, and nothing is given back
//     twice).
// Seeds: SIPLINE_FUZZ_WRITE_SEEDS=<folder> writes requests with valid credentials for the
// fixed secret and clock (INVITE/MESSAGE with Proxy-Authorization, REGISTER with
// Authorization), which the fuzzer could not find by itself. SIPLINE_FUZZ_VERBOSE=1 prints
// each input's outcome. Run it with tests/fuzz/run.sh (it builds build-fuzz with clang,
// libFuzzer, ASan, UBSan, and writes those seeds).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/health_prober.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/sizing.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/trunk_registrar.hpp"
#include "sip/branch.hpp"
#include "sip/call_id_scan.hpp"
#include "sip/digest.hpp"
#include "sip/digest_auth.hpp"
#include "sip/limits.hpp"
#include "sip/message.hpp"
#include "sip/registrar.hpp"
#include "sip/stun.hpp"
#include "sip/via.hpp"

namespace {

using namespace sipline;
using namespace sipline::dataplane;

constexpr std::int64_t kNow = 1'800'000'000;  // fixed clock: nonces and expiry repeat
constexpr std::uint32_t kWorkers = 2;

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["127.0.0.1:5060", "[::1]:5060"]
[dataplane]
workers = 2
[domain]
names = ["sipline.fuzz", "127.0.0.1", "[::1]"]
record_route = true
trust_domain = ["198.51.100.0/24"]
[registrar]
store = "memory"
auth = true
algorithms = ["SHA-256", "MD5", "SHA-512-256"]
[[users]]
user = "1001"
password = "fuzz-1001"
caller_id = "+15551231001"
max_calls = 1
[[users]]
user = "1002"
password = "fuzz-1002"
[[users]]
user = "1003"
password = "fuzz-1003"
[[users]]
user = "1004"
password = "fuzz-1004"
[[users]]
user = "1005"
password = "fuzz-1005"
[[users]]
user = "1006"
password = "fuzz-1006"
[[users]]
user = "1100"
password = "fuzz-1100"
[[routes]]
name = "invite-auth"
user_prefix = "1001"
methods = ["INVITE", "MESSAGE"]
action = "location"
auth = true
assert_identity = true
[[routes]]
name = "ring-all"
user_prefix = "1005"
action = "location"
fork = "parallel"
ring_timeout_ms = 1000
fallback = "sip:192.0.2.60:5090"
[[routes]]
name = "by-q"
user_prefix = "1006"
action = "location"
fork = "q-groups"
fork_timeout_ms = 500
ring_timeout_ms = 1000
[[routes]]
name = "users"
user_prefix = "10"
action = "location"
fork = "serial"
fork_timeout_ms = 500
fallback = "sip:operator@[2001:db8::60]"
fallback_codes = [404, 408, 480, 486]
max_calls = 3
[[routes]]
name = "redirect-registered"
user_prefix = "11"
action = "redirect"
[[routes]]
name = "redirect-fixed"
user_prefix = "20"
action = "redirect"
target = "sip:alt@192.0.2.9:5080"
[[routes]]
name = "forbidden"
user_prefix = "40"
action = "reject"
code = 403
[[routes]]
name = "busy-everywhere"
user_prefix = "60"
action = "reject"
code = 600
[[routes]]
name = "to-ourselves"
user_prefix = "50"
action = "forward"
target = "sip:127.0.0.1:5060"
[[routes]]
name = "trunk-v4"
user_prefix = "7"
action = "forward"
target = "sip:192.0.2.50:5070"
max_calls = 2
[[routes]]
name = "trunk-v6"
user_prefix = "8"
action = "forward"
target = "sips:[2001:db8::50]"
call_limit = "shared-trunk"
[[call_limits]]
name = "shared-trunk"
max_calls = 2
max_cps = 3
[[routes]]
name = "e164-to-pool"
user_prefix = "+44"
strip = 3
prepend = "9"
sources = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8", "127.0.0.1", "::1"]
action = "forward"
pool = "servers"
[[routes]]
name = "national-trunk"
user_prefix = "0"
strip = 1
prepend = "+44"
action = "forward"
target = "sip:192.0.2.50:5070"
max_cps = 5
[[routes]]
name = "did-location"
user_prefix = "+1555"
strip = 5
action = "location"
[[pools]]
name = "servers"
members = ["sip:192.0.2.60", { uri = "sip:[2001:db8::60]:5062", weight = 3 }, "sip:127.0.0.1:5060"]
probe_interval = 5
failover = true
failover_timeout_ms = 500
auth_user = "fuzz-account"
password = "fuzz-secret"
[limits]
transaction_table_size = 1024  # the smallest: a renewed pipeline allocates its table again
call_table_size = 1024
session_expires = 90  # limited INVITEs and their 2xx get RFC 4028 headers inserted
[[routes]]
name = "pool"
user_prefix = "9"
sources = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8", "127.0.0.1", "::1"]
action = "forward"
pool = "servers"
[[trunk_registrations]]
name = "carrier"
registrar = "sip:192.0.2.50:5070"
user = "+15551230000"
password = "fuzz-trunk"
[[routes]]
name = "options-anywhere"
methods = ["OPTIONS"]
action = "forward"
target = "sip:198.51.100.1"
)toml";

[[noreturn]] void fail(const char* what, std::string_view output = {}) {
  std::fprintf(stderr, "fuzz_pipeline invariant broken: %s\n", what);
  if (!output.empty()) {
    std::fprintf(stderr, "--- output ---\n");
    std::fwrite(output.data(), 1, output.size(), stderr);  // NULs and all
    std::fprintf(stderr, "\n--- end ---\n");
  }
  std::abort();
}

void check(bool condition, const char* what, std::string_view output = {}) {
  if (!condition) fail(what, output);
}

sip::Binding binding(std::string contact, std::string received, std::uint16_t q_milli = 1000) {
  sip::Binding result;
  result.contact = std::move(contact);
  result.received = std::move(received);
  result.call_id = "seed-registration";
  result.cseq = 1;
  result.expires_at = kNow + 3600;
  result.q_milli = q_milli;
  return result;
}

// A phone another node of a shared store took the REGISTER of (Binding::node_address).
sip::Binding node_binding(std::string contact, std::string received, std::string node) {
  sip::Binding result = binding(std::move(contact), std::move(received), 300);
  result.node_address = std::move(node);
  return result;
}

// Where a datagram comes from and which listen socket took it (index into `listen`).
struct Source {
  const char* peer;
  std::uint8_t socket;
};
constexpr std::array<Source, 8> kSources{{
    {"192.0.2.10:5099", 0},
    {"198.51.100.7:5060", 0},
    {"[2001:db8::10]:5099", 1},
    {"127.0.0.1:5060", 0},  // our own address: a request that looped back to us
    {"[::1]:5060", 1},
    {"10.0.0.5:40000", 0},
    {"203.0.113.5:1", 0},
    {"[2001:db8::99]:65535", 1},
}};

// Primary buffer sizes: 0 (everything goes to the fallback), small, a DPDK mbuf's data
// room (2,000), and one that fits any datagram (socket mode).
constexpr std::array<std::size_t, 4> kPrimarySizes{{0, 600, 2000, kPacketCapacity}};
constexpr std::array<std::uint16_t, 8> kResponseCodes{{100, 180, 200, 302, 404, 487, 503, 699}};

struct World {
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<LocationTable> location;
  std::unique_ptr<PipelineContext> context;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<AsyncStore> store;
  ControlCounters control_counters;
  std::unique_ptr<RegisterService> registrar;
  std::unique_ptr<HealthProber> prober;
  std::unique_ptr<TrunkRegistrar> trunks;
  std::vector<std::pair<std::string, std::vector<sip::Binding>>> seed_bindings;
  std::array<PeerAddress, kSources.size()> sources{};
  // Buffers: output of the pipeline (primary, fallback), of the registrar, the request fed
  // again as a response, the next hop's answer and its forwarded copy.
  std::vector<char> primary = std::vector<char>(kPacketCapacity);
  std::vector<char> fallback = std::vector<char>(kPacketCapacity);
  std::vector<char> control_out = std::vector<char>(kPacketCapacity);
  std::vector<char> variant = std::vector<char>(kPacketCapacity + 64);
  std::vector<char> answer = std::vector<char>(kPacketCapacity + 64);
  std::vector<char> answer_out = std::vector<char>(kPacketCapacity);
  std::vector<char> transaction_out = std::vector<char>(kPacketCapacity);
  // Failover (the pool fails over): the next hop's answer to a forwarded request this input
  // (200, 503 or none) and the transaction timers' clock, moved on at the end of each input.
  std::uint16_t next_hop_answer = 200;
  std::int64_t clock_ms = 0;
  std::unique_ptr<sip::Message> reparsed = std::make_unique<sip::Message>();
  std::unique_ptr<sip::Message> request_copy = std::make_unique<sip::Message>();
  // The response as it parsed: after a tracked request is sent again (failover, a challenge
  // answered) the pipeline's own Message holds that request.
  std::unique_ptr<sip::Message> response_copy = std::make_unique<sip::Message>();
  // Call accounting: what the pipeline records of each input (checked, then dropped).
  CallRecordRing call_records;
  // Concurrent-call limits (max_calls): renewed with the pipeline, whose table holds them.
  std::unique_ptr<CallCounters> call_counters;
  std::uint64_t inputs = 0;
  // SIPLINE_FUZZ_VERBOSE=1: one line per input with the outcome (replaying by hand).
  bool verbose = std::getenv("SIPLINE_FUZZ_VERBOSE") != nullptr;
};

// The call records an input made: an INVITE's final answer (a 2xx answered, 300-699 but a
// challenge failed) or a BYE's 2xx (ended).
void check_call_records(World& w) {
  w.call_records.drain([](const CallRecord& record) {
    switch (record.event) {
      case CallRecord::Event::Answered:
      case CallRecord::Event::Ended:
        check(record.code >= 200 && record.code < 300, "a call record of a 2xx is not one");
        break;
      case CallRecord::Event::Failed:
        check(record.code >= 300 && record.code < 700 && record.code != 401 && record.code != 407,
              "a failed call's record has a code that is no failure");
        break;
    }
    check(!record.local || record.event == CallRecord::Event::Failed,
          "the proxy's own answer recorded as answered or ended");
  });
}

// Every place a limited route or user has taken is held by a call in the worker's table: none
// leaks (a refused or failed call gives back what it took) and none is given back twice.
void check_call_limits(const World& w) {
  const PipelineContext& context = *w.context;
  const ActiveCallTable& table = *w.pipeline->active_calls();
  for (const PipelineContext::CallLimit& limit : context.route_limits) {
    if (limit.max == 0) continue;
    check(w.call_counters->calls(limit.counter) == table.holding(limit.counter) &&
              table.holding(limit.counter) <= limit.max,
          "a route's count of calls disagrees with the calls its worker holds");
  }
  for (const auto& [user, limit] : context.user_limits) {
    check(w.call_counters->calls(limit.counter) == table.holding(limit.counter) &&
              table.holding(limit.counter) <= limit.max,
          "a user's count of calls disagrees with the calls its worker holds");
  }
}

// A fresh pipeline and registrar: their digest authenticators remember nonce counts (replay
// protection), so an input with credentials would change how the next one is judged.
void renew_authenticators(World& w) {
  w.call_counters = std::make_unique<CallCounters>();
  w.context->attach_call_counters(*w.call_counters);
  w.pipeline = std::make_unique<Pipeline>(*w.context, 0);
  w.pipeline->set_call_records(&w.call_records);
  w.registrar =
      std::make_unique<RegisterService>(*w.context, *w.location, *w.store, w.control_counters);
}

// Credentials anywhere in the datagram ("Authorization", any case; Proxy- too).
bool mentions_authorization(std::string_view datagram) {
  constexpr std::string_view kName = "authorization";
  const auto it = std::search(datagram.begin(), datagram.end(), kName.begin(), kName.end(),
                              [](char a, char b) { return (a | 0x20) == b; });
  return it != datagram.end();
}

void reset_location(World& world) {
  for (const auto& [aor, bindings] : world.seed_bindings) {
    world.location->replace(aor, bindings);
  }
  world.location->quiescent(0);
  world.location->reclaim();
}

World& world() {
  static World* instance = [] {
    auto* w = new World;
    const config::LoadResult loaded = config::load_config_text(kConfig, "fuzz_pipeline.toml");
    if (!loaded.ok()) {
      for (const std::string& error : loaded.errors)
        std::fprintf(stderr, "%s\n", error.c_str());
      fail("the fuzz config does not load");
    }
    w->config = loaded.config;
    w->location = std::make_unique<LocationTable>(1, 4);
    w->context = PipelineContext::create(w->config, w->location.get());
    // Fixed secrets instead of the per-boot random ones: deterministic branches, tags, nonces.
    w->context->identity.branch_key.secret = 0x5eed'0123'4567'89abULL;
    w->context->to_tag_key = 0x7a9'7a9'7a9ULL;
    for (std::size_t i = 0; i < w->context->nonce_secret.size(); ++i)
      w->context->nonce_secret[i] = static_cast<std::uint8_t>(0xA5 ^ i);
    w->store = std::make_unique<AsyncStore>(std::make_unique<MemoryStore>());
    renew_authenticators(*w);
    w->prober = std::make_unique<HealthProber>(*w->context, w->context->pools);
    w->trunks = std::make_unique<TrunkRegistrar>(*w->context, [] { return std::int64_t{0}; });
    w->trunks->poll();  // its first REGISTER in flight (no sender: "lost")
    w->seed_bindings = {
        {"1001", {binding("sip:1001@192.0.2.21:5062", "192.0.2.21:5062")}},
        {"1002",
         {binding("sip:1002@[2001:db8::22]:5062", "", 800),
          binding("sip:1002@phone.example:5060", "", 500)}},
        {"1003", {binding("sip:1003@phone.example", "")}},   // a name: 480
        {"1004", {binding("sip:1004@127.0.0.1:5060", "")}},  // ourselves: 482
        {"1005",
         {binding("sip:1005@192.0.2.51:5060", "192.0.2.51:5060"),
          binding("sip:1005@192.0.2.52:5062", ""), binding("sip:1005@[2001:db8::53]", "", 500),
          binding("sip:1005@127.0.0.1:5060", "", 400),
          // behind NAT, registered at another node: through it, aliased
          node_binding("sip:1005@10.0.0.55:5060", "198.51.100.55:40000", "198.51.100.9:5060")}},
        {"1006",  // by q groups: two at 1.0, then one at 0.5, then one at 0.3
         {binding("sip:1006@192.0.2.56:5060", ""), binding("sip:1006@192.0.2.57:5062", ""),
          binding("sip:1006@192.0.2.58:5064", "", 500),
          binding("sip:1006@[2001:db8::59]", "", 300)}},
        {"1100",
         {binding("sip:1100@192.0.2.30:5060;transport=udp", "192.0.2.30:5060", 1000),
          binding("sips:1100@[2001:db8::30]", "", 250), binding("sip:1100@h.example", "", 0)}},
    };
    reset_location(*w);
    for (std::size_t i = 0; i < kSources.size(); ++i) {
      const std::optional<PeerAddress> peer = peer_from_text(kSources[i].peer);
      if (!peer) fail("a fuzz source address does not parse");
      w->sources[i] = *peer;
    }
    return w;
  }();
  return *instance;
}

std::string_view strip_brackets(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool same_host(const PeerAddress& a, const PeerAddress& b) {
  return format_peer_host(a).view() == format_peer_host(b).view();
}

bool is_listen_address(const World& w, const PeerAddress& address) {
  for (const PeerAddress& ours : w.context->listen) {
    if (same_peer(ours, address)) return true;
  }
  return false;
}

// Room left under the parser's limits for what the writers add (a Via, a Record-Route,
// Max-Forwards, a To tag, challenge or Contact lines), so that a failed re-parse is a
// finding and not the input sitting at a limit.
bool has_headroom(const sip::Message& input, std::size_t written_size) {
  return written_size <= sip::kMaxMessageSize && input.field_count + 8u <= sip::kMaxHeaders &&
         input.via_count + 1u <= sip::kMaxVias;
}

// What sipline wrote parses again in full, except a relayed response: it keeps the From and
// To it came with, which the pipeline's scope (ParseScope::Proxy) did not parse.
const sip::Message& reparse(World& w, std::string_view text, const char* what,
                            sip::ParseScope scope = sip::ParseScope::Full) {
  sip::parse_message_into(*w.reparsed, text, scope);
  if (!w.reparsed->ok()) {
    std::fprintf(stderr, "%s does not parse again: %.*s\n", what,
                 static_cast<int>(sip::describe(w.reparsed->error).size()),
                 sip::describe(w.reparsed->error).data());
    fail("written message does not parse", text);
  }
  return *w.reparsed;
}

bool first_record_route_has(const sip::Message& message, std::string_view uri) {
  const sip::HeaderField* field = message.find(sip::HeaderId::RecordRoute);
  return field != nullptr && field->value.find(uri) != std::string_view::npos;
}

// What every Send outcome must satisfy, whatever its kind; returns its bytes.
std::string_view check_send(const World& w, const Outcome& outcome, const OutputBuffers& out) {
  check(outcome.size > 0, "Send of nothing");
  check(outcome.size <= kMaxUdpSendPayload, "Send larger than a UDP datagram");
  const std::span<char> buffer = outcome.in_fallback ? out.fallback : out.primary;
  check(outcome.size <= buffer.size(), "Send larger than the buffer it was written into");
  if (outcome.in_fallback) {
    check(outcome.size > out.primary.size(), "written into the fallback but fit the primary");
  }
  check(outcome.socket < w.context->listen.size(), "Send from a socket that does not exist");
  check(w.context->listen[outcome.socket].is_ipv6() == outcome.destination.is_ipv6(),
        "Send from a socket of the other address family");
  if (outcome.destination.empty() || outcome.destination.port() == 0) {
    std::fprintf(stderr, "kind %d code %u to %s\n", static_cast<int>(outcome.kind), outcome.code,
                 format_peer(outcome.destination).view().data());
    fail("Send to no address or port 0",
         {outcome.in_fallback ? out.fallback.data() : out.primary.data(), outcome.size});
  }
  return {buffer.data(), outcome.size};
}

void check_drop(const Outcome& outcome) {
  check(static_cast<std::size_t>(outcome.drop) < kDropReasonCount, "drop reason out of range");
  // These are the worker's to count; the pipeline never sees a ring or a socket.
  check(outcome.drop != DropReason::RingFull && outcome.drop != DropReason::ControlFull &&
            outcome.drop != DropReason::SendFailed && outcome.drop != DropReason::NoCallId,
        "the pipeline reported a worker-only drop reason");
}

void check_forwarded_response(World& w, const sip::Message& response, std::string_view bytes) {
  if (!response.ok() || !has_headroom(response, bytes.size())) return;
  // A second Via is parsed only when popped; if it is malformed the output rightly fails.
  if (response.via_count < 2 || !sip::parse_via(response.vias[1].text).ok()) return;
  const std::string_view call_id = response.call_id;
  const std::uint16_t code = response.status_code;
  const std::uint8_t vias = response.via_count;
  const std::string_view body = response.body;
  const sip::Message& forwarded = reparse(w, bytes, "forwarded response", sip::ParseScope::Proxy);
  // The status as received; a tracked transaction's 503 goes as 500 (RFC 3261 §16.7 step 6).
  check(forwarded.is_response() &&
            (forwarded.status_code == code || (code == 503 && forwarded.status_code == 500)),
        "forwarded response: status changed", bytes);
  check(forwarded.call_id == call_id, "forwarded response: Call-ID changed", bytes);
  check(forwarded.via_count + 1 == vias, "forwarded response: not exactly one Via popped", bytes);
  check(forwarded.body == body, "forwarded response: body changed", bytes);
}

// The failover transactions' sends (pool_failover.cpp) due by `now_ms` (kPendingSendsOnly: only
// what the last process() set off): each is a Drop or a Send of our ACK or CANCEL, a request
// again (to another member), or our 100 / 408 / 487 to its caller.
void drain_transactions(World& w, std::int64_t now_ms) {
  const OutputBuffers out{w.transaction_out, {}};
  for (int sends = 0; sends < 64 && w.pipeline->has_transaction_work(now_ms); ++sends) {
    const std::optional<Outcome> outcome = w.pipeline->next_transaction_send(now_ms, out);
    if (!outcome) break;
    if (outcome->verdict == Verdict::Drop) {
      check_drop(*outcome);
      continue;
    }
    check(outcome->verdict == Verdict::Send, "transaction work neither sends nor drops");
    const std::string_view bytes = check_send(w, *outcome, out);
    // Our ACK, a request sent on to the next member, 100 Trying, or a final answer to a
    // caller no member is left for (408, 487, the last failover code), ours or a phone's
    // that a parallel fork kept and relays (a 3xx-6xx).
    const bool response = bytes.substr(0, 8) == "SIP/2.0 ";
    const bool relayed_failure = outcome->kind == SendKind::ForwardedResponse && bytes.size() > 8 &&
                                 bytes[8] >= '3' && bytes[8] <= '6';
    check(!response || bytes.substr(8, 4) == "100 " || relayed_failure ||
              (outcome->kind == SendKind::LocalResponse && outcome->code >= 300),
          "transaction work answers other than 100 or a final answer", bytes);
    if (!response) {
      check(!is_listen_address(w, outcome->destination), "transaction work sent to ourselves");
    }
  }
}

// At the end of an input every timer fires (the clock moves 10 minutes at a time) until no
// transaction is left: the next input starts with an empty table.
void settle_transactions(World& w) {
  const sip::TransactionTable* table = w.pipeline->transactions();
  for (int round = 0; round < 8 && table != nullptr && !table->empty(); ++round) {
    w.clock_ms += 600'000;
    w.pipeline->set_clock_ms(w.clock_ms);
    drain_transactions(w, w.clock_ms);
  }
  check(table == nullptr || table->empty(), "transactions left after every timer fired");
}

// A response datagram through the pipeline (§16.7); `input` must stay alive.
Outcome process_response(World& w, std::string_view input, const PeerAddress& from,
                         std::uint8_t socket, std::span<char> primary, std::span<char> fallback) {
  const OutputBuffers out{primary, fallback};
  const Outcome outcome = w.pipeline->process(Inbound{input, from, socket}, kNow, out);
  sip::parse_message_into(*w.response_copy, input, sip::ParseScope::Proxy);
  const sip::Message& response = *w.response_copy;
  switch (outcome.verdict) {
    case Verdict::Send: {
      check(response.is_response(), "a response path Send for a request");
      if (outcome.kind == SendKind::ForwardedRequest) {
        // A pool member failed a request that fails over: our ACK for an INVITE's answer
        // (§17.1.1.3), or a non-INVITE sent on to the next member at once.
        const std::string_view bytes = check_send(w, outcome, out);
        const bool invite = response.cseq.method == sip::Method::Invite;
        check(response.status_code >= 300 &&
                  (invite ? bytes.substr(0, 4) == "ACK " : bytes.substr(0, 4) != "ACK "),
              "a response turned into a request other than our ACK or a failover", bytes);
        check(!is_listen_address(w, outcome.destination), "a failover sent to ourselves");
        break;
      }
      if (outcome.kind == SendKind::LocalResponse) {
        // A non-INVITE that failed over to no member left it can be sent to (our own
        // address, one out for not answering): its caller gets our final answer at once.
        check(outcome.code >= 300 && response.cseq.method != sip::Method::Invite &&
                  response.status_code >= 300,
              "a response answered locally", check_send(w, outcome, out));
        break;
      }
      check(outcome.kind == SendKind::ForwardedResponse, "a response answered locally");
      check_forwarded_response(w, response, check_send(w, outcome, out));
      break;
    }
    case Verdict::Drop:
      check_drop(outcome);
      break;
    case Verdict::ToControl:
      // Only the answer to a request we sent ourselves (our Via alone, signed branch).
      check(response.is_request() || w.trunks->take_answer(input) || w.prober->take_answer(input),
            "a response handed to the control thread that the prober refuses");
      break;
    case Verdict::Absorbed:
      // A member's 100 to an INVITE we answered 100 ourselves (§16.7 step 5), or its answer
      // to a CANCEL of ours (§16.8, §16.10).
      check(response.is_request() ||
                (outcome.absorb == Absorb::Trying && response.status_code == 100) ||
                (outcome.absorb == Absorb::CancelAnswer &&
                 response.cseq.method == sip::Method::Cancel),
            "a response absorbed");
      break;
  }
  drain_transactions(w, kPendingSendsOnly);
  return outcome;
}

// The request as the input parsed it, kept while the pipeline's own Message is reused.
void keep_request_copy(World& w, std::string_view datagram) {
  sip::parse_message_into(*w.request_copy, datagram);
}

// The next hop answers 200 to what we forwarded (the Vias as it received them); the answer
// must come back to the sender. RFC 3581 §4: when we stamped the sender's Via with its source
// (rport = source port, received = source address: sipline does so for a single valueless
// rport below the parameter limit, see sip::sender_via_stamp), the sender gets the answer at
// exactly the address and port it sent from.
void answer_forwarded_request(World& w, const Outcome& forwarded, std::string_view bytes,
                              const PeerAddress& sender, bool stamped_with_source) {
  const std::size_t line_end = bytes.find("\r\n");
  if (line_end == std::string_view::npos) fail("forwarded request has no CRLF", bytes);
  if (w.next_hop_answer == 0) return;  // no answer: the failover timer's case
  const bool fail_it = w.next_hop_answer == 503;
  // A challenge (the "servers" pool answers it with its credentials, pool_challenge.cpp).
  const bool challenge = w.next_hop_answer == 407;
  const std::string_view kStatusLine =
      fail_it     ? "SIP/2.0 503 Fuzz"
      : challenge ? "SIP/2.0 407 Fuzz\r\nProxy-Authenticate: Digest realm=\"fuzz\", "
                    "nonce=\"n-1\", algorithm=SHA-256, qop=\"auth\", opaque=\"o\""
                  : "SIP/2.0 200 OK";
  const std::size_t size = kStatusLine.size() + bytes.size() - line_end;
  if (size > sip::kMaxMessageSize) return;
  std::memcpy(w.answer.data(), kStatusLine.data(), kStatusLine.size());
  std::memcpy(w.answer.data() + kStatusLine.size(), bytes.data() + line_end,
              bytes.size() - line_end);
  const std::string_view answer(w.answer.data(), size);
  const Outcome outcome =
      process_response(w, answer, forwarded.destination, forwarded.socket, w.answer_out, {});
  // A 503 of a call that fails over, or a challenge we answer, is not passed back (an
  // INVITE's is ACKed by us).
  if (!stamped_with_source ||
      ((fail_it || challenge) && outcome.kind == SendKind::ForwardedRequest)) {
    return;
  }
  if (outcome.verdict != Verdict::Send) {
    std::fprintf(stderr, "verdict %d drop %s\n", static_cast<int>(outcome.verdict),
                 std::string(drop_reason_name(outcome.drop)).c_str());
    fail("the answer to a forwarded request does not go back", answer);
  }
  if (!same_peer(outcome.destination, sender)) {
    std::fprintf(stderr, "sent from %s, answered to %s\n", format_peer(sender).view().data(),
                 format_peer(outcome.destination).view().data());
    fail("the answer to a forwarded request (rport) goes elsewhere than its sender", answer);
  }
}

void check_forwarded_request(World& w, const Outcome& outcome, std::string_view bytes,
                             const PeerAddress& sender) {
  const sip::Message& request = *w.request_copy;
  check(!is_listen_address(w, outcome.destination), "a request forwarded to ourselves");
  if (!has_headroom(request, bytes.size())) return;
  const sip::Message& forwarded = reparse(w, bytes, "forwarded request");
  check(forwarded.is_request(), "forwarded request became a response", bytes);
  check(forwarded.method_text == request.method_text, "forwarded request: method", bytes);
  check(forwarded.call_id == request.call_id, "forwarded request: Call-ID", bytes);
  check(forwarded.cseq.number == request.cseq.number &&
            forwarded.cseq.method_text == request.cseq.method_text,
        "forwarded request: CSeq", bytes);
  check(forwarded.body == request.body, "forwarded request: body", bytes);
  check(forwarded.via_count == request.via_count + 1, "forwarded request: Via count", bytes);
  const sip::ListenAddress& ours = w.context->identity.listen_address(outcome.socket);
  check(forwarded.top_via.sent_by.host == ours.host() &&
            forwarded.top_via.sent_by.port == ours.port(),
        "forwarded request: top Via is not our sent-by", bytes);
  check(sip::branch_is_ours(forwarded.top_via.branch, w.context->identity.branch_key),
        "forwarded request: our branch does not validate", bytes);
  check(forwarded.has_max_forwards, "forwarded request: no Max-Forwards", bytes);
  const unsigned expected_max_forwards =
      request.has_max_forwards ? request.max_forwards - 1u : sip::kDefaultMaxForwards;
  check(forwarded.max_forwards == expected_max_forwards, "Max-Forwards not decremented", bytes);
  check(first_record_route_has(forwarded, ours.record_route_uri()),
        "forwarded request: our Record-Route is not on top", bytes);
  if (request.method != sip::Method::Ack && request.method != sip::Method::Cancel) {
    // The sender's Via as we forwarded it (parsed now: `forwarded` is reused below).
    const sip::Parsed<sip::Via> sender_via = sip::parse_via(forwarded.vias[1].text);
    const PeerText source = format_peer_host(sender);
    const bool stamped_with_source = sender_via.ok() && sender_via.value.maddr.empty() &&
                                     sender_via.value.rport == sender.port() &&
                                     strip_brackets(sender_via.value.received) == source.view();
    answer_forwarded_request(w, outcome, bytes, sender, stamped_with_source);
  }
}

// A STUN Binding request's answer (RFC 5389, sip/stun.hpp): back to the source from the socket
// it came in on, a Binding success or error response with the request's transaction ID.
void check_stun_answer(const Outcome& outcome, std::string_view bytes, const Inbound& in) {
  check(sip::looks_like_stun(in.bytes), "a STUN answer to something else than STUN");
  check(outcome.socket == in.socket && same_host(outcome.destination, in.peer) &&
            outcome.destination.port() == in.peer.port(),
        "a STUN answer not sent back to its source");
  check(bytes.size() <= sip::kStunMaxAnswerSize && sip::looks_like_stun(bytes) &&
            (bytes.substr(0, 2) == std::string_view("\x01\x01", 2) ||
             bytes.substr(0, 2) == std::string_view("\x01\x11", 2)) &&
            bytes.substr(8, 12) == in.bytes.substr(8, 12),
        "a STUN answer that is not a Binding response to the request", bytes);
}

void check_local_response(World& w, const Outcome& outcome, std::string_view bytes,
                          const Inbound& in) {
  const sip::Message& request = *w.request_copy;
  check(request.is_request(), "a local response to a response");
  check(request.method != sip::Method::Ack, "an ACK was answered");
  check(outcome.code >= 200 && outcome.code <= 699, "local response code out of range");
  check(outcome.socket == in.socket, "local response leaves from another socket");
  check(same_host(outcome.destination, in.peer), "local response not sent to the source");
  char status[16];
  const int status_size = std::snprintf(status, sizeof status, "SIP/2.0 %u ", outcome.code);
  check(bytes.substr(0, static_cast<std::size_t>(status_size)) == status,
        "local response: status line is not the outcome's code", bytes);
  if (!request.ok() || !has_headroom(request, bytes.size())) return;
  const sip::Message& answer = reparse(w, bytes, "local response");
  check(answer.is_response() && answer.status_code == outcome.code, "local response: status code",
        bytes);
  check(answer.call_id == request.call_id, "local response: Call-ID", bytes);
  check(answer.cseq.number == request.cseq.number &&
            answer.cseq.method_text == request.cseq.method_text,
        "local response: CSeq", bytes);
  check(answer.to.has_tag, "local response: To has no tag", bytes);
  check(answer.via_count == request.via_count, "local response: Vias", bytes);
  if (outcome.code == 407) {
    check(answer.find(sip::HeaderId::ProxyAuthenticate) != nullptr,
          "407 without Proxy-Authenticate", bytes);
  }
  if (outcome.code == 302) {
    check(answer.find(sip::HeaderId::Contact) != nullptr, "302 without Contact", bytes);
  }
}

// The control thread's registrar, as a worker's ToControl would reach it.
void register_in_control(World& w, const Inbound& in) {
  const sip::Message& request = *w.request_copy;
  check(request.ok() && request.method == sip::Method::Register,
        "ToControl for something else than a parsed REGISTER");
  const RegisterService::Reply reply = w.registrar->handle(in.bytes, in.peer, kNow, w.control_out);
  if (w.verbose) {
    std::fprintf(stderr, "fuzz_pipeline: registrar %s %.12s\n", reply.ok ? "answers" : "drops",
                 reply.ok ? w.control_out.data() : "");
  }
  if (reply.ok) {
    check(reply.size > 0 && reply.size <= w.control_out.size(), "registrar answer size");
    check(same_host(reply.destination, in.peer), "registrar answer not sent to the source");
    const std::string_view bytes(w.control_out.data(), reply.size);
    if (has_headroom(request, reply.size)) {
      const sip::Message& answer = reparse(w, bytes, "registrar answer");
      check(answer.is_response() && answer.status_code >= 200 && answer.status_code <= 699,
            "registrar answer: not a final response", bytes);
      check(answer.call_id == request.call_id, "registrar answer: Call-ID", bytes);
      check(answer.cseq.number == request.cseq.number, "registrar answer: CSeq", bytes);
      check(answer.to.has_tag, "registrar answer: To has no tag", bytes);
    }
  }
  // Registrations must not leak into the next input (determinism).
  reset_location(w);
}

// The request fed again as a response: the start line becomes a status line.
void request_as_response(World& w, std::string_view datagram, std::uint8_t selector,
                         const Inbound& in) {
  const std::size_t line_end = datagram.find("\r\n");
  if (line_end == std::string_view::npos) return;
  char status[32];
  const int status_size = std::snprintf(status, sizeof status, "SIP/2.0 %u Fuzz",
                                        kResponseCodes[(selector >> 2) % kResponseCodes.size()]);
  const std::size_t size = static_cast<std::size_t>(status_size) + datagram.size() - line_end;
  if (size > w.variant.size()) return;
  std::memcpy(w.variant.data(), status, static_cast<std::size_t>(status_size));
  std::memcpy(w.variant.data() + status_size, datagram.data() + line_end,
              datagram.size() - line_end);
  const std::string_view variant(w.variant.data(), size);
  process_response(w, variant, in.peer, in.socket, std::span(w.primary).first(2000), w.fallback);
}

// ---- seeds with valid credentials ---------------------------------------------------------
// The fuzzer cannot find a digest response by itself; these seeds carry one, computed for the
// fixed secret and clock, so that mutations start from authenticated INVITEs and REGISTERs
// (the auth-passed route, the registrar's 200 and its table and store updates).

std::string credentials(const char* header, sip::DigestAlgorithm algorithm, const char* user,
                        const char* password, const char* method, const char* uri) {
  const World& w = world();
  sip::NonceService nonces(sip::NonceSettings{
      .secret = w.context->nonce_secret, .realm = "sipline.fuzz", .lifetime_s = 300, .issuer = 0});
  const sip::NonceText nonce = nonces.issue(kNow);
  const sip::DigestHex ha1 = sip::digest_ha1(algorithm, user, "sipline.fuzz", password);
  const sip::DigestHex response = sip::digest_response(sip::DigestResponseInput{
      .algorithm = algorithm,
      .ha1 = ha1.view(),
      .method = method,
      .uri = uri,
      .nonce = nonce.view(),
      .nc = "00000001",
      .cnonce = "0a4f113b",
      .qop = "auth",
  });
  return std::string(header) + ": Digest username=\"" + user +
         "\",realm=\"sipline.fuzz\",nonce=\"" + std::string(nonce.view()) + "\",uri=\"" + uri +
         "\",response=\"" + std::string(response.view()) +
         "\",algorithm=" + std::string(sip::digest_algorithm_name(algorithm)) +
         ",cnonce=\"0a4f113b\",nc=00000001,qop=auth,opaque=\"" + std::string(nonces.opaque()) +
         "\"\r\n";
}

std::string request(const char* method, const char* uri, const char* from_user, const char* to_user,
                    const std::string& extra) {
  return std::string(method) + " " + uri +
         " SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5099;rport;branch=z9hG4bK-seed-" + method +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:" + from_user +
         "@sipline.fuzz>;tag=seed\r\nTo: <sip:" + to_user + "@sipline.fuzz>\r\nCall-ID: seed-" +
         method + "@192.0.2.10\r\nCSeq: 7 " + method + "\r\nContact: <sip:" + from_user +
         "@192.0.2.10:5099>\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

void write_seed(const std::string& folder, const char* name, std::string_view selectors,
                const std::string& message) {
  std::ofstream out(folder + "/" + name, std::ios::binary);
  out << selectors << message;
}

// The pool members' 200 to the prober's OPTIONS (signed under the fixed branch key): the
// answers the workers hand to the control thread, which the fuzzer could not forge.
void write_probe_answer_seeds(const std::string& folder) {
  World& w = world();
  std::vector<std::string> probes;
  w.prober->set_sender([&probes](std::string_view datagram, std::size_t, const PeerAddress&) {
    probes.emplace_back(datagram);
    return true;
  });
  w.prober->poll(0);
  w.prober->set_sender(nullptr);
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const std::string& probe = probes[i];
    const std::size_t line_end = probe.find("\r\n");
    write_seed(folder, ("seed-probe-answer-" + std::to_string(i)).c_str(),
               std::string_view("\0\342", 2), "SIP/2.0 200 OK" + probe.substr(line_end));
  }
}

void write_auth_seeds(const std::string& folder) {
  using sip::DigestAlgorithm;
  const char* invite_uri = "sip:1001@sipline.fuzz";
  write_seed(folder, "seed-invite-auth-md5", std::string_view("\0\2", 2),
             request("INVITE", invite_uri, "1002", "1001",
                     credentials("Proxy-Authorization", DigestAlgorithm::Md5, "1002", "fuzz-1002",
                                 "INVITE", invite_uri)));
  write_seed(folder, "seed-message-auth-sha256", std::string_view("\2\1", 2),
             request("MESSAGE", invite_uri, "1003", "1001",
                     credentials("Proxy-Authorization", DigestAlgorithm::Sha256, "1003",
                                 "fuzz-1003", "MESSAGE", invite_uri)));
  const char* register_uri = "sip:sipline.fuzz";
  write_seed(
      folder, "seed-register-sha512", std::string_view("\0\3", 2),
      request("REGISTER", register_uri, "1002", "1002",
              "Expires: 600\r\n" + credentials("Authorization", DigestAlgorithm::Sha512_256, "1002",
                                               "fuzz-1002", "REGISTER", register_uri)));
  write_seed(folder, "seed-register-star", std::string_view("\5\2", 2),
             "REGISTER sip:sipline.fuzz SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:40000;branch=z9hG4bK-s"
             "\r\nMax-Forwards: 70\r\nFrom: <sip:1100@sipline.fuzz>;tag=s\r\nTo: "
             "<sip:1100@sipline.fuzz>\r\nCall-ID: star@10.0.0.5\r\nCSeq: 9 REGISTER\r\nContact: "
             "*\r\nExpires: 0\r\n" +
                 credentials("Authorization", DigestAlgorithm::Md5, "1100", "fuzz-1100", "REGISTER",
                             register_uri) +
                 "Content-Length: 0\r\n\r\n");
  write_probe_answer_seeds(folder);
}

}  // namespace

// SIPLINE_FUZZ_WRITE_SEEDS=<folder>: write the seeds with valid credentials there first
// (tests/fuzz/run.sh does, then fuzzes with them).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* folder = std::getenv("SIPLINE_FUZZ_WRITE_SEEDS")) write_auth_seeds(folder);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  const std::uint8_t source_selector = size > 0 ? data[0] : 0;
  const std::uint8_t buffer_selector = size > 1 ? data[1] : 0;
  const std::size_t skip = size < 2 ? size : 2;
  std::string_view datagram(reinterpret_cast<const char*>(data) + skip, size - skip);
  if (datagram.size() > sip::kMaxMessageSize) datagram = datagram.substr(0, sip::kMaxMessageSize);

  const std::size_t source = source_selector % kSources.size();
  // The pool's members up: any of the eight combinations, none up included (503).
  w.context->pools.set_up_members(0, buffer_selector >> 5);
  const Inbound in{datagram, w.sources[source], kSources[source].socket};

  // 1. The owner, as the receiving worker picks it.
  const std::string_view scanned = sip::scan_call_id(datagram);
  check(sip::owner_of(scanned, kWorkers) < kWorkers, "owner out of range");
  keep_request_copy(w, datagram);
  if (w.request_copy->ok() && scanned != w.request_copy->call_id) {
    std::fprintf(stderr, "scanned \"%.*s\", parsed \"%.*s\"\n", static_cast<int>(scanned.size()),
                 scanned.data(), static_cast<int>(w.request_copy->call_id.size()),
                 w.request_copy->call_id.data());
    fail("the worker's Call-ID scan disagrees with the parser (the call could be split)", datagram);
  }

  // 2. The pipeline.
  constexpr std::array<std::uint16_t, 8> kNextHopAnswers{{200, 200, 503, 0, 200, 407, 503, 200}};
  w.next_hop_answer = kNextHopAnswers[(buffer_selector >> 3) % kNextHopAnswers.size()];
  const std::size_t primary_size = kPrimarySizes[buffer_selector % kPrimarySizes.size()];
  const OutputBuffers out{std::span(w.primary).first(primary_size), w.fallback};
  const Outcome outcome = w.pipeline->process(in, kNow, out);
  drain_transactions(w, kPendingSendsOnly);
  check_call_records(w);
  check_call_limits(w);
  switch (outcome.verdict) {
    case Verdict::Send: {
      const std::string_view bytes = check_send(w, outcome, out);
      switch (outcome.kind) {
        case SendKind::ForwardedRequest:
          check(w.request_copy->is_request(), "a response forwarded as a request");
          check_forwarded_request(w, outcome, bytes, in.peer);
          break;
        case SendKind::LocalResponse:
          check_local_response(w, outcome, bytes, in);
          break;
        case SendKind::ForwardedResponse:
          check(w.request_copy->is_response(), "a request forwarded as a response");
          check_forwarded_response(w, *w.request_copy, bytes);
          break;
        case SendKind::StunAnswer:
          check_stun_answer(outcome, bytes, in);
          break;
      }
      break;
    }
    case Verdict::Drop:
      check_drop(outcome);
      break;
    case Verdict::ToControl:
      if (w.request_copy->is_response()) {
        check(w.trunks->take_answer(in.bytes) || w.prober->take_answer(in.bytes),
              "the prober refuses a response handed to it");
      } else {
        register_in_control(w, in);
      }
      break;
    case Verdict::Absorbed:
      if (outcome.absorb == Absorb::Keepalive) {
        // CRLFs only, or nothing (RFC 5626 §4.4.1), or a STUN indication.
        check(sip::looks_like_stun(datagram) ||
                  datagram.find_first_not_of("\r\n") == std::string_view::npos,
              "a keep-alive that is neither CRLFs nor STUN");
        break;
      }
      check(outcome.absorb == Absorb::Ack && w.request_copy->is_request() &&
                w.request_copy->method == sip::Method::Ack,
            "absorbed something else than an ACK");
      break;
  }

  if (w.verbose) {
    std::fprintf(stderr, "fuzz_pipeline: verdict=%d kind=%d code=%u drop=%s size=%u to=%s\n",
                 static_cast<int>(outcome.verdict), static_cast<int>(outcome.kind), outcome.code,
                 outcome.verdict == Verdict::Drop ? drop_reason_name(outcome.drop).data() : "-",
                 outcome.size, format_peer(outcome.destination).view().data());
  }

  // 3. The same datagram on the response path.
  if (w.request_copy->is_request()) request_as_response(w, datagram, buffer_selector, in);

  settle_transactions(w);
  check_call_limits(w);
  // Limited calls left without an end (no answer on a fixed clock) run out: a sixteenth of the
  // table per input, on a clock far ahead that moves a second each time.
  w.pipeline->expire_calls(kNow + 86400 + static_cast<std::int64_t>(++w.inputs % 2));
  check_call_limits(w);
  // The worker's quiescent state: no ContactsView survives the iteration.
  w.location->quiescent(0);
  if (mentions_authorization(datagram)) renew_authenticators(w);
  return 0;
}

// The control thread (DESIGN.md §1): the main thread once the workers run.
//
// It owns everything that may be slow or needs a single writer:
//   - REGISTER: workers hand REGISTERs for our domains over their work rings; the registrar
//     (sip/registrar.hpp) decides; the result goes to the location table (single writer,
//     QSBR-protected readers) and to the store (AsyncStore: its own thread does the
//     SQLite writes, so this loop never waits for the disk). In socket mode the responses of
//     a burst are sent at once on the worker sockets the REGISTERs came in on (ControlShared::
//     worker_sockets, one sendmmsg per socket); DPDK mode answers through the control lcore's
//     own TX queue (DpdkControl, dpdk_worker.hpp).
//   - health probes of the server pools (HealthProber): OPTIONS to every member each probe
//     interval, sent on a worker socket (socket mode) or the control lcore's TX queue (DPDK);
//     the answers come back from the workers over the same rings as REGISTERs;
//   - trunk registrations (TrunkRegistrar): REGISTERs of our own to carriers' registrars,
//     sent and answered as the probes are; unregistered at SIGINT/SIGTERM;
//   - timers: binding expiry every second (table expire + store purge), QSBR reclamation;
//   - signals, through a signalfd: SIGINT/SIGTERM stop, SIGUSR1 prints the counters, SIGHUP
//     reloads the configuration file (reload.hpp: routing sections only);
//   - DNS refresh: every [dns] refresh_interval, the next hops named by host or domain are
//     resolved again (the file loaded on a thread of its own: lookups may take seconds), and
//     new addresses are published as a reload would;
//   - statistics: reads the workers' counters (relaxed loads, no lock).
// It sleeps in poll() on the signalfd, a 1 s timerfd and its waker's eventfd.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/admin_socket.hpp"
#include "dataplane/call_records.hpp"
#include "dataplane/context_exchange.hpp"
#include "dataplane/fabric.hpp"
#include "dataplane/health_prober.hpp"
#include "dataplane/hep_capture.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_sync.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/metrics_endpoint.hpp"
#include "dataplane/nat_pinger.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/reload.hpp"
#include "dataplane/socket_port.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/systemd_notify.hpp"
#include "dataplane/trunk_registrar.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"
#include "sip/registrar.hpp"

namespace sipline::dataplane {

// Blocks SIGINT, SIGTERM, SIGUSR1 and SIGHUP in the calling thread (and so in every thread
// it creates afterwards) and ignores SIGPIPE; they are then read from a signalfd. Call it in
// main() before any thread starts.
void block_control_signals();

// The registrar as the control thread runs it, whatever port the REGISTER came through:
// parse, sip::handle_register against the AOR's current bindings, a change to the location
// table (single writer) and to the store (asynchronous), and the response written into the
// caller's buffer, addressed to where it must go (§18.2.2, RFC 3581).
class RegisterService {
 public:
  RegisterService(const PipelineContext& pipeline, LocationTable& location, AsyncStore& store,
                  ControlCounters& counters);
  RegisterService(const RegisterService&) = delete;
  RegisterService& operator=(const RegisterService&) = delete;

  struct Reply {
    bool ok = false;  // false: nothing to send (counted: dropped_parse or dropped_no_buffer)
    std::size_t size = 0;
    PeerAddress destination;
  };
  // `request` came from `source`. The registration takes effect even when `out` is too small
  // (or empty: no buffer) for the answer, which is then counted as dropped_no_buffer.
  Reply handle(std::string_view request, const PeerAddress& source, std::int64_t now,
               std::span<char> out);

  // A reloaded configuration: its users, domains and [registrar] settings from now on (the
  // nonce secret is the same, so challenges already sent still verify).
  void rebind(const PipelineContext& pipeline);

 private:
  const PipelineContext* pipeline_;
  LocationTable& location_;
  AsyncStore& store_;
  ControlCounters& counters_;
  std::unique_ptr<sip::Message> message_;
  sip::RegistrarSettings settings_;
  sip::DigestAuthenticator authenticator_;
};

// Extra work the control loop does on every pass in DPDK mode (dataplane/dpdk_runtime.cpp:
// ARP/ICMP/ND answers, REGISTERs from the workers' rings, the control lcore's transmit
// queue), and the counter lines that come with it. When a duty is set, the loop never sleeps
// longer than kControlDutyPollMs: DPDK workers do not wake it (no syscall per packet).
class ControlDuty {
 public:
  virtual ~ControlDuty() = default;
  // One pass; returns how many items it handled (0: idle).
  virtual std::size_t poll() = 0;
  // Lines appended to the counter text (after the control line).
  virtual std::string counters_text() const = 0;
};

inline constexpr int kControlDutyPollMs = 1;

// What `siplinectl help` prints.
inline constexpr std::string_view kAdminHelp =
    "counters             every counter line (as SIGUSR1 prints them)\n"
    "pools                each pool member's health and probe counts\n"
    "routes               the dial plan in order, with the addresses next hops resolved to\n"
    "trunks               each trunk registration with a carrier: state, expiry, counts\n"
    "registrations USER   the registered contacts of USER\n"
    "unregister USER      remove every binding of USER (as Contact: * with Expires: 0)\n"
    "resync               read a shared (Redis) store's registrations again, as after an outage\n"
    "drain POOL MEMBER    take a pool member (index or URI) out of new calls, at once\n"
    "undrain POOL MEMBER  let it take new calls again\n"
    "reload               read the configuration file again (as SIGHUP)\n"
    "help                 this list\n";

struct ControlShared {
  Fabric* fabric = nullptr;  // null in DPDK mode: no socket rings, no packet pool
  std::span<const WorkerCounters> worker_counters;
  const PipelineContext* pipeline = nullptr;  // identity, users, secrets, config
  LocationTable* location = nullptr;
  AsyncStore* store = nullptr;
  ControlDuty* duty = nullptr;
  // Socket mode: each worker's socket descriptors, by worker and socket index (one entry per
  // worker of `fabric`). The control thread sends its REGISTER answers on them.
  std::vector<std::vector<int>> worker_sockets;
  // The pipeline's pools (PipelineContext::pools): the prober writes their health. Null: no
  // prober.
  lb::PoolSet* pools = nullptr;
  // Where a reload publishes its context (the workers read it there; `pipeline` and `pools`
  // are its first). Null: SIGHUP is refused.
  ContextExchange* contexts = nullptr;
  // [admin] socket: served by the loop (null: none).
  AdminSocket* admin = nullptr;
  // Other nodes' registrations (Redis store): the loop applies them to `location` (null:
  // none).
  LocationSync* sync = nullptr;
  // [admin] metrics: served by the loop (null: none).
  MetricsEndpoint* metrics = nullptr;
  // How a reload and a DNS refresh load the file (tests give resolvers of their own). Null:
  // config::load_config_file, with the system's resolvers.
  std::function<config::LoadResult(const std::string& path)> load_config = nullptr;
  // How long a reload waits for every worker to route with the new context before it says
  // "configuration reloaded" (a worker preempted inside an iteration still holds the old
  // one). 0: it does not wait (tests that drive the workers on the reloading thread).
  std::chrono::milliseconds reload_adoption_wait{1000};
  // [accounting]: the workers' rings (one each) and the open file they are written to. Null
  // log: no call records.
  std::span<CallRecordRing> call_records{};
  CallRecordLog* call_log = nullptr;
  // [capture] (hep_capture.hpp): the control thread's counters line, and in socket mode its
  // REGISTER answers on the channel after the workers'. Null: no capture.
  HepCapture* capture = nullptr;
};

class ControlThread {
 public:
  explicit ControlThread(const ControlShared& shared);
  ~ControlThread();
  ControlThread(const ControlThread&) = delete;
  ControlThread& operator=(const ControlThread&) = delete;

  // Runs until SIGINT or SIGTERM; returns the signal's name for the log.
  std::string run();

  // One pass over the REGISTER rings (tests drive it directly); returns how many it handled.
  std::size_t handle_registers(std::int64_t now);
  // The 1 s timer: expiry, purge, reclamation, store errors.
  void tick(std::int64_t now);
  // [accounting]: the workers' call records to the file; how many (every pass of the loop,
  // and once more after the workers stopped).
  std::size_t drain_call_records();

  // Logs (and counts) what the store reported as failed since the last call.
  void report_store_errors();
  // Applies the other nodes' changes the sync has queued (their expired bindings dropped);
  // returns how many AORs it replaced.
  std::size_t apply_remote_changes(std::int64_t now);
  // Accepts, reads and answers metrics scrapes (metrics_endpoint.hpp); never blocks.
  void serve_metrics();

  // Every counter line: one per worker, the total, the control thread's.
  std::string counters_text() const;

  const ControlCounters& counters() const { return counters_; }
  ControlCounters& counters() { return counters_; }
  RegisterService& registers() { return registers_; }
  // [accounting] (call_records.hpp): the workers' rings and the file; null log: none.
  void set_call_records(std::span<CallRecordRing> rings, CallRecordLog* log) {
    shared_.call_records = rings;
    shared_.call_log = log;
  }
  // [capture]: its counters line and (socket mode) its REGISTER answers; null: none.
  void set_capture(HepCapture* capture) { shared_.capture = capture; }
  // systemd (systemd_notify.hpp): reloads are framed by RELOADING=1 and READY=1, and the
  // watchdog (when WatchdogSec is set) is polled on every pass of the loop. Null: none.
  void set_systemd(const SystemdNotifier* notifier, Watchdog* watchdog) {
    notifier_ = notifier;
    watchdog_ = watchdog;
  }
  // DPDK mode: the duty the loop runs on every pass (null: none).
  void set_duty(ControlDuty* duty) { shared_.duty = duty; }
  // The pools' prober; null when no pool is configured.
  HealthProber* prober() { return prober_.get(); }
  // The registrations with carriers ([[trunk_registrations]]); never null.
  TrunkRegistrar* trunks() { return trunks_.get(); }
  // The NAT keep-alives ([registrar] nat_ping_interval); null without a location table.
  NatPinger* nat_pinger() { return nat_pinger_.get(); }
  // A datagram a worker handed over that answers a request of our own (a trunk REGISTER, a
  // health probe): taken (true), or false for anything else (a REGISTER for the registrar).
  // Both I/O modes ask this before the registrar.
  bool take_own_answer(std::string_view datagram);
  // Sends the probes and trunk REGISTERs that are due (every pass of the loop; cheap when
  // none is).
  void poll_probes();
  void remove_silent_contacts();
  // SIGHUP (or siplinectl reload): reads the configuration file again and, when it loads and
  // changes only what may change, publishes it to the workers (reload.hpp). What it logged
  // comes back too.
  struct ReloadReport {
    bool applied = false;
    std::vector<std::string> messages;
  };
  ReloadReport reload();
  // The DNS refresh's share of tick(): starts the next load when one is due, applies a
  // finished one when the file is unchanged and some next hop's address changed.
  void refresh_names(std::int64_t now);
  // Waits for a DNS refresh in flight to finish and applies it (tests).
  void finish_name_refresh();

  // One line of the admin socket (admin_socket.hpp, siplinectl): the whole answer, "ok\n"
  // and the text, or "error: why\n".
  std::string admin_command(std::string_view line);

 private:
  // One REGISTER answer of the current burst (socket mode), in a buffer of its own.
  struct Answer {
    char* data = nullptr;  // kPacketCapacity octets of answer_bytes_
    std::size_t size = 0;
    PeerAddress destination;
    std::uint8_t socket = 0;  // the worker socket the REGISTER came in on

    std::span<char> buffer() const { return {data, kPacketCapacity}; }
  };

  void send_answers(std::size_t worker, std::span<const Answer> answers);
  // [capture]: the answers the kernel took, from the listen socket `socket`.
  void capture_answers(std::size_t socket, std::span<const OutboundDatagram> sent,
                       const DatagramSender::Result& result);
  template <class Say>
  void reopen_call_log(const std::string& file, const Say& say);
  // Admin commands beyond one-liners: "drain|undrain POOL MEMBER", "unregister USER".
  std::string drain_command(std::string_view argument, bool drained);
  std::string unregister_command(std::string_view aor);
  OwnRequestSender socket_probe_sender();
  int sleep_limit_ms() const;
  config::LoadResult load(const std::string& path) const;
  // Makes `prepared`'s context the running one (reload and DNS refresh).
  void publish(PreparedReload prepared);
  // After publish(): true once every worker routes with the new context, false when
  // reload_adoption_wait ran out first.
  bool workers_adopted_published_context();
  void apply_name_refresh(config::LoadResult loaded);

  ControlShared shared_;
  Fabric* fabric_;
  ControlCounters counters_;
  RegisterService registers_;
  std::int64_t last_purge_ = 0;
  int signal_fd_ = -1;
  int timer_fd_ = -1;
  bool logged_send_failed_ = false;
  // Socket mode: a burst's answers, sent on the workers' sockets.
  std::unique_ptr<char[]> answer_bytes_;  // kBurst * kPacketCapacity, pages touched as used
  std::array<Answer, kBurst> answers_;
  const SystemdNotifier* notifier_ = nullptr;
  Watchdog* watchdog_ = nullptr;
  DatagramSender sender_;
  std::unique_ptr<HealthProber> prober_;
  std::unique_ptr<TrunkRegistrar> trunks_;
  std::unique_ptr<NatPinger> nat_pinger_;
  std::future<config::LoadResult> name_refresh_;  // the DNS refresh in flight, if any
  std::int64_t next_name_refresh_ = 0;            // unix seconds; 0: not scheduled yet
  std::uint64_t refreshed_text_hash_ = 0;         // the running file's when the refresh started
  bool logged_refresh_problem_ = false;           // once until a refresh succeeds again
};

}  // namespace sipline::dataplane

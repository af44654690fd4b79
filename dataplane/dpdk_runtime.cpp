#include "dataplane/dpdk_runtime.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "dataplane/control_thread.hpp"
#include "dataplane/dpdk/dpdk_sizing.hpp"
#include "dataplane/dpdk/eal.hpp"
#include "dataplane/dpdk/lcore_net.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/pools.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk_worker.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/runtime.hpp"
#include "dataplane/source_guard.hpp"
#include "dataplane/stats.hpp"

namespace sipline::dataplane {
namespace {

// The rings of DpdkRings, created here and freed (with whatever they still hold) at the end.
class OwnedRings {
 public:
  ~OwnedRings() {
    drain();
    for (rte_ring* ring : all_)
      rte_ring_free(ring);
  }

  // Frees the frames the rings still hold.
  void drain() {
    for (rte_ring* ring : all_) {
      void* frame = nullptr;
      while (rte_ring_dequeue(ring, &frame) == 0)
        rte_pktmbuf_free(static_cast<rte_mbuf*>(frame));
    }
  }

  // Many producers, one consumer; exactly `size` slots (a power of two, config/ checks it).
  rte_ring* create(const std::string& name, unsigned size, std::string& error) {
    rte_ring* ring = rte_ring_create(name.c_str(), size, static_cast<int>(rte_socket_id()),
                                     RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (ring == nullptr) {
      error = "rte_ring_create(" + name + ", " + std::to_string(size) +
              ") failed: " + rte_strerror(rte_errno);
      return nullptr;
    }
    all_.push_back(ring);
    return ring;
  }

  DpdkRings rings;

 private:
  std::vector<rte_ring*> all_;
};

// The CPUs an lcore may run on ("1", or "2,3" for an lcore given a set with --lcores), for
// the start-up log. (rte_lcore_to_cpu_id is an index within the socket, not a CPU number.)
std::string lcore_cpus(unsigned lcore) {
  const rte_cpuset_t set = rte_lcore_cpuset(lcore);
  std::string cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (!cpus.empty()) cpus += ',';
    cpus += std::to_string(cpu);
  }
  return cpus.empty() ? "?" : cpus;
}

// The UDP ports of [listen] udp, once each: the ports the interface serves.
std::vector<std::uint16_t> sip_ports(const config::Config& config) {
  std::vector<std::uint16_t> ports;
  for (const config::SocketAddress& address : config.listen.udp) {
    if (std::find(ports.begin(), ports.end(), address.port) == ports.end()) {
      ports.push_back(address.port);
    }
  }
  return ports;
}

std::string listen_text(const config::Config& config) {
  std::string text;
  for (const config::SocketAddress& address : config.listen.udp) {
    if (!text.empty()) text += ", ";
    text += address.to_string();
  }
  return text;
}

// The kernel's TAP (dataplane.exception_port): one RX and one TX queue for the control lcore,
// and the NIC's MAC, so that the kernel takes the frames the NIC received as its own.
dpdk::Port::Opened open_exception_port(std::uint16_t id, const dpdk::Port& nic, rte_mempool* pool) {
  const std::string name = "dataplane.exception_port = " + std::to_string(id);
  if (!rte_eth_dev_is_valid_port(id)) {
    return {nullptr, name +
                         ": no such DPDK port (name the kernel's TAP with "
                         "--vdev=net_tap0,iface=NAME in dataplane.eal)"};
  }
  rte_ether_addr mac = nic.mac();
  if (const int error = rte_eth_dev_default_mac_addr_set(id, &mac); error != 0) {
    return {nullptr, name + ": cannot give it the NIC's MAC: " + rte_strerror(-error)};
  }
  dpdk::PortSettings tap{id, 1, nic.mtu(), pool};
  tap.control_queue = false;  // one RX and one TX queue: net_tap wants them paired
  dpdk::Port::Opened opened = dpdk::Port::open(tap);
  if (!opened.port) return {nullptr, name + ": " + opened.error};
  SIPLINE_LOG_INFO("exception path to the kernel: %s", opened.port->describe().c_str());
  return opened;
}

// At exit, once the lcores, the port and the rings gave back what they held: every mbuf is
// in its pool again. One that is not was lost on some path, which in a proxy that runs for
// months empties the pool; e2e_dpdk requires 0 after every scenario.
void report_mbufs_in_use(const dpdk::PacketPools& pools) {
  const unsigned packets = rte_mempool_in_use_count(pools.packets());
  const unsigned indirect = rte_mempool_in_use_count(pools.indirect());
  write_stderr("dpdk: mbufs in use at exit: " + std::to_string(packets) + " packets, " +
               std::to_string(indirect) + " indirect\n");
  if (packets != 0 || indirect != 0) {
    SIPLINE_LOG_WARN("dpdk: %u packet and %u indirect mbufs never came back to their pools",
                     packets, indirect);
  }
}

// Everything between EAL start and EAL stop; returns the exit code.
int run_on_eal(std::shared_ptr<const config::Config> config) {
  const config::DpdkConfig& settings = config->dataplane.dpdk;
  const auto workers = static_cast<std::uint16_t>(config->dataplane.workers);

  std::vector<unsigned> lcores;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    lcores.push_back(lcore);
  }
  if (lcores.size() < workers) {
    SIPLINE_LOG_ERROR(
        "dataplane.workers = %u needs %u lcores (one per worker and the main lcore for the "
        "control loop); the EAL arguments give %u: list more in -l/--lcores of dataplane.eal",
        static_cast<unsigned>(workers), static_cast<unsigned>(workers) + 1, rte_lcore_count());
    return kExitConfigError;
  }
  if (!rte_eth_dev_is_valid_port(settings.port)) {
    SIPLINE_LOG_ERROR(
        "dataplane.port = %u: no such DPDK port (EAL found %u; a NIC must be bound to a "
        "DPDK driver or named with --vdev in dataplane.eal)",
        static_cast<unsigned>(settings.port), static_cast<unsigned>(rte_eth_dev_count_avail()));
    return kExitRuntimeError;
  }
  const int socket = rte_eth_dev_socket_id(settings.port);
  const std::uint32_t ring_size = config->limits.ring_size;

  // Every ring slot may hold an mbuf at once (worker inboxes and both control rings); an
  // exception path adds its ring, the TAP's RX and TX rings and a batch each way.
  // dataplane.spread adds a ring per worker of frames another worker passed it.
  const bool spread = settings.spread && workers > 1;
  std::uint32_t in_flight =
      (static_cast<std::uint32_t>(workers) * (spread ? 2 : 1) + 2) * ring_size;
  if (settings.exception_port) {
    in_flight +=
        ring_size + dpdk::kRxDescriptors + dpdk::kTxDescriptors + dpdk::kBurst + dpdk::kTxBatch;
  }
  dpdk::PacketPools::Created pools = dpdk::PacketPools::create(workers, in_flight, socket);
  if (!pools.pools) {
    SIPLINE_LOG_ERROR("%s", pools.error.c_str());
    return kExitRuntimeError;
  }
  // Declared after the pools: destroyed first, freeing what they still hold into them.
  OwnedRings owned;
  std::string error;
  for (std::uint16_t i = 0; i < workers; ++i) {
    owned.rings.inbox.push_back(owned.create("sipline_in" + std::to_string(i), ring_size, error));
    if (!error.empty()) break;
  }
  for (std::uint16_t i = 0; spread && error.empty() && i < workers; ++i) {
    owned.rings.spread.push_back(owned.create("sipline_sp" + std::to_string(i), ring_size, error));
  }
  if (error.empty()) owned.rings.control_frames = owned.create("sipline_ctl", ring_size, error);
  if (error.empty()) owned.rings.registers = owned.create("sipline_reg", ring_size, error);
  if (error.empty() && settings.exception_port) {
    owned.rings.kernel_frames = owned.create("sipline_krn", ring_size, error);
  }
  if (!error.empty()) {
    SIPLINE_LOG_ERROR("%s", error.c_str());
    return kExitRuntimeError;
  }

  dpdk::Port::Opened port = dpdk::Port::open(
      dpdk::PortSettings{settings.port, workers, settings.mtu, pools.pools->packets()});
  if (!port.port) {
    SIPLINE_LOG_ERROR("%s", port.error.c_str());
    return kExitRuntimeError;
  }
  SIPLINE_LOG_INFO("%s", port.port->describe().c_str());
  std::unique_ptr<dpdk::Port> exception_port;
  if (settings.exception_port) {
    dpdk::Port::Opened tap =
        open_exception_port(*settings.exception_port, *port.port, pools.pools->packets());
    if (!tap.port) {
      SIPLINE_LOG_ERROR("%s", tap.error.c_str());
      return kExitRuntimeError;
    }
    exception_port = std::move(tap.port);
  }

  const std::vector<std::uint16_t> ports = sip_ports(*config);
  dpdk::InterfaceSettings interface_settings;
  interface_settings.address = settings.address;
  interface_settings.address6 = settings.address6;
  interface_settings.gateway = settings.gateway;
  interface_settings.gateway6 = settings.gateway6;
  interface_settings.mtu = settings.mtu;
  interface_settings.sip_ports = ports;
  interface_settings.dscp = config->listen.dscp;
  const dpdk::InterfaceMade interface = dpdk::make_interface(interface_settings, port.port->mac());
  if (!interface.ok()) {
    SIPLINE_LOG_ERROR("%s", interface.error.c_str());
    return kExitConfigError;
  }
  const std::uint64_t tsc_hz = rte_get_tsc_hz();
  dpdk::NeighborTable neighbors(dpdk::kNeighborCapacity,
                                dpdk::milliseconds_to_ticks(tsc_hz, dpdk::kNeighborLifetimeMs));
  if (const std::string full = add_static_neighbors(settings.static_neighbors, neighbors);
      !full.empty()) {
    SIPLINE_LOG_ERROR("%s", full.c_str());
    return kExitConfigError;
  }

  dpdk::LcoreCommon lcore_common;
  lcore_common.interface = &interface.value;
  lcore_common.neighbors = &neighbors;
  lcore_common.pools = pools.pools.get();
  lcore_common.port = port.port.get();
  lcore_common.workers = workers;
  lcore_common.socket_id = socket;
  lcore_common.exception_path = exception_port != nullptr;
  lcore_common.announce = true;
  lcore_common.exception_port = exception_port.get();
  lcore_common.spread = spread;
  const auto make_net = [&](std::uint16_t lcore_index,
                            std::uint16_t tx_queue) -> std::unique_ptr<dpdk::LcoreNet> {
    dpdk::LcoreNet::Created created =
        dpdk::LcoreNet::create(dpdk::lcore_settings(lcore_common, lcore_index, tx_queue));
    if (!created.value) SIPLINE_LOG_ERROR("%s", created.error.c_str());
    return std::move(created.value);
  };

  LocationTable location(workers);
  const LocationPersistence persistence = open_location_store(*config, location);
  if (!persistence.store) return kExitRuntimeError;
  AsyncStore& store = *persistence.store;
  std::unique_ptr<PipelineContext> created = PipelineContext::create(config, &location);
  // The concurrent-call counters (max_calls) by name: every context from here on uses them.
  CallCounters call_counters;
  created->attach_call_counters(call_counters);
  PipelineContext* const context = created.get();
  // Owns the context from here, and those reloads publish (SIGHUP, reload.hpp).
  ContextExchange contexts(std::move(created), workers);
  // No control waker: the control lcore polls its duty every kControlDutyPollMs.
  SourceGuard guard(source_limits_from(*config), workers);
  context->guard = &guard;
  const std::unique_ptr<WorkerCounters[]> counters(new WorkerCounters[workers]);
  CallAccounting accounting =
      open_call_accounting(config->accounting.file, config->domain.record_route, workers);
  if (!accounting.error.empty()) return kExitRuntimeError;
  // [capture]: a channel per worker and one for the control lcore; outlives every lcore's work.
  HepCapture::Opened capture = HepCapture::open(config->capture, workers + 1u);
  if (!capture.error.empty()) return kExitRuntimeError;
  std::atomic<bool> stop{false};

  // The admin socket (siplinectl) before any thread starts: in use means another sipline.
  AdminSocket::Opened admin = open_admin_socket(*config);
  if (!admin.error.empty()) return kExitRuntimeError;
  MetricsEndpoint::Opened metrics = open_metrics_endpoint(*config);
  if (!metrics.error.empty()) return kExitRuntimeError;
  DpdkWorkerShared shared;
  shared.pipeline = context;
  shared.contexts = &contexts;
  shared.location = &location;
  shared.counters = counters.get();
  shared.port = port.port.get();
  shared.rings = &owned.rings;
  shared.workers = workers;
  shared.clock = TscClock::now();
  shared.stop = &stop;
  shared.call_records = accounting.rings.get();
  shared.capture = capture.capture.get();
  // systemd (Type=notify, WatchdogSec): readiness, reloads, stops, and the workers' heartbeats.
  const SystemdNotifier notifier = SystemdNotifier::from_environment();
  const std::unique_ptr<Heartbeat[]> heartbeats(new Heartbeat[workers]);
  Watchdog watchdog(notifier, std::span<const Heartbeat>(heartbeats.get(), workers));
  shared.heartbeats = heartbeats.get();
  std::vector<std::unique_ptr<DpdkWorker>> worker_objects;
  for (std::uint16_t i = 0; i < workers; ++i) {
    std::unique_ptr<dpdk::LcoreNet> net = make_net(i, i);
    if (!net) return kExitRuntimeError;
    worker_objects.push_back(std::make_unique<DpdkWorker>(i, shared, std::move(net)));
  }
  std::unique_ptr<dpdk::LcoreNet> control_net = make_net(workers, port.port->control_queue());
  if (!control_net) return kExitRuntimeError;

  ControlThread control(ControlShared{nullptr,
                                      std::span(counters.get(), workers),
                                      context,
                                      &location,
                                      &store,
                                      nullptr,
                                      {},
                                      &context->pools,
                                      &contexts,
                                      admin.socket.get(),
                                      persistence.sync.get(),
                                      metrics.endpoint.get()});
  control.set_call_records(accounting.ring_span(), accounting.log.get());
  control.set_capture(capture.capture.get());
  control.set_systemd(&notifier, notifier.watchdog_us() != 0 ? &watchdog : nullptr);
  DpdkControl::Settings duty_settings;
  duty_settings.net = control_net.get();
  duty_settings.rings = &owned.rings;
  duty_settings.registers = &control.registers();
  duty_settings.take_own_answer = [&control](std::string_view datagram) {
    return control.take_own_answer(datagram);
  };
  duty_settings.counters = &control.counters();
  duty_settings.clock = shared.clock;
  duty_settings.port = port.port.get();
  if (capture.capture)
    duty_settings.capture = &capture.capture->channel(workers);  // one producer: the control lcore
  for (const auto& worker : worker_objects)
    duty_settings.workers.push_back(worker.get());
  DpdkControl duty(std::move(duty_settings));
  control.set_duty(&duty);
  // The control lcore's own requests (health probes, trunk REGISTERs) leave on its TX queue.
  CaptureChannel* const control_capture =
      capture.capture ? &capture.capture->channel(workers) : nullptr;
  const OwnRequestSender control_sender = [&duty, listen = context->listen, control_capture](
                                              std::string_view datagram, std::size_t socket,
                                              const PeerAddress& to) {
    // The listen addresses are bound at start: a reload cannot change them.
    if (!duty.send_datagram(datagram, listen[socket].port(), to)) return false;
    if (control_capture != nullptr) {
      control_capture->capture(datagram, listen[socket].endpoint(), to.endpoint());
    }
    return true;
  };
  if (HealthProber* prober = control.prober()) prober->set_sender(control_sender);
  control.trunks()->set_sender(control_sender);
  if (NatPinger* pinger = control.nat_pinger()) pinger->set_sender(control_sender);

  for (std::uint16_t i = 0; i < workers; ++i) {
    const int launched =
        rte_eal_remote_launch(&DpdkWorker::launch, worker_objects[i].get(), lcores[i]);
    if (launched != 0) {
      SIPLINE_LOG_ERROR("rte_eal_remote_launch(worker %u on lcore %u) failed: %s",
                        static_cast<unsigned>(i), lcores[i], rte_strerror(-launched));
      stop.store(true, std::memory_order_relaxed);
      rte_eal_mp_wait_lcore();
      return kExitRuntimeError;
    }
    SIPLINE_LOG_INFO("worker %u runs on lcore %u (cpu %s), TX queue %u", static_cast<unsigned>(i),
                     lcores[i], lcore_cpus(lcores[i]).c_str(), static_cast<unsigned>(i));
  }
  SIPLINE_LOG_INFO("dpdk: udp %s on %s with %u worker lcore(s), store %s",
                   listen_text(*config).c_str(), settings.address.to_string().c_str(),
                   static_cast<unsigned>(workers), store.store().describe().c_str());
  if (spread) {
    SIPLINE_LOG_INFO(
        "dataplane.spread: full RX bursts are passed to the workers in turn, each classifies "
        "and hands calls to their owners");
  } else if (settings.spread) {
    SIPLINE_LOG_WARN("dataplane.spread has no effect with one worker");
  }
  write_stderr("sipline: ready\n");
  notifier.notify("READY=1\nSTATUS=dataplane running");

  const std::string reason = control.run();
  SIPLINE_LOG_INFO("%s: stopping", reason.c_str());
  notifier.notify("STOPPING=1");
  stop.store(true, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  control.drain_call_records();  // the workers' last records
  // The control lcore's last replies go out; the workers flushed theirs when they stopped.
  duty.poll();
  flush_location_store(store);
  control.report_store_errors();
  if (capture.capture) capture.capture->finish();  // the last captures sent and counted
  write_stderr(control.counters_text());
  // Teardown order: lcore state (its held frames back to the pools), then the port, the
  // rings (drained by OwnedRings), the pools, all before EAL stops.
  control.set_duty(nullptr);
  worker_objects.clear();
  control_net.reset();
  exception_port.reset();
  port.port.reset();
  owned.drain();
  report_mbufs_in_use(*pools.pools);
  return kExitOk;
}

}  // namespace

int run_dpdk_proxy(std::shared_ptr<const config::Config> config) {
  const dpdk::EalStart started = dpdk::start_eal(config->dataplane.dpdk.eal);
  if (!started.ok()) {
    SIPLINE_LOG_ERROR("dpdk: %s", started.error.c_str());
    return kExitRuntimeError;
  }
  const int code = run_on_eal(std::move(config));
  dpdk::stop_eal();
  return code;
}

}  // namespace sipline::dataplane

#include "dataplane/runtime.hpp"

#include <pthread.h>

#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/admin_socket.hpp"
#include "dataplane/context_exchange.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/dpdk_runtime.hpp"
#include "dataplane/fabric.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/socket_port.hpp"
#include "dataplane/source_guard.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/worker.hpp"

namespace sipline::dataplane {
namespace {

std::string listen_text(const config::Config& config) {
  std::string text;
  for (const config::SocketAddress& address : config.listen.udp) {
    if (!text.empty()) text += ", ";
    text += address.to_string();
  }
  return text;
}

}  // namespace

LocationPersistence open_location_store(const config::Config& config, LocationTable& location) {
  LocationPersistence opened;
  // Marks this process's change notices in a shared store (a restart is a new node).
  const std::uint64_t node = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  OpenedStore store = open_store(config.registrar.store, node);
  if (!store.store) {
    SIPLINE_LOG_ERROR("location store: %s", store.error.c_str());
    return {};
  }
  opened.store = std::make_unique<AsyncStore>(std::move(store.store));
  // Subscribed before the load below, so that no change saved between the two is missed.
  if (config.registrar.store.kind == config::StoreKind::Redis) {
    LocationSync::Started started =
        LocationSync::start(config.registrar.store.redis, node, opened.store.get());
    if (!started.sync) {
      SIPLINE_LOG_ERROR("%s", started.error.c_str());
      return {};
    }
    opened.sync = std::move(started.sync);
  }
  const std::string name = opened.store->store().describe();
  LoadResult loaded = opened.store->load_all(static_cast<std::int64_t>(std::time(nullptr)));
  if (!loaded.ok()) {
    SIPLINE_LOG_ERROR("location store %s: %s", name.c_str(), loaded.error.c_str());
    return {};
  }
  if (loaded.unreadable != 0) {
    SIPLINE_LOG_WARN("location store %s: skipped %zu value(s) that did not decode", name.c_str(),
                     loaded.unreadable);
  }
  const std::size_t count = loaded.bindings.size();
  location.restore(std::move(loaded.bindings));
  SIPLINE_LOG_INFO("location store %s: restored %zu binding(s) of %zu address(es)-of-record%s",
                   name.c_str(), count, location.size(),
                   opened.sync ? "; subscribed to the other nodes' changes" : "");
  return opened;
}

AdminSocket::Opened open_admin_socket(const config::Config& config) {
  if (config.admin.socket.empty()) return {};
  AdminSocket::Opened opened = AdminSocket::open(config.admin.socket);
  if (!opened.socket) SIPLINE_LOG_ERROR("%s", opened.error.c_str());
  return opened;
}

MetricsEndpoint::Opened open_metrics_endpoint(const config::Config& config) {
  if (!config.admin.metrics) return {};
  MetricsEndpoint::Opened opened = MetricsEndpoint::open(*config.admin.metrics);
  if (opened.endpoint) {
    SIPLINE_LOG_INFO("metrics: http://%s/metrics", config.admin.metrics->to_string().c_str());
  } else {
    SIPLINE_LOG_ERROR("%s", opened.error.c_str());
  }
  return opened;
}

void flush_location_store(AsyncStore& store) {
  store.drain();
  store.submit_flush();
  store.drain();
}

int run_proxy(std::shared_ptr<const config::Config> config) {
  if (config->dataplane.io == config::IoMode::Dpdk) return run_dpdk_proxy(std::move(config));
  if (config->listen.udp.size() > kMaxListenSockets) {
    SIPLINE_LOG_ERROR("at most %zu listen addresses are supported", kMaxListenSockets);
    return kExitConfigError;
  }
  const std::size_t workers = config->dataplane.workers;

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
  Fabric fabric(workers, config->limits.ring_size);
  SourceGuard guard(source_limits_from(*config), workers);
  guard.set_control_waker(&fabric.waker(fabric.control()));
  context->guard = &guard;
  const std::unique_ptr<WorkerCounters[]> counters(new WorkerCounters[workers]);
  CallAccounting accounting =
      open_call_accounting(config->accounting.file, config->domain.record_route, workers);
  if (!accounting.error.empty()) return kExitRuntimeError;
  // [capture]: a channel per worker and one for the control thread; outlives every thread.
  HepCapture::Opened capture = HepCapture::open(config->capture, workers + 1);
  if (!capture.error.empty()) return kExitRuntimeError;
  std::atomic<bool> stop{false};
  // systemd (Type=notify, WatchdogSec): readiness, reloads, stops, and the workers' heartbeats.
  const SystemdNotifier notifier = SystemdNotifier::from_environment();
  const std::unique_ptr<Heartbeat[]> heartbeats(new Heartbeat[workers]);
  Watchdog watchdog(notifier, std::span<const Heartbeat>(heartbeats.get(), workers));
  const WorkerShared shared{&fabric,
                            counters.get(),
                            context,
                            &location,
                            &stop,
                            &contexts,
                            accounting.rings.get(),
                            capture.capture.get(),
                            heartbeats.get()};

  // The admin socket (siplinectl) before any thread starts: in use means another sipline.
  AdminSocket::Opened admin = open_admin_socket(*config);
  if (!admin.error.empty()) return kExitRuntimeError;
  MetricsEndpoint::Opened metrics = open_metrics_endpoint(*config);
  if (!metrics.error.empty()) return kExitRuntimeError;
  // Bind everything before any thread starts: a port in use is reported and nothing runs.
  std::vector<std::unique_ptr<Worker>> worker_objects;
  std::vector<std::vector<int>> worker_sockets(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    SocketPort::Opened port = SocketPort::open(config->listen.udp, config->listen.dscp);
    if (!port.port) {
      SIPLINE_LOG_ERROR("cannot listen: %s", port.error.c_str());
      return kExitRuntimeError;
    }
    for (std::size_t socket = 0; socket < port.port->socket_count(); ++socket)
      worker_sockets[i].push_back(port.port->fd(socket));
    worker_objects.push_back(std::make_unique<Worker>(i, shared, std::move(port.port)));
  }
  ControlThread control(ControlShared{&fabric, std::span(counters.get(), workers), context,
                                      &location, &store, nullptr, std::move(worker_sockets),
                                      &context->pools, &contexts, admin.socket.get(),
                                      persistence.sync.get(), metrics.endpoint.get()});
  control.set_call_records(accounting.ring_span(), accounting.log.get());
  control.set_capture(capture.capture.get());
  control.set_systemd(&notifier, notifier.watchdog_us() != 0 ? &watchdog : nullptr);

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers; ++i) {
    threads.emplace_back([worker = worker_objects[i].get()] { worker->run(); });
    const std::string name = "sipline-w" + std::to_string(i);
    pthread_setname_np(threads.back().native_handle(), name.c_str());
  }
  SIPLINE_LOG_INFO("listening on udp %s with %zu worker(s), store %s", listen_text(*config).c_str(),
                   workers, store.store().describe().c_str());
  write_stderr("sipline: ready\n");
  notifier.notify("READY=1\nSTATUS=listening on udp " + listen_text(*config));

  const std::string reason = control.run();
  SIPLINE_LOG_INFO("%s: stopping", reason.c_str());
  notifier.notify("STOPPING=1");
  stop.store(true, std::memory_order_relaxed);
  for (std::size_t i = 0; i < workers; ++i)
    fabric.waker(i).wake();
  for (std::thread& thread : threads)
    thread.join();
  control.drain_call_records();  // the workers' last records
  // The workers are gone: whatever the control thread still had to write reaches the store.
  flush_location_store(store);
  control.report_store_errors();
  if (capture.capture) capture.capture->finish();  // the last captures sent and counted
  write_stderr(control.counters_text());
  return kExitOk;
}

}  // namespace sipline::dataplane

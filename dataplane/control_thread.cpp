#include "dataplane/control_thread.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "dataplane/location_resync.hpp"
#include "dataplane/log.hpp"
#include "dataplane/metrics_text.hpp"
#include "dataplane/reload.hpp"
#include "dataplane/source_guard.hpp"
#include "sip/proxy_rules.hpp"
#include "sip/rewrite.hpp"

namespace sipline::dataplane {
namespace {

// A full purge of the store runs at least this often even when the table expired nothing
// (bindings restored at start that the table already dropped, a purge that failed).
constexpr std::int64_t kPurgeIntervalSeconds = 60;

sigset_t control_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGHUP);
  return set;
}

sip::RegistrarSettings registrar_settings(const config::Config& config) {
  sip::RegistrarSettings settings;
  settings.domains = config.domain.names;
  settings.realm = config.domain.realm();
  settings.auth = config.registrar.auth;
  settings.algorithms = config.registrar.algorithms;
  settings.min_expires = config.registrar.min_expires;
  settings.max_expires = config.registrar.max_expires;
  settings.default_expires = config.registrar.default_expires;
  settings.max_contacts = config.registrar.max_contacts;
  return settings;
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void block_control_signals() {
  const sigset_t set = control_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A datagram socket never raises SIGPIPE, but the store or a later admin socket might.
  ::signal(SIGPIPE, SIG_IGN);
}

RegisterService::RegisterService(const PipelineContext& pipeline, LocationTable& location,
                                 AsyncStore& store, ControlCounters& counters)
    : pipeline_(&pipeline),
      location_(location),
      store_(store),
      counters_(counters),
      message_(std::make_unique<sip::Message>()),
      settings_(registrar_settings(*pipeline.config)),
      authenticator_(sip::registrar_auth_settings(settings_, pipeline.nonce_secret)) {}

void RegisterService::rebind(const PipelineContext& pipeline) {
  pipeline_ = &pipeline;
  settings_ = registrar_settings(*pipeline.config);
  authenticator_ =
      sip::DigestAuthenticator(sip::registrar_auth_settings(settings_, pipeline.nonce_secret));
}

RegisterService::Reply RegisterService::handle(std::string_view bytes, const PeerAddress& source,
                                               std::int64_t now, std::span<char> out) {
  Reply reply;
  sip::parse_message_into(*message_, bytes);
  const sip::Message& request = *message_;
  if (!request.ok() || request.method != sip::Method::Register) {
    // The worker parsed it already; only a bug gets here.
    counters_.dropped_parse.add();
    return reply;
  }
  counters_.registers.add();
  const PeerText source_text = format_peer(source);
  LocationTable& location = location_;
  // Where other nodes share the bindings, they reach this node's phones through it.
  std::string_view node_address;
  if (store_.saves_changes()) {
    const int listen = listen_socket_for(*pipeline_, source);
    if (listen >= 0) {
      node_address = pipeline_->identity.listen_address(static_cast<std::size_t>(listen)).sent_by();
    }
  }
  const sip::RegistrarContext context{settings_, *pipeline_->users, authenticator_, node_address};
  const sip::RegisterOutcome outcome =
      sip::handle_register(request, source_text.view(), now, context,
                           [&location](std::string_view aor) { return location.bindings(aor); });
  if (outcome.changed && !outcome.aor.empty()) {
    // Only a store of changes needs the bindings before (a copy per REGISTER otherwise).
    if (store_.saves_changes()) {
      store_.submit_save(outcome.aor, location.bindings(outcome.aor), outcome.bindings_after);
    } else {
      store_.submit_save(outcome.aor, outcome.bindings_after);
    }
    location.replace(outcome.aor, outcome.bindings_after);
    location.reclaim();
  }
  if (outcome.code == 403) {
    SIPLINE_LOG_INFO("REGISTER from %s for \"%s\": 403 (%s, user \"%s\")",
                     source_text.view().data(), outcome.aor.c_str(),
                     std::string(sip::auth_result_name(outcome.auth)).c_str(),
                     outcome.username.c_str());
  } else {
    SIPLINE_LOG_DEBUG("REGISTER from %s for \"%s\": %u, %zu binding(s)", source_text.view().data(),
                      outcome.aor.c_str(), outcome.code, outcome.bindings_after.size());
  }
  const bool auth_failed = outcome.auth == sip::AuthResult::WrongPassword ||
                           outcome.auth == sip::AuthResult::UnknownUser;
  if (auth_failed && pipeline_->guard != nullptr) {
    // source_guard.hpp
    pipeline_->guard->record_auth_failure(source_key(source), now, *pipeline_->trusted_sources);
  }
  const ToTag tag = local_to_tag(request.call_id, pipeline_->to_tag_key);
  sip::LocalResponse local;
  local.code = outcome.code;
  local.reason = outcome.reason;
  local.to_tag = outcome.needs_to_tag ? tag.view() : std::string_view();
  local.extra_headers = outcome.extra_headers;
  const sip::Written written = sip::write_local_response(request, local, out);
  if (!written.ok() || written.size > kMaxUdpSendPayload) {
    counters_.dropped_no_buffer.add();
    return reply;
  }
  reply.ok = true;
  reply.size = written.size;
  // §18.2.2 / RFC 3581: back to the source address, at the port the top Via asks for.
  reply.destination = with_port(source, sip::local_response_port(request, source.port()));
  return reply;
}

ControlThread::ControlThread(const ControlShared& shared)
    : shared_(shared),
      fabric_(shared.fabric),
      registers_(*shared.pipeline, *shared.location, *shared.store, counters_) {
  if (fabric_ != nullptr) {
    if (shared_.worker_sockets.size() != fabric_->workers()) {
      std::fprintf(stderr, "sipline: error: the control thread needs every worker's sockets\n");
      std::abort();
    }
    answer_bytes_ = std::make_unique_for_overwrite<char[]>(kBurst * kPacketCapacity);
    for (std::size_t i = 0; i < kBurst; ++i)
      answers_[i].data = answer_bytes_.get() + i * kPacketCapacity;
  }
  if (shared_.pools != nullptr) {  // also without pools: a reload may add some
    prober_ = std::make_unique<HealthProber>(*shared_.pipeline, *shared_.pools);
    if (fabric_ != nullptr) prober_->set_sender(socket_probe_sender());
  }
  trunks_ = std::make_unique<TrunkRegistrar>(*shared_.pipeline, monotonic_ms);
  if (fabric_ != nullptr) trunks_->set_sender(socket_probe_sender());
  if (shared_.location != nullptr) {
    nat_pinger_ = std::make_unique<NatPinger>(*shared_.pipeline, *shared_.location);
    if (fabric_ != nullptr) nat_pinger_->set_sender(socket_probe_sender());
  }
  const sigset_t set = control_signals();
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (signal_fd_ < 0 || timer_fd_ < 0) {
    std::perror("sipline: error: signalfd/timerfd");
    std::abort();
  }
  itimerspec every_second{};
  every_second.it_interval.tv_sec = 1;
  every_second.it_value.tv_sec = 1;
  timerfd_settime(timer_fd_, 0, &every_second, nullptr);
}

ControlThread::~ControlThread() {
  ::close(signal_fd_);
  ::close(timer_fd_);
}

// Socket mode: a probe leaves on worker 0's socket for that listen address, so its answer
// comes back to the address the probe names in its Via.
bool ControlThread::take_own_answer(std::string_view datagram) {
  return (nat_pinger_ != nullptr && nat_pinger_->take_answer(datagram, monotonic_ms())) ||
         trunks_->take_answer(datagram) || (prober_ != nullptr && prober_->take_answer(datagram));
}

OwnRequestSender ControlThread::socket_probe_sender() {
  return [this](std::string_view datagram, std::size_t socket, const PeerAddress& to) {
    const std::vector<int>& sockets = shared_.worker_sockets.front();
    if (socket >= sockets.size()) return false;
    const OutboundDatagram outbound{datagram.data(), datagram.size(), &to};
    if (sender_.send(sockets[socket], std::span(&outbound, 1)).accepted != 1) return false;
    if (shared_.capture != nullptr) {
      shared_.capture->channel(shared_.worker_counters.size())
          .capture(datagram, shared_.pipeline->listen[socket].endpoint(), to.endpoint());
    }
    return true;
  };
}

void ControlThread::poll_probes() {
  if (prober_ != nullptr) prober_->poll(monotonic_ms());
  trunks_->poll();
  if (nat_pinger_ != nullptr) {
    nat_pinger_->poll(monotonic_ms());
    remove_silent_contacts();
  }
}

// Contacts that answered no NAT keep-alive OPTIONS for nat_ping_timeout: the table, the store
// and (Redis) the other nodes forget them, as if they had unregistered.
void ControlThread::remove_silent_contacts() {
  const std::vector<NatPinger::Silent> silent = nat_pinger_->take_silent();
  for (const NatPinger::Silent& contact : silent) {
    const std::vector<sip::Binding> before = shared_.location->bindings(contact.aor);
    std::vector<sip::Binding> bindings = before;
    if (std::erase_if(bindings, [&](const sip::Binding& binding) {
          return binding.contact == contact.contact;
        }) == 0) {
      continue;
    }
    shared_.location->replace(contact.aor, bindings);
    if (shared_.store != nullptr) shared_.store->submit_save(contact.aor, before, bindings);
    SIPLINE_LOG_INFO("removed the binding %s of \"%s\": it answered no keep-alive for %u s",
                     contact.contact.c_str(), contact.aor.c_str(),
                     shared_.pipeline->config->registrar.nat_ping_timeout_s);
  }
  if (!silent.empty()) shared_.location->reclaim();
}

// How long the loop may sleep with nothing to do: without a limit in socket mode (the 1 s
// timerfd and the waker wake it), kControlDutyPollMs with a DPDK duty, and never past the
// next probe (a probe interval of N s would otherwise stretch to the next whole timer tick).
int ControlThread::sleep_limit_ms() const {
  int limit = shared_.duty != nullptr ? kControlDutyPollMs : -1;
  // The workers do not wake us for call records: drained often enough that no ring fills.
  if (shared_.call_log != nullptr && limit < 0) limit = kCallRecordDrainMs;
  const auto not_past = [&limit](std::int64_t due_ms) {
    const int until_due =
        static_cast<int>(std::clamp<std::int64_t>(due_ms - monotonic_ms(), 0, 1000));
    limit = limit < 0 ? until_due : std::min(limit, until_due);
  };
  if (prober_ != nullptr && prober_->active()) not_past(prober_->checker().next_due_ms());
  if (!trunks_->empty()) not_past(trunks_->next_due_ms());
  if (nat_pinger_ != nullptr && nat_pinger_->next_due_ms() != INT64_MAX) {
    not_past(nat_pinger_->next_due_ms());
  }
  if (watchdog_ != nullptr) not_past(static_cast<std::int64_t>(watchdog_->next_ping_us() / 1000));
  return limit;
}

std::string ControlThread::run() {
  Waker* waker = fabric_ != nullptr ? &fabric_->waker(fabric_->control()) : nullptr;
  for (;;) {
    if (watchdog_ != nullptr) watchdog_->poll(static_cast<std::uint64_t>(monotonic_ms()) * 1000);
    poll_probes();
    bool busy = handle_registers(unix_now()) > 0;
    busy |= drain_call_records() > 0;
    SourceGuard* guard = shared_.pipeline->guard;
    if (guard != nullptr) {
      busy |= guard->drain_reports(unix_now(), *shared_.pipeline->trusted_sources) > 0;
    }
    if (shared_.duty != nullptr) busy |= shared_.duty->poll() > 0;
    // Sleep only when no ring has work; a busy loop still looks at timers and signals
    // (poll with timeout 0), so a stream of REGISTERs cannot starve expiry or SIGTERM.
    bool sleep = false;
    if (!busy) {
      sleep = true;
      if (waker != nullptr) {
        waker->announce_sleep();
        for (std::size_t worker = 0; worker < fabric_->workers() && sleep; ++worker) {
          sleep = fabric_->work(worker, fabric_->control()).empty_approx();
        }
        if (sleep && guard != nullptr) sleep = !guard->reports_pending();
      }
    }
    constexpr std::size_t kFixedFds = 5;
    std::array<pollfd, kFixedFds + kMaxMetricsConnections + 1> fds = {
        {{signal_fd_, POLLIN, 0},
         {timer_fd_, POLLIN, 0},
         {-1, POLLIN, 0},
         {shared_.admin != nullptr ? shared_.admin->fd() : -1, POLLIN, 0},
         {shared_.sync != nullptr ? shared_.sync->ready_fd() : -1, POLLIN, 0}}};
    if (waker != nullptr) fds[2].fd = waker->fd();
    std::size_t fd_count = kFixedFds;
    if (shared_.metrics != nullptr) {
      for (const pollfd& watched : shared_.metrics->watched())
        fds[fd_count++] = watched;
    }
    // Socket mode sleeps without a timeout (the timerfd wakes the loop every second anyway,
    // producers wake it through the waker). A duty (DPDK mode) is polled: its producers never
    // make a syscall to wake us.
    const int idle_timeout = sleep_limit_ms();
    if (::poll(fds.data(), fd_count, sleep ? idle_timeout : 0) < 0 && errno != EINTR) {
      SIPLINE_LOG_ERROR("control thread: poll: %s", std::strerror(errno));
    }
    if (waker != nullptr) waker->woke((fds[2].revents & POLLIN) != 0);
    if (fds[3].revents & POLLIN) {
      shared_.admin->serve([this](std::string_view command) { return admin_command(command); });
    }
    if (fds[4].revents & POLLIN) apply_remote_changes(unix_now());
    const bool metrics_ready = std::any_of(fds.begin() + kFixedFds, fds.begin() + fd_count,
                                           [](const pollfd& fd) { return fd.revents != 0; });
    if (metrics_ready) serve_metrics();

    if (fds[1].revents & POLLIN) {
      std::uint64_t expirations = 0;
      while (::read(timer_fd_, &expirations, sizeof expirations) < 0 && errno == EINTR) {
      }
      tick(unix_now());
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (info.ssi_signo == SIGUSR1) {
          write_stderr(counters_text());
        } else if (info.ssi_signo == SIGHUP) {
          SIPLINE_LOG_INFO("SIGHUP: reloading the configuration");
          reload();
        } else {
          trunks_->unregister_all();
          if (shared_.duty != nullptr) shared_.duty->poll();  // DPDK: flushes its TX queue
          return info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
        }
      }
    }
  }
}

std::size_t ControlThread::handle_registers(std::int64_t now) {
  if (fabric_ == nullptr) return 0;
  std::size_t handled = 0;
  std::array<Packet*, kBurst> packets;
  for (std::size_t worker = 0; worker < fabric_->workers(); ++worker) {
    const std::size_t count = fabric_->work(worker, fabric_->control()).dequeue_burst(packets);
    if (count == 0) continue;
    std::size_t answered = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const Packet& request = *packets[i];
      if (take_own_answer(request.bytes())) {
        fabric_->back(fabric_->control(), request.home).enqueue(packets[i]);
        continue;
      }
      Answer& answer = answers_[answered];
      const RegisterService::Reply reply =
          registers_.handle(request.bytes(), request.peer, now, answer.buffer());
      if (reply.ok) {
        answer.size = reply.size;
        answer.destination = reply.destination;
        answer.socket = request.socket;  // answered from the address it was sent to
        ++answered;
      }
      // Back to the worker that received it (its home), never full (fabric.hpp).
      fabric_->back(fabric_->control(), request.home).enqueue(packets[i]);
    }
    send_answers(worker, std::span(answers_.data(), answered));
    handled += count;
  }
  return handled;
}

// The answers of one burst leave at once, one sendmmsg per socket they came in on (so from
// the address the phones sent to), beside the worker that reads that socket: the kernel
// serialises sends on a socket. Handing them to the worker instead cost a wake-up of a
// sleeping worker per REGISTER at moderate rates (eventfd write, context switch, poll, clock
// read, an empty recvmmsg).
void ControlThread::send_answers(std::size_t worker, std::span<const Answer> answers) {
  const std::vector<int>& sockets = shared_.worker_sockets[worker];
  std::array<OutboundDatagram, kBurst> datagrams;
  for (std::size_t socket = 0; socket < sockets.size(); ++socket) {
    std::size_t count = 0;
    for (const Answer& answer : answers) {
      if (answer.socket == socket)
        datagrams[count++] = {answer.data, answer.size, &answer.destination};
    }
    if (count == 0) continue;
    const DatagramSender::Result result =
        sender_.send(sockets[socket], std::span(datagrams.data(), count));
    counters_.responses.add(result.accepted);
    if (shared_.capture != nullptr)
      capture_answers(socket, std::span(datagrams.data(), count), result);
    if (result.accepted == count) continue;
    counters_.dropped_send_failed.add(count - result.accepted);
    if (!logged_send_failed_) {
      logged_send_failed_ = true;
      SIPLINE_LOG_WARN(
          "control thread: sendmmsg refused a REGISTER answer: %s (counted as "
          "dropped_send_failed)",
          std::strerror(errno));
    }
  }
}

void ControlThread::capture_answers(std::size_t socket, std::span<const OutboundDatagram> sent,
                                    const DatagramSender::Result& result) {
  CaptureChannel& channel = shared_.capture->channel(shared_.worker_counters.size());
  const lb::SocketAddress& source = shared_.pipeline->listen[socket].endpoint();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (!result.refused.test(i)) {
      channel.capture({sent[i].data, sent[i].size}, source, sent[i].destination->endpoint());
    }
  }
}

std::size_t ControlThread::drain_call_records() {
  if (shared_.call_log == nullptr) return 0;
  return shared_.call_log->drain(shared_.call_records, unix_now_ms());
}

void ControlThread::tick(std::int64_t now) {
  refresh_names(now);
  if (shared_.call_log != nullptr) shared_.call_log->expire(unix_now_ms());
  LocationTable& location = *shared_.location;
  const std::vector<std::string> expired = location.expire(now);
  for (const std::string& aor : expired) {
    SIPLINE_LOG_DEBUG("bindings of \"%s\" expired", aor.c_str());
  }
  if (!expired.empty() || now - last_purge_ >= kPurgeIntervalSeconds) {
    shared_.store->submit_purge(now);
    last_purge_ = now;
  }
  location.reclaim();
  if (shared_.contexts != nullptr) shared_.contexts->reclaim();
  report_store_errors();
  apply_remote_changes(now);  // and the sync's warnings, which wake nothing
  serve_metrics();            // closes connections that have waited too long
}

config::LoadResult ControlThread::load(const std::string& path) const {
  return shared_.load_config ? shared_.load_config(path) : config::load_config_file(path);
}

void ControlThread::publish(PreparedReload prepared) {
  PipelineContext& next = *prepared.context;
  // The control thread's own users of the context first (it is their only thread), so the
  // pools' health words are right before any worker sees them.
  if (prober_ != nullptr) prober_->reconfigure(next, next.pools);
  trunks_->reconfigure(next);
  if (nat_pinger_ != nullptr) nat_pinger_->reconfigure(next);
  registers_.rebind(next);
  set_log_level(next.config->log_level);
  shared_.pipeline = &next;
  shared_.pools = &next.pools;
  shared_.contexts->publish(std::move(prepared.context));
}

void ControlThread::refresh_names(std::int64_t now) {
  if (shared_.contexts == nullptr) return;  // this runtime does not reload
  if (name_refresh_.valid()) {
    if (name_refresh_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      apply_name_refresh(name_refresh_.get());
    }
    return;
  }
  const config::Config& running = *shared_.pipeline->config;
  const std::uint32_t interval = running.dns.refresh_interval_s;
  if (interval == 0 || !running.resolves_names) {
    next_name_refresh_ = 0;
    return;
  }
  if (next_name_refresh_ == 0 || next_name_refresh_ > now + interval) {
    next_name_refresh_ = now + interval;
  }
  if (now < next_name_refresh_) return;
  next_name_refresh_ = now + interval;
  refreshed_text_hash_ = running.text_hash;
  // On a thread of its own: each lookup may wait kResolveTimeout, and this loop answers
  // REGISTERs.
  name_refresh_ =
      std::async(std::launch::async, [this, path = running.source] { return load(path); });
}

void ControlThread::finish_name_refresh() {
  if (name_refresh_.valid()) apply_name_refresh(name_refresh_.get());
}

void ControlThread::apply_name_refresh(config::LoadResult loaded) {
  const config::Config& running = *shared_.pipeline->config;
  // A reload ran meanwhile: its names are fresh, and this result may be of the older file.
  if (running.text_hash != refreshed_text_hash_) return;
  const auto problem = [this](const std::string& text) {
    if (logged_refresh_problem_) return;
    logged_refresh_problem_ = true;
    SIPLINE_LOG_WARN("DNS refresh: %s; the running next hops stay", text.c_str());
  };
  if (!loaded.ok()) {
    // A name that no longer resolves, most likely: keep sending where we did.
    problem(running.source + " no longer loads: " + loaded.errors.front());
    return;
  }
  if (loaded.config->text_hash != running.text_hash) {
    problem(running.source +
            " changed since it was loaded: its names are resolved again at its reload (SIGHUP)");
    return;
  }
  logged_refresh_problem_ = false;
  const std::string changes = next_hop_changes(running, *loaded.config);
  if (changes.empty()) return;
  PreparedReload prepared =
      prepare_reload_from(std::move(loaded), running.source, *shared_.pipeline);
  if (!prepared.context) {
    problem(prepared.errors.front());
    return;
  }
  publish(std::move(prepared));
  counters_.dns_refreshes.add();
  SIPLINE_LOG_INFO("DNS refresh: new addresses: %s", changes.c_str());
}

// logrotate moved the file (its postrotate sends SIGHUP), or the reload names another one.
template <class Say>
void ControlThread::reopen_call_log(const std::string& file, const Say& say) {
  if (shared_.call_log == nullptr) return;
  const std::string error = shared_.call_log->open(file);
  if (!error.empty()) {
    say(LogLevel::Error, "accounting: " + error + " (call records go on to the file open before)");
  }
}

namespace {

// sd_notify(3): a reload is announced, and so is its end, whatever its outcome.
class ReloadFrame {
 public:
  explicit ReloadFrame(const SystemdNotifier* notifier) : notifier_(notifier) {
    if (notifier_ != nullptr) notifier_->notify("RELOADING=1");
  }
  ~ReloadFrame() {
    if (notifier_ != nullptr) notifier_->notify("READY=1");
  }
  ReloadFrame(const ReloadFrame&) = delete;
  ReloadFrame& operator=(const ReloadFrame&) = delete;

 private:
  const SystemdNotifier* notifier_;
};

}  // namespace

ControlThread::ReloadReport ControlThread::reload() {
  const ReloadFrame frame(notifier_);
  ReloadReport report;
  const auto say = [&report](LogLevel level, std::string message) {
    log(level, "%s", message.c_str());
    report.messages.push_back(std::move(message));
  };
  if (shared_.contexts == nullptr) {
    say(LogLevel::Warn, "reload: this runtime does not reload its configuration");
    return report;
  }
  const std::string path = shared_.pipeline->config->source;
  // Whether the file loads or not: logrotate's SIGHUP must reach the call records' file.
  const std::string records_file = shared_.pipeline->config->accounting.file;
  reopen_call_log(records_file, say);
  PreparedReload prepared = prepare_reload_from(load(path), path, *shared_.pipeline);
  if (!prepared.context) {
    for (const std::string& error : prepared.errors)
      say(LogLevel::Error, "reload refused: " + error);
    say(LogLevel::Error, "the configuration was not reloaded; the running one stays");
    return report;
  }
  const PipelineContext& next = *prepared.context;
  if (next.config->accounting.file != records_file) {
    reopen_call_log(next.config->accounting.file, say);
  }
  publish(std::move(prepared));
  counters_.reloads.add();
  report.applied = true;
  // Said once it is true, so that what is sent after this line is routed with the new file.
  if (!workers_adopted_published_context()) {
    say(LogLevel::Warn, "reload: a worker still routes with the previous configuration after " +
                            std::to_string(shared_.reload_adoption_wait.count()) +
                            " ms; it adopts the new one at its next packet");
  }
  say(LogLevel::Info, "configuration reloaded from " + path + ": " +
                          std::to_string(next.config->users.size()) + " user(s), " +
                          std::to_string(next.config->pools.size()) + " pool(s), " +
                          std::to_string(next.config->routes.size()) + " route(s)");
  return report;
}

// A worker loads the context at the start of each loop iteration and passes a quiescent state
// at its end, so once every worker has passed one since publish() (or sleeps offline, and
// loads it on waking), everything a worker reads from its sockets from then on meets the new
// context. Normally microseconds; longer when a worker is preempted mid-iteration.
bool ControlThread::workers_adopted_published_context() {
  if (shared_.reload_adoption_wait.count() == 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + shared_.reload_adoption_wait;
  while (!shared_.contexts->adopted()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

namespace {

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words)
    text += (text.empty() ? "" : ",") + word;
  return text;
}

// One line per [[routes]] entry, in matching order: what it matches and what it does, a
// forward target with the address its name resolved to (the last reload or DNS refresh).
std::string routes_text(const config::Config& config) {
  std::string text;
  for (const lb::RouteRule& route : config.routes) {
    std::vector<std::string> sources;
    for (const lb::IpPrefix& prefix : route.sources)
      sources.push_back(prefix.to_string());
    text += "route " + route.name + ": user_prefix=\"" + route.user_prefix +
            "\" methods=" + (route.methods.empty() ? "any" : joined(route.methods)) +
            " sources=" + (sources.empty() ? "any" : joined(sources)) +
            (route.auth ? " auth" : "") + (route.assert_identity ? " assert_identity" : "") +
            (route.strip != 0 ? " strip=" + std::to_string(route.strip) : "") +
            (route.prepend.empty() ? "" : " prepend=\"" + route.prepend + "\"") + " " +
            std::string(lb::route_action_name(route.action));
    if (route.forward) {
      text += " " + route.forward->uri + " (" + route.forward->next_hop.to_string() + ")";
    } else if (route.pool) {
      text += " pool " + config.pools[*route.pool].name;
    } else if (route.action == lb::RouteAction::Reject) {
      text += " " + std::to_string(route.reject_code);
    } else if (!route.redirect_contact.empty()) {
      text += " " + route.redirect_contact;
    }
    if (route.fork.enabled()) {
      text += route.fork.mode == lb::Forking::Mode::Serial     ? " fork=serial"
              : route.fork.mode == lb::Forking::Mode::Parallel ? " fork=parallel"
                                                               : " fork=q-groups";
    }
    if (const auto& fallback = route.fork.fallback) {
      text +=
          " fallback " + fallback->target.uri + " (" + fallback->target.next_hop.to_string() + ")";
    }
    if (!route.call_limit.empty()) text += " call_limit=" + route.call_limit;
    if (route.max_calls != 0) text += " max_calls=" + std::to_string(route.max_calls);
    if (route.max_cps != 0) text += " max_cps=" + std::to_string(route.max_cps);
    if (route.max_calls != 0 || route.max_cps != 0) {
      text += " (" + std::to_string(route.limit_code) + ")";
    }
    text += "\n";
  }
  return text;
}

std::string bindings_text(const std::vector<sip::Binding>& bindings, std::int64_t now) {
  std::string text;
  for (const sip::Binding& binding : bindings) {
    text += binding.contact + " expires_in=" + std::to_string(binding.expires_at - now) +
            " q=" + std::to_string(binding.q_milli) + "/1000";
    if (!binding.received.empty()) text += " received=" + binding.received;
    if (!binding.instance.empty()) text += " instance=" + binding.instance;
    if (!binding.node_address.empty()) text += " node=" + binding.node_address;
    text += "\n";
  }
  return text;
}

}  // namespace

std::string ControlThread::admin_command(std::string_view line) {
  const std::size_t space = line.find(' ');
  const std::string_view command = line.substr(0, space);
  const std::string_view argument =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (command == "counters" && argument.empty()) return "ok\n" + counters_text();
  if (command == "pools" && argument.empty()) {
    return "ok\n" + (prober_ != nullptr ? prober_->counters_text() : std::string());
  }
  if (command == "routes" && argument.empty()) {
    return "ok\n" + routes_text(*shared_.pipeline->config);
  }
  if (command == "trunks" && argument.empty()) return "ok\n" + trunks_->status_text();
  if (command == "registrations" && !argument.empty()) {
    return "ok\n" + bindings_text(shared_.location->bindings(argument), unix_now());
  }
  if (command == "reload" && argument.empty()) {
    const ReloadReport report = reload();
    std::string text = report.applied ? "ok\n" : "error: not reloaded\n";
    for (const std::string& message : report.messages)
      text += message + "\n";
    return text;
  }
  if ((command == "drain" || command == "undrain") && argument.find(' ') != std::string::npos) {
    return drain_command(argument, command == "drain");
  }
  if (command == "unregister" && !argument.empty()) return unregister_command(argument);
  if (command == "resync" && argument.empty()) {
    if (shared_.sync == nullptr) return "error: no shared store (redis): nothing to read again\n";
    shared_.sync->request_resync();
    return "ok\nresynchronisation requested (the `location sync:` line counts it)\n";
  }
  if (command == "help" && argument.empty()) return "ok\n" + std::string(kAdminHelp);
  return "error: unknown command \"" + std::string(line) + "\" (try help)\n";
}

std::string ControlThread::drain_command(std::string_view argument, bool drained) {
  if (prober_ == nullptr) return "error: no pool is configured\n";
  const std::size_t space = argument.find(' ');
  const std::string error =
      prober_->set_drained(argument.substr(0, space), argument.substr(space + 1), drained);
  if (!error.empty()) return "error: " + error + "\n";
  return "ok\n" + prober_->counters_text();
}

// Like a REGISTER with "Contact: *" and Expires 0 (RFC 3261 §10.2.2), by the operator: the
// table, the store and (Redis) the other nodes forget every binding of the AOR.
std::string ControlThread::unregister_command(std::string_view aor) {
  const std::size_t removed = shared_.location->bindings(aor).size();
  if (removed == 0) return "ok\nno binding for \"" + std::string(aor) + "\"\n";
  shared_.location->remove(aor);
  shared_.store->submit_save(aor, {});
  shared_.location->reclaim();
  SIPLINE_LOG_INFO("removed %zu binding(s) of \"%s\" by the admin socket", removed,
                   std::string(aor).c_str());
  return "ok\nremoved " + std::to_string(removed) + " binding(s) of \"" + std::string(aor) + "\"\n";
}

void ControlThread::serve_metrics() {
  if (shared_.metrics == nullptr) return;
  shared_.metrics->serve([this] { return prometheus_exposition(counters_text()); }, monotonic_ms());
}

std::size_t ControlThread::apply_remote_changes(std::int64_t now) {
  if (shared_.sync == nullptr) return 0;
  for (const std::string& event : shared_.sync->take_events()) {
    SIPLINE_LOG_WARN("%s", event.c_str());
  }
  SyncUpdates taken = shared_.sync->take_updates();
  if (taken.updates.empty() && !taken.snapshot) return 0;
  std::optional<std::vector<std::string>> saved_here;
  if (taken.snapshot && taken.snapshot->pinned) {
    saved_here = shared_.store->saved_after(taken.snapshot->settled);
    shared_.store->release_saves();
  }
  ResolvedSync resolved = resolve_sync(std::move(taken), *shared_.location, saved_here);
  if (resolved.forgotten != 0) {
    shared_.sync->count_forgotten(resolved.forgotten);
    SIPLINE_LOG_INFO("location sync: removed %zu address(es)-of-record the store no longer holds",
                     resolved.forgotten);
  }
  std::vector<AorUpdate>& updates = resolved.updates;
  const auto expired = [now](const sip::Binding& b) { return b.expires_at <= now; };
  for (AorUpdate& update : updates) {
    // Expired on this node's clock: the table would keep it until its next expiry pass.
    std::erase_if(update.bindings, expired);
    if (update.change) update.change = without_expired(std::move(*update.change), now);
  }
  const std::size_t count = updates.size();
  shared_.location->apply(std::move(updates));
  shared_.location->reclaim();
  SIPLINE_LOG_DEBUG("location sync: applied %zu change(s) from other nodes", count);
  return count;
}

void ControlThread::report_store_errors() {
  for (const std::string& error : shared_.store->take_errors()) {
    counters_.store_errors.add();
    SIPLINE_LOG_WARN("location store: %s", error.c_str());
  }
}

std::string ControlThread::counters_text() const {
  std::string text;
  for (std::size_t worker = 0; worker < shared_.worker_counters.size(); ++worker) {
    text += format_worker_counters(worker, shared_.worker_counters[worker]);
  }
  text += format_total_counters(shared_.worker_counters);
  text += format_control_counters(counters_);
  if (shared_.pipeline != nullptr && shared_.pipeline->guard != nullptr) {
    text += shared_.pipeline->guard->counters_text();
  }
  if (shared_.pipeline != nullptr) text += shared_.pipeline->call_limits_text();
  if (shared_.location != nullptr) {
    text += "location: aors=" + std::to_string(shared_.location->size()) + "\n";
  }
  if (shared_.call_log != nullptr) text += shared_.call_log->counters_text();
  if (shared_.capture != nullptr) text += shared_.capture->counters_text();
  if (shared_.store != nullptr && shared_.store->store().keeps_bindings()) {
    text += shared_.store->counters_text();
  }
  if (shared_.sync != nullptr) text += shared_.sync->counters_text();
  if (shared_.metrics != nullptr) {
    text += "metrics: requests=" + std::to_string(shared_.metrics->requests()) + "\n";
  }
  if (prober_ != nullptr) text += prober_->counters_text();
  text += trunks_->status_text();
  if (nat_pinger_ != nullptr) text += nat_pinger_->counters_text();
  if (shared_.duty != nullptr) text += shared_.duty->counters_text();
  return text;
}

}  // namespace sipline::dataplane

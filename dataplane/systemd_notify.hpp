// systemd's readiness and watchdog protocol (sd_notify(3)), spoken without libsystemd: one
// datagram per state change to the unix socket named by $NOTIFY_SOCKET. With Type=notify the
// unit is "active" only once sipline says READY=1 (its sockets bound, its workers running);
// RELOADING=1 and READY=1 frame a SIGHUP reload; STOPPING=1 begins a stop. With WatchdogSec
// ($WATCHDOG_USEC), the control thread sends WATCHDOG=1 every half interval while every worker
// keeps looping: a worker stuck in one message, or a hung control thread, stops the pings and
// systemd restarts the proxy (Restart=on-failure) instead of leaving a dead one in the path.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sipline::dataplane {

class SystemdNotifier {
 public:
  // From $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace) and $WATCHDOG_USEC
  // (honoured when $WATCHDOG_PID is unset or this process). Disabled when unset.
  static SystemdNotifier from_environment();
  SystemdNotifier() = default;
  ~SystemdNotifier();
  SystemdNotifier(SystemdNotifier&& other) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&& other) noexcept;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // The watchdog interval in microseconds; 0: no watchdog.
  std::uint64_t watchdog_us() const { return watchdog_us_; }
  // Sends `state` ("READY=1", "STOPPING=1\nSTATUS=...", ...); false when disabled or refused.
  bool notify(std::string_view state) const;

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_size_ = 0;
  std::uint64_t watchdog_us_ = 0;
};

// One worker's sign of life: it counts its loop iterations (a sleeping socket-mode worker
// still wakes every kIdlePollTimeoutMs). Written by its worker, read by the control thread.
struct alignas(64) Heartbeat {
  std::atomic<std::uint64_t> beats{0};
  void beat() { beats.store(beats.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
};

// The control thread's side of the watchdog: pings every half interval as long as every
// worker has looped since the last ping.
class Watchdog {
 public:
  Watchdog(const SystemdNotifier& notifier, std::span<const Heartbeat> workers);
  // Called often (at least once a second); `now_us` on a monotonic clock.
  void poll(std::uint64_t now_us);
  std::uint64_t pings() const { return pings_; }
  // When the next ping is due (monotonic microseconds): the control loop wakes by then.
  std::uint64_t next_ping_us() const { return next_ping_us_; }

 private:
  const SystemdNotifier& notifier_;
  std::span<const Heartbeat> workers_;
  std::vector<std::uint64_t> seen_;
  std::uint64_t next_ping_us_ = 0;
  std::uint64_t pings_ = 0;
  bool logged_stall_ = false;
};

}  // namespace sipline::dataplane

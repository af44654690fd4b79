#include "dataplane/systemd_notify.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "dataplane/log.hpp"

namespace sipline::dataplane {

SystemdNotifier SystemdNotifier::from_environment() {
  SystemdNotifier notifier;
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return notifier;
  const std::size_t length = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || length >= sizeof(notifier.address_.sun_path)) {
    SIPLINE_LOG_WARN("NOTIFY_SOCKET \"%s\" is not a unix socket path: systemd is not told", path);
    return notifier;
  }
  notifier.address_.sun_family = AF_UNIX;
  std::memcpy(notifier.address_.sun_path, path, length);
  if (path[0] == '@') notifier.address_.sun_path[0] = '\0';  // the abstract namespace
  notifier.address_size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  notifier.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char* watchdog = std::getenv("WATCHDOG_USEC");
  const char* watchdog_pid = std::getenv("WATCHDOG_PID");
  const bool ours = watchdog_pid == nullptr || std::strtoll(watchdog_pid, nullptr, 10) == getpid();
  if (watchdog != nullptr && ours) notifier.watchdog_us_ = std::strtoull(watchdog, nullptr, 10);
  return notifier;
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

SystemdNotifier::SystemdNotifier(SystemdNotifier&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      address_(other.address_),
      address_size_(other.address_size_),
      watchdog_us_(other.watchdog_us_) {}

SystemdNotifier& SystemdNotifier::operator=(SystemdNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    address_ = other.address_;
    address_size_ = other.address_size_;
    watchdog_us_ = other.watchdog_us_;
  }
  return *this;
}

bool SystemdNotifier::notify(std::string_view state) const {
  if (fd_ < 0) return false;
  return ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&address_),
                  address_size_) == static_cast<ssize_t>(state.size());
}

Watchdog::Watchdog(const SystemdNotifier& notifier, std::span<const Heartbeat> workers)
    : notifier_(notifier), workers_(workers), seen_(workers.size(), 0) {}

void Watchdog::poll(std::uint64_t now_us) {
  const std::uint64_t interval = notifier_.watchdog_us();
  if (interval == 0 || now_us < next_ping_us_) return;
  // Every worker must have looped since the last ping (half an interval ago at least).
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const std::uint64_t beats = workers_[i].beats.load(std::memory_order_relaxed);
    if (beats == seen_[i] && next_ping_us_ != 0) {
      next_ping_us_ = now_us + interval / 10;  // look again soon, without spinning
      if (!logged_stall_) {
        logged_stall_ = true;
        SIPLINE_LOG_ERROR(
            "worker %zu has not looped for %llu ms: systemd's watchdog is no longer fed and "
            "will restart sipline",
            i, static_cast<unsigned long long>(interval / 2000));
      }
      return;
    }
  }
  for (std::size_t i = 0; i < workers_.size(); ++i)
    seen_[i] = workers_[i].beats.load(std::memory_order_relaxed);
  if (notifier_.notify("WATCHDOG=1")) ++pings_;
  next_ping_us_ = now_us + interval / 2;
  logged_stall_ = false;
}

}  // namespace sipline::dataplane

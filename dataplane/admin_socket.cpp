#include "dataplane/admin_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace sipline::dataplane {
namespace {

bool fill_address(const std::string& path, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.data(), path.size());
  return true;
}

// True when a socket file at `path` is served (another process reads it).
bool is_served(const sockaddr_un& address) {
  const int probe = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const bool served =
      ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(probe);
  return served;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  return std::string(text);
}

}  // namespace

AdminSocket::Opened AdminSocket::open(const std::string& path) {
  Opened opened;
  sockaddr_un address;
  if (!fill_address(path, address)) {
    opened.error = "admin socket \"" + path + "\": not a usable Unix socket path";
    return opened;
  }
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      opened.error = "admin socket \"" + path + "\": the path exists and is not a socket";
      return opened;
    }
    if (is_served(address)) {
      opened.error = "admin socket \"" + path +
                     "\": another process serves it (a sipline "
                     "already running?)";
      return opened;
    }
    ::unlink(path.c_str());  // left by a sipline that did not stop cleanly
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    opened.error = std::string("admin socket: ") + std::strerror(errno);
    return opened;
  }
  const mode_t previous = ::umask(0117);  // created 0660
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(previous);
  if (bound != 0) {
    ::close(fd);
    opened.error = "admin socket \"" + path + "\": bind: " + std::strerror(bind_errno);
    return opened;
  }
  opened.socket.reset(new AdminSocket(fd, path));
  return opened;
}

AdminSocket::~AdminSocket() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

std::size_t AdminSocket::serve(const Execute& execute) {
  std::size_t served = 0;
  std::array<char, kMaxAdminCommand + 1> command;
  for (;;) {
    sockaddr_un from{};
    socklen_t from_size = sizeof from;
    const ssize_t size = ::recvfrom(fd_, command.data(), command.size(), MSG_TRUNC,
                                    reinterpret_cast<sockaddr*>(&from), &from_size);
    if (size < 0) return served;  // EAGAIN: nothing more waiting
    ++served;
    const std::string answer =
        static_cast<std::size_t>(size) > kMaxAdminCommand
            ? "error: command longer than " + std::to_string(kMaxAdminCommand) + " octets\n"
            : execute(trimmed({command.data(), static_cast<std::size_t>(size)}));
    // A sender without an address (it did not bind) cannot be answered; nothing to do then.
    if (from_size > sizeof(sa_family_t)) {
      ::sendto(fd_, answer.data(), answer.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&from), from_size);
    }
  }
}

}  // namespace sipline::dataplane

#include "dataplane/waker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace sipline::dataplane {

Waker::Waker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    std::perror("sipline: error: eventfd");
    std::abort();
  }
}

Waker::~Waker() {
  if (fd_ >= 0) ::close(fd_);
}

void Waker::woke(bool signalled) {
  sleeping_.store(false, std::memory_order_relaxed);
  if (!signalled) return;
  std::uint64_t count = 0;
  // Non-blocking: EAGAIN just means another read already consumed it.
  while (::read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

void Waker::signal() {
  const std::uint64_t one = 1;
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace sipline::dataplane

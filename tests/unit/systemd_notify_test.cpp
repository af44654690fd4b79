// systemd's notify protocol (dataplane/systemd_notify.hpp): the environment systemd sets, the
// datagrams on $NOTIFY_SOCKET, and the watchdog that is fed only while every worker loops.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "dataplane/systemd_notify.hpp"

namespace sipline::dataplane {
namespace {

// What systemd listens on: a unix datagram socket, by path or in the abstract namespace.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@')
      address.sun_path[0] = '\0';
    else
      ::unlink(name.c_str());
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size), 0) << name;
  }
  ~NotifySocket() {
    ::close(fd_);
    if (name_[0] != '@') ::unlink(name_.c_str());
  }
  // The next datagram within 2 s; "" when none.
  std::string receive() const {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 2000) != 1) return {};
    char buffer[512];
    const ssize_t size = ::recv(fd_, buffer, sizeof buffer, 0);
    return size > 0 ? std::string(buffer, static_cast<std::size_t>(size)) : std::string();
  }
  bool idle() const {
    pollfd ready{fd_, POLLIN, 0};
    return ::poll(&ready, 1, 0) == 0;
  }

 private:
  std::string name_;
  int fd_ = -1;
};

class SystemdNotifyTest : public ::testing::Test {
 protected:
  ~SystemdNotifyTest() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

TEST_F(SystemdNotifyTest, WithoutNotifySocketNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  const SystemdNotifier notifier = SystemdNotifier::from_environment();
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.notify("READY=1"));
  EXPECT_EQ(notifier.watchdog_us(), 0u);
}

TEST_F(SystemdNotifyTest, StatesReachAPathOrAnAbstractSocket) {
  const std::string path = "/tmp/sipline-notify-" + std::to_string(::getpid());
  const std::string abstract = "@sipline-notify-" + std::to_string(::getpid());
  for (const std::string& name : {path, abstract}) {
    const NotifySocket systemd(name);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    const SystemdNotifier notifier = SystemdNotifier::from_environment();
    ASSERT_TRUE(notifier.enabled()) << name;
    EXPECT_TRUE(notifier.notify("READY=1\nSTATUS=listening"));
    EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=listening") << name;
  }
}

TEST_F(SystemdNotifyTest, TheWatchdogIntervalIsOursUnlessAnotherPidIsNamed) {
  const NotifySocket systemd("@sipline-watchdog-" + std::to_string(::getpid()));
  ::setenv("NOTIFY_SOCKET", ("@sipline-watchdog-" + std::to_string(::getpid())).c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  EXPECT_EQ(SystemdNotifier::from_environment().watchdog_us(), 2'000'000u);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::from_environment().watchdog_us(), 2'000'000u);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(SystemdNotifier::from_environment().watchdog_us(), 0u);
}

// Fed every half interval while every worker loops; a worker that stops looping stops the
// pings (systemd then restarts the proxy), and they resume when it loops again.
TEST_F(SystemdNotifyTest, TheWatchdogIsFedOnlyWhileEveryWorkerLoops) {
  const std::string name = "@sipline-feed-" + std::to_string(::getpid());
  const NotifySocket systemd(name);
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  const SystemdNotifier notifier = SystemdNotifier::from_environment();
  Heartbeat workers[2];
  Watchdog watchdog(notifier, std::span<const Heartbeat>(workers, 2));
  watchdog.poll(10'000'000);
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  workers[0].beat();
  workers[1].beat();
  watchdog.poll(10'500'000);  // within half an interval: not yet
  EXPECT_TRUE(systemd.idle());
  watchdog.poll(11'000'000);
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  workers[0].beat();  // worker 1 is stuck
  watchdog.poll(12'000'000);
  watchdog.poll(13'000'000);
  EXPECT_TRUE(systemd.idle());
  EXPECT_EQ(watchdog.pings(), 2u);
  workers[1].beat();
  watchdog.poll(13'100'000);  // a stall is looked at again a tenth of an interval later
  EXPECT_TRUE(systemd.idle());
  watchdog.poll(13'200'000);
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  EXPECT_EQ(watchdog.pings(), 3u);
}

}  // namespace
}  // namespace sipline::dataplane

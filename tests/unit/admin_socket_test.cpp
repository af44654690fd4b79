// The admin socket (dataplane/admin_socket.hpp): commands in, answers back to the sender,
// and the socket file's life: created 0660, removed at exit, a stale one replaced, a served
// one or another file refused.
#include "dataplane/admin_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace sipline::dataplane {
namespace {

std::string temp_path(const char* name) {
  return ::testing::TempDir() + name + std::to_string(::getpid()) + ".sock";
}

// A client as siplinectl is: an autobound datagram socket.
class Client {
 public:
  Client() {
    sockaddr_un self{};
    self.sun_family = AF_UNIX;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&self), sizeof(sa_family_t)), 0);
  }
  ~Client() { ::close(fd_); }
  void send(const std::string& path, const std::string& command) const {
    sockaddr_un server{};
    server.sun_family = AF_UNIX;
    std::memcpy(server.sun_path, path.data(), path.size());
    ASSERT_EQ(::sendto(fd_, command.data(), command.size(), 0, reinterpret_cast<sockaddr*>(&server),
                       sizeof server),
              static_cast<ssize_t>(command.size()));
  }
  std::string receive() const {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 1000) <= 0) return "(nothing)";
    char buffer[4096];
    const ssize_t size = ::recv(fd_, buffer, sizeof buffer, 0);
    return size < 0 ? "(error)" : std::string(buffer, static_cast<std::size_t>(size));
  }

 private:
  int fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
};

TEST(AdminSocket, AnswersEachCommandToItsSender) {
  const std::string path = temp_path("admin_answers");
  AdminSocket::Opened opened = AdminSocket::open(path);
  ASSERT_TRUE(opened.socket) << opened.error;
  struct stat file {};
  ASSERT_EQ(::lstat(path.c_str(), &file), 0);
  EXPECT_TRUE(S_ISSOCK(file.st_mode));
  EXPECT_EQ(file.st_mode & 0777, 0660u);

  Client first, second;
  first.send(path, "counters\n");
  second.send(path, "  pools ");
  second.send(path, std::string(kMaxAdminCommand + 1, 'x'));
  std::vector<std::string> seen;
  const std::size_t served = opened.socket->serve([&seen](std::string_view command) {
    seen.emplace_back(command);
    return "ok\nanswer to " + std::string(command) + "\n";
  });
  EXPECT_EQ(served, 3u);
  EXPECT_EQ(seen, (std::vector<std::string>{"counters", "pools"}));
  EXPECT_EQ(first.receive(), "ok\nanswer to counters\n");
  EXPECT_EQ(second.receive(), "ok\nanswer to pools\n");
  EXPECT_EQ(second.receive(), "error: command longer than 512 octets\n");
  EXPECT_EQ(opened.socket->serve([](std::string_view) { return std::string(); }), 0u);

  opened.socket.reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file outlived the proxy";
}

TEST(AdminSocket, AServedSocketIsRefusedAStaleOneReplaced) {
  const std::string path = temp_path("admin_served");
  AdminSocket::Opened first = AdminSocket::open(path);
  ASSERT_TRUE(first.socket) << first.error;
  const AdminSocket::Opened second = AdminSocket::open(path);
  EXPECT_FALSE(second.socket);
  EXPECT_EQ(second.error, "admin socket \"" + path +
                              "\": another process serves it (a sipline already running?)");

  // A socket file nobody serves any more, as a crash leaves it.
  const int stale = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  first.socket.reset();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(stale);
  const AdminSocket::Opened replaced = AdminSocket::open(path);
  EXPECT_TRUE(replaced.socket) << replaced.error;
}

TEST(AdminSocket, AnotherFileAtThePathIsRefused) {
  const std::string path = temp_path("admin_file");
  std::ofstream(path) << "not a socket";
  const AdminSocket::Opened opened = AdminSocket::open(path);
  EXPECT_FALSE(opened.socket);
  EXPECT_EQ(opened.error, "admin socket \"" + path + "\": the path exists and is not a socket");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sipline::dataplane

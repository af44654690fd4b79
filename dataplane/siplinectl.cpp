// siplinectl: talks to a running sipline over its admin socket ([admin] socket).
//
//   siplinectl [--socket PATH] COMMAND [ARGUMENT]     (default PATH: state/sipline.sock)
//
// Sends the command as one datagram, prints the answer without its status line, and exits 0
// when sipline answered "ok", 1 when it answered an error, 2 when it could not be reached
// (no socket, no answer within 5 s). `siplinectl help` lists the commands.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultSocket = "state/sipline.sock";
constexpr int kAnswerTimeoutMs = 5000;
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUnreachable = 2;

int usage() {
  std::fprintf(stderr,
               "usage: siplinectl [--socket PATH] COMMAND [ARGUMENT]\n"
               "       siplinectl help      (the commands, from sipline itself)\n");
  return kExitUnreachable;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "siplinectl: %s\n", what.c_str());
  return kExitUnreachable;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = kDefaultSocket;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--socket" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg.starts_with("-")) {
      return usage();
    } else {
      words.push_back(arg);
    }
  }
  if (words.empty()) return usage();
  std::string command;
  for (const std::string& word : words)
    command += (command.empty() ? "" : " ") + word;

  sockaddr_un server{};
  server.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof server.sun_path) return fail("bad socket path");
  std::memcpy(server.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  // An address of our own (autobound, abstract) for sipline to answer to.
  sockaddr_un self{};
  self.sun_family = AF_UNIX;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof(sa_family_t)) != 0) {
    return fail(std::string("bind: ") + std::strerror(errno));
  }
  if (::sendto(fd, command.data(), command.size(), 0, reinterpret_cast<sockaddr*>(&server),
               sizeof server) < 0) {
    return fail(path + ": " + std::strerror(errno) + " (is sipline running with [admin] socket?)");
  }
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, kAnswerTimeoutMs) <= 0) return fail(path + ": no answer within 5 s");
  std::vector<char> answer(1 << 20);
  const ssize_t size = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  if (size < 0) return fail(std::strerror(errno));
  const std::string text(answer.data(), static_cast<std::size_t>(size));
  const std::size_t first_line = text.find('\n');
  const std::string status = text.substr(0, first_line);
  const std::string body = first_line == std::string::npos ? "" : text.substr(first_line + 1);
  if (status == "ok") {
    std::fwrite(body.data(), 1, body.size(), stdout);
    return kExitOk;
  }
  std::fprintf(stderr, "siplinectl: %s\n", status.c_str());
  std::fwrite(body.data(), 1, body.size(), stderr);
  return kExitRefused;
}

// The admin socket ([admin] socket): a Unix datagram socket on which the control thread
// answers siplinectl. One datagram is one command line; the answer goes back to the sender's
// address in one datagram, its first line "ok" or "error: why". Served on the control thread
// between its other work (it polls the socket with its signalfd and timer), never by a
// worker. Who may talk to it is decided by the file's mode (0660: the service's user and
// group) and the folder's.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sipline::dataplane {

// Longest command line read; longer datagrams are answered with an error.
inline constexpr std::size_t kMaxAdminCommand = 512;

class AdminSocket {
 public:
  struct Opened {
    std::unique_ptr<AdminSocket> socket;  // null on failure
    std::string error;
  };
  // Binds `path`. A socket file nobody serves (left by a sipline that crashed) is replaced;
  // a served one means another sipline runs there, an error; so is any other file.
  static Opened open(const std::string& path);

  ~AdminSocket();  // closes and removes the socket file
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

  int fd() const { return fd_; }

  // The command (without its line end) → the whole answer.
  using Execute = std::function<std::string(std::string_view command)>;
  // Answers every command waiting, without blocking; returns how many.
  std::size_t serve(const Execute& execute);

 private:
  AdminSocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
};

}  // namespace sipline::dataplane

// A UDP socket on 127.0.0.1 with a port the kernel chose, for the runtime's tests that talk
// to real worker sockets (worker_test, reload_test, runtime_parts_test).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/peer_address.hpp"

namespace sipline::test {

struct LoopbackSocket {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  std::uint16_t port = 0;

  LoopbackSocket() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t size = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    port = ntohs(address.sin_port);
  }
  ~LoopbackSocket() { ::close(fd); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  void send_to(std::uint16_t to, std::string_view bytes) const {
    const dataplane::SocketName name =
        dataplane::socket_name(*dataplane::peer_from_text("127.0.0.1:" + std::to_string(to)));
    EXPECT_EQ(::sendto(fd, bytes.data(), bytes.size(), 0, name.get(), name.length),
              static_cast<ssize_t>(bytes.size()));
  }

  struct Received {
    std::string bytes;  // empty: nothing was waiting
    std::uint16_t from_port = 0;
  };
  // What is waiting now, without blocking.
  Received try_receive_from() const {
    char buffer[4096];
    sockaddr_in from{};
    socklen_t length = sizeof from;
    const ssize_t size =
        ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
    if (size <= 0) return {};
    return {std::string(buffer, static_cast<std::size_t>(size)), ntohs(from.sin_port)};
  }
  std::string try_receive() const { return try_receive_from().bytes; }
  // Waits up to 2 s for a datagram.
  std::string receive() const {
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, 2000) != 1) return {};
    return try_receive();
  }
};

}  // namespace sipline::test

// Kernel UDP sockets for one worker (DESIGN.md §5, io = "socket"): one socket per listen
// address, each bound with SO_REUSEPORT so every worker has its own socket on the same
// address and the kernel spreads datagrams over them by 4-tuple hash. Non-blocking;
// datagrams move in batches with recvmmsg/sendmmsg. Each socket is read by exactly one
// thread (its worker), which also sends on it; the control thread sends its REGISTER answers
// on it too (the kernel serialises sends on a socket).
#pragma once

#include <sys/socket.h>

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/address.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/sizing.hpp"

namespace sipline::dataplane {

// One message for sendmmsg: bytes and where they go. The pointers must stay valid until
// send() returns.
struct OutboundDatagram {
  const char* data = nullptr;
  std::size_t size = 0;
  const PeerAddress* destination = nullptr;
};

// sendmmsg on a UDP socket, with message arrays of its own: a SocketPort sends through one,
// and the control thread through another (its REGISTER answers, on the workers' sockets).
class DatagramSender {
 public:
  static constexpr std::size_t kMaxBatch = 64;

  // Sends each datagram (at most kMaxBatch) on `fd`. A datagram the kernel refuses (full
  // buffer, unreachable, too large) is skipped and marked; the rest still go.
  struct Result {
    std::size_t accepted = 0;
    std::bitset<kMaxBatch> refused;  // by index in `datagrams`
  };
  Result send(int fd, std::span<const OutboundDatagram> datagrams);

 private:
  std::array<mmsghdr, kBurst> messages_{};
  std::array<iovec, kBurst> iovecs_{};
  std::array<SocketName, kBurst> names_{};  // destinations being sent
};

class SocketPort {
 public:
  static constexpr std::size_t kMaxSendBatch = DatagramSender::kMaxBatch;

  struct Opened {
    std::unique_ptr<SocketPort> port;  // null on failure
    std::string error;                 // "bind 127.0.0.1:5060: Address already in use"
  };

  // Opens and binds one socket per address, in order (socket index = index in `listen`).
  // `dscp`: what every datagram sent on the sockets is marked with ([listen] dscp).
  static Opened open(std::span<const config::SocketAddress> listen, std::uint8_t dscp = 0);

  ~SocketPort();
  SocketPort(const SocketPort&) = delete;
  SocketPort& operator=(const SocketPort&) = delete;

  std::size_t socket_count() const { return fds_.size(); }
  int fd(std::size_t socket) const { return fds_[socket]; }
  bool is_ipv6(std::size_t socket) const { return ipv6_[socket]; }

  // Reads up to packets.size() (at most kBurst) datagrams waiting on `socket` without
  // blocking; fills each packet's data, length, peer and socket. Returns how many.
  std::size_t receive(std::size_t socket, std::span<Packet* const> packets);

  // How much waits in the socket's receive queue: octets the kernel charges for the queued
  // datagrams (their truesize) and the buffer they count against (SO_MEMINFO). One system
  // call; the overload gate asks at most once per few full receive batches.
  struct QueueFill {
    std::size_t queued = 0;
    std::size_t capacity = 0;  // 0: unknown
    std::uint32_t drops = 0;   // datagrams the kernel dropped for this socket since it opened
  };
  QueueFill receive_queue(std::size_t socket) const;

  // Attaches (drop_percent > 0) or removes the shed socket filter
  // (shed_filter.hpp) on every socket. False when the kernel refused it on one (errno set).
  bool set_shed_filter(std::uint32_t drop_percent,
                       std::span<const std::string> exempt_numbers = {});

  // Sends each datagram (at most kMaxSendBatch) on `socket` (DatagramSender::send).
  using SendResult = DatagramSender::Result;
  SendResult send(std::size_t socket, std::span<const OutboundDatagram> datagrams) {
    return sender_.send(fds_[socket], datagrams);
  }

 private:
  SocketPort() = default;

  std::vector<int> fds_;
  std::vector<bool> ipv6_;
  std::array<mmsghdr, kBurst> messages_{};
  std::array<iovec, kBurst> iovecs_{};
  std::array<SocketName, kBurst> names_{};  // sources received
  DatagramSender sender_;
};

}  // namespace sipline::dataplane

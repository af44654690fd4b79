#include "dataplane/socket_port.hpp"

#include <linux/sock_diag.h>

#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/shed_filter.hpp"

namespace sipline::dataplane {
namespace {

// Large kernel buffers absorb bursts while a worker is busy (a few hundred INVITEs with
// SDP); the kernel caps them at net.core.rmem_max / wmem_max, which is fine.
constexpr int kSocketBufferBytes = 4 * 1024 * 1024;

std::string describe_errno(const char* what, const config::SocketAddress& address) {
  return std::string(what) + " " + address.to_string() + ": " + std::strerror(errno);
}

}  // namespace

SocketPort::Opened SocketPort::open(std::span<const config::SocketAddress> listen,
                                    std::uint8_t dscp) {
  std::unique_ptr<SocketPort> port(new SocketPort());
  for (const config::SocketAddress& address : listen) {
    const bool ipv6 = address.address.family == config::AddressFamily::Ipv6;
    const int fd =
        ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) return {nullptr, describe_errno("socket", address)};
    port->fds_.push_back(fd);  // closed by the destructor from here on
    port->ipv6_.push_back(ipv6);
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      return {nullptr, describe_errno("SO_REUSEPORT", address)};
    }
    // An IPv6 socket serves IPv6 only: IPv4 traffic has its own listen address and socket,
    // so each datagram has exactly one socket (and one worker set) that can receive it.
    if (ipv6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return {nullptr, describe_errno("IPV6_V6ONLY", address)};
    }
    // The DSCP in the TOS / Traffic Class octet's upper six bits; ECN (the lower two) is the
    // kernel's (RFC 3168).
    const int traffic_class = dscp << 2;
    if (dscp != 0 &&
        (ipv6 ? ::setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &traffic_class, sizeof traffic_class)
              : ::setsockopt(fd, IPPROTO_IP, IP_TOS, &traffic_class, sizeof traffic_class)) != 0) {
      return {nullptr, describe_errno(ipv6 ? "IPV6_TCLASS" : "IP_TOS", address)};
    }
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBufferBytes, sizeof kSocketBufferBytes);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBufferBytes, sizeof kSocketBufferBytes);
    const SocketName local = socket_name(to_peer_address(address));
    if (::bind(fd, local.get(), local.length) != 0) {
      return {nullptr, describe_errno("bind", address)};
    }
  }
  return {std::move(port), {}};
}

SocketPort::~SocketPort() {
  for (int fd : fds_)
    ::close(fd);
}

SocketPort::QueueFill SocketPort::receive_queue(std::size_t socket) const {
  std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t size = sizeof meminfo;
  if (::getsockopt(fds_[socket], SOL_SOCKET, SO_MEMINFO, meminfo, &size) != 0 ||
      size < sizeof(std::uint32_t) * (SK_MEMINFO_RCVBUF + 1)) {
    return {};
  }
  const bool has_drops = size >= sizeof(std::uint32_t) * (SK_MEMINFO_DROPS + 1);
  return {meminfo[SK_MEMINFO_RMEM_ALLOC], meminfo[SK_MEMINFO_RCVBUF],
          has_drops ? meminfo[SK_MEMINFO_DROPS] : 0};
}

bool SocketPort::set_shed_filter(std::uint32_t drop_percent,
                                 std::span<const std::string> exempt_numbers) {
  bool all = true;
  for (int fd : fds_) {
    all &= drop_percent > 0 ? attach_shed_filter(fd, drop_percent, exempt_numbers)
                            : detach_shed_filter(fd);
  }
  return all;
}

std::size_t SocketPort::receive(std::size_t socket, std::span<Packet* const> packets) {
  const std::size_t count = std::min(packets.size(), kBurst);
  if (count == 0) return 0;
  for (std::size_t i = 0; i < count; ++i) {
    Packet& packet = *packets[i];
    iovecs_[i] = {packet.data.data(), packet.data.size()};
    messages_[i].msg_hdr = {};
    messages_[i].msg_hdr.msg_name = &names_[i].storage;
    messages_[i].msg_hdr.msg_namelen = sizeof names_[i].storage;
    messages_[i].msg_hdr.msg_iov = &iovecs_[i];
    messages_[i].msg_hdr.msg_iovlen = 1;
    messages_[i].msg_len = 0;
  }
  int received;
  do {
    received = ::recvmmsg(fds_[socket], messages_.data(), static_cast<unsigned>(count),
                          MSG_DONTWAIT, nullptr);
  } while (received < 0 && errno == EINTR);
  if (received <= 0) return 0;  // EAGAIN: nothing waiting
  for (int i = 0; i < received; ++i) {
    Packet& packet = *packets[i];
    packet.peer = peer_from_sockaddr(names_[i].storage, messages_[i].msg_hdr.msg_namelen)
                      .value_or(PeerAddress{});
    packet.length = messages_[i].msg_len;
    packet.socket = static_cast<std::uint8_t>(socket);
  }
  return static_cast<std::size_t>(received);
}

DatagramSender::Result DatagramSender::send(int fd, std::span<const OutboundDatagram> datagrams) {
  Result result;
  if (datagrams.size() > kMaxBatch) datagrams = datagrams.first(kMaxBatch);
  std::size_t next = 0;
  while (next < datagrams.size()) {
    const std::size_t count = std::min(datagrams.size() - next, kBurst);
    for (std::size_t i = 0; i < count; ++i) {
      const OutboundDatagram& datagram = datagrams[next + i];
      iovecs_[i] = {const_cast<char*>(datagram.data), datagram.size};
      messages_[i].msg_hdr = {};
      names_[i] = socket_name(*datagram.destination);
      messages_[i].msg_hdr.msg_name = &names_[i].storage;
      messages_[i].msg_hdr.msg_namelen = names_[i].length;
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
      messages_[i].msg_len = 0;
    }
    const int sent = ::sendmmsg(fd, messages_.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      // The first datagram of the batch was refused: skip it, keep the others.
      result.refused.set(next);
      next += 1;
      continue;
    }
    result.accepted += static_cast<std::size_t>(sent);
    next += static_cast<std::size_t>(sent);
  }
  return result;
}

}  // namespace sipline::dataplane

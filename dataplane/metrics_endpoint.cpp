#include "dataplane/metrics_endpoint.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "dataplane/peer_address.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

std::string http_answer(std::string_view status, std::string_view type, std::string_view body,
                        bool with_body, std::string_view extra_headers = {}) {
  std::string answer = "HTTP/1.1 ";
  answer.append(status).append("\r\nContent-Type: ").append(type);
  answer.append("\r\nContent-Length: ").append(std::to_string(body.size()));
  answer.append("\r\nConnection: close\r\n").append(extra_headers).append("\r\n");
  if (with_body) answer.append(body);
  return answer;
}

// Where the head ends (after its blank line), or npos.
std::size_t head_end(std::string_view request) {
  const std::size_t crlf = request.find("\r\n\r\n");
  if (crlf != std::string_view::npos) return crlf + 4;
  const std::size_t lf = request.find("\n\n");
  return lf != std::string_view::npos ? lf + 2 : std::string_view::npos;
}

}  // namespace

std::string metrics_http_answer(std::string_view head, const MetricsEndpoint::Render& render) {
  const std::string_view line = head.substr(0, head.find_first_of("\r\n"));
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space = line.find(' ', first_space + 1);
  if (first_space == std::string_view::npos || second_space == std::string_view::npos ||
      !line.substr(second_space + 1).starts_with("HTTP/1.")) {
    return http_answer("400 Bad Request", "text/plain", "not an HTTP/1.x request line\n", true);
  }
  const std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  target = target.substr(0, target.find('?'));  // Prometheus may add parameters
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return http_answer("405 Method Not Allowed", "text/plain", "GET or HEAD only\n", true,
                       "Allow: GET, HEAD\r\n");
  }
  if (target != "/metrics") {
    return http_answer("404 Not Found", "text/plain", "the metrics are at /metrics\n", !head_only);
  }
  return http_answer("200 OK", kExpositionType, render(), !head_only);
}

MetricsEndpoint::Opened MetricsEndpoint::open(const config::SocketAddress& address) {
  const SocketName name = socket_name(to_peer_address(address));
  const auto fail = [&address](std::string_view what) {
    std::string error = "admin.metrics ";
    error.append(address.to_string()).append(": ").append(what).append(": ");
    error.append(std::strerror(errno));
    return Opened{nullptr, std::move(error)};
  };
  const int fd = ::socket(name.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart while in TIME_WAIT
  if (::bind(fd, name.get(), name.length) != 0 || ::listen(fd, 16) != 0) {
    Opened failed = fail("cannot listen");
    ::close(fd);
    return failed;
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const std::optional<PeerAddress> peer = peer_from_sockaddr(bound, length);
  return {std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(fd, peer ? peer->port() : 0)), {}};
}

MetricsEndpoint::MetricsEndpoint(int fd, std::uint16_t port) : listen_fd_(fd), port_(port) {
  refresh_watched();
}

MetricsEndpoint::~MetricsEndpoint() {
  for (Connection& connection : connections_) {
    if (connection.fd >= 0) ::close(connection.fd);
  }
  ::close(listen_fd_);
}

std::size_t MetricsEndpoint::serve(const Render& render, std::int64_t now_ms) {
  if (accept_paused_until_ms_ != 0 && now_ms >= accept_paused_until_ms_) {
    accept_paused_until_ms_ = 0;  // the control thread's 1 s tick gets here
  }
  accept_waiting(now_ms);
  std::size_t completed = 0;
  for (Connection& connection : connections_) {
    if (connection.fd < 0) continue;
    const bool expired = now_ms - connection.opened_ms > kMetricsConnectionTimeoutMs;
    if (!expired && advance(connection, render)) continue;
    if (!connection.answer.empty() && connection.sent == connection.answer.size()) ++completed;
    ::close(connection.fd);
    connection = Connection{};
  }
  refresh_watched();
  return completed;
}

void MetricsEndpoint::accept_waiting(std::int64_t now_ms) {
  if (now_ms < accept_paused_until_ms_) return;
  for (Connection& connection : connections_) {
    if (connection.fd >= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
      // Out of descriptors or memory: the backlog stays readable, and watching it would wake
      // the loop at once, again and again. Look again in a second.
      accept_paused_until_ms_ = now_ms + 1000;
      return;
    }
    if (fd < 0) return;  // none waiting (EAGAIN), or an aborted one: the next poll tells
    connection.fd = fd;
    connection.opened_ms = now_ms;
  }
}

bool MetricsEndpoint::advance(Connection& connection, const Render& render) {
  while (connection.answer.empty()) {
    char buffer[1024];
    const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got == 0) return false;  // closed before a whole head
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    connection.request.append(buffer, static_cast<std::size_t>(got));
    const std::size_t end = head_end(connection.request);
    if (end != std::string::npos) {
      ++requests_;
      connection.answer =
          metrics_http_answer(std::string_view(connection.request).substr(0, end), render);
    } else if (connection.request.size() > kMaxMetricsRequest) {
      connection.answer = http_answer("431 Request Header Fields Too Large", "text/plain",
                                      "request head too long\n", true);
    }
  }
  while (connection.sent < connection.answer.size()) {
    const ssize_t put =
        ::send(connection.fd, connection.answer.data() + connection.sent,
               connection.answer.size() - connection.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (put < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    connection.sent += static_cast<std::size_t>(put);
  }
  // A lingering close: our FIN first, then read (and drop) until the client closes. Closing
  // with unread octets (a refused head's rest) would send a reset that can destroy the answer
  // before the client reads it.
  if (!connection.write_closed) {
    ::shutdown(connection.fd, SHUT_WR);
    connection.write_closed = true;
  }
  for (;;) {
    char discard[1024];
    const ssize_t got = ::recv(connection.fd, discard, sizeof discard, MSG_DONTWAIT);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

void MetricsEndpoint::refresh_watched() {
  // With every slot taken the listening socket is not watched: a full backlog would
  // otherwise wake the loop at once, again and again, until a slot frees.
  bool slot_free = false;
  for (const Connection& connection : connections_)
    slot_free |= connection.fd < 0;
  const bool accepting = slot_free && accept_paused_until_ms_ == 0;
  watched_[0] = {accepting ? listen_fd_ : -1, POLLIN, 0};
  watched_count_ = 1;
  for (const Connection& connection : connections_) {
    if (connection.fd < 0) continue;
    const bool sending = !connection.answer.empty() && !connection.write_closed;
    const short events = sending ? POLLOUT : POLLIN;
    watched_[watched_count_++] = {connection.fd, events, 0};
  }
}

}  // namespace sipline::dataplane

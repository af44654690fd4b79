// The metrics endpoint ([admin] metrics = "ADDRESS:PORT"): Prometheus scrapes
// GET /metrics over HTTP/1.x and gets every counter line in its text format
// (metrics_text.hpp). Served by the control thread between its other work, like the admin
// socket; never by a worker.
//
// The control loop never blocks on it: every socket is non-blocking, each connection carries
// one request and is closed after its answer (Connection: close), at most
// kMaxMetricsConnections are open at once (more wait in the listen backlog), and one that has
// not sent a whole request head or taken its answer within kMetricsConnectionTimeoutMs is
// closed (a client that keeps it open after its answer, too). Answers: 200 for GET or HEAD
// /metrics; 404 for another path; 405 for another method; 400 for a request line that is not HTTP;
// 431 for a head longer than kMaxMetricsRequest octets. No authentication: bind it to a management
// or loopback address.
#pragma once

#include <poll.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "config/address.hpp"

namespace sipline::dataplane {

inline constexpr std::size_t kMaxMetricsConnections = 8;
inline constexpr std::size_t kMaxMetricsRequest = 4096;
inline constexpr std::int64_t kMetricsConnectionTimeoutMs = 5000;

class MetricsEndpoint {
 public:
  struct Opened {
    std::unique_ptr<MetricsEndpoint> endpoint;  // null on failure
    std::string error;
  };
  // Listens on `address` (TCP). Port 0 picks a free port (tests; the config refuses it).
  static Opened open(const config::SocketAddress& address);

  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // What the control loop polls: the listening socket, then each open connection with the
  // events it waits for.
  std::span<const pollfd> watched() const noexcept { return {watched_.data(), watched_count_}; }

  // The exposition text, built only when a request for it arrived.
  using Render = std::function<std::string()>;
  // Accepts what waits, reads requests, writes answers, closes what is done or too old;
  // never blocks. `now_ms`: a monotonic clock. Returns how many answers it completed.
  std::size_t serve(const Render& render, std::int64_t now_ms);

  std::uint64_t requests() const noexcept { return requests_; }

 private:
  struct Connection {
    int fd = -1;
    std::int64_t opened_ms = 0;
    std::string request;        // the head read so far
    std::string answer;         // the whole answer, once the head is complete
    std::size_t sent = 0;       // octets of `answer` written
    bool write_closed = false;  // answered whole and shut down for writing: awaiting EOF
  };

  MetricsEndpoint(int fd, std::uint16_t port);
  void accept_waiting(std::int64_t now_ms);
  // Reads and, once the head is whole, writes, then waits for the client to close; false
  // when the connection is finished.
  bool advance(Connection& connection, const Render& render);
  void refresh_watched();

  int listen_fd_;
  std::uint16_t port_;
  std::array<Connection, kMaxMetricsConnections> connections_;
  std::array<pollfd, kMaxMetricsConnections + 1> watched_{};
  std::size_t watched_count_ = 1;
  std::uint64_t requests_ = 0;
  std::int64_t accept_paused_until_ms_ = 0;  // accept failed for want of descriptors: wait
};

// The answer to one request head (everything up to the blank line), rendering the body only
// for GET or HEAD /metrics. Exposed for tests.
std::string metrics_http_answer(std::string_view head, const MetricsEndpoint::Render& render);

}  // namespace sipline::dataplane

// The metrics endpoint on a loopback port of its own, driven step by step as the control loop
// drives it (poll its watched descriptors, serve).
#include "dataplane/metrics_endpoint.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lb/address.hpp"

namespace sipline::dataplane {
namespace {

const MetricsEndpoint::Render kBody = [] { return std::string("sipline_worker_received 7\n"); };

std::unique_ptr<MetricsEndpoint> open_on_loopback() {
  MetricsEndpoint::Opened opened =
      MetricsEndpoint::open(config::SocketAddress{*lb::parse_ip_address("127.0.0.1"), 0});
  EXPECT_NE(opened.endpoint, nullptr) << opened.error;
  return std::move(opened.endpoint);
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

void send_text(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// One pass of the control loop: wait (at most 100 ms) on what the endpoint watches, serve.
std::size_t pass(MetricsEndpoint& endpoint, std::int64_t now_ms = 0) {
  std::vector<pollfd> fds(endpoint.watched().begin(), endpoint.watched().end());
  ::poll(fds.data(), fds.size(), 100);
  return endpoint.serve(kBody, now_ms);
}

// Everything the endpoint sends until it closes (serving in between).
std::string answer_of(MetricsEndpoint& endpoint, int fd) {
  std::string answer;
  for (int i = 0; i < 50; ++i) {
    pass(endpoint);
    char buffer[4096];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got == 0) break;
    if (got > 0) answer.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return answer;
}

std::string request(MetricsEndpoint& endpoint, const std::string& text) {
  const int fd = connect_to(endpoint.port());
  send_text(fd, text);
  return answer_of(endpoint, fd);
}

TEST(MetricsEndpoint, AnswersGetMetricsInTheExpositionFormat) {
  const auto endpoint = open_on_loopback();
  ASSERT_NE(endpoint, nullptr);
  EXPECT_EQ(request(*endpoint, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 26\r\n"
            "Connection: close\r\n\r\n"
            "sipline_worker_received 7\n");
  EXPECT_EQ(endpoint->requests(), 1u);
  // HEAD: the same head, no body; a query string is ignored.
  EXPECT_EQ(request(*endpoint, "HEAD /metrics?x=1 HTTP/1.0\n\n"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 26\r\n"
            "Connection: close\r\n\r\n");
}

TEST(MetricsEndpoint, AnswersWrongRequestsWithTheirStatus) {
  const auto endpoint = open_on_loopback();
  ASSERT_NE(endpoint, nullptr);
  EXPECT_TRUE(request(*endpoint, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 Not Found"));
  const std::string post = request(*endpoint, "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 Method Not Allowed")) << post;
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_TRUE(request(*endpoint, "hello\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request"));
  const std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(5000, 'a');
  EXPECT_TRUE(request(*endpoint, huge).starts_with("HTTP/1.1 431 "));
}

TEST(MetricsEndpoint, AHeadInPiecesIsAnsweredOnceWhole) {
  const auto endpoint = open_on_loopback();
  ASSERT_NE(endpoint, nullptr);
  const int fd = connect_to(endpoint->port());
  send_text(fd, "GET /metr");
  for (int i = 0; i < 3; ++i)
    pass(*endpoint);
  char byte = 0;
  EXPECT_LT(::recv(fd, &byte, 1, MSG_DONTWAIT), 0);  // nothing yet
  send_text(fd, "ics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(answer_of(*endpoint, fd).starts_with("HTTP/1.1 200 OK"));
}

TEST(MetricsEndpoint, SilentConnectionsAreClosedAndTheSlotsReused) {
  const auto endpoint = open_on_loopback();
  ASSERT_NE(endpoint, nullptr);
  std::vector<int> silent;
  for (std::size_t i = 0; i < kMaxMetricsConnections; ++i) {
    silent.push_back(connect_to(endpoint->port()));
  }
  for (int i = 0; i < 5; ++i)
    pass(*endpoint, 0);
  // Every slot taken: the listening socket is no longer watched (no busy loop on a backlog).
  EXPECT_EQ(endpoint->watched().size(), kMaxMetricsConnections + 1);
  EXPECT_EQ(endpoint->watched()[0].fd, -1);
  const int waiting = connect_to(endpoint->port());  // in the backlog
  send_text(waiting, "GET /metrics HTTP/1.1\r\n\r\n");
  endpoint->serve(kBody, kMetricsConnectionTimeoutMs + 1);  // the silent ones time out
  for (int fd : silent) {
    char byte = 0;
    EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // closed, nothing sent
    ::close(fd);
  }
  std::string answer;
  for (int i = 0; i < 50 && answer.empty(); ++i) {
    pass(*endpoint, kMetricsConnectionTimeoutMs + 2);
    char buffer[1024];
    const ssize_t got = ::recv(waiting, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) answer.assign(buffer, static_cast<std::size_t>(got));
  }
  ::close(waiting);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK")) << answer;
}

TEST(MetricsEndpoint, APortInUseIsAnError) {
  const auto first = open_on_loopback();
  ASSERT_NE(first, nullptr);
  const MetricsEndpoint::Opened second = MetricsEndpoint::open(
      config::SocketAddress{*lb::parse_ip_address("127.0.0.1"), first->port()});
  EXPECT_EQ(second.endpoint, nullptr);
  EXPECT_EQ(second.error, "admin.metrics 127.0.0.1:" + std::to_string(first->port()) +
                              ": cannot listen: Address already in use");
}

}  // namespace
}  // namespace sipline::dataplane

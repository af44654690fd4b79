// udp_forwarder: the ceiling of socket mode. It relays UDP datagrams between clients and one
// upstream with recvmmsg/sendmmsg and does no SIP work at all, so whatever a socket-mode proxy
// reaches is measured against what the kernel's UDP path alone allows on the same core.
// See bench/README.md ("compare").
//
// Relaying, by address and nothing else: one socket, as a one-worker proxy has. A datagram from
// the upstream goes to the client that sent the latest datagram from anywhere else; every
// other datagram goes to the upstream. That is exact for one client socket (bench/compare
// drives it with sipblast's default of one), and costs one recvmmsg per batch, one sendmmsg
// per run of datagrams with the same destination, and one poll() when a round found nothing
// (sipline's workers sleep the same way).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr int kMaxBatch = 256;
constexpr std::size_t kMaxDatagram = 65536;
constexpr int kSocketBuffer = 16 << 20;

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

struct Options {
  sockaddr_in listen{};
  sockaddr_in upstream{};
  int batch = 64;
};

std::optional<sockaddr_in> parse_loopback_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string host(text.substr(0, colon));
  const int port = std::atoi(std::string(text.substr(colon + 1)).c_str());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return std::nullopt;
  }
  // Loopback only: this is a benchmark tool, never a relay on a real network.
  if ((ntohl(address.sin_addr.s_addr) >> 24) != 127) return std::nullopt;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  bool have_listen = false;
  bool have_upstream = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const std::string_view value = argv[i + 1];
    if (key == "--listen" || key == "--upstream") {
      const std::optional<sockaddr_in> address = parse_loopback_address(value);
      if (!address) return std::nullopt;
      (key == "--listen" ? options.listen : options.upstream) = *address;
      (key == "--listen" ? have_listen : have_upstream) = true;
    } else if (key == "--batch") {
      options.batch = std::atoi(std::string(value).c_str());
      if (options.batch < 1 || options.batch > kMaxBatch) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (argc % 2 == 0 || !have_listen || !have_upstream) return std::nullopt;
  return options;
}

void enlarge_buffers(int fd) {
  // Forced past net.core.rmem_max when root (as sipblast does), so the relay is never the one
  // that drops for want of buffer during a scheduling stall.
  for (const auto& [forced, plain] :
       {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    if (setsockopt(fd, SOL_SOCKET, forced, &kSocketBuffer, sizeof kSocketBuffer) != 0) {
      setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
    }
  }
}

int open_socket(const sockaddr_in* bind_to) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  enlarge_buffers(fd);
  if (bind(fd, reinterpret_cast<const sockaddr*>(bind_to), sizeof *bind_to) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool same_address(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
}

struct Counters {
  std::uint64_t from_clients = 0;
  std::uint64_t from_upstream = 0;
  std::uint64_t sent = 0;
  std::uint64_t send_failures = 0;
  std::uint64_t no_client_yet = 0;
  std::uint64_t recv_calls = 0;
  std::uint64_t sleeps = 0;
};

// One receive batch: buffers, their iovecs and headers, reused for the send of the same
// datagrams (each goes out exactly as it came in).
class Batch {
 public:
  explicit Batch(int size)
      : size_(size),
        storage_(static_cast<std::size_t>(size) * kMaxDatagram),
        iovecs_(static_cast<std::size_t>(size)),
        headers_(static_cast<std::size_t>(size)),
        sources_(static_cast<std::size_t>(size)) {}

  int receive(int fd) {
    for (int i = 0; i < size_; ++i) {
      iovecs_[i] = {storage_.data() + static_cast<std::size_t>(i) * kMaxDatagram, kMaxDatagram};
      headers_[i].msg_hdr = {};
      headers_[i].msg_hdr.msg_iov = &iovecs_[i];
      headers_[i].msg_hdr.msg_iovlen = 1;
      headers_[i].msg_hdr.msg_name = &sources_[i];
      headers_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    const int received = recvmmsg(fd, headers_.data(), static_cast<unsigned>(size_), 0, nullptr);
    return received < 0 ? 0 : received;
  }

  const sockaddr_in& source(int i) const { return sources_[i]; }

  // Sends datagrams [first, first + count) on fd to `destination`; returns how many left.
  int send(int fd, int first, int count, const sockaddr_in& destination) {
    for (int i = first; i < first + count; ++i) {
      iovecs_[i].iov_len = headers_[i].msg_len;
      headers_[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(&destination);
      headers_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    int sent = 0;
    while (sent < count) {
      const int result =
          sendmmsg(fd, headers_.data() + first + sent, static_cast<unsigned>(count - sent), 0);
      if (result <= 0) {
        if (result < 0 && errno == EINTR) continue;
        break;  // EAGAIN (buffer full) or refused: counted as failures, as a proxy would
      }
      sent += result;
    }
    return sent;
  }

 private:
  int size_;
  std::vector<char> storage_;
  std::vector<iovec> iovecs_;
  std::vector<mmsghdr> headers_;
  std::vector<sockaddr_in> sources_;
};

class Forwarder {
 public:
  Forwarder(const Options& options, int fd) : options_(options), fd_(fd), batch_(options.batch) {}

  void run() {
    while (g_stop == 0) {
      if (relay_batch()) continue;
      ++counters_.sleeps;
      // Only when a round found nothing, like sipline's workers (no busy polling).
      pollfd waiting{fd_, POLLIN, 0};
      poll(&waiting, 1, 200);
    }
  }

  const Counters& counters() const { return counters_; }

 private:
  bool relay_batch() {
    const int received = batch_.receive(fd_);
    if (received == 0) return false;
    ++counters_.recv_calls;
    // Consecutive datagrams with the same destination leave in one sendmmsg.
    int first = 0;
    while (first < received) {
      const bool upward = !from_upstream(first);
      if (upward) client_ = batch_.source(first);
      int end = first + 1;
      while (end < received && !from_upstream(end) == upward &&
             (!upward || same_address(batch_.source(end), client_))) {
        ++end;
      }
      const int count = end - first;
      (upward ? counters_.from_clients : counters_.from_upstream) +=
          static_cast<std::uint64_t>(count);
      if (!upward && client_.sin_port == 0) {
        counters_.no_client_yet += static_cast<std::uint64_t>(count);
      } else {
        const int sent = batch_.send(fd_, first, count, upward ? options_.upstream : client_);
        counters_.sent += static_cast<std::uint64_t>(sent);
        counters_.send_failures += static_cast<std::uint64_t>(count - sent);
      }
      first = end;
    }
    return true;
  }

  bool from_upstream(int i) const { return same_address(batch_.source(i), options_.upstream); }

  Options options_;
  int fd_;
  Batch batch_;
  sockaddr_in client_{};
  Counters counters_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = parse_options(argc, argv);
  if (!options) {
    std::fputs(
        "usage: udp_forwarder --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--batch N]\n"
        "Relays UDP between clients and the upstream (loopback only) until SIGINT/SIGTERM,\n"
        "then prints its counters on stderr.\n",
        stderr);
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;  // no SA_RESTART: a signal ends poll() at once
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const int fd = open_socket(&options->listen);
  if (fd < 0) {
    std::fprintf(stderr, "udp_forwarder: cannot listen: %s\n", std::strerror(errno));
    return 1;
  }

  // The forwarder object holds batch buffers of several MiB: on the heap, not the stack.
  auto forwarder = std::make_unique<Forwarder>(*options, fd);
  std::fputs("udp_forwarder: ready\n", stderr);
  forwarder->run();
  const Counters& counters = forwarder->counters();
  std::fprintf(stderr,
               "udp_forwarder: from_clients %llu from_upstream %llu sent %llu send_failures %llu "
               "no_client_yet %llu recv_calls %llu sleeps %llu\n",
               static_cast<unsigned long long>(counters.from_clients),
               static_cast<unsigned long long>(counters.from_upstream),
               static_cast<unsigned long long>(counters.sent),
               static_cast<unsigned long long>(counters.send_failures),
               static_cast<unsigned long long>(counters.no_client_yet),
               static_cast<unsigned long long>(counters.recv_calls),
               static_cast<unsigned long long>(counters.sleeps));
  forwarder.reset();
  close(fd);
  return 0;
}

#include "dataplane/hep_capture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "dataplane/log.hpp"
#include "dataplane/peer_address.hpp"

namespace sipline::dataplane {
namespace {

// HEP3 chunk types (vendor 0, the generic ones).
enum ChunkType : std::uint16_t {
  kIpFamily = 0x0001,
  kIpProtocol = 0x0002,
  kIpv4Source = 0x0003,
  kIpv4Destination = 0x0004,
  kIpv6Source = 0x0005,
  kIpv6Destination = 0x0006,
  kSourcePort = 0x0007,
  kDestinationPort = 0x0008,
  kSeconds = 0x0009,
  kMicroseconds = 0x000a,
  kProtocolType = 0x000b,
  kCaptureId = 0x000c,
  kPassword = 0x000e,
  kPayload = 0x000f,
};
constexpr std::uint8_t kFamilyIpv4 = 2;   // AF_INET
constexpr std::uint8_t kFamilyIpv6 = 10;  // AF_INET6
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kProtocolSip = 1;
constexpr std::size_t kChunkHeader = 6;  // vendor, type, length (the header's 6 included)

// Writes big-endian fields into a buffer, refusing to go past its end.
class HepWriter {
 public:
  explicit HepWriter(std::span<char> out) : out_(out) {}

  void chunk(std::uint16_t type, const void* value, std::size_t size) {
    u16(0);
    u16(type);
    u16(static_cast<std::uint16_t>(kChunkHeader + size));
    bytes(value, size);
  }
  void chunk_u8(std::uint16_t type, std::uint8_t value) { chunk(type, &value, 1); }
  void chunk_u16(std::uint16_t type, std::uint16_t value) {
    const std::uint8_t be[2] = {static_cast<std::uint8_t>(value >> 8),
                                static_cast<std::uint8_t>(value)};
    chunk(type, be, 2);
  }
  void chunk_u32(std::uint16_t type, std::uint32_t value) {
    const std::uint8_t be[4] = {
        static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
        static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
    chunk(type, be, 4);
  }
  void u16(std::uint16_t value) {
    const std::uint8_t be[2] = {static_cast<std::uint8_t>(value >> 8),
                                static_cast<std::uint8_t>(value)};
    bytes(be, 2);
  }
  void bytes(const void* value, std::size_t size) {
    if (size > out_.size() - std::min(used_, out_.size())) {
      overflow_ = true;
      return;
    }
    std::memcpy(out_.data() + used_, value, size);
    used_ += size;
  }
  // The total length, written into the packet header at its place.
  std::size_t finish() {
    if (overflow_ || used_ > 0xffff) return 0;
    out_[4] = static_cast<char>(used_ >> 8);
    out_[5] = static_cast<char>(used_ & 0xff);
    return used_;
  }

 private:
  std::span<char> out_;
  std::size_t used_ = 0;
  bool overflow_ = false;
};

std::int64_t unix_now_us() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

}  // namespace

std::size_t encode_hep3(const CapturedMessage& message, std::uint32_t capture_id,
                        std::string_view password, std::span<char> out) {
  HepWriter writer(out);
  writer.bytes("HEP3", 4);
  writer.u16(0);  // the total length, once known
  const bool ipv6 = message.source.address.family == lb::AddressFamily::Ipv6;
  writer.chunk_u8(kIpFamily, ipv6 ? kFamilyIpv6 : kFamilyIpv4);
  writer.chunk_u8(kIpProtocol, kUdp);
  const std::size_t address_size = ipv6 ? 16 : 4;
  writer.chunk(ipv6 ? kIpv6Source : kIpv4Source, message.source.address.bytes.data(), address_size);
  writer.chunk(ipv6 ? kIpv6Destination : kIpv4Destination, message.destination.address.bytes.data(),
               address_size);
  writer.chunk_u16(kSourcePort, message.source.port);
  writer.chunk_u16(kDestinationPort, message.destination.port);
  writer.chunk_u32(kSeconds, static_cast<std::uint32_t>(message.unix_us / 1'000'000));
  writer.chunk_u32(kMicroseconds, static_cast<std::uint32_t>(message.unix_us % 1'000'000));
  writer.chunk_u8(kProtocolType, kProtocolSip);
  writer.chunk_u32(kCaptureId, capture_id);
  if (!password.empty()) writer.chunk(kPassword, password.data(), password.size());
  writer.chunk(kPayload, message.payload.data(), message.size);
  return writer.finish();
}

CaptureChannel::CaptureChannel(std::size_t slots)
    : slots_(std::make_unique<CapturedMessage[]>(slots)), filled_(slots), free_(slots) {
  for (std::size_t i = 0; i < slots; ++i)
    free_.enqueue(&slots_[i]);
}

void CaptureChannel::capture(std::string_view payload, const lb::SocketAddress& source,
                             const lb::SocketAddress& destination) {
  if (payload.size() > kCapturePayload) {
    too_large_.add();
    return;
  }
  CapturedMessage* slot = nullptr;
  if (free_.dequeue_burst(std::span(&slot, 1)) == 0) {
    dropped_full_.add();
    return;
  }
  slot->unix_us = unix_now_us();
  slot->source = source;
  slot->destination = destination;
  slot->size = static_cast<std::uint32_t>(payload.size());
  std::memcpy(slot->payload.data(), payload.data(), payload.size());
  filled_.enqueue(slot);
  captured_.add();
}

HepCapture::Opened HepCapture::open(const config::CaptureConfig& config, std::size_t producers) {
  Opened opened;
  if (!config.hep) return opened;
  const PeerAddress collector(*config.hep);
  const int fd = ::socket(collector.is_ipv6() ? AF_INET6 : AF_INET,
                          SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const SocketName name = socket_name(collector);
  if (fd < 0 || ::connect(fd, name.get(), name.length) != 0) {
    opened.error =
        "socket for [capture] hep " + config.hep->to_string() + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    SIPLINE_LOG_ERROR("%s", opened.error.c_str());
    return opened;
  }
  opened.capture.reset(new HepCapture(config, producers, fd));
  return opened;
}

HepCapture::HepCapture(const config::CaptureConfig& config, std::size_t producers, int fd)
    : config_(config),
      fd_(fd),
      packets_(std::make_unique<std::array<char, kPacketRoom>[]>(kSendBatch)) {
  for (std::size_t i = 0; i < producers; ++i)
    channels_.push_back(std::make_unique<CaptureChannel>(kCaptureSlots));
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "sipline-hep");
}

void HepCapture::finish() {
  if (fd_ < 0) return;
  stop_.store(true, std::memory_order_relaxed);
  thread_.join();
  while (send_pending() != 0) {
  }
  ::close(fd_);
  fd_ = -1;
}

void HepCapture::run() {
  while (!stop_.load(std::memory_order_relaxed)) {
    // Idle, it looks again every millisecond: a capture is not latency-critical.
    if (send_pending() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::size_t HepCapture::send_pending() {
  std::size_t taken = 0;
  std::array<CapturedMessage*, kSendBatch> messages;
  for (const std::unique_ptr<CaptureChannel>& channel : channels_) {
    const std::size_t count = channel->take(messages);
    std::size_t ready = 0;
    for (std::size_t i = 0; i < count; ++i) {
      char* packet = packets_[ready].data();
      const std::size_t size = encode_hep3(*messages[i], config_.capture_id, config_.password,
                                           std::span(packet, kPacketRoom));
      if (size == 0) {
        send_failed_.add();
        continue;
      }
      iovecs_[ready] = {packet, size};
      headers_[ready] = {};
      headers_[ready].msg_hdr.msg_iov = &iovecs_[ready];
      headers_[ready].msg_hdr.msg_iovlen = 1;
      ++ready;
    }
    channel->release(std::span(messages.data(), count));
    send_batch(ready);
    taken += count;
  }
  return taken;
}

// One sendmmsg for a channel's batch. A collector that is down refuses (ECONNREFUSED) until it
// is back: counted, not logged.
void HepCapture::send_batch(std::size_t count) {
  std::size_t done = 0;
  while (done < count) {
    const int sent =
        ::sendmmsg(fd_, headers_.data() + done, static_cast<unsigned>(count - done), 0);
    if (sent <= 0) {
      send_failed_.add();  // this one; the rest are tried again
      ++done;
      continue;
    }
    sent_.add(static_cast<std::uint64_t>(sent));
    done += static_cast<std::size_t>(sent);
  }
}

std::string HepCapture::counters_text() const {
  std::uint64_t captured = 0;
  std::uint64_t dropped_full = 0;
  std::uint64_t too_large = 0;
  for (const std::unique_ptr<CaptureChannel>& channel : channels_) {
    captured += channel->captured();
    dropped_full += channel->dropped_full();
    too_large += channel->too_large();
  }
  return "capture: hep=" + config_.hep->to_string() + " captured=" + std::to_string(captured) +
         " sent=" + std::to_string(sent_.read()) + " dropped_full=" + std::to_string(dropped_full) +
         " too_large=" + std::to_string(too_large) +
         " send_failed=" + std::to_string(send_failed_.read()) + "\n";
}

}  // namespace sipline::dataplane

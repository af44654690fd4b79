// SIP capture to a Homer server (HEP3, the Homer Encapsulation Protocol also called EEP, as
// Kamailio's siptrace and OpenSIPS' proto_hep send it): every datagram a worker receives or
// sends, and the control thread's answers to REGISTER, mirrored to `[capture] hep`, where
// Homer (or Wireshark's "hep" dissector, or sngrep -L) shows the call flows.
//
// The hot path only copies: a producer (a worker, the control thread) takes a free slot of
// its CaptureChannel, copies the payload and both addresses into it and hands it on through
// an SPSC ring; the capture thread encodes HEP3 and sends it with a kernel UDP socket (in
// DPDK mode too: the collector sits on the management network, not on the dataplane's). No
// free slot (the collector's path is slower than the traffic) or a message larger than a slot:
// counted, the message is not captured, nothing waits.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "dataplane/counter.hpp"
#include "dataplane/spsc_ring.hpp"
#include "lb/address.hpp"

namespace sipline::dataplane {

// A slot's room for one message: SIP over UDP rarely exceeds 4 KB.
inline constexpr std::size_t kCapturePayload = 4096 - 64;
// Slots per producer (4 MiB each), a power of two for the rings.
inline constexpr std::size_t kCaptureSlots = 1024;

struct CapturedMessage {
  std::int64_t unix_us = 0;
  lb::SocketAddress source;
  lb::SocketAddress destination;
  std::uint32_t size = 0;
  std::array<char, kCapturePayload> payload;
};

// HEP3 (chunks of vendor 0, network byte order): IP family, protocol UDP, source and
// destination addresses and ports, the capture time in seconds and microseconds, protocol
// type SIP, the capture agent's id, the password when not empty, the message. The octets
// written into `out`, 0 when they do not fit.
std::size_t encode_hep3(const CapturedMessage& message, std::uint32_t capture_id,
                        std::string_view password, std::span<char> out);

// One producer's way to the capture thread.
class CaptureChannel {
 public:
  explicit CaptureChannel(std::size_t slots);
  CaptureChannel(const CaptureChannel&) = delete;
  CaptureChannel& operator=(const CaptureChannel&) = delete;

  // Producer: `payload` as it went from `source` to `destination`, now.
  void capture(std::string_view payload, const lb::SocketAddress& source,
               const lb::SocketAddress& destination);

  // Consumer: up to out.size() captured messages, oldest first; each goes back with release().
  std::size_t take(std::span<CapturedMessage*> out) { return filled_.dequeue_burst(out); }
  void release(std::span<CapturedMessage* const> messages) { free_.enqueue_burst(messages); }

  std::uint64_t captured() const { return captured_.read(); }
  std::uint64_t dropped_full() const { return dropped_full_.read(); }
  std::uint64_t too_large() const { return too_large_.read(); }

 private:
  std::unique_ptr<CapturedMessage[]> slots_;
  SpscRing<CapturedMessage> filled_;  // producer -> capture thread
  SpscRing<CapturedMessage> free_;    // capture thread -> producer
  Counter captured_;
  Counter dropped_full_;
  Counter too_large_;
};

class HepCapture {
 public:
  struct Opened {
    std::unique_ptr<HepCapture> capture;  // null when off or on error
    std::string error;                    // "socket for [capture] hep 192.0.2.9:9060: ..."
  };
  // One channel per producer; its thread starts at once. Nothing when `config.hep` is unset.
  static Opened open(const config::CaptureConfig& config, std::size_t producers);
  // Stops the capture thread and sends what the channels still hold; afterwards the counters
  // are final (the runtime calls it before its last counter lines, once no producer runs).
  // Idempotent.
  void finish();
  ~HepCapture() { finish(); }
  HepCapture(const HepCapture&) = delete;
  HepCapture& operator=(const HepCapture&) = delete;

  CaptureChannel& channel(std::size_t producer) { return *channels_[producer]; }
  // "capture: hep=HOST:PORT captured=N sent=S dropped_full=F too_large=L send_failed=E\n"
  std::string counters_text() const;

 private:
  HepCapture(const config::CaptureConfig& config, std::size_t producers, int fd);
  void run();
  // Encodes and sends what the channels hold; how many messages it took.
  std::size_t send_pending();
  void send_batch(std::size_t count);

  config::CaptureConfig config_;
  int fd_;
  std::vector<std::unique_ptr<CaptureChannel>> channels_;
  // A message's HEP3 packet: the message and at most ~150 octets of chunks.
  static constexpr std::size_t kPacketRoom = kCapturePayload + 256;
  static constexpr std::size_t kSendBatch = 32;  // messages per sendmmsg
  std::unique_ptr<std::array<char, kPacketRoom>[]> packets_;
  std::array<iovec, kSendBatch> iovecs_{};
  std::array<mmsghdr, kSendBatch> headers_{};
  Counter sent_;
  Counter send_failed_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sipline::dataplane

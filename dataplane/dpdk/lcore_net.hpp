// Everything one lcore needs to move SIP datagrams through a DPDK port, in one cache-aligned
// object owned by that lcore (DESIGN.md §3): classification, its reassembly table, its TX
// batch, its queue of datagrams waiting for a next hop, a 64 KiB scratch buffer, counters.
//
// Per worker loop iteration:
//
//   rte_mbuf* burst[kBurst];
//   const auto count = port.receive(queue, burst);
//   const auto now = rte_rdtsc();
//   for (i < count) {
//     const auto received = net.receive(burst[i], now);
//     switch (received.verdict) {
//       case LcoreNet::Verdict::Sip: {      // a complete UDP datagram to one of our SIP ports
//         const Datagram d = read_datagram(received.frame, net.scratch());
//         ... Call-ID scan on d.payload: hand received.frame to its owner, or process it here
//             (reply with net.send(bytes, d.destination.port, to, now)), then
//             rte_pktmbuf_free(received.frame);
//       }
//       case LcoreNet::Verdict::Control:    // ARP / ICMP echo / ND: enqueue for the control
//         ...                               // lcore, which calls control_net.answer(frame, now)
//       case LcoreNet::Verdict::Consumed:   // dropped and counted, or held for reassembly
//         break;
//     }
//   }
//   net.poll(now);   // held datagrams, reassembly time-outs, one TX burst
//
// The owner of a handed-off datagram calls read_datagram() with its own scratch buffer.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "dataplane/dpdk/classify.hpp"
#include "dataplane/dpdk/exception_path.hpp"
#include "dataplane/dpdk/ip_frag.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"
#include "dataplane/dpdk/net_counters.hpp"
#include "dataplane/dpdk/pools.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/udp_tx.hpp"

namespace sipline::dataplane::dpdk {

struct LcoreSettings {
  const Interface* interface = nullptr;
  NeighborTable* neighbors = nullptr;    // shared; written only by the control lcore's answer()
  rte_mempool* pool = nullptr;           // frames we build
  rte_mempool* indirect_pool = nullptr;  // fragment views
  Port* port = nullptr;                  // null: frames collect in tx() (unit tests)
  std::uint16_t tx_queue = 0;            // this lcore's own TX queue
  TxOffloads offloads;                   // normally port->tx_offloads()
  std::uint16_t lcore_index = 0;         // 0 .. lcore_count - 1: spreads IP identifications
  std::uint16_t lcore_count = 1;
  std::uint64_t tsc_hz = 0;  // unit of every `now` (rte_get_tsc_hz())
  int socket_id = SOCKET_ID_ANY;
  // receive() leaves the UDP checksum of SIP datagrams to whoever processes them, who calls
  // verify_udp_checksum() first (classify.hpp, UdpChecksumCheck::Deferred).
  bool defer_udp_checksum = false;
  // There is an exception path to the kernel (exception_path.hpp): receive() returns what
  // the kernel may want as Kernel instead of dropping it, and the control lcore's to_kernel()
  // sends it on. `exception_port` is the TAP, on the control lcore only (null there in unit
  // tests: the frames collect in exception()->to_kernel_batch()).
  bool exception_path = false;
  Port* exception_port = nullptr;
  // poll() announces our addresses (ARP Announcement, unsolicited neighbour advertisement)
  // kAnnounceNum times, kAnnounceIntervalMs apart, from the first call on: the control lcore
  // of a running dataplane, so a host taking over an address is found at once.
  bool announce = false;
  // dataplane.spread: frames reach any worker, so the fragments of one datagram may too.
  // With 2 or more, receive() keeps only fragments whose IP pair fragment_owner() gives to
  // lcore_index and returns the others as Steer; 0: every fragment is reassembled here (RSS
  // hashes fragments on the IP pair, so they all reach one queue).
  std::uint16_t fragment_owners = 0;
};

// What every lcore on one port shares: lcore_settings() makes one lcore's settings of it.
struct LcoreCommon {
  const Interface* interface = nullptr;
  NeighborTable* neighbors = nullptr;
  const PacketPools* pools = nullptr;
  Port* port = nullptr;       // null: frames collect in tx() (unit tests)
  std::uint16_t workers = 1;  // worker lcores 0 .. workers - 1; the control lcore is `workers`
  int socket_id = SOCKET_ID_ANY;
  bool exception_path = false;     // LcoreSettings::exception_path, on every lcore
  Port* exception_port = nullptr;  // the kernel TAP, given to the control lcore
  bool announce = false;           // LcoreSettings::announce, for the control lcore
  bool spread = false;             // dataplane.spread: fragments steered between workers
};

// Lcore `lcore_index` sending on `tx_queue`: the port's TX offloads, the TSC's rate, IP
// identifications spread over workers + 1 lcores, and the UDP checksum left to the Call-ID
// owner on worker lcores (LcoreSettings::defer_udp_checksum) — one trunk (one RX queue) must
// not load its receiving worker with every checksum — and checked at once on the control
// lcore.
LcoreSettings lcore_settings(const LcoreCommon& common, std::uint16_t lcore_index,
                             std::uint16_t tx_queue);

// Which of `owners` worker lcores reassembles a fragment (dataplane.spread): by its IP pair,
// as RSS hashes fragments, so that every fragment of a datagram meets on one lcore.
std::uint16_t fragment_owner(const Frame& fragment, std::uint16_t owners);

// A SIP datagram as the pipeline sees it.
struct Datagram {
  std::string_view payload;  // empty if the frame was not marked by receive()
  Endpoint source;           // the peer
  Endpoint destination;      // our address and the SIP port it arrived on
};

// For a frame receive() returned as Sip (on any lcore, e.g. after a hand-off): the payload
// as contiguous bytes (a reassembled chain is copied into `scratch`, valid until the next
// call with the same scratch) and both endpoints.
Datagram read_datagram(const rte_mbuf* frame, std::span<char> scratch);

// Starts fetching every cache line of a received frame's first segment (at most
// kPrefetchFrameLimit octets): the worker reads all of it (UDP checksum, Call-ID scan, parse),
// so fetching it while the previous frame is processed takes the misses off the hot path.
inline constexpr std::uint32_t kPrefetchFrameLimit = 2048;
inline void prefetch_frame_data(const rte_mbuf* frame) {
  const auto* data = rte_pktmbuf_mtod(frame, const char*);
  const std::uint32_t length = std::min<std::uint32_t>(frame->data_len, kPrefetchFrameLimit);
  const auto first = reinterpret_cast<std::uintptr_t>(data) & ~std::uintptr_t{RTE_CACHE_LINE_MASK};
  const auto end = reinterpret_cast<std::uintptr_t>(data) + length;
  for (std::uintptr_t line = first; line < end; line += RTE_CACHE_LINE_SIZE)
    rte_prefetch0(reinterpret_cast<const void*>(line));
}

class alignas(64) LcoreNet {
 public:
  struct Created {
    std::unique_ptr<LcoreNet> value;  // null on failure
    std::string error;
  };
  static Created create(const LcoreSettings& settings);

  ~LcoreNet();
  LcoreNet(const LcoreNet&) = delete;
  LcoreNet& operator=(const LcoreNet&) = delete;

  enum class Verdict : std::uint8_t {
    Sip,       // `frame` is a complete datagram for the pipeline; the caller frees it
    Control,   // `frame` is ARP / ICMP / ND for the control lcore's answer()
    Kernel,    // `frame` is for the kernel: for the control lcore's to_kernel()
    Consumed,  // dropped and counted, or kept by the reassembly table; `frame` is null
    Steer,     // `frame` is a fragment for worker `owner`'s reassembly table (fragment_owners)
  };
  struct Received {
    Verdict verdict = Verdict::Consumed;
    rte_mbuf* frame = nullptr;
    std::uint16_t owner = 0;  // Steer only
  };
  // Takes one received frame.
  Received receive(rte_mbuf* frame, std::uint64_t now);

  // For a frame receive() returned as Sip (on any lcore): true when its UDP checksum is right
  // (or was checked already); otherwise counts the drop (udp_checksum) on this lcore and
  // returns false - the caller frees the frame.
  bool verify_udp_checksum(rte_mbuf* frame);

  // Control lcore only (the neighbour table's writer): answers ARP for our address, ICMP
  // echo, IPv6 neighbour solicitations, and learns neighbours; the reply goes out in the
  // next flush. With an exception path, the ARP replies and neighbour advertisements learned
  // from go to the kernel as well; anything else is freed and counted.
  void answer(rte_mbuf* frame, std::uint64_t now);

  // Control lcore only: a frame receive() returned as Kernel, sent to the kernel in the next
  // poll() (freed and counted as drop_protocol where there is no exception path).
  void to_kernel(rte_mbuf* frame);

  // `payload` from our address:`source_port` to `to` (copied into mbufs; fragmented above
  // the MTU; parked while the next hop resolves).
  SendResult send(std::string_view payload, std::uint16_t source_port, const Endpoint& to,
                  std::uint64_t now) {
    return sender_.send(payload, source_port, to, now);
  }
  // Zero-copy variant for messages up to ~2 KB: write into buffer.room, then send_payload.
  PayloadBuffer allocate_payload() { return sender_.allocate_payload(); }
  SendResult send_payload(PayloadBuffer buffer, std::size_t length, std::uint16_t source_port,
                          const Endpoint& to, std::uint64_t now) {
    return sender_.send_payload(buffer, length, source_port, to, now);
  }

  // End of a loop iteration: parked datagrams (sent / re-requested / expired), reassembly
  // time-outs and discards, the exception path's frames both ways, a due announcement of
  // our addresses, then one TX burst.
  void poll(std::uint64_t now);
  void flush() { tx_.flush(); }

  NetCounters& counters() { return counters_; }
  const NetCounters& counters() const { return counters_; }
  TxBatch& tx() { return tx_; }
  std::span<char> scratch() { return {scratch_.get(), kScratchSize}; }
  std::size_t held() const { return sender_.held(); }
  // The control lcore's way to the kernel; null elsewhere and without an exception path.
  ExceptionPath* exception() { return exception_.get(); }
  const ExceptionPath* exception() const { return exception_.get(); }

 private:
  LcoreNet(const LcoreSettings& settings, std::unique_ptr<Reassembler> reassembler);
  Received accept_sip(rte_mbuf* frame, const Frame& parsed);
  void drop(rte_mbuf* frame, NetDrop reason);
  // A frame the dataplane learned from (an ARP reply, a neighbour advertisement): the kernel
  // gets it too when there is an exception path, else it is freed.
  void consumed(rte_mbuf* frame);
  void announce_addresses(std::uint64_t now);

  NetCounters counters_;
  LcoreSettings settings_;
  TxBatch tx_;
  UdpSender sender_;
  std::unique_ptr<Reassembler> reassembler_;
  std::unique_ptr<char[]> scratch_;
  std::unique_ptr<ExceptionPath> exception_;
  unsigned announcements_left_ = 0;
  std::uint64_t next_announcement_ = 0;  // TSC; 0: at the first poll
};

}  // namespace sipline::dataplane::dpdk

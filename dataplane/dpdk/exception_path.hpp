// The exception path to the kernel (issue 4 §2): frames for this host that the dataplane does
// not handle itself - TCP, UDP to ports other than SIP's, ICMP other than echo, EtherTypes
// other than ARP/IPv4/IPv6 - go to a kernel TAP interface (DPDK's net_tap PMD, named by
// `[dataplane] exception_port`) instead of being dropped, and what the kernel sends on that
// interface goes out of the NIC. SSH, SNMP, NTP, BGP or lldpd then run on the dataplane's
// address as on any host, while SIP, ARP, ICMP echo and neighbour discovery stay in the
// dataplane. ARP replies and neighbour advertisements the dataplane learns from are copied
// to the kernel too, so that the kernel's own neighbour resolution completes.
//
// Workers hand such frames to the control lcore (the ring ARP and ICMP use); the control lcore
// alone talks to the TAP port (one RX and one TX queue), so nothing here is shared.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <string>

#include "dataplane/dpdk/net_counters.hpp"
#include "dataplane/dpdk/port.hpp"
#include "dataplane/dpdk/udp_tx.hpp"

namespace sipline::dataplane::dpdk {

// Whether a frame that the dataplane drops for `reason` goes to the kernel instead, when there
// is an exception path: addressed to us (our MAC and, for IP, our address) and well formed,
// just not something the dataplane serves.
bool punted_to_kernel(NetDrop reason);

class ExceptionPath {
 public:
  // `tap`: the TAP port, RX and TX queue 0 (null in unit tests: frames for the kernel collect
  // in to_kernel_batch() and nothing is read from it).
  explicit ExceptionPath(Port* tap);

  // Takes `frame`, to be sent to the kernel in the next flush().
  void to_kernel(rte_mbuf* frame);
  // Reads one burst of what the kernel sent and pushes it into `nic` (the control lcore's TX
  // batch on the NIC); returns how many frames.
  std::size_t from_kernel(TxBatch& nic);
  void flush() { to_kernel_.flush(); }

  // rx_frames: read from the kernel; tx_frames: taken by the kernel; drop_tx_full: refused.
  const NetCounters& counters() const { return counters_; }
  // "net kernel: rx_frames=.. tx_frames=.. dropped=.." (and drop_tx_full=.. when not 0).
  std::string counters_text() const;
  TxBatch& to_kernel_batch() { return to_kernel_; }

 private:
  Port* tap_;
  NetCounters counters_;
  TxBatch to_kernel_;
};

}  // namespace sipline::dataplane::dpdk

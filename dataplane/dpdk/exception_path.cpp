#include "dataplane/dpdk/exception_path.hpp"

#include <array>

namespace sipline::dataplane::dpdk {

bool punted_to_kernel(NetDrop reason) {
  switch (reason) {
    case NetDrop::EtherType:    // LLDP, LACP, other protocols of the host
    case NetDrop::Protocol:     // TCP, SCTP, ... to our address
    case NetDrop::IcmpType:     // unreachable, time exceeded, router advertisements ...
    case NetDrop::UnknownPort:  // UDP to a port SIP does not use (SNMP, NTP, DNS answers)
      return true;
    default:
      return false;
  }
}

ExceptionPath::ExceptionPath(Port* tap) : tap_(tap), to_kernel_(tap, 0, counters_) {}

void ExceptionPath::to_kernel(rte_mbuf* frame) {
  to_kernel_.push(frame);
}

std::size_t ExceptionPath::from_kernel(TxBatch& nic) {
  if (tap_ == nullptr) return 0;
  std::array<rte_mbuf*, kBurst> frames;
  const std::uint16_t count = tap_->receive(0, frames);
  counters_.rx_frames.add(count);
  for (std::uint16_t i = 0; i < count; ++i)
    nic.push(frames[i]);
  return count;
}

std::string ExceptionPath::counters_text() const {
  const std::uint64_t refused = counters_.dropped_for(NetDrop::TxFull);
  std::string text = "net kernel: rx_frames=" + std::to_string(counters_.rx_frames.read()) +
                     " tx_frames=" + std::to_string(counters_.tx_frames.read()) +
                     " dropped=" + std::to_string(refused);
  if (refused != 0) text += " drop_tx_full=" + std::to_string(refused);
  return text + "\n";
}

}  // namespace sipline::dataplane::dpdk

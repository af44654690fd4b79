// NAT keep-alives toward registered contacts, on the control thread (Kamailio's nathelper
// natping). A phone behind a NAT registers through the NAT's mapping (the binding's
// `received`), and calls reach it through that mapping only while the NAT keeps it: many home
// routers drop an idle UDP mapping after 30 to 60 s, far less than a registration's hour, and
// the phone then stops ringing. With `[registrar] nat_ping_interval` every contact registered
// from behind a NAT (the REGISTER came from another address than its Contact names) gets a
// double CRLF every interval, from the proxy's SIP address to the mapping: RFC 5626 §4.4.1's
// keep-alive, which a SIP stack ignores (RFC 3261 §7.5) and an outbound-aware one answers
// with a CRLF (which the workers count as a keep-alive). The walk goes over the location
// table's shards a slice at a time, so that a million registrations spread their keep-alives
// over the interval instead of sending them in one burst.
//
// With `nat_ping = "options"` the keep-alive is an OPTIONS (Kamailio's sipping): the phone
// answers it (any final answer will do), the workers hand the answer over by our signed
// branch, and a contact that has answered none for `nat_ping_timeout` is handed to the control
// thread for removal (Kamailio's keepalive_timeout): a laptop that went to sleep with its
// binding alive stops taking a branch of every fork, and its calls stop waiting for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dataplane/location_table.hpp"
#include "dataplane/own_requests.hpp"
#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {

class NatPinger {
 public:
  // RFC 5626 §4.4.1: the keep-alive "ping".
  static constexpr std::string_view kKeepAlive = "\r\n\r\n";
  // The walk advances this often: an interval's sweep is cut into slices of this length.
  static constexpr std::int64_t kSliceMs = 100;

  NatPinger(const PipelineContext& context, const LocationTable& location);

  // Socket mode sends on a worker socket, DPDK mode on the control lcore's TX queue.
  void set_sender(OwnRequestSender send) { send_ = std::move(send); }
  // A reloaded configuration: its interval from the next sweep on.
  void reconfigure(const PipelineContext& context);

  // Sends the keep-alives due at `now_ms` (CLOCK_MONOTONIC).
  void poll(std::int64_t now_ms);
  // When poll() has work next; INT64_MAX when the keep-alives are off.
  std::int64_t next_due_ms() const {
    return interval_ms_ == 0 ? std::numeric_limits<std::int64_t>::max() : next_due_ms_;
  }

  // Where a keep-alive for `contact` goes: the NAT mapping it registered from, when that is
  // not the address its Contact names; std::nullopt when it is not behind a NAT.
  std::optional<PeerAddress> mapping_of(const ContactView& contact) const;

  // A datagram a worker handed over: an answer to one of our OPTIONS is taken here (true),
  // at `now_ms`; anything else is left (false) for the prober and the trunk registrations.
  bool take_answer(std::string_view datagram, std::int64_t now_ms);

  // A contact silent past nat_ping_timeout, for the control thread to remove.
  struct Silent {
    std::string aor;
    std::string contact;  // its URI as registered
  };
  std::vector<Silent> take_silent() { return std::exchange(silent_, {}); }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t send_failed() const { return send_failed_; }
  std::uint64_t answered() const { return answered_; }
  // "nat_pings: interval_s=N sent=N failed=N answered=N silent=N\n"
  std::string counters_text() const;

 private:
  // What we know of a contact pinged with OPTIONS: when it last answered, refreshed its
  // registration (a new CSeq of its REGISTER) or was first pinged, and the sweep that last
  // saw it registered (older ones are forgotten).
  struct Liveness {
    std::int64_t heard_ms = 0;
    std::uint32_t sweep = 0;
    std::uint32_t register_cseq = 0;
  };

  void ping_slice(std::size_t slice);
  void ping(std::string_view aor, const ContactView& contact);
  bool send_options(std::uint64_t token, std::string_view uri, std::size_t socket,
                    const PeerAddress& to);
  void end_sweep();

  const PipelineContext* context_;
  const LocationTable* location_;
  OwnRequestSender send_;
  std::int64_t interval_ms_ = 0;
  std::size_t slices_ = 1;  // per sweep
  std::size_t slice_ = 0;   // the next one
  bool started_ = false;
  std::int64_t sweep_start_ms_ = 0;
  std::int64_t next_due_ms_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t send_failed_ = 0;
  // nat_ping = "options"
  bool options_ = false;
  std::int64_t timeout_ms_ = 0;  // 0: a silent contact stays
  std::int64_t now_ms_ = 0;      // of the current poll
  std::uint32_t sweep_ = 0;
  std::unordered_map<std::uint64_t, Liveness> liveness_;  // by token_of(aor, contact)
  std::vector<Silent> silent_;
  std::string from_uri_;        // "sip:sipline@<realm>"
  std::string boot_;            // random per start: From tag, Call-ID
  std::string call_id_prefix_;  // "sl-natping-<boot>-"
  std::unique_ptr<sip::Message> message_;
  std::uint64_t answered_ = 0;
  std::uint64_t silent_count_ = 0;
};

}  // namespace sipline::dataplane

// Registration-based SIP trunks ([[trunk_registrations]]), on the control thread: sipline
// registers with each carrier's registrar as a UA does (RFC 3261 §10.2), so that the carrier
// sends the trunk's calls to our Contact.
//
// Per trunk, one REGISTER at a time (a non-INVITE client transaction, §17.1.2: sent again
// after T1, doubling up to T2, T2 apart after a provisional answer, given up at Timer F =
// 64 T1). A 401/407 is answered with credentials (sip/digest_client.hpp, MD5 or SHA-256,
// qop=auth) in a new REGISTER (CSeq + 1); refreshes send the last challenge's credentials
// again with the next nonce count, and a new challenge is answered once. A 423 asks again
// with the registrar's Min-Expires. A 2xx registers the trunk until the expiry it granted
// (our Contact's expires, else Expires), refreshed when 90% of it has passed. Anything else
// (a refusal, credentials refused twice, no answer by Timer F) fails: logged, counted, tried
// again after retry_interval.
//
// The answers come back like the health probes' (our signed branch, handed over by the
// workers); take_answer() takes the REGISTER ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/own_requests.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/digest_client.hpp"
#include "sip/message.hpp"

namespace sipline::dataplane {

// RFC 3261 §17.1.1.1 timer values, as a UA over UDP uses them.
inline constexpr std::int64_t kTimerT1Ms = 500;
inline constexpr std::int64_t kTimerT2Ms = 4000;
inline constexpr std::int64_t kTimerFMs = 64 * kTimerT1Ms;

class TrunkRegistrar {
 public:
  using Send = OwnRequestSender;
  using Clock = std::function<std::int64_t()>;  // monotonic milliseconds

  TrunkRegistrar(const PipelineContext& context, Clock clock);

  void set_sender(Send send) { send_ = std::move(send); }

  // A reloaded configuration: a trunk whose settings did not change keeps its registration
  // and schedule; a new or changed one registers at once; one removed, or the old settings
  // of one changed, is unregistered (unregister()).
  void reconfigure(const PipelineContext& context);

  // Shutdown: every registered trunk's binding is removed at its carrier (§10.2.2: a
  // REGISTER with Expires 0, answering the last challenge), so that the carrier stops
  // sending calls here at once instead of at the binding's expiry. Sent once, the answer
  // not waited for: a REGISTER lost, or challenged anew, leaves the binding to expire.
  void unregister_all();

  // Sends what is due: new REGISTERs (first, refresh, retry) and retransmissions.
  void poll();
  // When poll() has something to do next; INT64_MAX: nothing configured.
  std::int64_t next_due_ms() const;

  // A datagram the workers handed over: true when it is an answer to a REGISTER of ours
  // (taken here), false for anything else.
  bool take_answer(std::string_view datagram);

  // siplinectl trunks: one line per trunk.
  std::string status_text() const;
  bool empty() const { return trunks_.empty(); }

 private:
  enum class State : std::uint8_t { Registering, Registered, Failed, Unregistered };
  struct Trunk {
    config::TrunkRegistration spec;
    std::string call_id;
    std::string from_tag;
    std::uint32_t cseq = 0;
    std::uint32_t expires_asked = 0;
    State state = State::Registering;
    // The REGISTER in flight (a client transaction), if any.
    bool in_flight = false;
    std::uint64_t token = 0;  // in its branch
    std::string datagram;
    std::int64_t interval_ms = 0;
    std::int64_t timer_f_ms = 0;
    // Next REGISTER (in flight: its retransmission; else the refresh or the retry).
    std::int64_t next_send_ms = 0;
    // The last challenge, answered in every REGISTER after it; `challenge_fresh`: the one in
    // flight answers a challenge received for this very registration (a second one means the
    // credentials were refused).
    std::optional<sip::Challenge> challenge;
    std::uint32_t nonce_count = 0;
    bool challenge_fresh = false;
    // That one came with stale=true (RFC 7616 §3.3): answered once more, not a refusal.
    bool stale_answered = false;
    std::int64_t registered_until_ms = 0;
    std::uint16_t last_status = 0;
    std::string last_failure;
    std::uint64_t registers_sent = 0;
    std::uint64_t registrations = 0;
    std::uint64_t failures = 0;
  };

  static std::string_view state_name(State state);
  void start(Trunk& trunk, std::int64_t now_ms);
  void unregister(Trunk& trunk);
  void transmit(Trunk& trunk);
  void fail(Trunk& trunk, std::int64_t now_ms, std::string why);
  void on_answer(Trunk& trunk, const sip::Message& response, std::int64_t now_ms);
  void on_success(Trunk& trunk, const sip::Message& ok, std::int64_t now_ms);
  void on_challenge(Trunk& trunk, const sip::Message& challenge, std::int64_t now_ms);
  Trunk make_trunk(const config::TrunkRegistration& spec);
  // The first listen address of the registrar's family that names a host (not 0.0.0.0 or
  // ::), or -1: our Contact and Via.
  int socket_for(const Trunk& trunk) const;
  std::string contact_uri(const Trunk& trunk) const;

  const PipelineContext* context_;
  Clock clock_;
  Send send_;
  std::vector<Trunk> trunks_;
  std::unique_ptr<sip::Message> message_;
  std::string boot_;  // random per start: Call-IDs, tags and branches differ per boot
  std::uint64_t next_token_ = 1;
};

}  // namespace sipline::dataplane

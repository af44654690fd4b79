#include "dataplane/trunk_registrar.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <utility>

#include "dataplane/log.hpp"
#include "dataplane/own_requests.hpp"
#include "sip/branch.hpp"
#include "sip/outbound_register.hpp"

namespace sipline::dataplane {
namespace {

// Settings equal but for where they are written: a reload that only moved them keeps the
// registration.
bool same_settings(config::TrunkRegistration a, const config::TrunkRegistration& b) {
  a.line = b.line;
  return a == b;
}

// Whole seconds until `until_ms`, rounded up (a grant of 3600 s shows 3600 for its first
// second), never negative.
std::int64_t seconds_left(std::int64_t until_ms, std::int64_t now_ms) {
  return std::max<std::int64_t>(0, (until_ms - now_ms + 999) / 1000);
}

// Refresh when 90% of the granted time has passed (at least 1 s after the answer).
std::int64_t refresh_delay_ms(std::uint32_t granted_s) {
  return std::max<std::int64_t>(1000, static_cast<std::int64_t>(granted_s) * 900);
}

}  // namespace

TrunkRegistrar::TrunkRegistrar(const PipelineContext& context, Clock clock)
    : context_(&context),
      clock_(std::move(clock)),
      message_(std::make_unique<sip::Message>()),
      boot_(hex64_string(random_u64())) {
  for (const config::TrunkRegistration& spec : context.config->trunk_registrations)
    trunks_.push_back(make_trunk(spec));
}

TrunkRegistrar::Trunk TrunkRegistrar::make_trunk(const config::TrunkRegistration& spec) {
  Trunk trunk;
  trunk.spec = spec;
  // §10.2: one Call-ID for all registrations of this boot, a From tag of our own.
  const std::string id = hex64_string(random_u64());
  trunk.call_id = "sl-reg-" + id + "-" + boot_;
  trunk.from_tag = id;
  trunk.expires_asked = spec.expires_s;
  trunk.next_send_ms = INT64_MIN;  // at once
  return trunk;
}

void TrunkRegistrar::reconfigure(const PipelineContext& context) {
  std::vector<Trunk> next;
  std::vector<bool> kept(trunks_.size(), false);
  for (const config::TrunkRegistration& spec : context.config->trunk_registrations) {
    const auto same = std::find_if(trunks_.begin(), trunks_.end(), [&](const Trunk& running) {
      return !kept[static_cast<std::size_t>(&running - trunks_.data())] &&
             same_settings(running.spec, spec);
    });
    if (same == trunks_.end()) {
      next.push_back(make_trunk(spec));
      continue;
    }
    kept[static_cast<std::size_t>(same - trunks_.begin())] = true;
    next.push_back(std::move(*same));
    next.back().spec.line = spec.line;
  }
  // From the running context: its listen addresses and branch key wrote the binding.
  for (std::size_t i = 0; i < trunks_.size(); ++i) {
    if (!kept[i]) unregister(trunks_[i]);
  }
  context_ = &context;
  trunks_ = std::move(next);
}

void TrunkRegistrar::unregister_all() {
  for (Trunk& trunk : trunks_)
    unregister(trunk);
}

void TrunkRegistrar::unregister(Trunk& trunk) {
  if (trunk.state != State::Registered) return;
  trunk.expires_asked = 0;
  start(trunk, clock_());
  trunk.in_flight = false;  // not sent again: its answer is taken and ignored
  trunk.state = State::Unregistered;
  trunk.next_send_ms = INT64_MAX;
  SIPLINE_LOG_INFO("trunk registration \"%s\": %s unregistered at %s", trunk.spec.name.c_str(),
                   trunk.spec.aor().c_str(), trunk.spec.registrar.uri.c_str());
}

int TrunkRegistrar::socket_for(const Trunk& trunk) const {
  const lb::AddressFamily family = trunk.spec.first_hop().next_hop.address.family;
  for (std::size_t i = 0; i < context_->listen.size(); ++i) {
    const lb::IpAddress& address = context_->listen[i].endpoint().address;
    // A wildcard address names no host the carrier could send to (config/ requires another).
    if (address.family == family && !address.is_unspecified()) return static_cast<int>(i);
  }
  return -1;
}

std::string TrunkRegistrar::contact_uri(const Trunk& trunk) const {
  const int socket = socket_for(trunk);
  if (socket < 0) return {};
  const sip::ListenAddress& address =
      context_->identity.listen_address(static_cast<std::size_t>(socket));
  return "sip:" + trunk.spec.contact_user + "@" + std::string(address.sent_by());
}

void TrunkRegistrar::start(Trunk& trunk, std::int64_t now_ms) {
  const int socket = socket_for(trunk);
  if (socket < 0) {
    fail(trunk, now_ms, "no listen address of the first hop's address family");
    return;
  }
  ++trunk.cseq;
  trunk.token = next_token_++;
  const sip::Branch branch = sip::signed_branch(trunk.token, context_->identity.branch_key);
  const std::string contact = contact_uri(trunk);
  std::array<char, 1024> credentials{};
  std::size_t credentials_size = 0;
  if (trunk.challenge) {
    // RFC 7616 §3.4: the cnonce is ours, fresh for each request; nc counts the nonce's uses.
    const std::string cnonce = hex64_string(random_u64());
    credentials_size = sip::write_authorization(
        credentials, *trunk.challenge,
        sip::CredentialsInput{trunk.spec.auth_user, trunk.spec.password, "REGISTER",
                              trunk.spec.registrar.uri, cnonce, ++trunk.nonce_count});
  }
  const std::string aor = trunk.spec.aor();
  sip::OutboundRegister request;
  request.registrar_uri = trunk.spec.registrar.uri;
  request.route = trunk.spec.route;
  request.aor = aor;
  request.contact_uri = contact;
  request.sent_by = context_->identity.listen_address(static_cast<std::size_t>(socket)).sent_by();
  request.branch = branch.view();
  request.from_tag = trunk.from_tag;
  request.call_id = trunk.call_id;
  request.cseq = trunk.cseq;
  request.expires_s = trunk.expires_asked;
  request.credentials = {credentials.data(), credentials_size};
  trunk.datagram = sip::write_outbound_register(request);
  trunk.in_flight = true;
  trunk.interval_ms = kTimerT1Ms;
  trunk.timer_f_ms = now_ms + kTimerFMs;
  trunk.next_send_ms = now_ms + kTimerT1Ms;
  transmit(trunk);
}

void TrunkRegistrar::transmit(Trunk& trunk) {
  ++trunk.registers_sent;
  const int socket = socket_for(trunk);
  if (!send_ || socket < 0) return;  // lost as on the wire: Timer E sends it again
  send_(trunk.datagram, static_cast<std::size_t>(socket),
        to_peer_address(trunk.spec.first_hop().next_hop));
}

void TrunkRegistrar::fail(Trunk& trunk, std::int64_t now_ms, std::string why) {
  trunk.in_flight = false;
  trunk.challenge_fresh = false;
  trunk.stale_answered = false;
  trunk.state = State::Failed;
  trunk.expires_asked = trunk.spec.expires_s;
  ++trunk.failures;
  trunk.next_send_ms = now_ms + static_cast<std::int64_t>(trunk.spec.retry_interval_s) * 1000;
  SIPLINE_LOG_WARN("trunk registration \"%s\" (%s at %s): %s; trying again in %u s",
                   trunk.spec.name.c_str(), trunk.spec.aor().c_str(),
                   trunk.spec.registrar.uri.c_str(), why.c_str(), trunk.spec.retry_interval_s);
  trunk.last_failure = std::move(why);
}

void TrunkRegistrar::poll() {
  const std::int64_t now_ms = clock_();
  for (Trunk& trunk : trunks_) {
    if (!trunk.in_flight) {
      if (now_ms >= trunk.next_send_ms) start(trunk, now_ms);
      continue;
    }
    if (now_ms >= trunk.timer_f_ms) {
      trunk.last_status = 0;
      fail(trunk, now_ms, "no answer within 32 s (Timer F)");
    } else if (now_ms >= trunk.next_send_ms) {
      // Timer E (§17.1.2.2): T1, 2 T1, 4 T1 ... at most T2 apart.
      trunk.interval_ms = std::min(trunk.interval_ms * 2, kTimerT2Ms);
      trunk.next_send_ms = now_ms + trunk.interval_ms;
      transmit(trunk);
    }
  }
}

std::int64_t TrunkRegistrar::next_due_ms() const {
  std::int64_t due = INT64_MAX;
  for (const Trunk& trunk : trunks_) {
    due = std::min(due, trunk.next_send_ms);
    if (trunk.in_flight) due = std::min(due, trunk.timer_f_ms);
  }
  return due;
}

bool TrunkRegistrar::take_answer(std::string_view datagram) {
  if (trunks_.empty() || !sip::looks_like_response(datagram)) return false;
  sip::parse_message_into(*message_, datagram);
  const sip::Message& response = *message_;
  if (!response.ok() || !response.is_response() || response.cseq.method != sip::Method::Register ||
      response.via_count == 0 || !response.top_via.has_branch) {
    return false;
  }
  const std::optional<std::uint64_t> token =
      sip::our_branch_transaction(response.top_via.branch, context_->identity.branch_key);
  if (!token) return false;
  const auto trunk = std::find_if(trunks_.begin(), trunks_.end(), [&](const Trunk& candidate) {
    return candidate.in_flight && candidate.token == *token &&
           candidate.call_id == response.call_id && candidate.cseq == response.cseq.number;
  });
  // An answer to a REGISTER no longer in flight (a retransmitted answer, one after Timer F):
  // ours, and nothing to do.
  if (trunk != trunks_.end()) on_answer(*trunk, response, clock_());
  return true;
}

void TrunkRegistrar::on_answer(Trunk& trunk, const sip::Message& response, std::int64_t now_ms) {
  const std::uint16_t status = response.status_code;
  if (status < 200) {
    // §17.1.2.2: after a provisional answer, retransmissions every T2.
    trunk.interval_ms = kTimerT2Ms;
    trunk.next_send_ms = now_ms + kTimerT2Ms;
    return;
  }
  trunk.in_flight = false;
  trunk.last_status = status;
  if (status < 300) return on_success(trunk, response, now_ms);
  if (status == 401 || status == 407) return on_challenge(trunk, response, now_ms);
  if (status == 423) {
    // §10.2.8: ask again for at least the registrar's minimum.
    const std::optional<std::uint32_t> minimum = sip::min_expires(response);
    if (minimum && *minimum > trunk.expires_asked) {
      trunk.expires_asked = *minimum;
      return start(trunk, now_ms);
    }
  }
  fail(trunk, now_ms,
       "answered " + std::to_string(status) + " " + std::string(response.reason_phrase));
}

void TrunkRegistrar::on_success(Trunk& trunk, const sip::Message& ok, std::int64_t now_ms) {
  const std::uint32_t granted =
      sip::granted_expires(ok, contact_uri(trunk)).value_or(trunk.expires_asked);
  if (granted == 0) {
    fail(trunk, now_ms, "the registrar kept no binding (expires=0)");
    return;
  }
  const bool was_registered = trunk.state == State::Registered;
  trunk.state = State::Registered;
  trunk.challenge_fresh = false;
  trunk.stale_answered = false;
  ++trunk.registrations;
  trunk.registered_until_ms = now_ms + static_cast<std::int64_t>(granted) * 1000;
  trunk.next_send_ms = now_ms + refresh_delay_ms(granted);
  if (!was_registered) {
    SIPLINE_LOG_INFO("trunk registration \"%s\": %s registered at %s for %u s",
                     trunk.spec.name.c_str(), trunk.spec.aor().c_str(),
                     trunk.spec.registrar.uri.c_str(), granted);
  }
}

void TrunkRegistrar::on_challenge(Trunk& trunk, const sip::Message& challenge,
                                  std::int64_t now_ms) {
  const sip::PickedChallenge picked = sip::pick_challenge(challenge);
  // Challenged again: refused, unless the nonce had merely gone stale (RFC 7616 §3.3: the
  // credentials were right), which is answered once more.
  const bool stale_again =
      picked.error == sip::ChallengeError::None && picked.challenge.stale && !trunk.stale_answered;
  if (trunk.challenge_fresh && !stale_again) {
    fail(trunk, now_ms,
         "credentials refused (challenged again, " + std::to_string(challenge.status_code) + ")");
    return;
  }
  trunk.stale_answered = trunk.challenge_fresh;
  if (picked.error != sip::ChallengeError::None) {
    fail(trunk, now_ms,
         "no digest challenge it can answer in its " + std::to_string(challenge.status_code));
    return;
  }
  trunk.challenge = picked.challenge;
  trunk.nonce_count = 0;
  trunk.challenge_fresh = true;
  start(trunk, now_ms);
}

std::string_view TrunkRegistrar::state_name(State state) {
  switch (state) {
    case State::Registering:
      return "registering";
    case State::Registered:
      return "registered";
    case State::Failed:
      return "failed";
    case State::Unregistered:
      return "unregistered";
  }
  return "";
}

std::string TrunkRegistrar::status_text() const {
  const std::int64_t now_ms = clock_();
  std::string text;
  for (const Trunk& trunk : trunks_) {
    const bool registered = trunk.state == State::Registered;
    text += "trunk " + trunk.spec.name + ": " + std::string(state_name(trunk.state)) + " " +
            trunk.spec.aor() + " at " + trunk.spec.registrar.uri + " (" +
            trunk.spec.registrar.next_hop.to_string() + ")";
    if (trunk.spec.outbound_proxy) {
      text += " via " + trunk.spec.outbound_proxy->uri + " (" +
              trunk.spec.outbound_proxy->next_hop.to_string() + ")";
    }
    if (registered) {
      text += " expires_in=" + std::to_string(seconds_left(trunk.registered_until_ms, now_ms));
    }
    text += " last=" + std::to_string(trunk.last_status) +
            " sent=" + std::to_string(trunk.registers_sent) +
            " registrations=" + std::to_string(trunk.registrations) +
            " failures=" + std::to_string(trunk.failures);
    if (trunk.state == State::Failed) text += " (" + trunk.last_failure + ")";
    text += "\n";
  }
  return text;
}

}  // namespace sipline::dataplane

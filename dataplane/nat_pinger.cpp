#include "dataplane/nat_pinger.hpp"

#include <algorithm>
#include <array>
#include <functional>

#include "sip/branch.hpp"
#include "sip/options_probe.hpp"

namespace sipline::dataplane {
namespace {

std::int64_t interval_of(const PipelineContext& context) {
  return std::int64_t{context.config->registrar.nat_ping_interval_s} * 1000;
}

// One contact's OPTIONS: its branch, its Call-ID and its Liveness entry.
std::uint64_t token_of(std::string_view aor, std::string_view contact) {
  const std::uint64_t aor_hash = std::hash<std::string_view>{}(aor);
  return aor_hash ^ (std::hash<std::string_view>{}(contact)*0x9E3779B97F4A7C15ull);
}

}  // namespace

NatPinger::NatPinger(const PipelineContext& context, const LocationTable& location)
    : context_(&context),
      location_(&location),
      boot_(hex64_string(random_u64())),
      message_(std::make_unique<sip::Message>()) {
  call_id_prefix_ = "sl-natping-" + boot_ + "-";
  reconfigure(context);
}

void NatPinger::reconfigure(const PipelineContext& context) {
  context_ = &context;
  const config::RegistrarConfig& registrar = context.config->registrar;
  options_ = registrar.nat_ping == config::RegistrarConfig::NatPing::Options;
  timeout_ms_ = std::int64_t{registrar.nat_ping_timeout_s} * 1000;
  from_uri_ = "sip:sipline@" + context.config->domain.realm();
  if (!options_) liveness_.clear();
  const std::int64_t interval = interval_of(context);
  if (interval == interval_ms_) return;
  interval_ms_ = interval;
  slices_ = static_cast<std::size_t>(std::max<std::int64_t>(1, interval / kSliceMs));
  slice_ = 0;
  started_ = false;  // a new sweep at the next poll
}

void NatPinger::poll(std::int64_t now_ms) {
  if (interval_ms_ == 0) return;
  now_ms_ = now_ms;
  if (!started_ || now_ms - next_due_ms_ > interval_ms_) {
    // The first sweep, or the loop was held up for more than a sweep: start one now.
    started_ = true;
    sweep_start_ms_ = now_ms;
    slice_ = 0;
    next_due_ms_ = now_ms;
  }
  while (now_ms >= next_due_ms_) {
    ping_slice(slice_);
    if (++slice_ == slices_) {
      slice_ = 0;
      sweep_start_ms_ += interval_ms_;
      end_sweep();
    }
    next_due_ms_ = sweep_start_ms_ + static_cast<std::int64_t>(slice_) * interval_ms_ /
                                         static_cast<std::int64_t>(slices_);
  }
}

void NatPinger::ping_slice(std::size_t slice) {
  const std::size_t shards = location_->shard_count();
  const std::size_t first = slice * shards / slices_;
  const std::size_t end = (slice + 1) * shards / slices_;
  for (std::size_t shard = first; shard < end; ++shard) {
    location_->visit_shard(
        shard, [this](std::string_view aor, const ContactView& contact) { ping(aor, contact); });
  }
}

void NatPinger::ping(std::string_view aor, const ContactView& contact) {
  const std::optional<PeerAddress> mapping = mapping_of(contact);
  if (!mapping) return;
  const int socket = listen_socket_for(*context_, *mapping);
  if (socket < 0 || !send_) {
    ++send_failed_;
    return;
  }
  bool sent = false;
  if (options_) {
    const std::uint64_t token = token_of(aor, contact.uri);
    // First pinged now: silent from now on until it answers.
    Liveness& liveness =
        liveness_.try_emplace(token, Liveness{now_ms_, sweep_, contact.cseq}).first->second;
    liveness.sweep = sweep_;
    if (liveness.register_cseq != contact.cseq) {
      // It registered again since: it is there, whether or not it answers OPTIONS.
      liveness.register_cseq = contact.cseq;
      liveness.heard_ms = now_ms_;
    }
    if (timeout_ms_ != 0 && now_ms_ - liveness.heard_ms > timeout_ms_) {
      silent_.push_back(Silent{std::string(aor), std::string(contact.uri)});
      ++silent_count_;
      liveness_.erase(token);
      return;
    }
    sent = send_options(token, contact.uri, static_cast<std::size_t>(socket), *mapping);
  } else {
    sent = send_(kKeepAlive, static_cast<std::size_t>(socket), *mapping);
  }
  ++(sent ? sent_ : send_failed_);
}

bool NatPinger::send_options(std::uint64_t token, std::string_view uri, std::size_t socket,
                             const PeerAddress& to) {
  const sip::Branch branch = sip::signed_branch(token, context_->identity.branch_key);
  const std::string call_id = call_id_prefix_ + hex64_string(token);
  sip::OptionsProbe options;
  options.target_uri = uri;  // the phone's own URI, sent to its NAT mapping
  options.sent_by = context_->identity.listen_address(socket).sent_by();
  options.branch = branch.view();
  options.from_uri = from_uri_;
  options.from_tag = boot_;
  options.call_id = call_id;
  options.cseq = sweep_ + 1;
  std::array<char, 1024> buffer;
  const sip::Written written = sip::write_options_probe(options, buffer);
  return written.ok() && send_({buffer.data(), written.size}, socket, to);
}

bool NatPinger::take_answer(std::string_view datagram, std::int64_t now_ms) {
  if (!options_ || !sip::looks_like_response(datagram)) return false;
  sip::parse_message_into(*message_, datagram);
  const sip::Message& response = *message_;
  if (!response.is_response() || !response.ok() || !response.call_id.starts_with(call_id_prefix_)) {
    return false;
  }
  const std::optional<std::uint64_t> token =
      response.via_count > 0 && response.top_via.has_branch
          ? sip::our_branch_transaction(response.top_via.branch, context_->identity.branch_key)
          : std::nullopt;
  if (!token) return true;  // ours by its Call-ID, not by its branch: dropped
  if (const auto found = liveness_.find(*token); found != liveness_.end()) {
    found->second.heard_ms = now_ms;  // any answer shows the phone is there
    ++answered_;
  }
  return true;
}

void NatPinger::end_sweep() {
  // Contacts not seen in the sweep are no longer registered: forgotten.
  std::erase_if(liveness_, [this](const auto& entry) { return entry.second.sweep != sweep_; });
  ++sweep_;
}

std::optional<PeerAddress> NatPinger::mapping_of(const ContactView& contact) const {
  if (contact.received.empty()) return std::nullopt;
  const std::optional<PeerAddress> received = peer_from_text(contact.received);
  if (!received || !may_send_to(*received, context_->loopback_peers)) return std::nullopt;
  // Behind a NAT: the Contact names another address than the one the REGISTER came from (a
  // private one; a host name counts too, the phone did not write where it is reached).
  const std::optional<PeerAddress> written = contact_uri_address(contact.uri);
  if (written && same_peer(*written, *received)) return std::nullopt;
  return received;
}

std::string NatPinger::counters_text() const {
  return "nat_pings: interval_s=" + std::to_string(interval_ms_ / 1000) +
         " sent=" + std::to_string(sent_) + " failed=" + std::to_string(send_failed_) +
         " answered=" + std::to_string(answered_) + " silent=" + std::to_string(silent_count_) +
         "\n";
}

}  // namespace sipline::dataplane

#include "dataplane/nat_pinger.hpp"

#include <algorithm>

#include "sip/uri.hpp"

namespace sipline::dataplane {
namespace {

std::int64_t interval_of(const PipelineContext& context) {
  return std::int64_t{context.config->registrar.nat_ping_interval_s} * 1000;
}

}  // namespace

NatPinger::NatPinger(const PipelineContext& context, const LocationTable& location)
    : context_(&context), location_(&location) {
  reconfigure(context);
}

void NatPinger::reconfigure(const PipelineContext& context) {
  context_ = &context;
  const std::int64_t interval = interval_of(context);
  if (interval == interval_ms_) return;
  interval_ms_ = interval;
  slices_ = static_cast<std::size_t>(std::max<std::int64_t>(1, interval / kSliceMs));
  slice_ = 0;
  started_ = false;  // a new sweep at the next poll
}

void NatPinger::poll(std::int64_t now_ms) {
  if (interval_ms_ == 0) return;
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
    location_->visit_shard(shard, [this](const ContactView& contact) {
      const std::optional<PeerAddress> mapping = mapping_of(contact);
      if (!mapping) return;
      const int socket = socket_for(*mapping);
      if (socket >= 0 && send_ && send_(kKeepAlive, static_cast<std::size_t>(socket), *mapping)) {
        ++sent_;
      } else {
        ++send_failed_;
      }
    });
  }
}

std::optional<PeerAddress> NatPinger::mapping_of(const ContactView& contact) const {
  if (contact.received.empty()) return std::nullopt;
  const std::optional<PeerAddress> received = peer_from_text(contact.received);
  if (!received || !may_send_to(*received, context_->loopback_peers)) return std::nullopt;
  // Behind a NAT: the Contact names another address than the one the REGISTER came from (a
  // private one; a host name counts too, the phone did not write where it is reached).
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(contact.uri);
  if (uri.ok()) {
    const sip::HostPort& host = uri.value.host_port;
    const std::uint16_t port = host.has_port                              ? host.port
                               : uri.value.scheme == sip::UriScheme::Sips ? 5061
                                                                          : 5060;
    const std::optional<PeerAddress> written = peer_from_host(host.host, port);
    if (written && same_peer(*written, *received)) return std::nullopt;
  }
  return received;
}

int NatPinger::socket_for(const PeerAddress& to) const {
  for (std::size_t i = 0; i < context_->listen.size(); ++i) {
    if (context_->listen[i].is_ipv6() == to.is_ipv6()) return static_cast<int>(i);
  }
  return -1;
}

std::string NatPinger::counters_text() const {
  return "nat_pings: interval_s=" + std::to_string(interval_ms_ / 1000) +
         " sent=" + std::to_string(sent_) + " failed=" + std::to_string(send_failed_) + "\n";
}

}  // namespace sipline::dataplane

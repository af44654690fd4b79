// A location route's fallback (`fallback = "sip:..."`): where an INVITE goes when the called
// user cannot take it, a voicemail server or an operator, as in Kamailio's failure_route or a
// PBX's "forward on busy / no answer / unavailable":
//   - the user has no contact to send it to: the INVITE goes to the fallback, tracked as a
//     hunt that starts there (statelessly, with its CANCEL and ACK following it, §9.1,
//     §17.1.1.3, when the table is full);
//   - every contact of a hunt or a fork failed and the final answer the caller would get is
//     one of `fallback_codes` (408 for a contact that said nothing or rang past the ring
//     timeout): the proxy sends the INVITE on to the fallback as one more target of its
//     target set (§16.7 step 6 lets it add targets while no final answer went to the
//     caller; never after a 6xx, step 5), so the caller hears the mailbox instead of a
//     failure. The caller's CANCEL ends it as any branch.
// The fallback's Request-URI names the called user at the fallback's host (a mailbox), and a
// Diversion header (RFC 5806, what Asterisk, FreeSWITCH and carriers read) says whose call it
// was and why: user-busy (486), no-answer (408), unavailable (480, no contact), unknown.
#include <algorithm>
#include <cstring>

#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {
namespace {

// RFC 5806 §4 diversion-reason values for the answer that diverted the call.
std::string_view diversion_reason(std::uint16_t code) {
  switch (code) {
    case 0:
    case 480:
      return "unavailable";
    case 486:
      return "user-busy";
    case 408:
      return "no-answer";
    default:
      return "unknown";
  }
}

// The fallback's Request-URI for `user` is this long (fallback_target() writes it).
std::size_t fallback_uri_size(const lb::Forking::Fallback& fallback, std::size_t user_size) {
  return fallback.uri_head.size() +
         (fallback.names_user ? 0 : user_size + fallback.uri_tail.size());
}

}  // namespace

void Pipeline::keep_route(TxIndex index, const lb::RouteRule& route, std::string_view aor) {
  const std::span<const lb::RouteRule> rules = context_->routes.rules();
  const auto position = static_cast<std::size_t>(&route - rules.data());
  HuntState& hunt = hunts_[index];
  // A call: a MESSAGE hunted over the contacts does not go to voicemail.
  if (!route.fork.fallback || message_->method != sip::Method::Invite ||
      aor.size() > HuntState::kAorCapacity || position >= HuntState::kNoRoute) {
    return;
  }
  std::copy(aor.begin(), aor.end(), hunt.aor.begin());
  hunt.aor_size = static_cast<std::uint8_t>(aor.size());
  hunt.route = static_cast<std::uint16_t>(position);
  hunt.routes_epoch = routes_epoch_;
}

const lb::Forking::Fallback* Pipeline::fallback_for(TxIndex index, std::uint16_t code) const {
  const HuntState& hunt = hunts_[index];
  // A reload since the call came may have changed or removed its route.
  if (hunt.fell_back || hunt.route == HuntState::kNoRoute || hunt.routes_epoch != routes_epoch_ ||
      transactions_->at(index).cancelled) {
    return nullptr;
  }
  const std::span<const lb::RouteRule> rules = context_->routes.rules();
  if (hunt.route >= rules.size() || !rules[hunt.route].fork.fallback) return nullptr;
  const lb::Forking::Fallback& fallback = *rules[hunt.route].fork.fallback;
  if (std::find(fallback.codes.begin(), fallback.codes.end(), code) == fallback.codes.end()) {
    return nullptr;
  }
  // Our ACK and CANCEL carry the Request-URI kept beside the entry.
  return fallback_uri_size(fallback, hunt.aor_size) <= TxOrigin::kRequestUriCapacity ? &fallback
                                                                                     : nullptr;
}

Pipeline::ContactChoice Pipeline::fallback_target(const lb::Forking::Fallback& fallback,
                                                  std::string_view user) {
  const std::string_view head = fallback.uri_head;
  const std::string_view tail = fallback.uri_tail;
  const std::size_t size = fallback_uri_size(fallback, user.size());
  if (size > fallback_uri_.size())
    return ContactChoice{to_peer_address(fallback.target.next_hop), {}};
  char* cursor = std::copy(head.begin(), head.end(), fallback_uri_.begin());
  if (!fallback.names_user) {
    cursor = std::copy(user.begin(), user.end(), cursor);
    std::copy(tail.begin(), tail.end(), cursor);
  }
  return ContactChoice{to_peer_address(fallback.target.next_hop),
                       std::string_view(fallback_uri_.data(), size)};
}

std::string_view Pipeline::diversion_line(std::string_view user, std::uint16_t code) {
  const std::string_view realm = context_->config->domain.realm();
  const std::string_view reason = diversion_reason(code);
  const int size = std::snprintf(
      diversion_.data(), diversion_.size(), "Diversion: <sip:%.*s@%.*s>;reason=%.*s;counter=1\r\n",
      static_cast<int>(user.size()), user.data(), static_cast<int>(realm.size()), realm.data(),
      static_cast<int>(reason.size()), reason.data());
  if (size <= 0 || static_cast<std::size_t>(size) >= diversion_.size()) return {};
  return std::string_view(diversion_.data(), static_cast<std::size_t>(size));
}

std::string_view Pipeline::diversion_for(TxIndex index) {
  const sip::TransactionTable::Entry& entry = transactions_->at(index);
  if ((!entry.hunts && !entry.fork_branch) || !hunts_[index].fell_back) return {};
  const HuntState& call = hunts_[request_owner(index)];
  return diversion_line(call.aor_view(), call.outcome);
}

Outcome Pipeline::unavailable(const Inbound& in, const sip::RoutePlan& plan,
                              const lb::RouteRule& route, std::string_view user,
                              const Dialled& dialled, const OutputBuffers& out) {
  const sip::Method method = message_->method;
  const bool new_invite = method == sip::Method::Invite && !message_->to.has_tag;
  // The CANCEL and the ACK of a non-2xx go where their INVITE went (§9.1, §17.1.1.3).
  const bool follows_invite = method == sip::Method::Cancel || method == sip::Method::Ack;
  if (!route.fork.fallback || (!new_invite && !follows_invite)) {
    return respond(in, 480, {}, {}, out);
  }
  const ContactChoice target = fallback_target(*route.fork.fallback, user);
  if (target.uri.empty()) return respond(in, 480, {}, {}, out);
  if (new_invite && may_hunt() && user.size() <= HuntState::kAorCapacity) {
    if (std::optional<Outcome> sent =
            track_to_fallback(in, plan, route, user, target, dialled, out)) {
      return *sent;
    }
  }
  // The CANCEL or ACK of a call the table had no room for: statelessly, as its INVITE went.
  ForwardExtras extras = dialled.forward_extras();
  if (new_invite) {
    extras.diversion = diversion_line(user, 0);
    count(&WorkerCounters::calls_diverted);
  }
  return forward(in, plan, target.destination, target.uri, out, extras);
}

std::optional<Outcome> Pipeline::track_to_fallback(const Inbound& in, const sip::RoutePlan& plan,
                                                   const lb::RouteRule& route,
                                                   std::string_view user,
                                                   const ContactChoice& target,
                                                   const Dialled& dialled,
                                                   const OutputBuffers& out) {
  // A hunt that starts at its fallback: our 100 Trying, Timer A's copies, the caller's CANCEL,
  // and our 408 should the fallback not answer either.
  const TxIndex index = open_transaction(in, target.uri);
  if (index == sip::TransactionTable::kNone) return std::nullopt;  // statelessly
  transactions_->at(index).hunts = true;
  HuntState& hunt = hunts_[index];
  hunt = HuntState{};
  hunt.no_answer_ms = route.fork.no_answer_ms;
  keep_route(index, route, user);
  hunt.fell_back = true;
  hunt.outcome = 0;  // no contact: "unavailable"
  Dialled to_fallback = dialled;
  to_fallback.request_uri = target.uri;
  const Outcome sent = start_transaction(index, in, plan, target.destination, to_fallback, out);
  if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
    count(&WorkerCounters::calls_diverted);
  }
  return sent;
}

std::optional<Outcome> Pipeline::fork_to_fallback(TxIndex index, std::uint16_t code,
                                                  const OutputBuffers& out) {
  const lb::Forking::Fallback* fallback = fallback_for(index, code);
  HuntState& state = hunts_[index];
  if (fallback == nullptr || state.branch_count >= HuntState::kMaxContacts) return std::nullopt;
  const ContactChoice target = fallback_target(*fallback, state.aor_view());
  const TxOrigin& origin = origins_[index];
  const std::size_t position = state.branch_count;
  // The fallback answers for itself (its own greeting): Timer C, not the phones' ring timeout.
  const lb::Forking& fork = context_->routes.rules()[state.route].fork;
  if (!open_branch(index, Inbound{{}, origin.source, origin.socket}, target, fork.no_answer_ms,
                   0)) {
    count(&WorkerCounters::failover_untracked);
    return std::nullopt;
  }
  const TxIndex branch =
      transactions_->find(fork_branch_key(transactions_->at(index).key, position));
  state.fell_back = true;
  state.outcome = code;
  state.open_branches = 1;
  hunts_[branch].fell_back = true;
  const Outcome sent = send_branch(branch, out);
  if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
    count(&WorkerCounters::calls_diverted);
  }
  return sent;
}

}  // namespace sipline::dataplane

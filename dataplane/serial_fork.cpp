// Serial forking over a user's registered contacts (a location route's fork = "serial"):
// RFC 3261 §16.6 step 1 and §16.7 step 8 let a proxy try the targets of its target set one
// after another, highest q first. A user registered from a desk phone and from a laptop that
// went to sleep without unregistering keeps both bindings until they expire; a stateless
// proxy sends every call to one of them, and when that is the laptop the call is lost.
//
// A hunted request is a transaction of the worker's table like a failover pool's
// (pool_failover.cpp: 100 Trying, Timer A, our ACK of a failed attempt, the caller's CANCEL,
// Timer C's CANCEL), with the user's contacts in the place of the pool's members:
//   - the first attempt goes to the contact the stateless proxy would have chosen (the
//     table's order: highest q, most recently refreshed first), or the first after it that
//     can be sent to;
//   - no answer at all within `fork_timeout_ms`, or a final answer from 300 to 599 (§16.7
//     step 6: a 6xx ends the search), and the request goes to the next contact not yet
//     tried, looked up again (a phone that registered meanwhile is tried too);
//   - a ringing contact keeps its turn until `ring_timeout_ms` (Timer C's place while another
//     contact is left): then our CANCEL, and the next contact after its 487;
//   - a 2xx ends the hunt; so does the caller's CANCEL;
//   - no contact left: the route's fallback (voicemail, call_diversion.cpp) when the last
//     contact's failure is one of its codes; else the last contact's final answer goes to the
//     caller, and when the last one said nothing, our answer is the code an earlier contact
//     gave, else 408.
// The caller may hear 180 from several contacts in turn (one early dialog each, §12.1), as
// from any forking proxy.
#include <algorithm>
#include <functional>

#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {
namespace {

// Timer C (§16.6 step 11): how long the last contact may ring.
constexpr std::int64_t kHuntTimerCMs = 180'000;

}  // namespace

std::uint32_t Pipeline::contact_hash(std::string_view uri) {
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(uri));
}

bool Pipeline::may_hunt() const {
  const sip::Method method = message_->method;
  return transactions_ && !hunts_.empty() && !message_->to.has_tag && method != sip::Method::Ack &&
         method != sip::Method::Cancel;
}

Outcome Pipeline::hunt(const Inbound& in, const sip::RoutePlan& plan, const lb::RouteRule& route,
                       std::string_view aor, const ContactsView& contacts, const Dialled& dialled,
                       const OutputBuffers& out) {
  const lb::Forking& fork = route.fork;
  // The first contact in the table's order that can be sent to: not one naming a host
  // (resolving it would block the worker), nor the proxy itself (a loop, 482 if sent), nor
  // one of a family we have no socket for.
  std::optional<ContactChoice> chosen;
  for (const ContactView& contact : contacts) {
    chosen = sendable_contact(in, contact);
    if (chosen) break;
  }
  const std::optional<std::string_view> first_uri =
      chosen ? choice_request_uri(*chosen, contact_uri_) : std::nullopt;
  if (!first_uri) return unavailable(in, plan, route, aor, dialled, out);
  const ContactChoice& first = *chosen;
  const PeerAddress destination = first.destination;
  if (!first.alias_address.empty()) count(&WorkerCounters::node_relays_out);
  Dialled to_contact = dialled;
  to_contact.request_uri = *first_uri;
  // A user name too long to keep goes statelessly, as without fork.
  const TxIndex index = aor.size() <= HuntState::kAorCapacity ? open_transaction(in, *first_uri)
                                                              : sip::TransactionTable::kNone;
  if (index == sip::TransactionTable::kNone) {
    return forward(in, plan, destination, *first_uri, out, dialled.forward_extras());
  }
  transactions_->at(index).hunts = true;
  HuntState& hunt = hunts_[index];
  hunt = HuntState{};
  std::copy(aor.begin(), aor.end(), hunt.aor.begin());
  hunt.aor_size = static_cast<std::uint8_t>(aor.size());
  hunt.no_answer_ms = fork.no_answer_ms;
  hunt.ring_timeout_ms = fork.ring_timeout_ms;
  hunt.tried[0] = contact_hash(first.uri);
  hunt.tried_count = 1;
  keep_route(index, route, aor);
  return start_transaction(index, in, plan, destination, to_contact, out);
}

std::optional<Pipeline::ContactChoice> Pipeline::next_contact(TxIndex index) const {
  const HuntState& hunt = hunts_[index];
  if (hunt.fell_back || hunt.tried_count >= hunt.tried.size()) return std::nullopt;
  const auto tried_end = hunt.tried.begin() + hunt.tried_count;
  // Valid until this worker's next quiescent state: used before it.
  const ContactsView contacts = context_->location->lookup(hunt.aor_view());
  for (const ContactView& contact : contacts) {
    const std::uint32_t hash = contact_hash(contact.uri);
    if (std::find(hunt.tried.begin(), tried_end, hash) != tried_end) continue;
    // Every later request of the attempt (our ACK, CANCEL) carries its Request-URI, kept
    // beside the entry: one longer than that cannot be hunted to.
    ContactChoice choice = choose_contact(contact);
    if (choice.destination.empty() || !fits_origin(choice)) continue;
    choice.hash = hash;
    return choice;
  }
  return std::nullopt;
}

bool Pipeline::hunt_goes_on(TxIndex index) const {
  return next_contact(index) || fallback_for(index, hunts_[index].outcome) != nullptr;
}

Outcome Pipeline::send_to_next_contact(TxIndex index, const Inbound& in, const sip::RoutePlan& plan,
                                       const OutputBuffers& out) {
  HuntState& hunt = hunts_[index];
  TxOrigin& origin = origins_[index];
  while (transactions_->at(index).may_fail_over && !hunt.fell_back) {
    std::optional<ContactChoice> choice = next_contact(index);
    if (choice) {
      hunt.tried[hunt.tried_count++] = choice->hash;
    } else if (const lb::Forking::Fallback* fallback = fallback_for(index, hunt.outcome)) {
      choice = fallback_target(*fallback, hunt.aor_view());  // call_diversion.cpp
      hunt.fell_back = true;
    } else {
      break;
    }
    origin.member = choice->destination;
    // Fits: next_contact() said so (a fallback's URI is the configuration's, checked there).
    const std::string_view uri = choice_request_uri(*choice, origin.request_uri).value_or("");
    if (uri.data() != origin.request_uri.data()) {
      std::copy(uri.begin(), uri.end(), origin.request_uri.begin());
    }
    origin.request_uri_size = static_cast<std::uint8_t>(uri.size());
    if (!choice->alias_address.empty()) count(&WorkerCounters::node_relays_out);
    const Outcome sent = send_next_attempt(index, in, plan, out);
    if (sent.verdict == Verdict::Send && sent.kind == SendKind::ForwardedRequest) {
      count(hunt.fell_back ? &WorkerCounters::calls_diverted : &WorkerCounters::contacts_hunted);
      return sent;
    }
    // A contact it cannot be sent to (one of our own addresses: forward() answered 482; no
    // socket of its family): the next one. (Nothing comes after the fallback.)
  }
  return answer_exhausted(index, in, out);
}

std::int64_t Pipeline::hunt_timer_c_ms(TxIndex index) const {
  const HuntState& hunt = hunts_[index];
  // A contact that rings unanswered counts as 408 for the fallback (no answer).
  if (hunt.ring_timeout_ms == 0 || (!next_contact(index) && fallback_for(index, 408) == nullptr)) {
    return kHuntTimerCMs;
  }
  return hunt.ring_timeout_ms;
}

}  // namespace sipline::dataplane

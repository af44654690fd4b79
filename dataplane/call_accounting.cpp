// The workers' half of call accounting ([accounting], call_records.hpp): which messages are
// a call's events, and the record each makes. Only an INVITE's final answer and a BYE's 2xx
// are looked at further (two of a call's seven messages); their From and To, which a proxy
// forwarding responses leaves unparsed (ParseScope::Proxy), are parsed here for the tags and
// users.
#include "dataplane/pipeline.hpp"
#include "sip/name_addr.hpp"
#include "sip/status_codes.hpp"
#include "sip/uri.hpp"

namespace sipline::dataplane {
namespace {

// A challenge is a step of the call's set-up (the caller sends it again with credentials),
// not its outcome.
using sip::is_challenge;

// The user part of a From/To URI as written: "1001" of "sip:1001@host" or "sips:1001:pw@host",
// the number of "tel:+15551234;phone-context=x"; empty without one. A record needs no more
// than that, and a full URI parse would double the cost of a record.
std::string_view uri_user(std::string_view uri) {
  const std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return {};
  const std::string_view scheme = uri.substr(0, colon);
  std::string_view rest = uri.substr(colon + 1);
  if (scheme.size() == 3 && (scheme[0] | 0x20) == 't') return rest.substr(0, rest.find(';'));
  const std::size_t at = rest.find('@');
  if (at == std::string_view::npos) return {};
  rest = rest.substr(0, at);
  return rest.substr(0, rest.find(':'));  // user:password
}

// The user of a From or To: parsed with its URI (never here: their URIs are deferred) or as
// written.
std::string_view user_of(const sip::NameAddr& address) {
  return address.uri_parsed ? address.uri.user : uri_user(address.uri_text);
}

}  // namespace

void Pipeline::fill_call_record(CallRecord& record, std::string_view to_tag) {
  // In place, into the message's own (cleared) From and To: no NameAddr built and copied.
  sip::parse_addresses(*message_);
  const sip::Message& message = *message_;
  const sip::NameAddr& from = message.from;
  const sip::NameAddr& to = message.to;
  record.set_texts(message.call_id, from.has_tag ? from.tag : std::string_view{},
                   to_tag.empty() && to.has_tag ? to.tag : to_tag, user_of(from), user_of(to),
                   message.is_response() ? message.reason_phrase : std::string_view{});
}

void Pipeline::note_relayed_response(const PeerAddress& callee, const PeerAddress& caller,
                                     std::uint16_t code) {
  const sip::Method method = message_->cseq.method;
  CallRecord::Event event;
  if (method == sip::Method::Invite && code >= 200 && !is_challenge(code)) {
    event = code < 300 ? CallRecord::Event::Answered : CallRecord::Event::Failed;
  } else if (method == sip::Method::Bye && code >= 200 && code < 300) {
    event = CallRecord::Event::Ended;
  } else {
    return;
  }
  // Written in its ring slot: no record on the stack to clear and copy.
  CallRecord* record = call_records_->claim();
  if (record == nullptr) {
    count(&WorkerCounters::call_records_dropped);
    return;
  }
  record->event = event;
  record->local = false;
  record->code = code;
  record->caller = caller;
  record->callee = callee;
  fill_call_record(*record, {});
  call_records_->commit();
  count(&WorkerCounters::call_records);
}

void Pipeline::note_local_answer(const Outcome& outcome) {
  // Our final failure to an INVITE; not a 503 of the overload gate (a call refused before it
  // was looked at, counted as shed), not our 100, not our challenge.
  if (outcome.verdict != Verdict::Send || outcome.kind != SendKind::LocalResponse ||
      outcome.code < 300 || is_challenge(outcome.code) || outcome.shed != Shed::None ||
      !message_->is_request() || message_->method != sip::Method::Invite) {
    return;
  }
  CallRecord* record = call_records_->claim();
  if (record == nullptr) {
    count(&WorkerCounters::call_records_dropped);
    return;
  }
  record->event = CallRecord::Event::Failed;
  record->local = true;
  record->code = outcome.code;
  record->caller = outcome.destination;
  record->callee = PeerAddress{};
  // Our answer's To tag (pipeline.hpp, local_to_tag), unless the INVITE had one (a re-INVITE).
  const ToTag tag = local_to_tag(message_->call_id, context_->to_tag_key);
  fill_call_record(*record, message_->to.has_tag ? std::string_view{} : tag.view());
  call_records_->commit();
  count(&WorkerCounters::call_records);
}

}  // namespace sipline::dataplane

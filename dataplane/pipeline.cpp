#include "dataplane/pipeline.hpp"

#include <array>

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "dataplane/source_guard.hpp"
#include "sip/branch.hpp"
#include "sip/call_id_scan.hpp"
#include "sip/contact_alias.hpp"
#include "sip/hex.hpp"
#include "sip/overload_control.hpp"
#include "sip/privacy.hpp"
#include "sip/rewrite.hpp"
#include "sip/route_token.hpp"
#include "sip/service_urn.hpp"
#include "sip/status_codes.hpp"
#include "sip/stun.hpp"
#include "sip/text.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::uint16_t kDefaultSipPort = 5060;
constexpr std::uint16_t kDefaultSipsPort = 5061;

// RFC 3261 §11.2: a 200 to OPTIONS SHOULD say what its sender supports. The proxy answers
// OPTIONS and REGISTER itself and relays these methods (§16: a proxy relays any method).
constexpr std::string_view kOptionsAnswerHeaders =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, MESSAGE, REFER, "
    "SUBSCRIBE, NOTIFY\r\nAccept: application/sdp\r\n";

template <class T>
T random_value() {
  T value{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1) {
    std::fprintf(stderr, "sipline: error: no randomness from OpenSSL\n");
    std::abort();
  }
  return value;
}

// `peer` when sipline may send to it (may_send_to), else std::nullopt: counted unroutable.
std::optional<PeerAddress> sendable(std::optional<PeerAddress> peer,
                                    const PipelineContext& context) {
  if (peer && !may_send_to(*peer, context.loopback_peers)) return std::nullopt;
  return peer;
}

// The next hop a message names (Route, Request-URI, Via) as an address sipline may send to.
std::optional<PeerAddress> peer_from_next_hop(const sip::NextHop& hop,
                                              const PipelineContext& context) {
  if (!hop.is_ip()) return std::nullopt;
  return sendable(peer_from_ip(hop.host, hop.kind == sip::HostKind::Ipv6Reference, hop.port),
                  context);
}

}  // namespace

std::optional<PeerAddress> contact_destination(const ContactView& contact,
                                               const PipelineContext& context) {
  if (!contact.received.empty()) {
    if (std::optional<PeerAddress> received = peer_from_text(contact.received)) {
      return sendable(received, context);
    }
  }
  return sendable(contact_uri_address(contact.uri), context);
}

// A contact registered through another node of a shared store, from behind a NAT (its
// Contact's address is not where its REGISTER came from), is sent through that node: the NAT
// lets in only what comes from the address the phone registered with. That node relays it to
// the alias (relay_for_trust_domain). A contact registered here, or not behind NAT, is sent
// to directly.
Pipeline::ContactChoice Pipeline::choose_contact(const ContactView& contact) const {
  ContactChoice choice{{}, contact.uri, 0, {}};
  if (!contact.node_address.empty() && !contact.received.empty()) {
    const std::optional<PeerAddress> node = peer_from_text(contact.node_address);
    const std::optional<PeerAddress> received = peer_from_text(contact.received);
    const std::optional<PeerAddress> written = contact_uri_address(contact.uri);
    const bool behind_nat =
        received && (!written || !(written->endpoint() == received->endpoint()));
    if (node && behind_nat && !is_our_address(*node)) {
      if (std::optional<PeerAddress> relay = sendable(node, *context_)) {
        choice.destination = *relay;
        choice.alias_address = contact.received;
      }
      return choice;
    }
  }
  if (std::optional<PeerAddress> direct = contact_destination(contact, *context_)) {
    choice.destination = *direct;
  }
  return choice;
}

std::optional<std::string_view> Pipeline::choice_request_uri(const ContactChoice& choice,
                                                             std::span<char> out) {
  if (choice.alias_address.empty()) return choice.uri;
  return sip::write_aliased_uri(choice.uri, choice.alias_address, out);
}

bool Pipeline::fits_origin(const ContactChoice& choice) {
  std::array<char, TxOrigin::kRequestUriCapacity> uri;
  return choice_request_uri(choice, uri).has_value();
}

std::optional<PeerAddress> contact_uri_address(std::string_view text) {
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(text);
  if (!uri.ok()) return std::nullopt;
  const sip::HostPort& host = uri.value.host_port;
  if (host.kind != sip::HostKind::Ipv4 && host.kind != sip::HostKind::Ipv6Reference) {
    return std::nullopt;  // a name: resolving it would block the worker
  }
  const std::uint16_t port = host.has_port                              ? host.port
                             : uri.value.scheme == sip::UriScheme::Sips ? kDefaultSipsPort
                                                                        : kDefaultSipPort;
  return peer_from_host(host.host, port);
}

int listen_socket_for(const PipelineContext& context, const PeerAddress& to) {
  for (std::size_t i = 0; i < context.listen.size(); ++i) {
    if (context.listen[i].is_ipv6() == to.is_ipv6()) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// Appends to a fixed buffer; remembers whether anything did not fit.
class LineWriter {
 public:
  explicit LineWriter(std::span<char> out) : out_(out) {}
  void append(std::string_view text) {
    if (text.size() > out_.size() - size_) {
      overflow_ = true;
      return;
    }
    std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
  }
  bool overflow() const { return overflow_; }
  std::string_view view() const { return {out_.data(), size_}; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// "Contact: <uri>[;q=0.5]\r\n" (RFC 3261 §20.10; q with at most three decimals, §25.1).
void append_contact_line(LineWriter& writer, std::string_view uri, std::uint16_t q_milli) {
  writer.append("Contact: <");
  writer.append(uri);
  writer.append(">");
  if (q_milli < 1000) {
    char q[8] = {'0', '.', char('0' + q_milli / 100), char('0' + q_milli / 10 % 10),
                 char('0' + q_milli % 10)};
    std::size_t size = 5;
    while (size > 3 && q[size - 1] == '0')
      --size;
    if (q_milli == 0) size = 1;  // "0"
    writer.append(";q=");
    writer.append({q, size});
  }
  writer.append("\r\n");
}

}  // namespace

ToTag local_to_tag(std::string_view call_id, std::uint64_t key) {
  // Keyed so that the tags of one boot cannot be predicted from the Call-ID by others.
  std::uint64_t hash = sip::call_id_hash(call_id) ^ key;
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  ToTag tag;
  tag.text[0] = 's';
  tag.text[1] = 'l';
  sip::write_hex_digits(hash, std::span<char>(tag.text).subspan(2));
  return tag;
}

std::unique_ptr<PipelineContext> PipelineContext::create(
    std::shared_ptr<const config::Config> config, LocationTable* location) {
  auto context = std::make_unique<PipelineContext>();
  for (const std::string& name : config->domain.names)
    context->identity.add_domain(name);
  for (const config::SocketAddress& address : config->listen.udp) {
    context->identity.add_listen_address(address.address.to_string(), address.port);
    context->listen.push_back(to_peer_address(address));
    context->loopback_peers |= address.address.is_loopback() || address.address.is_unspecified();
  }
  context->identity.record_route = config->domain.record_route;
  context->scanner_user_agents = sip::SubstringSet(config->source_limits.scanner_user_agents);
  if (!config->domain.route_secret.empty()) {
    context->identity.route_key = sip::route_token_key(config->domain.route_secret);
  }
  context->identity.branch_key.secret = random_value<std::uint64_t>();
  context->to_tag_key = random_value<std::uint64_t>();
  context->nonce_secret = sip::random_nonce_secret();
  std::vector<std::pair<std::string, std::string>> users;
  for (const config::User& user : config->users)
    users.emplace_back(user.user, user.password);
  context->users = std::make_unique<sip::UserTable>(std::move(users));
  context->routes = lb::RouteTable(config->routes);
  context->pools = lb::PoolSet(config->pools);
  for (std::size_t pool = 0; pool < config->pools.size(); ++pool) {
    const lb::PoolSpec& spec = config->pools[pool];
    if (!spec.credentials.configured()) continue;
    for (std::size_t member = 0; member < spec.members.size(); ++member) {
      context->challenging_members.push_back(PipelineContext::ChallengingMember{
          to_peer_address(spec.members[member].address), static_cast<std::uint16_t>(pool),
          static_cast<std::uint16_t>(member)});
    }
  }
  context->trusted_sources =
      std::make_shared<const TrustedSources>(source_limits_from(*config).trusted);
  std::vector<lb::IpPrefix> trust_domain = server_prefixes(*config);
  trust_domain.insert(trust_domain.end(), config->domain.trust_domain.begin(),
                      config->domain.trust_domain.end());
  context->identity_sources = std::make_shared<const TrustedSources>(trust_domain);
  for (const config::User& user : config->users) {
    if (!user.caller_id.empty()) context->caller_ids.emplace_back(user.user, user.caller_id);
  }
  std::sort(context->caller_ids.begin(), context->caller_ids.end());
  context->location = location;
  context->config = std::move(config);
  return context;
}

namespace {

sip::DigestAuthSettings proxy_auth_settings(const PipelineContext& context,
                                            std::size_t worker_index) {
  return sip::DigestAuthSettings{
      .realm = context.config->domain.realm(),
      .algorithms = context.config->registrar.algorithms,
      .secret = context.nonce_secret,
      .issuer = static_cast<std::uint16_t>(1 + worker_index),
  };
}

}  // namespace

std::string_view Pipeline::asserted_identity_for(std::string_view user) {
  // RFC 3325 §9.1: a SIP URI in our domain naming the user by its caller ID.
  const std::string_view realm = context_->config->domain.realm();
  const std::string_view id = context_->caller_id_of(user);
  constexpr std::string_view kHead = "P-Asserted-Identity: <sip:";
  const std::size_t size = kHead.size() + id.size() + 1 + realm.size() + 3;
  if (size > asserted_line_.size()) return {};
  char* at = std::copy(kHead.begin(), kHead.end(), asserted_line_.data());
  at = std::copy(id.begin(), id.end(), at);
  *at++ = '@';
  at = std::copy(realm.begin(), realm.end(), at);
  at = std::copy_n(">\r\n", 3, at);
  return {asserted_line_.data(), size};
}

std::string_view PipelineContext::caller_id_of(std::string_view user) const {
  const auto found =
      std::lower_bound(caller_ids.begin(), caller_ids.end(), user,
                       [](const std::pair<std::string, std::string>& entry, std::string_view key) {
                         return std::string_view(entry.first) < key;
                       });
  if (found != caller_ids.end() && found->first == user) return found->second;
  return user;
}

std::unique_ptr<PipelineContext> PipelineContext::reloaded(
    std::shared_ptr<const config::Config> config, const PipelineContext& current) {
  std::unique_ptr<PipelineContext> context = create(std::move(config), current.location);
  context->identity.branch_key = current.identity.branch_key;
  context->to_tag_key = current.to_tag_key;
  context->nonce_secret = current.nonce_secret;
  context->guard = current.guard;
  if (current.call_counters != nullptr) context->attach_call_counters(*current.call_counters);
  return context;
}

Pipeline::Pipeline(const PipelineContext& context, std::size_t worker_index)
    : context_(&context),
      worker_index_(worker_index),
      message_(std::make_unique<sip::Message>()),
      authenticator_(proxy_auth_settings(context, worker_index)) {
  const int size = std::snprintf(retry_after_.data(), retry_after_.size(), "Retry-After: %u\r\n",
                                 context.config->overload.retry_after_s);
  retry_after_size_ = size > 0 ? static_cast<std::size_t>(size) : 0;
  prepare_transactions(context);
  if (context.call_counters != nullptr) {
    active_calls_ = std::make_unique<ActiveCallTable>(context.config->limits.call_table_size);
  }
}

void Pipeline::rebind(const PipelineContext& context) {
  // Calls tracked under the old pools may not fail over to a member of the new ones: indices
  // may now name other members (or other pools).
  if (context.pools.specs().size() != context_->pools.specs().size() ||
      !std::equal(context.pools.specs().begin(), context.pools.specs().end(),
                  context_->pools.specs().begin())) {
    ++pools_epoch_;
  }
  ++routes_epoch_;  // a hunt's route index may name another route now
  prepare_transactions(context);
  context_ = &context;
  // The realm or the algorithms may have changed; the nonce secret did not, so nonces handed
  // out before the reload still verify (their counts start again).
  authenticator_ = sip::DigestAuthenticator(proxy_auth_settings(context, worker_index_));
}

Outcome Pipeline::process_datagram(const Inbound& in, std::int64_t now, const OutputBuffers& out) {
  // RFC 5626 §4.4.2: STUN keep-alives share the SIP port; their first octets tell them apart.
  if (sip::looks_like_stun(in.bytes)) return answer_stun(in, out);
  sip::parse_message_into(*message_, in.bytes, sip::ParseScope::Proxy);
  // Only CRLFs (or nothing): RFC 5626 §4.4.1's keep-alive, which UAs send over UDP as well.
  // Nothing to answer (no pong on UDP) and nothing wrong.
  if (message_->error == sip::ParseError::Empty) return absorbed(Absorb::Keepalive);
  if (message_->is_response()) return process_response(in, out);
  return process_request(in, now, out);
}

Outcome Pipeline::answer_stun(const Inbound& in, const OutputBuffers& out) {
  const lb::SocketAddress& source = in.peer.endpoint();
  sip::StunPeer peer;
  peer.ipv6 = source.address.family == lb::AddressFamily::Ipv6;
  peer.address = source.address.bytes;
  peer.port = source.port;
  const sip::StunAnswer answer = sip::answer_stun(in.bytes, peer, out.primary);
  switch (answer.reply) {
    case sip::StunReply::None:
      return dropped(DropReason::Parse);  // §7.3: discarded
    case sip::StunReply::Indication:
      return absorbed(Absorb::Keepalive);
    case sip::StunReply::BindingSuccess:
    case sip::StunReply::UnknownAttributes:
      break;
  }
  // From the socket it came in on: the UA checks the flow it keeps open (RFC 5626 §4.4.2).
  return send(SendKind::StunAnswer, 0, Output{sip::Written{answer.size, {}}, false}, in.peer,
              in.socket);
}

Outcome Pipeline::process_request(const Inbound& in, std::int64_t now, const OutputBuffers& out) {
  const sip::Message& request = *message_;
  if (is_from_a_scanner()) return dropped(DropReason::Scanner);
  const sip::RequestCheck check = sip::check_request(request, context_->identity);
  if (check.verdict == sip::RequestVerdict::Drop) return dropped(DropReason::Parse);
  if (check.verdict == sip::RequestVerdict::Respond) {
    if (check.code == 483 && is_keepalive_options(request)) {
      // §16.3 step 3: an OPTIONS with Max-Forwards 0 is not forwarded, but the element "MAY
      // act as the final recipient": an SBC's keepalive sets 0 so that only its next hop,
      // the proxy, answers.
      return respond(in, 200, {}, kOptionsAnswerHeaders, out);
    }
    return respond(in, check.code, check.reason, check.extra.view(), out);
  }
  // §17.2.1: the ACK for a non-2xx response we sent carries our To tag; it ends the
  // (stateless) transaction here and must not be forwarded.
  if (request.method == sip::Method::Ack && request.to.has_tag &&
      request.to.tag == local_to_tag(request.call_id, context_->to_tag_key).view()) {
    if (transactions_ && !transactions_->empty()) note_ack_for_our_answer();
    return absorbed(Absorb::Ack);
  }
  if (active_calls_ != nullptr && active_calls_->size() != 0 && request.to.has_tag) {
    note_limited_request();
  }
  // §17.2.3: a request again, or an INVITE's CANCEL or ACK, for a call that fails over:
  // they go where its current attempt went, whatever the route table would say now.
  if (transactions_ && !transactions_->empty()) {
    if (std::optional<Outcome> tracked = match_transaction(in, out)) return *tracked;
  }
  const bool emergency = is_emergency_request();
  if (emergency) count(&WorkerCounters::emergency_requests);
  if (gate_ != nullptr && gate_->enabled() && !emergency) {
    const bool register_for_us = request.method == sip::Method::Register &&
                                 sip::uri_is_ours(request.request_uri, context_->identity);
    const RequestClass kind = classify_request(request, register_for_us);
    const Admission admission = gate_->admit(kind);
    if (admission != Admission::Admit) {
      const bool is_register =
          kind == RequestClass::RegisterForUs || kind == RequestClass::CredentialedRegister;
      const Shed why = is_register ? Shed::Register : Shed::NewRequest;
      if (admission == Admission::Shed) return shed(in, why, out);
      Outcome silent = dropped(DropReason::Overload);
      silent.shed = why;
      return silent;
    }
  }
  sip::RoutePlan plan = sip::preprocess_routes(request, context_->identity);
  sip::RequestNextHop next = sip::next_hop_for_request(request, plan, context_->identity);
  if (next.source == sip::NextHopSource::RouteHeader && !request.to.has_tag &&
      !context_->identity_sources->contains(source_key(in.peer))) {
    // A new request from outside the servers we route to (a phone, anyone) whose Route names
    // another host: followed, it would reach a trunk from our trusted address past the route
    // table's auth, sources and call limits. Its Route is removed and the table decides, as
    // Kamailio's default configuration does (remove_hf("Route") for requests without a To tag).
    plan = sip::ignoring_preloaded_routes();
    next = sip::RequestNextHop{};
    count(&WorkerCounters::preloaded_routes_dropped);
  }
  switch (next.source) {
    case sip::NextHopSource::BadRoute:
      return respond(in, 400, "Bad Route Header", {}, out);
    case sip::NextHopSource::RequestUri:
      if (is_foreign_dialog_request(in, plan)) {
        count(&WorkerCounters::foreign_dialog_refused);
        return respond(in, 403, {}, {}, out);  // an ACK is dropped (AckUnrouted)
      }
      if (lacks_route_token(in, plan)) {
        count(&WorkerCounters::foreign_dialog_refused);
        return respond(in, 403, {}, {}, out);
      }
      // An in-dialog request for a UA behind NAT: its remote target carries our alias.
      if (!request.request_uri.params.empty() && !plan.strict_router) {
        if (std::optional<Outcome> aliased = forward_to_uri_alias(in, plan, out)) return *aliased;
      }
      [[fallthrough]];
    case sip::NextHopSource::RouteHeader: {
      if (next.source == sip::NextHopSource::RouteHeader && lacks_route_token(in, plan)) {
        count(&WorkerCounters::foreign_dialog_refused);
        return respond(in, 403, {}, {}, out);
      }
      const std::optional<PeerAddress> hop = peer_from_next_hop(next.hop, *context_);
      if (!hop) return dropped(DropReason::Unroutable);
      if (!context_->challenging_members.empty()) {
        if (std::optional<Outcome> tracked = track_for_challenges(in, plan, *hop, out)) {
          return *tracked;
        }
      }
      return forward(in, plan, *hop, {}, out);
    }
    case sip::NextHopSource::RouteTable:
      break;
  }
  if (std::optional<Outcome> relayed = relay_for_trust_domain(in, plan, out)) return *relayed;
  if (sip::uri_is_ours(request.request_uri, context_->identity)) {
    if (request.method == sip::Method::Register) {
      Outcome outcome;
      outcome.verdict = Verdict::ToControl;
      return outcome;
    }
    // An OPTIONS for the proxy itself, no user part: a trunk's or an SBC's keepalive (§11).
    // The proxy is its target and answers as a UAS, before the dial plan and its auth.
    // (is_keepalive_options() holds here: ours, and no Route or Request-URI hop.)
    if (request.method == sip::Method::Options && !request.request_uri.has_user) {
      return respond(in, 200, {}, kOptionsAnswerHeaders, out);
    }
  }
  if (is_dialog_request_for_the_table(in)) {
    count(&WorkerCounters::foreign_dialog_refused);
    return respond(in, 403, {}, {}, out);
  }
  return route_by_table(in, plan, now, out);
}

// With record_route, every dialog through the proxy has it in its route set, so an in-dialog
// request (To tag) that reaches it from a phone carries its Route (popped, or the Request-URI
// a strict router put it in). One without, to a host named only by its Request-URI, belongs
// to no dialog the proxy set up: relayed, an INVITE with an invented To tag would reach a
// carrier from the proxy's trusted address (Kamailio's default configuration answers such a
// request 404, "Not here", in route[WITHINDLG]). The trust domain's servers are let through.
bool Pipeline::is_foreign_dialog_request(const Inbound& in, const sip::RoutePlan& plan) const {
  return context_->identity.record_route && !plan.pop_top_route && !plan.strict_router &&
         !context_->identity_sources->contains(source_key(in.peer));
}

// SIP scanners (SIPVicious's "friendly-scanner", sipcli, ...) name themselves in User-Agent.
// Kamailio's default configuration drops them silently before anything else (route[REQINIT]):
// no answer, so the scan finds no SIP server here and moves on, and the per-source limits
// and the registrar never spend work on it. A scanner that hides its name still meets those.
// Only new requests (no To tag) are looked at: a scanner's probes are (OPTIONS, REGISTER,
// INVITE), and the ACKs and BYEs of the calls in progress, a third of a proxy's requests,
// keep their cycles (bench_pipeline).
bool Pipeline::is_from_a_scanner() const {
  const sip::SubstringSet& names = context_->scanner_user_agents;
  if (names.empty() || message_->to.has_tag) return false;
  const sip::HeaderField* agent = message_->find(sip::HeaderId::UserAgent);
  return agent != nullptr && names.found_in(agent->value);
}

// An in-dialog request (To tag) follows its dialog's route set and remote target (RFC 3261
// §12.2.1.1): a Route, or a Request-URI naming the peer UA. One that names us and leaves the
// route table to decide was never routed by a dialog: relayed, it would pass the table's auth
// (in-dialog requests are not challenged, authenticate()) and call limits (which count new
// INVITEs) with an invented To tag: "INVITE sip:+1900...@proxy" with "To: ...;tag=x" to the
// trunk with nobody's credentials. Kamailio's default configuration answers such a request
// 404 "Not here" (route[WITHINDLG]). ACKs go on: the ACK of a failed INVITE carries the
// INVITE's Request-URI and follows it (§16.11); it starts nothing. The trust domain's servers
// are let through.
bool Pipeline::is_dialog_request_for_the_table(const Inbound& in) const {
  const sip::Message& request = *message_;
  return request.to.has_tag && request.method != sip::Method::Ack &&
         !context_->identity_sources->contains(source_key(in.peer));
}

// With [domain] route_secret, our Record-Route URI carries a token of the dialog's Call-ID
// (sip/route_token.hpp): an in-dialog request (To tag) from outside the trust domain is
// relayed only when the URI of ours it came through (its popped Route, or a strict router's
// Request-URI) carries its Call-ID's token. Our Route copied from another dialog, or written
// by hand, does not; relayed, an INVITE with an invented To tag would reach whatever its
// Request-URI or next Route names (a carrier's SBC) from the proxy's address. ACKs pass: an
// ACK starts nothing, and the ACK of a failed INVITE carries the INVITE's preloaded Route,
// which never had a token (§17.1.1.3).
bool Pipeline::lacks_route_token(const Inbound& in, const sip::RoutePlan& plan) const {
  const sip::Message& request = *message_;
  const sip::LocalIdentity& identity = context_->identity;
  if (!identity.route_key || !identity.record_route || !request.to.has_tag ||
      request.method == sip::Method::Ack) {
    return false;
  }
  if (context_->identity_sources->contains(source_key(in.peer))) return false;
  return !sip::route_token_matches(*identity.route_key, request.call_id, plan.route_token);
}

// New requests the trust domain sends us for a UA we stand in front of:
// - a registrar's, along the Path we put into the UA's REGISTER (our Route, popped, names
//   where that REGISTER came from): sent there, the Request-URI as the registrar wrote it;
// - another node's of a shared store, for a NATed phone registered here, its Request-URI
//   aliased to the phone's NAT mapping (choose_contact): sent there, the alias removed.
// Only from the trust domain: from anyone, an alias would make us a relay to any address.
std::optional<Outcome> Pipeline::relay_for_trust_domain(const Inbound& in,
                                                        const sip::RoutePlan& plan,
                                                        const OutputBuffers& out) {
  const sip::Message& request = *message_;
  if (request.to.has_tag || (plan.path_alias.empty() && request.request_uri.params.empty()) ||
      !context_->identity_sources->contains(source_key(in.peer))) {
    return std::nullopt;
  }
  if (!plan.path_alias.empty()) {
    const std::optional<sip::AliasTarget> target = sip::parse_alias(plan.path_alias);
    if (!target) return respond(in, 400, "Bad Route Header", {}, out);
    const std::optional<PeerAddress> hop =
        sendable(peer_from_host(target->host, target->port), *context_);
    if (!hop) return dropped(DropReason::Unroutable);
    count(&WorkerCounters::path_relays);
    return forward(in, plan, *hop, {}, out);
  }
  if (sip::uri_is_ours(request.request_uri, context_->identity)) return std::nullopt;
  std::optional<Outcome> relayed = forward_to_uri_alias(in, plan, out);
  if (relayed) count(&WorkerCounters::node_relays_in);
  return relayed;
}

// contact_alias.hpp: the Request-URI's alias names where the UA's NAT mapping is; the request
// goes there, its Request-URI without the alias (the URI the UA wrote). std::nullopt: no alias.
std::optional<Outcome> Pipeline::forward_to_uri_alias(const Inbound& in, const sip::RoutePlan& plan,
                                                      const OutputBuffers& out) {
  const sip::Message& request = *message_;
  const std::optional<sip::AliasedUri> aliased =
      sip::resolve_uri_alias(request.request_uri_text, request.request_uri, aliased_uri_);
  if (!aliased) return std::nullopt;
  const std::optional<PeerAddress> hop =
      sendable(peer_from_host(aliased->target.host, aliased->target.port), *context_);
  if (!hop) return dropped(DropReason::Unroutable);
  return forward(in, plan, *hop, aliased->uri, out, {});
}

// The alias for the first Contact of the message in hand when the proxy record-routes and that
// Contact names a private address other than the one the message came from (a UA behind NAT):
// "SOURCE~PORT~1". No edit otherwise.
sip::ContactAliasEdit Pipeline::contact_alias_for(const PeerAddress& source) {
  sip::ContactAliasEdit edit;
  const std::optional<sip::ContactUri> contact = sip::aliasable_contact(*message_);
  if (!contact) return edit;
  const std::uint16_t port =
      contact->host_port.has_port ? contact->host_port.port : kDefaultSipPort;
  const std::optional<PeerAddress> written = peer_from_host(contact->host_port.host, port);
  if (!written) return edit;
  const lb::IpAddress& address = written->endpoint().address;
  if (!address.is_private() || address == source.endpoint().address) return edit;
  const PeerText peer = format_peer(source);
  const std::optional<std::string_view> alias = sip::write_alias_value(peer.view(), alias_text_);
  if (!alias) return edit;
  edit.contact = *contact;
  edit.alias = *alias;
  count(&WorkerCounters::contacts_aliased);
  return edit;
}

// An OPTIONS for the proxy itself: no user part, one of our hosts, and no Route or Request-URI
// naming a next hop (ours popped), so the proxy is where it ends.
bool Pipeline::is_keepalive_options(const sip::Message& request) const {
  if (request.method != sip::Method::Options || request.request_uri.has_user ||
      !sip::uri_is_ours(request.request_uri, context_->identity)) {
    return false;
  }
  const sip::RoutePlan plan = sip::preprocess_routes(request, context_->identity);
  return sip::next_hop_for_request(request, plan, context_->identity).source ==
         sip::NextHopSource::RouteTable;
}

Outcome Pipeline::route_by_table(const Inbound& in, const sip::RoutePlan& plan, std::int64_t now,
                                 const OutputBuffers& out) {
  // An emergency service URN is placed as its number (RFC 5031; sip/service_urn.hpp).
  std::string_view service_number;
  if (sip::is_emergency_service_urn(message_->request_uri)) {
    service_number = emergency_number_for(message_->request_uri, context_->config->limits);
    if (service_number.empty()) return respond(in, 416, {}, {}, out);
  }
  const lb::RouteRule* route =
      service_number.empty()
          ? context_->routes.match(*message_, in.peer.endpoint().address)
          : context_->routes.match(*message_, service_number, in.peer.endpoint().address);
  if (route == nullptr) return respond(in, 404, {}, {}, out);
  std::string_view asserted_identity;
  std::string_view caller;  // authenticated
  if (route->auth) {
    AuthGate gate = authenticate(in, now, out);
    if (!gate.passed) return gate.answer;
    caller = gate.user;
    if (route->assert_identity && !gate.user.empty()) {
      asserted_identity = asserted_identity_for(gate.user);
    }
  }
  const DialPlanResult dial_plan = dial(*route, service_number);
  if (dial_plan.refusal) return respond(in, *dial_plan.refusal, {}, {}, out);
  const CallAdmission admission = admit_call(in, *route, caller, out);
  if (admission.refusal) return *admission.refusal;
  Dialled dialled = dial_plan.dialled;
  dialled.asserted_identity = asserted_identity;
  const Outcome outcome = take_route(in, plan, *route, dialled, out);
  // Nothing went out (no socket, too large, unroutable): the call holds no place.
  if (admission.key != 0 && outcome.verdict == Verdict::Drop) forget_call(admission.key);
  return outcome;
}

Outcome Pipeline::take_route(const Inbound& in, const sip::RoutePlan& plan,
                             const lb::RouteRule& route, const Dialled& dialled,
                             const OutputBuffers& out) {
  switch (route.action) {
    case lb::RouteAction::Location:
      return to_location(in, plan, route, dialled, out);
    case lb::RouteAction::Forward:
      if (route.pool) return to_pool(in, plan, *route.pool, dialled, out);
      if (!route.forward) return dropped(DropReason::Unroutable);  // config/ forbids this
      return forward(in, plan, to_peer_address(route.forward->next_hop), dialled.request_uri, out,
                     dialled.forward_extras());
    case lb::RouteAction::Redirect:
      return redirect(in, route, dialled, out);
    case lb::RouteAction::Reject:
      return respond(in, route.reject_code, {}, {}, out);
  }
  return dropped(DropReason::Unroutable);
}

Pipeline::AuthGate Pipeline::authenticate(const Inbound& in, std::int64_t now,
                                          const OutputBuffers& out) {
  AuthGate gate;
  const sip::Message& request = *message_;
  // ACK and CANCEL cannot be challenged (§22.1); in-dialog requests (To tag) were allowed
  // when the dialog was set up and are not challenged again (many UAs cannot answer a
  // challenge to a BYE).
  if (!sip::method_may_be_challenged(request.method) || request.to.has_tag) return gate;
  const sip::AuthCheck check =
      authenticator_.authenticate(request, sip::AuthHeaderKind::Proxy, *context_->users, now);
  const sip::AuthReply reply = sip::auth_reply(check.result, sip::AuthHeaderKind::Proxy);
  if (reply.code == 0) {
    gate.user = check.username;
    return gate;
  }
  // A wrong password or an unknown user: counted against the source (source_guard.hpp).
  if (reply.code == 403 && context_->guard != nullptr) {
    context_->guard->report_auth_failure(worker_index_, in.peer, *context_->trusted_sources);
  }
  gate.passed = false;
  if (reply.code != 407) {
    gate.answer = respond(in, reply.code, {}, {}, out);
    return gate;
  }
  const sip::Written challenges =
      authenticator_.write_challenges(sip::AuthHeaderKind::Proxy, reply.stale, now, extra_);
  if (!challenges.ok()) {
    gate.answer = dropped(DropReason::TooLarge);
    return gate;
  }
  gate.answer = respond(in, 407, {}, {extra_.data(), challenges.size}, out);
  return gate;
}

// The Request-URI user, unescaped, in a fixed buffer (workers do not allocate): the
// address-of-record looked up by location and redirect routes. Empty when there is none or
// it does not fit.
struct RequestUser {
  std::array<char, 256> text;
  std::size_t size = 0;
  std::string_view view() const { return {text.data(), size}; }
};

static RequestUser request_user(std::string_view written) {
  RequestUser user;
  if (written.empty()) return user;
  const std::size_t size = sip::unescape(written, user.text.data(), user.text.size());
  if (size != std::string_view::npos) user.size = size;
  return user;
}

Pipeline::DialPlanResult Pipeline::dial(const lb::RouteRule& route,
                                        std::string_view service_number) {
  const sip::Uri& uri = message_->request_uri;
  DialPlanResult result;
  if (!service_number.empty()) {
    translated_ = sip::dialled_number_uri(service_number, context_->config->domain.realm(),
                                          route.strip, route.prepend);
  } else {
    if (uri.has_user) result.dialled.user = uri.user;
    if (!route.translates_user()) return result;
    translated_ = sip::translate_user(*message_, route.strip, route.prepend);
  }
  switch (translated_.result) {
    case sip::Translation::Translated:
      result.dialled.request_uri = translated_.uri();
      result.dialled.user = translated_.user();
      break;
    case sip::Translation::NoUser:
      break;
    case sip::Translation::Empty:
      result.refusal = 484;  // §21.4.22 Address Incomplete
      break;
    case sip::Translation::TooLong:
      result.refusal = 414;  // §21.4.12 Request-URI Too Long
      break;
  }
  return result;
}

Outcome Pipeline::to_location(const Inbound& in, const sip::RoutePlan& plan,
                              const lb::RouteRule& route, const Dialled& dialled,
                              const OutputBuffers& out) {
  const RequestUser aor = request_user(dialled.user);
  const std::string_view user = aor.view();
  if (user.empty() || !context_->users->find(user)) return respond(in, 404, {}, {}, out);
  // Valid until this worker's next quiescent state: the loop reports it after the burst.
  const ContactsView contacts = context_->location->lookup(user);
  if (contacts.empty()) return unavailable(in, plan, route, user, dialled, out);
  // With a fallback (voicemail) an INVITE to one contact is tracked too: to see it fail.
  const bool falls_back = route.fork.fallback && message_->method == sip::Method::Invite;
  if (route.fork.enabled() && (contacts.size() > 1 || falls_back) && may_hunt()) {
    if (route.fork.mode == lb::Forking::Mode::Serial) {
      return hunt(in, plan, route, user, contacts, dialled, out);
    }
    // Parallel forking (all at once, or by q groups) rings phones: an INVITE. Another request
    // (a MESSAGE, a SUBSCRIBE) rings nobody and is taken by one phone: it is tried on the
    // contacts one after another (serial_fork.cpp), so that a stale binding (a laptop asleep)
    // or a phone that refuses it does not lose it.
    if (message_->method == sip::Method::Invite) {
      return fork_parallel(in, plan, route, user, contacts, dialled, out);
    }
    return hunt(in, plan, route, user, contacts, dialled, out);
  }
  // Stateless forwarding sends to one target (§16.11): the highest-q contact, most recently
  // refreshed first (the table's order).
  const ContactChoice choice = choose_contact(contacts[0]);
  const std::optional<std::string_view> uri = choice_request_uri(choice, contact_uri_);
  if (choice.destination.empty() || !uri) {
    return unavailable(in, plan, route, user, dialled, out);
  }
  if (!choice.alias_address.empty()) count(&WorkerCounters::node_relays_out);
  return forward(in, plan, choice.destination, *uri, out, dialled.forward_extras());
}

Outcome Pipeline::redirect(const Inbound& in, const lb::RouteRule& route, const Dialled& dialled,
                           const OutputBuffers& out) {
  LineWriter lines(extra_);
  if (!route.redirect_contact.empty()) {
    append_contact_line(lines, route.redirect_contact, 1000);
  } else {
    const RequestUser aor = request_user(dialled.user);
    const std::string_view user = aor.view();
    if (user.empty() || !context_->users->find(user)) return respond(in, 404, {}, {}, out);
    const ContactsView contacts = context_->location->lookup(user);
    if (contacts.empty()) return respond(in, 480, {}, {}, out);
    for (const ContactView& contact : contacts) {
      append_contact_line(lines, contact.uri, contact.q_milli);
    }
  }
  if (lines.overflow()) return dropped(DropReason::TooLarge);
  return respond(in, 302, {}, lines.view(), out);
}

Outcome Pipeline::to_pool(const Inbound& in, const sip::RoutePlan& plan, std::uint16_t pool,
                          const Dialled& dialled, const OutputBuffers& out) {
  const std::optional<std::size_t> member = context_->pools.choose(pool, message_->call_id);
  if (member) {
    const lb::PoolSpec& spec = context_->pools.pool(pool);
    const sip::Method method = message_->method;
    if (spec.tracks_transactions() && transactions_ && !message_->to.has_tag &&
        method != sip::Method::Ack && method != sip::Method::Cancel) {
      return track_request(in, plan, pool, *member, dialled, out);
    }
    const lb::PoolMember& chosen = spec.members[*member];
    return forward(in, plan, to_peer_address(chosen.address), dialled.request_uri, out,
                   dialled.forward_extras());
  }
  // Every member is down: the caller may try another proxy (§21.5.4); the prober looks
  // again within one probe interval.
  char retry_after[32];
  const int size = std::snprintf(retry_after, sizeof retry_after, "Retry-After: %u\r\n",
                                 std::max(1u, context_->pools.pool(pool).probe.interval_s));
  Outcome outcome = respond(
      in, 503, {}, std::string_view(retry_after, static_cast<std::size_t>(std::max(size, 0))), out);
  outcome.pool_unavailable = true;
  return outcome;
}

Outcome Pipeline::forward(const Inbound& in, const sip::RoutePlan& plan,
                          const PeerAddress& next_hop, std::string_view request_uri,
                          const OutputBuffers& out, const ForwardExtras& extras) {
  const sip::Message& request = *message_;
  if (is_our_address(next_hop)) {
    // Sending it to ourselves would only loop until Max-Forwards runs out (§16.3 step 4).
    if (request.method == sip::Method::Ack) return dropped(DropReason::Loop);
    return respond(in, 482, {}, {}, out);
  }
  const int socket = socket_for(in, next_hop);
  if (socket < 0) return dropped(DropReason::NoSocket);
  const sip::Branch branch = extras.branch != nullptr
                                 ? *extras.branch
                                 : sip::stateless_branch(request, context_->identity.branch_key);
  sip::RequestEdits edits = sip::forward_edits(
      plan, context_->identity, static_cast<std::size_t>(socket), branch.view(), request_uri);
  if (context_->identity.record_route && context_->identity.route_key) {
    edits.record_route_uri = signed_record_route_uri(static_cast<std::size_t>(socket));
  }
  const PeerText source_ip = format_peer_host(in.peer);
  const sip::SenderViaStamp stamp =
      sip::sender_via_stamp(request, source_ip.view(), in.peer.port());
  edits.received = stamp.received;
  edits.rport = stamp.rport;
  edits.extra_headers = extras.trailer;
  edits.leading_headers = extras.diversion;
  edits.asserted_identity = extras.asserted_identity;
  if (request.find(sip::HeaderId::ProxyAuthorization) != nullptr) {
    edits.consumed_realm = context_->config->domain.realm();
  }
  const IdentityEdits identity =
      identity_edits(in.peer, next_hop, !extras.asserted_identity.empty(), !extras.stored_copy);
  edits.drop_identity = identity.drop_received;
  if (identity.withhold_ours) edits.asserted_identity = {};
  if (context_->identity.record_route) {
    if (request.method != sip::Method::Register) {
      edits.contact_alias = contact_alias_for(in.peer);
    } else {
      // A REGISTER for another registrar (sipline in front of a PBX): our Path (RFC 3327),
      // naming where it came from, so that the registrar's requests to the UA come through
      // us, the only way through its NAT, and we know where to send them
      // (relay_for_trust_domain). The Contact stays as the UA wrote it: its 200 lists it.
      edits.leading_headers = path_line(static_cast<std::size_t>(socket), in.peer);
    }
  }
  edits.session_expires = session_expires_to_request();
  const Output output = write_out(out, [&](std::span<char> buffer) {
    return sip::write_forwarded_request(request, edits, buffer);
  });
  if (!output.written.ok() || output.written.size > kMaxUdpSendPayload) {
    return dropped(DropReason::TooLarge);
  }
  return send(SendKind::ForwardedRequest, 0, output, next_hop, static_cast<std::uint8_t>(socket));
}

std::string_view Pipeline::path_line(std::size_t listen_index, const PeerAddress& source) {
  std::array<char, sip::kMaxAliasText> alias;
  const PeerText peer = format_peer(source);
  const std::optional<std::string_view> value = sip::write_alias_value(peer.view(), alias);
  if (!value) return {};
  LineWriter line(path_line_);
  line.append("Path: <");
  line.append(context_->identity.listen_address(listen_index).record_route_uri());
  line.append(";lr;");
  line.append(sip::kAliasParam);
  line.append("=");
  line.append(*value);
  line.append(">\r\n");
  return line.overflow() ? std::string_view() : line.view();
}

// "sip:HOST:PORT;rt=TOKEN": our Record-Route URI for the listen address, with the token of the
// request's Call-ID (the rewriter appends ";lr").
std::string_view Pipeline::signed_record_route_uri(std::size_t listen_index) {
  const std::string_view plain = context_->identity.listen_address(listen_index).record_route_uri();
  const std::array<char, sip::kRouteTokenSize> token =
      sip::route_token(*context_->identity.route_key, message_->call_id);
  char* at = std::copy(plain.begin(), plain.end(), record_route_uri_.data());
  *at++ = ';';
  at = std::copy(sip::kRouteTokenParam.begin(), sip::kRouteTokenParam.end(), at);
  *at++ = '=';
  at = std::copy(token.begin(), token.end(), at);
  return {record_route_uri_.data(), static_cast<std::size_t>(at - record_route_uri_.data())};
}

Pipeline::IdentityEdits Pipeline::identity_edits(const PeerAddress& from, const PeerAddress& to,
                                                 bool asserting, bool count_it) {
  IdentityEdits edits;
  const bool carried = sip::carries_identity(*message_);
  if (!carried && !asserting) return edits;
  const TrustedSources& trust_domain = *context_->identity_sources;
  // §5: an identity asserted from outside (a phone, anyone) is not passed on; the servers'
  // (a PBX, the carrier) is.
  const bool from_outside = carried && !trust_domain.contains(source_key(from));
  // §5, §7: none leaves toward an element outside when the user asked for privacy (a phone
  // gets no number the caller withheld; the carrier, inside, hides it from the callee).
  const bool kept_private =
      !trust_domain.contains(source_key(to)) && sip::withholds_identity(*message_);
  edits.drop_received = from_outside || kept_private;
  edits.withhold_ours = kept_private;
  if (count_it && from_outside) count(&WorkerCounters::identity_removed);
  if (count_it && kept_private && (asserting || !from_outside)) {
    count(&WorkerCounters::identity_withheld);
  }
  return edits;
}

Outcome Pipeline::respond(const Inbound& in, std::uint16_t code, std::string_view reason,
                          std::string_view extra_headers, const OutputBuffers& out) {
  const sip::Message& request = *message_;
  if (request.method == sip::Method::Ack) return dropped(DropReason::AckUnrouted);  // §17
  const ToTag tag = local_to_tag(request.call_id, context_->to_tag_key);
  sip::LocalResponse response;
  response.code = code;
  response.reason = reason;
  response.to_tag = tag.view();
  response.extra_headers = extra_headers;
  // §18.2.1 / RFC 3581 §4 on the Via the response copies; not for a request that failed to
  // parse (its 400 copies the Via lines as they came).
  const PeerText source_ip = format_peer_host(in.peer);
  if (request.ok() && request.via_count > 0) {
    const sip::SenderViaStamp stamp =
        sip::sender_via_stamp(request, source_ip.view(), in.peer.port());
    response.received = stamp.received;
    response.rport = stamp.rport;
  }
  Output output = write_out(out, [&](std::span<char> buffer) {
    return sip::write_local_response(request, response, buffer);
  });
  if (!output.written.ok() || output.written.size > kMaxUdpSendPayload) {
    return dropped(DropReason::TooLarge);
  }
  if (gate_ != nullptr && gate_->feedback_active() && request.via_count > 0) {
    // write_local_response copies the Via lines first, as received (§8.2.6.2).
    const std::span<char> buffer = output.in_fallback ? out.fallback : out.primary;
    const std::string_view written(buffer.data(), output.written.size);
    const std::size_t status_end = written.find("\r\n");
    const sip::ViaRef& top = request.vias[0];
    const std::size_t offset =
        status_end + 2 +
        static_cast<std::size_t>(top.text.data() - request.fields[top.field].raw.data());
    if (status_end != std::string_view::npos) {
      add_oc_feedback_stamped(output, out, offset, top.text, response);
    }
  }
  // §18.2.2 / RFC 3581: back to the source address, at the port the top Via asks for.
  const PeerAddress destination =
      with_port(in.peer, sip::local_response_port(request, in.peer.port()));
  return send(SendKind::LocalResponse, code, output, destination, in.socket);
}

Outcome Pipeline::process_response(const Inbound& in, const OutputBuffers& out) {
  const sip::Message& response = *message_;
  const sip::ResponseRoute route = sip::route_response(response, context_->identity);
  switch (route.drop) {
    case sip::ResponseDrop::None:
      break;
    case sip::ResponseDrop::NotOurs:
      return dropped(DropReason::NotOurs);
    case sip::ResponseDrop::ForUs: {
      // The answer to a request we sent ourselves (signed branch and our sent-by checked):
      // a worker's own CANCEL (Timer C's, or for the caller's) is answered here; a pool member's
      // answer to a probe goes to the control thread's prober.
      if (response.cseq.method == sip::Method::Cancel) return absorbed(Absorb::CancelAnswer);
      Outcome outcome;
      outcome.verdict = Verdict::ToControl;
      return outcome;
    }
    case sip::ResponseDrop::NotAResponse:
    case sip::ResponseDrop::Malformed:
      return dropped(DropReason::Parse);
  }
  sip::ResponseEdits edits;
  if (transactions_ && !transactions_->empty()) {
    const TrackedResponse tracked = on_tracked_response(in, out);
    if (tracked.outcome) return *tracked.outcome;
    edits.status_code = tracked.relayed_code;
  }
  return relay_response(in, route, edits, out);
}

Outcome Pipeline::relay_response(const Inbound& in, const sip::ResponseRoute& route,
                                 sip::ResponseEdits edits, const OutputBuffers& out) {
  const sip::Message& response = *message_;
  const std::optional<PeerAddress> hop = peer_from_next_hop(route.next_hop, *context_);
  if (!hop) return dropped(DropReason::Unroutable);
  const int socket = socket_for(in, *hop);
  if (socket < 0) return dropped(DropReason::NoSocket);
  edits.drop_identity = identity_edits(in.peer, *hop, false, true).drop_received;
  // The callee's Contact (its 18x, 2xx) is the caller's remote target: behind NAT, aliased.
  // (A registrar's 200 lists the UA's own bindings: left as they are.)
  if (context_->identity.record_route && response.status_code > 100 && response.status_code < 300 &&
      response.cseq.method != sip::Method::Register) {
    edits.contact_alias = contact_alias_for(in.peer);
  }
  const std::uint16_t code = edits.status_code != 0 ? edits.status_code : response.status_code;
  // One lookup of the response's limited call, for its session timer and its place.
  ActiveCall* const limited =
      active_calls_ != nullptr && active_calls_->size() != 0 ? limited_call_of_response() : nullptr;
  if (limited != nullptr) edits.session_expires_uac = session_expires_to_answer(*limited, code);
  Output output = write_out(out, [&](std::span<char> buffer) {
    return sip::write_forwarded_response(response, edits, buffer);
  });
  const sip::Written& written = output.written;
  if (!written.ok()) {
    return dropped(written.error == sip::WriteError::NoViaToPop ? DropReason::NoRouteBack
                                                                : DropReason::TooLarge);
  }
  if (gate_ != nullptr && gate_->feedback_active()) add_oc_feedback_forwarded(output, out);
  if (written.size > kMaxUdpSendPayload) return dropped(DropReason::TooLarge);
  if (call_records_ != nullptr) note_relayed_response(in.peer, *hop, code);
  if (limited != nullptr) note_limited_response(limited, code, edits.session_expires_uac);
  return send(SendKind::ForwardedResponse, 0, output, *hop, static_cast<std::uint8_t>(socket));
}

Outcome Pipeline::shed(const Inbound& in, Shed why, const OutputBuffers& out) {
  Outcome outcome =
      respond(in, 503, {}, std::string_view(retry_after_.data(), retry_after_size_), out);
  outcome.shed = why;
  return outcome;
}

void Pipeline::add_oc_feedback(Output& output, const OutputBuffers& out, std::size_t offset,
                               std::string_view element, const sip::Via& via) const {
  const sip::OcOffer offer = sip::read_oc_offer(via);
  if (!offer.supported || !offer.loss) return;
  const std::span<char> buffer = output.in_fallback ? out.fallback : out.primary;
  const std::size_t limit = std::min(buffer.size(), kMaxUdpSendPayload);
  // No room: the message goes without feedback (the client learns from the next one).
  const std::size_t size = sip::splice_oc_feedback(buffer.first(limit), output.written.size, offset,
                                                   element, via, gate_->feedback());
  if (size != 0) output.written.size = size;
}

// RFC 7339 feedback in the top Via of a local response, which may carry the received/rport
// stamp: the element is then re-read where it was written (the stamp moved what follows
// the rport and appended ;received), so the splice works on the bytes as they are.
void Pipeline::add_oc_feedback_stamped(Output& output, const OutputBuffers& out, std::size_t offset,
                                       std::string_view element,
                                       const sip::LocalResponse& response) const {
  const sip::Message& request = *message_;
  if (response.received.empty() && response.rport == 0) {
    add_oc_feedback(output, out, offset, element, request.top_via);
    return;
  }
  std::size_t grown = response.received.empty() ? 0 : 10 + response.received.size();  // ;received=
  if (response.rport != 0) {                                                          // "=<port>"
    grown += 1;
    for (std::uint32_t port = response.rport; port != 0; port /= 10)
      ++grown;
  }
  const std::span<char> buffer = output.in_fallback ? out.fallback : out.primary;
  if (offset + element.size() + grown > output.written.size) return;
  const std::string_view stamped(buffer.data() + offset, element.size() + grown);
  const sip::Parsed<sip::Via> via = sip::parse_via(stamped);
  if (!via.ok()) return;
  add_oc_feedback(output, out, offset, stamped, via.value);
}

// The client's Via is the response's second (ours was popped): it is the top one of what we
// forward, found again in the written bytes.
void Pipeline::add_oc_feedback_forwarded(Output& output, const OutputBuffers& out) const {
  const sip::Message& response = *message_;
  if (response.via_count < 2) return;
  const std::string_view element = response.vias[1].text;
  if (element.find(";oc") == std::string_view::npos &&
      element.find("; oc") == std::string_view::npos) {
    return;  // cheap test before parsing the element
  }
  const sip::Parsed<sip::Via> via = sip::parse_via(element);
  if (!via.ok()) return;
  const std::span<char> buffer = output.in_fallback ? out.fallback : out.primary;
  const std::string_view written(buffer.data(), output.written.size);
  const std::size_t offset = written.find(element);
  if (offset == std::string_view::npos) return;
  add_oc_feedback(output, out, offset, element, via.value);
}

template <class Write>
Pipeline::Output Pipeline::write_out(const OutputBuffers& out, Write&& write) {
  Output output{write(out.primary), false};
  if (output.written.error == sip::WriteError::BufferTooSmall && !out.fallback.empty()) {
    output = Output{write(out.fallback), true};
  }
  return output;
}

Outcome Pipeline::send(SendKind kind, std::uint16_t code, const Output& written,
                       const PeerAddress& to, std::uint8_t socket) const {
  Outcome outcome;
  outcome.verdict = Verdict::Send;
  outcome.kind = kind;
  outcome.code = code;
  outcome.size = static_cast<std::uint32_t>(written.written.size);
  outcome.in_fallback = written.in_fallback;
  outcome.destination = to;
  outcome.socket = socket;
  return outcome;
}

int Pipeline::socket_for(const Inbound& in, const PeerAddress& destination) const {
  const std::vector<PeerAddress>& listen = context_->listen;
  if (in.socket < listen.size() && listen[in.socket].is_ipv6() == destination.is_ipv6()) {
    return in.socket;
  }
  return listen_socket_for(*context_, destination);
}

bool Pipeline::is_our_address(const PeerAddress& address) const {
  for (const PeerAddress& ours : context_->listen) {
    if (same_peer(ours, address)) return true;
  }
  return false;
}

}  // namespace sipline::dataplane

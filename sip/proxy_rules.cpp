// Stateless proxy decisions (RFC 3261 §16). Everything here works on views and fixed-size
// buffers: no allocation, no std::string, so a worker can call it per packet.
#include "sip/proxy_rules.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "sip/contact_alias.hpp"
#include "sip/name_addr.hpp"
#include "sip/params.hpp"
#include "sip/route_token.hpp"
#include "sip/service_urn.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {
namespace {

constexpr std::uint16_t kDefaultSipPort = 5060;
constexpr std::uint16_t kDefaultTlsPort = 5061;

// ---- small text helpers ----------------------------------------------------------------

constexpr std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// What a bare or bracketed host text is: IPv6 when it has a ':', IPv4 when it is four dotted
// decimal numbers, a host name otherwise. Only used on texts that a parser already accepted
// as a host (maddr, received), so it need not validate. One pass and no search call: the
// texts are a few octets long, and a relayed response's Via received address is one.
HostKind address_kind(std::string_view host) {
  int dots = 0;
  bool other = false;
  for (char c : host) {
    if (c == ':') return HostKind::Ipv6Reference;
    dots += c == '.';
    other |= c != '.' && !is_digit(c);
  }
  return !other && dots == 3 ? HostKind::Ipv4 : HostKind::Hostname;
}

std::uint16_t default_port(std::string_view transport, UriScheme scheme) {
  const bool tls = scheme == UriScheme::Sips || iequals(transport, "tls");
  return tls ? kDefaultTlsPort : kDefaultSipPort;
}

// Appends to a fixed buffer; remembers whether anything did not fit.
class FixedWriter {
 public:
  FixedWriter(char* out, std::size_t capacity) : out_(out), capacity_(capacity) {}

  bool fits(std::size_t more) const { return size_ + more <= capacity_; }
  void append(std::string_view text) {
    if (!fits(text.size())) {
      overflow_ = true;
      return;
    }
    std::memcpy(out_ + size_, text.data(), text.size());
    size_ += text.size();
  }
  void append_decimal(std::uint16_t value) {
    char digits[5];
    std::size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value = static_cast<std::uint16_t>(value / 10);
    } while (value != 0);
    char ordered[5];
    for (std::size_t i = 0; i < count; ++i)
      ordered[i] = digits[count - 1 - i];
    append({ordered, count});
  }
  std::size_t size() const { return size_; }
  bool overflow() const { return overflow_; }

 private:
  char* out_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// ---- Route elements ---------------------------------------------------------------------

// The Route values in order, across all Route header lines (each line a comma list).
class RouteCursor {
 public:
  explicit RouteCursor(const Message& message)
      : message_(message), field_(message.find(HeaderId::Route)), list_(field_value(field_)) {}

  std::optional<std::string_view> next() {
    while (field_ != nullptr) {
      if (const std::optional<std::string_view> element = list_.next()) return element;
      field_ = message_.next(*field_);
      list_ = ListCursor(field_value(field_));
    }
    return std::nullopt;
  }

 private:
  static std::string_view field_value(const HeaderField* field) {
    return field == nullptr ? std::string_view{} : field->value;
  }

  const Message& message_;
  const HeaderField* field_;
  ListCursor list_;
};

// The first two Route values, the last one, and how many there are.
struct RouteSummary {
  std::size_t count = 0;
  std::string_view first;
  std::string_view second;
  std::string_view last;
};

RouteSummary summarise_routes(const Message& message) {
  RouteSummary summary;
  RouteCursor cursor(message);
  while (const std::optional<std::string_view> element = cursor.next()) {
    if (summary.count == 0) summary.first = *element;
    if (summary.count == 1) summary.second = *element;
    summary.last = *element;
    ++summary.count;
  }
  return summary;
}

// The Route values left once the plan is applied: the strict-router step removes the last
// one, the pop removes the first one.
std::optional<std::string_view> top_remaining_route(const RouteSummary& routes,
                                                    const RoutePlan& plan) {
  const std::size_t removed = (plan.strict_router ? 1u : 0u) + (plan.pop_top_route ? 1u : 0u);
  if (routes.count <= removed) return std::nullopt;
  return plan.pop_top_route ? routes.second : routes.first;
}

// ---- next hops ---------------------------------------------------------------------------

// §19.1.1, §16.6 step 6-7 with RFC 3263 §4 left out (no resolution here): maddr overrides the
// host; an absent port is the scheme's (or transport's) default.
NextHop uri_next_hop(const Uri& uri) {
  NextHop hop;
  hop.transport = uri_param(uri, "transport");
  const std::string_view maddr = uri_param(uri, "maddr");
  if (!maddr.empty()) {
    hop.host = strip_brackets(maddr);
    hop.kind = address_kind(maddr);
  } else {
    hop.host = strip_brackets(uri.host_port.host);
    hop.kind = uri.host_port.kind;
  }
  hop.port = uri.host_port.has_port ? uri.host_port.port : default_port(hop.transport, uri.scheme);
  return hop;
}

bool is_sip_uri(const Uri& uri) {
  return uri.scheme == UriScheme::Sip || uri.scheme == UriScheme::Sips;
}

// §16.6 step 7, once §16.4 has been planned: the URI of the top remaining Route value when
// it is a sip/sips URI without ";lr" (a strict router), else empty. A value that does not
// parse is left to next_hop_for_request (BadRoute).
std::string_view strict_next_hop_uri(const RouteSummary& routes, const RoutePlan& plan) {
  const std::optional<std::string_view> top = top_remaining_route(routes, plan);
  if (!top) return {};
  const Parsed<NameAddr> route = parse_name_addr(*top);
  if (!route.ok() || !is_sip_uri(route.value.uri) || route.value.uri.lr) return {};
  return route.value.uri_text;
}

// ---- §16.3 ---------------------------------------------------------------------------------

// Go on. Not RequestCheck{}: that zeroes the 256 octets of ExtraHeader::text, of which
// only `size` are meaningful, for every request (a `rep stos` in perf annotate).
RequestCheck proceed() {
  RequestCheck check;
  return check;
}

// An answer with `code`, except to an ACK: §17, an ACK is never answered (it has no
// response); errors end with it, the code kept for logs.
RequestCheck respond(const Message& request, std::uint16_t code, std::string_view reason = {}) {
  RequestCheck check;
  const bool ack = request.method == Method::Ack;
  check.verdict = ack ? RequestVerdict::Drop : RequestVerdict::Respond;
  check.drop = ack ? RequestDrop::AckNotAnswered : RequestDrop::None;
  check.code = code;
  check.reason = reason;
  return check;
}

RequestCheck drop(RequestDrop reason) {
  RequestCheck check;
  check.verdict = RequestVerdict::Drop;
  check.drop = reason;
  return check;
}

// Step 1: a request that did not parse.
RequestCheck check_malformed(const Message& request) {
  if (!is_answerable(request)) return drop(RequestDrop::Unanswerable);
  if (request.error == ParseError::UnsupportedVersion) return respond(request, 505);
  return respond(request, 400, describe(request.error));
}

// Step 5: every option tag of every Proxy-Require line is unsupported (we implement no
// proxy extension). The Unsupported line lists those that fit; a tag that is not a token
// makes the header malformed (400).
RequestCheck check_proxy_require(const Message& request) {
  const HeaderField* field = request.find(HeaderId::ProxyRequire);
  if (field == nullptr) return proceed();
  RequestCheck check = respond(request, 420);
  if (check.verdict != RequestVerdict::Respond) return check;
  FixedWriter writer(check.extra.text.data(), check.extra.text.size());
  constexpr std::string_view kName = "Unsupported: ";
  constexpr std::string_view kSeparator = ", ";
  constexpr std::string_view kCrlf = "\r\n";
  writer.append(kName);
  std::size_t listed = 0;
  for (; field != nullptr; field = request.next(*field)) {
    ListCursor cursor(field->value);
    while (const std::optional<std::string_view> tag = cursor.next()) {
      if (!is_token(*tag)) return respond(request, 400, describe(ParseError::BadToken));
      const std::size_t separator = listed == 0 ? 0 : kSeparator.size();
      if (!writer.fits(separator + tag->size() + kCrlf.size())) continue;
      if (listed != 0) writer.append(kSeparator);
      writer.append(*tag);
      ++listed;
    }
    if (cursor.error() != ParseError::None) return respond(request, 400, describe(cursor.error()));
  }
  if (listed == 0) return proceed();  // "Proxy-Require:" with nothing in it
  writer.append(kCrlf);
  check.extra.size = static_cast<std::uint16_t>(writer.size());
  return check;
}

RequestCheck check_parsed_request(const Message& request, const LocalIdentity& identity) {
  const UriScheme scheme = request.request_uri.scheme;
  // An emergency service URN goes on to the route table, which places it as a number (or
  // answers 416 where none is configured).
  if (scheme != UriScheme::Sip && scheme != UriScheme::Sips && scheme != UriScheme::Tel &&
      !is_emergency_service_urn(request.request_uri)) {
    return respond(request, 416);
  }
  if (request.has_max_forwards && request.max_forwards == 0) return respond(request, 483);
  if (request_has_looped(request, identity)) return respond(request, 482);
  return check_proxy_require(request);
}

// The request as it was before the top Via was pushed: the Via list shifted by one. Only
// called for requests whose top Via carries our signature (a loop or a spiral), so the
// copy of the message view (about 10 KiB, on the stack, no heap) is off the common path.
[[gnu::noinline]] bool branch_matches_request_below(const Message& request,
                                                    std::string_view top_branch, BranchKey key) {
  const Parsed<Via> below = parse_via(request.vias[1].text);
  if (!below.ok()) return false;
  Message before = request;
  before.top_via = below.value;
  std::copy(request.vias.begin() + 1, request.vias.begin() + request.via_count,
            before.vias.begin());
  --before.via_count;
  return stateless_branch(before, key).view() == top_branch;
}

}  // namespace

// ---- LocalIdentity ------------------------------------------------------------------------

bool LocalIdentity::add_domain(std::string_view name) {
  if (name.empty() || domain_count_ == kMaxLocalDomains ||
      name.size() > domain_text_.size() - domain_text_used_) {
    return false;
  }
  std::memcpy(domain_text_.data() + domain_text_used_, name.data(), name.size());
  domains_[domain_count_++] = TextSpan{domain_text_used_, static_cast<std::uint16_t>(name.size())};
  domain_text_used_ = static_cast<std::uint16_t>(domain_text_used_ + name.size());
  return true;
}

bool LocalIdentity::add_listen_address(std::string_view host, std::uint16_t port) {
  if (host.empty() || port == 0 || listen_count_ == kMaxListenAddresses) return false;
  const bool bracket = host.front() != '[' && host.find(':') != std::string_view::npos;
  ListenAddress& address = listen_[listen_count_];
  FixedWriter writer(address.text_.data(), address.text_.size());
  writer.append(ListenAddress::kScheme);
  if (bracket) writer.append("[");
  writer.append(host);
  if (bracket) writer.append("]");
  const std::size_t host_size = writer.size() - ListenAddress::kScheme.size();
  writer.append(":");
  writer.append_decimal(port);
  if (writer.overflow()) return false;
  address.host_size_ = static_cast<std::uint8_t>(host_size);
  address.size_ = static_cast<std::uint8_t>(writer.size());
  address.port_ = port;
  ++listen_count_;
  return true;
}

// ---- who is "us" ----------------------------------------------------------------------------

bool uri_is_ours(const Uri& uri, const LocalIdentity& identity) {
  if (!is_sip_uri(uri)) return false;
  const HostPort& target = uri.host_port;
  for (std::size_t i = 0; i < identity.listen_count(); ++i) {
    const ListenAddress& address = identity.listen_address(i);
    if (iequals(target.host, address.host()) &&
        (!target.has_port || target.port == address.port())) {
      return true;
    }
  }
  for (std::size_t i = 0; i < identity.domain_count(); ++i) {
    if (!iequals(target.host, identity.domain(i))) continue;
    if (!target.has_port) return true;
    for (std::size_t j = 0; j < identity.listen_count(); ++j) {
      if (identity.listen_address(j).port() == target.port) return true;
    }
  }
  return false;
}

bool sent_by_is_ours(const HostPort& sent_by, const LocalIdentity& identity) {
  const std::uint16_t port = sent_by.has_port ? sent_by.port : kDefaultSipPort;
  for (std::size_t i = 0; i < identity.listen_count(); ++i) {
    const ListenAddress& address = identity.listen_address(i);
    if (port == address.port() && iequals(sent_by.host, address.host())) return true;
  }
  return false;
}

bool via_is_ours(const Via& via, const LocalIdentity& identity) {
  return via.has_branch && branch_is_ours(via.branch, identity.branch_key) &&
         sent_by_is_ours(via.sent_by, identity);
}

// ---- requests ------------------------------------------------------------------------------

bool is_answerable(const Message& request) {
  return request.headers_complete() && request.find(HeaderId::Via) != nullptr &&
         request.find(HeaderId::From) != nullptr && request.find(HeaderId::To) != nullptr &&
         request.find(HeaderId::CallId) != nullptr && request.find(HeaderId::CSeq) != nullptr;
}

bool request_has_looped(const Message& request, const LocalIdentity& identity) {
  if (request.via_count < 2 || !via_is_ours(request.top_via, identity)) return false;
  return branch_matches_request_below(request, request.top_via.branch, identity.branch_key);
}

RequestCheck check_request(const Message& request, const LocalIdentity& identity) {
  if (!request.is_request()) return drop(RequestDrop::NotARequest);
  // One path per return, each built in the caller's object: a path that joins another
  // copied the whole check (ExtraHeader's 256 octets) for every request.
  if (!request.ok()) return check_malformed(request);
  return check_parsed_request(request, identity);
}

RoutePlan preprocess_routes(const Message& request, const LocalIdentity& identity) {
  RoutePlan plan;
  if (!request.ok() || !request.is_request() || request.find(HeaderId::Route) == nullptr) {
    return plan;
  }
  const RouteSummary routes = summarise_routes(request);
  if (routes.count == 0) return plan;
  // §16.4 first paragraph: a strict router sent us our own Record-Route URI as Request-URI.
  // Record-Route URIs only come back within a dialog (To tag): a new request for our domain
  // with a preloaded Route (an outbound proxy, RFC 3261 §8.1.2: a REGISTER, an OPTIONS
  // keepalive) is routed loosely, as Kamailio's loose_route() does.
  if (request.to.has_tag && !request.request_uri.has_user &&
      uri_is_ours(request.request_uri, identity)) {
    const Parsed<NameAddr> last = parse_name_addr(routes.last);
    if (last.ok()) {
      plan.strict_router = true;
      plan.request_uri = last.value.uri_text;
      if (identity.route_key) plan.route_token = uri_param(request.request_uri, kRouteTokenParam);
    }
  }
  // §16.4 second paragraph: the top Route names us.
  if (const std::optional<std::string_view> top = top_remaining_route(routes, plan)) {
    const Parsed<NameAddr> route = parse_name_addr(*top);
    plan.pop_top_route = route.ok() && uri_is_ours(route.value.uri, identity);
    if (plan.pop_top_route && !plan.strict_router && identity.route_key) {
      plan.route_token = uri_param(route.value.uri, kRouteTokenParam);
    }
    // Only a new request can come back along a Path; in-dialog ones skip the lookup.
    if (plan.pop_top_route && !request.to.has_tag && !route.value.uri.params.empty()) {
      plan.path_alias = uri_param(route.value.uri, kAliasParam);
    }
  }
  plan.strict_next_hop_uri = strict_next_hop_uri(routes, plan);
  if (!plan.strict_next_hop_uri.empty()) {
    plan.displaced_request_uri = plan.strict_router ? plan.request_uri : request.request_uri_text;
  }
  return plan;
}

RequestNextHop next_hop_for_request(const Message& request, const RoutePlan& plan,
                                    const LocalIdentity& identity) {
  RequestNextHop next;
  if (!request.ok() || !request.is_request()) return next;
  if (request.find(HeaderId::Route) != nullptr) {
    const RouteSummary routes = summarise_routes(request);
    if (const std::optional<std::string_view> top = top_remaining_route(routes, plan)) {
      const Parsed<NameAddr> route = parse_name_addr(*top);
      if (!route.ok() || !is_sip_uri(route.value.uri)) {
        next.source = NextHopSource::BadRoute;
        return next;
      }
      next.source = NextHopSource::RouteHeader;
      next.hop = uri_next_hop(route.value.uri);
      next.strict_next_hop = !route.value.uri.lr;
      return next;
    }
  }
  if (!request.to.has_tag) return next;
  Uri target = request.request_uri;
  if (plan.strict_router) {
    const Parsed<Uri> replaced = parse_uri(plan.request_uri);
    if (!replaced.ok()) return next;
    target = replaced.value;
  }
  if (!is_sip_uri(target) || uri_is_ours(target, identity)) return next;
  const NextHop hop = uri_next_hop(target);
  if (!hop.is_ip()) return next;
  next.source = NextHopSource::RequestUri;
  next.hop = hop;
  return next;
}

SenderViaStamp sender_via_stamp(const Message& request, std::string_view source_ip,
                                std::uint16_t source_port) {
  SenderViaStamp stamp;
  if (request.via_count == 0) return stamp;
  const Via& via = request.top_via;
  // A Via already at the parameter limit is left as it came: one more would make the next
  // hop refuse the whole message (and us the response).
  if (via.param_count + 1u >= kMaxParams) return stamp;
  std::string_view host = via.sent_by.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (via.received.empty() && (via.has_rport || !iequals(host, source_ip))) {
    stamp.received = source_ip;
  }
  // Only a single valueless rport asks for the port (RFC 3581 §4): "rport=0" is a value,
  // and a Via repeating rport is left as it came.
  if (via.rport_count == 1 && via.last_rport_valueless) stamp.rport = source_port;
  return stamp;
}

RequestEdits forward_edits(const RoutePlan& plan, const LocalIdentity& identity,
                           std::size_t listen_index, std::string_view branch,
                           std::string_view request_uri) {
  const ListenAddress& address = identity.listen_address(listen_index);
  RequestEdits edits;
  edits.via.transport = "UDP";
  edits.via.sent_by = address.sent_by();
  edits.via.branch = branch;
  edits.via.rport = true;
  edits.request_uri = request_uri.empty() ? plan.request_uri : request_uri;
  if (identity.record_route) edits.record_route_uri = address.record_route_uri();
  // §16.4: our own value off the top, a strict router's trace off the end.
  edits.pop_top_routes = plan.pop_top_route ? 1 : 0;
  edits.pop_last_route = plan.strict_router;
  edits.drop_routes = plan.drop_routes;
  if (!plan.strict_next_hop_uri.empty()) {
    // §16.6 step 7: the Request-URI goes to the end of the Route header, the strict router's
    // value (now on top) into the Request-URI.
    edits.append_route_uri = request_uri.empty() ? plan.displaced_request_uri : request_uri;
    edits.request_uri = plan.strict_next_hop_uri;
    ++edits.pop_top_routes;
  }
  return edits;
}

std::uint16_t local_response_port(const Message& request, std::uint16_t source_port) {
  if (request.via_count == 0) return source_port;
  const Via& via = request.top_via;
  if (via.has_rport || via.sent_by.host.empty()) return source_port;
  // Port 0 names no port (RFC 768): answer where the request came from, as for a Via that
  // could not be read, rather than send to port 0 (found by tests/fuzz/fuzz_pipeline.cpp).
  if (via.sent_by.has_port && via.sent_by.port == 0) return source_port;
  return via.sent_by.has_port ? via.sent_by.port : default_port(via.transport, UriScheme::Sip);
}

// ---- responses ------------------------------------------------------------------------------

NextHop via_next_hop(const Via& via) {
  NextHop hop;
  hop.transport = via.transport;
  const std::uint16_t sent_by_port =
      via.sent_by.has_port ? via.sent_by.port : default_port(via.transport, UriScheme::Sip);
  if (!via.maddr.empty()) {
    // §18.2.2: maddr wins, with the sent-by port.
    hop.host = strip_brackets(via.maddr);
    hop.kind = address_kind(via.maddr);
    hop.port = sent_by_port;
    return hop;
  }
  if (!via.received.empty()) {
    hop.host = strip_brackets(via.received);
    hop.kind = address_kind(via.received);
  } else {
    hop.host = strip_brackets(via.sent_by.host);
    hop.kind = via.sent_by.kind;
  }
  // RFC 3581 §4: rport with a value is the source port the request came from.
  hop.port = via.has_rport && via.rport != 0 ? via.rport : sent_by_port;
  return hop;
}

ResponseRoute route_response(const Message& response, const LocalIdentity& identity) {
  ResponseRoute route;
  if (!response.is_response()) {
    route.drop = ResponseDrop::NotAResponse;
    return route;
  }
  if (!response.ok() || response.via_count == 0) {
    route.drop = ResponseDrop::Malformed;
    return route;
  }
  if (!via_is_ours(response.top_via, identity)) {
    route.drop = ResponseDrop::NotOurs;
    return route;
  }
  if (response.via_count == 1) {
    route.drop = ResponseDrop::ForUs;
    return route;
  }
  const Parsed<Via> next = parse_via(response.vias[1].text);
  if (!next.ok()) {
    route.drop = ResponseDrop::Malformed;
    return route;
  }
  route.next_hop = via_next_hop(next.value);
  return route;
}

}  // namespace sipline::sip

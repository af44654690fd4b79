// The dial plan: [[routes]] rules tried in order, the first whose methods, Request-URI user
// prefix and source addresses match a request decides what happens to it (location lookup,
// stateless forward, redirect, reject). No rule matches: the proxy answers 404 (RFC 3261
// §16.5: no target for a Request-URI in our domain).
//
// The rules are built once per configuration (control plane: std::string, std::vector);
// RouteTable::match runs per request on a worker and never allocates: a method test is one
// mask test (plus, for extension methods only, a few string compares), the user test one
// prefix compare, the source test (rules that list sources only) a byte compare per prefix.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lb/address.hpp"
#include "sip/message.hpp"
#include "sip/uri.hpp"

namespace sipline::lb {

enum class RouteAction : std::uint8_t { Location, Forward, Redirect, Reject };

std::string_view route_action_name(RouteAction action);  // "location", "forward", ...

// A forward next hop: the URI as written plus its host and port, parsed once.
struct ForwardTarget {
  std::string uri;  // "sip:127.0.0.1:5070"
  sip::UriScheme scheme = sip::UriScheme::Sip;
  // Port absent from the URI: 5060 for sip, 5061 for sips (RFC 3261 §19.1).
  SocketAddress next_hop;

  bool operator==(const ForwardTarget&) const = default;
};

// A location route's forking over a user's registered contacts (RFC 3261 §16.6 step 1, §16.7):
// `fork = "serial"` tries them one after another in the location table's order, highest q
// first (§16.7 step 8), so that a phone that left without unregistering does not swallow the
// call; `fork = "parallel"` rings them all at once (an INVITE; other methods go to the first);
// `fork = "q-groups"` rings the contacts of the highest q at once, and the next q's when all of
// them failed (§16.6 step 1's q-value order, Kamailio's t_load_contacts/t_next_contacts).
struct Forking {
  enum class Mode : std::uint8_t { None, Serial, Parallel, QGroups };
  Mode mode = Mode::None;
  // No answer at all (not even 100 Trying) within this: the contact is given up (serial: the
  // next one is tried).
  std::uint32_t no_answer_ms = 2000;
  // A contact that rings this long (Timer C, from its last provisional answer) is cancelled
  // (serial: and the next one tried); 0, and in a serial hunt for the last contact: Timer C's
  // 180 s (§16.6 step 11).
  std::uint32_t ring_timeout_ms = 0;
  // Where an INVITE goes when the user cannot take it (a voicemail server, an operator): no
  // contact registered, or every contact failed with one of `codes` (§16.7 step 6: the best
  // answer; a silent or ring-timed-out contact counts as 408). Kamailio's failure_route.
  struct Fallback {
    ForwardTarget target;
    // Its Request-URI: `uri_head` + the called user + `uri_tail` ("sip:" "1002"
    // "@192.0.2.9:5090"), or `uri_head` alone when the target's URI names a user itself.
    std::string uri_head;
    std::string uri_tail;
    bool names_user = false;
    // 300..599 only: after a 6xx no new branch may be created (§16.7 step 5).
    std::vector<std::uint16_t> codes{408, 480, 486};

    bool operator==(const Fallback&) const = default;
  };
  std::optional<Fallback> fallback;

  bool enabled() const { return mode != Mode::None; }
  bool operator==(const Forking&) const = default;
};

struct RouteRule {
  std::string name;
  // Prefix of the Request-URI user part, compared octet by octet with the user as written:
  // still %-escaped (RFC 3261 §19.1.4), so "%31001" does not match prefix "10" (phones do
  // not escape digits). A tel: URI's user is its number. "" matches any user, and none.
  std::string user_prefix;
  // Method names, case-sensitive (RFC 3261 §7.1): "INVITE" is the INVITE method, "invite" an
  // extension method of that name. Empty matches any method, extension methods included.
  // INVITE brings its ACK and CANCEL with it: a stateless proxy sends them where the INVITE
  // went by routing them alike (§16.11, §9.1), so a route cannot take the INVITE alone.
  std::vector<std::string> methods;
  // The addresses the request may come from (the datagram's source, not its Via, which the
  // sender writes): a carrier's trunk-facing route lists the carrier's SBCs, so that nobody
  // else reaches the servers behind it without credentials. Empty: any source.
  std::vector<IpPrefix> sources;
  RouteAction action = RouteAction::Location;
  bool auth = false;  // challenge (407) requests from our users before routing
  // With auth: a request forwarded for an authenticated user carries our
  // P-Asserted-Identity for that user (RFC 3325 §9.1), its caller ID or its name, in place of
  // any the request had.
  bool assert_identity = false;
  // Number translation (location, forward, redirect to registered contacts): the
  // Request-URI user loses its first `strip` octets (as written, at most user_prefix's
  // length: what is stripped is what matched) and gains `prepend` in front. A forward sends
  // the request with that Request-URI; location and redirect look that user up.
  std::uint8_t strip = 0;
  std::string prepend;
  // action == Forward: exactly one of these is set, a fixed next hop or a server pool (an
  // index into Config::pools, whose member is chosen per call, lb/pool.hpp).
  std::optional<ForwardTarget> forward;
  std::optional<std::uint16_t> pool;
  Forking fork;                   // Location: several contacts (fork = "serial", "parallel", ...)
  std::string redirect_contact;   // Redirect: 302 Contact; "" = registered contacts
  std::uint16_t reject_code = 0;  // Reject: 400..699
  // Location, Forward: at most this many calls (INVITE dialogs) through the route at once,
  // and at most max_cps new ones within each second of the clock, over every worker; the next
  // new INVITE is answered limit_code. 0: no limit.
  std::uint32_t max_calls = 0;
  std::uint32_t max_cps = 0;
  std::uint16_t limit_code = 503;
  // The [[call_limits]] group whose limits these are (copied from it), counted together with
  // every other route naming it; empty: the route's own.
  std::string call_limit;
  std::uint32_t line = 0;  // the [[routes]] header line, for logs

  bool translates_user() const { return strip != 0 || !prepend.empty(); }
};

// The longest `prepend` config/ accepts: a country, trunk or routing code, not a number.
inline constexpr std::size_t kMaxPrependSize = 32;

class RouteTable {
 public:
  RouteTable() = default;
  explicit RouteTable(std::vector<RouteRule> rules);

  // The first rule matching the request's method, its Request-URI user and `source` (where
  // its datagram came from), nullptr when none does (or `request` is not a request). The
  // pointer stays valid as long as the table.
  const RouteRule* match(const sip::Message& request, const IpAddress& source) const {
    return match(request, request.request_uri.user, source);
  }
  // The same with `user` in place of the Request-URI's (a request placed as a number it does
  // not carry: an emergency service URN).
  const RouteRule* match(const sip::Message& request, std::string_view user,
                         const IpAddress& source) const;

  std::span<const RouteRule> rules() const { return rules_; }

 private:
  // What match() tests, precomputed from a rule's method list.
  struct MethodFilter {
    std::uint32_t known = 0;      // bit (1 << sip::Method) for each known method listed
    bool any = false;             // no method list: every method
    bool has_extensions = false;  // some listed names are extension methods
  };

  static MethodFilter filter_for(const RouteRule& rule);
  static bool methods_match(const MethodFilter& filter, const RouteRule& rule,
                            const sip::Message& request);
  static bool source_matches(const RouteRule& rule, const IpAddress& source);

  std::vector<RouteRule> rules_;
  std::vector<MethodFilter> filters_;  // one per rule, same order
};

}  // namespace sipline::lb

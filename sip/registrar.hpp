// The registrar (RFC 3261 §10.3): decides the answer to a REGISTER and the new binding list of
// its address-of-record. No I/O and no state of its own: the caller (the control thread)
// passes the current bindings in, writes bindings_after to the location table and store when
// `changed`, and sends the response built from the outcome with write_local_response().
//
// Decisions taken here, in the order they are checked:
//  1. Request-URI: sip/sips (else 416), host one of our domains (else 404). sipline is a
//     registrar for its own domains only; it does not forward REGISTERs for other domains.
//  2. To: a sip/sips URI with a user (else 400; RFC 4475 §3.3.4 unksm2 "To: isbn:..."), Contact
//     values (400 when unparsable or not sip/sips: workers must be able to route to them),
//     Expires (400), "Contact: *" only alone and with Expires: 0 (400, §10.3 step 6).
//  3. Require: we support no extension, so any option-tag gets 420 + Unsupported (step 2).
//  4. Digest authentication when enabled (step 3): no or foreign-realm credentials, a nonce we
//     did not issue, or an algorithm we did not offer -> 401 with one challenge per configured
//     algorithm; stale nonce or replayed nc -> 401 stale=true; wrong password -> 403. An
//     unknown user is challenged like everybody and then gets 403, never 404, so the user
//     list cannot be enumerated (svwar and friends see the same answers for every name).
//     The authenticated username must be the To user (step 4), else 403.
//  5. To host one of our domains (step 5), else 404. All our domains are aliases: the AOR is
//     the To user alone (unescaped).
//  6. No Contact: a query, 200 with the current bindings (step 6).
//  7. Contacts (step 7): expires = the contact's expires param, else the Expires header, else
//     default_expires; 0 removes the binding; 0 < e < min_expires fails the whole request
//     with 423 + Min-Expires; e > max_expires is clamped. A contact matches a binding by URI
//     equivalence (§19.1.4). Same Call-ID with a CSeq not above the binding's: that contact's
//     update is ignored and the request still succeeds. (RFC 3261 says the request fails;
//     a registrar without transaction state must answer a retransmitted REGISTER the same
//     way as the original, i.e. 200 with the bindings, and an out-of-order older REGISTER
//     must not undo a newer one.) A different Call-ID replaces the binding.
//  8. More than max_contacts bindings afterwards: 403 with a Warning (RFC 3261 has no code for
//     it), nothing changed.
//  9. 200 OK: one "Contact: <uri>;expires=N[;q=0.x]" line per binding (remaining seconds;
//     q only when not 1), highest q first, and a Date header (step 8).
// Updates are all-or-nothing: any failure leaves the bindings as they were (step 7).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/digest.hpp"
#include "sip/digest_auth.hpp"
#include "sip/message.hpp"

namespace sipline::sip {

struct Binding {    // one registered contact of an address-of-record
  std::string aor;  // "1001" (user part, unescaped; all our domains are aliases)
  std::string
      contact;  // the Contact URI as registered, e.g. "sip:1001@127.0.0.1:5070;transport=udp"
  std::string received;  // "ip:port" the REGISTER came from (RFC 5626-less NAT help; may be empty)
  std::string call_id;   // of the REGISTER (RFC 3261 §10.3 step 7)
  std::uint32_t cseq = 0;
  std::int64_t expires_at = 0;  // unix seconds
  std::uint16_t q_milli = 1000;
  std::string instance;  // +sip.instance if present (without its quotes)
  // Where nodes share the bindings (Redis): the SIP address ("ip:port") of the node that took
  // the REGISTER. A phone behind NAT is reachable only through it (its NAT lets in only the
  // address it sent to), so the other nodes send the contact's requests there. Else empty.
  std::string node_address;

  bool operator==(const Binding&) const = default;
};

// What the runtime copies from config ([domain] and [registrar]).
struct RegistrarSettings {
  std::vector<std::string> domains;  // hosts we serve, compared case-insensitively; "[::1]"
  std::string realm;                 // digest realm (config: the first domain name)
  bool auth = true;
  std::vector<DigestAlgorithm> algorithms = {DigestAlgorithm::Sha256, DigestAlgorithm::Md5};
  std::uint32_t min_expires = 60;
  std::uint32_t max_expires = 3600;
  std::uint32_t default_expires = 3600;
  std::uint32_t max_contacts = 10;  // per address-of-record
  std::uint32_t nonce_lifetime_s = 300;
};

// The settings of the control thread's DigestAuthenticator (issuer 0). The result views
// `settings`; the authenticator copies what it needs at construction.
DigestAuthSettings registrar_auth_settings(const RegistrarSettings& settings,
                                           const NonceSecret& secret);

struct RegisterOutcome {
  std::uint16_t code = 500;
  std::string reason;         // empty: the registered reason phrase
  std::string extra_headers;  // complete lines, each ending in CRLF
  bool needs_to_tag = true;   // every answer here is final (RFC 3261 §8.2.6.2)
  std::string aor;            // empty when refused before the AOR was known
  // The AOR's bindings after this request (expired ones dropped, highest q first). Equal to
  // the current bindings, minus expired ones, whenever the request failed.
  std::vector<Binding> bindings_after;
  bool changed = false;  // bindings_after differs from what the lookup returned
  AuthResult auth = AuthResult::NoCredentials;  // Ok when auth is off; for logs
  std::string username;                         // of the credentials, for logs
};

// The current bindings of an AOR (expired ones may be included; they are ignored).
using BindingLookup = std::function<std::vector<Binding>(std::string_view aor)>;

struct RegistrarContext {
  const RegistrarSettings& settings;
  const UserDirectory& users;
  DigestAuthenticator& auth;  // the control thread's (nonce counts are recorded in it)
  // This node's address for the REGISTER's family where other nodes share the bindings
  // (Binding::node_address); empty otherwise.
  std::string_view node_address = {};
};

// `request` is a parsed REGISTER (request.ok(), method Register); `source` the "ip:port" it
// came from (stored as Binding::received); `now` unix seconds.
RegisterOutcome handle_register(const Message& request, std::string_view source, std::int64_t now,
                                const RegistrarContext& context,
                                const BindingLookup& current_bindings);

// "Contact: <uri>;expires=N[;q=0.x]\r\n" per binding, N = seconds left at `now`.
std::string binding_contact_lines(const std::vector<Binding>& bindings, std::int64_t now);

// RFC 3261 §20.17 / RFC 1123 date: "Sat, 13 Nov 2010 23:29:00 GMT".
std::string format_sip_date(std::int64_t unix_seconds);

}  // namespace sipline::sip

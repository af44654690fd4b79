// The REGISTER sipline sends as a UA to a carrier's registrar (a registration-based SIP
// trunk, RFC 3261 §10.2), and what it reads from the answers. Control plane only: strings are
// built on the heap.
//
// §10.2: Request-URI = the registrar's domain (no user part); To = the address-of-record; From
// = the same with our tag; one Call-ID for every registration of a boot, CSeq one higher each
// time (§10.2: "the same Call-ID", "incremented by one"); Contact = where the carrier sends
// the trunk's calls, with the expiry asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sip/message.hpp"

namespace sipline::sip {

struct OutboundRegister {
  std::string_view registrar_uri;  // "sip:carrier.example"
  // "<sip:sbc.carrier.example;lr>": the outbound proxy it goes through (§8.1.2), or "".
  std::string_view route;
  std::string_view aor;          // "sip:+15551230000@carrier.example"
  std::string_view contact_uri;  // "sip:+15551230000@192.0.2.1:5060"
  std::string_view sent_by;      // our listen address, "192.0.2.1:5060"
  std::string_view branch;       // signed_branch(...).view(): the answer comes back to us
  std::string_view from_tag;
  std::string_view call_id;
  std::uint32_t cseq = 1;
  std::uint32_t expires_s = 3600;
  // A complete "Authorization: ..." or "Proxy-Authorization: ..." line with its CRLF, or "".
  std::string_view credentials;
};

std::string write_outbound_register(const OutboundRegister& request);

// The expiry a registrar granted in its 200 (§10.2.4): the expires parameter of the Contact
// that is ours (`contact_uri`, compared as URIs, §19.1.4), else the Expires header, else
// nothing (then the asked-for value holds).
std::optional<std::uint32_t> granted_expires(const Message& ok, std::string_view contact_uri);

// The Min-Expires of a 423 Interval Too Brief (§10.2.8), or nothing.
std::optional<std::uint32_t> min_expires(const Message& too_brief);

}  // namespace sipline::sip

// Service URNs (RFC 5031) in a Request-URI: "urn:service:sos" is an emergency call placed by
// what it is, not by a number (the UA recognised the dialled string, RFC 6881 §5), and
// "urn:service:sos.police", "urn:service:sos.fire", ... are its sub-services.
#pragma once

#include <string_view>

#include "sip/uri.hpp"

namespace sipline::sip {

// The service's text for a Request-URI that starts one ("urn:service:" itself, lower case as
// RFC 5031 §3 asks senders to write it): what the shed socket filter matches.
inline constexpr std::string_view kEmergencyServiceUrn = "urn:service:sos";

// True for urn:service:sos and any of its sub-services, however cased: the labels are
// case-insensitive (RFC 5031 §3), and labels removed from the right leave a more general
// service, so a sub-service this proxy does not know is still "sos". False for any other URI,
// and for a service that is not well-formed (labels of letters, digits and '-').
bool is_emergency_service_urn(const Uri& uri);

// The service of an emergency service URN as written ("sos", "SOS.police"), else empty.
std::string_view emergency_service(const Uri& uri);

// True for "sos" and "sos.LABEL[.LABEL...]" (labels of letters, digits and '-'), any case: a
// service a configuration may name.
bool is_emergency_service_name(std::string_view service);

// `service` with its rightmost label removed ("sos.police.x" -> "sos.police"; "sos" -> ""):
// the more general service RFC 5031 §3 says it still is.
std::string_view general_service(std::string_view service);

}  // namespace sipline::sip

// A token in the proxy's Record-Route URI that ties the route to its dialog's Call-ID
// (`;rt=` followed by 16 hex digits, a SipHash-2-4 of the Call-ID under the deployment's
// `[domain] route_secret`).
//
// Why: with record_route, a phone's in-dialog requests (To tag) reach the proxy through its
// Route, and are relayed without the route table's auth, sources or call limits, because the
// dialog was admitted when it was set up (RFC 3261 §16.4, §12.2.1.1). Our Record-Route URI
// itself is the same for every dialog, so anyone could copy it into a request with an
// invented To tag and a Request-URI naming a carrier's SBC, which then gets it from the
// proxy's trusted address with nobody's credentials. An RFC 3261 UAS answers a request of a
// dialog it does not know 481 (§12.2.2), but an element that looks only at the Request-URI
// (some gateways and B2BUAs) starts a call: toll fraud. With a token only dialogs the
// proxy record-routed carry a Route that passes: the token of another Call-ID, or none, gets
// 403. §16.6 step 4 leaves the Record-Route URI's content to the proxy ("it MAY include
// parameters"); the UAs copy it into their route sets unchanged (§12.1.1, §12.1.2).
#pragma once

#include <array>
#include <string_view>

#include "sip/siphash.hpp"

namespace sipline::sip {

inline constexpr std::string_view kRouteTokenParam = "rt";
inline constexpr std::size_t kRouteTokenSize = 16;  // hex digits of the 64-bit tag

// The key of a route secret (the configuration's text; at least 16 octets of randomness).
SipHashKey route_token_key(std::string_view secret) noexcept;

// The token of a dialog's Call-ID: lower-case hex.
std::array<char, kRouteTokenSize> route_token(const SipHashKey& key,
                                              std::string_view call_id) noexcept;

// True when `token` (the rt parameter's value as received) is the Call-ID's token. Hex
// digits compare case-insensitively (a URI parameter's value may be re-cased on the way).
bool route_token_matches(const SipHashKey& key, std::string_view call_id,
                         std::string_view token) noexcept;

}  // namespace sipline::sip

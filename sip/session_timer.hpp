// Session timers (RFC 4028): the Session-Expires and Min-SE header fields, which tell every
// element on a dialog's path how long its session lives without a refresh (a re-INVITE or
// UPDATE). A proxy reads them to know when a call whose BYE never came has ended (§8.3), and
// may ask for a session timer on a call by inserting Session-Expires (§8.1).
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/message.hpp"
#include "sip/parse_error.hpp"

namespace sipline::sip {

// §5: no session interval is ever shorter than 90 seconds (Min-SE's floor and default).
inline constexpr std::uint32_t kMinSessionInterval = 90;

enum class Refresher : std::uint8_t { Unspecified, Uac, Uas };

// §4: Session-Expires = delta-seconds *(SEMI se-params), se-params = refresher-param /
// generic-param.
struct SessionExpires {
  std::uint32_t seconds = 0;
  Refresher refresher = Refresher::Unspecified;
};

Parsed<SessionExpires> parse_session_expires(std::string_view value);

// §5: Min-SE = delta-seconds *(SEMI generic-param).
Parsed<std::uint32_t> parse_min_se(std::string_view value);

// The session interval a message names: its Session-Expires (raised to the 90 s floor; a
// peer cannot make a proxy forget a session sooner), 0 when it has none or it is malformed.
std::uint32_t session_interval(const Message& message);

// The least interval a request allows (its Min-SE, else the 90 s floor).
std::uint32_t min_session_interval(const Message& request);

// Whether the request's Supported lists "timer": its sender refreshes sessions (§7.1).
bool supports_session_timer(const Message& request);

}  // namespace sipline::sip

// Sizing constants of the SIP layer, in one place, with the invariants they rely on.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sipline::sip {

// A UDP datagram carries at most 65,535 octets of payload (RFC 768 length field); every
// offset into a message therefore fits in 16 bits.
inline constexpr std::size_t kMaxMessageSize = 65535;

// Header lines indexed per message. longreq.dat (RFC 4475 §3.1.1.7) has 34 Via lines plus
// a dozen others; carrier INVITEs carry 25-30. Exceeding it is ParseError::TooManyHeaders.
inline constexpr std::size_t kMaxHeaders = 128;

// Via elements (after splitting comma lists) kept per message.
inline constexpr std::size_t kMaxVias = 64;

// Parameters examined per header value or URI before giving up (ParseError::TooManyParams).
inline constexpr std::size_t kMaxParams = 32;

// Max-Forwards inserted when a request carries none (RFC 3261 §16.6 step 3).
inline constexpr unsigned kDefaultMaxForwards = 70;

static_assert(kMaxMessageSize <= UINT16_MAX, "offsets are 16-bit");
static_assert(kMaxVias <= kMaxHeaders, "every Via element needs a header line or shares one");
static_assert(kMaxHeaders <= 255, "header indices are stored in uint8_t");

}  // namespace sipline::sip

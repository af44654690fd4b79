// STUN Binding answered on the SIP port (RFC 5389 as a server without authentication), for
// the keep-alives of RFC 5626 §4.4.2: a UA behind a NAT sends Binding requests over its flow
// to the proxy it registered through, every few tens of seconds; each answer keeps the NAT
// mapping open, and its XOR-MAPPED-ADDRESS tells the UA whether the mapping changed (then it
// registers again). RFC 5626 §8 has an edge proxy answer STUN on its SIP UDP ports.
//
// A SIP message starts with a letter or CR/LF; a STUN message starts with two zero bits and
// carries the magic cookie at offset 4 (RFC 5389 §6), so the two are told apart by their
// first octets, before the SIP parser sees anything.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sipline::sip {

inline constexpr std::uint32_t kStunMagicCookie = 0x2112A442;
inline constexpr std::size_t kStunHeaderSize = 20;
// The largest answer answer_stun() writes: a 420 listing kStunMaxUnknownAttributes types.
inline constexpr std::size_t kStunMaxUnknownAttributes = 16;
inline constexpr std::size_t kStunMaxAnswerSize = 128;

// Where the request came from, as STUN encodes it: the address in network byte order (IPv4
// in the first 4 octets) and the port.
struct StunPeer {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> address{};
  std::uint16_t port = 0;
};

// The first octets of a STUN message (RFC 5389 §6: the top two bits zero and the magic
// cookie): what the SIP port hands to answer_stun() instead of the SIP parser.
inline bool looks_like_stun(std::string_view datagram) {
  return datagram.size() >= kStunHeaderSize && static_cast<unsigned char>(datagram[0]) < 0x40 &&
         static_cast<unsigned char>(datagram[4]) == 0x21 &&
         static_cast<unsigned char>(datagram[5]) == 0x12 &&
         static_cast<unsigned char>(datagram[6]) == 0xA4 &&
         static_cast<unsigned char>(datagram[7]) == 0x42;
}

enum class StunReply : std::uint8_t {
  None,               // nothing to send: discarded (RFC 5389 §7.3)
  Indication,         // nothing to send: an indication (a keep-alive that wants no answer)
  BindingSuccess,     // 0x0101 with XOR-MAPPED-ADDRESS
  UnknownAttributes,  // 0x0111, 420 Unknown Attribute with UNKNOWN-ATTRIBUTES (§7.3.1)
};

struct StunAnswer {
  StunReply reply = StunReply::None;
  std::size_t size = 0;  // octets written into `out`
};

// The answer to the STUN message `request` from `peer`, written into `out`:
//   - a Binding request: a success response with the same transaction ID and the peer's
//     address in XOR-MAPPED-ADDRESS (§15.2), and FINGERPRINT when the request carried one
//     (§7.3, §15.5);
//   - a Binding request with attributes that must be understood (types below 0x8000) other
//     than those a Binding needs none of: 420 Unknown Attribute listing them (§7.3.1);
//   - an indication (RFC 5389 §7.3.2, a keep-alive of its own) gets nothing: Indication;
//   - anything else is discarded (§7.3): a malformed message (a length that does not match,
//     attributes that do not fill it), a FINGERPRINT that does not match, a response (nothing
//     to answer), a request of another method (this is a keep-alive server only).
// Nothing is written when `out` is too small.
StunAnswer answer_stun(std::string_view request, const StunPeer& peer, std::span<char> out);

// CRC-32 (ISO 3309 / ITU-T V.42, the one of zlib): FINGERPRINT is this XOR 0x5354554e.
std::uint32_t crc32(std::string_view bytes);

}  // namespace sipline::sip

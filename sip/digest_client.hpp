// The client half of HTTP Digest as a SIP UA uses it (RFC 3261 §22.2, RFC 7616, RFC 8760):
// pick a challenge from a 401/407 and write the Authorization (or Proxy-Authorization)
// header line that answers it. The hashes come from sip/digest_auth.hpp, the same code the
// proxy verifies with. Used by sipline registering with a carrier (trunk registrations) and
// by sipblast answering challenges at load.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "sip/digest.hpp"
#include "sip/message.hpp"

namespace sipline::sip {

// Text copied out of a datagram into fixed storage, so that a challenge can be kept in a
// transaction slot until the answered request is acknowledged.
template <std::size_t Capacity>
struct FixedText {
  std::array<char, Capacity> chars{};
  std::uint16_t size = 0;

  bool assign(std::string_view text) {
    if (text.size() > Capacity) return false;
    for (std::size_t i = 0; i < text.size(); ++i)
      chars[i] = text[i];
    size = static_cast<std::uint16_t>(text.size());
    return true;
  }
  std::string_view view() const { return {chars.data(), size}; }
};

struct Challenge {
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;
  bool qop_auth = false;  // qop="auth" offered: answer with qop, cnonce and nc (RFC 7616 §3.4)
  bool proxy = false;     // from a 407: answer in Proxy-Authorization (RFC 3261 §22.3)
  // RFC 7616 §3.3: the credentials were right, their nonce was not (too old): the client may
  // answer again with the new one without asking its user.
  bool stale = false;
  FixedText<64> realm;
  FixedText<128> nonce;
  FixedText<64> opaque;
};

enum class ChallengeError : std::uint8_t {
  None,
  NoChallenge,  // no Digest challenge we can answer (no header, other scheme, auth-int only)
  TooLong,      // realm, nonce or opaque longer than the fixed storage
};

struct PickedChallenge {
  Challenge challenge;
  ChallengeError error = ChallengeError::None;
};

// The first Digest challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) whose
// algorithm we support, in the server's order of preference (RFC 8760 §2.4: the server lists
// the algorithms it prefers first, the client takes the first it supports).
PickedChallenge pick_challenge(const Message& response);

struct CredentialsInput {
  std::string_view user;
  std::string_view password;
  std::string_view method;  // "REGISTER"
  std::string_view uri;     // digest-uri: the Request-URI as written
  std::string_view cnonce;
  std::uint32_t nonce_count = 1;
};

// Writes "Authorization: Digest username=..., response=...\r\n" (Proxy-Authorization for a
// 407) into `out`; returns its length, 0 when it does not fit.
std::size_t write_authorization(std::span<char> out, const Challenge& challenge,
                                const CredentialsInput& input);

}  // namespace sipline::sip

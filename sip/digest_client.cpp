#include "sip/digest_client.hpp"

#include <cstdio>

#include "sip/digest_auth.hpp"
#include "sip/span_writer.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {

PickedChallenge pick_challenge(const Message& response) {
  const HeaderId id =
      response.status_code == 407 ? HeaderId::ProxyAuthenticate : HeaderId::WWWAuthenticate;
  PickedChallenge picked;
  picked.error = ChallengeError::NoChallenge;
  for (const HeaderField* field = response.find(id); field != nullptr;
       field = response.next(*field)) {
    const auto parsed = parse_digest(field->value);
    if (!parsed.ok() || !parsed.value.is_digest) continue;
    const DigestParams& params = parsed.value;
    if (!digest_algorithm_supported(params.algorithm)) continue;
    const bool qop_offered = !params.qop.empty();
    const bool qop_auth = qop_offered && option_list_contains(params.qop, "auth");
    if (qop_offered && !qop_auth) continue;  // auth-int only: we do not hash bodies
    Challenge& challenge = picked.challenge;
    challenge.algorithm = params.algorithm;
    challenge.qop_auth = qop_auth;
    challenge.proxy = response.status_code == 407;
    challenge.stale = iequals(params.stale, "true");
    if (!challenge.realm.assign(params.realm) || !challenge.nonce.assign(params.nonce) ||
        !challenge.opaque.assign(params.opaque)) {
      picked.error = ChallengeError::TooLong;
      return picked;
    }
    picked.error = ChallengeError::None;
    return picked;
  }
  return picked;
}

std::size_t write_authorization(std::span<char> out, const Challenge& challenge,
                                const CredentialsInput& input) {
  const DigestHex ha1 =
      digest_ha1(challenge.algorithm, input.user, challenge.realm.view(), input.password);
  char nc[9];
  std::snprintf(nc, sizeof nc, "%08x", input.nonce_count);
  DigestResponseInput digest;
  digest.algorithm = challenge.algorithm;
  digest.ha1 = ha1.view();
  digest.method = input.method;
  digest.uri = input.uri;
  digest.nonce = challenge.nonce.view();
  if (challenge.qop_auth) {
    digest.nc = {nc, 8};
    digest.cnonce = input.cnonce;
    digest.qop = "auth";
  }
  const DigestHex response = digest_response(digest);
  if (response.size == 0) return 0;

  SpanWriter line(out);
  line << (challenge.proxy ? "Proxy-Authorization: Digest username=\""
                           : "Authorization: Digest username=\"")
       << input.user << "\", realm=\"" << challenge.realm.view() << "\", nonce=\""
       << challenge.nonce.view() << "\", uri=\"" << input.uri << "\", response=\""
       << response.view() << "\", algorithm=" << digest_algorithm_name(challenge.algorithm);
  if (challenge.qop_auth) {
    line << ", cnonce=\"" << input.cnonce << "\", qop=auth, nc=" << std::string_view(nc, 8);
  }
  // RFC 7616 §3.4: the opaque comes back unchanged.
  if (challenge.opaque.size != 0) line << ", opaque=\"" << challenge.opaque.view() << "\"";
  line << "\r\n";
  return line.written().size;
}

}  // namespace sipline::sip

#include "sip/digest.hpp"

#include <optional>

#include "sip/header_scanner.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

struct AlgorithmName {
  DigestAlgorithm algorithm;
  std::string_view name;
};

// RFC 7616 §6.1 registry names (RFC 8760 brought SHA-256 and SHA-512/256 to SIP).
constexpr AlgorithmName kAlgorithmNames[] = {
    {DigestAlgorithm::Md5, "MD5"},
    {DigestAlgorithm::Md5Sess, "MD5-sess"},
    {DigestAlgorithm::Sha256, "SHA-256"},
    {DigestAlgorithm::Sha256Sess, "SHA-256-sess"},
    {DigestAlgorithm::Sha512_256, "SHA-512-256"},
    {DigestAlgorithm::Sha512_256Sess, "SHA-512-256-sess"},
};

struct TextField {
  std::string_view name;
  std::string_view DigestParams::*member;
};

constexpr TextField kTextFields[] = {
    {"username", &DigestParams::username}, {"realm", &DigestParams::realm},
    {"nonce", &DigestParams::nonce},       {"uri", &DigestParams::uri},
    {"response", &DigestParams::response}, {"algorithm", &DigestParams::algorithm_text},
    {"cnonce", &DigestParams::cnonce},     {"opaque", &DigestParams::opaque},
    {"qop", &DigestParams::qop},           {"nc", &DigestParams::nc},
    {"stale", &DigestParams::stale},       {"domain", &DigestParams::domain},
};

// credentials / challenge = auth-scheme LWS auth-param *(COMMA auth-param) (RFC 3261 §25.1),
// auth-param = auth-param-name EQUAL ( token / quoted-string ).
class DigestParser {
 public:
  explicit DigestParser(std::string_view value) : scan_(trim_lws(value)) {}

  Parsed<DigestParams> parse() {
    params_.scheme = scan_.take_token();
    if (params_.scheme.empty()) return fail<DigestParams>(ParseError::BadAuthorization);
    params_.is_digest = iequals(params_.scheme, "Digest");
    // Another scheme (RFC 4475 §3.3.7, regaut01) is reported, not interpreted: the caller
    // challenges it, and its syntax (auth-params or an RFC 7235 token68) is not ours to judge.
    if (!params_.is_digest || scan_.at_end()) return ok();
    if (!scan_.skip_lws() || !read_params())
      return fail<DigestParams>(ParseError::BadAuthorization);
    return ok();
  }

 private:
  Parsed<DigestParams> ok() const { return Parsed<DigestParams>{params_, ParseError::None}; }

  // COMMA = SWS "," SWS; folded lines between parameters are common (RFC 3665 §2.1 F2).
  bool read_params() {
    while (read_param()) {
      scan_.skip_lws();
      if (scan_.at_end()) return true;
      if (!scan_.consume(',')) return false;
      scan_.skip_lws();
    }
    return false;
  }

  bool read_param() {
    const std::string_view name = scan_.take_token();
    scan_.skip_lws();
    if (name.empty() || !scan_.consume('=')) return false;
    scan_.skip_lws();
    const std::optional<std::string_view> value = read_value();
    if (!value) return false;
    assign(name, *value);
    return true;
  }

  // A token as written, or a quoted-string without its quotes (escapes left as written).
  std::optional<std::string_view> read_value() {
    if (!scan_.next_is('"')) {
      const std::string_view token = scan_.take_token();
      if (token.empty()) return std::nullopt;
      return token;
    }
    const std::optional<std::string_view> quoted = scan_.take_quoted_string();
    if (!quoted) return std::nullopt;
    return quoted->substr(1, quoted->size() - 2);
  }

  // Parameter names are case-insensitive (RFC 7616 §3.3); unknown ones are skipped.
  void assign(std::string_view name, std::string_view value) {
    for (const TextField& field : kTextFields) {
      if (iequals(name, field.name)) params_.*field.member = value;
    }
    if (iequals(name, "algorithm")) params_.algorithm = digest_algorithm_from_text(value);
    if (iequals(name, "userhash")) params_.userhash = iequals(value, "true");
  }

  HeaderScanner scan_;
  DigestParams params_;
};

}  // namespace

DigestAlgorithm digest_algorithm_from_text(std::string_view text) {
  for (const AlgorithmName& entry : kAlgorithmNames) {
    if (iequals(text, entry.name)) return entry.algorithm;
  }
  return DigestAlgorithm::Unknown;
}

std::string_view digest_algorithm_name(DigestAlgorithm algorithm) {
  for (const AlgorithmName& entry : kAlgorithmNames) {
    if (entry.algorithm == algorithm) return entry.name;
  }
  return "";
}

Parsed<DigestParams> parse_digest(std::string_view value) {
  return DigestParser(value).parse();
}

std::optional<DigestParams> digest_credentials_for_realm(std::string_view value,
                                                         std::string_view realm) {
  if (realm.empty()) return std::nullopt;
  const Parsed<DigestParams> credentials = parse_digest(value);
  if (!credentials.ok() || !credentials.value.is_digest || credentials.value.realm != realm) {
    return std::nullopt;
  }
  return credentials.value;
}

}  // namespace sipline::sip

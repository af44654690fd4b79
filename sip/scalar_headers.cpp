#include "sip/scalar_headers.hpp"

#include "sip/header_scanner.hpp"
#include "sip/limits.hpp"
#include "sip/text.hpp"

namespace sipline::sip {

// CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the LWS may be a folded line (RFC 4475
// §3.1.1.1 has "0009\r\n  INVITE").
Parsed<CSeq> parse_cseq(std::string_view value) {
  HeaderScanner scan(trim_lws(value));
  const std::optional<std::uint64_t> number = parse_decimal(scan.take_while(is_digit), UINT32_MAX);
  if (!number || !scan.skip_lws()) return fail<CSeq>(ParseError::BadCSeq);
  const std::string_view method = scan.take_token();
  if (method.empty() || !scan.at_end()) return fail<CSeq>(ParseError::BadCSeq);
  return Parsed<CSeq>{CSeq{std::uint32_t(*number), method_from_token(method), method},
                      ParseError::None};
}

Parsed<std::uint8_t> parse_max_forwards(std::string_view value) {
  const std::optional<std::uint64_t> hops = parse_decimal(trim_lws(value), 255);
  if (!hops) return fail<std::uint8_t>(ParseError::BadMaxForwards);
  return Parsed<std::uint8_t>{std::uint8_t(*hops), ParseError::None};
}

Parsed<std::uint32_t> parse_content_length(std::string_view value) {
  const std::optional<std::uint64_t> length = parse_decimal(trim_lws(value), kMaxMessageSize);
  if (!length) return fail<std::uint32_t>(ParseError::BadContentLength);
  return Parsed<std::uint32_t>{std::uint32_t(*length), ParseError::None};
}

Parsed<std::uint32_t> parse_expires(std::string_view value) {
  const std::optional<std::uint64_t> seconds = parse_decimal(trim_lws(value), UINT32_MAX);
  if (!seconds) return fail<std::uint32_t>(ParseError::BadExpires);
  return Parsed<std::uint32_t>{std::uint32_t(*seconds), ParseError::None};
}

}  // namespace sipline::sip

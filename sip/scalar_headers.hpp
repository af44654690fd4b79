// Small single-valued headers: CSeq, Max-Forwards, Content-Length, Expires (RFC 3261 §20).
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/method.hpp"
#include "sip/parse_error.hpp"

namespace sipline::sip {

struct CSeq {
  std::uint32_t number = 0;  // 32-bit, range-checked (RFC 3261 §8.1.1.5)
  Method method = Method::Extension;
  std::string_view method_text;  // as written
};

Parsed<CSeq> parse_cseq(std::string_view value);

// 0-255 (RFC 3261 §20.22 says 1*DIGIT; larger values are refused as RFC 4475 §3.1.2.4 asks).
Parsed<std::uint8_t> parse_max_forwards(std::string_view value);

// 1*DIGIT, bounded by kMaxMessageSize (a larger value can never be satisfied over UDP).
Parsed<std::uint32_t> parse_content_length(std::string_view value);

// delta-seconds, 32-bit (RFC 3261 §20.19; values above 2^32-1 refused).
Parsed<std::uint32_t> parse_expires(std::string_view value);

}  // namespace sipline::sip

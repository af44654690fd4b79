#include "sip/call_id_scan.hpp"

// Inline XXH3: a Call-ID is a few dozen octets, hashed once per received frame, where a call
// into the shared library costs about as much as the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>

#include "sip/text.hpp"

namespace sipline::sip {
namespace {

// Where the value of a Call-ID header line starts (just past its ':'), or nullptr when the
// line [line, line_end) is another header. The name is "Call-ID" or its compact form "i"
// (RFC 3261 §7.3.3), any case, then optional whitespace before the colon (HCOLON).
// Most lines are rejected on their first octet, so no line needs a search for its colon.
const char* call_id_value_start(const char* line, const char* line_end) {
  constexpr std::string_view kName = "call-id";
  const char* after_name = nullptr;
  const auto length = static_cast<std::size_t>(line_end - line);
  if (ascii_lower(*line) == 'i') {
    after_name = line + 1;
  } else if (length > kName.size() && iequals(std::string_view(line, kName.size()), kName)) {
    after_name = line + kName.size();
  } else {
    return nullptr;
  }
  while (after_name < line_end && is_lws_char(*after_name))
    ++after_name;
  return after_name < line_end && *after_name == ':' ? after_name + 1 : nullptr;
}

// The end of the line that starts at `line`: its LF, or `end` for an unterminated last line.
const char* line_end_of(const char* line, const char* end) {
  const void* lf = std::memchr(line, '\n', static_cast<std::size_t>(end - line));
  return lf == nullptr ? end : static_cast<const char*>(lf);
}

}  // namespace

std::string_view scan_call_id(std::string_view datagram) {
  const char* const end = datagram.data() + datagram.size();
  const char* line = datagram.data();
  // CRLFs before the start line are skipped as the parser skips them (RFC 3261 §7.5);
  // otherwise the empty line would end the "headers" here and the message would not go to
  // the worker that owns its call (found by tests/fuzz/fuzz_pipeline.cpp).
  while (line < end && (*line == '\r' || *line == '\n'))
    ++line;
  if (line == end) return {};
  // Skip the start line, then look at each header line's name only: one LF search per line.
  const char* line_end = line_end_of(line, end);
  while (line_end < end) {
    line = line_end + 1;
    if (line == end || *line == '\r' || *line == '\n') return {};  // end of headers
    line_end = line_end_of(line, end);
    if (*line == ' ' || *line == '\t') continue;  // a folded continuation line (§7.3.1)
    const char* value = call_id_value_start(line, line_end);
    if (value == nullptr) continue;
    // The value may go on over folded continuation lines (§7.3.1: "Call-ID:" CRLF SP value
    // is legal), which the parser unfolds; stop at the first line that is not one.
    const char* value_end = line_end;
    while (value_end + 1 < end && (value_end[1] == ' ' || value_end[1] == '\t'))
      value_end = line_end_of(value_end + 1, end);
    return trim_lws(std::string_view(value, static_cast<std::size_t>(value_end - value)));
  }
  return {};
}

std::uint64_t call_id_hash(std::string_view call_id) {
  return XXH3_64bits(call_id.data(), call_id.size());
}

}  // namespace sipline::sip

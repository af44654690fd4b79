#include "sip/call_id_scan.hpp"

// Inline XXH3: a Call-ID is a few dozen octets, hashed once per received frame, where a call
// into the shared library costs about as much as the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>
#include <optional>

#include "sip/octet_bits.hpp"

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

// The Call-ID value of the header line at `line`, or nullptr when the line is another header.
// Every other line fails on its first octet, or for the other names that start with 'c'
// (CSeq, Contact, Content-*) on its first seven, before its end is searched for.
std::optional<std::string_view> call_id_of_line(const char* line, const char* end) {
  constexpr std::string_view kName = "call-id";
  const char first = ascii_lower(*line);
  if (first == 'c') {
    if (static_cast<std::size_t>(end - line) <= kName.size() ||
        !iequals(std::string_view(line, kName.size()), kName)) {
      return std::nullopt;
    }
  } else if (first != 'i') {
    return std::nullopt;
  }
  const char* const line_end = line_end_of(line, end);
  const char* const value = call_id_value_start(line, line_end);
  if (value == nullptr) return std::nullopt;
  // The value may go on over folded continuation lines (§7.3.1: "Call-ID:" CRLF SP value
  // is legal), which the parser unfolds; stop at the first line that is not one.
  const char* value_end = line_end;
  while (value_end + 1 < end && (value_end[1] == ' ' || value_end[1] == '\t'))
    value_end = line_end_of(value_end + 1, end);
  return trim_lws(std::string_view(value, static_cast<std::size_t>(value_end - value)));
}

}  // namespace

// A header line starts after an LF. The LFs are found 64 at a time (line_feed_bits) and
// each line is judged by its first octet, in order: a usual line costs a bit operation and a
// compare, where a search per line cost a call and could not start before the previous
// line's end was known.
std::string_view scan_call_id(std::string_view datagram) {
  const char* const base = datagram.data();
  const char* const end = base + datagram.size();
  const char* line = base;
  // CRLFs before the start line are skipped as the parser skips them (RFC 3261 §7.5);
  // otherwise the empty line would end the "headers" here and the message would not go to
  // the worker that owns its call (found by tests/fuzz/fuzz_pipeline.cpp).
  while (line < end && (*line == '\r' || *line == '\n'))
    ++line;
  if (line == end) return {};
  const auto first_lf = static_cast<std::size_t>(line_end_of(line, end) - base);
  for (std::size_t block = first_lf; block < datagram.size(); block += kOctetBlock) {
    for (std::uint64_t lfs = line_feed_bits(datagram, block); lfs != 0; lfs &= lfs - 1) {
      const char* const start = base + block + __builtin_ctzll(lfs) + 1;
      if (start == end || *start == '\r' || *start == '\n') return {};  // end of headers
      if (*start == ' ' || *start == '\t') continue;  // a folded continuation line (§7.3.1)
      if (const std::optional<std::string_view> value = call_id_of_line(start, end)) return *value;
    }
  }
  return {};
}

std::uint64_t call_id_hash(std::string_view call_id) {
  return XXH3_64bits(call_id.data(), call_id.size());
}

}  // namespace sipline::sip

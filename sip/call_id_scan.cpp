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

// The end of the line that starts at `line`: its LF, or `end` for an unterminated last line.
const char* line_end_of(const char* line, const char* end) {
  const void* lf = std::memchr(line, '\n', static_cast<std::size_t>(end - line));
  return lf == nullptr ? end : static_cast<const char*>(lf);
}

// How long the header name at `line` is when it is "Call-ID" or its compact form "i"
// (RFC 3261 §7.3.3), any case; 0 for any other name. Most lines fail on their first octet,
// the other names that start with 'c' (CSeq, Contact, Content-*) on their first seven, so
// only a Call-ID line's end is ever searched for.
std::size_t call_id_name_length(const char* line, const char* end) {
  constexpr std::string_view kName = "call-id";
  const char first = ascii_lower(*line);
  if (first == 'i') return 1;
  if (first != 'c' || static_cast<std::size_t>(end - line) <= kName.size()) return 0;
  return iequals(std::string_view(line, kName.size()), kName) ? kName.size() : 0;
}

// The LFs after a line's start that the scan has already found: bit i stands for the octet
// at block + i. The lowest one ends the line; none means that its LF lies in a later block.
struct LaterLineFeeds {
  const char* block;
  std::uint64_t bits;

  const char* line_end(const char* line, const char* end) const {
    return bits != 0 ? block + __builtin_ctzll(bits) : line_end_of(line, end);
  }
};

// The Call-ID value of the header line at `line` (LWS-trimmed), or std::nullopt when the line
// is another header: the name, optional whitespace, then the colon (HCOLON).
std::optional<std::string_view> call_id_of_line(const char* line, LaterLineFeeds later,
                                                const char* end) {
  const std::size_t name_length = call_id_name_length(line, end);
  if (name_length == 0) return std::nullopt;
  const char* const line_end = later.line_end(line, end);
  const char* colon = line + name_length;
  while (colon < line_end && is_lws_char(*colon))
    ++colon;
  if (colon == line_end || *colon != ':') return std::nullopt;
  // The value may go on over folded continuation lines (§7.3.1: "Call-ID:" CRLF SP value
  // is legal), which the parser unfolds; stop at the first line that is not one.
  const char* value_end = line_end;
  while (value_end + 1 < end && (value_end[1] == ' ' || value_end[1] == '\t'))
    value_end = line_end_of(value_end + 1, end);
  return trim_lws(std::string_view(colon + 1, static_cast<std::size_t>(value_end - colon - 1)));
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
  // Every LF from the start line's own on starts a header line (or ends the headers).
  for (auto block = static_cast<std::size_t>(line - base); block < datagram.size();
       block += kOctetBlock) {
    for (std::uint64_t lfs = line_feed_bits(datagram, block); lfs != 0; lfs &= lfs - 1) {
      const char* const start = base + block + __builtin_ctzll(lfs) + 1;
      if (start == end || *start == '\r' || *start == '\n') return {};  // end of headers
      if (*start == ' ' || *start == '\t') continue;  // a folded continuation line (§7.3.1)
      const LaterLineFeeds later{base + block, lfs & (lfs - 1)};
      if (const std::optional<std::string_view> value = call_id_of_line(start, later, end)) {
        return *value;
      }
    }
  }
  return {};
}

std::uint64_t call_id_hash(std::string_view call_id) {
  return XXH3_64bits(call_id.data(), call_id.size());
}

}  // namespace sipline::sip

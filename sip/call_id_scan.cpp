#include "sip/call_id_scan.hpp"

#include <xxhash.h>

#include <cstring>

#include "sip/text.hpp"

namespace sipline::sip {
namespace {

bool is_call_id_name(std::string_view name) {
  return (name.size() == 1 && ascii_lower(name[0]) == 'i') || iequals(name, "Call-ID");
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
  // Skip the start line, then look at each header line's name only.
  while (line < end) {
    const char* lf =
        static_cast<const char*>(std::memchr(line, '\n', static_cast<std::size_t>(end - line)));
    if (lf == nullptr) return {};
    line = lf + 1;
    if (line >= end || *line == '\r' || *line == '\n') return {};  // end of headers
    if (*line == ' ' || *line == '\t') continue;  // a folded continuation line (§7.3.1)
    const char* colon =
        static_cast<const char*>(std::memchr(line, ':', static_cast<std::size_t>(end - line)));
    if (colon == nullptr) return {};
    const char* next_lf =
        static_cast<const char*>(std::memchr(line, '\n', static_cast<std::size_t>(end - line)));
    if (next_lf != nullptr && next_lf < colon) continue;  // a line without ':' (folding)
    const std::string_view name =
        trim_lws(std::string_view(line, static_cast<std::size_t>(colon - line)));
    if (!is_call_id_name(name)) continue;
    // The value may go on over folded continuation lines (§7.3.1: "Call-ID:" CRLF SP value
    // is legal), which the parser unfolds; stop at the first line that is not one.
    const char* value_end = next_lf == nullptr ? end : next_lf;
    while (value_end + 1 < end && (value_end[1] == ' ' || value_end[1] == '\t')) {
      const char* following = static_cast<const char*>(
          std::memchr(value_end + 1, '\n', static_cast<std::size_t>(end - value_end - 1)));
      value_end = following == nullptr ? end : following;
    }
    return trim_lws(std::string_view(colon + 1, static_cast<std::size_t>(value_end - colon - 1)));
  }
  return {};
}

std::uint64_t call_id_hash(std::string_view call_id) {
  return XXH3_64bits(call_id.data(), call_id.size());
}

}  // namespace sipline::sip

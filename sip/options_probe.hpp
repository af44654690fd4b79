// The OPTIONS request the proxy originates to probe a server (RFC 3261 §11.1: OPTIONS asks a
// UA or proxy about its capabilities; any final answer shows it is there). A request of our
// own, written as §8.1.1 requires of a UAC: Request-URI and To are the server's URI, From is
// the proxy with a tag, a Call-ID and CSeq of the probe, Max-Forwards 70, and our Via with a
// branch the answer brings back (signed_branch(), so the workers recognise the answer as ours
// and hand it to the control thread without any state).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "sip/rewrite.hpp"

namespace sipline::sip {

struct OptionsProbe {
  std::string_view target_uri;  // "sip:10.0.0.11:5060": Request-URI and To
  std::string_view sent_by;     // our listen address, "10.99.0.1:5060" (§18.2.1)
  std::string_view branch;      // signed_branch(...).view()
  std::string_view from_uri;    // "sip:sipline@sipline.local"
  std::string_view from_tag;
  std::string_view call_id;
  std::uint32_t cseq = 1;
};

// Writes the request into `out`; BufferTooSmall when it does not fit.
Written write_options_probe(const OptionsProbe& probe, std::span<char> out);

}  // namespace sipline::sip

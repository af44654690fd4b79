// RFC 7339 (SIP Overload Control), the loss-based algorithm (§6.2, §7), as a server sees it.
//
// A client that supports overload control adds `oc` (no value) to the Via it inserts, and
// may list the algorithms it supports in `oc-algo` (§5.1; "loss" is the default every
// implementation supports, so a missing oc-algo means "loss"). A server in overload answers
// by giving that Via element (the top Via of its response to the client) a value:
//
//   Via: SIP/2.0/UDP c1.example.net;branch=z9hG4bK2d4790.1;oc=20;oc-algo="loss";
//        oc-validity=500;oc-seq=1282321615.781
//
// oc: the percentage of new requests the client should not send us (loss algorithm, §7.3);
// oc-algo: the one algorithm chosen; oc-validity: milliseconds the value holds (0 ends
// overload control, §5.2); oc-seq: a timestamp that grows whenever the value changes, so a
// client can ignore reordered feedback (§5.2).
//
// No I/O here: the functions read a parsed Via and rewrite bytes in caller buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sip/message.hpp"
#include "sip/via.hpp"

namespace sipline::sip {

// What a request's Via element offered (§5.1).
struct OcOffer {
  bool supported = false;  // `oc` is present
  bool loss = false;       // ... and "loss" is among its algorithms (or oc-algo is absent)
};
OcOffer read_oc_offer(const Via& via);

// The server's feedback (§5.2).
struct OcFeedback {
  std::uint8_t reduction_percent = 0;  // 0..100
  std::uint32_t validity_ms = 0;       // 0: overload control has ended
  std::uint64_t seq_seconds = 0;       // oc-seq = seconds.millis
  std::uint16_t seq_millis = 0;        // 0..999
};

// `oc=20;oc-algo="loss";oc-validity=500;oc-seq=1282321615.781` (no leading ';').
// Returns the size, 0 when it does not fit.
std::size_t format_oc_parameters(const OcFeedback& feedback, std::span<char> out);

// The Via element `element` (whose parse is `via`: via.params must point into `element`)
// with every oc, oc-algo, oc-validity and oc-seq parameter replaced by `feedback`. Returns
// the size written, 0 when it does not fit.
std::size_t write_via_with_feedback(std::string_view element, const Via& via,
                                    const OcFeedback& feedback, std::span<char> out);

// Rewrites in place the Via element at [offset, offset + element.size()) of the first
// `size` octets of `out` (a message already written there) with `feedback`; what follows it
// moves. Returns the new message size, 0 when it would not fit `out` (the message is left
// unchanged then).
std::size_t splice_oc_feedback(std::span<char> out, std::size_t size, std::size_t offset,
                               std::string_view element, const Via& via,
                               const OcFeedback& feedback);

// A local response written by write_local_response(request, ...) into `out` (its first
// `size` octets): gives its top Via (the request's top Via, the client's) the feedback.
// Returns the new size, 0 when it would not fit or the response does not start as expected.
std::size_t add_oc_feedback_to_local_response(const Message& request, const OcFeedback& feedback,
                                              std::span<char> out, std::size_t size);

}  // namespace sipline::sip

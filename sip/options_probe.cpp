#include "sip/options_probe.hpp"

#include "sip/span_writer.hpp"

namespace sipline::sip {
Written write_options_probe(const OptionsProbe& probe, std::span<char> out) {
  SpanWriter text(out);
  text << "OPTIONS " << probe.target_uri << " SIP/2.0\r\n"
       << "Via: SIP/2.0/UDP " << probe.sent_by << ";branch=" << probe.branch << ";rport\r\n"
       << "Max-Forwards: 70\r\n"
       << "From: <" << probe.from_uri << ">;tag=" << probe.from_tag << "\r\n"
       << "To: <" << probe.target_uri << ">\r\n"
       << "Call-ID: " << probe.call_id << "\r\n"
       << "CSeq: " << probe.cseq << " OPTIONS\r\n"
       << "Accept: application/sdp\r\n"
       << "User-Agent: sipline\r\n"
       << "Content-Length: 0\r\n\r\n";
  return text.written();
}

}  // namespace sipline::sip

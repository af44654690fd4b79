#include "sip/options_probe.hpp"

#include <charconv>
#include <cstring>

namespace sipline::sip {
namespace {

class Appender {
 public:
  explicit Appender(std::span<char> out) : out_(out) {}

  Appender& operator<<(std::string_view text) {
    if (text.size() > out_.size() - size_) {
      overflow_ = true;
    } else {
      std::memcpy(out_.data() + size_, text.data(), text.size());
      size_ += text.size();
    }
    return *this;
  }
  Appender& operator<<(std::uint32_t value) {
    char digits[10];
    const std::to_chars_result result = std::to_chars(digits, digits + sizeof digits, value);
    return *this << std::string_view(digits, static_cast<std::size_t>(result.ptr - digits));
  }

  Written written() const {
    return overflow_ ? Written{0, WriteError::BufferTooSmall} : Written{size_, WriteError::None};
  }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace

Written write_options_probe(const OptionsProbe& probe, std::span<char> out) {
  Appender text(out);
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

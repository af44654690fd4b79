// Text appended into a caller's fixed buffer (workers never allocate): an append that does
// not fit marks the writer overflowed, and every later one fails too, so a writer checks
// once, at the end. Shared by the writers of whole lines (challenges, credentials, probes).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "sip/rewrite.hpp"

namespace sipline::sip {

class SpanWriter {
 public:
  explicit SpanWriter(std::span<char> out) : out_(out) {}

  SpanWriter& operator<<(std::string_view text) {
    if (overflow_ || text.size() > out_.size() - size_) {
      overflow_ = true;
      return *this;
    }
    if (!text.empty()) std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
    return *this;
  }
  SpanWriter& operator<<(std::uint32_t value) {  // in decimal
    char digits[10];
    const std::to_chars_result result = std::to_chars(digits, digits + sizeof digits, value);
    return *this << std::string_view(digits, static_cast<std::size_t>(result.ptr - digits));
  }

  // The octets written; nothing (BufferTooSmall) when any append did not fit.
  Written written() const {
    return overflow_ ? Written{0, WriteError::BufferTooSmall} : Written{size_, WriteError::None};
  }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace sipline::sip

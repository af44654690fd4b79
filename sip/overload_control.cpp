#include "sip/overload_control.hpp"

#include <array>
#include <cstring>

#include "sip/params.hpp"
#include "sip/text.hpp"

namespace sipline::sip {
namespace {

// The longest rewritten Via element we build on the stack; a longer one gets no feedback.
constexpr std::size_t kMaxElement = 1024;

bool is_oc_parameter(std::string_view name) {
  return iequals(name, "oc") || iequals(name, "oc-algo") || iequals(name, "oc-validity") ||
         iequals(name, "oc-seq");
}

class Appender {
 public:
  explicit Appender(std::span<char> out) : out_(out) {}
  void text(std::string_view text) {
    if (text.size() > out_.size() - size_) {
      overflow_ = true;
      size_ = out_.size();
      return;
    }
    if (!text.empty()) std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
  }
  void decimal(std::uint64_t value, std::size_t min_digits = 1) {
    char digits[20];
    std::size_t count = 0;
    do {
      digits[sizeof digits - 1 - count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0 || count < min_digits);
    text({digits + sizeof digits - count, count});
  }
  std::size_t result() const { return overflow_ ? 0 : size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace

OcOffer read_oc_offer(const Via& via) {
  OcOffer offer;
  if (via.params.empty()) return offer;
  offer.supported = find_param(via.params, "oc", ParamCursor::Style::Header).has_value();
  if (!offer.supported) return offer;
  const std::optional<Param> algorithms =
      find_param(via.params, "oc-algo", ParamCursor::Style::Header);
  if (!algorithms || !algorithms->has_value) {
    offer.loss = true;  // §5.1: "loss" is the default algorithm
    return offer;
  }
  std::string_view list = algorithms->value;
  if (list.size() >= 2 && list.front() == '"' && list.back() == '"') {
    list = list.substr(1, list.size() - 2);
  }
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = trim_lws(list.substr(0, comma));
    if (iequals(item, "loss")) offer.loss = true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return offer;
}

std::size_t format_oc_parameters(const OcFeedback& feedback, std::span<char> out) {
  Appender append(out);
  append.text("oc=");
  append.decimal(feedback.reduction_percent > 100 ? 100 : feedback.reduction_percent);
  append.text(";oc-algo=\"loss\";oc-validity=");
  append.decimal(feedback.validity_ms);
  append.text(";oc-seq=");
  append.decimal(feedback.seq_seconds);
  append.text(".");
  append.decimal(feedback.seq_millis % 1000, 3);
  return append.result();
}

std::size_t write_via_with_feedback(std::string_view element, const Via& via,
                                    const OcFeedback& feedback, std::span<char> out) {
  Appender append(out);
  const bool params_inside =
      !via.params.empty() && via.params.data() >= element.data() &&
      via.params.data() + via.params.size() <= element.data() + element.size();
  const std::size_t head =
      params_inside ? static_cast<std::size_t>(via.params.data() - element.data()) : element.size();
  append.text(trim_lws(element.substr(0, head)));
  if (params_inside) {
    ParamCursor cursor(via.params, ParamCursor::Style::Header);
    while (const std::optional<Param> param = cursor.next()) {
      if (is_oc_parameter(param->name)) continue;
      append.text(";");
      append.text(param->name);
      if (param->has_value) {
        append.text("=");
        append.text(param->value);
      }
    }
    if (cursor.error() != ParseError::None) return 0;
  }
  append.text(";");
  std::array<char, 96> parameters;
  const std::size_t size = format_oc_parameters(feedback, parameters);
  if (size == 0) return 0;
  append.text({parameters.data(), size});
  return append.result();
}

std::size_t splice_oc_feedback(std::span<char> out, std::size_t size, std::size_t offset,
                               std::string_view element, const Via& via,
                               const OcFeedback& feedback) {
  if (offset + element.size() > size || size > out.size()) return 0;
  std::array<char, kMaxElement> rewritten;
  const std::size_t new_size = write_via_with_feedback(element, via, feedback, rewritten);
  if (new_size == 0 || size - element.size() + new_size > out.size()) return 0;
  char* at = out.data() + offset;
  std::memmove(at + new_size, at + element.size(), size - offset - element.size());
  std::memcpy(at, rewritten.data(), new_size);
  return size - element.size() + new_size;
}

std::size_t add_oc_feedback_to_local_response(const Message& request, const OcFeedback& feedback,
                                              std::span<char> out, std::size_t size) {
  if (request.via_count == 0 || size > out.size()) return 0;
  const std::string_view written(out.data(), size);
  const std::size_t status_end = written.find("\r\n");
  if (status_end == std::string_view::npos) return 0;
  // write_local_response copies the Via lines first, as received (§8.2.6.2).
  const ViaRef& top = request.vias[0];
  const std::string_view line = request.fields[top.field].raw;
  const std::size_t offset =
      status_end + 2 + static_cast<std::size_t>(top.text.data() - line.data());
  if (written.substr(offset, top.text.size()) != top.text) return 0;
  return splice_oc_feedback(out, size, offset, top.text, request.top_via, feedback);
}

}  // namespace sipline::sip

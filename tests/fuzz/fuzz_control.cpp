// libFuzzer target for what the control plane reads from outside the SIP path:
// - an HTTP request head, as the metrics endpoint answers it (metrics_http_answer): any
//   octets must give one complete HTTP/1.1 answer: a status line, Connection: close, the
//   blank line;
// - a Redis change notice and a stored binding list (binding_codec.hpp), as the sync thread
//   and the start-up load decode them: whatever decodes must encode back to a value that
//   decodes to the same thing;
// - counter text turned into the Prometheus format (metrics_text.hpp): every line it writes
//   is "name{labels} value" or "name value".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/binding_codec.hpp"
#include "dataplane/binding_delta.hpp"
#include "dataplane/metrics_endpoint.hpp"
#include "dataplane/metrics_text.hpp"

namespace {

using namespace sipline::dataplane;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_http(std::string_view head) {
  const std::string answer = metrics_http_answer(head, [] { return std::string("m 1\n"); });
  require(answer.starts_with("HTTP/1.1 "));
  const std::size_t head_end = answer.find("\r\n\r\n");
  require(head_end != std::string::npos);
  require(answer.substr(0, head_end).find("\r\nConnection: close") != std::string::npos);
}

void check_codec(std::string_view bytes) {
  if (const auto bindings = decode_bindings(bytes, "aor")) {
    const auto again = decode_bindings(encode_bindings(*bindings), "aor");
    require(again.has_value() && *again == *bindings);
  }
  if (const auto binding = decode_stored_binding(bytes, "aor")) {
    require(decode_stored_binding(encode_stored_binding(*binding), "aor") == binding);
  }
  if (const auto notice = decode_change_notice(bytes)) {
    require(change_notice_origin(bytes) == (NoticeOrigin{notice->node, notice->retried}));
    const auto again = decode_change_notice(encode_change_notice(*notice));
    require(again.has_value() && again->node == notice->node && again->aor == notice->aor &&
            again->whole == notice->whole && again->delta == notice->delta &&
            again->retried == notice->retried);
    // A change applied to nothing leaves its upserts, each contact once.
    const std::vector<sipline::sip::Binding> applied = apply_delta({}, notice->delta);
    require(applied.size() <= notice->delta.upserts.size());
  }
}

void check_metrics_text(std::string_view text) {
  const std::string exposition = prometheus_exposition(text);
  std::size_t start = 0;
  while (start < exposition.size()) {
    const std::size_t end = exposition.find('\n', start);
    require(end != std::string::npos);  // every line ends
    const std::string_view line(exposition.data() + start, end - start);
    require(line.starts_with("sipline_"));
    const std::size_t space = line.rfind(' ');
    require(space != std::string_view::npos && space + 1 < line.size());
    for (char c : line.substr(space + 1))
      require(c >= '0' && c <= '9');
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_http(bytes);
  check_codec(bytes);
  check_metrics_text(bytes);
  return 0;
}

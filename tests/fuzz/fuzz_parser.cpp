// libFuzzer target for the SIP parser and the message writers.
//
// For every input: parse it as a UDP datagram; touch the lazy parsers on the headers the
// proxy reads on demand (Via elements, Contact, Route/Record-Route, Authorization); run the
// writer the proxy would run (forwarded request, forwarded response, local 400); re-parse
// what was written. Beyond ASan/UBSan findings, it aborts when an invariant breaks:
//   - every view the parser returns lies inside the input;
//   - the top Via that parsed eagerly parses again through parse_via();
//   - a message that parsed, once forwarded (or answered with 400), parses again, keeps its
//     Call-ID, and carries our Via on top (requests) or one Via fewer (responses);
//   - ParseScope::Proxy gives what the full scope gives, except for a response's From and
//     To: same verdict for a request, a response refused only where the full scope refused.
// Run it with tests/fuzz/run.sh.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/branch.hpp"
#include "sip/digest.hpp"
#include "sip/limits.hpp"
#include "sip/message.hpp"
#include "sip/name_addr.hpp"
#include "sip/proxy_rules.hpp"
#include "sip/rewrite.hpp"
#include "sip/token_list.hpp"
#include "sip/via.hpp"

namespace {

using namespace sipline::sip;

constexpr BranchKey kKey{0x0123'4567'89ab'cdefULL};
constexpr std::string_view kOurSentBy = "192.0.2.1:5060";
constexpr std::string_view kOurRecordRoute = "sip:192.0.2.1;lr";
constexpr std::string_view kAppendedRoute = "sip:displaced@192.0.2.9";

// Writers may add our Via, a Record-Route, Max-Forwards and a To tag: room for them.
constexpr std::size_t kOutputCapacity = kMaxMessageSize + 1024;

// Message is about 10 KiB: static, not on libFuzzer's stack.
Message& input_message() {
  static Message message;
  return message;
}
Message& output_message() {
  static Message message;
  return message;
}
std::span<char> output_buffer() {
  static std::array<char, kOutputCapacity> buffer;
  return buffer;
}

[[noreturn]] void fail_invariant(const char* what) {
  std::fprintf(stderr, "fuzz_parser invariant broken: %s\n", what);
  std::abort();
}

void check(bool condition, const char* what) {
  if (!condition) fail_invariant(what);
}

bool lies_within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;  // an empty view may point anywhere (often nullptr)
  // Integers, not pointers: comparing pointers into different objects is unspecified.
  const auto inner_begin = reinterpret_cast<std::uintptr_t>(inner.data());
  const auto outer_begin = reinterpret_cast<std::uintptr_t>(outer.data());
  return inner_begin >= outer_begin && inner_begin + inner.size() <= outer_begin + outer.size();
}

void check_views(const Message& message) {
  const std::string_view data = message.data;
  check(lies_within(message.message, data), "message view outside the input");
  check(lies_within(message.start_line, data), "start line outside the input");
  check(lies_within(message.headers, data), "headers view outside the input");
  check(message.field_count <= kMaxHeaders, "field_count above kMaxHeaders");
  for (std::size_t i = 0; i < message.field_count; ++i) {
    check(lies_within(message.fields[i].raw, data), "header line outside the input");
    check(lies_within(message.fields[i].value, message.fields[i].raw),
          "header value outside its line");
  }
  if (!message.ok()) return;
  check(lies_within(message.call_id, data), "Call-ID outside the input");
  check(lies_within(message.body, data), "body outside the input");
  check(message.body_offset <= data.size(), "body offset past the input");
  check(message.via_count >= 1 && message.via_count <= kMaxVias, "via_count out of range");
  for (std::size_t i = 0; i < message.via_count; ++i) {
    check(lies_within(message.vias[i].text, data), "Via element outside the input");
    check(message.vias[i].field < message.field_count, "Via element names no header line");
  }
  if (message.has_content_length) {
    check(message.body.size() == message.content_length, "body size is not Content-Length");
  }
}

// The parsers the proxy calls on demand. Their results only need to be safe to compute;
// the top Via is the exception: it already parsed eagerly, so it must parse again.
void exercise_lazy_parsers(const Message& message) {
  for (std::size_t i = 0; i < message.via_count; ++i) {
    const Parsed<Via> via = parse_via(message.vias[i].text);
    if (i == 0 && message.ok()) check(via.ok(), "top Via parsed eagerly but not by parse_via");
  }
  for (const HeaderField* field = message.find(HeaderId::Contact); field != nullptr;
       field = message.next(*field)) {
    ListCursor elements(field->value);
    while (const auto element = elements.next()) {
      (void)parse_contact(*element);
    }
  }
  for (HeaderId id : {HeaderId::Route, HeaderId::RecordRoute}) {
    for (const HeaderField* field = message.find(id); field != nullptr;
         field = message.next(*field)) {
      ListCursor elements(field->value);
      while (const auto element = elements.next()) {
        (void)parse_name_addr(*element);
      }
    }
  }
  for (HeaderId id : {HeaderId::Authorization, HeaderId::ProxyAuthorization}) {
    for (const HeaderField* field = message.find(id); field != nullptr;
         field = message.next(*field)) {
      (void)parse_digest(field->value);
    }
  }
}

// Output of a writer that must parse again when its input did: same Call-ID.
const Message& reparse_written(const Message& input, const Written& written, const char* writer) {
  Message& output = output_message();
  const std::string_view text(output_buffer().data(), written.size);
  parse_message_into(output, text);
  if (!output.ok()) {
    std::fprintf(stderr, "%s output does not parse: %.*s\n--- output ---\n%.*s\n", writer,
                 static_cast<int>(describe(output.error).size()), describe(output.error).data(),
                 static_cast<int>(text.size()), text.data());
    fail_invariant("written message does not parse");
  }
  check_views(output);
  if (output.call_id != input.call_id) fail_invariant("Call-ID changed by a writer");
  return output;
}

// Room left for what the writers add, so that a failed re-parse is a real finding and not
// the input sitting at a limit.
bool has_headroom(const Message& input, std::size_t written_size) {
  return written_size <= kMaxMessageSize && input.field_count + 4u <= kMaxHeaders &&
         input.via_count + 1u <= kMaxVias;
}

// The Route values of `message` in order across its Route lines, when every line splits
// cleanly into a list (std::nullopt otherwise: the writer keeps an unsplittable rest as it
// came, and the count is no longer exact).
std::optional<std::vector<std::string_view>> route_values(const Message& message) {
  std::vector<std::string_view> values;
  for (const HeaderField* field = message.find(HeaderId::Route); field != nullptr;
       field = message.next(*field)) {
    ListCursor cursor(field->value);
    while (const std::optional<std::string_view> value = cursor.next())
      values.push_back(*value);
    if (cursor.error() != ParseError::None) return std::nullopt;
  }
  return values;
}

// §16.4 / §16.6 step 7 edits: values leave from the top and the end, the appended one is last,
// and the values in between are the received ones.
void check_route_edits(const Message& request, const Message& forwarded,
                       const RequestEdits& edits) {
  const std::optional<std::vector<std::string_view>> before = route_values(request);
  if (!before) return;
  const std::optional<std::vector<std::string_view>> after = route_values(forwarded);
  check(after.has_value(), "forwarded request: Route lines no longer split");
  const std::size_t top = std::min<std::size_t>(edits.pop_top_routes, before->size());
  const std::size_t last = edits.pop_last_route && before->size() > top ? 1 : 0;
  std::vector<std::string_view> expected(before->begin() + static_cast<std::ptrdiff_t>(top),
                                         before->end() - static_cast<std::ptrdiff_t>(last));
  const std::string appended = "<" + std::string(kAppendedRoute) + ">";
  if (!edits.append_route_uri.empty()) expected.push_back(appended);
  check(*after == expected, "forwarded request: Route values");
}

void forward_request(const Message& request, std::uint8_t options) {
  const Branch branch = stateless_branch(request, kKey);
  RequestEdits edits;
  edits.via.sent_by = kOurSentBy;
  edits.via.branch = branch.view();
  edits.via.rport = (options & 1) != 0;
  edits.pop_top_routes = static_cast<std::uint8_t>(((options & 2) != 0) + ((options & 16) != 0));
  edits.pop_last_route = (options & 32) != 0;
  if ((options & 64) != 0) edits.append_route_uri = kAppendedRoute;
  if ((options & 4) != 0) edits.record_route_uri = kOurRecordRoute;
  if ((options & 8) != 0) {
    // What the pipeline does for a request from 192.0.2.77:40000 (RFC 3581 §4).
    const SenderViaStamp stamp = sender_via_stamp(request, "192.0.2.77", 40000);
    edits.received = stamp.received;
    edits.rport = stamp.rport;
  }

  const Written written = write_forwarded_request(request, edits, output_buffer());
  if (!written.ok()) return;
  check(written.size <= output_buffer().size(), "writer claims more than the buffer");
  // Max-Forwards 0 is answered with 483 before forwarding (RFC 3261 §16.3 step 3).
  const bool forwardable = !(request.has_max_forwards && request.max_forwards == 0);
  if (!forwardable || !has_headroom(request, written.size)) return;

  const Message& forwarded = reparse_written(request, written, "write_forwarded_request");
  check(forwarded.is_request(), "forwarded request became a response");
  check(forwarded.via_count == request.via_count + 1, "forwarded request: Via count");
  check(forwarded.top_via.branch == branch.view(), "forwarded request: top branch is not ours");
  check(branch_is_ours(forwarded.top_via.branch, kKey), "our branch fails its signature");
  check(forwarded.has_max_forwards, "forwarded request has no Max-Forwards");
  const unsigned expected_max_forwards =
      request.has_max_forwards ? request.max_forwards - 1u : kDefaultMaxForwards;
  check(forwarded.max_forwards == expected_max_forwards, "Max-Forwards not decremented");
  check(forwarded.body == request.body, "forwarded request: body changed");
  check_route_edits(request, forwarded, edits);
  if (!edits.received.empty() || edits.rport != 0) {
    const Parsed<Via> sender = parse_via(forwarded.vias[1].text);
    check(sender.ok(), "stamped sender Via does not parse");
    if (!edits.received.empty()) {
      check(sender.value.received == edits.received, "stamped sender Via: received");
    }
    if (edits.rport != 0) check(sender.value.rport == edits.rport, "stamped sender Via: rport");
  }
}

void answer_bad_request(const Message& request) {
  LocalResponse response;
  response.code = 400;
  response.to_tag = "fuzz-tag";
  const Written written = write_local_response(request, response, output_buffer());
  if (!written.ok() || !request.ok() || !has_headroom(request, written.size)) return;

  const Message& answer = reparse_written(request, written, "write_local_response");
  check(answer.is_response() && answer.status_code == 400, "local response: status");
  check(answer.via_count == request.via_count, "local response: Via count");
  check(answer.to.has_tag, "local response: To has no tag");
}

// `drop_identity`: the field-by-field path that leaves out P-Asserted/P-Preferred-Identity.
void forward_response(const Message& response, bool drop_identity) {
  ResponseEdits edits;
  edits.drop_identity = drop_identity;
  const Written written = write_forwarded_response(response, edits, output_buffer());
  if (!written.ok()) return;
  check(written.size <= output_buffer().size(), "writer claims more than the buffer");
  // With a single Via the response was for us: nothing is left to forward it on. Only the
  // top Via is parsed eagerly, so the second one (top after the pop) may be malformed in a
  // response that parsed; then the re-parse rightly fails.
  if (!response.ok() || response.via_count < 2 || written.size > kMaxMessageSize) return;
  if (!parse_via(response.vias[1].text).ok()) return;

  const Message& forwarded = reparse_written(response, written, "write_forwarded_response");
  check(forwarded.is_response(), "forwarded response became a request");
  check(forwarded.status_code == response.status_code, "forwarded response: status");
  check(forwarded.via_count + 1 == response.via_count, "forwarded response: Via count");
  check(forwarded.vias[0].text == response.vias[1].text, "forwarded response: wrong Via popped");
  check(forwarded.body == response.body, "forwarded response: body changed");
  check(forwarded.call_id == response.call_id, "forwarded response: Call-ID changed");
  if (drop_identity) {
    check(forwarded.find(HeaderId::PAssertedIdentity) == nullptr &&
              forwarded.find(HeaderId::PPreferredIdentity) == nullptr,
          "forwarded response: identity kept");
  }
}

// The proxy's scope against the full one, on the same input.
void compare_proxy_scope(const Message& full, std::string_view input) {
  Message& proxy = output_message();
  parse_message_into(proxy, input, ParseScope::Proxy);
  check(proxy.kind == full.kind && proxy.call_id == full.call_id &&
            proxy.via_count == full.via_count && proxy.body == full.body,
        "proxy scope: a field other than From/To differs");
  if (full.is_request()) {
    check(proxy.error == full.error && proxy.addresses_parsed == full.addresses_parsed,
          "proxy scope: request differs");
  } else {
    check(!full.ok() || proxy.ok(), "proxy scope: a response the full scope took refused");
    check(!proxy.addresses_parsed, "proxy scope: a response's From/To parsed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxMessageSize) size = kMaxMessageSize;  // one UDP datagram at most
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The writers' options come from the input so that the fuzzer explores them too; the
  // last octet rarely matters to the parser (usually part of the body or the final CRLF).
  const std::uint8_t options = size == 0 ? 0 : data[size - 1];

  Message& message = input_message();
  parse_message_into(message, input);
  check_views(message);
  compare_proxy_scope(message, input);
  exercise_lazy_parsers(message);

  if (message.is_request()) {
    if (message.ok()) forward_request(message, options);
    answer_bad_request(message);
  } else if (message.ok()) {
    forward_response(message, false);
    forward_response(message, true);
  }
  return 0;
}

// Writing forwarded and locally generated messages (RFC 3261 §16.6, §16.7, §8.2.6).
//
// Everything is written with memcpy into the caller's span; a write that would pass its end
// stops the writer, and the function reports BufferTooSmall (the bytes already written are
// then meaningless). Received header lines are copied as runs: consecutive lines are
// contiguous in the received buffer, so an unedited stretch of headers is one memcpy.
//
// The forwarding writers need a message that parsed (ok()): their views (body, header lines)
// are only consistent then, and a message that did not parse is never forwarded (§16.3).
// They answer NotARequest / NotAResponse for one that did not. write_local_response works
// from the raw lines alone, so it can answer 400 to a request that failed to parse.
#include "sip/rewrite.hpp"

#include <cstring>

#include "sip/digest.hpp"
#include "sip/limits.hpp"
#include "sip/name_addr.hpp"
#include "sip/params.hpp"
#include "sip/status_codes.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kColonSpace = ": ";

// Appends into a fixed span; after the first write that does not fit, nothing more is
// written and result() reports BufferTooSmall.
class Writer {
 public:
  explicit Writer(std::span<char> out) : out_(out) {}

  void append(std::string_view text) {
    if (text.size() > out_.size() - size_) {
      overflow_ = true;
      size_ = out_.size();  // makes every later append fail too
      return;
    }
    if (!text.empty()) std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
  }

  void append_decimal(std::uint32_t value) {
    char digits[10];
    std::size_t count = 0;
    do {
      digits[sizeof digits - 1 - count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    append({digits + sizeof digits - count, count});
  }

  Written result() const {
    if (overflow_) return Written{0, WriteError::BufferTooSmall};
    return Written{size_, WriteError::None};
  }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// Accumulates adjacent received bytes and writes them as one block when something that is
// not adjacent (an edit, a skipped line, a line elsewhere in the buffer) comes next.
class RunCopier {
 public:
  explicit RunCopier(Writer& writer) : writer_(writer) {}

  void add(std::string_view bytes) {
    if (run_begin_ != nullptr && bytes.data() == run_end_) {
      run_end_ += bytes.size();
      return;
    }
    flush();
    run_begin_ = bytes.data();
    run_end_ = bytes.data() + bytes.size();
  }

  void flush() {
    if (run_begin_ != nullptr)
      writer_.append({run_begin_, static_cast<std::size_t>(run_end_ - run_begin_)});
    run_begin_ = nullptr;
    run_end_ = nullptr;
  }

 private:
  Writer& writer_;
  const char* run_begin_ = nullptr;
  const char* run_end_ = nullptr;
};

const char* end_of(std::string_view text) {
  return text.data() + text.size();
}

// The elements of a list-valued line after its first one, as written (separators and LWS
// between them kept); empty when the line holds a single element. Only the first element
// is delimited by the cursor: whatever follows its comma is kept as received, even a
// malformed rest (",,"), which is the next hop's to judge.
std::string_view elements_after_first(std::string_view value) {
  ListCursor cursor(value);
  const std::optional<std::string_view> first = cursor.next();
  if (!first) return {};
  std::string_view rest = value.substr(static_cast<std::size_t>(end_of(*first) - value.data()));
  while (!rest.empty() && (is_lws_char(rest.front()) || rest.front() == ',')) {
    rest.remove_prefix(1);
  }
  return rest;
}

// A Route line's value with its last element removed: up to the end of the element before
// it (whatever followed the last element on the line, an unsplittable rest, goes with it);
// empty when `value` holds one element.
std::string_view without_last_element(std::string_view value) {
  ListCursor cursor(value);
  const char* before_last = value.data();
  const char* last = value.data();
  while (const std::optional<std::string_view> element = cursor.next()) {
    before_last = last;
    last = end_of(*element);
  }
  return {value.data(), static_cast<std::size_t>(before_last - value.data())};
}

// Whether a ListCursor yields at least one element from `value`: a Route line holding a value
// as proxy_rules.cpp counts them (RouteCursor).
bool has_element(std::string_view value) {
  ListCursor cursor(value);
  return cursor.next().has_value();
}

// The Route edits of RequestEdits, line by line. Values leave from the top (pop_top_routes)
// and the end (pop_last_route), so what a line keeps is one stretch of it, written as
// received; a line that keeps nothing is not written.
class RouteEditor {
 public:
  RouteEditor(const Message& request, const RequestEdits& edits)
      : request_(request), edits_(edits), to_pop_(edits.pop_top_routes) {
    if (!edits.pop_last_route) return;
    for (const HeaderField* field = request.find(HeaderId::Route); field != nullptr;
         field = request.next(*field)) {
      if (has_element(field->value)) last_value_line_ = field;
    }
  }

  bool active() const {
    return edits_.pop_top_routes != 0 || edits_.pop_last_route || edits_.drop_routes ||
           !edits_.append_route_uri.empty();
  }

  // The value `field` keeps, and whether it changed.
  struct Kept {
    std::string_view value;
    bool changed = false;
  };
  Kept edit(const HeaderField& field) {
    if (edits_.drop_routes) return Kept{{}, true};
    Kept kept{field.value, false};
    for (; to_pop_ > 0 && !kept.value.empty(); --to_pop_) {
      kept.value = elements_after_first(kept.value);
      kept.changed = true;
    }
    if (&field == last_value_line_ && !kept.value.empty()) {
      kept.value = without_last_element(kept.value);
      kept.changed = true;
    }
    return kept;
  }

  void write_appended(Writer& writer) const {
    if (edits_.append_route_uri.empty()) return;
    writer.append("Route: <");
    writer.append(edits_.append_route_uri);
    writer.append(">\r\n");
  }

  bool after_last_route_line(std::size_t index) const {
    return index == request_.last_field[static_cast<std::size_t>(HeaderId::Route)];
  }
  bool has_route_lines() const { return request_.find(HeaderId::Route) != nullptr; }

 private:
  const Message& request_;
  const RequestEdits& edits_;
  std::size_t to_pop_;
  // pop_last_route: the last Route line that holds a value (the last value is its last one).
  const HeaderField* last_value_line_ = nullptr;
};

// "<name>: <value>" CRLF, the name as written (compact forms stay compact).
void write_header(Writer& writer, std::string_view name, std::string_view value) {
  writer.append(name);
  writer.append(kColonSpace);
  writer.append(value);
  writer.append(kCrlf);
}

// One Route line under the Route edits; the appended value follows the last Route line.
void write_edited_route(Writer& writer, RunCopier& copier, RouteEditor& routes,
                        const HeaderField& field, std::size_t index) {
  const RouteEditor::Kept kept = routes.edit(field);
  if (!kept.changed) {
    copier.add(field.raw);
  } else {
    copier.flush();
    if (!kept.value.empty()) write_header(writer, field.name, kept.value);
  }
  if (routes.after_last_route_line(index)) {
    copier.flush();
    routes.write_appended(writer);
  }
}

void write_request_line(Writer& writer, const Message& request, std::string_view request_uri) {
  // Rebuilt from its tokens, so extra or trailing SP of a liberal parse is never forwarded
  // (RFC 4475 §3.1.2.9, §3.1.2.10).
  writer.append(request.method_text);
  writer.append(" ");
  writer.append(request_uri.empty() ? request.request_uri_text : request_uri);
  writer.append(" ");
  writer.append(request.version);
  writer.append(kCrlf);
}

void write_record_route(Writer& writer, std::string_view uri) {
  // §16.6 step 4; ";lr" because we are a loose router (§16.4, §19.1.1).
  writer.append("Record-Route: <");
  writer.append(uri);
  writer.append(";lr>\r\n");
}

void write_our_via(Writer& writer, const OurVia& via) {
  writer.append("Via: SIP/2.0/");
  writer.append(via.transport);
  writer.append(" ");
  writer.append(via.sent_by);
  writer.append(";branch=");
  writer.append(via.branch);
  if (via.rport) writer.append(";rport");
  writer.append(kCrlf);
}

void write_decremented_max_forwards(Writer& writer, const Message& request,
                                    const HeaderField& field) {
  // §16.6 step 3. The caller answered 483 to 0 already (§16.3 step 3); never wrap below 0.
  writer.append(field.name);
  writer.append(kColonSpace);
  writer.append_decimal(request.max_forwards > 0 ? request.max_forwards - 1u : 0u);
  writer.append(kCrlf);
}

// Bytes after the last header line: the empty line (CRLF, or a tolerated bare LF) and the
// body, up to the end of `message` (octets past Content-Length are never forwarded, RFC 3261
// §18.3). A message that parsed has at least its Via line, so fields[field_count - 1] exists.
std::string_view empty_line_and_body(const Message& message) {
  const char* tail = end_of(message.fields[message.field_count - 1].raw);
  return {tail, static_cast<std::size_t>(end_of(message.message) - tail)};
}

// A To line already carries a tag. When the message parsed, the parsed To says so; when it
// did not (400 to a broken request), look for a ";tag=" parameter in the raw value. That
// scan can be fooled by a quoted display name or URI parameter holding ";tag=", in which
// case no tag is added: a response without To tag is the safer mistake than one with two.
bool to_line_has_tag(const Message& request, const HeaderField& to_line) {
  if (request.to.has_tag) return true;
  if (request.ok()) return false;
  const std::string_view value = to_line.value;
  for (std::size_t semi = value.find(';'); semi != std::string_view::npos;
       semi = value.find(';', semi + 1)) {
    std::string_view rest = ltrim_lws(value.substr(semi + 1));
    if (!istarts_with(rest, "tag")) continue;
    rest = ltrim_lws(rest.substr(3));
    if (!rest.empty() && rest.front() == '=') return true;
  }
  return false;
}

// §8.2.6.2: the tag goes right after the To value (before any trailing LWS and the line's
// CRLF); a folded To line stays folded.
void write_to_with_tag(Writer& writer, const HeaderField& to_line, std::string_view to_tag) {
  const std::string_view raw = to_line.raw;
  const std::string_view value = to_line.value;
  std::size_t split = raw.size();
  if (!value.empty() && value.data() >= raw.data() && end_of(value) <= end_of(raw)) {
    split = static_cast<std::size_t>(end_of(value) - raw.data());
  } else if (raw.ends_with(kCrlf)) {
    split = raw.size() - kCrlf.size();
  }
  writer.append(raw.substr(0, split));
  writer.append(";tag=");
  writer.append(to_tag);
  writer.append(raw.substr(split));
}

// RFC 3325's identity lines, left out when the sender or the next hop is outside the trust
// domain.
bool is_identity_line(const HeaderField& field) {
  return field.id == HeaderId::PAssertedIdentity || field.id == HeaderId::PPreferredIdentity;
}

// The Contact line with ";alias=..." after its first URI, in brackets when it had none (else
// the parameter would be the header's, RFC 3261 §20.10).
void write_aliased_contact(Writer& writer, const HeaderField& line, const ContactAliasEdit& edit) {
  const std::string_view uri = edit.contact.text;
  const char* const raw_end = end_of(line.raw);
  if (uri.data() < line.raw.data() || end_of(uri) > raw_end) {
    writer.append(line.raw);
    return;
  }
  writer.append({line.raw.data(), static_cast<std::size_t>(uri.data() - line.raw.data())});
  if (!edit.contact.bracketed) writer.append("<");
  writer.append(uri);
  writer.append(";alias=");
  writer.append(edit.alias);
  if (!edit.contact.bracketed) writer.append(">");
  writer.append({end_of(uri), static_cast<std::size_t>(raw_end - end_of(uri))});
}

void copy_all_lines(RunCopier& copier, const Message& message, HeaderId id) {
  for (const HeaderField* field = message.find(id); field != nullptr;
       field = message.next(*field)) {
    copier.add(field->raw);
  }
}

void copy_first_line(RunCopier& copier, const Message& message, HeaderId id) {
  if (const HeaderField* field = message.find(id)) copier.add(field->raw);
}

}  // namespace

// The line holding the sender's Via, with its first element stamped (§18.2.1, RFC 3581 §4):
// "=<rport>" after a valueless rport, ";received=<ip>" after the element. Everything else on
// the line, other Via elements included, is copied as received.
void write_stamped_sender_via(Writer& writer, const Message& request, const HeaderField& line,
                              const RequestEdits& edits) {
  const std::string_view element = request.vias[0].text;
  const char* cursor = line.raw.data();
  if (edits.rport != 0) {
    ParamCursor params(request.top_via.params, ParamCursor::Style::Header);
    while (const std::optional<Param> param = params.next()) {
      if (param->has_value || !iequals(param->name, "rport")) continue;
      const char* name_end = end_of(param->name);
      writer.append({cursor, static_cast<std::size_t>(name_end - cursor)});
      writer.append("=");
      writer.append_decimal(edits.rport);
      cursor = name_end;
      break;
    }
  }
  writer.append({cursor, static_cast<std::size_t>(end_of(element) - cursor)});
  if (!edits.received.empty()) {
    writer.append(";received=");
    writer.append(edits.received);
  }
  writer.append({end_of(element), static_cast<std::size_t>(end_of(line.raw) - end_of(element))});
}

namespace {

// Where RequestEdits::leading_headers go: after the received Via lines (kept together, as
// every implementation writes them), and before the first received row of the same kind
// (Diversion, RFC 5806 §4: the newest first).
std::size_t leading_headers_position(const Message& request) {
  const std::uint8_t last_via = request.last_field[static_cast<std::size_t>(HeaderId::Via)];
  std::size_t position = last_via == kNoField ? 0 : last_via + std::size_t{1};
  for (std::size_t index = 0; index < position; ++index) {
    if (iequals(request.fields[index].name, "Diversion")) return index;
  }
  return position;
}

}  // namespace

Written write_forwarded_request(const Message& request, const RequestEdits& edits,
                                std::span<char> out) {
  if (!request.is_request() || !request.ok()) return Written{0, WriteError::NotARequest};
  Writer writer(out);
  write_request_line(writer, request, edits.request_uri);
  if (!edits.record_route_uri.empty()) write_record_route(writer, edits.record_route_uri);
  write_our_via(writer, edits.via);
  if (request.find(HeaderId::MaxForwards) == nullptr) {
    writer.append("Max-Forwards: ");
    writer.append_decimal(kDefaultMaxForwards);
    writer.append(kCrlf);
  }

  RouteEditor routes(request, edits);
  const bool edit_routes = routes.active();
  const bool stamp_sender = !edits.received.empty() || edits.rport != 0;
  RunCopier copier(writer);
  const auto copy_field = [&](std::size_t index) {
    const HeaderField& field = request.fields[index];
    if (stamp_sender && index == request.vias[0].field) {
      copier.flush();
      write_stamped_sender_via(writer, request, field, edits);
    } else if (field.id == HeaderId::MaxForwards) {
      copier.flush();
      write_decremented_max_forwards(writer, request, field);
    } else if (edit_routes && field.id == HeaderId::Route) {
      write_edited_route(writer, copier, routes, field, index);
    } else if (field.id == HeaderId::ProxyAuthorization &&
               digest_credentials_for_realm(field.value, edits.consumed_realm)) {
      return;  // ours: the next hop does not get them
    } else if ((edits.drop_identity || !edits.asserted_identity.empty()) &&
               is_identity_line(field)) {
      return;
    } else if (&field == edits.contact_alias.contact.line) {
      copier.flush();
      write_aliased_contact(writer, field, edits.contact_alias);
    } else {
      copier.add(field.raw);
    }
  };
  // Two runs around the leading lines, so that a request without them (nearly all) pays no
  // test per header line.
  const std::size_t leading_at =
      edits.leading_headers.empty() ? request.field_count : leading_headers_position(request);
  for (std::size_t index = 0; index < leading_at; ++index)
    copy_field(index);
  if (!edits.leading_headers.empty()) {
    copier.flush();
    writer.append(edits.leading_headers);
  }
  for (std::size_t index = leading_at; index < request.field_count; ++index)
    copy_field(index);
  if (edit_routes && !routes.has_route_lines()) {
    copier.flush();
    routes.write_appended(writer);
  }
  if (!edits.asserted_identity.empty() || !edits.extra_headers.empty()) {
    copier.flush();
    writer.append(edits.asserted_identity);
    writer.append(edits.extra_headers);
  }
  if (edits.session_expires != 0) {
    copier.flush();
    writer.append("Session-Expires: ");
    writer.append_decimal(edits.session_expires);
    writer.append(kCrlf);
  }
  copier.add(empty_line_and_body(request));
  copier.flush();
  return writer.result();
}

namespace {

// §16.7 step 3 removes the element, not the line: "Via: a, b" becomes "Via: b"; nothing is
// written when the line held only the top element.
void write_popped_via_line(Writer& writer, const Message& response) {
  const std::uint8_t top_line = response.vias[0].field;
  if (response.via_count < 2 || response.vias[1].field != top_line) return;
  const HeaderField& via_line = response.fields[top_line];
  const std::string_view value = via_line.value;
  const char* rest = response.vias[1].text.data();
  write_header(writer, via_line.name, value.substr(static_cast<std::size_t>(rest - value.data())));
}

// The status line of `code` (and its reason phrase) when not 0; returns where the received
// text is copied from: after its own status line, or its start when that is kept.
const char* write_status_line(Writer& writer, const Message& response, std::uint16_t code) {
  if (code == 0) return response.message.data();
  writer.append("SIP/2.0 ");
  writer.append_decimal(code);
  writer.append(" ");
  writer.append(reason_phrase(code));
  writer.append(kCrlf);
  const char* after = end_of(response.start_line);
  const char* const end = end_of(response.message);
  if (after < end && *after == '\r') ++after;
  if (after < end && *after == '\n') ++after;
  return after;
}

// The response field by field: identity lines left out when asked, the Contact aliased when
// asked.
void write_edited_response(Writer& writer, const Message& response, const ResponseEdits& edits) {
  const char* begin = write_status_line(writer, response, edits.status_code);
  RunCopier copier(writer);
  copier.add({begin, static_cast<std::size_t>(response.fields[0].raw.data() - begin)});
  for (std::size_t index = 0; index < response.field_count; ++index) {
    const HeaderField& field = response.fields[index];
    if (index == response.vias[0].field) {
      copier.flush();
      write_popped_via_line(writer, response);
    } else if (edits.drop_identity && is_identity_line(field)) {
      continue;
    } else if (&field == edits.contact_alias.contact.line) {
      copier.flush();
      write_aliased_contact(writer, field, edits.contact_alias);
    } else {
      copier.add(field.raw);
    }
  }
  if (edits.session_expires_uac != 0) {
    copier.flush();
    writer.append("Session-Expires: ");
    writer.append_decimal(edits.session_expires_uac);
    writer.append(";refresher=uac\r\nRequire: timer\r\n");
  }
  copier.add(empty_line_and_body(response));
  copier.flush();
}

}  // namespace

Written write_forwarded_response(const Message& response, const ResponseEdits& edits,
                                 std::span<char> out) {
  if (!response.is_response() || !response.ok()) return Written{0, WriteError::NotAResponse};
  if (response.via_count == 0) return Written{0, WriteError::NoViaToPop};
  Writer writer(out);
  if (edits.drop_identity || edits.contact_alias.contact.line != nullptr ||
      edits.session_expires_uac != 0) {
    write_edited_response(writer, response, edits);
    return writer.result();
  }
  // The common case in three copies: what precedes the top Via line, the line without its
  // top element, what follows.
  const HeaderField& via_line = response.fields[response.vias[0].field];
  const char* begin = write_status_line(writer, response, edits.status_code);
  writer.append({begin, static_cast<std::size_t>(via_line.raw.data() - begin)});
  write_popped_via_line(writer, response);
  const char* after = end_of(via_line.raw);
  writer.append({after, static_cast<std::size_t>(end_of(response.message) - after)});
  return writer.result();
}

Written write_local_response(const Message& request, const LocalResponse& response,
                             std::span<char> out) {
  if (!request.is_request()) return Written{0, WriteError::NotARequest};
  Writer writer(out);
  writer.append("SIP/2.0 ");
  writer.append_decimal(response.code);
  writer.append(" ");
  writer.append(response.reason.empty() ? reason_phrase(response.code) : response.reason);
  writer.append(kCrlf);

  // §8.2.6.2: Via (all, in order), From, To, Call-ID and CSeq as received; the top Via with
  // the transport's received/rport stamp (§18.2.1, RFC 3581 §4).
  RunCopier copier(writer);
  const bool stamp_sender =
      (!response.received.empty() || response.rport != 0) && request.via_count > 0;
  if (stamp_sender) {
    RequestEdits stamp;
    stamp.received = response.received;
    stamp.rport = response.rport;
    for (const HeaderField* field = request.find(HeaderId::Via); field != nullptr;
         field = request.next(*field)) {
      if (field == &request.fields[request.vias[0].field]) {
        copier.flush();
        write_stamped_sender_via(writer, request, *field, stamp);
      } else {
        copier.add(field->raw);
      }
    }
  } else {
    copy_all_lines(copier, request, HeaderId::Via);
  }
  copy_first_line(copier, request, HeaderId::From);
  if (const HeaderField* to_line = request.find(HeaderId::To)) {
    if (!response.to_tag.empty() && !to_line_has_tag(request, *to_line)) {
      copier.flush();
      write_to_with_tag(writer, *to_line, response.to_tag);
    } else {
      copier.add(to_line->raw);
    }
  }
  copy_first_line(copier, request, HeaderId::CallId);
  copy_first_line(copier, request, HeaderId::CSeq);
  copier.flush();

  writer.append(response.extra_headers);
  writer.append("Content-Length: ");
  writer.append_decimal(static_cast<std::uint32_t>(response.body.size()));
  writer.append(kCrlf);
  writer.append(kCrlf);
  writer.append(response.body);
  return writer.result();
}

namespace {

// The To value without its ";tag=..." parameter (LWS around ';' and '=' included): the To
// of the request the response answers (§8.2.6.2: the UAS adds the tag, nothing else).
struct ToValue {
  std::string_view before;
  std::string_view after;  // what followed the tag parameter
};
ToValue without_tag(std::string_view to_value) {
  // Parsed here: a proxy's parse of a response leaves its To indexed only (ParseScope::Proxy).
  const Parsed<NameAddr> parsed = parse_name_addr(to_value, UriDepth::Deferred);
  if (!parsed.ok()) return ToValue{to_value, {}};
  const NameAddr& to = parsed.value;
  if (!to.has_tag || to.tag.empty()) return ToValue{to_value, {}};
  const std::size_t tag_at = static_cast<std::size_t>(to.tag.data() - to_value.data());
  if (tag_at > to_value.size()) return ToValue{to_value, {}};
  const std::size_t semicolon = to_value.rfind(';', tag_at);
  if (semicolon == std::string_view::npos) return ToValue{to_value, {}};
  return ToValue{to_value.substr(0, semicolon), to_value.substr(tag_at + to.tag.size())};
}

// A request of our client transaction for the INVITE that `response` answers (its ACK or
// CANCEL, hop by hop): the INVITE's Request-URI, the response's top Via (ours) alone, From,
// Call-ID and the CSeq number as the response has them, Max-Forwards 70, no body.
// `accepted` says which status codes it may be written from.
template <class Accepted>
Written write_hop_request(const Message& response, std::string_view method,
                          std::string_view request_uri, bool untag_to, Accepted accepted,
                          std::span<char> out) {
  if (!response.ok() || !response.is_response() || !accepted(response.status_code) ||
      response.via_count == 0 || request_uri.empty()) {
    return Written{0, WriteError::NotAResponse};
  }
  const HeaderField* from = response.find(HeaderId::From);
  const HeaderField* to = response.find(HeaderId::To);
  if (from == nullptr || to == nullptr) return Written{0, WriteError::NotAResponse};
  const ToValue to_value = untag_to ? without_tag(to->value) : ToValue{to->value, {}};
  Writer writer(out);
  writer.append(method);
  writer.append(" ");
  writer.append(request_uri);
  writer.append(" SIP/2.0\r\nVia: ");
  writer.append(response.vias[0].text);
  writer.append("\r\nMax-Forwards: 70\r\nFrom: ");
  writer.append(from->value);
  writer.append("\r\nTo: ");
  writer.append(to_value.before);
  writer.append(to_value.after);
  writer.append("\r\nCall-ID: ");
  writer.append(response.call_id);
  writer.append("\r\nCSeq: ");
  writer.append_decimal(response.cseq.number);
  writer.append(" ");
  writer.append(method);
  writer.append("\r\nContent-Length: 0\r\n\r\n");
  return writer.result();
}

}  // namespace

Written write_ack_for_response(const Message& response, std::string_view request_uri,
                               std::span<char> out) {
  return write_hop_request(
      response, "ACK", request_uri, false, [](std::uint16_t code) { return code >= 300; }, out);
}

Written write_cancel_for_provisional(const Message& response, std::string_view request_uri,
                                     std::span<char> out) {
  return write_hop_request(
      response, "CANCEL", request_uri, true,
      [](std::uint16_t code) { return code >= 100 && code < 200; }, out);
}

}  // namespace sipline::sip

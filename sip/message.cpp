#include "sip/message.hpp"

#include <cstring>

#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {
namespace {

// Records the first error only: later checks keep filling the view so that a caller can
// still answer from the raw header lines.
void note_error(Message& m, ParseError error) {
  if (m.error == ParseError::None) m.error = error;
}

// End of the line starting at `pos`: index just past its LF (bare LF tolerated), or npos.
std::size_t line_end(std::string_view data, std::size_t pos) {
  const void* lf = std::memchr(data.data() + pos, '\n', data.size() - pos);
  if (lf == nullptr) return std::string_view::npos;
  return static_cast<std::size_t>(static_cast<const char*>(lf) - data.data()) + 1;
}

// The line's content without its CRLF or LF.
std::string_view line_content(std::string_view data, std::size_t begin, std::size_t end) {
  std::size_t content_end = end - 1;
  if (content_end > begin && data[content_end - 1] == '\r') --content_end;
  return data.substr(begin, content_end - begin);
}

bool is_sp_or_tab(char c) {
  return c == ' ' || c == '\t';
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (RFC 3261 §25.1; "SIP" is case-insensitive
// there, as all literal strings of the grammar are).
ParseError check_version(std::string_view version) {
  if (version.size() < 7 || !istarts_with(version, "SIP/")) return ParseError::BadVersion;
  const std::string_view numbers = version.substr(4);
  const std::size_t dot = numbers.find('.');
  if (dot == std::string_view::npos || !parse_decimal(numbers.substr(0, dot), 999) ||
      !parse_decimal(numbers.substr(dot + 1), 999)) {
    return ParseError::BadVersion;
  }
  return version.substr(4) == "2.0" ? ParseError::None : ParseError::UnsupportedVersion;
}

// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2). An absent SP before an
// empty reason phrase is tolerated.
void parse_status_line(Message& m, std::string_view line) {
  m.kind = MessageKind::Response;
  const std::size_t sp = line.find(' ');
  m.version = line.substr(0, sp);
  if (sp == std::string_view::npos) return note_error(m, ParseError::BadStartLine);
  const std::string_view rest = line.substr(sp + 1);
  const std::string_view code = rest.substr(0, rest.find(' '));
  const std::optional<std::uint64_t> value = parse_decimal(code, 999);
  if (code.size() != 3 || !value || *value < 100 || *value > 699) {
    return note_error(m, ParseError::BadStatusCode);
  }
  m.status_code = static_cast<std::uint16_t>(*value);
  m.reason_phrase = rest.size() > 4 ? rest.substr(4) : std::string_view{};
  if (const ParseError error = check_version(m.version); error != ParseError::None) {
    note_error(m, error);
  }
}

// Request-Line = Method SP Request-URI SP SIP-Version (§7.1): exactly one SP between the
// three elements (RFC 4475 §3.1.2.9 and §3.1.2.10 refuse extra or trailing SP).
void parse_request_line(Message& m, std::string_view line) {
  m.kind = MessageKind::Request;
  const std::size_t first_sp = line.find(' ');
  const std::size_t last_sp = line.rfind(' ');
  if (first_sp == std::string_view::npos || first_sp == last_sp) {
    return note_error(m, ParseError::BadStartLine);
  }
  m.method_text = line.substr(0, first_sp);
  m.request_uri_text = line.substr(first_sp + 1, last_sp - first_sp - 1);
  m.version = line.substr(last_sp + 1);
  if (!is_token(m.method_text)) return note_error(m, ParseError::BadMethod);
  m.method = method_from_token(m.method_text);
  if (m.request_uri_text.find(' ') != std::string_view::npos || m.request_uri_text.empty()) {
    return note_error(m, ParseError::BadStartLine);
  }
  if (const ParseError error = check_version(m.version); error != ParseError::None) {
    return note_error(m, error);
  }
  const Parsed<Uri> uri = parse_uri(m.request_uri_text);
  if (!uri.ok()) return note_error(m, ParseError::BadRequestUri);
  m.request_uri = uri.value;
  // §19.1.5: a header component is not allowed in a Request-URI (RFC 4475 §3.1.2.11).
  const bool sip_scheme = uri.value.scheme == UriScheme::Sip || uri.value.scheme == UriScheme::Sips;
  if (sip_scheme && !uri.value.headers.empty()) note_error(m, ParseError::RequestUriHasHeaders);
}

void append_field(Message& m, HeaderId id, std::string_view name, std::string_view value,
                  std::string_view raw) {
  const std::uint8_t index = m.field_count++;
  HeaderField& field = m.fields[index];
  field.id = id;
  field.next_same = kNoField;
  field.name = name;
  field.value = value;
  field.raw = raw;
  const std::size_t slot = static_cast<std::size_t>(id);
  if (m.first_field[slot] == kNoField) {
    m.first_field[slot] = index;
  } else {
    m.fields[m.last_field[slot]].next_same = index;
  }
  m.last_field[slot] = index;
}

// Indexes header lines from `pos` up to the empty line. Returns the offset just past the
// empty line, or npos when the header section is not terminated or the index is full.
//
// One forward pass per line: the name is scanned octet by octet up to ':' (which validates it
// as a token on the way), the line end is found with memchr from the value on, and folded
// continuation lines (starting with SP/HT, RFC 3261 §7.3.1) are absorbed into the value.
std::size_t index_headers(Message& m, std::size_t pos) {
  const char* const base = m.data.data();
  const char* const end = base + m.data.size();
  const char* line = base + pos;
  while (line < end) {
    if (*line == '\r' || *line == '\n') {  // the empty line ends the header section
      const char* after = line + (*line == '\r' ? 1 : 0);
      if (after >= end || *after != '\n') break;
      m.headers = std::string_view(base + pos, static_cast<std::size_t>(line - base) - pos);
      return static_cast<std::size_t>(after + 1 - base);
    }
    const char* cursor = line;
    while (cursor < end && is_token_char(*cursor))
      ++cursor;
    const char* name_end = cursor;
    while (cursor < end && is_sp_or_tab(*cursor))
      ++cursor;
    if (cursor == end || *cursor != ':' || name_end == line) {
      const bool no_colon =
          name_end != line && (cursor == end || *cursor == '\r' || *cursor == '\n');
      note_error(m, no_colon ? ParseError::HeaderWithoutColon : ParseError::BadHeaderName);
      return std::string_view::npos;
    }
    const char* value = cursor + 1;
    const char* lf =
        static_cast<const char*>(std::memchr(value, '\n', static_cast<std::size_t>(end - value)));
    if (lf == nullptr) break;
    while (lf + 1 < end && is_sp_or_tab(lf[1])) {
      const char* next = static_cast<const char*>(
          std::memchr(lf + 1, '\n', static_cast<std::size_t>(end - lf - 1)));
      if (next == nullptr) break;
      lf = next;
    }
    if (m.field_count == kMaxHeaders) {
      note_error(m, ParseError::TooManyHeaders);
      return std::string_view::npos;
    }
    const std::string_view name(line, static_cast<std::size_t>(name_end - line));
    const std::string_view raw(line, static_cast<std::size_t>(lf + 1 - line));
    append_field(m, header_id_from_name(name), name,
                 trim_lws(std::string_view(value, static_cast<std::size_t>(lf - value))), raw);
    line = lf + 1;
  }
  note_error(m, ParseError::NoHeaderEnd);
  return std::string_view::npos;
}

void split_vias(Message& m) {
  for (const HeaderField* field = m.find(HeaderId::Via); field != nullptr; field = m.next(*field)) {
    ListCursor elements(field->value);
    while (std::optional<std::string_view> element = elements.next()) {
      if (m.via_count == kMaxVias) return note_error(m, ParseError::TooManyVias);
      m.vias[m.via_count++] = ViaRef{*element, static_cast<std::uint8_t>(field - m.fields.data())};
    }
    if (elements.error() != ParseError::None) return note_error(m, elements.error());
  }
  if (m.via_count == 0) return note_error(m, ParseError::MissingVia);
  const Parsed<Via> top = parse_via(m.vias[0].text);
  if (!top.ok()) return note_error(m, ParseError::BadVia);
  m.top_via = top.value;
}

// The single-valued header `id`, or nullptr; a second occurrence is an error (RFC 4475
// §3.3.8: two To, From, Call-ID, CSeq or Max-Forwards values are malformed).
const HeaderField* single(Message& m, HeaderId id) {
  const HeaderField* field = m.find(id);
  if (field != nullptr && field->next_same != kNoField) note_error(m, ParseError::DuplicateHeader);
  return field;
}

void parse_address(Message& m, HeaderId id, NameAddr& target) {
  const bool from = id == HeaderId::From;
  const HeaderField* field = single(m, id);
  if (field == nullptr)
    return note_error(m, from ? ParseError::MissingFrom : ParseError::MissingTo);
  const Parsed<NameAddr> address = parse_name_addr(field->value, UriDepth::Deferred);
  if (!address.ok()) {
    return note_error(m, address.error == ParseError::UnterminatedQuote
                             ? ParseError::UnterminatedQuote
                             : (from ? ParseError::BadFrom : ParseError::BadTo));
  }
  target = address.value;
}

// Call-ID = word [ "@" word ] (§25.1): no whitespace inside.
void parse_call_id(Message& m) {
  const HeaderField* field = single(m, HeaderId::CallId);
  if (field == nullptr) return note_error(m, ParseError::MissingCallId);
  // LWS, CR, LF and every control octet are all <= 0x20: one compare per octet.
  for (char c : field->value) {
    if (static_cast<unsigned char>(c) <= 0x20) return note_error(m, ParseError::BadCallId);
  }
  if (field->value.empty()) return note_error(m, ParseError::BadCallId);
  m.call_id = field->value;
}

bool cseq_matches_request(const Message& m) {
  if (m.method != Method::Extension || m.cseq.method != Method::Extension) {
    return m.method == m.cseq.method;
  }
  return m.method_text == m.cseq.method_text;
}

void parse_cseq_header(Message& m) {
  const HeaderField* field = single(m, HeaderId::CSeq);
  if (field == nullptr) return note_error(m, ParseError::MissingCSeq);
  const Parsed<CSeq> cseq = parse_cseq(field->value);
  if (!cseq.ok()) return note_error(m, ParseError::BadCSeq);
  m.cseq = cseq.value;
  // §8.1.1.5: the CSeq method MUST match the request method (RFC 4475 §3.1.2.17).
  if (m.is_request() && !cseq_matches_request(m)) note_error(m, ParseError::CSeqMethodMismatch);
}

void parse_max_forwards_header(Message& m) {
  const HeaderField* field = single(m, HeaderId::MaxForwards);
  if (field == nullptr) return;
  const Parsed<std::uint8_t> value = parse_max_forwards(field->value);
  if (!value.ok()) return note_error(m, ParseError::BadMaxForwards);
  m.has_max_forwards = true;
  m.max_forwards = value.value;
}

// Several Content-Length lines are tolerated only when they agree (RFC 4475 §3.3.9).
void parse_content_length_header(Message& m) {
  const HeaderField* field = m.find(HeaderId::ContentLength);
  if (field == nullptr) return;
  const Parsed<std::uint32_t> value = parse_content_length(field->value);
  if (!value.ok()) return note_error(m, ParseError::BadContentLength);
  for (const HeaderField* other = m.next(*field); other != nullptr; other = m.next(*other)) {
    const Parsed<std::uint32_t> again = parse_content_length(other->value);
    if (!again.ok() || again.value != value.value) {
      return note_error(m, ParseError::ConflictingContentLength);
    }
  }
  m.has_content_length = true;
  m.content_length = value.value;
}

// UDP framing (§18.3): a body shorter than Content-Length is an error; octets beyond it
// are discarded. Without Content-Length the body runs to the end of the datagram.
void frame_body(Message& m, std::size_t start) {
  const std::size_t available = m.data.size() - m.body_offset;
  std::size_t body_length = available;
  if (m.has_content_length) {
    if (m.content_length > available) {
      note_error(m, ParseError::BodyTruncated);
    } else {
      body_length = m.content_length;
    }
  }
  m.body = m.data.substr(m.body_offset, body_length);
  m.message = m.data.substr(start, m.body_offset + body_length - start);
}

void reset(Message& m, std::string_view data) {
  m.error = ParseError::None;
  m.kind = MessageKind::Request;
  m.data = data;
  m.message = {};
  m.start_line = {};
  m.method = Method::Extension;
  m.method_text = {};
  m.request_uri_text = {};
  m.request_uri = Uri{};
  m.status_code = 0;
  m.reason_phrase = {};
  m.version = {};
  m.field_count = 0;
  std::memset(m.first_field.data(), kNoField, m.first_field.size());
  m.headers = {};
  m.body_offset = 0;
  m.via_count = 0;
  m.top_via = Via{};
  m.from = NameAddr{};
  m.to = NameAddr{};
  m.call_id = {};
  m.cseq = CSeq{};
  m.has_max_forwards = false;
  m.max_forwards = 0;
  m.has_content_length = false;
  m.content_length = 0;
  m.body = {};
}

}  // namespace

const HeaderField* Message::find(std::string_view name) const {
  const HeaderId id = header_id_from_name(name);
  if (id != HeaderId::Other) return find(id);
  for (std::size_t i = 0; i < field_count; ++i) {
    if (fields[i].id == HeaderId::Other && iequals(fields[i].name, name)) return &fields[i];
  }
  return nullptr;
}

std::size_t Message::count(HeaderId id) const {
  std::size_t n = 0;
  for (const HeaderField* field = find(id); field != nullptr; field = next(*field))
    ++n;
  return n;
}

void parse_message_into(Message& m, std::string_view data) {
  reset(m, data);
  if (data.size() > kMaxMessageSize) return note_error(m, ParseError::MessageTooLarge);
  // §7.5: CRLFs before the start line are ignored (keep-alives, stream leftovers).
  std::size_t start = 0;
  while (start < data.size() && (data[start] == '\r' || data[start] == '\n'))
    ++start;
  if (start == data.size()) return note_error(m, ParseError::Empty);

  const std::size_t start_end = line_end(data, start);
  if (start_end == std::string_view::npos) return note_error(m, ParseError::NoHeaderEnd);
  m.start_line = line_content(data, start, start_end);
  if (istarts_with(m.start_line, "SIP/")) {
    parse_status_line(m, m.start_line);
  } else {
    parse_request_line(m, m.start_line);
  }

  const std::size_t body_offset = index_headers(m, start_end);
  if (body_offset == std::string_view::npos) return;
  m.body_offset = body_offset;

  split_vias(m);
  parse_address(m, HeaderId::From, m.from);
  parse_address(m, HeaderId::To, m.to);
  parse_call_id(m);
  parse_cseq_header(m);
  parse_max_forwards_header(m);
  parse_content_length_header(m);
  frame_body(m, start);
}

Message parse_message(std::string_view data) {
  Message message;
  parse_message_into(message, data);
  return message;
}

}  // namespace sipline::sip

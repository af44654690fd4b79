#include "sip/outbound_register.hpp"

#include "sip/name_addr.hpp"
#include "sip/scalar_headers.hpp"
#include "sip/token_list.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {
namespace {

std::optional<std::uint32_t> header_seconds(const Message& message, HeaderId id) {
  const HeaderField* field = message.find(id);
  if (field == nullptr) return std::nullopt;
  const Parsed<std::uint32_t> seconds = parse_expires(field->value);
  if (!seconds.ok()) return std::nullopt;
  return seconds.value;
}

}  // namespace

std::string write_outbound_register(const OutboundRegister& request) {
  std::string text;
  text.reserve(512 + request.credentials.size());
  text.append("REGISTER ").append(request.registrar_uri).append(" SIP/2.0\r\n");
  text.append("Via: SIP/2.0/UDP ").append(request.sent_by);
  text.append(";branch=").append(request.branch).append(";rport\r\n");
  if (!request.route.empty()) text.append("Route: ").append(request.route).append("\r\n");
  text.append("Max-Forwards: 70\r\n");
  text.append("From: <").append(request.aor).append(">;tag=").append(request.from_tag);
  text.append("\r\nTo: <").append(request.aor).append(">\r\n");
  text.append("Call-ID: ").append(request.call_id).append("\r\n");
  text.append("CSeq: ").append(std::to_string(request.cseq)).append(" REGISTER\r\n");
  text.append("Contact: <").append(request.contact_uri).append(">\r\n");
  text.append("Expires: ").append(std::to_string(request.expires_s)).append("\r\n");
  text.append(request.credentials);
  text.append("User-Agent: sipline\r\nContent-Length: 0\r\n\r\n");
  return text;
}

std::optional<std::uint32_t> granted_expires(const Message& ok, std::string_view contact_uri) {
  const Parsed<Uri> ours = parse_uri(contact_uri);
  for (const HeaderField* field = ok.find(HeaderId::Contact); field != nullptr && ours.ok();
       field = ok.next(*field)) {
    ListCursor elements(field->value);
    while (const std::optional<std::string_view> element = elements.next()) {
      const Parsed<ContactValue> contact = parse_contact(*element);
      if (!contact.ok() || contact.value.star || !contact.value.has_expires) continue;
      if (uri_equivalent(contact.value.address.uri, ours.value)) return contact.value.expires;
    }
  }
  return header_seconds(ok, HeaderId::Expires);
}

std::optional<std::uint32_t> min_expires(const Message& too_brief) {
  return header_seconds(too_brief, HeaderId::MinExpires);
}

}  // namespace sipline::sip

#include "sip/contact_alias.hpp"

#include <algorithm>
#include <cstring>

#include "sip/name_addr.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {

std::optional<ContactUri> aliasable_contact(const Message& message) {
  const HeaderField* line = message.find(HeaderId::Contact);
  if (line == nullptr) return std::nullopt;
  ListCursor elements(line->value);
  const std::optional<std::string_view> element = elements.next();
  if (!element) return std::nullopt;
  const Parsed<ContactValue> contact = parse_contact(*element);
  if (!contact.ok() || contact.value.star || !contact.value.address.uri_parsed) return std::nullopt;
  const Uri& uri = contact.value.address.uri;
  const HostKind kind = uri.host_port.kind;
  if ((uri.scheme != UriScheme::Sip && uri.scheme != UriScheme::Sips) || !uri.headers.empty() ||
      (kind != HostKind::Ipv4 && kind != HostKind::Ipv6Reference)) {
    return std::nullopt;
  }
  if (find_param(uri.params, "alias", ParamCursor::Style::Uri)) return std::nullopt;
  return ContactUri{line, contact.value.address.uri_text, contact.value.address.bracketed,
                    uri.host_port};
}

std::optional<AliasTarget> parse_alias(std::string_view value) {
  const std::size_t first = value.find('~');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = value.find('~', first + 1);
  if (second == std::string_view::npos || value.substr(second + 1) != "1") return std::nullopt;
  AliasTarget target;
  target.host = value.substr(0, first);
  target.kind = classify_host(target.host);
  if (target.kind != HostKind::Ipv4 && target.kind != HostKind::Ipv6Reference) {
    return std::nullopt;
  }
  const std::optional<std::uint64_t> port =
      parse_decimal(value.substr(first + 1, second - first - 1), 65535);
  if (!port || *port == 0) return std::nullopt;
  target.port = static_cast<std::uint16_t>(*port);
  return target;
}

std::optional<AliasedUri> resolve_uri_alias(std::string_view uri_text, const Uri& uri,
                                            std::span<char> out) {
  if (uri.params.empty()) return std::nullopt;
  ParamCursor params(uri.params, ParamCursor::Style::Uri);
  while (const std::optional<Param> param = params.next()) {
    if (!iequals(param->name, kAliasParam)) continue;
    const std::optional<AliasTarget> target = parse_alias(param->value);
    if (!target) return std::nullopt;
    // The parameter runs from its ';' to the end of its value; the URI's other octets stay.
    const char* cut_begin = param->name.data() - 1;
    const char* cut_end = param->value.data() + param->value.size();
    if (cut_begin < uri_text.data() || cut_end > uri_text.data() + uri_text.size()) {
      return std::nullopt;
    }
    const std::size_t head = static_cast<std::size_t>(cut_begin - uri_text.data());
    const std::size_t tail = uri_text.size() - static_cast<std::size_t>(cut_end - uri_text.data());
    if (head + tail > out.size()) return std::nullopt;
    std::memcpy(out.data(), uri_text.data(), head);
    std::memcpy(out.data() + head, cut_end, tail);
    return AliasedUri{*target, {out.data(), head + tail}};
  }
  return std::nullopt;
}

std::optional<std::string_view> write_alias_value(std::string_view address, std::span<char> out) {
  const std::size_t separator = address.rfind(':');
  const bool bracketed = address.starts_with('[');
  if (separator == std::string_view::npos || separator + 1 == address.size() ||
      (bracketed && address[separator - 1] != ']')) {
    return std::nullopt;
  }
  const std::string_view host = address.substr(0, separator);
  const std::string_view port = address.substr(separator + 1);
  constexpr std::string_view kUdp = "~1";
  const std::size_t size = host.size() + 1 + port.size() + kUdp.size();
  if (size > out.size()) return std::nullopt;
  char* at = std::copy(host.begin(), host.end(), out.data());
  *at++ = '~';
  at = std::copy(port.begin(), port.end(), at);
  std::copy(kUdp.begin(), kUdp.end(), at);
  return std::string_view(out.data(), size);
}

std::optional<std::string_view> write_aliased_uri(std::string_view uri, std::string_view address,
                                                  std::span<char> out) {
  constexpr std::string_view kParam = ";alias=";
  if (uri.find('?') != std::string_view::npos || uri.find(kParam) != std::string_view::npos ||
      uri.size() + kParam.size() > out.size()) {
    return std::nullopt;
  }
  char* at = std::copy(uri.begin(), uri.end(), out.data());
  at = std::copy(kParam.begin(), kParam.end(), at);
  const std::size_t head = static_cast<std::size_t>(at - out.data());
  const std::optional<std::string_view> value = write_alias_value(address, out.subspan(head));
  if (!value) return std::nullopt;
  return std::string_view(out.data(), head + value->size());
}

}  // namespace sipline::sip

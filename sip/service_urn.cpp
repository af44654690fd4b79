#include "sip/service_urn.hpp"

#include "sip/text.hpp"

namespace sipline::sip {
namespace {

constexpr bool is_let_dig_hyp(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// service = top-level *("." sub-service), each label one or more let-dig-hyp (RFC 5031 §3).
bool is_service(std::string_view service) {
  bool label_empty = true;
  for (const char c : service) {
    if (c == '.') {
      if (label_empty) return false;
      label_empty = true;
    } else if (is_let_dig_hyp(c)) {
      label_empty = false;
    } else {
      return false;
    }
  }
  return !label_empty;
}

}  // namespace

bool is_emergency_service_name(std::string_view service) {
  constexpr std::string_view kTopLevel = "sos";
  return is_service(service) && iequals(service.substr(0, service.find('.')), kTopLevel);
}

std::string_view emergency_service(const Uri& uri) {
  constexpr std::string_view kNamespace = "service:";  // the URN's NID and its colon
  if (uri.scheme != UriScheme::Other || !iequals(uri.scheme_text, "urn") ||
      !istarts_with(uri.opaque, kNamespace)) {
    return {};
  }
  const std::string_view service = uri.opaque.substr(kNamespace.size());
  return is_emergency_service_name(service) ? service : std::string_view();
}

bool is_emergency_service_urn(const Uri& uri) {
  return !emergency_service(uri).empty();
}

std::string_view general_service(std::string_view service) {
  const std::size_t dot = service.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : service.substr(0, dot);
}

}  // namespace sipline::sip

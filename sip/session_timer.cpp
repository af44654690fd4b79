#include "sip/session_timer.hpp"

#include <algorithm>
#include <optional>

#include "sip/params.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"

namespace sipline::sip {
namespace {

struct DeltaAndParams {
  std::uint32_t seconds = 0;
  std::string_view params;  // from the first ';', or empty
};

std::optional<DeltaAndParams> split_delta(std::string_view value) {
  const std::size_t semicolon = value.find(';');
  const std::optional<std::uint64_t> seconds =
      parse_decimal(trim_lws(value.substr(0, semicolon)), UINT32_MAX);
  if (!seconds) return std::nullopt;
  DeltaAndParams result{static_cast<std::uint32_t>(*seconds), {}};
  if (semicolon != std::string_view::npos) result.params = value.substr(semicolon);
  if (validate_params(result.params, ParamCursor::Style::Header) != ParseError::None) {
    return std::nullopt;
  }
  return result;
}

}  // namespace

Parsed<SessionExpires> parse_session_expires(std::string_view value) {
  const std::optional<DeltaAndParams> parts = split_delta(value);
  if (!parts) return fail<SessionExpires>(ParseError::BadExpires);
  SessionExpires result{parts->seconds, Refresher::Unspecified};
  const std::optional<Param> refresher =
      find_param(parts->params, "refresher", ParamCursor::Style::Header);
  if (refresher) {
    if (iequals(refresher->value, "uac")) {
      result.refresher = Refresher::Uac;
    } else if (iequals(refresher->value, "uas")) {
      result.refresher = Refresher::Uas;
    } else {
      return fail<SessionExpires>(ParseError::BadParam);
    }
  }
  return Parsed<SessionExpires>{result, ParseError::None};
}

Parsed<std::uint32_t> parse_min_se(std::string_view value) {
  const std::optional<DeltaAndParams> parts = split_delta(value);
  if (!parts) return fail<std::uint32_t>(ParseError::BadExpires);
  return Parsed<std::uint32_t>{parts->seconds, ParseError::None};
}

std::uint32_t session_interval(const Message& message) {
  const HeaderField* field = message.find(HeaderId::SessionExpires);
  if (field == nullptr) return 0;
  const Parsed<SessionExpires> parsed = parse_session_expires(field->value);
  if (!parsed.ok()) return 0;
  return std::max(parsed.value.seconds, kMinSessionInterval);
}

std::uint32_t min_session_interval(const Message& request) {
  const HeaderField* field = request.find(HeaderId::MinSE);
  if (field == nullptr) return kMinSessionInterval;
  const Parsed<std::uint32_t> parsed = parse_min_se(field->value);
  return parsed.ok() ? std::max(parsed.value, kMinSessionInterval) : kMinSessionInterval;
}

bool supports_session_timer(const Message& request) {
  for (const HeaderField* field = request.find(HeaderId::Supported); field != nullptr;
       field = request.next(*field)) {
    if (option_list_contains(field->value, "timer")) return true;
  }
  return false;
}

}  // namespace sipline::sip

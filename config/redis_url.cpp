// "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" → RedisEndpoint: the URL form redis-cli -u and
// most Redis clients take (IANA's provisional "redis" scheme).
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sipline::config {
namespace {

constexpr std::string_view kScheme = "redis://";

template <typename Number>
bool parse_number(std::string_view text, Number& value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// "HOST[:PORT]" with HOST a name, an IPv4 address or "[IPv6]"; the brackets are removed.
std::string parse_host_port(std::string_view text, RedisEndpoint& endpoint) {
  std::string_view host = text;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return "an IPv6 host needs its closing ']'";
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "expected ':PORT' after the IPv6 host";
      port = rest.substr(1);
      if (port.empty()) return "the port after ':' is empty";
    }
  } else if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return "the port after ':' is empty";
  }
  if (host.empty()) return "the host is missing";
  if (host.find_first_of(" \t/?#@") != std::string_view::npos) {
    return "the host \"" + std::string(host) + "\" is not a host name or an address";
  }
  endpoint.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    if (!parse_number(port, value) || value == 0 || value > 65535) {
      return "the port \"" + std::string(port) + "\" is not a number from 1 to 65535";
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  return {};
}

// The URL as errors show it: the credentials (before the last '@') replaced by "***".
std::string without_credentials(std::string_view text) {
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || !text.starts_with(kScheme)) return std::string(text);
  std::string shown(kScheme);
  shown.append("***").append(text.substr(at));
  return shown;
}

// RFC 3986 §2.1 percent-decoding of the user and password (redis-cli decodes them too).
std::optional<std::string> percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;  // two hex digits must follow
    unsigned value = 0;
    const char* first = text.data() + i + 1;
    const auto [end, error] = std::from_chars(first, first + 2, value, 16);
    if (error != std::errc() || end != first + 2) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

}  // namespace

std::string RedisEndpoint::describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string text(kScheme);
  if (v6) text += '[';
  text += host;
  if (v6) text += ']';
  text += ':';
  text += std::to_string(port);
  text += '/';
  text += std::to_string(db);
  return text;
}

ParsedRedisEndpoint parse_redis_url(std::string_view text) {
  const auto fail = [text](const std::string& why) {
    std::string error = "\"";
    error.append(without_credentials(text))
        .append("\" is not a Redis URL (")
        .append(why)
        .append("); expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
    return ParsedRedisEndpoint{std::nullopt, std::move(error)};
  };
  if (!text.starts_with(kScheme)) return fail("it does not start with redis://");
  std::string_view rest = text.substr(kScheme.size());
  RedisEndpoint endpoint;
  // The credentials end at the last '@': a password may hold one.
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // "redis://PASSWORD@HOST" as redis-cli reads it, or "redis://[USER]:PASSWORD@HOST".
    const std::size_t colon = credentials.find(':');
    const bool with_user = colon != std::string_view::npos;
    const auto user = percent_decoded(with_user ? credentials.substr(0, colon) : "");
    const auto password = percent_decoded(with_user ? credentials.substr(colon + 1) : credentials);
    if (!user || !password) {
      return fail("a '%' in the credentials is not followed by two hex digits");
    }
    endpoint.user = *user;
    endpoint.password = *password;
    if (endpoint.password.empty()) return fail("the password before '@' is empty");
  }
  std::string_view authority = rest;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_number(db, endpoint.db)) {
      return fail("the database \"" + std::string(db) + "\" is not a number");
    }
  }
  if (std::string error = parse_host_port(authority, endpoint); !error.empty()) {
    return fail(error);
  }
  return {std::move(endpoint), {}};
}

}  // namespace sipline::config

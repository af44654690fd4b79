#include "lb/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace sipline::lb {
namespace {

constexpr std::size_t bytes_of(AddressFamily family) {
  return family == AddressFamily::Ipv4 ? 4 : 16;
}

// Digits only, no sign, no leading '+', value in [min, max].
std::optional<unsigned> parse_decimal(std::string_view text, unsigned min, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

}  // namespace

bool IpAddress::is_loopback() const {
  if (family == AddressFamily::Ipv4) return bytes[0] == 127;
  constexpr std::array<std::uint8_t, 16> kIpv6Loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                       0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kIpv6Loopback;
}

bool IpAddress::is_unspecified() const {
  return std::all_of(bytes.begin(), bytes.begin() + bytes_of(family),
                     [](std::uint8_t byte) { return byte == 0; });
}

bool IpAddress::is_link_local() const {
  if (family == AddressFamily::Ipv4) return bytes[0] == 169 && bytes[1] == 254;
  return ipv6_is_link_local(bytes.data());
}

bool IpAddress::is_private() const {
  if (is_link_local()) return true;
  if (family == AddressFamily::Ipv6) return (bytes[0] & 0xfe) == 0xfc;
  return bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xf0) == 16) ||
         (bytes[0] == 192 && bytes[1] == 168) || (bytes[0] == 100 && (bytes[1] & 0xc0) == 64);
}

bool IpAddress::is_unicast() const {
  return family == AddressFamily::Ipv4 ? ipv4_is_unicast(bytes.data())
                                       : ipv6_is_unicast(bytes.data());
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == AddressFamily::Ipv4 ? AF_INET : AF_INET6;
  inet_ntop(af, bytes.data(), text, sizeof text);
  return text;
}

std::string SocketAddress::to_string() const {
  const std::string host = address.to_string();
  const std::string port_text = std::to_string(port);
  if (address.family == AddressFamily::Ipv6) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

bool IpPrefix::contains(const IpAddress& other) const {
  if (other.family != address.family) return false;
  const std::size_t whole_bytes = length / 8;
  if (!std::equal(address.bytes.begin(), address.bytes.begin() + whole_bytes,
                  other.bytes.begin())) {
    return false;
  }
  const unsigned rest_bits = length % 8;
  if (rest_bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest_bits));
  return (address.bytes[whole_bytes] & mask) == (other.bytes[whole_bytes] & mask);
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest valid text is an IPv6 address
  // with an embedded IPv4 tail (45 characters).
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string terminated(text);
  IpAddress address;
  if (inet_pton(AF_INET, terminated.c_str(), address.bytes.data()) == 1) {
    address.family = AddressFamily::Ipv4;
    return address;
  }
  if (inet_pton(AF_INET6, terminated.c_str(), address.bytes.data()) == 1) {
    address.family = AddressFamily::Ipv6;
    return address;
  }
  return std::nullopt;
}

ParsedSocketAddress parse_socket_address(std::string_view text) {
  std::string_view host;
  std::string_view rest;
  if (text.starts_with('[')) {
    // RFC 3986 §3.2.2: an IPv6 literal in host:port form is bracketed.
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return {{}, SocketAddressError::BadHost};
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    const std::size_t colon = text.rfind(':');
    host = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  const std::optional<IpAddress> address = parse_ip_address(host);
  if (!address) return {{}, SocketAddressError::BadHost};
  // An unbracketed IPv6 address is ambiguous with a port ("::1:5060"); insist on brackets.
  if (address->family == AddressFamily::Ipv6 && !text.starts_with('[')) {
    return {{}, SocketAddressError::BadHost};
  }
  if (rest.empty()) return {{}, SocketAddressError::MissingPort};
  if (rest.front() != ':') return {{}, SocketAddressError::BadHost};
  const std::optional<unsigned> port = parse_decimal(rest.substr(1), 1, 65535);
  if (!port) return {{}, SocketAddressError::BadPort};
  return {SocketAddress{*address, static_cast<std::uint16_t>(*port)}, SocketAddressError::None};
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::optional<IpAddress> address = parse_ip_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned max_length = address->family == AddressFamily::Ipv4 ? 32 : 128;
  const std::optional<unsigned> length = parse_decimal(text.substr(slash + 1), 0, max_length);
  if (!length) return std::nullopt;
  return IpPrefix{*address, static_cast<std::uint8_t>(*length)};
}

}  // namespace sipline::lb

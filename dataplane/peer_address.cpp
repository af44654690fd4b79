#include "dataplane/peer_address.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "sip/text.hpp"

namespace sipline::dataplane {
namespace {

// A dotted quad as inet_pton(AF_INET) accepts it (four decimal parts of at most three digits,
// each <= 255, no leading zero), without its NUL-terminated copy: workers parse one per
// forwarded message.
std::optional<in_addr> parse_ipv4(std::string_view text) {
  std::uint32_t address = 0;
  std::size_t at = 0;
  for (int part = 0; part < 4; ++part) {
    if (part != 0) {
      if (at == text.size() || text[at] != '.') return std::nullopt;
      ++at;
    }
    const std::size_t start = at;
    unsigned value = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[at] - '0');
      ++at;
    }
    const std::size_t digits = at - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    address = address << 8 | value;
  }
  if (at != text.size()) return std::nullopt;
  in_addr result;
  result.s_addr = htonl(address);
  return result;
}

// "192.0.2.1" into `out`; returns its length.
std::size_t format_ipv4(const in_addr& address, char* out) {
  const std::uint32_t value = ntohl(address.s_addr);
  std::size_t size = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const unsigned octet = (value >> shift) & 0xff;
    if (octet >= 100) out[size++] = static_cast<char>('0' + octet / 100);
    if (octet >= 10) out[size++] = static_cast<char>('0' + octet / 10 % 10);
    out[size++] = static_cast<char>('0' + octet % 10);
    if (shift != 0) out[size++] = '.';
  }
  return size;
}

// In the optional's own storage (PeerAddress's in-place constructor says why).
std::optional<PeerAddress> ipv4_peer(const void* bytes, std::uint16_t port) {
  return std::optional<PeerAddress>(std::in_place, lb::AddressFamily::Ipv4, bytes, 4, port);
}
std::optional<PeerAddress> ipv6_peer(const void* bytes, std::uint16_t port) {
  return std::optional<PeerAddress>(std::in_place, lb::AddressFamily::Ipv6, bytes, 16, port);
}

}  // namespace

std::optional<PeerAddress> peer_from_ip(std::string_view literal, bool ipv6, std::uint16_t port) {
  if (port == 0) return std::nullopt;
  if (!ipv6) {
    const std::optional<in_addr> address = parse_ipv4(literal);
    if (!address) return std::nullopt;
    return ipv4_peer(&address->s_addr, port);
  }
  // inet_pton wants a NUL-terminated string: the literal is copied into a small buffer.
  char text[INET6_ADDRSTRLEN + 1];
  if (literal.empty() || literal.size() >= sizeof text) return std::nullopt;
  std::memcpy(text, literal.data(), literal.size());
  text[literal.size()] = '\0';
  in6_addr address;
  if (inet_pton(AF_INET6, text, &address) != 1) return std::nullopt;
  return ipv6_peer(address.s6_addr, port);
}

namespace {
template <class SocketAddressIn>
SocketName name_of(const SocketAddressIn& in) {
  SocketName name;
  std::memcpy(&name.storage, &in, sizeof in);
  name.length = sizeof in;
  return name;
}
}  // namespace

SocketName socket_name(const PeerAddress& address) {
  if (address.empty()) return SocketName{};
  const lb::SocketAddress& endpoint = address.endpoint();
  if (address.is_ipv6()) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(endpoint.port);
    std::memcpy(&v6.sin6_addr, endpoint.address.bytes.data(), 16);
    return name_of(v6);
  }
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(endpoint.port);
  std::memcpy(&v4.sin_addr, endpoint.address.bytes.data(), 4);
  return name_of(v4);
}

std::optional<PeerAddress> peer_from_sockaddr(const sockaddr_storage& storage, socklen_t length) {
  // Field by field (the socket API's own aliasing idiom), each family checked for its length.
  if (storage.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
    return ipv4_peer(&v4.sin_addr.s_addr, ntohs(v4.sin_port));
  }
  if (storage.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    return ipv6_peer(v6.sin6_addr.s6_addr, ntohs(v6.sin6_port));
  }
  return std::nullopt;
}

bool may_send_to(const PeerAddress& address, bool loopback_allowed) {
  const lb::IpAddress& ip = address.endpoint().address;
  return ip.is_unicast() && (loopback_allowed || !ip.is_loopback());
}

PeerAddress with_port(const PeerAddress& address, std::uint16_t port) {
  if (address.empty()) return address;
  lb::SocketAddress endpoint = address.endpoint();
  endpoint.port = port;
  return PeerAddress(endpoint);
}

bool same_peer(const PeerAddress& a, const PeerAddress& b) {
  return !a.empty() && !b.empty() && a.endpoint() == b.endpoint();
}

PeerAddress to_peer_address(const config::SocketAddress& address) {
  return PeerAddress(address);
}

std::optional<PeerAddress> peer_from_host(std::string_view host, std::uint16_t port) {
  if (port == 0 || host.empty()) return std::nullopt;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    return peer_from_ip(host.substr(1, host.size() - 2), true, port);
  }
  // inet_pton(AF_INET) accepts dotted-quad literals only: a host name fails here.
  return peer_from_ip(host, false, port);
}

std::optional<PeerAddress> peer_from_text(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  const auto port = sip::parse_decimal(text.substr(colon + 1), 65535);
  if (!port) return std::nullopt;
  return peer_from_host(host, static_cast<std::uint16_t>(*port));
}

PeerText format_peer_host(const PeerAddress& address) {
  PeerText out;
  if (address.empty()) return out;
  const lb::IpAddress& ip = address.endpoint().address;
  if (!address.is_ipv6()) {
    in_addr v4;
    std::memcpy(&v4.s_addr, ip.bytes.data(), 4);
    out.size = static_cast<std::uint8_t>(format_ipv4(v4, out.text.data()));
    return out;
  }
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(AF_INET6, ip.bytes.data(), text, sizeof text);
  const std::size_t size = std::strlen(text);
  std::memcpy(out.text.data(), text, size);
  out.size = static_cast<std::uint8_t>(size);
  return out;
}

PeerText format_peer(const PeerAddress& address) {
  const PeerText host = format_peer_host(address);
  PeerText out;
  const bool ipv6 = address.is_ipv6();
  const int size = std::snprintf(out.text.data(), out.text.size(), ipv6 ? "[%.*s]:%u" : "%.*s:%u",
                                 static_cast<int>(host.size), host.text.data(), address.port());
  out.size = static_cast<std::uint8_t>(size > 0 ? size : 0);
  return out;
}

}  // namespace sipline::dataplane

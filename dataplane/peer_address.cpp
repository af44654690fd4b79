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

}  // namespace

// inet_pton wants a NUL-terminated string; copy the literal into a small stack buffer.
std::optional<PeerAddress> peer_from_ip(std::string_view literal, bool ipv6, std::uint16_t port) {
  if (port == 0) return std::nullopt;
  if (!ipv6) {
    const std::optional<in_addr> address = parse_ipv4(literal);
    if (!address) return std::nullopt;
    PeerAddress peer;
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    v4.sin_addr = *address;
    std::memcpy(&peer.storage, &v4, sizeof v4);
    peer.length = sizeof v4;
    return peer;
  }
  char text[INET6_ADDRSTRLEN + 1];
  if (literal.empty() || literal.size() >= sizeof text) return std::nullopt;
  std::memcpy(text, literal.data(), literal.size());
  text[literal.size()] = '\0';
  PeerAddress peer;
  if (ipv6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(port);
    if (inet_pton(AF_INET6, text, &address.sin6_addr) != 1) return std::nullopt;
    std::memcpy(&peer.storage, &address, sizeof address);
    peer.length = sizeof address;
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (inet_pton(AF_INET, text, &address.sin_addr) != 1) return std::nullopt;
    std::memcpy(&peer.storage, &address, sizeof address);
    peer.length = sizeof address;
  }
  return peer;
}

std::uint16_t PeerAddress::port() const {
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  return 0;
}

PeerAddress with_port(const PeerAddress& address, std::uint16_t port) {
  PeerAddress result = address;
  if (result.storage.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&result.storage)->sin6_port = htons(port);
  } else if (result.storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&result.storage)->sin_port = htons(port);
  }
  return result;
}

bool same_peer(const PeerAddress& a, const PeerAddress& b) {
  if (a.storage.ss_family != b.storage.ss_family) return false;
  if (a.storage.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a.storage);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.storage);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.storage.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a.storage);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b.storage);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}

PeerAddress to_peer_address(const config::SocketAddress& address) {
  PeerAddress peer;
  if (address.address.family == config::AddressFamily::Ipv6) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(address.port);
    std::memcpy(&v6.sin6_addr, address.address.bytes.data(), 16);
    std::memcpy(&peer.storage, &v6, sizeof v6);
    peer.length = sizeof v6;
  } else {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(address.port);
    std::memcpy(&v4.sin_addr, address.address.bytes.data(), 4);
    std::memcpy(&peer.storage, &v4, sizeof v4);
    peer.length = sizeof v4;
  }
  return peer;
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
  if (address.storage.ss_family == AF_INET) {
    out.size = static_cast<std::uint8_t>(format_ipv4(
        reinterpret_cast<const sockaddr_in&>(address.storage).sin_addr, out.text.data()));
    return out;
  }
  char text[INET6_ADDRSTRLEN] = "";
  if (address.storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address.storage).sin6_addr, text,
              sizeof text);
  } else if (address.storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address.storage).sin_addr, text,
              sizeof text);
  }
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

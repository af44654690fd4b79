// IP addresses, socket addresses and interface prefixes as the proxy binds and routes them:
// parsed once from configuration text into bytes, so the dataplane never re-parses text.
// They live in lb/ because destinations (forward targets, pools, health probes) are lb/'s
// business and config/ may use lb/ types but not the other way round (DESIGN.md §2).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipline::lb {

enum class AddressFamily : std::uint8_t { Ipv4, Ipv6 };

// Address classes on raw octets (network order), for code that holds no IpAddress (the DPDK
// packet layer reads addresses from headers). "Unicast" excludes what no datagram may be sent
// to: IPv4 0/8 ("this network", RFC 1122 §3.2.1.3), multicast, class E and the limited
// broadcast; IPv6 ::, multicast (ff00::/8) and IPv4-mapped (::ffff:0:0/96, RFC 4291
// §2.5.5.2, never on the wire). Loopback is unicast: whether it may be used is the caller's
// policy.
inline bool ipv4_is_unicast(const std::uint8_t* address) {
  return address[0] != 0 && address[0] < 224;
}
inline bool ipv6_is_loopback(const std::uint8_t* address) {
  for (int i = 0; i < 15; ++i) {
    if (address[i] != 0) return false;
  }
  return address[15] == 1;
}
inline bool ipv6_is_unicast(const std::uint8_t* address) {
  if (address[0] == 0xff) return false;
  int leading_zeros = 0;
  while (leading_zeros < 16 && address[leading_zeros] == 0)
    ++leading_zeros;
  if (leading_zeros == 16) return false;  // ::
  return !(leading_zeros == 10 && address[10] == 0xff && address[11] == 0xff);
}
inline bool ipv6_is_link_local(const std::uint8_t* address) {  // fe80::/10, RFC 4291 §2.5.6
  return address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
}

struct IpAddress {
  AddressFamily family = AddressFamily::Ipv4;
  // Network byte order; an IPv4 address uses the first 4 bytes, the rest stay zero.
  std::array<std::uint8_t, 16> bytes{};

  bool is_loopback() const;     // 127.0.0.0/8 or ::1
  bool is_unspecified() const;  // 0.0.0.0 or ::
  bool is_link_local() const;   // 169.254.0.0/16 or fe80::/10 (RFC 3927, RFC 4291 §2.5.6)
  bool is_unicast() const;      // ipv4_is_unicast / ipv6_is_unicast (loopback included)
  // Behind a NAT, most likely: RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598's shared
  // space (100.64/10, carrier-grade NAT), link-local, IPv6 unique local (fc00::/7, RFC 4193).
  bool is_private() const;
  std::string to_string() const;  // "127.0.0.1", "::1" (canonical, RFC 5952 via inet_ntop)

  bool operator==(const IpAddress&) const = default;
};

struct SocketAddress {
  IpAddress address;
  std::uint16_t port = 0;

  std::string to_string() const;  // "127.0.0.1:5060", "[::1]:5060"

  bool operator==(const SocketAddress&) const = default;
};

// An interface address with its prefix length, e.g. 10.99.0.1/24.
struct IpPrefix {
  IpAddress address;
  std::uint8_t length = 0;  // 0..32 for IPv4, 0..128 for IPv6

  bool contains(const IpAddress& other) const;
  std::string to_string() const;  // "10.99.0.1/24"

  bool operator==(const IpPrefix&) const = default;
};

// A literal IPv4 ("192.0.2.1") or IPv6 ("2001:db8::1", no brackets) address; no names, no
// zone ids, no leading-zero octal forms (inet_pton rules).
std::optional<IpAddress> parse_ip_address(std::string_view text);

// Why a "host:port" text was refused.
enum class SocketAddressError : std::uint8_t { None = 0, BadHost, MissingPort, BadPort };

struct ParsedSocketAddress {
  SocketAddress value;
  SocketAddressError error = SocketAddressError::None;

  bool ok() const { return error == SocketAddressError::None; }
};

// "192.0.2.1:5060" or "[2001:db8::1]:5060"; the port must be 1..65535 (0 would ask the kernel
// for a random port, useless for a proxy others must reach).
ParsedSocketAddress parse_socket_address(std::string_view text);

// "10.99.0.1/24" or "2001:db8::1/64"; the prefix length is required.
std::optional<IpPrefix> parse_ip_prefix(std::string_view text);

}  // namespace sipline::lb

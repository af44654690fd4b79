// Transport addresses as the socket calls take them, and the conversions the pipeline needs
// between them and SIP text (Via sent-by, received/rport, Contact URIs, "ip:port" bindings).
// Only IP literals are turned into addresses: a worker never resolves a name (DNS would
// block), so a host name as next hop is counted as unroutable.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "config/address.hpp"

namespace sipline::dataplane {

// A UDP peer: an IPv4 or IPv6 address and a port, as bytes (lb::SocketAddress, 20 octets).
// The pipeline copies one per message (the source in, the destination out) and DPDK frames
// carry addresses as bytes, so the socket API's form (a 128-octet sockaddr_storage) is built
// only at the socket calls: socket_name() and peer_from_sockaddr().
class PeerAddress {
 public:
  PeerAddress() = default;  // no address (empty())
  explicit PeerAddress(const lb::SocketAddress& endpoint) : endpoint_(endpoint), set_(true) {}
  // `size` octets of address (4 for IPv4, 16 for IPv6; network order) and a port, stored in
  // place: copying a just-built lb::SocketAddress reloads its byte-wise stores as one 16-octet
  // load, which cannot be forwarded from them (a stall per address, seen in perf annotate of
  // peer_from_ip).
  PeerAddress(lb::AddressFamily family, const void* bytes, std::size_t size, std::uint16_t port)
      : set_(true) {
    endpoint_.address.family = family;
    std::memcpy(endpoint_.address.bytes.data(), bytes, size);
    endpoint_.port = port;
  }

  bool empty() const { return !set_; }
  bool is_ipv6() const { return endpoint_.address.family == lb::AddressFamily::Ipv6; }
  std::uint16_t port() const { return endpoint_.port; }
  const lb::SocketAddress& endpoint() const { return endpoint_; }

 private:
  lb::SocketAddress endpoint_;
  bool set_ = false;
};

// The socket API's form of an address, for bind/sendmmsg/sendto.
struct SocketName {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
SocketName socket_name(const PeerAddress& address);

// What recvmmsg wrote as a datagram's source; std::nullopt for a family other than IPv4/IPv6.
std::optional<PeerAddress> peer_from_sockaddr(const sockaddr_storage& storage, socklen_t length);

// The same address with another port.
PeerAddress with_port(const PeerAddress& address, std::uint16_t port);

// Same family, address and port.
bool same_peer(const PeerAddress& a, const PeerAddress& b);

PeerAddress to_peer_address(const config::SocketAddress& address);

// `host` is an IPv4 literal or a bracketed IPv6 reference ("[2001:db8::1]", as it appears in
// a URI or Via); a host name, an empty host or port 0 gives std::nullopt.
std::optional<PeerAddress> peer_from_host(std::string_view host, std::uint16_t port);

// A bare IP literal ("192.0.2.1", or "2001:db8::1" when `ipv6`) and a port (not 0).
std::optional<PeerAddress> peer_from_ip(std::string_view literal, bool ipv6, std::uint16_t port);

// Whether sipline may send to `address` when a message names it (a Route, a Request-URI, a
// Via, a registered Contact): a unicast address (lb::IpAddress::is_unicast: never 0.0.0.0/8 or
// ::, which the kernel takes for this host, multicast, class E, the limited broadcast or an
// IPv4-mapped IPv6 address), and loopback only when `loopback_allowed` (sipline listens on
// loopback or on every address itself). A request from outside must not aim the proxy at the
// services of its own host or at a whole group.
bool may_send_to(const PeerAddress& address, bool loopback_allowed);

// "192.0.2.1:5060" or "[2001:db8::1]:5060" (a binding's `received`).
std::optional<PeerAddress> peer_from_text(std::string_view text);

// "ip:port" / "[ip6]:port" text in a fixed buffer (no allocation: workers use it).
struct PeerText {
  std::array<char, 64> text{};
  std::uint8_t size = 0;
  std::string_view view() const { return {text.data(), size}; }
};
PeerText format_peer(const PeerAddress& address);

// The address alone, without port or brackets ("192.0.2.1", "2001:db8::1"): what RFC 3261
// §18.2.1 puts in Via;received.
PeerText format_peer_host(const PeerAddress& address);

}  // namespace sipline::dataplane

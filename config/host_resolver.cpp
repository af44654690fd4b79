// Host names of forward targets and pool members, resolved when a configuration is loaded.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace sipline::config {

// getaddrinfo: /etc/hosts, then DNS, as nsswitch.conf says. IPv4 first: a next hop is sent to
// from a listen address of its family, and most deployments listen on IPv4.
std::optional<IpAddress> resolve_with_system(std::string_view name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  if (::getaddrinfo(std::string(name).c_str(), nullptr, &hints, &results) != 0) {
    return std::nullopt;
  }
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;
  for (const addrinfo* result = results; result != nullptr; result = result->ai_next) {
    IpAddress address;
    if (result->ai_family == AF_INET && !v4) {
      address.family = AddressFamily::Ipv4;
      const auto* in = reinterpret_cast<const sockaddr_in*>(result->ai_addr);
      std::memcpy(address.bytes.data(), &in->sin_addr, 4);
      v4 = address;
    } else if (result->ai_family == AF_INET6 && !v6) {
      address.family = AddressFamily::Ipv6;
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(result->ai_addr);
      std::memcpy(address.bytes.data(), &in6->sin6_addr, 16);
      v6 = address;
    }
  }
  ::freeaddrinfo(results);
  return v4 ? v4 : v6;
}

}  // namespace sipline::config

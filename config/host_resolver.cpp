// Host names of forward targets and pool members, resolved when a configuration is loaded.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "config/bounded_lookup.hpp"
#include "config/config.hpp"

namespace sipline::config {
namespace {

std::vector<IpAddress> lookup(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  if (::getaddrinfo(name.c_str(), nullptr, &hints, &results) != 0) return {};
  std::vector<IpAddress> addresses;
  for (const addrinfo* result = results; result != nullptr; result = result->ai_next) {
    IpAddress address;
    if (result->ai_family == AF_INET) {
      address.family = AddressFamily::Ipv4;
      std::memcpy(address.bytes.data(),
                  &reinterpret_cast<const sockaddr_in*>(result->ai_addr)->sin_addr, 4);
    } else if (result->ai_family == AF_INET6) {
      address.family = AddressFamily::Ipv6;
      std::memcpy(address.bytes.data(),
                  &reinterpret_cast<const sockaddr_in6*>(result->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
  }
  ::freeaddrinfo(results);
  return addresses;
}

}  // namespace

// getaddrinfo (/etc/hosts, then DNS, as nsswitch.conf says), waited for kResolveTimeout at
// most (bounded_lookup.hpp).
std::vector<IpAddress> resolve_with_system(std::string_view name) {
  return bounded_lookup<std::vector<IpAddress>>([name = std::string(name)] { return lookup(name); },
                                                kResolveTimeout);
}

}  // namespace sipline::config

// Host names of forward targets and pool members, resolved when a configuration is loaded.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

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

// getaddrinfo (/etc/hosts, then DNS, as nsswitch.conf says) on a thread of its own, waited for
// kResolveTimeout at most: a reload runs on the control thread, which must not stall for the
// resolver's own time-outs (glibc: 5 s per attempt and server). A lookup that outlives the
// wait finishes in the background and is dropped.
std::vector<IpAddress> resolve_with_system(std::string_view name) {
  struct Lookup {
    std::mutex mutex;
    std::condition_variable done_signal;
    bool done = false;
    std::vector<IpAddress> addresses;
  };
  auto shared = std::make_shared<Lookup>();
  std::thread([shared, name = std::string(name)] {
    std::vector<IpAddress> addresses = lookup(name);
    const std::lock_guard lock(shared->mutex);
    shared->addresses = std::move(addresses);
    shared->done = true;
    shared->done_signal.notify_one();
  }).detach();
  std::unique_lock lock(shared->mutex);
  if (!shared->done_signal.wait_for(lock, kResolveTimeout, [&shared] { return shared->done; })) {
    return {};
  }
  return std::move(shared->addresses);
}

}  // namespace sipline::config

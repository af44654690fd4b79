#include "dataplane/dpdk/net_headers.hpp"

#include "dataplane/dpdk/dpdk_sizing.hpp"

namespace sipline::dataplane::dpdk {

std::array<std::uint8_t, 16> solicited_node_group(const std::uint8_t* address) {
  std::array<std::uint8_t, 16> group{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(group.data() + 13, address + 13, 3);
  return group;
}

rte_ether_addr ipv6_multicast_mac(const std::uint8_t* group) {
  rte_ether_addr mac{{0x33, 0x33, group[12], group[13], group[14], group[15]}};
  return mac;
}

bool Interface::ipv6_on_link(const std::uint8_t* address) const {
  if (!has_ipv6) return false;
  if (lb::ipv6_is_link_local(address)) return true;
  const std::size_t whole = ipv6_prefix_length / 8;
  if (std::memcmp(address, ipv6.data(), whole) != 0) return false;
  const unsigned rest = ipv6_prefix_length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address[whole] & mask) == (ipv6[whole] & mask);
}

bool Interface::is_unicast_peer4(rte_be32_t address) const {
  const auto* octets = reinterpret_cast<const std::uint8_t*>(&address);  // network order
  if (!lb::ipv4_is_unicast(octets) || octets[0] == 127) return false;
  const std::uint32_t mask = rte_be_to_cpu_32(ipv4_mask);
  const bool has_broadcast = mask != 0xFFFFFFFFu && mask != 0xFFFFFFFEu;  // not /31, /32
  return !(has_broadcast && (address & ~ipv4_mask) == ~ipv4_mask && ipv4_on_link(address));
}

bool Interface::is_unicast_peer6(const std::uint8_t* address) {
  return lb::ipv6_is_unicast(address) && !lb::ipv6_is_loopback(address);
}

std::optional<IpAddress> Interface::next_hop(const IpAddress& destination) const {
  if (is_ipv6(destination)) {
    const std::uint8_t* address = destination.bytes.data();
    if (!is_unicast_peer6(address)) return std::nullopt;
    if (ipv6_on_link(address)) return destination;
    if (!has_gateway6) return std::nullopt;
    return ipv6_address_at(gateway6.data());
  }
  rte_be32_t address;
  std::memcpy(&address, destination.bytes.data(), 4);
  if (!is_unicast_peer4(address)) return std::nullopt;
  if (ipv4_on_link(address)) return destination;
  if (gateway4 == 0) return std::nullopt;
  return ipv4_address_at(&gateway4);
}

std::optional<IpAddress> Interface::source_for(const IpAddress& destination) const {
  if (is_ipv6(destination)) {
    if (!has_ipv6) return std::nullopt;
    return ipv6_address_at(ipv6.data());
  }
  return ipv4_address_at(&ipv4);
}

InterfaceMade make_interface(const InterfaceSettings& settings, const rte_ether_addr& mac) {
  InterfaceMade made;
  Interface& interface = made.value;
  if (settings.address.address.family != lb::AddressFamily::Ipv4 || settings.address.length > 32 ||
      settings.address.address.is_unspecified()) {
    made.error = "[dataplane] address must be an IPv4 interface address such as 10.99.0.1/24";
    return made;
  }
  if (settings.mtu < kMinMtu || settings.mtu > kMaxMtu) {
    made.error = "[dataplane] mtu must be between " + std::to_string(kMinMtu) + " and " +
                 std::to_string(kMaxMtu);
    return made;
  }
  if (settings.vlan > 4094) {
    made.error = "VLAN id must be 0 (untagged) to 4094";
    return made;
  }
  if (settings.sip_ports.empty() || settings.sip_ports.size() > kMaxSipPorts) {
    made.error = "between 1 and " + std::to_string(kMaxSipPorts) + " SIP ports are served";
    return made;
  }
  interface.mac = mac;
  std::memcpy(&interface.ipv4, settings.address.address.bytes.data(), 4);
  const std::uint32_t mask =
      settings.address.length == 0 ? 0 : ~std::uint32_t{0} << (32 - settings.address.length);
  interface.ipv4_mask = rte_cpu_to_be_32(mask);
  if (settings.gateway) {
    if (settings.gateway->family != lb::AddressFamily::Ipv4) {
      made.error = "[dataplane] gateway must be an IPv4 address";
      return made;
    }
    std::memcpy(&interface.gateway4, settings.gateway->bytes.data(), 4);
    if (!interface.ipv4_on_link(interface.gateway4)) {
      made.error = "[dataplane] gateway " + settings.gateway->to_string() +
                   " is not on the subnet of " + settings.address.to_string();
      return made;
    }
  }
  if (settings.address6) {
    if (settings.address6->address.family != lb::AddressFamily::Ipv6 ||
        settings.address6->length > 128) {
      made.error = "[dataplane] address6 must be an IPv6 interface address such as 2001:db8::1/64";
      return made;
    }
    interface.has_ipv6 = true;
    interface.ipv6 = settings.address6->address.bytes;
    interface.ipv6_prefix_length = settings.address6->length;
    interface.ipv6_solicited_node = solicited_node_group(interface.ipv6.data());
  }
  if (settings.gateway6) {
    const std::uint8_t* gateway = settings.gateway6->bytes.data();
    if (settings.gateway6->family != lb::AddressFamily::Ipv6 || !interface.has_ipv6 ||
        !interface.ipv6_on_link(gateway) || !Interface::is_unicast_peer6(gateway)) {
      made.error =
          "[dataplane] gateway6 must be an IPv6 address on the link of address6 "
          "(inside its prefix, or link-local)";
      return made;
    }
    interface.has_gateway6 = true;
    std::memcpy(interface.gateway6.data(), gateway, 16);
  }
  if (settings.dscp > 63) {
    made.error = "[listen] dscp must be 0..63";
    return made;
  }
  interface.mtu = settings.mtu;
  interface.vlan = settings.vlan;
  interface.dscp = settings.dscp;
  for (const std::uint16_t port : settings.sip_ports) {
    if (port == 0) {
      made.error = "SIP port 0 cannot be served";
      return made;
    }
    interface.sip_ports[interface.sip_port_count++] = port;
  }
  return made;
}

}  // namespace sipline::dataplane::dpdk

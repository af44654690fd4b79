// The address types moved to lb/address.hpp (destinations are lb/'s business, and config/
// may use lb/ types but not the other way round, DESIGN.md §2). These names keep config/
// code and its users working unchanged.
#pragma once

#include "lb/address.hpp"

namespace sipline::config {

using lb::AddressFamily;
using lb::IpAddress;
using lb::IpPrefix;
using lb::parse_ip_address;
using lb::parse_ip_prefix;
using lb::parse_socket_address;
using lb::ParsedSocketAddress;
using lb::SocketAddress;
using lb::SocketAddressError;

}  // namespace sipline::config

// ICMP echo (RFC 792, RFC 4443 §4) and IPv6 neighbour discovery (RFC 4861) for the addresses
// the dataplane owns. Replies are built in place in the received mbuf.
//
// Neighbour discovery writes the neighbour table, so like ARP it runs on the control lcore.
// Only on-link IPv6 destinations are resolved: router discovery (RFC 4861 §6) is not
// implemented, so an off-link IPv6 destination is unroutable.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "dataplane/dpdk/classify.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"

namespace sipline::dataplane::dpdk {

enum class IcmpVerdict : std::uint8_t {
  Reply,     // the frame now holds our reply: transmit it
  Consumed,  // learned from (or nothing to do): free it
  Drop,      // free it and count `drop`
};

struct IcmpResult {
  IcmpVerdict verdict = IcmpVerdict::Drop;
  NetDrop drop = NetDrop::IcmpType;
  bool learned = false;
};

// An echo request to our IPv4 address (classify() kind IcmpEcho) becomes the echo reply:
// addresses swapped, TTL reset, both checksums recomputed (RFC 1122 §3.2.2.6).
IcmpResult answer_icmp_echo(rte_mbuf* frame, const Frame& parsed, const Interface& interface);

// An ICMPv6 frame (classify() kind Icmp6): an echo request to our address is answered; a
// neighbour solicitation for our address is validated (RFC 4861 §7.1.1), its sender learned
// (§7.2.3) and answered with a solicited advertisement carrying our MAC (§7.2.4); a neighbour
// advertisement (§7.1.2) teaches the table the target's MAC.
IcmpResult handle_icmp6(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                        NeighborTable& neighbors, std::uint64_t now);

// A neighbour solicitation for `target` (an IPv6 address) to its solicited-node group, from
// our IPv6 address, with our MAC as source link-layer option; nullptr when the pool is empty
// or we have no IPv6 address.
rte_mbuf* build_neighbor_solicitation(rte_mempool* pool, const Interface& interface,
                                      const IpAddress& target);

// An unsolicited neighbour advertisement of our IPv6 address to all nodes, override flag set,
// our MAC as target link-layer option (RFC 4861 §7.2.6): neighbours that cached another MAC
// for our address (a failover to this host) update it. nullptr without IPv6 or an mbuf.
rte_mbuf* build_unsolicited_advertisement(rte_mempool* pool, const Interface& interface);

}  // namespace sipline::dataplane::dpdk

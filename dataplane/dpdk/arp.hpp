// ARP (RFC 826) for the IPv4 address the dataplane owns: answering who-has for our address,
// learning neighbours, and asking for a next hop's MAC.
//
// Frames are answered in place (the request's mbuf becomes the reply), so answering costs
// no allocation. The handler writes the neighbour table, so it runs on the table's single
// writer, the control lcore; workers hand ARP frames to it and only send requests.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "dataplane/dpdk/classify.hpp"
#include "dataplane/dpdk/neighbor_table.hpp"

namespace sipline::dataplane::dpdk {

enum class ArpVerdict : std::uint8_t {
  Reply,     // the frame now holds our reply: transmit it
  Consumed,  // learned from (or nothing to do): free it
  Drop,      // free it and count `drop`
};

struct ArpResult {
  ArpVerdict verdict = ArpVerdict::Drop;
  NetDrop drop = NetDrop::ArpNotForUs;
  bool learned = false;  // the neighbour table gained or refreshed an entry
};

// RFC 826 "packet reception": a sender already in the table is refreshed (merge); when the
// target is our address the sender is added if new, and a request is answered. `parsed` is
// classify()'s verdict (kind Arp) for `frame`.
ArpResult handle_arp(rte_mbuf* frame, const Frame& parsed, const Interface& interface,
                     NeighborTable& neighbors, std::uint64_t now);

// A broadcast request for `target` (network byte order) from our address; nullptr when the
// pool is empty.
rte_mbuf* build_arp_request(rte_mempool* pool, const Interface& interface, rte_be32_t target);

// RFC 5227 §1.1: ANNOUNCE_NUM announcements, ANNOUNCE_INTERVAL apart.
inline constexpr unsigned kAnnounceNum = 2;
inline constexpr std::uint64_t kAnnounceIntervalMs = 2000;

// An ARP Announcement of our IPv4 address (RFC 5227 §2.3): a broadcast request whose sender
// and target addresses are both ours, so that every host and switch on the link that cached
// another MAC for it (a failover to this host) takes ours. nullptr when the pool is empty.
rte_mbuf* build_arp_announcement(rte_mempool* pool, const Interface& interface);

}  // namespace sipline::dataplane::dpdk

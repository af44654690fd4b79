// The kernel side of shedding in socket mode: while a worker is overloaded, a classic BPF
// socket filter on its sockets drops a share of the new INVITEs and REGISTERs before they
// are queued, so the worker never copies, parses and refuses them (issue #5 §3).
//
// Why: on a worker that cannot keep up, the requests it sheds cost a recvmmsg copy, a parse
// and a decision each (measured at 5x capacity: 59% of the worker's CPU in the kernel, mostly
// receiving). A socket filter runs in the kernel's receive path (softirq), before the
// datagram is queued to the socket: what it drops never reaches the worker's queue or CPU
// time, and the socket's drop counter (SO_MEMINFO SK_MEMINFO_DROPS) counts it.
//
// What it matches: a UDP payload that starts with "INVITE " or "REGISTER " (SIP methods are
// case-sensitive, RFC 3261 §7.1), of which it drops `drop_percent`% at random (the filter's
// RANDOM extension) and passes the rest, so the gate still sees enough of them to answer its
// budget of 503s (RFC 3261 §21.5.4). Everything else passes: responses, ACK, BYE, CANCEL,
// OPTIONS, keep-alives. A filter cannot read the whole header section, so it cannot tell a
// re-INVITE (To tag) from a new one, nor a REGISTER that answers a digest challenge from a
// first one: those are dropped at the same rate while the filter is on, and their senders
// retransmit (Timers A and E). The filter is only on while the worker is overloaded. An
// INVITE to an emergency number passes (RFC 7339 §5.10.1), as the gate admits it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace sipline::dataplane {

// Attaches the filter to the UDP socket `fd` (replacing any filter). A new INVITE whose
// Request-URI is sip: or tel: one of `exempt_numbers` ([limits] emergency_numbers, as config/
// checks them: at most 16 of at most 15 octets) is never dropped, nor, when there are such
// numbers, one whose Request-URI starts "urn:service:sos" (sip/service_urn.hpp). False with
// errno set when the kernel refuses it.
bool attach_shed_filter(int fd, std::uint32_t drop_percent,
                        std::span<const std::string> exempt_numbers = {});

// Removes the filter; a socket without one is fine. False with errno set on failure.
bool detach_shed_filter(int fd);

}  // namespace sipline::dataplane

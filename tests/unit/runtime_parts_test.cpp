// The runtime's small parts: counters lines, peer addresses, packet pools, the waker and the
// kernel socket port (on loopback).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <string>

#include "dataplane/packet.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/socket_port.hpp"
#include "dataplane/stats.hpp"
#include "dataplane/waker.hpp"
#include "tests/unit/loopback_socket.hpp"

namespace sipline::dataplane {
namespace {

TEST(Counters, WorkerLineStartsWithTheFieldsTheEndToEndTestsParse) {
  WorkerCounters counters;
  counters.received.add(7);
  counters.forwarded_requests.add(3);
  counters.forwarded_responses.add(2);
  counters.count_local(302);
  counters.count_local(404);
  counters.count_local(407);
  counters.count_drop(DropReason::Parse);
  counters.count_drop(DropReason::RingFull);
  counters.handed_off.add(4);
  counters.handed_in.add(5);
  const std::string line = format_worker_counters(1, counters);
  const std::string fixed =
      "worker 1: received=7 forwarded=5 local_2xx=0 local_3xx=1 local_4xx=2 local_5xx=0 "
      "local_6xx=0 dropped=2 handed_off=4 handed_in=5 ";
  EXPECT_EQ(line.substr(0, fixed.size()), fixed);
  EXPECT_NE(line.find(" drop_parse=1 "), std::string::npos) << line;
  EXPECT_NE(line.find(" drop_ring_full=1 "), std::string::npos) << line;
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line
}

TEST(Counters, TotalSumsEveryWorker) {
  std::array<WorkerCounters, 2> workers;
  workers[0].received.add(10);
  workers[1].received.add(5);
  workers[0].count_drop(DropReason::SendFailed);
  workers[1].count_drop(DropReason::NotOurs);
  const std::string line = format_total_counters(workers);
  EXPECT_EQ(line.substr(0, 35), "total: received=15 forwarded=0 loca");
  EXPECT_NE(line.find(" dropped=2 "), std::string::npos) << line;
}

TEST(Counters, BlocksDoNotShareCacheLines) {
  EXPECT_EQ(alignof(WorkerCounters), kCacheLine);
  EXPECT_EQ(sizeof(WorkerCounters) % kCacheLine, 0u);
}

TEST(PeerAddress, ParsesAndFormatsIpv4AndIpv6) {
  const std::optional<PeerAddress> v4 = peer_from_text("192.0.2.1:5060");
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->is_ipv6());
  EXPECT_EQ(v4->port(), 5060);
  EXPECT_EQ(format_peer(*v4).view(), "192.0.2.1:5060");
  EXPECT_EQ(format_peer_host(*v4).view(), "192.0.2.1");

  const std::optional<PeerAddress> v6 = peer_from_text("[2001:db8::1]:5070");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_ipv6());
  EXPECT_EQ(format_peer(*v6).view(), "[2001:db8::1]:5070");
  EXPECT_TRUE(same_peer(*v6, *peer_from_host("[2001:db8::1]", 5070)));
  EXPECT_TRUE(same_peer(*v6, *peer_from_ip("2001:db8::1", true, 5070)));
  EXPECT_FALSE(same_peer(*v6, *peer_from_host("[2001:db8::1]", 5071)));
  EXPECT_EQ(format_peer(with_port(*v4, 6000)).view(), "192.0.2.1:6000");
}

TEST(PeerAddress, RefusesNamesAndPortZero) {
  EXPECT_FALSE(peer_from_host("example.com", 5060));  // no DNS on a worker
  EXPECT_FALSE(peer_from_host("192.0.2.1", 0));
  EXPECT_FALSE(peer_from_text("192.0.2.1"));
  EXPECT_FALSE(peer_from_text("192.0.2.1:99999"));
  EXPECT_FALSE(peer_from_host("[2001:db8::1", 5060));
}

// The socket API's form is built only at the socket calls; both ways keep address and port.
TEST(PeerAddress, SocketNameRoundTripsBothFamilies) {
  for (const char* text : {"192.0.2.1:5060", "[2001:db8::1]:5070"}) {
    const PeerAddress peer = *peer_from_text(text);
    const SocketName name = socket_name(peer);
    EXPECT_EQ(name.length, peer.is_ipv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) << text;
    EXPECT_EQ(name.storage.ss_family, peer.is_ipv6() ? AF_INET6 : AF_INET) << text;
    const std::optional<PeerAddress> back = peer_from_sockaddr(name.storage, name.length);
    ASSERT_TRUE(back) << text;
    EXPECT_TRUE(same_peer(*back, peer)) << text;
    EXPECT_EQ(format_peer(*back).view(), text);
  }
  sockaddr_storage unix_name{};
  unix_name.ss_family = AF_UNIX;
  EXPECT_FALSE(peer_from_sockaddr(unix_name, sizeof unix_name));
  sockaddr_storage short_name{};
  short_name.ss_family = AF_INET6;
  EXPECT_FALSE(peer_from_sockaddr(short_name, sizeof(sockaddr_in)));  // too short for IPv6
  EXPECT_EQ(socket_name(PeerAddress{}).length, 0u);
  EXPECT_FALSE(same_peer(PeerAddress{}, PeerAddress{}));
}

// The IPv4 literal parser and formatter workers use per message (no inet_pton/inet_ntop):
// exactly inet_pton(AF_INET)'s dotted quads, and the shortest text back.
TEST(PeerAddress, Ipv4LiteralsAsInetPtonAcceptsThem) {
  for (const char* text : {"0.0.0.0", "10.99.0.1", "255.255.255.255", "1.20.199.7"}) {
    const std::optional<PeerAddress> peer = peer_from_ip(text, false, 5060);
    ASSERT_TRUE(peer) << text;
    EXPECT_EQ(format_peer_host(*peer).view(), text);
    in_addr expected{};
    ASSERT_EQ(inet_pton(AF_INET, text, &expected), 1);
    const SocketName name = socket_name(*peer);
    EXPECT_EQ(reinterpret_cast<const sockaddr_in&>(name.storage).sin_addr.s_addr, expected.s_addr);
  }
  for (const char* text : {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3",
                           "1.2.3.4 ", "1.2.3.0004", "a.b.c.d", "1.2.3.-4"}) {
    EXPECT_FALSE(peer_from_ip(text, false, 5060)) << '"' << text << '"';
    in_addr ignored{};
    EXPECT_NE(inet_pton(AF_INET, text, &ignored), 1) << '"' << text << '"';
  }
}

TEST(PacketPool, HandsOutEveryPacketOnceAndTakesThemBack) {
  PacketPool pool(3, 4);
  EXPECT_EQ(pool.available(), 4u);
  std::array<Packet*, 8> packets{};
  ASSERT_EQ(pool.allocate_burst(packets), 4u);
  EXPECT_EQ(pool.allocate(), nullptr);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(packets[i]->home, 3);
    EXPECT_TRUE(pool.owns(packets[i]));
    for (std::size_t j = 0; j < i; ++j)
      EXPECT_NE(packets[i], packets[j]);
  }
  pool.release_burst(std::span(packets.data(), 4));
  EXPECT_EQ(pool.available(), 4u);
}

TEST(PacketPoolDeathTest, RefusesAPacketItDoesNotOwn) {
  PacketPool first(0, 2);
  PacketPool second(1, 2);
  Packet* packet = first.allocate();
  EXPECT_DEATH(second.release(packet), "does not own it");
}

TEST(Waker, WakesOnlyASleeper) {
  Waker waker;
  pollfd fd{waker.fd(), POLLIN, 0};
  waker.wake();  // nobody sleeps: no syscall, nothing to read
  EXPECT_EQ(::poll(&fd, 1, 0), 0);
  waker.announce_sleep();
  waker.wake();
  ASSERT_EQ(::poll(&fd, 1, 0), 1);
  waker.woke(true);
  EXPECT_EQ(::poll(&fd, 1, 0), 0);
  waker.wake();  // awake again: no signal
  EXPECT_EQ(::poll(&fd, 1, 0), 0);
}

using test::LoopbackSocket;

std::uint16_t free_port() {
  const LoopbackSocket probe;
  return probe.port;
}

TEST(SocketPort, ReceivesABurstWithSourcesAndSendsABatch) {
  const std::uint16_t port = free_port();
  const config::SocketAddress listen{*config::parse_ip_address("127.0.0.1"), port};
  SocketPort::Opened opened = SocketPort::open(std::span(&listen, 1));
  ASSERT_TRUE(opened.port) << opened.error;
  SocketPort& socket_port = *opened.port;

  const LoopbackSocket client;
  client.send_to(port, "first");
  client.send_to(port, "second");
  pollfd ready{socket_port.fd(0), POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 2000), 1);

  PacketPool pool(0, 4);
  std::array<Packet*, 4> packets{};
  ASSERT_EQ(pool.allocate_burst(packets), 4u);
  const std::size_t received = socket_port.receive(0, packets);
  ASSERT_EQ(received, 2u);
  EXPECT_EQ(packets[0]->bytes(), "first");
  EXPECT_EQ(packets[1]->bytes(), "second");
  EXPECT_EQ(format_peer(packets[0]->peer).view(), "127.0.0.1:" + std::to_string(client.port));
  EXPECT_EQ(packets[1]->socket, 0);
  // Nothing more waiting: a non-blocking receive returns at once with nothing.
  EXPECT_EQ(socket_port.receive(0, packets), 0u);

  const PeerAddress back = packets[0]->peer;
  const std::array<OutboundDatagram, 2> datagrams = {OutboundDatagram{"one", 3, &back},
                                                     OutboundDatagram{"two", 3, &back}};
  const SocketPort::SendResult result = socket_port.send(0, datagrams);
  EXPECT_EQ(result.accepted, 2u);
  EXPECT_TRUE(result.refused.none());
  EXPECT_EQ(client.receive(), "one");
  EXPECT_EQ(client.receive(), "two");
  pool.release_burst(packets);
}

// The TOS (IPv4) or Traffic Class (IPv6) octet of the next datagram on `fd`, which asked for
// it with IP_RECVTOS / IPV6_RECVTCLASS; -1 when none came within 2 s or it carried none.
int next_traffic_class(int fd) {
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, 2000) != 1) return -1;
  char data[64];
  iovec io{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  if (::recvmsg(fd, &message, 0) < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) return *CMSG_DATA(c);
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int value = 0;
      std::memcpy(&value, CMSG_DATA(c), sizeof value);
      return value;
    }
  }
  return -1;
}

// [listen] dscp: every datagram a SocketPort sends carries it in the upper six bits of the
// TOS / Traffic Class octet (RFC 2474), over IPv4 and IPv6; without it, 0.
TEST(SocketPort, MarksWhatItSendsWithTheConfiguredDscp) {
  for (const bool ipv6 : {false, true}) {
    for (const std::uint8_t dscp : {std::uint8_t{26}, std::uint8_t{0}}) {
      const char* const host = ipv6 ? "::1" : "127.0.0.1";
      const int receiver = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ASSERT_GE(receiver, 0);
      const int one = 1;
      ASSERT_EQ(ipv6 ? ::setsockopt(receiver, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one)
                     : ::setsockopt(receiver, IPPROTO_IP, IP_RECVTOS, &one, sizeof one),
                0);
      const SocketName any = socket_name(*peer_from_ip(host, ipv6, 1));
      sockaddr_storage bound = any.storage;
      // Port 0: the kernel picks one.
      if (ipv6) {
        reinterpret_cast<sockaddr_in6&>(bound).sin6_port = 0;
      } else {
        reinterpret_cast<sockaddr_in&>(bound).sin_port = 0;
      }
      ASSERT_EQ(::bind(receiver, reinterpret_cast<sockaddr*>(&bound), any.length), 0);
      socklen_t length = sizeof bound;
      ASSERT_EQ(::getsockname(receiver, reinterpret_cast<sockaddr*>(&bound), &length), 0);
      const std::uint16_t receiver_port =
          ntohs(ipv6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                     : reinterpret_cast<sockaddr_in&>(bound).sin_port);

      const config::SocketAddress listen{*config::parse_ip_address(host), free_port()};
      SocketPort::Opened opened = SocketPort::open(std::span(&listen, 1), dscp);
      ASSERT_TRUE(opened.port) << opened.error;
      const PeerAddress to = *peer_from_ip(host, ipv6, receiver_port);
      const std::array<OutboundDatagram, 1> datagram = {OutboundDatagram{"marked", 6, &to}};
      EXPECT_EQ(opened.port->send(0, datagram).accepted, 1u);
      EXPECT_EQ(next_traffic_class(receiver), dscp << 2) << host << " dscp " << int(dscp);
      ::close(receiver);
    }
  }
}

// Counts what arrives on `port`, by the first line's first word, until 100 ms pass with
// nothing new.
// What arrived, counted by each datagram's first word (`whole_line`: by its first line).
std::map<std::string, int> drain_by_method(SocketPort& port, PacketPool& pool,
                                           bool whole_line = false) {
  std::map<std::string, int> seen;
  std::array<Packet*, 16> packets{};
  pollfd ready{port.fd(0), POLLIN, 0};
  while (::poll(&ready, 1, 100) == 1) {
    const std::size_t wanted = pool.allocate_burst(packets);
    const std::size_t received = port.receive(0, std::span(packets.data(), wanted));
    for (std::size_t i = 0; i < received; ++i) {
      const std::string_view bytes = packets[i]->bytes();
      ++seen[std::string(bytes.substr(0, bytes.find_first_of(whole_line ? "\r" : " \r")))];
    }
    pool.release_burst(std::span(packets.data(), wanted));
  }
  return seen;
}

// While a worker is overloaded its sockets drop a share of the new INVITEs and REGISTERs in
// the kernel (shed_filter.hpp): only datagrams that start with "INVITE " or "REGISTER ", at
// about the share asked for, counted as the socket's drops; everything else arrives;
// detached, they arrive again.
// A socket port on a loopback port of its own, and a client to send to it.
class ShedFilterTest : public ::testing::Test {
 protected:
  ShedFilterTest()
      : port(free_port()),
        listen{*config::parse_ip_address("127.0.0.1"), port},
        opened(SocketPort::open(std::span(&listen, 1))) {}
  void SetUp() override { ASSERT_TRUE(opened.port) << opened.error; }

  const std::uint16_t port;
  const config::SocketAddress listen;
  SocketPort::Opened opened;
  PacketPool pool{0, 16};
  const LoopbackSocket client;
};

TEST_F(ShedFilterTest, DropsAShareOfInvitesAndRegistersOnly) {
  SocketPort& socket_port = *opened.port;
  const std::uint32_t drops_before = socket_port.receive_queue(0).drops;

  ASSERT_TRUE(socket_port.set_shed_filter(75));
  std::map<std::string, int> seen;
  for (int round = 0; round < 10; ++round) {  // in rounds: the receive buffer never fills
    for (int i = 0; i < 40; ++i) {
      client.send_to(port, "INVITE sip:7000@sipline.test SIP/2.0\r\nCall-ID: x\r\n\r\n");
      client.send_to(port, "REGISTER sip:sipline.test SIP/2.0\r\nCall-ID: y\r\n\r\n");
    }
    for (const char* other : {"BYE sip:7000@sipline.test SIP/2.0\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n",
                              "INVITEX sip:a SIP/2.0\r\n\r\n", "invite sip:a SIP/2.0\r\n\r\n",
                              "INVITE", "REGISTERX sip:a SIP/2.0\r\n\r\n", "REGISTER",
                              "OPTIONS sip:a SIP/2.0\r\n\r\n", "\r\n\r\n"}) {
      client.send_to(port, other);
    }
    for (const auto& [method, count] : drain_by_method(socket_port, pool))
      seen[method] += count;
  }
  // 400 of each, 75% dropped at random: 100 expected, sd 8.7; the bounds are 6 sd away. The
  // 10 bare "INVITE" and "REGISTER" datagrams are too short to match and always arrive.
  for (const char* method : {"INVITE", "REGISTER"}) {
    EXPECT_GE(seen[method], 10 + 40) << method;
    EXPECT_LE(seen[method], 10 + 160) << method;
  }
  for (const char* other : {"BYE", "SIP/2.0", "INVITEX", "invite", "REGISTERX", "OPTIONS", ""})
    EXPECT_EQ(seen[other], 10) << other;  // "": keep-alives
  EXPECT_EQ(socket_port.receive_queue(0).drops - drops_before,
            static_cast<std::uint32_t>(2 * (400 + 10) - seen["INVITE"] - seen["REGISTER"]));

  ASSERT_TRUE(socket_port.set_shed_filter(0));
  for (int i = 0; i < 20; ++i) {
    client.send_to(port, "INVITE sip:7000@sipline.test SIP/2.0\r\n\r\n");
    client.send_to(port, "REGISTER sip:sipline.test SIP/2.0\r\n\r\n");
  }
  std::map<std::string, int> after = drain_by_method(socket_port, pool);
  EXPECT_EQ(after["INVITE"], 20);
  EXPECT_EQ(after["REGISTER"], 20);
  ASSERT_TRUE(socket_port.set_shed_filter(0));  // detaching twice is fine
}

// RFC 7339 §5.10.1: a new INVITE to an emergency number ([limits] emergency_numbers) is never
// dropped by the filter, whatever its share: sip: and tel: URIs, with the user's parameters,
// and the emergency service URN (RFC 5031); a longer or shorter number, another scheme or
// service, or another method is.
TEST_F(ShedFilterTest, NeverDropsAnInviteToAnEmergencyNumber) {
  SocketPort& socket_port = *opened.port;
  const std::vector<std::string> numbers{"112", "+44999"};
  ASSERT_TRUE(socket_port.set_shed_filter(100, numbers));
  const std::vector<std::string> passing{
      "INVITE sip:112@sipline.test SIP/2.0",
      "INVITE sip:112;phone-context=+44@sipline.test;user=phone SIP/2.0",
      "INVITE tel:112 SIP/2.0",
      "INVITE tel:112;phone-context=+44 SIP/2.0",
      "INVITE sip:+44999@sipline.test SIP/2.0",
      "INVITE urn:service:sos SIP/2.0",
      "INVITE urn:service:sos.fire SIP/2.0",
  };
  const std::vector<std::string> dropped{
      "INVITE sip:1120@sipline.test SIP/2.0",  "INVITE sip:11@sipline.test SIP/2.0",
      "INVITE sip:+4499@sipline.test SIP/2.0", "INVITE tel:1120 SIP/2.0",
      "INVITE sips:112@sipline.test SIP/2.0",  "INVITE sip:7000@sipline.test SIP/2.0",
      "REGISTER sip:112@sipline.test SIP/2.0", "INVITE sip:112",
      "INVITE urn:service:counseling SIP/2.0", "INVITE urn:service:so SIP/2.0",
  };
  for (const std::vector<std::string>* lines : {&passing, &dropped}) {
    for (const std::string& line : *lines)
      client.send_to(port, line + "\r\nCall-ID: e\r\n\r\n");
  }
  client.send_to(port, "INVITE sip:112");  // too short to be an emergency call's INVITE
  const std::map<std::string, int> seen = drain_by_method(socket_port, pool, true);
  for (const std::string& line : passing)
    EXPECT_EQ(seen.count(line), 1u) << line;
  for (const std::string& line : dropped)
    EXPECT_EQ(seen.count(line), 0u) << line;
  EXPECT_EQ(seen.size(), passing.size()) << "nothing else arrived";
  ASSERT_TRUE(socket_port.set_shed_filter(0));
}

TEST(SocketPort, TwoPortsShareOneAddress) {
  const std::uint16_t port = free_port();
  const config::SocketAddress listen{*config::parse_ip_address("127.0.0.1"), port};
  SocketPort::Opened first = SocketPort::open(std::span(&listen, 1));
  SocketPort::Opened second = SocketPort::open(std::span(&listen, 1));
  EXPECT_TRUE(first.port) << first.error;
  EXPECT_TRUE(second.port) << second.error;  // SO_REUSEPORT: one socket per worker
}

TEST(SocketPort, ReportsAnAddressThatCannotBeBound) {
  const config::SocketAddress listen{*config::parse_ip_address("192.0.2.1"), 5060};
  SocketPort::Opened opened = SocketPort::open(std::span(&listen, 1));
  EXPECT_FALSE(opened.port);
  EXPECT_EQ(opened.error.substr(0, 20), "bind 192.0.2.1:5060:");
}

}  // namespace
}  // namespace sipline::dataplane

// Two workers and the control thread driven step by step on one thread, with real loopback
// sockets: Call-ID hand-offs between workers, packets going home, REGISTER through the
// control thread and its answer sent by a worker.
#include "dataplane/worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/fabric.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "sip/call_id_scan.hpp"
#include "tests/unit/loopback_socket.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

using test::LoopbackSocket;

std::string invite(std::uint16_t client_port, int call) {
  const std::string via = "127.0.0.1:" + std::to_string(client_port);
  return "INVITE sip:7000@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP " +
         via + ";branch=z9hG4bK-call" + std::to_string(call) +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@127.0.0.1>;tag=f" +
         std::to_string(call) +
         "\r\n"
         "To: <sip:7000@127.0.0.1>\r\n"
         "Call-ID: call-" +
         std::to_string(call) +
         "@test\r\n"
         "CSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string register_request(std::uint16_t client_port) {
  const std::string via = "127.0.0.1:" + std::to_string(client_port);
  return "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP " +
         via +
         ";branch=z9hG4bK-reg1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1002@127.0.0.1>;tag=r1\r\n"
         "To: <sip:1002@127.0.0.1>\r\n"
         "Call-ID: reg-1@test\r\n"
         "CSeq: 1 REGISTER\r\n"
         "Contact: <sip:1002@" +
         via +
         ">\r\n"
         "Expires: 600\r\n"
         "Content-Length: 0\r\n\r\n";
}

class WorkerTest : public ::testing::Test {
 protected:
  explicit WorkerTest(unsigned dispatchers = 0, const std::string& extra_config = {})
      : location_(2), fabric_(2, 64), counters_(new WorkerCounters[2]) {
    const std::string text = "[listen]\nudp = [\"127.0.0.1:" + std::to_string(proxy_port()) +
                             "\"]\n"
                             "[dataplane]\nworkers = 2\ndispatchers = " +
                             std::to_string(dispatchers) +
                             "\n"
                             "[domain]\nnames = [\"127.0.0.1\"]\n"
                             "[registrar]\nstore = \"memory\"\nauth = false\n"
                             "[[users]]\nuser = \"1002\"\npassword = \"pw\"\n"
                             "[[routes]]\nname = \"out\"\naction = \"forward\"\n"
                             "target = \"sip:127.0.0.1:" +
                             std::to_string(next_hop_.port) + "\"\n" + extra_config;
    const config::LoadResult loaded = config::load_config_text(text, "worker_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = PipelineContext::create(loaded.config, &location_);
    shared_ = WorkerShared{&fabric_, counters_.get(), context_.get(), &location_, &stop_};
    for (std::size_t i = 0; i < 2; ++i) {
      SocketPort::Opened port = SocketPort::open(loaded.config->listen.udp);
      EXPECT_TRUE(port.port) << port.error;
      worker_sockets_.push_back({port.port->fd(0)});
      workers_.push_back(std::make_unique<Worker>(i, shared_, std::move(port.port)));
    }
    store_ = std::make_unique<AsyncStore>(std::make_unique<MemoryStore>());
    control_ = std::make_unique<ControlThread>(
        ControlShared{&fabric_, std::span(counters_.get(), 2), context_.get(), &location_,
                      store_.get(), nullptr, worker_sockets_});
  }

  std::uint16_t proxy_port() {
    if (proxy_port_ == 0) {
      const LoopbackSocket probe;
      proxy_port_ = probe.port;
    }
    return proxy_port_;
  }

  // Lets the kernel deliver, then runs every thread's step a few times.
  void run_steps(int rounds) {
    for (int round = 0; round < rounds; ++round) {
      ::usleep(1000);
      for (auto& worker : workers_)
        worker->poll_once(kNow);
      control_->handle_registers(kNow);
    }
  }

  // Sends `calls` INVITEs from `client`, lets the workers run, and returns what the next hop
  // received.
  std::vector<std::string> forward_calls(const LoopbackSocket& client, int calls) {
    for (int call = 0; call < calls; ++call)
      client.send_to(proxy_port(), invite(client.port, call));
    run_steps(20);
    std::vector<std::string> forwarded;
    for (std::string message = next_hop_.try_receive(); !message.empty();
         message = next_hop_.try_receive()) {
      forwarded.push_back(message);
    }
    return forwarded;
  }

  std::uint64_t sum(Counter WorkerCounters::*field) const {
    return (counters_[0].*field).read() + (counters_[1].*field).read();
  }

  LoopbackSocket next_hop_;
  std::uint16_t proxy_port_ = 0;
  LocationTable location_;
  Fabric fabric_;
  std::unique_ptr<WorkerCounters[]> counters_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<PipelineContext> context_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::vector<int>> worker_sockets_;  // what the runtime gives the control thread
  std::unique_ptr<AsyncStore> store_;
  std::unique_ptr<ControlThread> control_;
};

TEST_F(WorkerTest, EveryCallIsForwardedOnceByItsOwnerAndPacketsGoHome) {
  const LoopbackSocket client;
  constexpr int kCalls = 40;
  const std::vector<std::string> forwarded = forward_calls(client, kCalls);
  ASSERT_EQ(forwarded.size(), static_cast<std::size_t>(kCalls));
  const std::string expected = "INVITE sip:7000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" +
                               std::to_string(proxy_port()) + ";branch=z9hG4bK-sl";
  for (const std::string& message : forwarded) {
    EXPECT_EQ(message.substr(0, expected.size()), expected);
  }
  EXPECT_EQ(sum(&WorkerCounters::received), static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(sum(&WorkerCounters::forwarded_requests), static_cast<std::uint64_t>(kCalls));
  // One client socket: the kernel gives every datagram to one worker, which hands the
  // other worker's calls over (40 Call-IDs: both own some).
  EXPECT_GT(sum(&WorkerCounters::handed_off), 0u);
  EXPECT_EQ(counters_[0].handed_off.read(), counters_[1].handed_in.read());
  EXPECT_EQ(counters_[1].handed_off.read(), counters_[0].handed_in.read());
  // Each call was processed by the worker that owns its Call-ID.
  for (std::size_t w = 0; w < 2; ++w) {
    std::uint64_t owned = 0;
    for (int call = 0; call < kCalls; ++call) {
      owned += sip::owner_of("call-" + std::to_string(call) + "@test", 2) == w;
    }
    EXPECT_EQ(counters_[w].forwarded_requests.read(), owned) << "worker " << w;
  }
  // Every packet came back to the pool it was taken from.
  EXPECT_EQ(workers_[0]->pool().available(), kPacketsPerWorker);
  EXPECT_EQ(workers_[1]->pool().available(), kPacketsPerWorker);
}

// dataplane.dispatchers = 1: worker 0 owns no call; whichever worker the kernel gives a
// datagram to, worker 1 forwards every call.
class DispatcherWorkerTest : public WorkerTest {
 protected:
  DispatcherWorkerTest() : WorkerTest(1) {}
};

TEST_F(DispatcherWorkerTest, EveryCallIsForwardedByTheWorkersThatOwnCalls) {
  const LoopbackSocket client;
  constexpr int kCalls = 40;
  EXPECT_EQ(forward_calls(client, kCalls).size(), static_cast<std::size_t>(kCalls));
  EXPECT_EQ(counters_[0].forwarded_requests.read(), 0u);
  EXPECT_EQ(counters_[1].forwarded_requests.read(), static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(counters_[0].handed_off.read(), counters_[0].received.read());
  EXPECT_EQ(workers_[0]->pool().available(), kPacketsPerWorker);
  EXPECT_EQ(workers_[1]->pool().available(), kPacketsPerWorker);
}

// A worker that falls behind (full receive batches for busy_ms of its CPU time) attaches the
// INVITE socket filter: the INVITEs that arrive then never reach it (every one, at 100%),
// other requests still do, and once it has drained its socket the filter comes off and the
// kernel's drops are counted.
class ShedFilterWorkerTest : public WorkerTest {
 protected:
  ShedFilterWorkerTest() : WorkerTest(0, "[overload]\nbusy_ms = 1\nshed_filter_percent = 100\n") {}

  void poll_all() {
    for (auto& worker : workers_)
      worker->poll_once(kNow);
  }
};

TEST_F(ShedFilterWorkerTest, AnOverloadedWorkerLetsTheKernelDropNewInvitesAndRegisters) {
  const LoopbackSocket client;
  int call = 0;
  // What the next hop got, read as it comes (its socket buffer would not hold it all).
  bool bye_forwarded = false;
  const auto read_next_hop = [&] {
    for (std::string message = next_hop_.try_receive(); !message.empty();
         message = next_hop_.try_receive()) {
      bye_forwarded |= message.starts_with("BYE ");
    }
  };
  // Keep the socket a little ahead of the workers (34 sent per 32-datagram batch read), so
  // every batch is full until the gate trips; bounded well below the socket buffer.
  for (int round = 0; round < 60 && sum(&WorkerCounters::shed_filter_on) == 0; ++round) {
    for (int i = 0; i < 34; ++i)
      client.send_to(proxy_port(), invite(client.port, call++));
    poll_all();
    read_next_hop();
  }
  ASSERT_EQ(sum(&WorkerCounters::shed_filter_on), 1u) << "no worker became overloaded";
  // The filter is on until a worker's batch comes back short: nothing polls meanwhile.
  for (int i = 0; i < 50; ++i)
    client.send_to(proxy_port(), invite(client.port, 10000 + i));
  client.send_to(proxy_port(), register_request(client.port));
  std::string bye = invite(client.port, 99999);  // an in-dialog request passes
  bye.replace(0, 6, "BYE");
  bye.replace(bye.find("CSeq: 1 INVITE"), 14, "CSeq: 2 BYE");
  bye.replace(bye.find("To: <sip:7000@127.0.0.1>"), 24, "To: <sip:7000@127.0.0.1>;tag=t");
  client.send_to(proxy_port(), bye);
  for (int i = 0; i < 100 && sum(&WorkerCounters::kernel_drops) == 0; ++i) {
    ::usleep(1000);
    poll_all();
    control_->handle_registers(kNow);
    read_next_hop();
  }
  for (int i = 0; i < 20 && !bye_forwarded; ++i) {  // the BYE may still be on its way
    ::usleep(1000);
    poll_all();
    read_next_hop();
  }
  EXPECT_EQ(sum(&WorkerCounters::kernel_drops), 51u);  // the 50 INVITEs and the REGISTER
  EXPECT_EQ(sum(&WorkerCounters::to_control), 0u);
  EXPECT_TRUE(bye_forwarded);
  // Off again: every new INVITE arrives.
  const std::uint64_t received = sum(&WorkerCounters::received);
  for (int i = 0; i < 10; ++i)
    client.send_to(proxy_port(), invite(client.port, 20000 + i));
  run_steps(5);
  EXPECT_EQ(sum(&WorkerCounters::received) - received, 10u);
  EXPECT_EQ(sum(&WorkerCounters::shed_filter_on), 1u);
}

// The control thread answers a REGISTER itself, on the worker socket it came in on: the
// answer leaves from the proxy's address and no worker wakes up to send it.
TEST_F(WorkerTest, RegisterIsAnsweredByTheControlThreadOnTheSocketItCameIn) {
  const LoopbackSocket phone;
  phone.send_to(proxy_port(), register_request(phone.port));
  run_steps(10);

  const LoopbackSocket::Received answer = phone.try_receive_from();
  ASSERT_FALSE(answer.bytes.empty());
  EXPECT_EQ(answer.bytes.substr(0, answer.bytes.find("\r\n")), "SIP/2.0 200 OK");
  EXPECT_NE(answer.bytes.find("Contact: <sip:1002@127.0.0.1:" + std::to_string(phone.port) +
                              ">;expires=600\r\n"),
            std::string::npos)
      << answer.bytes;
  EXPECT_EQ(answer.from_port, proxy_port());
  EXPECT_TRUE(phone.try_receive().empty());  // once
  EXPECT_EQ(sum(&WorkerCounters::to_control), 1u);
  EXPECT_EQ(control_->counters().registers.read(), 1u);
  EXPECT_EQ(control_->counters().responses.read(), 1u);
  EXPECT_EQ(control_->counters().dropped_send_failed.read(), 0u);
  // The binding is in the table the workers read, with the address the REGISTER came from.
  const ContactsView contacts = location_.lookup("1002");
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].uri, "sip:1002@127.0.0.1:" + std::to_string(phone.port));
  EXPECT_EQ(contacts[0].received, "127.0.0.1:" + std::to_string(phone.port));
  EXPECT_EQ(contacts[0].expires_at, kNow + 600);
  // The store got the same binding.
  store_->drain();
  const LoadResult stored = store_->load_all(kNow);
  ASSERT_EQ(stored.bindings.size(), 1u);
  EXPECT_EQ(stored.bindings[0].aor, "1002");
  // The REGISTER's packet went home.
  run_steps(2);
  EXPECT_EQ(workers_[0]->pool().available(), kPacketsPerWorker);
  EXPECT_EQ(workers_[1]->pool().available(), kPacketsPerWorker);
  // The timer expires the binding once its time has come.
  control_->tick(kNow + 601);
  EXPECT_TRUE(location_.lookup("1002").empty());
}

}  // namespace
}  // namespace sipline::dataplane

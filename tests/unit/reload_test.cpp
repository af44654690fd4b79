// Configuration reload (SIGHUP; dataplane/reload.hpp, context_exchange.hpp): two workers and
// the control thread driven step by step with real loopback sockets, the configuration file
// rewritten between steps. What a reload may change takes effect at the workers' next
// iteration; a file that no longer loads, or that changes what is bound at start, is refused
// and the running configuration stays.
#include "dataplane/reload.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "dataplane/context_exchange.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/fabric.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/source_guard.hpp"
#include "dataplane/worker.hpp"
#include "tests/unit/loopback_socket.hpp"

namespace sipline::dataplane {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

using test::LoopbackSocket;

std::string invite(std::uint16_t client_port, const std::string& user, int call) {
  return "INVITE sip:" + user + "@127.0.0.1 SIP/2.0\r\n" +
         "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(client_port) + ";branch=z9hG4bK-r" +
         std::to_string(call) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@127.0.0.1>;tag=f1\r\n"
         "To: <sip:" +
         user + "@127.0.0.1>\r\n" + "Call-ID: reload-" + std::to_string(call) + "@test\r\n" +
         "CSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n";
}

// The 200 a next hop answers to what it received (the Vias copied, a To tag added).
std::string answer_200(const std::string& request) {
  const std::size_t line_end = request.find("\r\n");
  std::string answer = "SIP/2.0 200 OK" + request.substr(line_end);
  const std::size_t to = answer.find("\r\nTo: ");
  answer.insert(answer.find("\r\n", to + 2), ";tag=callee");
  return answer;
}

class ReloadTest : public ::testing::Test {
 protected:
  ReloadTest() : location_(2), fabric_(2, 64), counters_(new WorkerCounters[2]) {
    path_ = ::testing::TempDir() + "reload_test_" + std::to_string(::getpid()) + ".toml";
    write_config(route_to(first_hop_.port));
    const config::LoadResult loaded = load(path_);
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    std::unique_ptr<PipelineContext> created = PipelineContext::create(loaded.config, &location_);
    PipelineContext* const context = created.get();
    contexts_ = std::make_unique<ContextExchange>(std::move(created), 2);
    shared_ = WorkerShared{&fabric_, counters_.get(), context, &location_, &stop_, contexts_.get()};
    for (std::size_t i = 0; i < 2; ++i) {
      SocketPort::Opened port = SocketPort::open(loaded.config->listen.udp);
      EXPECT_TRUE(port.port) << port.error;
      worker_sockets_.push_back({port.port->fd(0)});
      workers_.push_back(std::make_unique<Worker>(i, shared_, std::move(port.port)));
    }
    store_ = std::make_unique<AsyncStore>(std::make_unique<MemoryStore>());
    ControlShared control{&fabric_,        std::span(counters_.get(), 2),
                          context,         &location_,
                          store_.get(),    nullptr,
                          worker_sockets_, &context->pools,
                          contexts_.get()};
    control.load_config = [this](const std::string& path) { return load(path); };
    // The workers are polled on this thread, after reload() returns: it must not wait for them.
    control.reload_adoption_wait = std::chrono::milliseconds(0);
    control_shared_ = control;
    control_ = std::make_unique<ControlThread>(control);
  }

  // A control thread whose reload waits up to `wait` for the workers to adopt the new context.
  void wait_for_adoption(std::chrono::milliseconds wait) {
    control_.reset();
    control_shared_.reload_adoption_wait = wait;
    control_ = std::make_unique<ControlThread>(control_shared_);
  }

  // The file with the test's resolvers: "sbc.carrier.test" is 127.0.0.1, and the domain
  // "carrier.test" has one SRV record, to it at `srv_port_` (RFC 3263 §4.2).
  config::LoadResult load(const std::string& path) const {
    const config::HostResolver hosts = [](std::string_view name) {
      std::vector<lb::IpAddress> addresses;
      if (name == "sbc.carrier.test") addresses.push_back(*lb::parse_ip_address("127.0.0.1"));
      return addresses;
    };
    const config::ServiceResolver services = [this](std::string_view service) {
      std::vector<config::ServiceRecord> records;
      if (service == "_sip._udp.carrier.test") {
        records.push_back(config::ServiceRecord{0, 0, srv_port_, "sbc.carrier.test"});
      }
      return records;
    };
    return config::load_config_file(path, hosts, services);
  }
  ~ReloadTest() override { std::remove(path_.c_str()); }

  std::uint16_t proxy_port() {
    if (proxy_port_ == 0) {
      const LoopbackSocket probe;
      proxy_port_ = probe.port;
    }
    return proxy_port_;
  }

  // A route to the domain "carrier.test" (its SRV record, see load()), refreshed every 10 s.
  static std::string route_by_name() {
    return "[dns]\nrefresh_interval = 10\n"
           "[[routes]]\nname = \"out\"\nuser_prefix = \"7\"\naction = \"forward\"\n"
           "target = \"sip:carrier.test\"\n";
  }

  static std::string route_to(std::uint16_t port) {
    return "[[routes]]\nname = \"out\"\nuser_prefix = \"7\"\naction = \"forward\"\n"
           "target = \"sip:127.0.0.1:" +
           std::to_string(port) + "\"\n";
  }

  void write_config(const std::string& routes, const std::string& listen_port = {}) {
    std::ofstream file(path_);
    file << "[listen]\nudp = [\"127.0.0.1:"
         << (listen_port.empty() ? std::to_string(proxy_port()) : listen_port) << "\"]\n"
         << "[dataplane]\nworkers = 2\n"
         << "[domain]\nnames = [\"127.0.0.1\"]\n"
         << "[registrar]\nstore = \"memory\"\nauth = false\n"
         << "[[users]]\nuser = \"1002\"\npassword = \"pw\"\n"
         << routes;
  }

  void run_steps(int rounds) {
    for (int round = 0; round < rounds; ++round) {
      ::usleep(1000);
      for (auto& worker : workers_)
        worker->poll_once(kNow);
      control_->handle_registers(kNow);
    }
  }

  // One INVITE for `user` from the client; what `hop` received (empty: nothing).
  std::string call(const std::string& user, int number, const LoopbackSocket& hop) {
    client_.send_to(proxy_port(), invite(client_.port, user, number));
    run_steps(10);
    return hop.try_receive();
  }

  std::string path_;
  LoopbackSocket client_;
  LoopbackSocket first_hop_;
  LoopbackSocket second_hop_;
  std::uint16_t proxy_port_ = 0;
  std::uint16_t srv_port_ = 0;  // the SRV record's port, what a DNS refresh finds
  LocationTable location_;
  Fabric fabric_;
  std::unique_ptr<WorkerCounters[]> counters_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<ContextExchange> contexts_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::vector<int>> worker_sockets_;
  std::unique_ptr<AsyncStore> store_;
  ControlShared control_shared_;
  std::unique_ptr<ControlThread> control_;
};

TEST_F(ReloadTest, ReloadedRoutesAreUsedFromTheWorkersNextIteration) {
  ASSERT_FALSE(call("7000", 1, first_hop_).empty());
  write_config(route_to(second_hop_.port) +
               "[[routes]]\nname = \"nine\"\nuser_prefix = \"9\"\naction = \"reject\"\n"
               "code = 488\n");
  ASSERT_TRUE(control_->reload().applied);
  EXPECT_EQ(control_->counters().reloads.read(), 1u);
  EXPECT_FALSE(call("7000", 2, second_hop_).empty());
  EXPECT_TRUE(first_hop_.try_receive().empty());
  client_.send_to(proxy_port(), invite(client_.port, "9000", 3));
  run_steps(10);
  EXPECT_TRUE(client_.try_receive().starts_with("SIP/2.0 488 ")) << "the new route answers";
  // The old context is freed once every worker has passed a quiescent state after the
  // reclamation's grace period began (the control thread reclaims every second).
  EXPECT_EQ(contexts_->pending(), 1u);
  EXPECT_EQ(contexts_->reclaim(), 0u);
  run_steps(1);
  EXPECT_EQ(contexts_->reclaim(), 1u);
  EXPECT_EQ(contexts_->pending(), 0u);
}

// "configuration reloaded" is said once every worker routes with the new file, so that what is
// sent after it meets the new routes: here the workers' next iterations come 100 ms into the
// reload, on another thread, and reload() returns after them.
TEST_F(ReloadTest, AReloadReturnsOnceEveryWorkerHasAdoptedTheNewConfiguration) {
  ASSERT_FALSE(call("7000", 1, first_hop_).empty());
  wait_for_adoption(std::chrono::milliseconds(5000));
  write_config(route_to(second_hop_.port));
  std::atomic<bool> workers_iterated{false};
  std::thread workers([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    workers_iterated = true;
    for (auto& worker : workers_)
      worker->poll_once(kNow);
  });
  const ControlThread::ReloadReport report = control_->reload();
  const bool iterated_before_return = workers_iterated;
  workers.join();
  ASSERT_TRUE(report.applied);
  EXPECT_TRUE(iterated_before_return);
  ASSERT_EQ(report.messages.size(), 1u);
  EXPECT_TRUE(report.messages[0].starts_with("configuration reloaded from ")) << report.messages[0];
  EXPECT_EQ(contexts_->pending(), 0u) << "the old context is freed at once";
  EXPECT_FALSE(call("7000", 2, second_hop_).empty());
}

// A worker that does not come round within the wait (stuck, or starved of CPU) does not hold
// the reload: it is applied, and the answer says so.
TEST_F(ReloadTest, AWorkerThatDoesNotComeRoundIsReportedAndAdoptsItLater) {
  ASSERT_FALSE(call("7000", 1, first_hop_).empty());
  wait_for_adoption(std::chrono::milliseconds(30));
  write_config(route_to(second_hop_.port));
  const ControlThread::ReloadReport report = control_->reload();
  ASSERT_TRUE(report.applied);
  ASSERT_EQ(report.messages.size(), 2u);
  EXPECT_EQ(report.messages[0],
            "reload: a worker still routes with the previous configuration after 30 ms; it "
            "adopts the new one at its next packet");
  EXPECT_TRUE(report.messages[1].starts_with("configuration reloaded from ")) << report.messages[1];
  EXPECT_EQ(contexts_->pending(), 1u);
  EXPECT_FALSE(call("7000", 2, second_hop_).empty());
}

// [dns] refresh_interval: the route's target is the domain "carrier.test" (its SRV record,
// resolved at load); when the record moves to another port, the next refresh sends new calls
// there, without a reload, and counts it.
TEST_F(ReloadTest, ADnsRefreshFollowsANextHopToItsNewAddress) {
  srv_port_ = first_hop_.port;
  const std::string by_name = route_by_name();
  write_config(by_name);
  ASSERT_TRUE(control_->reload().applied);
  EXPECT_FALSE(call("7000", 1, first_hop_).empty());

  // Not due yet: nothing is looked up.
  srv_port_ = second_hop_.port;
  control_->tick(kNow);
  control_->tick(kNow + 9);
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 0u);
  // Due: the file is loaded again with the new record, and published.
  control_->tick(kNow + 10);
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 1u);
  EXPECT_EQ(control_->counters().reloads.read(), 1u);  // the operator's only
  EXPECT_FALSE(call("7000", 2, second_hop_).empty());
  // siplinectl routes shows where the name points now.
  EXPECT_EQ(control_->admin_command("routes"),
            "ok\nroute out: user_prefix=\"7\" methods=any sources=any forward sip:carrier.test "
            "(127.0.0.1:" +
                std::to_string(second_hop_.port) + ")\n");
  EXPECT_TRUE(first_hop_.try_receive().empty());

  // The same addresses again: nothing is published.
  control_->tick(kNow + 20);
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 1u);

  // A file edited since it was loaded waits for the operator's reload, whatever DNS says.
  srv_port_ = first_hop_.port;
  write_config(by_name +
               "[[routes]]\nname = \"nine\"\nuser_prefix = \"9\"\n"
               "action = \"reject\"\ncode = 488\n");
  control_->tick(kNow + 30);
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 1u);
  EXPECT_FALSE(call("7000", 3, second_hop_).empty());
}

TEST_F(ReloadTest, ARefreshOvertakenByAReloadIsDropped) {
  srv_port_ = first_hop_.port;
  const std::string by_name = route_by_name();
  write_config(by_name);
  ASSERT_TRUE(control_->reload().applied);
  control_->tick(kNow);
  srv_port_ = second_hop_.port;
  control_->tick(kNow + 10);  // the refresh starts (it may read either file)
  write_config(by_name +
               "[[routes]]\nname = \"nine\"\nuser_prefix = \"9\"\n"
               "action = \"reject\"\ncode = 488\n");
  ASSERT_TRUE(control_->reload().applied);  // resolves the names itself
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 0u);
  EXPECT_EQ(control_->counters().reloads.read(), 2u);
  EXPECT_FALSE(call("7000", 1, second_hop_).empty());
}

TEST_F(ReloadTest, NoDnsRefreshWithoutNamesOrWhenTurnedOff) {
  // The fixture's route names 127.0.0.1: nothing to look up.
  control_->tick(kNow);
  control_->tick(kNow + 1000);
  control_->finish_name_refresh();
  srv_port_ = first_hop_.port;
  write_config(
      "[dns]\nrefresh_interval = 0\n[[routes]]\nname = \"out\"\n"
      "user_prefix = \"7\"\naction = \"forward\"\ntarget = \"sip:carrier.test\"\n");
  ASSERT_TRUE(control_->reload().applied);
  srv_port_ = second_hop_.port;
  control_->tick(kNow + 2000);
  control_->tick(kNow + 100000);
  control_->finish_name_refresh();
  EXPECT_EQ(control_->counters().dns_refreshes.read(), 0u);
  EXPECT_FALSE(call("7000", 1, first_hop_).empty());
}

TEST(NextHopChanges, NamesThePoolsRoutesAndTrunksWhoseAddressesMoved) {
  const auto load = [](const std::string& address) {
    const config::LoadResult loaded = config::load_config_text(
        "[domain]\nnames = [\"127.0.0.1\"]\n"
        "[[pools]]\nname = \"pbx\"\nmembers = [\"sip:pbx.test:5060\", \"sip:10.0.0.2\"]\n"
        "[[routes]]\nname = \"out\"\naction = \"forward\"\ntarget = \"sip:sbc.test:5070\"\n"
        "[[routes]]\nname = \"in\"\naction = \"forward\"\npool = \"pbx\"\n"
        "[[trunk_registrations]]\nname = \"carrier\"\nregistrar = \"sip:reg.test:5080\"\n"
        "user = \"+15551230000\"\npassword = \"p\"\n"
        "[[trunk_registrations]]\nname = \"via-sbc\"\nregistrar = \"sip:10.0.0.3\"\n"
        "outbound_proxy = \"sip:edge.test:5090\"\nuser = \"+15551230001\"\npassword = \"p\"\n",
        "dns.toml", [address](std::string_view) {
          return std::vector<lb::IpAddress>{*lb::parse_ip_address(address)};
        });
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    return loaded.config;
  };
  const auto before = load("192.0.2.1");
  EXPECT_TRUE(before->resolves_names);
  EXPECT_EQ(next_hop_changes(*before, *load("192.0.2.1")), "");
  EXPECT_EQ(next_hop_changes(*before, *load("192.0.2.9")),
            "pool \"pbx\": 192.0.2.1:5060, 10.0.0.2:5060 -> 192.0.2.9:5060, 10.0.0.2:5060; "
            "route \"out\": 192.0.2.1:5070 -> 192.0.2.9:5070; "
            "trunk registration \"carrier\": 192.0.2.1:5080 -> 192.0.2.9:5080; "
            "trunk registration \"via-sbc\" outbound proxy: 192.0.2.1:5090 -> 192.0.2.9:5090");
}

TEST_F(ReloadTest, AnswersToRequestsForwardedBeforeTheReloadStillFindTheirWay) {
  const std::string forwarded = call("7000", 1, first_hop_);
  ASSERT_FALSE(forwarded.empty());
  write_config(route_to(second_hop_.port));
  ASSERT_TRUE(control_->reload().applied);
  run_steps(2);
  // Our branch is signed with the per-boot key, which the reload keeps.
  first_hop_.send_to(proxy_port(), answer_200(forwarded));
  run_steps(10);
  EXPECT_TRUE(client_.try_receive().starts_with("SIP/2.0 200 OK\r\n"));
}

TEST_F(ReloadTest, AFileThatNoLongerLoadsIsRefusedAndTheRunningConfigurationStays) {
  write_config(route_to(second_hop_.port) + "[[routes]]\nname = \"bad\"\naction = \"teleport\"\n");
  EXPECT_FALSE(control_->reload().applied);
  EXPECT_EQ(control_->counters().reloads.read(), 0u);
  EXPECT_FALSE(call("7000", 1, first_hop_).empty());
  EXPECT_EQ(contexts_->pending(), 0u);
}

TEST_F(ReloadTest, ChangingWhatIsBoundAtStartIsRefused) {
  write_config(route_to(second_hop_.port), "5999");
  const PreparedReload prepared = prepare_reload(path_, *contexts_->acquire());
  EXPECT_FALSE(prepared.context);
  ASSERT_EQ(prepared.errors.size(), 1u);
  EXPECT_EQ(prepared.errors[0], path_ +
                                    ": [listen] differs from the running configuration: it "
                                    "takes effect only at a restart");
  EXPECT_FALSE(control_->reload().applied);
  EXPECT_FALSE(call("7000", 1, first_hop_).empty());
}

TEST_F(ReloadTest, TheReloadedContextKeepsThePerBootSecrets) {
  write_config(
      "[[routes]]\nname = \"elsewhere\"\naction = \"forward\"\n"
      "target = \"sip:127.0.0.2:5060\"\n");
  const PipelineContext& running = *contexts_->acquire();
  const PreparedReload prepared = prepare_reload(path_, running);
  ASSERT_TRUE(prepared.context);
  EXPECT_EQ(prepared.context->identity.branch_key.secret, running.identity.branch_key.secret);
  EXPECT_EQ(prepared.context->to_tag_key, running.to_tag_key);
  EXPECT_EQ(prepared.context->nonce_secret, running.nonce_secret);
  EXPECT_EQ(prepared.context->location, running.location);
  // The source guard trusts the reloaded configuration's forward targets from the workers'
  // next iteration (they take the trusted set from their context), and no longer the old.
  const SourceKey new_target = source_key(*peer_from_text("127.0.0.2:40000"));
  const SourceKey old_target = source_key(*peer_from_text("127.0.0.1:5060"));
  EXPECT_FALSE(running.trusted_sources->contains(new_target));
  EXPECT_TRUE(running.trusted_sources->contains(old_target));
  EXPECT_TRUE(prepared.context->trusted_sources->contains(new_target));
  EXPECT_FALSE(prepared.context->trusted_sources->contains(old_target));
}

TEST_F(ReloadTest, TheAdminCommandsAnswerFromTheControlThread) {
  EXPECT_TRUE(control_->admin_command("help").starts_with("ok\ncounters "));
  const std::string counters = control_->admin_command("counters");
  EXPECT_TRUE(counters.starts_with("ok\nworker 0: received=")) << counters;
  EXPECT_NE(counters.find("\ncontrol: registers=0 "), std::string::npos) << counters;
  EXPECT_EQ(control_->admin_command("pools"), "ok\n");
  const std::string first = std::to_string(first_hop_.port);
  EXPECT_EQ(control_->admin_command("routes"),
            "ok\nroute out: user_prefix=\"7\" methods=any sources=any forward sip:127.0.0.1:" +
                first + " (127.0.0.1:" + first + ")\n");
  EXPECT_EQ(control_->admin_command("registrations 1002"), "ok\n");
  sip::Binding binding;
  binding.contact = "sip:1002@127.0.0.1:5099";
  binding.received = "127.0.0.1:5099";
  binding.expires_at = std::time(nullptr) + 600;
  binding.q_milli = 500;
  location_.replace("1002", {binding});
  const std::string registrations = control_->admin_command("registrations 1002");
  EXPECT_TRUE(registrations.starts_with("ok\nsip:1002@127.0.0.1:5099 expires_in="))
      << registrations;
  EXPECT_NE(registrations.find(" q=500/1000 received=127.0.0.1:5099\n"), std::string::npos);
  EXPECT_EQ(control_->admin_command("unregister 1002"), "ok\nremoved 1 binding(s) of \"1002\"\n");
  EXPECT_EQ(control_->admin_command("registrations 1002"), "ok\n");
  EXPECT_TRUE(location_.bindings("1002").empty());
  EXPECT_EQ(control_->admin_command("unregister 1002"), "ok\nno binding for \"1002\"\n");
  EXPECT_EQ(control_->admin_command("drain pbx 0"), "error: no pool \"pbx\"\n");
  EXPECT_EQ(control_->admin_command("drain pbx"),
            "error: unknown command \"drain pbx\" (try help)\n");
  EXPECT_EQ(control_->admin_command("frobnicate now"),
            "error: unknown command \"frobnicate now\" (try help)\n");
  EXPECT_EQ(control_->admin_command("registrations"),
            "error: unknown command \"registrations\" (try help)\n");

  write_config(route_to(second_hop_.port) + "[[routes]]\nname = \"bad\"\naction = \"teleport\"\n");
  const std::string refused = control_->admin_command("reload");
  EXPECT_TRUE(refused.starts_with("error: not reloaded\nreload refused: " + path_ + ":"))
      << refused;
  write_config(route_to(second_hop_.port));
  const std::string reloaded = control_->admin_command("reload");
  EXPECT_TRUE(reloaded.starts_with("ok\nconfiguration reloaded from " + path_)) << reloaded;
  EXPECT_FALSE(call("7000", 1, second_hop_).empty());

  write_config(
      "[[routes]]\nname = \"phones\"\nuser_prefix = \"1\"\nmethods = [\"INVITE\", \"MESSAGE\"]\n"
      "sources = [\"10.0.0.0/8\", \"192.0.2.7\"]\nauth = true\naction = \"location\"\n"
      "[[routes]]\nname = \"did\"\nuser_prefix = \"+44207\"\nstrip = 6\nprepend = \"1\"\n"
      "action = \"location\"\n"
      "[[routes]]\nname = \"busy\"\naction = \"reject\"\ncode = 486\n");
  ASSERT_TRUE(control_->admin_command("reload").starts_with("ok\n"));
  EXPECT_EQ(control_->admin_command("routes"),
            "ok\nroute phones: user_prefix=\"1\" methods=INVITE,MESSAGE "
            "sources=10.0.0.0/8,192.0.2.7/32 auth location\n"
            "route did: user_prefix=\"+44207\" methods=any sources=any strip=6 prepend=\"1\" "
            "location\n"
            "route busy: user_prefix=\"\" methods=any sources=any reject 486\n");
}

// A trunk registration a reload adds registers at once, through worker 0's socket; the
// registrar's answer comes back through the workers to the control thread; siplinectl trunks
// shows it registered.
TEST_F(ReloadTest, AReloadedTrunkRegistersAndSiplinectlShowsIt) {
  EXPECT_EQ(control_->admin_command("trunks"), "ok\n");
  const std::string registrar = "127.0.0.1:" + std::to_string(second_hop_.port);
  write_config(route_to(first_hop_.port) +
               "[[trunk_registrations]]\nname = \"carrier\"\nregistrar = \"sip:" + registrar +
               "\"\nuser = \"+15551230000\"\npassword = \"pw\"\n");
  ASSERT_TRUE(control_->reload().applied);
  control_->poll_probes();
  const std::string request = second_hop_.try_receive();
  ASSERT_EQ(request.rfind("REGISTER sip:" + registrar + " SIP/2.0\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nContact: <sip:+15551230000@127.0.0.1:" +
                         std::to_string(proxy_port()) + ">\r\n"),
            std::string::npos)
      << request;
  second_hop_.send_to(proxy_port(), "SIP/2.0 200 OK" + request.substr(request.find("\r\n")));
  run_steps(10);
  EXPECT_EQ(control_->admin_command("trunks"),
            "ok\ntrunk carrier: registered sip:+15551230000@127.0.0.1 at sip:" + registrar + " (" +
                registrar + ") expires_in=3600 last=200 sent=1 registrations=1 failures=0\n");
}

TEST(SectionsNeedingRestart, NamesEverySectionBoundAtStart) {
  const auto load = [](const std::string& extra) {
    const config::LoadResult loaded =
        config::load_config_text("[domain]\nnames = [\"example.test\"]\n" + extra, "restart.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    return loaded.config;
  };
  const auto running = load("");
  EXPECT_TRUE(sections_needing_restart(*running, *load("[log]\nlevel = \"debug\"\n")).empty());
  EXPECT_TRUE(
      sections_needing_restart(*running, *load("[registrar]\nmax_expires = 7200\n")).empty());
  // The trusted sources are the reloaded context's; the guard's rates and tables are not.
  EXPECT_TRUE(sections_needing_restart(
                  *running, *load("[source_limits]\ntrusted_sources = [\"10.0.0.0/8\"]\n"))
                  .empty());
  const std::vector<std::string> all = sections_needing_restart(
      *running, *load("[listen]\nudp = [\"127.0.0.1:5070\"]\n[dataplane]\nworkers = 3\n"
                      "[registrar]\nstore = \"sqlite:reload-test.db\"\n[limits]\nring_size = 1024\n"
                      "[overload]\nbusy_ms = 30\n[source_limits]\nburst = 10\n"
                      "[admin]\nsocket = \"/run/sipline.sock\"\n"
                      "[accounting]\nfile = \"calls.jsonl\"\n"
                      "[capture]\nhep = \"127.0.0.1:9060\"\n"));
  EXPECT_EQ(
      all, (std::vector<std::string>{"listen", "dataplane", "registrar.store", "limits", "overload",
                                     "source_limits", "admin", "capture", "accounting"}));
  // [limits] holds the emergency numbers and session_expires: bound at start too.
  EXPECT_EQ(sections_needing_restart(*running, *load("[limits]\nemergency_numbers = []\n")),
            (std::vector<std::string>{"limits"}));
  // Call records to another file: no restart (the rings exist).
  const auto recording = load("[accounting]\nfile = \"calls.jsonl\"\n");
  EXPECT_TRUE(sections_needing_restart(*recording, *load("[accounting]\nfile = \"other.jsonl\"\n"))
                  .empty());
}

}  // namespace
}  // namespace sipline::dataplane

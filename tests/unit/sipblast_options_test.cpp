// sipblast's command line: the address policy (loopback or an explicitly allowed namespace
// address only), the run bounds and the user list expansion.
#include "bench/sipblast/options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace sipline::sipblast;

ParsedOptions parse(std::vector<std::string_view> args) {
  return parse_options(args);
}

TEST(SipblastOptions, EndpointsAreNumericWithOptionalPort) {
  const auto v4 = parse_endpoint("127.0.0.1:5070", 5060);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->address, "127.0.0.1");
  EXPECT_EQ(v4->port, 5070);
  EXPECT_EQ(v4->text(), "127.0.0.1:5070");
  const auto defaulted = parse_endpoint("127.0.0.2", 5060);
  ASSERT_TRUE(defaulted.has_value());
  EXPECT_EQ(defaulted->port, 5060);
  const auto v6 = parse_endpoint("[::1]:5062", 5060);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->address, "::1");
  EXPECT_EQ(v6->port, 5062);
  EXPECT_EQ(v6->text(), "[::1]:5062");
  const auto bare_v6 = parse_endpoint("::1", 5060);
  ASSERT_TRUE(bare_v6.has_value());
  EXPECT_EQ(bare_v6->port, 5060);
  EXPECT_FALSE(parse_endpoint("localhost:5060", 5060));  // never resolves names
  EXPECT_FALSE(parse_endpoint("127.0.0.1:70000", 5060));
  EXPECT_FALSE(parse_endpoint("[::1", 5060));
}

TEST(SipblastOptions, OnlyLoopbackUnlessExplicitlyAllowed) {
  const std::vector<std::string> none;
  EXPECT_TRUE(address_allowed("127.0.0.1", none));
  EXPECT_TRUE(address_allowed("127.45.6.7", none));
  EXPECT_TRUE(address_allowed("::1", none));
  EXPECT_FALSE(address_allowed("128.0.0.1", none));
  EXPECT_FALSE(address_allowed("10.200.0.2", none));
  EXPECT_FALSE(address_allowed("::2", none));
  const std::vector<std::string> allowed{"10.200.0.2", "fd00::2"};
  EXPECT_TRUE(address_allowed("10.200.0.2", allowed));
  EXPECT_TRUE(address_allowed("fd00:0::2", allowed));  // compared as addresses, not text
  EXPECT_FALSE(address_allowed("10.200.0.3", allowed));
}

TEST(SipblastOptions, NamespaceAddressesMustBePrivateOrTestRanges) {
  EXPECT_TRUE(netns_address_acceptable("10.1.2.3"));
  EXPECT_TRUE(netns_address_acceptable("172.16.0.1"));
  EXPECT_TRUE(netns_address_acceptable("192.168.1.1"));
  EXPECT_TRUE(netns_address_acceptable("198.18.0.1"));
  EXPECT_TRUE(netns_address_acceptable("fd12::1"));
  EXPECT_TRUE(netns_address_acceptable("fe80::1"));
  EXPECT_FALSE(netns_address_acceptable("8.8.8.8"));
  EXPECT_FALSE(netns_address_acceptable("172.32.0.1"));
  EXPECT_FALSE(netns_address_acceptable("2a00:1450::1"));
  EXPECT_FALSE(netns_address_acceptable("example.com"));
}

TEST(SipblastOptions, RefusesTargetsOutsideLoopback) {
  const ParsedOptions refused = parse({"--target", "10.200.0.2:5060"});
  EXPECT_NE(refused.error.find("neither loopback nor allowed"), std::string::npos) << refused.error;
  const ParsedOptions allowed =
      parse({"--allow-netns-address", "10.200.0.2", "--target", "10.200.0.2:5060", "--local",
             "10.200.0.1", "--allow-netns-address", "10.200.0.1"});
  EXPECT_EQ(allowed.error, "");
  EXPECT_NE(parse({"--allow-netns-address", "8.8.8.8"}).error, "");
  EXPECT_NE(parse({"--target", "127.0.0.1:5060", "--local", "192.168.0.1"}).error, "");
  EXPECT_NE(parse({"--role", "uas", "--uas-listen", "192.168.0.1:5070"}).error, "");
}

TEST(SipblastOptions, GeneratingRolesNeedATarget) {
  EXPECT_NE(parse({"--role", "uac"}).error, "");
  EXPECT_EQ(parse({"--role", "uas"}).error, "");
}

TEST(SipblastOptions, RunsAreAlwaysBounded) {
  const ParsedOptions plain = parse({"--target", "127.0.0.1:5070"});
  ASSERT_EQ(plain.error, "");
  EXPECT_DOUBLE_EQ(plain.options.duration_s, kDefaultDurationS);
  const ParsedOptions calls = parse({"--target", "127.0.0.1:5070", "--calls", "1000"});
  ASSERT_EQ(calls.error, "");
  EXPECT_EQ(calls.options.calls, 1000u);
  EXPECT_DOUBLE_EQ(calls.options.duration_s, kMaxDurationS);  // whichever comes first
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--duration", "601"}).error, "");
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--duration", "0"}).error, "");
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--timeout-ms", "400000"}).error, "");
}

TEST(SipblastOptions, DefaultsFollowTheTarget) {
  const ParsedOptions parsed = parse({"--role", "register", "--target", "127.0.0.1:5080", "--users",
                                      "1001-1003", "--threads", "2"});
  ASSERT_EQ(parsed.error, "");
  const Options& options = parsed.options;
  EXPECT_EQ(options.role, Role::Register);
  EXPECT_EQ(options.ruri_host, "127.0.0.1:5080");
  EXPECT_EQ(options.register_domain, "127.0.0.1");
  EXPECT_EQ(options.users, (std::vector<std::string>{"1001", "1002", "1003"}));
  EXPECT_EQ(options.sockets, 2);  // at least one per generating thread

  const ParsedOptions v6 = parse({"--target", "[::1]:5080", "--local", "::1"});
  ASSERT_EQ(v6.error, "");
  EXPECT_EQ(v6.options.ruri_host, "[::1]:5080");
  EXPECT_EQ(v6.options.register_domain, "[::1]");
}

TEST(SipblastOptions, UnknownOptionsAndBadValuesAreErrors) {
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--frobnicate", "1"}).error, "");
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--rate", "fast"}).error, "");
  EXPECT_NE(parse({"--target", "127.0.0.1:5070", "--rate"}).error, "");
  EXPECT_NE(parse({"--role", "proxy", "--target", "127.0.0.1:5070"}).error, "");
  EXPECT_TRUE(parse({"--help"}).help);
}

TEST(SipblastOptions, UserListsExpand) {
  EXPECT_EQ(expand_users("1001-1003").users, (std::vector<std::string>{"1001", "1002", "1003"}));
  EXPECT_EQ(expand_users("user{08-10}").users,
            (std::vector<std::string>{"user08", "user09", "user10"}));
  EXPECT_EQ(expand_users("u{9-11}x").users, (std::vector<std::string>{"u9x", "u10x", "u11x"}));
  EXPECT_EQ(expand_users("alice,bob,7-8").users,
            (std::vector<std::string>{"alice", "bob", "7", "8"}));
  EXPECT_EQ(expand_users("sip-user").users, (std::vector<std::string>{"sip-user"}));
  EXPECT_NE(expand_users("u{5-3}").error, "");
  EXPECT_NE(expand_users("u{5-3").error, "");
  EXPECT_NE(expand_users("a,,b").error, "");
  EXPECT_NE(expand_users("1-20000000").error, "");
}

}  // namespace

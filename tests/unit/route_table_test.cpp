#include "lb/route_table.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sip/message.hpp"

namespace sipline::lb {
namespace {

struct HeldMessage : sip::Message {
  std::string bytes;
};

// A request with this method and Request-URI, parsed (Message is large: on the heap).
std::unique_ptr<HeldMessage> request(const std::string& method, const std::string& uri) {
  auto held = std::make_unique<HeldMessage>();
  held->bytes = method + " " + uri +
                " SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-rt1\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:1001@sipline.local>;tag=f1\r\n"
                "To: <sip:1002@sipline.local>\r\n"
                "Call-ID: rt-1@192.0.2.10\r\n"
                "CSeq: 1 " +
                method +
                "\r\n"
                "Content-Length: 0\r\n\r\n";
  sip::parse_message_into(*held, held->bytes);
  EXPECT_TRUE(held->ok()) << sip::describe(held->error) << "\n" << held->bytes;
  return held;
}

RouteRule rule(const std::string& name, const std::string& user_prefix,
               std::vector<std::string> methods, RouteAction action = RouteAction::Location) {
  RouteRule made;
  made.name = name;
  made.user_prefix = user_prefix;
  made.methods = std::move(methods);
  made.action = action;
  return made;
}

// Where the requests of these tests come from, unless a test says otherwise.
const IpAddress kSource = *parse_ip_address("192.0.2.10");

// The name of the rule matching a request from `source`, "" when none matches.
std::string matched(const RouteTable& table, const std::string& method, const std::string& uri,
                    const IpAddress& source = kSource) {
  const auto message = request(method, uri);
  const RouteRule* found = table.match(*message, source);
  return found == nullptr ? "" : found->name;
}

TEST(RouteTable, FirstMatchWins) {
  const RouteTable table({rule("first", "10", {}), rule("second", "1", {}), rule("any", "", {})});
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "first");
  EXPECT_EQ(matched(table, "INVITE", "sip:1902@sipline.local"), "second");
  EXPECT_EQ(matched(table, "INVITE", "sip:2002@sipline.local"), "any");
}

TEST(RouteTable, NoMatchIsNull) {
  const RouteTable table({rule("local", "10", {"INVITE"})});
  EXPECT_EQ(matched(table, "INVITE", "sip:2002@sipline.local"), "");
  EXPECT_EQ(matched(table, "BYE", "sip:1002@sipline.local"), "");
  const RouteTable empty;
  EXPECT_EQ(matched(empty, "INVITE", "sip:1002@sipline.local"), "");
}

TEST(RouteTable, UserPrefix) {
  const RouteTable table({rule("local", "10", {})});
  EXPECT_EQ(matched(table, "INVITE", "sip:10@sipline.local"), "local");
  EXPECT_EQ(matched(table, "INVITE", "sip:1009@sipline.local"), "local");
  EXPECT_EQ(matched(table, "INVITE", "sip:1@sipline.local"), "");
  EXPECT_EQ(matched(table, "INVITE", "sip:0100@sipline.local"), "");
  EXPECT_EQ(matched(table, "OPTIONS", "sip:sipline.local"), "");  // no user at all
  // The user is compared as written, escapes included (documented in route_table.hpp).
  EXPECT_EQ(matched(table, "INVITE", "sip:%31002@sipline.local"), "");
}

TEST(RouteTable, EmptyPrefixMatchesAnyUserAndNone) {
  const RouteTable table({rule("all", "", {})});
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "all");
  EXPECT_EQ(matched(table, "OPTIONS", "sip:sipline.local"), "all");
}

TEST(RouteTable, TelUriUserIsTheNumber) {
  const RouteTable table({rule("us", "+1", {}), rule("other", "", {})});
  EXPECT_EQ(matched(table, "INVITE", "tel:+15551234"), "us");
  EXPECT_EQ(matched(table, "INVITE", "tel:+445551234"), "other");
}

TEST(RouteTable, ListedMethodsOnly) {
  const RouteTable table({rule("calls", "", {"INVITE", "MESSAGE"}), rule("rest", "", {"BYE"})});
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "calls");
  EXPECT_EQ(matched(table, "MESSAGE", "sip:1002@sipline.local"), "calls");
  EXPECT_EQ(matched(table, "BYE", "sip:1002@sipline.local"), "rest");
  EXPECT_EQ(matched(table, "OPTIONS", "sip:1002@sipline.local"), "");
  EXPECT_EQ(matched(table, "FROBNICATE", "sip:1002@sipline.local"), "");
}

// §16.11, §9.1: a stateless proxy sends an INVITE's CANCEL and ACK where the INVITE went by
// routing them alike; a route that listed INVITE alone would send them elsewhere (here to a
// catch-all reject), so INVITE brings them along. Other methods do not.
TEST(RouteTable, InviteBringsItsAckAndCancel) {
  const RouteTable table(
      {rule("calls", "", {"INVITE"}), rule("messages", "", {"MESSAGE"}), rule("rest", "", {})});
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "calls");
  EXPECT_EQ(matched(table, "ACK", "sip:1002@sipline.local"), "calls");
  EXPECT_EQ(matched(table, "CANCEL", "sip:1002@sipline.local"), "calls");
  EXPECT_EQ(matched(table, "BYE", "sip:1002@sipline.local"), "rest");
  EXPECT_EQ(matched(table, "MESSAGE", "sip:1002@sipline.local"), "messages");
  const RouteTable without_invite({rule("messages", "", {"MESSAGE"}), rule("rest", "", {})});
  EXPECT_EQ(matched(without_invite, "CANCEL", "sip:1002@sipline.local"), "rest");
  EXPECT_EQ(matched(without_invite, "ACK", "sip:1002@sipline.local"), "rest");
}

TEST(RouteTable, AbsentMethodsMatchEveryMethod) {
  const RouteTable table({rule("any", "", {})});
  for (const std::string method :
       {"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "MESSAGE", "NOTIFY",
        "PRACK", "PUBLISH", "REFER", "SUBSCRIBE", "UPDATE", "FROBNICATE", "invite"}) {
    EXPECT_EQ(matched(table, method, "sip:1002@sipline.local"), "any") << method;
  }
}

TEST(RouteTable, ExtensionMethodsByTextCaseSensitive) {
  const RouteTable table({rule("ext", "", {"FROBNICATE", "invite"}), rule("std", "", {"INVITE"})});
  EXPECT_EQ(matched(table, "FROBNICATE", "sip:1002@sipline.local"), "ext");
  EXPECT_EQ(matched(table, "invite", "sip:1002@sipline.local"), "ext");  // §7.1: an extension
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "std");
  EXPECT_EQ(matched(table, "Frobnicate", "sip:1002@sipline.local"), "");
  EXPECT_EQ(matched(table, "FROBNICATEX", "sip:1002@sipline.local"), "");
}

TEST(RouteTable, MethodsAndPrefixMustBothMatch) {
  const RouteTable table({rule("local-calls", "10", {"INVITE"}), rule("fallback", "", {})});
  EXPECT_EQ(matched(table, "INVITE", "sip:1002@sipline.local"), "local-calls");
  EXPECT_EQ(matched(table, "MESSAGE", "sip:1002@sipline.local"), "fallback");
  EXPECT_EQ(matched(table, "INVITE", "sip:2002@sipline.local"), "fallback");
}

// A trunk-facing route lists the carrier's addresses: the same request from anywhere else
// goes on to the next rule (here a catch-all), whatever its user and method.
TEST(RouteTable, ARuleWithSourcesMatchesOnlyRequestsFromThem) {
  RouteRule carrier = rule("from-carrier", "+1", {"INVITE"}, RouteAction::Forward);
  carrier.sources = {*parse_ip_prefix("203.0.113.0/25"), *parse_ip_prefix("2001:db8:5::/48"),
                     *parse_ip_prefix("198.51.100.7/32")};
  const RouteTable table({carrier, rule("others", "", {}, RouteAction::Reject)});
  const std::string uri = "sip:+15550100@sipline.local";
  for (const char* inside :
       {"203.0.113.0", "203.0.113.127", "2001:db8:5:ffff::1", "198.51.100.7"}) {
    EXPECT_EQ(matched(table, "INVITE", uri, *parse_ip_address(inside)), "from-carrier") << inside;
  }
  for (const char* outside : {"203.0.113.128", "203.0.112.255", "2001:db8:6::1", "198.51.100.8",
                              "10.0.0.1", "::ffff:203.0.113.1"}) {
    EXPECT_EQ(matched(table, "INVITE", uri, *parse_ip_address(outside)), "others") << outside;
  }
  // The other conditions still apply to the listed sources.
  EXPECT_EQ(matched(table, "BYE", uri, *parse_ip_address("203.0.113.1")), "others");
  EXPECT_EQ(
      matched(table, "INVITE", "sip:15550100@sipline.local", *parse_ip_address("203.0.113.1")),
      "others");
}

TEST(RouteTable, ResponsesNeverMatch) {
  const RouteTable table({rule("any", "", {})});
  HeldMessage response;
  response.bytes =
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\r\n"
      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n";
  sip::parse_message_into(response, response.bytes);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(table.match(response, kSource), nullptr);
}

TEST(RouteTable, KeepsEveryRuleField) {
  RouteRule forward = rule("out", "00", {"INVITE"}, RouteAction::Forward);
  forward.auth = true;
  forward.line = 12;
  ForwardTarget target;
  target.uri = "sip:127.0.0.1:5070";
  target.next_hop = SocketAddress{*parse_ip_address("127.0.0.1"), 5070};
  forward.forward = target;
  RouteRule reject = rule("busy", "", {}, RouteAction::Reject);
  reject.reject_code = 486;
  const RouteTable table({forward, reject});

  ASSERT_EQ(table.rules().size(), 2u);
  const auto invite = request("INVITE", "sip:0044123@sipline.local");
  const RouteRule* found = table.match(*invite, kSource);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found, &table.rules()[0]);
  EXPECT_EQ(found->action, RouteAction::Forward);
  EXPECT_TRUE(found->auth);
  EXPECT_EQ(found->line, 12u);
  ASSERT_TRUE(found->forward.has_value());
  EXPECT_EQ(found->forward->next_hop.to_string(), "127.0.0.1:5070");
  EXPECT_EQ(*found->forward, target);

  const auto bye = request("BYE", "sip:0044123@sipline.local");
  const RouteRule* rejected = table.match(*bye, kSource);
  ASSERT_NE(rejected, nullptr);
  EXPECT_EQ(rejected->reject_code, 486);
}

TEST(RouteTable, CopiesMatchTheirOwnRules) {
  auto original = std::make_unique<RouteTable>(
      std::vector<RouteRule>{rule("calls", "10", {"INVITE", "FROBNICATE"})});
  const RouteTable copy = *original;
  original.reset();
  const auto message = request("FROBNICATE", "sip:1002@sipline.local");
  const RouteRule* found = copy.match(*message, kSource);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found, &copy.rules()[0]);
}

TEST(RouteActionName, EveryAction) {
  EXPECT_EQ(route_action_name(RouteAction::Location), "location");
  EXPECT_EQ(route_action_name(RouteAction::Forward), "forward");
  EXPECT_EQ(route_action_name(RouteAction::Redirect), "redirect");
  EXPECT_EQ(route_action_name(RouteAction::Reject), "reject");
}

}  // namespace
}  // namespace sipline::lb

// Contact aliases for UAs behind NAT (sip/contact_alias.hpp): which Contacts take one, how the
// forwarded request or response writes it, and how the pipeline sends an in-dialog request
// whose Request-URI carries one to the UA's NAT mapping, without the alias.
#include "sip/contact_alias.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_table.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/rewrite.hpp"
#include "sip/route_token.hpp"

namespace sipline {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

// A message and the text it views (parse_message_into keeps views into it).
struct ParsedText {
  std::unique_ptr<std::string> text;
  std::unique_ptr<sip::Message> message;

  const sip::Message& operator*() const { return *message; }
};

ParsedText parsed(std::string text) {
  ParsedText result{std::make_unique<std::string>(std::move(text)),
                    std::make_unique<sip::Message>()};
  sip::parse_message_into(*result.message, *result.text);
  EXPECT_TRUE(result.message->ok()) << *result.text;
  return result;
}

std::string request_with_contact(const std::string& contact,
                                 const std::string& uri = "sip:1002@sipline.local") {
  return "INVITE " + uri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-n1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=f1\r\n"
         "To: <sip:1002@sipline.local>\r\n"
         "Call-ID: nat-1@10.0.0.5\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: " +
         contact +
         "\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string contact_line(const std::string& message) {
  const std::size_t start = message.find("\r\nContact: ");
  if (start == std::string::npos) return {};
  return message.substr(start + 2, message.find("\r\n", start + 2) - start - 2);
}

TEST(AliasableContact, AnIpLiteralContactWithoutAliasTakesOne) {
  auto message = parsed(request_with_contact("\"Alice\" <sip:1001@10.0.0.5:5062;ob>;expires=60"));
  const std::optional<sip::ContactUri> contact = sip::aliasable_contact(*message);
  ASSERT_TRUE(contact.has_value());
  EXPECT_EQ(contact->text, "sip:1001@10.0.0.5:5062;ob");
  EXPECT_TRUE(contact->bracketed);
  EXPECT_EQ(contact->host_port.host, "10.0.0.5");
  EXPECT_EQ(contact->host_port.port, 5062);
  message = parsed(request_with_contact("sip:1001@[fd00::5];expires=60"));
  ASSERT_TRUE(sip::aliasable_contact(*message).has_value());
  EXPECT_EQ(sip::aliasable_contact(*message)->text, "sip:1001@[fd00::5]");
  EXPECT_FALSE(sip::aliasable_contact(*message)->bracketed);
}

TEST(AliasableContact, NamesStarsAliasedAndHeaderedContactsTakeNone) {
  for (const char* contact :
       {"<sip:1001@phone.example>", "*", "<sip:1001@10.0.0.5;alias=192.0.2.1~5060~1>",
        "<sip:1001@10.0.0.5?Subject=x>", "<tel:+15551234>", "<mailto:a@b.example>"}) {
    EXPECT_FALSE(sip::aliasable_contact(*parsed(request_with_contact(contact))).has_value())
        << contact;
  }
}

TEST(ParseAlias, AddressPortAndUdp) {
  const std::optional<sip::AliasTarget> v4 = sip::parse_alias("192.0.2.10~5099~1");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "192.0.2.10");
  EXPECT_EQ(v4->port, 5099);
  const std::optional<sip::AliasTarget> v6 = sip::parse_alias("[2001:db8::7]~5060~1");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "[2001:db8::7]");
  EXPECT_EQ(v6->kind, sip::HostKind::Ipv6Reference);
  for (const char* bad : {"192.0.2.10~5099~2", "192.0.2.10~0~1", "192.0.2.10~70000~1",
                          "host.example~5060~1", "192.0.2.10~5060", "192.0.2.10", ""}) {
    EXPECT_FALSE(sip::parse_alias(bad).has_value()) << bad;
  }
}

TEST(ResolveUriAlias, TheAliasLeavesTheUriAndNamesItsTarget) {
  std::array<char, 256> out{};
  const auto resolve = [&out](const std::string& text) -> std::string {
    const sip::Parsed<sip::Uri> uri = sip::parse_uri(text);
    EXPECT_TRUE(uri.ok()) << text;
    const std::optional<sip::AliasedUri> aliased = sip::resolve_uri_alias(text, uri.value, out);
    if (!aliased) return "none";
    return std::string(aliased->uri) + " -> " + std::string(aliased->target.host) + ":" +
           std::to_string(aliased->target.port);
  };
  EXPECT_EQ(resolve("sip:1001@10.0.0.5:5062;alias=192.0.2.10~5099~1"),
            "sip:1001@10.0.0.5:5062 -> 192.0.2.10:5099");
  EXPECT_EQ(resolve("sip:1001@10.0.0.5;ob;alias=192.0.2.10~5099~1;transport=udp"),
            "sip:1001@10.0.0.5;ob;transport=udp -> 192.0.2.10:5099");
  EXPECT_EQ(resolve("sip:1001@10.0.0.5;ob"), "none");
  EXPECT_EQ(resolve("sip:1001@10.0.0.5;alias=nowhere"), "none");
}

TEST(WriteAliasedUri, TheAddressBecomesTheAliasParameter) {
  std::array<char, 128> out;
  EXPECT_EQ(sip::write_alias_value("203.0.113.9:40000", out), "203.0.113.9~40000~1");
  EXPECT_EQ(sip::write_alias_value("[2001:db8::1]:5060", out), "[2001:db8::1]~5060~1");
  EXPECT_FALSE(sip::write_alias_value("203.0.113.9", out));
  EXPECT_FALSE(sip::write_alias_value("[2001:db8::1]", out));
  EXPECT_FALSE(sip::write_alias_value("203.0.113.9:", out));
  EXPECT_EQ(
      sip::write_aliased_uri("sip:1003@10.0.0.5:5060;transport=udp", "203.0.113.9:40000", out),
      "sip:1003@10.0.0.5:5060;transport=udp;alias=203.0.113.9~40000~1");
  // It resolves back to the address and the URI as written.
  const std::string aliased(
      *sip::write_aliased_uri("sip:1003@10.0.0.5:5060", "203.0.113.9:40000", out));
  const sip::Parsed<sip::Uri> uri = sip::parse_uri(aliased);
  ASSERT_TRUE(uri.ok());
  std::array<char, 128> plain;
  const std::optional<sip::AliasedUri> resolved = sip::resolve_uri_alias(aliased, uri.value, plain);
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->uri, "sip:1003@10.0.0.5:5060");
  EXPECT_EQ(resolved->target.host, "203.0.113.9");
  EXPECT_EQ(resolved->target.port, 40000);
  // Headers, an alias already, or no room: none.
  EXPECT_FALSE(sip::write_aliased_uri("sip:1003@10.0.0.5?Subject=x", "203.0.113.9:1", out));
  EXPECT_FALSE(sip::write_aliased_uri("sip:1003@10.0.0.5;alias=1.2.3.4~5~1", "203.0.113.9:1", out));
  std::array<char, 30> small;
  EXPECT_FALSE(sip::write_aliased_uri("sip:1003@10.0.0.5:5060", "203.0.113.9:40000", small));
}

TEST(ContactAliasRewrite, ForwardedRequestsAndResponsesCarryTheAliasInTheUri) {
  const std::string bracketed = request_with_contact("\"A\" <sip:1001@10.0.0.5:5062>;expires=60");
  auto message = parsed(bracketed);
  sip::RequestEdits edits;
  edits.via.sent_by = "192.0.2.1:5060";
  edits.via.branch = "z9hG4bK-ours";
  edits.contact_alias = {*sip::aliasable_contact(*message), "203.0.113.9~40000~1"};
  std::array<char, 2048> out{};
  sip::Written written = sip::write_forwarded_request(*message, edits, out);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(contact_line({out.data(), written.size}),
            "Contact: \"A\" <sip:1001@10.0.0.5:5062;alias=203.0.113.9~40000~1>;expires=60");
  // A bare addr-spec gets brackets, so that the alias is the URI's parameter, not the
  // header's (RFC 3261 §20.10).
  const std::string bare = request_with_contact("sip:1001@10.0.0.5:5062;expires=60");
  message = parsed(bare);
  edits.contact_alias = {*sip::aliasable_contact(*message), "203.0.113.9~40000~1"};
  written = sip::write_forwarded_request(*message, edits, out);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(contact_line({out.data(), written.size}),
            "Contact: <sip:1001@10.0.0.5:5062;alias=203.0.113.9~40000~1>;expires=60");

  const std::string ok =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-ours\r\n"
      "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-n1;rport=40000;received=203.0.113.9\r\n"
      "From: <sip:1001@sipline.local>;tag=f1\r\n"
      "To: <sip:1002@sipline.local>;tag=t2\r\n"
      "Call-ID: nat-1@10.0.0.5\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:1002@192.168.7.2:5060>\r\n"
      "Content-Length: 0\r\n\r\n";
  message = parsed(ok);
  sip::ResponseEdits response_edits;
  response_edits.contact_alias = {*sip::aliasable_contact(*message), "198.51.100.4~5070~1"};
  written = sip::write_forwarded_response(*message, response_edits, out);
  ASSERT_TRUE(written.ok());
  const std::string forwarded(out.data(), written.size);
  EXPECT_EQ(contact_line(forwarded),
            "Contact: <sip:1002@192.168.7.2:5060;alias=198.51.100.4~5070~1>");
  EXPECT_EQ(forwarded.find("z9hG4bK-ours"), std::string::npos) << "our Via is popped";
}

// ---- the pipeline --------------------------------------------------------------------------

constexpr std::string_view kConfig = R"toml(
[listen]
udp = ["192.0.2.1:5060"]
[domain]
names = ["sipline.local"]
record_route = true
[registrar]
store = "memory"
auth = false
[[users]]
user = "1002"
password = "secret-1002"
[[routes]]
name = "out"
user_prefix = "7"
action = "forward"
target = "sip:198.51.100.50:5070"
)toml";

class ContactAliasPipeline : public ::testing::Test {
 protected:
  explicit ContactAliasPipeline(std::string_view text = kConfig) : location_(1), out_(4096) {
    const config::LoadResult loaded = config::load_config_text(text, "alias_test.toml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors.front());
    context_ = dataplane::PipelineContext::create(loaded.config, &location_);
    pipeline_ = std::make_unique<dataplane::Pipeline>(*context_, 0);
    pipeline_->set_counters(&counters_);
  }

  dataplane::Outcome process(const std::string& text, std::string_view from) {
    const dataplane::Inbound in{text, *dataplane::peer_from_text(from), 0};
    return pipeline_->process(in, kNow, dataplane::OutputBuffers{out_, {}});
  }
  std::string written(const dataplane::Outcome& outcome) const {
    return std::string(out_.data(), outcome.size);
  }
  std::uint64_t aliased() const { return counters_.contacts_aliased.read(); }

  dataplane::LocationTable location_;
  std::vector<char> out_;
  dataplane::WorkerCounters counters_;
  std::unique_ptr<dataplane::PipelineContext> context_;
  std::unique_ptr<dataplane::Pipeline> pipeline_;
};

TEST_F(ContactAliasPipeline, ARequestFromBehindNatHasItsContactAliasedToItsSource) {
  const dataplane::Outcome outcome =
      process(request_with_contact("<sip:1001@10.0.0.5:5060>", "sip:7000@sipline.local"),
              "203.0.113.9:40000");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(contact_line(written(outcome)),
            "Contact: <sip:1001@10.0.0.5:5060;alias=203.0.113.9~40000~1>");
  EXPECT_EQ(aliased(), 1u);
}

TEST_F(ContactAliasPipeline, PublicOrSourceAddressContactsAreLeftAlone) {
  // A public Contact: reachable as written.
  dataplane::Outcome outcome =
      process(request_with_contact("<sip:1001@198.51.100.8:5060>", "sip:7000@sipline.local"),
              "203.0.113.9:40000");
  EXPECT_EQ(contact_line(written(outcome)), "Contact: <sip:1001@198.51.100.8:5060>");
  // A private Contact that is the source itself: the proxy and the UA share the network.
  outcome = process(request_with_contact("<sip:1001@10.0.0.5:5060>", "sip:7000@sipline.local"),
                    "10.0.0.5:5060");
  EXPECT_EQ(contact_line(written(outcome)), "Contact: <sip:1001@10.0.0.5:5060>");
  EXPECT_EQ(aliased(), 0u);
}

// The callee behind NAT: its 200's Contact becomes the caller's remote target.
TEST_F(ContactAliasPipeline, AResponseFromBehindNatHasItsContactAliased) {
  const dataplane::Outcome sent =
      process(request_with_contact("<sip:1001@198.51.100.8:5060>", "sip:7000@sipline.local"),
              "198.51.100.8:5060");
  ASSERT_EQ(sent.verdict, dataplane::Verdict::Send);
  const std::string forwarded = written(sent);
  // The callee's 200: the Vias of what it received, its private Contact.
  std::string ok = "SIP/2.0 200 OK\r\n";
  std::size_t line = forwarded.find("\r\nVia: ");
  while (line != std::string::npos) {
    const std::size_t end = forwarded.find("\r\n", line + 2);
    ok += forwarded.substr(line + 2, end - line);
    line = forwarded.find("\r\nVia: ", end);
  }
  ok +=
      "From: <sip:1001@sipline.local>;tag=f1\r\n"
      "To: <sip:7000@sipline.local>;tag=t2\r\n"
      "Call-ID: nat-1@10.0.0.5\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:7000@192.168.7.2:5060>\r\n"
      "Content-Length: 0\r\n\r\n";
  const dataplane::Outcome relayed = process(ok, "198.51.100.50:40001");
  ASSERT_EQ(relayed.verdict, dataplane::Verdict::Send) << ok;
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedResponse);
  EXPECT_EQ(contact_line(written(relayed)),
            "Contact: <sip:7000@192.168.7.2:5060;alias=198.51.100.50~40001~1>");
  // A registrar's 200 lists the UA's own bindings: not aliased.
  std::string registered = ok;
  registered.replace(registered.find("CSeq: 1 INVITE"), 14, "CSeq: 1 REGISTER");
  const dataplane::Outcome binding = process(registered, "198.51.100.50:40001");
  ASSERT_EQ(binding.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(contact_line(written(binding)), "Contact: <sip:7000@192.168.7.2:5060>");
  EXPECT_EQ(aliased(), 1u);
}

// The in-dialog request for the UA behind NAT (the proxy is on its route set) goes to the
// alias's address, with the Request-URI the UA wrote.
TEST_F(ContactAliasPipeline, AnInDialogRequestGoesToTheAliasWithoutIt) {
  const std::string bye =
      "BYE sip:1001@10.0.0.5:5060;alias=203.0.113.9~40000~1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 198.51.100.50:5070;branch=z9hG4bK-b1;rport\r\n"
      "Route: <sip:192.0.2.1:5060;lr>\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:7000@sipline.local>;tag=t2\r\n"
      "To: <sip:1001@sipline.local>;tag=f1\r\n"
      "Call-ID: nat-1@10.0.0.5\r\n"
      "CSeq: 2 BYE\r\n"
      "Content-Length: 0\r\n\r\n";
  const dataplane::Outcome outcome = process(bye, "198.51.100.50:5070");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(outcome.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(std::string(dataplane::format_peer(outcome.destination).view()), "203.0.113.9:40000");
  EXPECT_TRUE(written(outcome).starts_with("BYE sip:1001@10.0.0.5:5060 SIP/2.0\r\n"))
      << written(outcome);
  // An alias aiming at what no datagram may go to is unroutable, as a Request-URI would be.
  std::string multicast = bye;
  multicast.replace(multicast.find("203.0.113.9"), 11, "224.0.0.1");
  const dataplane::Outcome refused = process(multicast, "198.51.100.50:5070");
  EXPECT_EQ(refused.verdict, dataplane::Verdict::Drop);
  EXPECT_EQ(refused.drop, dataplane::DropReason::Unroutable);
}

// A re-INVITE in a dialog `route` (Route lines) says it came through, sent to a carrier's
// address by its Request-URI.
std::string reinvite_to_carrier(std::string_view method, std::string_view route) {
  return std::string(method) +
         " sip:+19005550100@198.51.100.77:5060 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 203.0.113.9:40000;branch=z9hG4bK-inj;rport\r\n" +
         std::string(route) +
         "Max-Forwards: 70\r\n"
         "From: <sip:1001@sipline.local>;tag=f9\r\n"
         "To: <sip:+19005550100@sipline.local>;tag=invented\r\n"
         "Call-ID: inj-1@203.0.113.9\r\n"
         "CSeq: 1 " +
         std::string(method) +
         "\r\n"
         "Content-Length: 0\r\n\r\n";
}

// With Record-Route every dialog through the proxy has it in its route set: an in-dialog
// request from a phone without our Route belongs to no dialog we set up. Relayed by its
// Request-URI, an invented To tag would carry a call to the carrier from our address.
TEST_F(ContactAliasPipeline, ADialogRequestThatDidNotComeThroughUsIsRefused) {
  const dataplane::Outcome refused =
      process(reinvite_to_carrier("INVITE", ""), "203.0.113.9:40000");
  ASSERT_EQ(refused.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(refused.kind, dataplane::SendKind::LocalResponse);
  EXPECT_EQ(refused.code, 403);
  const dataplane::Outcome ack = process(reinvite_to_carrier("ACK", ""), "203.0.113.9:40000");
  EXPECT_EQ(ack.verdict, dataplane::Verdict::Drop);
  EXPECT_EQ(ack.drop, dataplane::DropReason::AckUnrouted);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 2u);
  // Through our Route (the dialog's route set): relayed.
  dataplane::Outcome relayed = process(
      reinvite_to_carrier("INVITE", "Route: <sip:192.0.2.1:5060;lr>\r\n"), "203.0.113.9:40000");
  ASSERT_EQ(relayed.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(std::string(dataplane::format_peer(relayed.destination).view()), "198.51.100.77:5060");
  // From a server we route to (the trust domain): relayed as before.
  relayed = process(reinvite_to_carrier("INVITE", ""), "198.51.100.50:5070");
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 2u);
}

// [domain] route_secret: our Record-Route URI carries a token of the Call-ID
// (sip/route_token.hpp), and in-dialog requests from outside the trust domain must bring it
// back. Our Route copied from another dialog, or written by hand, is refused.
class SignedRecordRoute : public ContactAliasPipeline {
 protected:
  static constexpr std::string_view kSecret = "5f0c1d7e9a2b4c6d8e0f1a3b5c7d9e1f";
  SignedRecordRoute() : ContactAliasPipeline(config_text()) {}
  static std::string config_text() {
    std::string text(kConfig);
    text.insert(text.find("record_route = true\n") + std::string("record_route = true\n").size(),
                "route_secret = \"" + std::string(kSecret) + "\"\n");
    return text;
  }
  static std::string token_of(std::string_view call_id) {
    const auto token = sip::route_token(sip::route_token_key(kSecret), call_id);
    return {token.data(), token.size()};
  }
  static std::string record_route_line(const std::string& message) {
    const std::size_t start = message.find("\r\nRecord-Route: ");
    if (start == std::string::npos) return {};
    return message.substr(start + 2, message.find("\r\n", start + 2) - start - 2);
  }
};

TEST_F(SignedRecordRoute, TheRecordRouteCarriesTheCallIdsToken) {
  const dataplane::Outcome outcome =
      process(request_with_contact("<sip:1001@198.51.100.8:5060>", "sip:7000@sipline.local"),
              "203.0.113.9:40000");
  ASSERT_EQ(outcome.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(record_route_line(written(outcome)),
            "Record-Route: <sip:192.0.2.1:5060;rt=" + token_of("nat-1@10.0.0.5") + ";lr>");
  EXPECT_EQ(token_of("nat-1@10.0.0.5").size(), 16u);
}

TEST_F(SignedRecordRoute, OnlyTheDialogsOwnTokenLetsAPhonesDialogRequestThrough) {
  const std::string call_id = "inj-1@203.0.113.9";  // reinvite_to_carrier()'s
  const auto route = [](const std::string& params) {
    return "Route: <sip:192.0.2.1:5060" + params + ";lr>\r\n";
  };
  // The dialog's own route set: relayed to the carrier, its Route popped.
  dataplane::Outcome relayed = process(
      reinvite_to_carrier("INVITE", route(";rt=" + token_of(call_id))), "203.0.113.9:40000");
  ASSERT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(std::string(dataplane::format_peer(relayed.destination).view()), "198.51.100.77:5060");
  EXPECT_EQ(written(relayed).find("\r\nRoute:"), std::string::npos);
  // Re-cased on the way (a URI parameter's value): still the token.
  std::string upper = token_of(call_id);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  relayed = process(reinvite_to_carrier("BYE", route(";rt=" + upper)), "203.0.113.9:40000");
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 0u);

  // Our Route without a token, with another dialog's, or a made-up one: refused.
  for (const std::string& params : {std::string(), ";rt=" + token_of("other-call@203.0.113.9"),
                                    std::string(";rt=0123456789abcdef"), std::string(";rt")}) {
    const dataplane::Outcome refused =
        process(reinvite_to_carrier("INVITE", route(params)), "203.0.113.9:40000");
    ASSERT_EQ(refused.verdict, dataplane::Verdict::Send) << params;
    EXPECT_EQ(refused.kind, dataplane::SendKind::LocalResponse) << params;
    EXPECT_EQ(refused.code, 403) << params;
  }
  // Followed by another Route (the next hop by Route, not by Request-URI): refused alike.
  const dataplane::Outcome refused =
      process(reinvite_to_carrier("INVITE", route("") + "Route: <sip:198.51.100.77:5060;lr>\r\n"),
              "203.0.113.9:40000");
  EXPECT_EQ(refused.code, 403);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 5u);

  // An ACK passes (it starts nothing; a failed INVITE's ACK carries its preloaded Route).
  const dataplane::Outcome ack =
      process(reinvite_to_carrier("ACK", route("")), "203.0.113.9:40000");
  EXPECT_EQ(ack.kind, dataplane::SendKind::ForwardedRequest);
  // A server we route to (the trust domain) needs no token.
  relayed = process(reinvite_to_carrier("INVITE", route("")), "198.51.100.50:5070");
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  // A new request (no To tag) through our Route as an outbound proxy needs none either.
  relayed = process(
      route("") + request_with_contact("<sip:1001@198.51.100.8:5060>", "sip:7000@sipline.local"),
      "203.0.113.9:40000");
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 5u);
}

// An RFC 2543 strict router puts our Record-Route URI, token and all, into the Request-URI.
TEST_F(SignedRecordRoute, AStrictRoutersRequestUriCarriesTheToken) {
  const std::string call_id = "inj-1@203.0.113.9";
  const auto strict = [&](const std::string& token) {
    std::string text =
        reinvite_to_carrier("BYE", "Route: <sip:+19005550100@198.51.100.77:5060>\r\n");
    text.replace(0, text.find(" SIP/2.0"), "BYE sip:192.0.2.1:5060;rt=" + token);
    return text;
  };
  const dataplane::Outcome relayed = process(strict(token_of(call_id)), "203.0.113.9:40000");
  ASSERT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest) << written(relayed);
  EXPECT_EQ(std::string(dataplane::format_peer(relayed.destination).view()), "198.51.100.77:5060");
  const dataplane::Outcome refused =
      process(strict(token_of("another@203.0.113.9")), "203.0.113.9:40000");
  EXPECT_EQ(refused.code, 403);
}

// Without Record-Route the in-dialog requests do not come back through the proxy: no alias.
class ContactAliasWithoutRecordRoute : public ContactAliasPipeline {
 protected:
  ContactAliasWithoutRecordRoute() : ContactAliasPipeline(config_text()) {}
  static std::string config_text() {
    std::string text(kConfig);
    text.erase(text.find("record_route = true\n"), std::string("record_route = true\n").size());
    return text;
  }
};

// Without Record-Route a phone that uses the proxy as its outbound proxy sends its in-dialog
// requests there without our Route: relayed by their Request-URI.
TEST_F(ContactAliasWithoutRecordRoute, ADialogRequestWithoutOurRouteIsRelayed) {
  const dataplane::Outcome relayed =
      process(reinvite_to_carrier("INVITE", ""), "203.0.113.9:40000");
  EXPECT_EQ(relayed.kind, dataplane::SendKind::ForwardedRequest);
  EXPECT_EQ(counters_.foreign_dialog_refused.read(), 0u);
}

TEST_F(ContactAliasWithoutRecordRoute, NoAliasIsAdded) {
  const dataplane::Outcome outcome =
      process(request_with_contact("<sip:1001@10.0.0.5:5060>", "sip:7000@sipline.local"),
              "203.0.113.9:40000");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(contact_line(written(outcome)), "Contact: <sip:1001@10.0.0.5:5060>");
  EXPECT_EQ(aliased(), 0u);
}

}  // namespace
}  // namespace sipline

namespace sipline {
namespace {

// ---- shared registrations: a NATed phone registered through another node ------------------

// Node B (192.0.2.1) of two sharing one store, node A at 192.0.2.77, which is in B's trust
// domain (as A has B in its own).
constexpr std::string_view kNodeConfig = R"toml(
[listen]
udp = ["192.0.2.1:5060"]
[domain]
names = ["sipline.local"]
record_route = true
trust_domain = ["192.0.2.77/32"]
[registrar]
store = "memory"
auth = false
[[users]]
user = "1003"
password = "secret-1003"
[[users]]
user = "1004"
password = "secret-1004"
[[routes]]
name = "phones"
user_prefix = "100"
action = "location"
[[routes]]
name = "pbx"
methods = ["REGISTER"]
action = "forward"
target = "sip:192.0.2.90:5060"
)toml";

sip::Binding phone(std::string contact, std::string received, std::string node) {
  sip::Binding binding;
  binding.contact = std::move(contact);
  binding.received = std::move(received);
  binding.node_address = std::move(node);
  binding.call_id = "reg-1";
  binding.cseq = 1;
  binding.expires_at = kNow + 600;
  return binding;
}

std::string invite_for(std::string_view user, std::string_view call_id = "relay-1@198.51.100.50") {
  return "INVITE sip:" + std::string(user) +
         "@sipline.local SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 198.51.100.50:5070;branch=z9hG4bK-r" +
         std::string(call_id.substr(0, 7)) +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:9000@sipline.local>;tag=f1\r\n"
         "To: <sip:" +
         std::string(user) +
         "@sipline.local>\r\n"
         "Call-ID: " +
         std::string(call_id) +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n";
}

class NodeRelay : public ContactAliasPipeline {
 protected:
  NodeRelay() : ContactAliasPipeline(kNodeConfig) {}
  std::string destination(const dataplane::Outcome& outcome) const {
    return std::string(dataplane::format_peer(outcome.destination).view());
  }
  std::string request_line(const dataplane::Outcome& outcome) const {
    const std::string text = written(outcome);
    return text.substr(0, text.find("\r\n"));
  }
};

// B sends a request for a phone A registered from behind a NAT to A, the only address the
// NAT lets in, its Request-URI aliased to the phone's mapping there.
TEST_F(NodeRelay, AContactBehindNatRegisteredAtAnotherNodeIsReachedThroughIt) {
  location_.replace("1003",
                    {phone("sip:1003@10.0.0.5:5060", "203.0.113.9:40000", "192.0.2.77:5060")});
  const dataplane::Outcome outcome = process(invite_for("1003"), "198.51.100.50:5070");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send) << written(outcome);
  EXPECT_EQ(destination(outcome), "192.0.2.77:5060");
  EXPECT_EQ(request_line(outcome),
            "INVITE sip:1003@10.0.0.5:5060;alias=203.0.113.9~40000~1 SIP/2.0");
  EXPECT_EQ(counters_.node_relays_out.read(), 1u);
}

// Directly when the node is this one, or the phone is not behind NAT (its Contact is where it
// registered from: anyone reaches it).
TEST_F(NodeRelay, AContactRegisteredHereOrNotBehindNatIsReachedDirectly) {
  location_.replace("1003",
                    {phone("sip:1003@10.0.0.5:5060", "203.0.113.9:40000", "192.0.2.1:5060")});
  dataplane::Outcome outcome = process(invite_for("1003"), "198.51.100.50:5070");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(destination(outcome), "203.0.113.9:40000");
  EXPECT_EQ(request_line(outcome), "INVITE sip:1003@10.0.0.5:5060 SIP/2.0");
  location_.replace("1004",
                    {phone("sip:1004@203.0.113.20:5060", "203.0.113.20:5060", "192.0.2.77:5060")});
  outcome = process(invite_for("1004", "relay-2@198.51.100.50"), "198.51.100.50:5070");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(destination(outcome), "203.0.113.20:5060");
  EXPECT_EQ(request_line(outcome), "INVITE sip:1004@203.0.113.20:5060 SIP/2.0");
  EXPECT_EQ(counters_.node_relays_out.read(), 0u);
}

// A: the request B sent for its phone, from B (trusted), goes to the alias without it.
TEST_F(NodeRelay, ARequestFromAnotherNodeIsRelayedToTheAlias) {
  std::string relayed = invite_for("1003");
  relayed.replace(0, relayed.find(" SIP/2.0"),
                  "INVITE sip:1003@10.0.0.5:5060;alias=203.0.113.9~40000~1");
  const dataplane::Outcome outcome = process(relayed, "192.0.2.77:5060");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send) << written(outcome);
  EXPECT_EQ(destination(outcome), "203.0.113.9:40000");
  EXPECT_EQ(request_line(outcome), "INVITE sip:1003@10.0.0.5:5060 SIP/2.0");
  EXPECT_EQ(counters_.node_relays_in.read(), 1u);
  // The ACK of a failed attempt (B's, To tag) goes the same way, as in-dialog requests to an
  // alias do.
  std::string ack = relayed;
  ack.replace(0, 6, "ACK");
  ack.replace(ack.find("CSeq: 1 INVITE"), 14, "CSeq: 1 ACK");
  ack.insert(ack.find("\r\n", ack.find("\r\nTo: ") + 2), ";tag=phone-1");
  const dataplane::Outcome acked = process(ack, "192.0.2.77:5060");
  ASSERT_EQ(acked.verdict, dataplane::Verdict::Send) << written(acked);
  EXPECT_EQ(destination(acked), "203.0.113.9:40000");
  EXPECT_EQ(request_line(acked), "ACK sip:1003@10.0.0.5:5060 SIP/2.0");
  // From anyone else the alias is no instruction: the route table decides (no route for the
  // Request-URI's user "1003"... here "phones" matches and 1003 has no binding: 480).
  const dataplane::Outcome refused = process(relayed, "198.51.100.50:5070");
  ASSERT_EQ(refused.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(refused.kind, dataplane::SendKind::LocalResponse);
  EXPECT_EQ(request_line(refused), "SIP/2.0 480 Temporarily Unavailable");
  EXPECT_EQ(counters_.node_relays_in.read(), 1u);
}

// In front of another registrar (a PBX): a REGISTER we forward carries our Path, naming where
// it came from (RFC 3327); the Contact goes as the phone wrote it.
TEST_F(NodeRelay, AForwardedRegisterCarriesOurPathNamingItsSource) {
  const std::string registration =
      "REGISTER sip:pbx.example SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-reg1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:1003@pbx.example>;tag=r1\r\n"
      "To: <sip:1003@pbx.example>\r\n"
      "Call-ID: reg-1@10.0.0.5\r\n"
      "CSeq: 1 REGISTER\r\n"
      "Contact: <sip:1003@10.0.0.5:5060>\r\n"
      "Content-Length: 0\r\n\r\n";
  const dataplane::Outcome outcome = process(registration, "203.0.113.9:40000");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send) << written(outcome);
  EXPECT_EQ(destination(outcome), "192.0.2.90:5060");
  const std::string sent = written(outcome);
  const std::size_t path = sent.find("\r\nPath: ");
  ASSERT_NE(path, std::string::npos) << sent;
  EXPECT_EQ(sent.substr(path + 2, sent.find("\r\n", path + 2) - path - 2),
            "Path: <sip:192.0.2.1:5060;lr;alias=203.0.113.9~40000~1>");
  EXPECT_LT(sent.rfind("\r\nVia: ", path), path) << "after the Vias";
  EXPECT_EQ(contact_line(sent), "Contact: <sip:1003@10.0.0.5:5060>");
}

// The registrar's request to the phone comes back along that Path: our Route, popped, names
// where to send it; the Request-URI stays the registrar's.
TEST_F(NodeRelay, ARequestAlongOurPathGoesWhereTheRegisterCameFrom) {
  std::string invite = invite_for("1003");
  invite.replace(0, invite.find(" SIP/2.0"), "INVITE sip:1003@10.0.0.5:5060");
  invite.insert(invite.find("Max-Forwards"),
                "Route: <sip:192.0.2.1:5060;lr;alias=203.0.113.9~40000~1>\r\n");
  const dataplane::Outcome outcome = process(invite, "192.0.2.90:5060");
  ASSERT_EQ(outcome.verdict, dataplane::Verdict::Send) << written(outcome);
  EXPECT_EQ(destination(outcome), "203.0.113.9:40000");
  EXPECT_EQ(request_line(outcome), "INVITE sip:1003@10.0.0.5:5060 SIP/2.0");
  EXPECT_EQ(written(outcome).find("\r\nRoute: "), std::string::npos) << "our Route popped";
  EXPECT_EQ(counters_.path_relays.read(), 1u);
  // From outside the trust domain our Route with an alias is no instruction: the table
  // decides (1003 has no binding here: 480).
  const dataplane::Outcome refused = process(invite, "198.51.100.66:5060");
  ASSERT_EQ(refused.verdict, dataplane::Verdict::Send);
  EXPECT_EQ(request_line(refused), "SIP/2.0 480 Temporarily Unavailable");
  EXPECT_EQ(counters_.path_relays.read(), 1u);
}

}  // namespace
}  // namespace sipline

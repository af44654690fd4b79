#include "dataplane/binding_codec.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace sipline::dataplane {
namespace {

sip::Binding full_binding(std::string contact) {
  sip::Binding binding;
  binding.aor = "1001";
  binding.contact = std::move(contact);
  binding.received = "[2001:db8::1]:5070";
  binding.call_id = "a84b4c76e66710@pc33.example.com";
  binding.cseq = 4294967295u;
  binding.expires_at = 1700003600;
  binding.q_milli = 700;
  binding.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  return binding;
}

TEST(BindingCodec, RoundTripsEveryField) {
  // Octets a Contact may hold that a line- or space-separated format would trip on.
  const std::vector<sip::Binding> bindings = {
      full_binding("sip:1001@127.0.0.1:5070;transport=udp"),
      full_binding(std::string("<sip:a b,c:d@x>\r\n\0;q=1", 22)),
  };
  const std::string encoded = encode_bindings(bindings);
  const auto decoded = decode_bindings(encoded, "1001");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bindings);
}

// Only what a binding cannot be without: a contact, an expiry, a CSeq, a q.
sip::Binding small_binding() {
  sip::Binding binding;
  binding.contact = "sip:a@b";
  binding.expires_at = 9;
  binding.cseq = 1;
  binding.q_milli = 1000;
  return binding;
}

TEST(BindingCodec, TheBytesAreNetstrings) {
  const sip::Binding binding = small_binding();
  EXPECT_EQ(encode_bindings({binding}), "SLB17:sip:a@b,0:,0:,0:,1:9,1:1,4:1000,");
  EXPECT_EQ(encode_bindings({}), "SLB1");
  const auto none = decode_bindings("SLB1", "1001");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

// A list with a binding another node took (shared registrations) carries every binding's node
// address as an eighth netstring, under SLB2; one without any stays SLB1, which earlier nodes
// read.
TEST(BindingCodec, TheNodeOfABindingMakesTheListSLB2) {
  sip::Binding binding = small_binding();
  sip::Binding relayed = binding;
  relayed.contact = "sip:c@d";
  relayed.node_address = "192.0.2.77:5060";
  const std::string both = encode_bindings({binding, relayed});
  EXPECT_EQ(both,
            "SLB27:sip:a@b,0:,0:,0:,1:9,1:1,4:1000,0:,"
            "7:sip:c@d,0:,0:,0:,1:9,1:1,4:1000,15:192.0.2.77:5060,");
  const auto decoded = decode_bindings(both, "1001");
  ASSERT_TRUE(decoded.has_value());
  binding.aor = relayed.aor = "1001";
  EXPECT_EQ(*decoded, (std::vector<sip::Binding>{binding, relayed}));
  EXPECT_TRUE(encode_bindings({binding}).starts_with("SLB1"));
  const std::string stored = encode_stored_binding(relayed);
  EXPECT_EQ(decode_stored_binding(stored, "1001"), relayed);
}

TEST(BindingCodec, RefusesWhatIsNotWhole) {
  const std::string good = encode_bindings({full_binding("sip:1001@h")});
  ASSERT_TRUE(decode_bindings(good, "1001").has_value());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    if (cut == 4) continue;  // "SLB1" alone is the empty list
    EXPECT_FALSE(decode_bindings(good.substr(0, cut), "1001").has_value()) << cut;
  }
  // SLB2's bindings have an eighth field (the node): SLB1's seven are not one.
  EXPECT_FALSE(decode_bindings("SLB2" + good.substr(4), "1001").has_value());
  EXPECT_FALSE(decode_bindings("SLB3" + good.substr(4), "1001").has_value());  // unknown
  EXPECT_FALSE(decode_bindings(good + "x", "1001").has_value());               // trailing bytes
  EXPECT_FALSE(decode_bindings("SLB10:,0:,0:,0:,1:9,1:1,1:1,", "1001").has_value());  // no contact
  EXPECT_FALSE(
      decode_bindings("SLB11:c,0:,0:,0:,1:x,1:1,1:1,", "1001").has_value());  // not a number
  EXPECT_FALSE(decode_bindings("SLB11:c,0:,0:,0:,1:9,1:1,5:70000,", "1001").has_value());  // q
  EXPECT_FALSE(decode_bindings("SLB199999999:c,", "1001").has_value());  // absurd length
  EXPECT_FALSE(decode_bindings("{\"contact\":\"sip:x\"}", "1001").has_value());
}

TEST(StoredBinding, StartsWithItsExpiryAndRoundTrips) {
  const sip::Binding binding = full_binding(std::string("<sip:a b,c:d@x>\r\n\0", 18));
  const std::string encoded = encode_stored_binding(binding);
  // The save script reads the expiry from the front without decoding the rest.
  EXPECT_TRUE(encoded.starts_with("1700003600 SLB1")) << encoded;
  EXPECT_EQ(decode_stored_binding(encoded, "1001"), std::optional<sip::Binding>(binding));

  const std::string two = encode_bindings({full_binding("sip:a@h"), full_binding("sip:b@h")});
  EXPECT_FALSE(decode_stored_binding("1700003600 " + two, "1001").has_value());  // one only
  EXPECT_FALSE(decode_stored_binding("1700003601" + encoded.substr(10), "1001").has_value());
  EXPECT_FALSE(decode_stored_binding(encoded.substr(11), "1001").has_value());  // no expiry
  EXPECT_FALSE(decode_stored_binding("", "1001").has_value());
}

TEST(ChangeNotice, CarriesNodeAorAndTheChange) {
  ChangeNotice sent{0xfeedfacecafebeefULL, "1001", false, {}};
  sent.delta.upserts = {full_binding("sip:1001@192.0.2.7:5062")};
  sent.delta.removed = {"sip:1001@10.0.0.5:5060", std::string("sip:odd,\0@x", 11)};
  const std::string encoded = encode_change_notice(sent);
  EXPECT_TRUE(encoded.starts_with("SLN220:18369614221190020847,4:1001,1:0,1:2,")) << encoded;
  const auto notice = decode_change_notice(encoded);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(notice->node, 0xfeedfacecafebeefULL);
  EXPECT_EQ(change_notice_origin(encoded), (NoticeOrigin{0xfeedfacecafebeefULL, false}));
  EXPECT_FALSE(change_notice_origin("SLB1").has_value());
  EXPECT_FALSE(notice->retried);
  EXPECT_EQ(notice->aor, "1001");
  EXPECT_FALSE(notice->whole);
  EXPECT_EQ(notice->delta, sent.delta);

  const ChangeNotice removal{3, "alice", true, {}};
  const auto decoded = decode_change_notice(encode_change_notice(removal));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->aor, "alice");
  EXPECT_TRUE(decoded->whole);
  EXPECT_TRUE(decoded->delta.empty());

  // Written again after the store refused it: mode 2 (a change) or 3 (a whole list).
  ChangeNotice again = sent;
  again.retried = true;
  const std::string retried = encode_change_notice(again);
  EXPECT_TRUE(retried.starts_with("SLN220:18369614221190020847,4:1001,1:2,")) << retried;
  EXPECT_EQ(change_notice_origin(retried), (NoticeOrigin{0xfeedfacecafebeefULL, true}));
  ASSERT_TRUE(decode_change_notice(retried).has_value());
  EXPECT_TRUE(decode_change_notice(retried)->retried);
  EXPECT_FALSE(decode_change_notice(retried)->whole);
  const ChangeNotice whole_again{3, "alice", true, {}, true};
  EXPECT_TRUE(encode_change_notice(whole_again).starts_with("SLN21:3,5:alice,1:3,"));
}

TEST(ChangeNotice, RefusesForeignOrBrokenNotices) {
  ChangeNotice sent{3, "1001", false, {}};
  sent.delta.upserts = {full_binding("sip:1001@h")};
  sent.delta.removed = {"sip:1001@old"};
  const std::string good = encode_change_notice(sent);
  ASSERT_TRUE(decode_change_notice(good).has_value());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    const bool list_ends_here = good.substr(0, cut).ends_with("SLB1");  // no upsert: valid
    if (!list_ends_here) {
      EXPECT_FALSE(decode_change_notice(good.substr(0, cut)).has_value()) << cut;
    }
  }
  EXPECT_FALSE(decode_change_notice("SLN21:3,0:,1:0,1:0,SLB1").has_value());   // empty AOR
  EXPECT_FALSE(decode_change_notice("SLN21:3,1:a,1:4,1:0,SLB1").has_value());  // mode
  EXPECT_FALSE(
      decode_change_notice("SLN21:3,1:a,1:1,1:1,1:c,SLB1").has_value());  // whole + removal
  EXPECT_FALSE(
      decode_change_notice("SLN21:3,1:a,1:0,1:2,1:c,SLB1").has_value());          // a removal short
  EXPECT_FALSE(decode_change_notice("SLN21:3,1:a,1:0,1:1,0:,SLB1").has_value());  // empty contact
  EXPECT_TRUE(decode_change_notice("SLN21:3,1:a,1:0,1:1,1:c,SLB1").has_value());
  // What an earlier version of sipline published (the AOR's whole list, no mode): not read.
  EXPECT_FALSE(decode_change_notice("SLN11:3,4:1001,SLB1").has_value());
  EXPECT_FALSE(decode_change_notice("hello").has_value());
}

}  // namespace
}  // namespace sipline::dataplane

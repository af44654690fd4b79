#include "dataplane/binding_codec.hpp"

#include <gtest/gtest.h>

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

TEST(BindingCodec, TheBytesAreNetstrings) {
  sip::Binding binding;
  binding.contact = "sip:a@b";
  binding.expires_at = 9;
  binding.cseq = 1;
  binding.q_milli = 1000;
  EXPECT_EQ(encode_bindings({binding}), "SLB17:sip:a@b,0:,0:,0:,1:9,1:1,4:1000,");
  EXPECT_EQ(encode_bindings({}), "SLB1");
  const auto none = decode_bindings("SLB1", "1001");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST(BindingCodec, RefusesWhatIsNotWhole) {
  const std::string good = encode_bindings({full_binding("sip:1001@h")});
  ASSERT_TRUE(decode_bindings(good, "1001").has_value());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    if (cut == 4) continue;  // "SLB1" alone is the empty list
    EXPECT_FALSE(decode_bindings(good.substr(0, cut), "1001").has_value()) << cut;
  }
  EXPECT_FALSE(decode_bindings("SLB2" + good.substr(4), "1001").has_value());  // other version
  EXPECT_FALSE(decode_bindings(good + "x", "1001").has_value());               // trailing bytes
  EXPECT_FALSE(decode_bindings("SLB10:,0:,0:,0:,1:9,1:1,1:1,", "1001").has_value());  // no contact
  EXPECT_FALSE(
      decode_bindings("SLB11:c,0:,0:,0:,1:x,1:1,1:1,", "1001").has_value());  // not a number
  EXPECT_FALSE(decode_bindings("SLB11:c,0:,0:,0:,1:9,1:1,5:70000,", "1001").has_value());  // q
  EXPECT_FALSE(decode_bindings("SLB199999999:c,", "1001").has_value());  // absurd length
  EXPECT_FALSE(decode_bindings("{\"contact\":\"sip:x\"}", "1001").has_value());
}

TEST(ChangeNotice, CarriesNodeAorAndBindings) {
  const std::vector<sip::Binding> bindings = {full_binding("sip:1001@192.0.2.7:5062")};
  const std::string encoded = encode_change_notice(0xfeedfacecafebeefULL, "1001", bindings);
  const auto notice = decode_change_notice(encoded);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(notice->node, 0xfeedfacecafebeefULL);
  EXPECT_EQ(change_notice_node(encoded), std::optional<std::uint64_t>(0xfeedfacecafebeefULL));
  EXPECT_FALSE(change_notice_node("SLB1").has_value());
  EXPECT_EQ(notice->aor, "1001");
  EXPECT_EQ(notice->bindings, bindings);

  const auto removal = decode_change_notice(encode_change_notice(3, "alice", {}));
  ASSERT_TRUE(removal.has_value());
  EXPECT_EQ(removal->aor, "alice");
  EXPECT_TRUE(removal->bindings.empty());
}

TEST(ChangeNotice, RefusesForeignOrBrokenNotices) {
  const std::string good = encode_change_notice(3, "1001", {full_binding("sip:1001@h")});
  const std::size_t removal_size = encode_change_notice(3, "1001", {}).size();
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    if (cut == removal_size) continue;  // that prefix is the notice of the AOR's removal
    EXPECT_FALSE(decode_change_notice(good.substr(0, cut)).has_value()) << cut;
  }
  EXPECT_FALSE(decode_change_notice("SLN11:3,0:,SLB1").has_value());  // empty AOR
  EXPECT_FALSE(decode_change_notice("hello").has_value());
}

}  // namespace
}  // namespace sipline::dataplane

// HEP3 capture (dataplane/hep_capture.hpp): the exact packet for IPv4 and IPv6 messages, a
// producer's channel when full or given too much, the capture thread sending to a collector,
// and the [capture] keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/hep_capture.hpp"
#include "tests/unit/loopback_socket.hpp"

namespace sipline::dataplane {
namespace {

lb::SocketAddress address(std::string_view text) {
  const lb::ParsedSocketAddress parsed = lb::parse_socket_address(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return parsed.value;
}

CapturedMessage message(std::string_view from, std::string_view to, std::string_view payload) {
  CapturedMessage captured;
  captured.unix_us = 1'800'000'000'123'456;
  captured.source = address(from);
  captured.destination = address(to);
  captured.size = static_cast<std::uint32_t>(payload.size());
  std::copy(payload.begin(), payload.end(), captured.payload.begin());
  return captured;
}

// One chunk: vendor 0, type, length (6 + value), value.
std::string chunk(std::uint16_t type, std::string value) {
  const std::size_t length = 6 + value.size();
  return std::string{0,
                     0,
                     static_cast<char>(type >> 8),
                     static_cast<char>(type),
                     static_cast<char>(length >> 8),
                     static_cast<char>(length)} +
         value;
}

std::string hep3(const std::string& chunks) {
  const std::size_t length = 6 + chunks.size();
  return "HEP3" + std::string{static_cast<char>(length >> 8), static_cast<char>(length)} + chunks;
}

std::string encoded(const CapturedMessage& captured, std::uint32_t id, std::string_view password) {
  std::vector<char> out(65536);
  const std::size_t size = encode_hep3(captured, id, password, out);
  return std::string(out.data(), size);
}

TEST(Hep3, AnIpv4MessageIsEveryChunkInNetworkOrder) {
  const std::string payload = "OPTIONS sip:192.0.2.1 SIP/2.0\r\n\r\n";
  const std::string expected = hep3(
      chunk(1, "\x02") + chunk(2, "\x11") + chunk(3, std::string("\xc0\x00\x02\x0a", 4)) +
      chunk(4, std::string("\xc0\x00\x02\x01", 4)) + chunk(7, "\x13\xc4") + chunk(8, "\x13\xc5") +
      // 1,800,000,000 s = 0x6B49D200, 123,456 us = 0x0001E240
      chunk(9, std::string("\x6b\x49\xd2\x00", 4)) + chunk(10, std::string("\x00\x01\xe2\x40", 4)) +
      chunk(11, "\x01") + chunk(12, std::string("\x00\x00\x07\xd1", 4)) + chunk(15, payload));
  EXPECT_EQ(encoded(message("192.0.2.10:5060", "192.0.2.1:5061", payload), 2001, ""), expected);
}

TEST(Hep3, AnIpv6MessageCarriesSixteenOctetAddressesAndThePassword) {
  const std::string got =
      encoded(message("[2001:db8::1]:5060", "[2001:db8::2]:5062", "x"), 1, "homer");
  ASSERT_GE(got.size(), 6u);
  EXPECT_EQ(got.substr(0, 4), "HEP3");
  EXPECT_EQ(static_cast<std::size_t>(static_cast<unsigned char>(got[4]) << 8 |
                                     static_cast<unsigned char>(got[5])),
            got.size());
  EXPECT_NE(got.find(chunk(1, "\x0a")), std::string::npos);
  std::string source(16, '\0');
  source[0] = 0x20;
  source[1] = 0x01;
  source[2] = 0x0d;
  source[3] = static_cast<char>(0xb8);
  source[15] = 1;
  EXPECT_NE(got.find(chunk(5, source)), std::string::npos);
  source[15] = 2;
  EXPECT_NE(got.find(chunk(6, source)), std::string::npos);
  EXPECT_NE(got.find(chunk(14, "homer")), std::string::npos);
  EXPECT_EQ(got.substr(got.size() - 7), chunk(15, "x"));
}

TEST(Hep3, APacketThatDoesNotFitIsNotWritten) {
  std::vector<char> small(40);
  EXPECT_EQ(encode_hep3(message("192.0.2.10:5060", "192.0.2.1:5061", "x"), 1, "", small), 0u);
}

TEST(CaptureChannel, AFullChannelAndATooLargeMessageAreCountedNotWaitedFor) {
  CaptureChannel channel(2);
  const lb::SocketAddress a = address("192.0.2.10:5060");
  const lb::SocketAddress b = address("192.0.2.1:5060");
  channel.capture("one", a, b);
  channel.capture("two", b, a);
  channel.capture("three", a, b);  // no slot free
  channel.capture(std::string(kCapturePayload + 1, 'x'), a, b);
  EXPECT_EQ(channel.captured(), 2u);
  EXPECT_EQ(channel.dropped_full(), 1u);
  EXPECT_EQ(channel.too_large(), 1u);
  std::array<CapturedMessage*, 4> taken{};
  ASSERT_EQ(channel.take(taken), 2u);
  EXPECT_EQ(std::string_view(taken[0]->payload.data(), taken[0]->size), "one");
  EXPECT_EQ(taken[1]->source, b);
  EXPECT_GT(taken[0]->unix_us, 1'700'000'000'000'000);
  channel.release(std::span(taken.data(), 2));
  channel.capture("four", a, b);  // a slot again
  EXPECT_EQ(channel.captured(), 3u);
}

// A collector on loopback: what the capture thread sends reaches it, one HEP3 packet per
// message, in order; the counters line says so.
TEST(HepCapture, TheCaptureThreadSendsEachMessageToTheCollector) {
  const test::LoopbackSocket collector;
  config::CaptureConfig settings;
  settings.hep = address("127.0.0.1:" + std::to_string(collector.port));
  settings.capture_id = 7;
  {
    HepCapture::Opened opened = HepCapture::open(settings, 2);
    ASSERT_TRUE(opened.capture) << opened.error;
    opened.capture->channel(0).capture("INVITE", address("192.0.2.10:5060"),
                                       address("192.0.2.1:5060"));
    opened.capture->channel(1).capture("SIP/2.0 401", address("192.0.2.1:5060"),
                                       address("192.0.2.10:5060"));
    std::vector<std::string> received;
    for (int i = 0; i < 2; ++i)
      received.push_back(collector.receive());
    EXPECT_EQ(received[0].substr(received[0].size() - 12), chunk(15, "INVITE"));
    EXPECT_NE(received[0].find(chunk(12, std::string("\x00\x00\x00\x07", 4))), std::string::npos);
    EXPECT_EQ(received[1].substr(received[1].size() - 17), chunk(15, "SIP/2.0 401"));
    opened.capture->finish();  // the thread's counts are final once it has stopped
    EXPECT_EQ(opened.capture->counters_text(),
              "capture: hep=" + settings.hep->to_string() +
                  " captured=2 sent=2 dropped_full=0 too_large=0 send_failed=0\n");
  }
}

TEST(CaptureConfig, KeysAndMistakesAtTheirLines) {
  const std::string base =
      "[listen]\nudp = [\"127.0.0.1:5060\"]\n[domain]\nnames = [\"sipline.local\"]\n"
      "[registrar]\nstore = \"memory\"\n";
  const config::LoadResult loaded = config::load_config_text(
      base + "[capture]\nhep = \"[2001:db8::9]:9060\"\ncapture_id = 2001\npassword = \"k\"\n",
      "capture.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  EXPECT_EQ(loaded.config->capture.hep->to_string(), "[2001:db8::9]:9060");
  EXPECT_EQ(loaded.config->capture.capture_id, 2001u);
  EXPECT_EQ(loaded.config->capture.password, "k");
  EXPECT_FALSE(config::load_config_text(base, "c.toml").config->capture.hep.has_value());
  const config::LoadResult bad =
      config::load_config_text(base + "[capture]\nhep = \"homer:9060\"\n", "capture.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.errors.front().substr(0, 32), "capture.toml:8: capture.hep \"hom");
  const config::LoadResult alone =
      config::load_config_text(base + "[capture]\ncapture_id = 3\n", "capture.toml");
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.errors.front(), "capture.toml:8: capture.capture_id needs capture.hep");
}

}  // namespace
}  // namespace sipline::dataplane

// Helpers shared by the unit tests: corpus files, parsed messages that own their bytes, and
// exact text surgery. Header-only; every test program includes what it uses.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "sip/digest_auth.hpp"
#include "sip/message.hpp"

namespace sipline::test {

// The bytes of tests/corpus/<relative> (the test fails when the file is missing or empty).
inline std::string read_corpus(const std::string& relative) {
  std::ifstream file(std::string(SIPLINE_CORPUS_DIR) + "/" + relative, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  EXPECT_FALSE(bytes.str().empty()) << relative;
  return bytes.str();
}

// Replaces the one occurrence of `from` (the test fails when it is not there exactly once).
inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// A parsed message that owns its bytes (the views point into them). Message is about
// 10 KiB: it lives on the heap, not in the test's stack frame.
struct HeldMessage : sip::Message {
  std::string bytes;
};

// Parses `bytes` whatever the outcome.
inline std::unique_ptr<HeldMessage> parse_held(std::string bytes) {
  auto held = std::make_unique<HeldMessage>();
  held->bytes = std::move(bytes);
  sip::parse_message_into(*held, held->bytes);
  return held;
}

// Parses `bytes` and fails the test when they do not parse.
inline std::unique_ptr<HeldMessage> parse_ok(std::string bytes) {
  auto held = parse_held(std::move(bytes));
  EXPECT_TRUE(held->ok()) << sip::describe(held->error) << "\n" << held->bytes;
  return held;
}

// The value of `name="..."` in the first line of `text` that has it ("" when none).
inline std::string quoted_param(std::string_view text, std::string_view name) {
  const std::string key = std::string(name) + "=\"";
  const std::size_t start = text.find(key);
  if (start == std::string_view::npos) return {};
  const std::size_t value = start + key.size();
  return std::string(text.substr(value, text.find('"', value) - value));
}

// A Proxy-Authorization line (CRLF included) answering the 407 `challenge` of realm
// sipline.local for `user` with `password`, for an INVITE to `uri` (SHA-256, qop=auth, nc 1).
inline std::string proxy_authorization(std::string_view challenge, std::string_view user,
                                       std::string_view password, const std::string& uri) {
  const std::string nonce = quoted_param(challenge, "nonce");
  const sip::DigestHex ha1 =
      sip::digest_ha1(sip::DigestAlgorithm::Sha256, user, "sipline.local", password);
  const sip::DigestHex response =
      sip::digest_response({sip::DigestAlgorithm::Sha256, ha1.view(), "INVITE", uri, nonce,
                            "00000001", "c0ffee", "auth"});
  return "Proxy-Authorization: Digest username=\"" + std::string(user) +
         "\", realm=\"sipline.local\", nonce=\"" + nonce + "\", uri=\"" + uri + "\", response=\"" +
         std::string(response.view()) +
         "\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c0ffee\", opaque=\"" +
         quoted_param(challenge, "opaque") + "\"\r\n";
}

}  // namespace sipline::test

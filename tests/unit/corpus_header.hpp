// Test helper for the header-value parser tests: the raw value of one header line of a corpus
// message, cut as the message parser hands it over (after the ':', LWS-trimmed, folded lines
// kept), so the tests run on the corpus bytes rather than on retyped copies.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace sipline::test {

inline std::string read_corpus_file(const std::string& relative_path) {
  std::ifstream in(std::string(SIPLINE_CORPUS_DIR) + "/" + relative_path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

inline std::string trim_header_lws(std::string_view text) {
  const auto is_lws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_lws(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_lws(text.back()))
    text.remove_suffix(1);
  return std::string(text);
}

// The value of the `occurrence`-th (0-based) header line whose name, exactly as written up to
// the ':' (spaces included, e.g. "Via  "), is `name`. Fails the test when there is none.
inline std::string corpus_header_value(const std::string& relative_path, std::string_view name,
                                       int occurrence = 0) {
  const std::string text = read_corpus_file(relative_path);
  const std::string_view message(text);
  std::size_t line = message.find("\r\n") + 2;  // skip the start line
  while (line < message.size() && message.compare(line, 2, "\r\n") != 0) {
    std::size_t end = message.find("\r\n", line);
    while (end != std::string_view::npos && end + 2 < message.size() &&
           (message[end + 2] == ' ' || message[end + 2] == '\t')) {
      end = message.find("\r\n", end + 2);
    }
    if (end == std::string_view::npos) end = message.size();
    const std::string_view header = message.substr(line, end - line);
    if (header.size() > name.size() && header.substr(0, name.size()) == name &&
        header[name.size()] == ':' && occurrence-- == 0) {
      return trim_header_lws(header.substr(name.size() + 1));
    }
    line = end + 2;
  }
  ADD_FAILURE() << "no header '" << name << "' in " << relative_path;
  return "";
}

}  // namespace sipline::test

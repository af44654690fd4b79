#include "dataplane/metrics_text.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <span>
#include <utility>
#include <vector>

namespace sipline::dataplane {
namespace {

struct Label {
  std::string name;
  std::string value;
};

struct Sample {
  std::vector<Label> labels;
  std::string value;
};

// Metric name → samples, in the order names first appear.
class Exposition {
 public:
  void add(std::string name, std::vector<Label> labels, std::string value) {
    auto [it, inserted] = index_.try_emplace(name, families_.size());
    if (inserted) families_.push_back({std::move(name), {}});
    families_[it->second].second.push_back({std::move(labels), std::move(value)});
  }

  std::string text() const {
    std::string out;
    for (const auto& [name, samples] : families_) {
      for (const Sample& sample : samples) {
        out += name;
        append_labels(out, sample.labels);
        out += ' ';
        out += sample.value;
        out += '\n';
      }
    }
    return out;
  }

 private:
  // Label values escape backslash, double quote and line feed (the format's three).
  static void append_labels(std::string& out, const std::vector<Label>& labels) {
    if (labels.empty()) return;
    out += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i != 0) out += ',';
      out += labels[i].name;
      out += "=\"";
      for (char c : labels[i].value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      out += '"';
    }
    out += '}';
  }

  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::pair<std::string, std::vector<Sample>>> families_;
};

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find(' ', start), text.size());
    if (end > start) words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

bool is_number(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

// A metric name part: [a-z0-9_], anything else becomes '_'.
std::string name_part(std::string_view text) {
  std::string part(text);
  for (char& c : part) {
    const unsigned char u = static_cast<unsigned char>(c);
    c = std::isalnum(u) != 0 ? static_cast<char>(std::tolower(u)) : '_';
  }
  return part;
}

// "key=value" words: one sample each, when the value is an unsigned integer.
void add_values(Exposition& out, const std::string& prefix, const std::vector<Label>& labels,
                std::span<const std::string_view> words) {
  for (std::string_view word : words) {
    const std::size_t equals = word.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    const std::string_view value = word.substr(equals + 1);
    if (!is_number(value)) continue;
    out.add(prefix + name_part(word.substr(0, equals)), labels, std::string(value));
  }
}

// "pool NAME member I URI: up|down [drain] [unanswering] key=value ..."
void add_pool_member(Exposition& out, std::span<const std::string_view> words) {
  if (words.size() < 6 || words[2] != "member" || !words[4].ends_with(':')) return;
  const std::vector<Label> labels = {{"pool", std::string(words[1])},
                                     {"member", std::string(words[3])},
                                     {"uri", std::string(words[4].substr(0, words[4].size() - 1))}};
  const auto rest = words.subspan(5);
  const bool up = std::find(rest.begin(), rest.end(), "up") != rest.end();
  const bool drained = std::find(rest.begin(), rest.end(), "drain") != rest.end();
  const bool unanswering = std::find(rest.begin(), rest.end(), "unanswering") != rest.end();
  out.add("sipline_pool_member_up", labels, up ? "1" : "0");
  out.add("sipline_pool_member_drained", labels, drained ? "1" : "0");
  out.add("sipline_pool_member_unanswering", labels, unanswering ? "1" : "0");
  add_values(out, "sipline_pool_member_", labels, rest);
}

// "trunk NAME: registering|registered|failed AOR at URI (ADDRESS) key=value ..."
void add_trunk(Exposition& out, std::span<const std::string_view> words) {
  if (words.size() < 3 || !words[1].ends_with(':')) return;
  const std::vector<Label> labels = {
      {"trunk", std::string(words[1].substr(0, words[1].size() - 1))}};
  out.add("sipline_trunk_registered", labels, words[2] == "registered" ? "1" : "0");
  add_values(out, "sipline_trunk_", labels, words.subspan(3));
}

// "call_limit route|group NAME: calls=N max=M refused=R ..."
void add_call_limit(Exposition& out, std::span<const std::string_view> words) {
  if (words.size() < 4 || !words[2].ends_with(':')) return;
  const std::string kind(words[1]);
  const std::vector<Label> labels = {{kind, std::string(words[2].substr(0, words[2].size() - 1))}};
  add_values(out, "sipline_call_limit_" + kind + "_", labels, words.subspan(3));
}

void add_line(Exposition& out, std::string_view line) {
  const std::vector<std::string_view> words = split_words(line);
  if (words.empty()) return;
  if (words[0] == "pool") return add_pool_member(out, words);
  if (words[0] == "trunk") return add_trunk(out, words);
  if (words.size() > 1 && words[0] == "call_limit" &&
      (words[1] == "route" || words[1] == "group")) {
    return add_call_limit(out, words);
  }
  // HEAD: the words up to the one ending in ':'.
  const auto head_end =
      std::find_if(words.begin(), words.end(), [](std::string_view w) { return w.ends_with(':'); });
  if (head_end == words.end()) return;
  std::vector<std::string_view> head(words.begin(), head_end + 1);
  head.back().remove_suffix(1);
  if (head.size() == 1 && head[0] == "total") return;
  std::string prefix = "sipline_";
  std::vector<Label> labels;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (i + 1 < head.size() && is_number(head[i + 1])) {
      labels.push_back({name_part(head[i]), std::string(head[i + 1])});
      if (i == 0) prefix += name_part(head[i]) + "_";  // "worker 0:" → sipline_worker_...
      ++i;
      continue;
    }
    prefix += name_part(head[i]) + "_";
  }
  add_values(out, prefix, labels, std::span(words).subspan(head.size()));
}

}  // namespace

std::string prometheus_exposition(std::string_view counter_lines) {
  Exposition out;
  std::size_t start = 0;
  while (start < counter_lines.size()) {
    const std::size_t end = std::min(counter_lines.find('\n', start), counter_lines.size());
    add_line(out, counter_lines.substr(start, end - start));
    start = end + 1;
  }
  return out.text();
}

}  // namespace sipline::dataplane

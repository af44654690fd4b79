// Typed, error-collecting access to a parsed TOML document, shared by the config schema.
// Each accessor reports what is wrong ("KEY must be an integer, not a string") with the line
// toml++ recorded for the offending node, and keeps going so one load lists every error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace sipline::config {

// Errors of one load, formatted "SOURCE:LINE: message" (or "SOURCE: message" when no line
// applies, e.g. a key missing from a table that is itself absent).
class Diagnostics {
 public:
  explicit Diagnostics(std::string source) : source_(std::move(source)) {}

  void error(std::uint32_t line, std::string message);
  bool empty() const { return errors_.empty(); }
  // Ordered by line, so the list reads top to bottom like the file.
  std::vector<std::string> formatted() const;

 private:
  struct Error {
    std::uint32_t line;
    std::string message;
  };
  std::string source_;
  std::vector<Error> errors_;
};

std::uint32_t line_of(const toml::node& node);
// What a node is, for messages: "a string", "an integer", "a table", ...
std::string_view type_name(const toml::node& node);

// A string element of an array together with where it came from.
struct StringItem {
  std::string text;
  std::string path;  // "listen.udp[1]"
  std::uint32_t line = 0;
};

// An element of an array, of whatever type, together with where it came from: for arrays
// whose elements may be of more than one kind (a string or an inline table).
struct ArrayItem {
  const toml::node* node = nullptr;  // never null; owned by the document
  std::string path;                  // "pools[0].members[1]"
  std::uint32_t line = 0;
};

enum class Presence : std::uint8_t { Optional, Required };

// One table being validated; `path` names it in messages ("registrar", "routes[1]"). A
// section absent from the file is read as an empty table, so defaults and "missing required
// key" come from the same code.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, Diagnostics& diagnostics)
      : table_(table), path_(std::move(path)), diagnostics_(diagnostics) {}

  // Every key of the table outside `known` is an error: a misspelt key must not pass.
  void reject_unknown_keys(std::initializer_list<std::string_view> known) const;

  std::optional<std::string> string(std::string_view key, Presence presence) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                      Presence presence) const;
  // An optional count in [min, max] (min >= 0, max <= UINT32_MAX): the value, or `fallback`
  // when the key is absent or wrong (the error is reported as for integer()).
  std::uint32_t count_or(std::string_view key, std::int64_t min, std::int64_t max,
                         std::uint32_t fallback) const {
    return static_cast<std::uint32_t>(
        integer(key, min, max, Presence::Optional).value_or(fallback));
  }
  // Each element must be a string; nullopt when the key is absent or anything is wrong.
  std::optional<std::vector<StringItem>> string_array(std::string_view key,
                                                      Presence presence) const;
  // The elements of an array, unchecked: the caller tells each one's type (type_name() for
  // its message). nullopt when the key is absent or not an array (reported).
  std::optional<std::vector<ArrayItem>> array(std::string_view key, Presence presence) const;
  // A sub-table, or an empty table when absent (or wrong, after reporting it).
  TableReader table(std::string_view key) const;
  // The tables of an array of tables ([[key]]); empty when absent.
  std::vector<TableReader> array_of_tables(std::string_view key) const;

  bool has(std::string_view key) const { return table_.contains(key); }
  // The table's keys, in the table's order.
  std::vector<std::string> keys() const;
  std::string key_path(std::string_view key) const;
  std::uint32_t line() const { return line_of(table_); }
  // The line of `key`'s value, or of this table when the key is absent.
  std::uint32_t line_of_key(std::string_view key) const;
  const std::string& path() const { return path_; }
  Diagnostics& diagnostics() const { return diagnostics_; }

 private:
  const toml::node* node(std::string_view key, Presence presence) const;
  void wrong_type(std::string_view key, const toml::node& node, std::string_view wanted) const;
  std::optional<std::vector<ArrayItem>> items(std::string_view key, Presence presence,
                                              std::string_view wanted) const;

  const toml::table& table_;
  std::string path_;
  Diagnostics& diagnostics_;
};

}  // namespace sipline::config

#include "config/toml_reader.hpp"

#include <algorithm>

namespace sipline::config {
namespace {

std::string_view node_type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

const toml::table& empty_table() {
  static const toml::table kEmpty;
  return kEmpty;
}

}  // namespace

void Diagnostics::error(std::uint32_t line, std::string message) {
  errors_.push_back(Error{line, std::move(message)});
}

std::vector<std::string> Diagnostics::formatted() const {
  std::vector<Error> ordered = errors_;
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Error& a, const Error& b) { return a.line < b.line; });
  std::vector<std::string> lines;
  lines.reserve(ordered.size());
  for (const Error& error : ordered) {
    const std::string where =
        error.line == 0 ? source_ : source_ + ":" + std::to_string(error.line);
    lines.push_back(where + ": " + error.message);
  }
  return lines;
}

std::uint32_t line_of(const toml::node& node) {
  return node.source().begin.line;
}

std::string_view type_name(const toml::node& node) {
  return node_type_name(node.type());
}

void TableReader::reject_unknown_keys(std::initializer_list<std::string_view> known) const {
  for (const auto& [key, value] : table_) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    const std::uint32_t line =
        key.source().begin.line != 0 ? key.source().begin.line : line_of(value);
    diagnostics_.error(line, "unknown key \"" + key_path(key.str()) + "\"");
  }
}

std::string TableReader::key_path(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

std::vector<std::string> TableReader::keys() const {
  std::vector<std::string> names;
  for (const auto& [key, value] : table_)
    names.emplace_back(key.str());
  return names;
}

std::uint32_t TableReader::line_of_key(std::string_view key) const {
  const toml::node* value = table_.get(key);
  return value != nullptr ? line_of(*value) : line();
}

const toml::node* TableReader::node(std::string_view key, Presence presence) const {
  const toml::node* value = table_.get(key);
  if (value == nullptr && presence == Presence::Required) {
    diagnostics_.error(line(), "missing required key \"" + key_path(key) + "\"");
  }
  return value;
}

void TableReader::wrong_type(std::string_view key, const toml::node& value,
                             std::string_view wanted) const {
  diagnostics_.error(line_of(value), key_path(key) + " must be " + std::string(wanted) + ", not " +
                                         std::string(type_name(value)));
}

std::optional<std::string> TableReader::string(std::string_view key, Presence presence) const {
  const toml::node* value = node(key, presence);
  if (value == nullptr) return std::nullopt;
  if (const auto* text = value->as_string()) return text->get();
  wrong_type(key, *value, "a string");
  return std::nullopt;
}

std::optional<bool> TableReader::boolean(std::string_view key) const {
  const toml::node* value = node(key, Presence::Optional);
  if (value == nullptr) return std::nullopt;
  if (const auto* flag = value->as_boolean()) return flag->get();
  wrong_type(key, *value, "a boolean");
  return std::nullopt;
}

std::optional<std::int64_t> TableReader::integer(std::string_view key, std::int64_t min,
                                                 std::int64_t max, Presence presence) const {
  const toml::node* value = node(key, presence);
  if (value == nullptr) return std::nullopt;
  const auto* number = value->as_integer();
  if (number == nullptr) {
    wrong_type(key, *value, "an integer");
    return std::nullopt;
  }
  if (number->get() < min || number->get() > max) {
    diagnostics_.error(line_of(*value), key_path(key) + " must be " + std::to_string(min) + ".." +
                                            std::to_string(max) + ", not " +
                                            std::to_string(number->get()));
    return std::nullopt;
  }
  return number->get();
}

std::optional<std::vector<ArrayItem>> TableReader::items(std::string_view key, Presence presence,
                                                         std::string_view wanted) const {
  const toml::node* value = node(key, presence);
  if (value == nullptr) return std::nullopt;
  const auto* elements = value->as_array();
  if (elements == nullptr) {
    wrong_type(key, *value, wanted);
    return std::nullopt;
  }
  std::vector<ArrayItem> found;
  found.reserve(elements->size());
  for (std::size_t index = 0; index < elements->size(); ++index) {
    const toml::node& element = *elements->get(index);
    found.push_back(ArrayItem{&element,
                              key_path(std::string(key) + "[" + std::to_string(index) + "]"),
                              line_of(element)});
  }
  return found;
}

std::optional<std::vector<ArrayItem>> TableReader::array(std::string_view key,
                                                         Presence presence) const {
  return items(key, presence, "an array");
}

std::optional<std::vector<StringItem>> TableReader::string_array(std::string_view key,
                                                                 Presence presence) const {
  const auto elements = items(key, presence, "an array of strings");
  if (!elements) return std::nullopt;
  std::vector<StringItem> strings;
  strings.reserve(elements->size());
  bool all_strings = true;
  for (const ArrayItem& element : *elements) {
    if (const auto* text = element.node->as_string()) {
      strings.push_back(StringItem{text->get(), element.path, element.line});
    } else {
      diagnostics_.error(element.line, element.path + " must be a string, not " +
                                           std::string(type_name(*element.node)));
      all_strings = false;
    }
  }
  if (!all_strings) return std::nullopt;
  return strings;
}

TableReader TableReader::table(std::string_view key) const {
  const toml::node* value = node(key, Presence::Optional);
  if (value == nullptr) return TableReader(empty_table(), key_path(key), diagnostics_);
  if (const auto* sub_table = value->as_table()) {
    return TableReader(*sub_table, key_path(key), diagnostics_);
  }
  wrong_type(key, *value, "a table");
  return TableReader(empty_table(), key_path(key), diagnostics_);
}

std::vector<TableReader> TableReader::array_of_tables(std::string_view key) const {
  const toml::node* value = node(key, Presence::Optional);
  if (value == nullptr) return {};
  const auto* elements = value->as_array();
  if (elements == nullptr) {
    wrong_type(key, *value, "an array of tables ([[" + key_path(key) + "]])");
    return {};
  }
  std::vector<TableReader> tables;
  for (std::size_t index = 0; index < elements->size(); ++index) {
    const toml::node& element = *elements->get(index);
    const std::string element_key = std::string(key) + "[" + std::to_string(index) + "]";
    if (const auto* sub_table = element.as_table()) {
      tables.emplace_back(*sub_table, key_path(element_key), diagnostics_);
    } else {
      wrong_type(element_key, element, "a table");
    }
  }
  return tables;
}

}  // namespace sipline::config

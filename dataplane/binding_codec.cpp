#include "dataplane/binding_codec.hpp"

#include <algorithm>
#include <charconv>
#include <span>

namespace sipline::dataplane {
namespace {

constexpr std::string_view kListMagic = "SLB1";
// A list some binding of which names the node that took it: an eighth netstring per binding.
// Lists without one stay SLB1, which nodes of earlier versions read.
constexpr std::string_view kNodeListMagic = "SLB2";
constexpr std::string_view kNoticeMagic = "SLN2";
// No field of a binding comes near this; a longer length is a corrupt value, not a big one.
constexpr std::size_t kMaxField = 65535;

void put(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
  out += ',';
}

template <typename Number>
void put_number(std::string& out, Number value) {
  put(out, std::to_string(value));
}

// Reads netstrings off the front of a text; any malformation makes every later read fail.
class NetstringReader {
 public:
  explicit NetstringReader(std::string_view text) : rest_(text) {}

  std::optional<std::string_view> next() {
    const std::size_t colon = rest_.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 5) return fail();
    std::size_t length = 0;
    const auto [end, error] = std::from_chars(rest_.data(), rest_.data() + colon, length);
    if (error != std::errc() || end != rest_.data() + colon || length > kMaxField) return fail();
    if (rest_.size() < colon + 1 + length + 1 || rest_[colon + 1 + length] != ',') return fail();
    const std::string_view field = rest_.substr(colon + 1, length);
    rest_.remove_prefix(colon + 1 + length + 1);
    return field;
  }

  template <typename Number>
  std::optional<Number> next_number() {
    const std::optional<std::string_view> field = next();
    if (!field || field->empty()) return fail();
    Number value{};
    const auto [end, error] = std::from_chars(field->data(), field->data() + field->size(), value);
    if (error != std::errc() || end != field->data() + field->size()) return fail();
    return value;
  }

  bool done() const { return rest_.empty(); }
  // What follows the netstrings read so far ("!" after a failed read).
  std::string_view remaining() const { return rest_; }

 private:
  std::nullopt_t fail() {
    rest_ = "!";  // not a netstring: every later read fails too
    return std::nullopt;
  }

  std::string_view rest_;
};

std::optional<sip::Binding> read_binding(NetstringReader& reader, std::string_view aor,
                                         bool with_node) {
  sip::Binding binding;
  binding.aor = std::string(aor);
  const auto contact = reader.next();
  const auto received = reader.next();
  const auto call_id = reader.next();
  const auto instance = reader.next();
  const auto expires_at = reader.next_number<std::int64_t>();
  const auto cseq = reader.next_number<std::uint32_t>();
  const auto q_milli = reader.next_number<std::uint16_t>();
  const auto node = with_node ? reader.next() : std::optional<std::string_view>("");
  // A failed read fails every later one: the last read tells for all.
  if (!q_milli || !node || contact->empty()) return std::nullopt;
  binding.contact = std::string(*contact);
  binding.received = std::string(*received);
  binding.call_id = std::string(*call_id);
  binding.instance = std::string(*instance);
  binding.expires_at = *expires_at;
  binding.cseq = *cseq;
  binding.q_milli = *q_milli;
  binding.node_address = std::string(*node);
  return binding;
}

void append_list(std::string& out, std::span<const sip::Binding> bindings) {
  const bool with_node = std::any_of(bindings.begin(), bindings.end(),
                                     [](const sip::Binding& b) { return !b.node_address.empty(); });
  out += with_node ? kNodeListMagic : kListMagic;
  for (const sip::Binding& binding : bindings) {
    put(out, binding.contact);
    put(out, binding.received);
    put(out, binding.call_id);
    put(out, binding.instance);
    put_number(out, binding.expires_at);
    put_number(out, binding.cseq);
    put_number(out, binding.q_milli);
    if (with_node) put(out, binding.node_address);
  }
}

}  // namespace

std::string encode_bindings(const std::vector<sip::Binding>& bindings) {
  std::string out;
  append_list(out, bindings);
  return out;
}

std::optional<std::vector<sip::Binding>> decode_bindings(std::string_view encoded,
                                                         std::string_view aor) {
  const bool with_node = encoded.starts_with(kNodeListMagic);
  if (!with_node && !encoded.starts_with(kListMagic)) return std::nullopt;
  NetstringReader reader(encoded.substr(kListMagic.size()));
  std::vector<sip::Binding> bindings;
  while (!reader.done()) {
    std::optional<sip::Binding> binding = read_binding(reader, aor, with_node);
    if (!binding) return std::nullopt;
    bindings.push_back(std::move(*binding));
  }
  return bindings;
}

std::string encode_stored_binding(const sip::Binding& binding) {
  std::string out = std::to_string(binding.expires_at);
  out += ' ';
  append_list(out, std::span(&binding, 1));
  return out;
}

std::optional<sip::Binding> decode_stored_binding(std::string_view encoded, std::string_view aor) {
  const std::size_t space = encoded.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::optional<std::vector<sip::Binding>> list = decode_bindings(encoded.substr(space + 1), aor);
  if (!list || list->size() != 1 ||
      std::to_string(list->front().expires_at) != encoded.substr(0, space)) {
    return std::nullopt;
  }
  return std::move(list->front());
}

std::string encode_change_notice(const ChangeNotice& notice) {
  std::string out(kNoticeMagic);
  put_number(out, notice.node);
  put(out, notice.aor);
  put_number(out, (notice.whole ? 1 : 0) + (notice.retried ? 2 : 0));
  put_number(out, notice.delta.removed.size());
  for (const std::string& contact : notice.delta.removed)
    put(out, contact);
  append_list(out, notice.delta.upserts);
  return out;
}

namespace {

// The mode digit: 0..3, whole + 2 x retried.
std::optional<unsigned> notice_mode(std::optional<std::string_view> field) {
  if (!field || field->size() != 1 || (*field)[0] < '0' || (*field)[0] > '3') return std::nullopt;
  return static_cast<unsigned>((*field)[0] - '0');
}

}  // namespace

std::optional<NoticeOrigin> change_notice_origin(std::string_view encoded) {
  if (!encoded.starts_with(kNoticeMagic)) return std::nullopt;
  NetstringReader header(encoded.substr(kNoticeMagic.size()));
  const auto node = header.next_number<std::uint64_t>();
  const auto aor = header.next();  // read past; a failed read fails the mode's read too
  const std::optional<unsigned> mode = notice_mode(header.next());
  if (!mode || !node || !aor) return std::nullopt;
  return NoticeOrigin{*node, (*mode & 2) != 0};
}

std::optional<ChangeNotice> decode_change_notice(std::string_view encoded) {
  if (!encoded.starts_with(kNoticeMagic)) return std::nullopt;
  const std::string_view rest = encoded.substr(kNoticeMagic.size());
  NetstringReader header(rest);
  ChangeNotice notice;
  const auto node = header.next_number<std::uint64_t>();
  const auto aor = header.next();
  const std::optional<unsigned> mode = notice_mode(header.next());
  const auto removed = header.next_number<std::size_t>();
  if (!removed || !mode || aor->empty()) return std::nullopt;
  notice.node = *node;
  notice.aor = std::string(*aor);
  notice.whole = (*mode & 1) != 0;
  notice.retried = (*mode & 2) != 0;
  if (notice.whole && *removed != 0) return std::nullopt;
  for (std::size_t i = 0; i < *removed; ++i) {
    const auto contact = header.next();
    if (!contact || contact->empty()) return std::nullopt;
    notice.delta.removed.emplace_back(*contact);
  }
  auto upserts = decode_bindings(header.remaining(), notice.aor);
  if (!upserts) return std::nullopt;
  notice.delta.upserts = std::move(*upserts);
  return notice;
}

}  // namespace sipline::dataplane

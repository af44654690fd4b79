// DNS SRV records (RFC 2782) of next hops named by domain (RFC 3263 §4.2), looked up when a
// configuration is loaded.
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>

#include "config/bounded_lookup.hpp"
#include "config/config.hpp"

namespace sipline::config {
namespace {

// The largest answer we read: room for a few hundred SRV records (a UDP answer is at most
// 512 octets without EDNS, 1232 with the usual EDNS size; TCP answers can be larger).
constexpr std::size_t kAnswerSize = 65536;

std::vector<ServiceRecord> query(const std::string& service) {
  struct __res_state state {};
  if (res_ninit(&state) != 0) return {};
  auto answer = std::make_unique<unsigned char[]>(kAnswerSize);
  const int length =
      res_nquery(&state, service.c_str(), ns_c_in, ns_t_srv, answer.get(), kAnswerSize);
  res_nclose(&state);
  if (length <= 0) return {};
  return parse_srv_answer({answer.get(), static_cast<std::size_t>(length)});
}

}  // namespace

bool is_localhost_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  const auto lower_equals = [](std::string_view text, std::string_view lower) {
    return std::equal(text.begin(), text.end(), lower.begin(), lower.end(),
                      [](char a, char b) { return (a | 0x20) == b; });
  };
  return lower_equals(name, "localhost") ||
         (name.size() > 10 && lower_equals(name.substr(name.size() - 10), ".localhost"));
}

std::vector<ServiceRecord> parse_srv_answer(std::span<const unsigned char> message) {
  ns_msg handle{};
  if (ns_initparse(message.data(), static_cast<int>(message.size()), &handle) != 0) return {};
  std::vector<ServiceRecord> records;
  const int answers = ns_msg_count(handle, ns_s_an);
  for (int i = 0; i < answers; ++i) {
    ns_rr record{};
    if (ns_parserr(&handle, ns_s_an, i, &record) != 0) return {};
    if (ns_rr_type(record) != ns_t_srv || ns_rr_class(record) != ns_c_in) continue;
    const unsigned char* data = ns_rr_rdata(record);
    if (ns_rr_rdlen(record) < 7) continue;  // priority, weight, port and a name of 1 octet
    ServiceRecord srv;
    srv.priority = static_cast<std::uint16_t>(ns_get16(data));
    srv.weight = static_cast<std::uint16_t>(ns_get16(data + 2));
    srv.port = static_cast<std::uint16_t>(ns_get16(data + 4));
    std::array<char, NS_MAXDNAME> target{};
    if (dn_expand(ns_msg_base(handle), ns_msg_end(handle), data + 6, target.data(),
                  static_cast<int>(target.size())) < 0) {
      continue;
    }
    // dn_expand writes the root as "" and other names without their final dot.
    const std::string_view expanded(target.data());
    srv.target = std::string(expanded.empty() ? std::string_view(".") : expanded);
    records.push_back(std::move(srv));
  }
  std::stable_sort(
      records.begin(), records.end(), [](const ServiceRecord& a, const ServiceRecord& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
      });
  return records;
}

// res_nquery, waited for kResolveTimeout at most (bounded_lookup.hpp), as host names are.
std::vector<ServiceRecord> lookup_service_with_system(std::string_view service) {
  if (is_localhost_name(service)) return {};
  return bounded_lookup<std::vector<ServiceRecord>>(
      [name = std::string(service)] { return query(name); }, kResolveTimeout);
}

}  // namespace sipline::config

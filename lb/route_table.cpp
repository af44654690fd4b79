#include "lb/route_table.hpp"

#include <algorithm>
#include <utility>

#include "sip/method.hpp"

namespace sipline::lb {
namespace {

constexpr std::uint32_t method_bit(sip::Method method) {
  return 1u << static_cast<unsigned>(method);
}

static_assert(sip::kMethodCount <= 32, "method masks are 32-bit");

}  // namespace

std::string_view route_action_name(RouteAction action) {
  switch (action) {
    case RouteAction::Location:
      return "location";
    case RouteAction::Forward:
      return "forward";
    case RouteAction::Redirect:
      return "redirect";
    case RouteAction::Reject:
      return "reject";
  }
  return "";
}

RouteTable::RouteTable(std::vector<RouteRule> rules) : rules_(std::move(rules)) {
  filters_.reserve(rules_.size());
  for (const RouteRule& rule : rules_)
    filters_.push_back(filter_for(rule));
}

RouteTable::MethodFilter RouteTable::filter_for(const RouteRule& rule) {
  MethodFilter filter;
  filter.any = rule.methods.empty();
  for (const std::string& name : rule.methods) {
    const sip::Method method = sip::method_from_token(name);
    if (method == sip::Method::Extension) {
      filter.has_extensions = true;
    } else {
      filter.known |= method_bit(method);
    }
  }
  if ((filter.known & method_bit(sip::Method::Invite)) != 0) {
    filter.known |= method_bit(sip::Method::Ack) | method_bit(sip::Method::Cancel);
  }
  return filter;
}

bool RouteTable::methods_match(const MethodFilter& filter, const RouteRule& rule,
                               const sip::Message& request) {
  if (filter.any || (filter.known & method_bit(request.method)) != 0) return true;
  if (request.method != sip::Method::Extension || !filter.has_extensions) return false;
  // Extension methods are known by their text only (RFC 3261 §7.1, case-sensitive).
  for (const std::string& name : rule.methods) {
    if (name == request.method_text) return true;
  }
  return false;
}

bool RouteTable::source_matches(const RouteRule& rule, const IpAddress& source) {
  if (rule.sources.empty()) return true;
  return std::any_of(rule.sources.begin(), rule.sources.end(),
                     [&source](const IpPrefix& prefix) { return prefix.contains(source); });
}

const RouteRule* RouteTable::match(const sip::Message& request, std::string_view user,
                                   const IpAddress& source) const {
  if (!request.is_request()) return nullptr;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const RouteRule& rule = rules_[i];
    if (methods_match(filters_[i], rule, request) && user.starts_with(rule.user_prefix) &&
        source_matches(rule, source)) {
      return &rule;
    }
  }
  return nullptr;
}

}  // namespace sipline::lb

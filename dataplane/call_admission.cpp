// The workers' half of the call limits (max_calls, max_cps; call_limits.hpp): a new INVITE on
// a limited route, or from a limited user, starts within its route's second and takes a place,
// or is refused; the call gives its places back with its final failure (relayed or ours), its
// BYE, or when its time runs out.
#include <algorithm>
#include <string>

#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"

namespace sipline::dataplane {
namespace {

// RFC 3261 §17.1.1.2: a caller without any answer gives up after Timer B, 64*T1.
constexpr std::int64_t kTimerBSeconds = 32;
// §16.6 step 11: Timer C, more than 3 minutes after the last provisional answer.
constexpr std::int64_t kTimerCSeconds = 181;

// `name`'s counter; kNoCallCounter (logged) when the process has used all there are, which
// leaves that limit off until a restart rather than index past them.
std::uint32_t counter_named(CallCounters& counters, const std::string& name) {
  const std::uint32_t counter = counters.counter_for(name);
  if (counter == kNoCallCounter) {
    SIPLINE_LOG_ERROR(
        "call limits: no counter left for %s (%u names since start): not limited "
        "until sipline restarts",
        name.c_str(), CallCounters::kChunkSize * CallCounters::kMaxChunks);
  }
  return counter;
}

}  // namespace

void PipelineContext::attach_call_counters(CallCounters& counters) {
  call_counters = &counters;
  const std::span<const lb::RouteRule> rules = routes.rules();
  route_limits.assign(rules.size(), CallLimit{});
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].max_calls == 0 && rules[i].max_cps == 0) continue;
    // A [[call_limits]] group's counter is shared by every route naming it.
    const std::string name =
        rules[i].call_limit.empty() ? "route:" + rules[i].name : "limit:" + rules[i].call_limit;
    const std::uint32_t counter = counter_named(counters, name);
    if (counter == kNoCallCounter) continue;
    route_limits[i] = CallLimit{counter, rules[i].max_calls, rules[i].max_cps};
  }
  group_limits.clear();
  for (const config::CallLimitGroup& group : config->call_limits) {
    const std::uint32_t counter = counter_named(counters, "limit:" + group.name);
    if (counter == kNoCallCounter) continue;
    group_limits.emplace_back(group.name, CallLimit{counter, group.max_calls, group.max_cps});
  }
  user_limits.clear();
  for (const config::User& user : config->users) {
    if (user.max_calls == 0) continue;
    const std::uint32_t counter = counter_named(counters, "user:" + user.user);
    if (counter != kNoCallCounter)
      user_limits.emplace_back(user.user, CallLimit{counter, user.max_calls});
  }
  std::sort(user_limits.begin(), user_limits.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

const PipelineContext::CallLimit* PipelineContext::user_limit(std::string_view user) const {
  const auto found =
      std::lower_bound(user_limits.begin(), user_limits.end(), user,
                       [](const std::pair<std::string, CallLimit>& entry, std::string_view key) {
                         return std::string_view(entry.first) < key;
                       });
  if (found == user_limits.end() || found->first != user) return nullptr;
  return &found->second;
}

namespace {

// " calls=N max=M refused=R max_cps=C refused_cps=RC" of one counter.
std::string call_limit_values(const CallCounters& counters,
                              const PipelineContext::CallLimit& limit) {
  return " calls=" + std::to_string(counters.calls(limit.counter)) +
         " max=" + std::to_string(limit.max) +
         " refused=" + std::to_string(counters.refused(limit.counter)) +
         " max_cps=" + std::to_string(limit.max_cps) +
         " refused_cps=" + std::to_string(counters.refused_rate(limit.counter));
}

}  // namespace

std::string PipelineContext::call_limits_text() const {
  std::string text;
  if (call_counters == nullptr) return text;
  const std::span<const lb::RouteRule> rules = routes.rules();
  for (std::size_t i = 0; i < route_limits.size() && i < rules.size(); ++i) {
    if (!route_limits[i].limits() || !rules[i].call_limit.empty()) continue;
    text += "call_limit route " + rules[i].name + ":" +
            call_limit_values(*call_counters, route_limits[i]) + "\n";
  }
  for (const auto& [name, limit] : group_limits) {
    text += "call_limit group " + name + ":" + call_limit_values(*call_counters, limit) + "\n";
  }
  if (user_limits.empty()) return text;
  std::uint64_t calls = 0;
  std::uint64_t refused = 0;
  for (const auto& [user, limit] : user_limits) {
    calls += call_counters->calls(limit.counter);
    refused += call_counters->refused(limit.counter);
  }
  text += "call_limit users: limited=" + std::to_string(user_limits.size()) +
          " calls=" + std::to_string(calls) + " refused=" + std::to_string(refused) + "\n";
  return text;
}

Pipeline::CallAdmission Pipeline::admit_call(const Inbound& in, const lb::RouteRule& route,
                                             std::string_view caller, const OutputBuffers& out) {
  const sip::Message& request = *message_;
  if (active_calls_ == nullptr || context_->call_counters == nullptr ||
      request.method != sip::Method::Invite || request.to.has_tag) {
    return {};
  }
  const PipelineContext::CallLimit& route_limit =
      context_->route_limits[static_cast<std::size_t>(&route - context_->routes.rules().data())];
  const PipelineContext::CallLimit* user_limit =
      caller.empty() || context_->user_limits.empty() ? nullptr : context_->user_limit(caller);
  if (!route_limit.limits() && user_limit == nullptr) return {};
  const std::uint64_t key = ActiveCallTable::key_of(request.call_id);
  // The INVITE again (a retransmission, or the same call once more after a challenge): it
  // started already and its places are held.
  if (active_calls_->find(key) != nullptr) return {};
  CallCounters& counters = *context_->call_counters;
  const std::uint32_t route_counter = route_limit.max != 0 ? route_limit.counter : kNoCallCounter;
  const std::uint32_t user_counter = user_limit != nullptr ? user_limit->counter : kNoCallCounter;
  const auto refuse = [&](std::uint16_t code, Counter WorkerCounters::*why) {
    count(why);
    return CallAdmission{respond(in, code, {}, {}, out), 0};
  };
  if (route_limit.max_cps != 0 &&
      !counters.try_start(route_limit.counter, route_limit.max_cps, now_s_)) {
    return refuse(route.limit_code, &WorkerCounters::calls_rate_limited);
  }
  if (route_counter != kNoCallCounter && !counters.try_take(route_counter, route_limit.max)) {
    return refuse(route.limit_code, &WorkerCounters::calls_limited);
  }
  if (user_counter != kNoCallCounter && !counters.try_take(user_counter, user_limit->max)) {
    if (route_counter != kNoCallCounter) counters.give_back(route_counter);
    return refuse(503, &WorkerCounters::calls_limited);
  }
  ActiveCall* call = active_calls_->insert(key);
  if (call == nullptr) {
    // No room to remember it: letting it through would let a limit be passed.
    if (route_counter != kNoCallCounter) counters.give_back(route_counter);
    if (user_counter != kNoCallCounter) counters.give_back(user_counter);
    return refuse(route_limit.limits() ? route.limit_code : std::uint16_t{503},
                  &WorkerCounters::call_table_full);
  }
  call->route_counter = route_counter;
  call->user_counter = user_counter;
  call->expires = now_s_ + kTimerBSeconds;
  return CallAdmission{std::nullopt, key};
}

void Pipeline::forget_call(std::uint64_t key) {
  if (ActiveCall* call = active_calls_->find(key))
    active_calls_->end(call, *context_->call_counters);
}

void Pipeline::note_limited_request() {
  const sip::Message& request = *message_;
  ActiveCall* call = active_calls_->find(ActiveCallTable::key_of(request.call_id));
  if (call == nullptr) return;
  if (request.method == sip::Method::Bye) {
    // §15.1.1: the caller's session ends as its BYE is sent (whatever the answer).
    active_calls_->end(call, *context_->call_counters);
  } else if (call->answered) {
    call->expires = now_s_ + context_->config->limits.dialog_timeout_s;  // a re-INVITE, UPDATE
  }
}

void Pipeline::note_limited_response(std::uint16_t code) {
  const sip::Message& response = *message_;
  if (response.cseq.method != sip::Method::Invite || code == 100) return;
  ActiveCall* call = active_calls_->find(ActiveCallTable::key_of(response.call_id));
  if (call == nullptr) return;
  if (code < 200) {
    if (!call->answered) call->expires = now_s_ + kTimerCSeconds;
  } else if (code < 300) {
    // A call that holds no place (a max_cps route's) needed its entry only to know the
    // INVITE again until its answer.
    if (call->route_counter == kNoCallCounter && call->user_counter == kNoCallCounter) {
      active_calls_->end(call, *context_->call_counters);
      return;
    }
    call->answered = true;
    call->expires = now_s_ + context_->config->limits.dialog_timeout_s;
  } else if (!call->answered) {
    // The call's final failure (a re-INVITE's, once answered, leaves the call as it is). A
    // challenge too: the INVITE with credentials takes a place again.
    active_calls_->end(call, *context_->call_counters);
  }
}

void Pipeline::note_limited_local_answer(const Outcome& outcome) {
  const sip::Message& request = *message_;
  if (!request.is_request() || request.method != sip::Method::Invite || request.to.has_tag ||
      outcome.code < 300) {
    return;
  }
  ActiveCall* call = active_calls_->find(ActiveCallTable::key_of(request.call_id));
  if (call != nullptr && !call->answered) active_calls_->end(call, *context_->call_counters);
}

void Pipeline::expire_limited_calls(std::int64_t now) {
  const std::size_t ended = active_calls_->expire(now, *context_->call_counters);
  if (ended != 0 && counters_ != nullptr) counters_->calls_expired.add(ended);
}

}  // namespace sipline::dataplane

// The workers' half of the call limits (max_calls, max_cps; call_limits.hpp): a new INVITE on
// a limited route, or from a limited user, starts within its route's second and takes a place,
// or is refused; the call gives its places back with its final failure (relayed or ours), its
// BYE, or when its time runs out.
#include <algorithm>
#include <string>

#include "dataplane/log.hpp"
#include "dataplane/pipeline.hpp"
#include "sip/service_urn.hpp"
#include "sip/session_timer.hpp"
#include "sip/text.hpp"

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

// RFC 4028 §8.1: a limited call whose INVITE asks for no session timer is asked for one of
// [limits] session_expires (never below the INVITE's Min-SE), so that a call whose BYE is
// lost ends for us one session interval after its last refresh, not a dialog_timeout later.
void request_session_timer(ActiveCall& call, const sip::Message& invite, std::uint32_t wanted) {
  if (wanted == 0 || !call.holds_place() || invite.find(sip::HeaderId::SessionExpires) != nullptr) {
    return;
  }
  call.session_interval = std::min(std::max(wanted, sip::min_session_interval(invite)),
                                   ActiveCall::kMaxSessionInterval);
  call.timer_requested = true;
  call.caller_refreshes = sip::supports_session_timer(invite);
  call.timer_answer_cseq = invite.cseq.number;
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
  if (is_emergency_request()) return admit_emergency_call(key, route_counter, user_counter);
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
  return remember_call(*call, route_counter, user_counter);
}

// A call that started now: the places it holds, Timer B until an answer, and the session
// timer we ask for.
Pipeline::CallAdmission Pipeline::remember_call(ActiveCall& call, std::uint32_t route_counter,
                                                std::uint32_t user_counter) {
  call.route_counter = route_counter;
  call.user_counter = user_counter;
  call.expires = now_s_ + kTimerBSeconds;
  request_session_timer(call, *message_, context_->config->limits.session_expires_s);
  return CallAdmission{std::nullopt, call.key};
}

// An emergency call is never refused for capacity, but it takes its places (beyond the limit
// if need be), so the calls counted on the trunk stay the calls on it. With no room in the
// table it goes untracked and takes none: nothing would give them back.
Pipeline::CallAdmission Pipeline::admit_emergency_call(std::uint64_t key,
                                                       std::uint32_t route_counter,
                                                       std::uint32_t user_counter) {
  ActiveCall* call = active_calls_->insert(key);
  if (call == nullptr) return {};
  CallCounters& counters = *context_->call_counters;
  if (route_counter != kNoCallCounter) counters.take(route_counter);
  if (user_counter != kNoCallCounter) counters.take(user_counter);
  return remember_call(*call, route_counter, user_counter);
}

std::string_view emergency_number_for(const sip::Uri& uri, const config::LimitsConfig& limits) {
  std::string_view service = sip::emergency_service(uri);
  if (service.empty()) return {};
  for (; !service.empty(); service = sip::general_service(service)) {
    for (const auto& [name, number] : limits.emergency_services) {
      if (sip::iequals(name, service)) return number;
    }
  }
  return limits.emergency_service_number;
}

// A new INVITE whose Request-URI names an emergency number ([limits] emergency_numbers):
// sip:112@host, sip:112;phone-context=...@host (the user's parameters left out), tel:112; or
// an emergency service URN placed as one ([limits] emergency_service_number).
bool Pipeline::is_emergency_request() const {
  const sip::Message& request = *message_;
  const std::vector<std::string>& numbers = context_->config->limits.emergency_numbers;
  if (numbers.empty() || request.method != sip::Method::Invite || request.to.has_tag) {
    return false;
  }
  if (sip::is_emergency_service_urn(request.request_uri)) {
    return !emergency_number_for(request.request_uri, context_->config->limits).empty();
  }
  const std::string_view user = request.request_uri.user;
  const std::string_view number = user.substr(0, user.find(';'));
  return !number.empty() && std::find(numbers.begin(), numbers.end(), number) != numbers.end();
}

std::uint32_t Pipeline::session_expires_to_request() {
  const sip::Message& request = *message_;
  // Without [limits] session_expires no call asks for a timer: no lookup per INVITE.
  if (context_->config->limits.session_expires_s == 0 || active_calls_ == nullptr ||
      active_calls_->size() == 0 || request.method != sip::Method::Invite || request.to.has_tag) {
    return 0;
  }
  const ActiveCall* call = active_calls_->find(ActiveCallTable::key_of(request.call_id));
  if (call == nullptr || !call->timer_requested || call->answered ||
      call->timer_answer_cseq != request.cseq.number) {
    return 0;
  }
  return call->session_interval;
}

ActiveCall* Pipeline::limited_call_of_response() {
  const sip::Message& response = *message_;
  const sip::Method method = response.cseq.method;
  if (method != sip::Method::Invite && method != sip::Method::Update) return nullptr;
  return active_calls_->find(ActiveCallTable::key_of(response.call_id));
}

std::uint32_t Pipeline::session_expires_to_answer(const ActiveCall& call, std::uint16_t code) {
  // §8.2: only a caller that does session timers can be made the refresher, in the 2xx to
  // its INVITE or to its refreshes (not to the callee's re-INVITE: the callee does none).
  if (code < 200 || code >= 300 || !call.timer_requested || !call.caller_refreshes ||
      call.timer_answer_cseq != message_->cseq.number ||
      message_->find(sip::HeaderId::SessionExpires) != nullptr) {
    return 0;
  }
  return call.session_interval;
}

// How long an answered call lives without another request: one session interval when a
// session timer runs (§8.3), else dialog_timeout; never longer than dialog_timeout.
std::int64_t Pipeline::answered_call_lifetime(const ActiveCall& call) const {
  const std::uint32_t dialog_timeout = context_->config->limits.dialog_timeout_s;
  return call.session_interval != 0 ? std::min(call.session_interval, dialog_timeout)
                                    : dialog_timeout;
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
    call->expires = now_s_ + answered_call_lifetime(*call);  // a re-INVITE, UPDATE: a refresh
    if (call->timer_requested) note_refresh_request(*call);
  }
}

// A caller that refreshes the session timer we asked for sends Session-Expires with each
// refresh (RFC 4028 §7.4); a callee without session timers answers it without one, and its
// 2xx then gets the refresh's interval (§8.2), so the caller goes on refreshing. Another
// request (the callee's re-INVITE) is answered as it is.
void Pipeline::note_refresh_request(ActiveCall& call) {
  const sip::Message& request = *message_;
  if (request.method != sip::Method::Invite && request.method != sip::Method::Update) return;
  const std::uint32_t interval = sip::session_interval(request);
  call.timer_answer_cseq = interval != 0 ? request.cseq.number : ActiveCall::kNoCSeq;
  if (interval != 0) call.session_interval = std::min(interval, ActiveCall::kMaxSessionInterval);
}

void Pipeline::note_limited_response(ActiveCall* call, std::uint16_t code,
                                     std::uint32_t inserted_interval) {
  if (code == 100) return;
  if (message_->cseq.method == sip::Method::Update) {
    // RFC 4028 §10: a refresh by UPDATE; its 2xx names the session interval from now on.
    if (call->answered && code >= 200 && code < 300) {
      note_session_refreshed(*call, inserted_interval);
    }
    return;
  }
  if (code < 200) {
    if (!call->answered) call->expires = now_s_ + kTimerCSeconds;
  } else if (code < 300) {
    // A call that holds no place (a max_cps route's) needed its entry only to know the
    // INVITE again until its answer.
    if (!call->holds_place()) {
      active_calls_->end(call, *context_->call_counters);
      return;
    }
    call->answered = true;
    note_session_refreshed(*call, inserted_interval);
  } else if (!call->answered) {
    // The call's final failure (a re-INVITE's, once answered, leaves the call as it is). A
    // challenge too: the INVITE with credentials takes a place again.
    active_calls_->end(call, *context_->call_counters);
  }
}

// §8.2-§8.3: a 2xx to the INVITE, a re-INVITE or an UPDATE names the session interval (its
// Session-Expires, or the one we inserted into it); without one the session has no timer.
void Pipeline::note_session_refreshed(ActiveCall& call, std::uint32_t inserted_interval) {
  const std::uint32_t interval =
      inserted_interval != 0 ? inserted_interval : sip::session_interval(*message_);
  call.session_interval = std::min(interval, ActiveCall::kMaxSessionInterval);
  call.expires = now_s_ + answered_call_lifetime(call);
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

#include "dataplane/health_prober.hpp"

#include <array>
#include <cinttypes>
#include <cstdio>

#include "dataplane/log.hpp"
#include "dataplane/own_requests.hpp"
#include "sip/branch.hpp"
#include "sip/options_probe.hpp"
#include "sip/text.hpp"

namespace sipline::dataplane {

HealthProber::HealthProber(const PipelineContext& context, lb::PoolSet& pools)
    : context_(&context),
      pools_(&pools),
      checker_(std::make_unique<lb::HealthChecker>(pools)),
      message_(std::make_unique<sip::Message>()),
      from_uri_("sip:sipline@" + context.config->domain.realm()),
      boot_(hex64_string(random_u64())) {}

void HealthProber::reconfigure(const PipelineContext& context, lb::PoolSet& pools) {
  auto checker =
      std::make_unique<lb::HealthChecker>(pools, static_cast<std::uint16_t>(checker_->epoch() + 1));
  checker->carry_over(*checker_);
  checker_ = std::move(checker);
  context_ = &context;
  pools_ = &pools;
  from_uri_ = "sip:sipline@" + context.config->domain.realm();
}

void HealthProber::poll(std::int64_t now_ms) {
  if (now_ms < checker_->next_due_ms()) return;
  const lb::HealthChecker::Due due = checker_->poll(now_ms);
  for (const lb::HealthChange& change : due.changes)
    log_change(change);
  for (const lb::ProbeId& probe : due.probes)
    send_probe(probe);
}

void HealthProber::send_probe(const lb::ProbeId& probe) {
  const lb::PoolMember& member = pools_->pool(probe.pool).members[probe.member];
  const PeerAddress to(member.address);
  const int socket = listen_socket_for(*context_, to);
  if (socket < 0 || !send_) {
    ++send_failed_;
    if (socket < 0 && !logged_no_socket_) {
      logged_no_socket_ = true;
      SIPLINE_LOG_WARN(
          "pool \"%s\": member %s cannot be probed (nor reached): no listen "
          "address of its family; it goes down",
          pools_->pool(probe.pool).name.c_str(), member.uri.c_str());
    }
    return;
  }
  const sip::Branch branch = sip::signed_branch(probe.token(), context_->identity.branch_key);
  const std::string call_id = "sl-probe-" + hex64_string(probe.token()) + "-" + boot_;
  sip::OptionsProbe options;
  options.target_uri = member.uri;
  options.sent_by = context_->identity.listen_address(static_cast<std::size_t>(socket)).sent_by();
  options.branch = branch.view();
  options.from_uri = from_uri_;
  options.from_tag = boot_;
  options.call_id = call_id;
  options.cseq = probe.sequence;
  std::array<char, 1024> buffer;
  const sip::Written written = sip::write_options_probe(options, buffer);
  if (!written.ok() ||
      !send_({buffer.data(), written.size}, static_cast<std::size_t>(socket), to)) {
    ++send_failed_;
  }
}

bool HealthProber::take_answer(std::string_view datagram) {
  // A REGISTER is told from an answer without parsing it twice.
  if (!sip::looks_like_response(datagram)) return false;
  sip::parse_message_into(*message_, datagram);
  const sip::Message& response = *message_;
  if (!response.is_response()) return false;
  const bool options = response.ok() && response.cseq.method == sip::Method::Options &&
                       response.via_count > 0 && response.top_via.has_branch;
  const std::optional<std::uint64_t> token =
      options ? sip::our_branch_transaction(response.top_via.branch, context_->identity.branch_key)
              : std::nullopt;
  if (!token) {
    ++unmatched_;
    return true;
  }
  const lb::HealthChecker::Answer answer =
      checker_->answer(lb::ProbeId::from_token(*token), response.status_code);
  if (answer.change) log_change(*answer.change);
  // A provisional answer is neither counted nor unmatched: the final one follows.
  if (!answer.counted && response.status_code >= 200) ++unmatched_;
  return true;
}

void HealthProber::log_change(const lb::HealthChange& change) const {
  const lb::PoolSpec& pool = pools_->pool(change.pool);
  const lb::PoolMember& member = pool.members[change.member];
  if (change.up) {
    SIPLINE_LOG_INFO("pool \"%s\": member %s is up (%u probe(s) in a row answered)",
                     pool.name.c_str(), member.uri.c_str(), change.streak);
  } else if (change.last_status != 0) {
    SIPLINE_LOG_WARN(
        "pool \"%s\": member %s is down (%u probe(s) in a row failed, the last "
        "answered %u)",
        pool.name.c_str(), member.uri.c_str(), change.streak, change.last_status);
  } else {
    SIPLINE_LOG_WARN("pool \"%s\": member %s is down (%u probe(s) in a row unanswered)",
                     pool.name.c_str(), member.uri.c_str(), change.streak);
  }
}

std::string HealthProber::member_line(std::size_t pool, std::size_t index) const {
  const lb::PoolSpec& spec = pools_->pool(pool);
  const lb::MemberHealth& health = checker_->member(pool, index);
  const bool drained = spec.members[index].drain || health.admin_drained;
  // Taken out by a worker's failover until it answers a probe (lb::PoolSet::mark_unanswering).
  const bool unanswering = ((pools_->unanswering_members(pool) >> index) & 1) != 0;
  return "pool " + spec.name + " member " + std::to_string(index) + " " + spec.members[index].uri +
         ": " + (health.up && !unanswering ? "up" : "down") + (drained ? " drain" : "") +
         (unanswering ? " unanswering" : "") + " probes=" + std::to_string(health.sent) +
         " answered=" + std::to_string(health.answered) +
         " answered_5xx=" + std::to_string(health.answered_5xx) +
         " lost=" + std::to_string(health.lost) +
         " last_status=" + std::to_string(health.last_status) + "\n";
}

std::string HealthProber::set_drained(std::string_view pool_name, std::string_view member,
                                      bool drained) {
  for (std::size_t pool = 0; pool < pools_->size(); ++pool) {
    const lb::PoolSpec& spec = pools_->pool(pool);
    if (spec.name != pool_name) continue;
    for (std::size_t index = 0; index < spec.members.size(); ++index) {
      if (spec.members[index].uri != member && std::to_string(index) != member) continue;
      checker_->set_admin_drained(pool, index, drained);
      SIPLINE_LOG_INFO(
          "pool \"%s\": member %s %s by the admin socket%s", spec.name.c_str(),
          spec.members[index].uri.c_str(), drained ? "drained" : "undrained",
          !drained && spec.members[index].drain ? " (the config still drains it)" : "");
      return {};
    }
    return "pool \"" + spec.name + "\" has no member \"" + std::string(member) +
           "\" (give its index or its URI)";
  }
  return "no pool \"" + std::string(pool_name) + "\"";
}

std::string HealthProber::counters_text() const {
  std::string text;
  for (std::size_t pool = 0; pool < pools_->size(); ++pool) {
    for (std::size_t index = 0; index < pools_->pool(pool).members.size(); ++index) {
      text += member_line(pool, index);
    }
  }
  if (!text.empty()) {
    text += "probes: send_failed=" + std::to_string(send_failed_) +
            " unmatched_answers=" + std::to_string(unmatched_) + "\n";
  }
  return text;
}

}  // namespace sipline::dataplane

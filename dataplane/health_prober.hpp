// The health probes of the server pools, on the control thread (DESIGN.md §1: "backend
// health probes"): every probe interval an OPTIONS to each pool member (sip/options_probe.hpp)
// from the listen address of the member's family, and the answers, which the workers
// recognise by our signed branch and hand over like REGISTERs. What probes and answers mean
// for a member (lb/health_check.hpp) ends up in the PoolSet the workers choose members from;
// a member going down or coming back is logged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/own_requests.hpp"
#include "dataplane/peer_address.hpp"
#include "dataplane/pipeline.hpp"
#include "lb/health_check.hpp"
#include "lb/pool.hpp"
#include "sip/message.hpp"

namespace sipline::dataplane {

class HealthProber {
 public:
  // A probe that could not be sent goes unanswered and counts as lost.
  using Send = OwnRequestSender;

  HealthProber(const PipelineContext& context, lb::PoolSet& pools);

  // Socket mode sends on a worker socket, DPDK mode on the control lcore's TX queue.
  void set_sender(Send send) { send_ = std::move(send); }

  // A reloaded configuration: probes `pools` from now on; members still configured keep
  // their state (lb::HealthChecker::carry_over), answers to probes sent before are ignored.
  void reconfigure(const PipelineContext& context, lb::PoolSet& pools);

  // Sends the probes due at `now_ms` (CLOCK_MONOTONIC) and logs the members that changed.
  void poll(std::int64_t now_ms);

  // A datagram a worker handed over: when it is a response, it is taken here (an answer to a
  // probe, or counted as unmatched) and true is returned; false for a request.
  bool take_answer(std::string_view datagram);

  bool active() const { return checker_->next_due_ms() != INT64_MAX; }
  const lb::HealthChecker& checker() const { return *checker_; }

  // One line per member: "pool NAME member I URI: up|down [drain] probes=.. answered=.. ...".
  std::string counters_text() const;

  // siplinectl drain/undrain POOL MEMBER (MEMBER: its index or its URI as configured): the
  // member stops or resumes taking new calls at once, and stays so across reloads; a
  // member the config drains stays drained. "" or why not.
  std::string set_drained(std::string_view pool, std::string_view member, bool drained);
  std::uint64_t unmatched_answers() const { return unmatched_; }

 private:
  void send_probe(const lb::ProbeId& probe);
  std::string member_line(std::size_t pool, std::size_t index) const;
  void log_change(const lb::HealthChange& change) const;

  const PipelineContext* context_;
  lb::PoolSet* pools_;
  std::unique_ptr<lb::HealthChecker> checker_;
  Send send_;
  std::unique_ptr<sip::Message> message_;
  std::string from_uri_;  // "sip:sipline@<first domain>"
  std::string boot_;      // 16 hex digits, random per start: Call-IDs and tags differ per boot
  std::uint64_t send_failed_ = 0;
  bool logged_no_socket_ = false;
  std::uint64_t unmatched_ = 0;  // responses for us that answer no outstanding probe
};

}  // namespace sipline::dataplane

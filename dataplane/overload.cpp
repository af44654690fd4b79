#include "dataplane/overload.hpp"

#include <algorithm>
#include <cmath>

namespace sipline::dataplane {

RequestClass classify_request(const sip::Message& request, bool register_for_us) {
  switch (request.method) {
    case sip::Method::Ack:
    case sip::Method::Cancel:
    case sip::Method::Bye:
    case sip::Method::Prack:
      return RequestClass::Continuing;
    default:
      break;
  }
  if (request.to.has_tag) return RequestClass::Continuing;  // in-dialog (§12.2)
  if (register_for_us) {
    return request.find(sip::HeaderId::Authorization) != nullptr
               ? RequestClass::CredentialedRegister
               : RequestClass::RegisterForUs;
  }
  if (request.find(sip::HeaderId::ProxyAuthorization) != nullptr) return RequestClass::Credentialed;
  return RequestClass::New;
}

bool OverloadGate::on_batch(std::size_t received, std::size_t wanted, Input input) {
  if (!settings_.enabled) return false;
  const auto slot = static_cast<std::size_t>(input);
  std::int64_t& drained = last_drained_cpu_us_[slot];
  backing_up_[slot] = received >= wanted;
  if (received < wanted || drained < 0) {
    // The input had less than we asked for: it is empty now, nothing is backing up there.
    drained = cpu_us_;
    if (input == Input::Receive) {
      full_batches_ = 0;
      severe_ = false;
    }
    overloaded_ = undrained_too_long();
    if (received < wanted) return false;
  }
  if (undrained_too_long()) {
    overloaded_ = true;
    window_overloaded_ = true;
  }
  return input == Input::Receive && full_batches_++ % kQueueSampleBatches == 0;
}

bool OverloadGate::undrained_too_long() const {
  const std::int64_t busy_us = std::int64_t{settings_.busy_ms} * 1000;
  for (std::size_t slot = 0; slot < kInputCount; ++slot) {
    if (backing_up_[slot] && cpu_us_ - last_drained_cpu_us_[slot] >= busy_us) return true;
  }
  return false;
}

void OverloadGate::on_queue_sample(std::size_t queued_bytes, std::size_t buffer_bytes) {
  if (buffer_bytes == 0) return;
  const std::size_t percent = queued_bytes * 100 / buffer_bytes;
  if (percent >= settings_.queue_high_percent) {
    overloaded_ = true;
    severe_ = true;
  } else if (percent < settings_.queue_low_percent) {
    overloaded_ = false;
    severe_ = false;
  }
  window_overloaded_ |= overloaded_;
}

Admission OverloadGate::admit(RequestClass request) {
  if (!settings_.enabled || request == RequestClass::Continuing) return Admission::Admit;
  if (request == RequestClass::CredentialedRegister || request == RequestClass::Credentialed) {
    if (severe_) return Admission::ShedSilently;
    const bool control_full = request == RequestClass::CredentialedRegister &&
                              register_backlog_ >= settings_.register_backlog;
    return control_full ? Admission::Shed : Admission::Admit;
  }
  ++window_new_;
  const bool shed = overloaded_ || (request == RequestClass::RegisterForUs &&
                                    register_backlog_ >= settings_.register_backlog);
  if (!shed) return Admission::Admit;
  ++window_shed_;
  if (severe_) return Admission::ShedSilently;
  // The 503 budget: answers in proportion to the calls admitted, so that answering the excess
  // never costs more than a fixed share of the capacity (RFC 6357 §3: a server that spends its
  // capacity on rejecting load is still overloaded).
  const std::uint64_t admitted = window_new_ - window_shed_;
  const std::uint64_t budget =
      std::max<std::uint64_t>(kMinAnswersPerWindow, admitted * settings_.answer_percent / 100);
  if (settings_.answer_percent == 0 || window_answered_ >= budget) {
    return Admission::ShedSilently;
  }
  ++window_answered_;
  return Admission::Shed;
}

void OverloadGate::set_reduction(std::uint8_t percent, std::int64_t unix_ms) {
  if (percent == feedback_.reduction_percent && feedback_active_) return;
  feedback_.reduction_percent = percent;
  // §5.2: oc-validity=0 says overload control has ended.
  feedback_.validity_ms = percent == 0 ? 0 : settings_.oc_validity_ms;
  feedback_.seq_seconds = static_cast<std::uint64_t>(unix_ms / 1000);
  feedback_.seq_millis = static_cast<std::uint16_t>(unix_ms % 1000);
}

void OverloadGate::tick(std::int64_t now_ms, std::int64_t unix_ms) {
  if (!settings_.enabled) return;
  if (window_start_ms_ == 0) window_start_ms_ = now_ms;
  if (now_ms - window_start_ms_ < kWindowMs) return;
  const std::uint8_t current = feedback_.reduction_percent;
  if (window_shed_ > 0 && window_new_ > 0) {
    // Of what the client sent, the fraction we admitted; had it sent only that share of
    // its original load, everything would have been admitted (RFC 7339 §7.3 leaves the
    // computation to the server).
    const double admitted =
        static_cast<double>(window_new_ - window_shed_) / static_cast<double>(window_new_);
    const double target = 100.0 - (100.0 - current) * admitted;
    // Half-way towards it: shedding comes in bursts (a worker that gets its CPU in slices),
    // and a full jump would make the client send less than we can take.
    const double stepped =
        std::max(current + (target - current) / 2, static_cast<double>(current) + kDecayPercent);
    set_reduction(static_cast<std::uint8_t>(std::min<double>(kMaxReduction, std::ceil(stepped))),
                  unix_ms);
    feedback_active_ = true;
    zero_announced_until_ms_ = 0;
  } else if (!window_overloaded_ && current > 0) {
    // Faster from high values, so a client recovers within a few seconds.
    const std::uint8_t step = std::max<std::uint8_t>(kDecayPercent, current / 8);
    set_reduction(current > step ? current - step : 0, unix_ms);
    if (feedback_.reduction_percent == 0) {
      // Announce the end (oc=0;oc-validity=0) for one validity period, then stay quiet.
      zero_announced_until_ms_ = now_ms + std::max<std::int64_t>(settings_.oc_validity_ms, 1000);
    }
  } else if (current == 0 && feedback_active_ && now_ms >= zero_announced_until_ms_) {
    feedback_active_ = false;
  }
  window_start_ms_ = now_ms;
  window_new_ = window_shed_ = window_answered_ = 0;
  window_overloaded_ = overloaded_;
}

}  // namespace sipline::dataplane

// Configuration reload (SIGHUP) as the workers see it: the PipelineContext they route with is
// replaced while they run, without a lock and without a worker ever waiting.
//
// The control thread builds the new context from the reloaded file (dataplane/reload.hpp) and
// publishes it; each worker loads the current context at the start of every loop iteration
// (one relaxed-cost acquire load) and rebinds its pipeline when it changed. The old context is
// retired through QSBR (qsbr.hpp): freed once every worker has passed a quiescent state (the
// end of an iteration, or sleeping offline) after the publication, when no worker can still
// be using it.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "dataplane/pipeline.hpp"
#include "dataplane/qsbr.hpp"

namespace sipline::dataplane {

class ContextExchange {
 public:
  ContextExchange(std::unique_ptr<PipelineContext> first, std::size_t workers);
  ~ContextExchange();
  ContextExchange(const ContextExchange&) = delete;
  ContextExchange& operator=(const ContextExchange&) = delete;

  // --- workers (reader `worker` only) ---
  const PipelineContext* acquire() const { return current_.load(std::memory_order_acquire); }
  void quiescent(std::size_t worker) noexcept { qsbr_.quiescent(worker); }
  void offline(std::size_t worker) noexcept { qsbr_.offline(worker); }
  void online(std::size_t worker) noexcept { qsbr_.online(worker); }

  // --- the control thread (one writer) ---
  // Publishes `next`; the previous context is freed by a later reclaim().
  void publish(std::unique_ptr<PipelineContext> next);
  // Frees the contexts every worker has moved past; returns how many.
  std::size_t reclaim() { return qsbr_.reclaim(); }
  std::size_t pending() const { return qsbr_.pending(); }
  // True once every worker has passed a quiescent state since the last publish(), or sleeps
  // offline: each one routes with the published context from its next packet on. Reclaims.
  bool adopted() {
    reclaim();
    return pending() == 0;
  }

 private:
  std::atomic<PipelineContext*> current_;
  Qsbr qsbr_;
};

}  // namespace sipline::dataplane

#include "dataplane/context_exchange.hpp"

namespace sipline::dataplane {
namespace {

void delete_context(void* context) {
  delete static_cast<PipelineContext*>(context);
}

}  // namespace

ContextExchange::ContextExchange(std::unique_ptr<PipelineContext> first, std::size_t workers)
    : current_(first.release()), qsbr_(workers) {}

// The workers are gone: the retired contexts go with the Qsbr, the current one here.
ContextExchange::~ContextExchange() {
  delete current_.load(std::memory_order_relaxed);
}

void ContextExchange::publish(std::unique_ptr<PipelineContext> next) {
  PipelineContext* previous = current_.exchange(next.release(), std::memory_order_acq_rel);
  qsbr_.retire(previous, delete_context);
}

}  // namespace sipline::dataplane

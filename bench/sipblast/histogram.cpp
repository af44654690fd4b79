#include "bench/sipblast/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace sipline::sipblast {

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value asked for, 1-based: p50 of 1..100 is the 50th value.
  // The small epsilon keeps 99.9 % of 1000 at rank 999 despite binary rounding.
  auto rank =
      static_cast<std::uint64_t>(std::ceil(clamped * static_cast<double>(count_) / 100.0 - 1e-9));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t bucket = 0; bucket < kBucketCount; ++bucket) {
    seen += counts_[bucket];
    if (seen >= rank) return std::min(bucket_high(bucket), max_);
  }
  return max_;
}

}  // namespace sipline::sipblast

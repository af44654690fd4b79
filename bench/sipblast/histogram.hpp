// A log-linear latency histogram in the style of HdrHistogram: values below 2^(kSubBits+1)
// are counted exactly, larger ones in buckets whose width is 1/2^kSubBits of their power of
// two, so every recorded value is known to within 1/128 (0.8 %). The bucket array is fixed
// (no allocation, recording is an index computation and an increment), so each worker
// thread records into its own instance on its hot path and the reporter merges them at the
// end.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace sipline::sipblast {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kSubCount = std::uint64_t{1} << kSubBits;
  // Values are nanoseconds; 2^40 ns is 18 minutes, far above any SIP timer. Larger values
  // are counted in the last bucket (and still reported exactly as max()).
  static constexpr int kMaxValueBits = 40;
  static constexpr std::size_t kBucketCount = (kMaxValueBits - kSubBits + 1) * kSubCount;

  // The bucket a value falls into: exact below 2^(kSubBits+1), log-linear above.
  static constexpr std::size_t bucket_of(std::uint64_t value) {
    if (value < 2 * kSubCount) return static_cast<std::size_t>(value);
    const int msb = std::bit_width(value) - 1;  // >= kSubBits + 1
    const int shift = msb - kSubBits;
    const std::size_t index =
        static_cast<std::size_t>(shift + 1) * kSubCount + ((value >> shift) - kSubCount);
    return index < kBucketCount ? index : kBucketCount - 1;
  }
  // Smallest and largest value counted in a bucket.
  static constexpr std::uint64_t bucket_low(std::size_t bucket) {
    if (bucket < 2 * kSubCount) return bucket;
    const std::uint64_t shift = bucket / kSubCount - 1;
    const std::uint64_t sub = bucket % kSubCount + kSubCount;
    return sub << shift;
  }
  static constexpr std::uint64_t bucket_high(std::size_t bucket) {
    if (bucket < 2 * kSubCount) return bucket;
    const std::uint64_t shift = bucket / kSubCount - 1;
    const std::uint64_t sub = bucket % kSubCount + kSubCount;
    return ((sub + 1) << shift) - 1;
  }

  void record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    ++count_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  void merge(const LatencyHistogram& other);
  void reset() { *this = LatencyHistogram{}; }

  // The value at or below which `percentile` percent of the recorded values lie, reported
  // as the highest value of its bucket (HdrHistogram's "highest equivalent value") but never
  // above the largest value recorded. 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const;

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace sipline::sipblast

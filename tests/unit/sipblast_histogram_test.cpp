// sipblast's log-linear latency histogram: bucket boundaries and percentiles on known data.
#include "bench/sipblast/histogram.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace {

using sipline::sipblast::LatencyHistogram;

TEST(SipblastHistogram, ValuesBelow256AreExact) {
  for (std::uint64_t v = 0; v < 256; ++v) {
    const std::size_t bucket = LatencyHistogram::bucket_of(v);
    EXPECT_EQ(bucket, v);
    EXPECT_EQ(LatencyHistogram::bucket_low(bucket), v);
    EXPECT_EQ(LatencyHistogram::bucket_high(bucket), v);
  }
}

TEST(SipblastHistogram, BucketBoundariesAboveTheLinearRange) {
  // 256..511 in buckets of 2, 512..1023 in buckets of 4.
  EXPECT_EQ(LatencyHistogram::bucket_of(256), 256u);
  EXPECT_EQ(LatencyHistogram::bucket_of(257), 256u);
  EXPECT_EQ(LatencyHistogram::bucket_of(258), 257u);
  EXPECT_EQ(LatencyHistogram::bucket_of(511), 383u);
  EXPECT_EQ(LatencyHistogram::bucket_of(512), 384u);
  EXPECT_EQ(LatencyHistogram::bucket_of(515), 384u);
  EXPECT_EQ(LatencyHistogram::bucket_of(516), 385u);
  EXPECT_EQ(LatencyHistogram::bucket_low(384), 512u);
  EXPECT_EQ(LatencyHistogram::bucket_high(384), 515u);
  EXPECT_EQ(LatencyHistogram::bucket_low(257), 258u);
  EXPECT_EQ(LatencyHistogram::bucket_high(257), 259u);
}

TEST(SipblastHistogram, EveryValueLiesInItsBucketWithinOnePart128) {
  for (std::uint64_t v = 1; v < (std::uint64_t{1} << 39); v = v * 3 / 2 + 7) {
    const std::size_t bucket = LatencyHistogram::bucket_of(v);
    const std::uint64_t low = LatencyHistogram::bucket_low(bucket);
    const std::uint64_t high = LatencyHistogram::bucket_high(bucket);
    ASSERT_LE(low, v) << v;
    ASSERT_GE(high, v) << v;
    ASSERT_LE(high - low, low / 128) << v;
  }
}

TEST(SipblastHistogram, PercentilesOfOneToOneHundredThousand) {
  auto histogram = std::make_unique<LatencyHistogram>();
  for (std::uint64_t v = 1; v <= 100'000; ++v)
    histogram->record(v);
  EXPECT_EQ(histogram->count(), 100'000u);
  EXPECT_EQ(histogram->min(), 1u);
  EXPECT_EQ(histogram->max(), 100'000u);
  EXPECT_DOUBLE_EQ(histogram->mean(), 50'000.5);
  // 50000 lies in [49920, 50175] (2^15..2^16 in buckets of 256): the bucket's top.
  EXPECT_EQ(histogram->value_at_percentile(50), 50'175u);
  EXPECT_EQ(histogram->value_at_percentile(90), 90'111u);  // [89600, 90111]
  EXPECT_EQ(histogram->value_at_percentile(99), 99'327u);  // [98816, 99327]
  // 99900 lies in [99840, 100351], whose top is above the largest value recorded.
  EXPECT_EQ(histogram->value_at_percentile(99.9), 100'000u);
  EXPECT_EQ(histogram->value_at_percentile(100), 100'000u);
}

TEST(SipblastHistogram, PercentilesOfSmallExactValues) {
  auto histogram = std::make_unique<LatencyHistogram>();
  for (std::uint64_t v : {40, 10, 30, 20})
    histogram->record(v);
  EXPECT_EQ(histogram->value_at_percentile(0), 10u);
  EXPECT_EQ(histogram->value_at_percentile(25), 10u);
  EXPECT_EQ(histogram->value_at_percentile(50), 20u);
  EXPECT_EQ(histogram->value_at_percentile(50.1), 30u);
  EXPECT_EQ(histogram->value_at_percentile(75), 30u);
  EXPECT_EQ(histogram->value_at_percentile(100), 40u);
}

TEST(SipblastHistogram, NinetyNinePointNineOfAThousand) {
  auto histogram = std::make_unique<LatencyHistogram>();
  for (std::uint64_t v = 1; v <= 1000; ++v)
    histogram->record(v);
  EXPECT_EQ(histogram->value_at_percentile(99.9), 999u);  // rank 999, bucket [996, 999]
  EXPECT_EQ(histogram->value_at_percentile(99), 991u);    // rank 990, bucket [988, 991]
}

TEST(SipblastHistogram, EmptyReportsZero) {
  auto histogram = std::make_unique<LatencyHistogram>();
  EXPECT_EQ(histogram->value_at_percentile(50), 0u);
  EXPECT_EQ(histogram->min(), 0u);
  EXPECT_EQ(histogram->max(), 0u);
  EXPECT_EQ(histogram->mean(), 0.0);
}

TEST(SipblastHistogram, MergeEqualsRecordingEverythingInOne) {
  auto whole = std::make_unique<LatencyHistogram>();
  auto odd = std::make_unique<LatencyHistogram>();
  auto even = std::make_unique<LatencyHistogram>();
  for (std::uint64_t v = 1; v <= 20'000; ++v) {
    whole->record(v * 37);
    (v % 2 ? odd : even)->record(v * 37);
  }
  odd->merge(*even);
  EXPECT_EQ(odd->count(), whole->count());
  EXPECT_EQ(odd->min(), whole->min());
  EXPECT_EQ(odd->max(), whole->max());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(odd->value_at_percentile(p), whole->value_at_percentile(p)) << p;
  }
}

TEST(SipblastHistogram, HugeValuesLandInTheLastBucketAndKeepAnExactMax) {
  auto histogram = std::make_unique<LatencyHistogram>();
  const std::uint64_t huge = std::uint64_t{1} << 50;
  EXPECT_EQ(LatencyHistogram::bucket_of(huge), LatencyHistogram::kBucketCount - 1);
  histogram->record(huge);
  EXPECT_EQ(histogram->max(), huge);
  EXPECT_EQ(histogram->value_at_percentile(50),
            LatencyHistogram::bucket_high(LatencyHistogram::kBucketCount - 1));
}

}  // namespace

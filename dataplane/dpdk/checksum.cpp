#include "dataplane/dpdk/checksum.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sipline::dataplane::dpdk {
namespace detail {

#if defined(__x86_64__)

// Each 32-bit lane adds the two 16-bit words of one 32-bit word per step: at most 0x1fffe a
// step, so 2^14 steps (1 MiB) stay below 2^32 before the lanes are added into `sum`.
inline constexpr std::size_t kStepOctets = 64;
inline constexpr std::size_t kStepsPerFlush = std::size_t{1} << 14;
static_assert(0x1fffeull * kStepsPerFlush < (1ull << 32), "a lane cannot overflow");

[[gnu::target("avx2")]] std::uint64_t lanes_sum(__m256i lanes) {
  alignas(32) std::uint32_t words[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(words), lanes);
  std::uint64_t total = 0;
  for (const std::uint32_t word : words)
    total += word;
  return total;
}

[[gnu::target("avx2")]] __m256i word_pairs(__m256i octets) {
  const __m256i low_words = _mm256_set1_epi32(0xffff);
  return _mm256_add_epi32(_mm256_and_si256(octets, low_words), _mm256_srli_epi32(octets, 16));
}

[[gnu::target("avx2")]] std::uint64_t checksum_add_avx2(const void* data, std::size_t length,
                                                        std::uint64_t sum) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::size_t at = 0;
  while (length - at >= kStepOctets) {
    __m256i first = _mm256_setzero_si256();
    __m256i second = _mm256_setzero_si256();
    for (std::size_t step = 0; step < kStepsPerFlush && length - at >= kStepOctets; ++step) {
      const auto* block = reinterpret_cast<const __m256i*>(bytes + at);
      first = _mm256_add_epi32(first, word_pairs(_mm256_loadu_si256(block)));
      second = _mm256_add_epi32(second, word_pairs(_mm256_loadu_si256(block + 1)));
      at += kStepOctets;
    }
    sum += lanes_sum(first) + lanes_sum(second);
  }
  // The step is a multiple of 4 octets: the rest keeps the 16-bit word alignment.
  return checksum_add(bytes + at, length - at, sum);
}

bool cpu_has_avx2() {
  __builtin_cpu_init();  // may run before constructors that would otherwise do it
  return __builtin_cpu_supports("avx2");
}

#else

std::uint64_t checksum_add_avx2(const void* data, std::size_t length, std::uint64_t sum) {
  return checksum_add(data, length, sum);
}

bool cpu_has_avx2() {
  return false;
}

#endif

}  // namespace detail

namespace {
const bool kUseAvx2 = detail::cpu_has_avx2();
}  // namespace

std::uint64_t checksum_add_payload(const void* data, std::size_t length, std::uint64_t sum) {
  if (kUseAvx2 && length >= 128) return detail::checksum_add_avx2(data, length, sum);
  return checksum_add(data, length, sum);
}

}  // namespace sipline::dataplane::dpdk

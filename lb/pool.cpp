#include "lb/pool.hpp"

#include <xxhash.h>

#include <cmath>
#include <utility>

namespace sipline::lb {
namespace {

// The finaliser of SplitMix64: every input bit flips about half of the output bits, so the
// Call-ID hash combined with each member's seed gives that member an independent draw.
std::uint64_t mix(std::uint64_t value) {
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// 53 bits of a draw: what the score is computed from (and compared on, for equal weights).
std::uint64_t draw_bits(std::uint64_t key, std::uint64_t seed) {
  return mix(key ^ seed) >> 11;
}

// weight / -ln(u) with u = (bits + 0.5) / 2^53 in (0, 1): the member with the highest score
// wins, and the chance of that is its weight over the sum of the weights of the members up.
double weighted_score(std::uint64_t bits, std::uint32_t weight) {
  const double u = (static_cast<double>(bits) + 0.5) * 0x1p-53;
  return static_cast<double>(weight) / -std::log(u);
}

bool uniform_weights(std::span<const PoolMember> members) {
  for (const PoolMember& member : members) {
    if (member.weight != members.front().weight) return false;
  }
  return true;
}

// The members of each priority present, as masks, lowest priority first.
std::vector<std::uint64_t> priority_tiers(std::span<const PoolMember> members) {
  std::vector<std::uint64_t> tiers;
  for (unsigned priority = 0; priority <= 0xFF; ++priority) {
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (members[i].priority == priority) mask |= std::uint64_t{1} << i;
    }
    if (mask != 0) tiers.push_back(mask);
  }
  return tiers;
}

}  // namespace

std::uint64_t pool_key_hash(std::string_view call_id) {
  return XXH3_64bits(call_id.data(), call_id.size());
}

std::optional<std::size_t> rendezvous_member(std::span<const PoolMember> members,
                                             std::span<const std::uint64_t> member_seeds,
                                             std::uint64_t up, std::uint64_t call_id_hash) {
  std::optional<std::size_t> best;
  // Equal weights: the score grows with the draw, so the draws are compared directly (the
  // same winner as the scores, without a logarithm per member).
  if (uniform_weights(members)) {
    std::uint64_t best_bits = 0;
    for (std::size_t i = 0; i < members.size(); ++i) {
      if ((up >> i & 1) == 0) continue;
      const std::uint64_t bits = draw_bits(call_id_hash, member_seeds[i]);
      if (!best || bits > best_bits) {
        best = i;
        best_bits = bits;
      }
    }
    return best;
  }
  double best_score = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if ((up >> i & 1) == 0) continue;
    const double score =
        weighted_score(draw_bits(call_id_hash, member_seeds[i]), members[i].weight);
    if (!best || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

PoolSet::PoolSet(std::vector<PoolSpec> pools)
    : specs_(std::move(pools)), health_(std::make_unique<Health[]>(specs_.size())) {
  seeds_.reserve(specs_.size());
  for (std::size_t index = 0; index < specs_.size(); ++index) {
    std::vector<std::uint64_t> seeds;
    std::uint64_t drained = 0;
    for (std::size_t i = 0; i < specs_[index].members.size(); ++i) {
      const PoolMember& member = specs_[index].members[i];
      seeds.push_back(XXH3_64bits(member.uri.data(), member.uri.size()));
      if (member.drain) drained |= std::uint64_t{1} << i;
    }
    seeds_.push_back(std::move(seeds));
    drained_.push_back(drained);
    tiers_.push_back(priority_tiers(specs_[index].members));
    set_up_members(index, all_members(index));
  }
}

std::uint64_t PoolSet::all_members(std::size_t index) const {
  const std::size_t count = specs_[index].members.size();
  return count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
}

std::optional<std::size_t> PoolSet::choose(std::size_t index, std::string_view call_id,
                                           std::uint64_t excluded) const {
  const std::uint64_t up = up_members(index) & ~excluded;
  for (const std::uint64_t tier : tiers_[index]) {
    if ((up & tier) == 0) continue;
    return rendezvous_member(specs_[index].members, seeds_[index], up & tier,
                             pool_key_hash(call_id));
  }
  return std::nullopt;
}

}  // namespace sipline::lb

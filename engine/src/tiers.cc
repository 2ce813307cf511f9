#include "tiers.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace tally::internal {
namespace {

// The last microsecond at which the member's qualifying points are at least
// `threshold`, assuming no purchase after the last one in `purchases`;
// nullopt when they never are. Qualifying points at time s are the sum over
// purchases earned in (s - window, s]: a step function that rises at each
// purchase and falls `window` later.
std::optional<std::uint64_t> LastMomentAtLeast(const std::vector<Purchase>& purchases, std::uint64_t window_us,
                                               std::int64_t threshold) {
  std::vector<std::pair<std::uint64_t, std::int64_t>> steps;
  steps.reserve(purchases.size() * 2);
  for (const Purchase& purchase : purchases) {
    if (purchase.qualifying <= 0) continue;
    steps.emplace_back(purchase.earned_at_us, purchase.qualifying);
    steps.emplace_back(purchase.earned_at_us + window_us, -purchase.qualifying);
  }
  std::sort(steps.begin(), steps.end());
  std::optional<std::uint64_t> last;
  std::int64_t sum = 0;
  for (std::size_t index = 0; index < steps.size();) {
    const std::uint64_t at = steps[index].first;
    while (index < steps.size() && steps[index].first == at) sum += steps[index++].second;
    // The sum holds on [at, next step); after the last step it is 0.
    if (sum >= threshold && index < steps.size()) last = steps[index].first - 1;
  }
  return last;
}

}  // namespace

TierStatus TierAt(const Program& program, const std::vector<Purchase>& purchases, std::uint64_t now_us) {
  TierStatus status;
  const std::uint64_t window_us = program.tier_window_days * kDayUs;
  const std::uint64_t keep_us = program.tier_keep_days * kDayUs;
  for (const Purchase& purchase : purchases) {
    if (purchase.earned_at_us <= now_us && now_us < purchase.earned_at_us + window_us) {
      status.qualifying += purchase.qualifying;
    }
  }
  // A tier is held while its threshold was met at some moment of the last
  // keep period: that is, while its last such moment + keep >= now.
  for (std::uint32_t tier = 1; tier < program.tiers.size(); ++tier) {
    const std::optional<std::uint64_t> last = LastMomentAtLeast(purchases, window_us, program.tiers[tier].threshold);
    if (!last || *last + keep_us < now_us) break;
    status.tier = tier;
    status.lapses_at_us = *last + keep_us + 1;
  }
  if (status.tier + 1 < program.tiers.size()) {
    status.to_next = program.tiers[status.tier + 1].threshold - status.qualifying;
  }
  return status;
}

void PrunePurchases(const Program& program, std::vector<Purchase>* purchases, std::uint64_t now_us) {
  const std::uint64_t horizon_us = (program.tier_window_days + program.tier_keep_days) * kDayUs;
  std::erase_if(*purchases, [&](const Purchase& purchase) { return purchase.earned_at_us + horizon_us < now_us; });
}

}  // namespace tally::internal

// Tiers from qualifying points over a rolling window (docs/loyalty.md,
// "Tiers"): which tier a member holds at a ledger time, what remains to the
// next, and when the tier lapses if nothing more is bought.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "account.h"
#include "tally/program.h"

namespace tally::internal {

struct TierStatus {
  std::uint32_t tier = 0;             // index into Program::tiers; 0 without tiers
  std::int64_t qualifying = 0;        // in the window that ends at the ledger time
  std::int64_t to_next = 0;           // qualifying points missing for the next tier; 0 at the top
  std::uint64_t lapses_at_us = kNever;  // when the tier drops without new purchases; kNever for tier 0
};

// REQUIRES: `purchases` in time order, none after `now_us`.
TierStatus TierAt(const Program& program, const std::vector<Purchase>& purchases, std::uint64_t now_us);

// Drops purchases that can no longer count towards a tier at `now_us` or later.
void PrunePurchases(const Program& program, std::vector<Purchase>* purchases, std::uint64_t now_us);

}  // namespace tally::internal

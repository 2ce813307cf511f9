// An account of many lots is summed (account.h): its sums and spent prefix
// must give what a plain look at every lot gives. A reference account that
// does only that (the rules of docs/loyalty.md, written out again here,
// sharing no code with account.cc) takes the same random operations —
// earns, spends, pending points, expiring lots, returns of one event's
// lots, write-offs — at a ledger time that moves on, and every answer and
// the lots themselves are compared after each one.
#include "account.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <span>
#include <vector>

namespace tally::internal {
namespace {

// The lots in spending order (expiry, then event), none empty.
struct ReferenceAccount {
  std::vector<Lot> lots;

  static bool Before(const Lot& a, const Lot& b) {
    return a.expires_at_us != b.expires_at_us ? a.expires_at_us < b.expires_at_us : a.sequence < b.sequence;
  }
  void Arrive(const Lot& lot) {
    for (Lot& existing : lots) {
      if (existing.sequence == lot.sequence && existing.expires_at_us == lot.expires_at_us) {
        existing.points += lot.points;
        return;
      }
    }
    lots.push_back(lot);
    std::stable_sort(lots.begin(), lots.end(), Before);
  }
  static bool Live(const Lot& lot, std::uint64_t now) { return lot.spendable_from_us <= now && now < lot.expires_at_us; }
  static bool Waiting(const Lot& lot, std::uint64_t now) { return now < lot.spendable_from_us && now < lot.expires_at_us; }
  std::int64_t Spendable(std::uint64_t now) const {
    std::int64_t sum = 0;
    for (const Lot& lot : lots) sum += Live(lot, now) ? lot.points : 0;
    return sum;
  }
  std::int64_t Pending(std::uint64_t now) const {
    std::int64_t sum = 0;
    for (const Lot& lot : lots) sum += Waiting(lot, now) ? lot.points : 0;
    return sum;
  }
  std::int64_t Total() const {
    std::int64_t sum = 0;
    for (const Lot& lot : lots) sum += lot.points;
    return sum;
  }
  // Takes from the lots `which` picks, in order, up to `points`.
  template <typename Which>
  std::int64_t TakeFrom(std::int64_t points, Which which, std::vector<Lot>* taken) {
    std::int64_t took = 0;
    for (Lot& lot : lots) {
      if (took == points || !which(lot)) continue;
      const std::int64_t part = std::min(points - took, lot.points);
      if (taken != nullptr) taken->push_back(Lot{part, lot.spendable_from_us, lot.expires_at_us, lot.sequence});
      lot.points -= part;
      took += part;
    }
    std::erase_if(lots, [](const Lot& lot) { return lot.points == 0; });
    return took;
  }
  std::int64_t WriteOff(std::uint64_t now) {
    std::int64_t sum = 0;
    for (const Lot& lot : lots) sum += lot.expires_at_us <= now ? lot.points : 0;
    std::erase_if(lots, [now](const Lot& lot) { return lot.expires_at_us <= now; });
    return sum;
  }
};

bool SameLots(std::span<const Lot> actual, const std::vector<Lot>& expected) {
  if (actual.size() != expected.size()) return false;
  for (std::size_t index = 0; index < actual.size(); ++index) {
    const Lot& a = actual[index];
    const Lot& b = expected[index];
    if (a.points != b.points || a.spendable_from_us != b.spendable_from_us || a.expires_at_us != b.expires_at_us ||
        a.sequence != b.sequence) {
      return false;
    }
  }
  return true;
}

// `pending_share` and `expiring_share` (of 100): how many new lots wait
// before they can be spent, and how many expire.
void RunAgainstReference(std::uint64_t seed, int pending_share, int expiring_share) {
  std::mt19937_64 random(seed);
  Account account;
  ReferenceAccount reference;
  std::uint64_t now = 1'000'000;
  std::uint64_t sequence = 0;
  std::vector<std::uint64_t> earned;  // sequences that made lots
  std::size_t most_lots = 0;
  auto draw = [&](int below) { return static_cast<int>(random() % static_cast<std::uint64_t>(below)); };
  for (int step = 0; step < 6000; ++step) {
    now += static_cast<std::uint64_t>(draw(50));
    const int roll = draw(100);
    std::int64_t got = 0;
    std::int64_t expected = 0;
    std::vector<Lot> slices;
    std::vector<Lot> expected_slices;
    if (roll < 60) {  // an earn (most of the time: the account grows past kSummedLotsMin)
      Lot lot;
      lot.points = 1 + draw(100);
      lot.sequence = ++sequence;
      lot.spendable_from_us = draw(100) < pending_share ? now + static_cast<std::uint64_t>(draw(400)) : now;
      lot.expires_at_us = draw(100) < expiring_share ? now + 200 + static_cast<std::uint64_t>(draw(3000)) : kNever;
      if (draw(10) == 0 && !earned.empty()) lot.sequence = earned[static_cast<std::size_t>(draw(static_cast<int>(earned.size())))];
      earned.push_back(lot.sequence);
      got = account.Arrive(lot);
      reference.Arrive(lot);
      expected = lot.points;
    } else if (roll < 85) {  // a spend of what is spendable, or part of it
      const std::int64_t spendable = reference.Spendable(now);
      if (spendable == 0) continue;
      const std::int64_t points = std::min<std::int64_t>(spendable, 1 + draw(60));
      account.Take(points, now, &slices);
      reference.TakeFrom(points, [&](const Lot& lot) { return ReferenceAccount::Live(lot, now); }, &expected_slices);
      ASSERT_TRUE(SameLots(slices, expected_slices)) << "the slices of a spend, step " << step;
    } else if (roll < 90) {  // pending points taken back
      const std::int64_t points = 1 + draw(200);
      got = account.TakePending(points, now);
      expected =
          reference.TakeFrom(points, [&](const Lot& lot) { return ReferenceAccount::Waiting(lot, now); }, nullptr);
    } else if (roll < 97) {  // a return of one event's lots
      if (earned.empty()) continue;
      const std::uint64_t target = earned[static_cast<std::size_t>(draw(static_cast<int>(earned.size())))];
      const std::int64_t points = 1 + draw(150);
      got = account.TakeFromLotsOf(target, points, now);
      expected = reference.TakeFrom(
          points, [&](const Lot& lot) { return lot.sequence == target && now < lot.expires_at_us; }, nullptr);
    } else {  // an expire sweep
      got = account.WriteOffPastDate(now);
      expected = reference.WriteOff(now);
    }
    ASSERT_EQ(got, expected) << "step " << step << ", roll " << roll;
    ASSERT_TRUE(SameLots(account.lots(), reference.lots)) << "the lots after step " << step << ", roll " << roll;
    ASSERT_EQ(account.Spendable(now), reference.Spendable(now)) << "step " << step;
    ASSERT_EQ(account.Pending(now), reference.Pending(now)) << "step " << step;
    ASSERT_EQ(account.Total(), reference.Total()) << "step " << step;
    ASSERT_EQ(account.HasPastDate(now), !reference.lots.empty() && reference.lots.front().expires_at_us <= now);
    // A copy (an account is copied when a command is tried before it is kept) answers the same.
    const Account copy(account);
    ASSERT_EQ(copy.Spendable(now), account.Spendable(now)) << "step " << step;
    ASSERT_TRUE(SameLots(copy.lots(), reference.lots)) << "step " << step;
    most_lots = std::max(most_lots, reference.lots.size());
  }
  EXPECT_GT(most_lots, 2 * Account::kSummedLotsMin) << "the account must have been summed for most of the run";
}

TEST(Account, ManyLotsAnswerAsAPlainLookWouldWithoutPendingOrExpiry) { RunAgainstReference(1, 0, 0); }
TEST(Account, ManyLotsAnswerAsAPlainLookWouldWithPendingPoints) { RunAgainstReference(2, 30, 0); }
TEST(Account, ManyLotsAnswerAsAPlainLookWouldWithExpiringLots) { RunAgainstReference(3, 0, 40); }
TEST(Account, ManyLotsAnswerAsAPlainLookWouldWithBoth) { RunAgainstReference(4, 20, 20); }

}  // namespace
}  // namespace tally::internal

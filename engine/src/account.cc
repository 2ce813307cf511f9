#include "account.h"

#include <algorithm>

#include "tally/status.h"

namespace tally::internal {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (the
// era-based method: 400-year eras of 146,097 days).
std::int64_t DaysFromCivil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

void CivilFromDays(std::int64_t days, std::int64_t* year, unsigned* month) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned shifted_month = (5 * day_of_year + 2) / 153;
  *month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
  *year = static_cast<std::int64_t>(year_of_era) + era * 400 + (*month <= 2 ? 1 : 0);
}

// Takes what it can of `*points` from `lot`, appending the slice taken
// (with the lot's identity) to `taken` when not null.
void TakeFromLot(Lot& lot, std::int64_t* points, std::vector<Lot>* taken) {
  const std::int64_t part = std::min(*points, lot.points);
  if (taken != nullptr) {
    Lot slice = lot;
    slice.points = part;
    taken->push_back(slice);
  }
  lot.points -= part;
  *points -= part;
}

}  // namespace

std::uint64_t ExpiresAt(const Program& program, std::uint64_t earned_at_us) {
  switch (program.expiry) {
    case ExpiryKind::kNone:
      return kNever;
    case ExpiryKind::kDays:
      return earned_at_us + program.expiry_value * kDayUs;
    case ExpiryKind::kMonthEnd: {
      std::int64_t year = 0;
      unsigned month = 0;
      CivilFromDays(static_cast<std::int64_t>(earned_at_us / kDayUs), &year, &month);
      // The first day of the month after the Nth month after this one.
      const std::int64_t months = year * 12 + (month - 1) + program.expiry_value + 1;
      const std::int64_t first_day = DaysFromCivil(months / 12, static_cast<unsigned>(months % 12) + 1, 1);
      return static_cast<std::uint64_t>(first_day) * kDayUs;
    }
  }
  return kNever;
}

const Account::Extras Account::kNoExtras;

std::int64_t Hold::points() const {
  std::int64_t sum = 0;
  for (const Lot& slice : slices) sum += slice.points;
  return sum;
}

std::int64_t Account::Arrive(Lot lot) {
  TALLY_ASSERT(lot.points > 0);
  if (extras_ && extras_->debt > 0) {
    const std::int64_t repaid = std::min(extras_->debt, lot.points);
    extras_->debt -= repaid;
    lot.points -= repaid;
  }
  if (lot.points > 0) Insert(lot);
  return lot.points;
}

void Account::Insert(const Lot& lot) {
  if (summed()) {
    extras_->lots_points += lot.points;
    extras_->spendable_from_max = std::max(extras_->spendable_from_max, lot.spendable_from_us);
  }
  const auto first = lots_.begin() + static_cast<std::ptrdiff_t>(spent());
  // Most lots spend after every lot there is (the same expiry rule, a newer
  // event): the last lot decides, without a search through the others.
  if (first == lots_.end() || lots_.back().SpendsBefore(lot)) {
    lots_.push_back(lot);
  } else {
    auto position =
        std::lower_bound(first, lots_.end(), lot, [](const Lot& a, const Lot& b) { return a.SpendsBefore(b); });
    if (position != lots_.end() && position->SameLot(lot)) {
      position->points += lot.points;
    } else {
      lots_.insert(position, lot);
    }
  }
  if (!summed() && lots_.size() >= kSummedLotsMin) {
    MutableExtras().summed = true;
    Sum();
  }
}

bool Account::AllLive(std::uint64_t now_us) const {
  TALLY_ASSERT(summed());
  // Spending order puts the lot that expires first first.
  return extras_->spendable_from_max <= now_us && (spent() == lots_.size() || now_us < lots_[spent()].expires_at_us);
}

void Account::Compact() {
  if (spent() == 0) return;
  lots_.erase(lots_.begin(), lots_.begin() + static_cast<std::ptrdiff_t>(extras_->spent));
  extras_->spent = 0;
}

void Account::Sum() {
  TALLY_ASSERT(summed());
  extras_->lots_points = 0;
  extras_->spendable_from_max = 0;
  for (const Lot& lot : lots()) {
    extras_->lots_points += lot.points;
    extras_->spendable_from_max = std::max(extras_->spendable_from_max, lot.spendable_from_us);
  }
}

std::int64_t Account::Spendable(std::uint64_t now_us) const {
  if (summed() && AllLive(now_us)) return extras_->lots_points;
  std::int64_t sum = 0;
  for (const Lot& lot : lots()) {
    if (lot.Live(now_us)) sum += lot.points;
  }
  return sum;
}

std::int64_t Account::Pending(std::uint64_t now_us) const {
  if (summed() && AllLive(now_us)) return 0;
  std::int64_t sum = 0;
  for (const Lot& lot : lots()) {
    if (lot.Pending(now_us)) sum += lot.points;
  }
  return sum;
}

std::int64_t Account::Held(std::uint64_t now_us) const {
  std::int64_t sum = 0;
  for (const Hold& hold : holds()) {
    if (now_us < hold.expires_at_us) sum += hold.points();
  }
  return sum;
}

std::int64_t Account::Total() const {
  std::int64_t sum = -debt();
  if (summed()) {
    sum += extras_->lots_points;
  } else {
    for (const Lot& lot : lots_) sum += lot.points;
  }
  for (const Hold& hold : holds()) sum += hold.points();
  return sum;
}

void Account::Take(std::int64_t points, std::uint64_t now_us, std::vector<Lot>* taken) {
  TALLY_ASSERT(points > 0);
  if (summed() && AllLive(now_us)) {
    // Every lot is live: the lots emptied are the first ones, which become
    // the spent prefix.
    extras_->lots_points -= points;
    std::size_t& spent = extras_->spent;
    while (points > 0) {
      TALLY_ASSERT(spent < lots_.size());
      TakeFromLot(lots_[spent], &points, taken);
      if (lots_[spent].points == 0) ++spent;
    }
    if (spent * 2 > lots_.size()) Compact();  // each spent lot moved at most once: O(1) a lot
    return;
  }
  Compact();
  for (Lot& lot : lots_) {
    if (points == 0) break;
    if (lot.Live(now_us)) TakeFromLot(lot, &points, taken);
  }
  TALLY_ASSERT(points == 0);
  std::erase_if(lots_, [](const Lot& lot) { return lot.points == 0; });
  if (summed()) Sum();
}

std::int64_t Account::TakePending(std::int64_t points, std::uint64_t now_us) {
  Compact();
  std::int64_t taken = 0;
  for (Lot& lot : lots_) {
    if (!lot.Pending(now_us) || taken == points) continue;
    const std::int64_t part = std::min(points - taken, lot.points);
    lot.points -= part;
    taken += part;
  }
  std::erase_if(lots_, [](const Lot& lot) { return lot.points == 0; });
  if (summed()) Sum();
  return taken;
}

void Account::Return(const std::vector<Lot>& slices) {
  for (const Lot& slice : slices) {
    if (slice.points > 0) Arrive(slice);
  }
}

std::int64_t Account::TakeFromLotsOf(std::uint64_t sequence, std::int64_t points, std::uint64_t now_us) {
  // Lots are in order of expiry, then event: the lots of `sequence` are one
  // at most per expiry, found by a search within each expiry's run.
  std::int64_t taken = 0;
  std::vector<std::size_t> emptied;  // indexes into lots_, ascending
  auto at = lots_.begin() + static_cast<std::ptrdiff_t>(spent());
  while (at != lots_.end() && taken < points) {
    const std::uint64_t expires = at->expires_at_us;
    const auto run_end = std::upper_bound(at, lots_.end(), expires,
                                          [](std::uint64_t value, const Lot& lot) { return value < lot.expires_at_us; });
    if (expires > now_us) {
      const auto lot = std::lower_bound(at, run_end, sequence,
                                        [](const Lot& candidate, std::uint64_t value) { return candidate.sequence < value; });
      if (lot != run_end && lot->sequence == sequence) {
        const std::int64_t part = std::min(points - taken, lot->points);
        lot->points -= part;
        taken += part;
        if (lot->points == 0) emptied.push_back(static_cast<std::size_t>(lot - lots_.begin()));
      }
    }
    at = run_end;
  }
  for (auto index = emptied.rbegin(); index != emptied.rend(); ++index) {
    lots_.erase(lots_.begin() + static_cast<std::ptrdiff_t>(*index));
  }
  if (summed()) extras_->lots_points -= taken;
  return taken;
}

void Account::ReleaseExpiredHolds(std::uint64_t now_us) {
  if (!HasExpiredHold(now_us)) return;
  std::vector<Hold>& open = holds_mutable();
  for (const Hold& hold : open) {
    if (hold.expires_at_us <= now_us) Return(hold.slices);
  }
  std::erase_if(open, [now_us](const Hold& hold) { return hold.expires_at_us <= now_us; });
}

bool Account::HasExpiredHold(std::uint64_t now_us) const {
  const std::vector<Hold>& open = holds();
  return std::any_of(open.begin(), open.end(), [now_us](const Hold& hold) { return hold.expires_at_us <= now_us; });
}

Hold* Account::FindHold(std::uint64_t sequence) {
  if (!extras_) return nullptr;
  for (Hold& hold : extras_->holds) {
    if (hold.sequence == sequence) return &hold;
  }
  return nullptr;
}

Hold Account::RemoveHold(std::uint64_t sequence) {
  std::vector<Hold>& open = holds_mutable();
  auto found = std::find_if(open.begin(), open.end(), [&](const Hold& hold) { return hold.sequence == sequence; });
  TALLY_ASSERT(found != open.end());
  Hold hold = std::move(*found);
  open.erase(found);
  return hold;
}

std::int64_t Account::WriteOffPastDate(std::uint64_t now_us) {
  Compact();
  std::int64_t sum = 0;
  for (const Lot& lot : lots_) {
    if (lot.expires_at_us <= now_us) sum += lot.points;
  }
  std::erase_if(lots_, [now_us](const Lot& lot) { return lot.expires_at_us <= now_us; });
  if (summed()) Sum();
  return sum;
}

bool Account::HasPastDate(std::uint64_t now_us) const {
  // Lots are in spending order, so the first expires first.
  if (!lots().empty() && lots().front().expires_at_us <= now_us) return true;
  return HasExpiredHold(now_us);
}

std::int64_t Account::ExpiringBefore(std::uint64_t now_us, std::uint64_t before_us) const {
  std::int64_t sum = 0;
  for (const Lot& lot : lots()) {
    if (lot.expires_at_us >= before_us) break;  // spending order: the rest expire later
    if (now_us < lot.expires_at_us) sum += lot.points;
  }
  return sum;
}

}  // namespace tally::internal

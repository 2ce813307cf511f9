// Account: a member's points as the loyalty rules see them — lots, holds,
// debt and the purchases that count towards tiers (docs/loyalty.md). Pure
// state and arithmetic at a given ledger time; the ledger decides when to
// call what.
//
// Thread safety: none; the ledger guards it.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "tally/program.h"

namespace tally::internal {

inline constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t kDayUs = 86'400'000'000;

// When a lot earned at `earned_at_us` expires under `program`: kNever, or
// the first microsecond at which it is past date.
std::uint64_t ExpiresAt(const Program& program, std::uint64_t earned_at_us);

struct Lot {
  std::int64_t points = 0;
  std::uint64_t spendable_from_us = 0;
  std::uint64_t expires_at_us = kNever;
  std::uint64_t sequence = 0;  // the event that created it

  // The spending order: the one expiring first first, then the oldest.
  bool SpendsBefore(const Lot& other) const {
    return expires_at_us != other.expires_at_us ? expires_at_us < other.expires_at_us : sequence < other.sequence;
  }
  // Lots are told apart by creating event and expiry (a transfer makes one
  // lot per expiry it received).
  bool SameLot(const Lot& other) const {
    return sequence == other.sequence && expires_at_us == other.expires_at_us;
  }
  bool Live(std::uint64_t now_us) const { return spendable_from_us <= now_us && now_us < expires_at_us; }
  bool Pending(std::uint64_t now_us) const { return now_us < spendable_from_us && now_us < expires_at_us; }
};

struct Hold {
  std::uint64_t sequence = 0;  // the hold event
  std::uint64_t expires_at_us = 0;
  std::vector<Lot> slices;     // what it took, each with its lot's identity

  std::int64_t points() const;
};

// A purchase as tiers see it.
struct Purchase {
  std::uint64_t earned_at_us = 0;
  std::uint64_t sequence = 0;
  std::int64_t awarded = 0;     // the points the purchase earned
  std::int64_t qualifying = 0;  // its base points, less what returns took
};

class Account {
 public:
  Account() = default;
  Account(Account&&) = default;
  Account& operator=(Account&&) = default;
  Account(const Account& other) : lots_(other.lots_) {
    if (other.extras_) extras_ = std::make_unique<Extras>(*other.extras_);
  }

  // Points arriving (earn, purchase, incoming transfer, returned redeem,
  // referral): they repay debt first; what is left becomes `lot`'s points.
  // Returns the points that went into the lot. REQUIRES: lot.points > 0.
  std::int64_t Arrive(Lot lot);

  // Points in live lots, pending lots and unexpired holds at `now_us`.
  std::int64_t Spendable(std::uint64_t now_us) const;
  std::int64_t Pending(std::uint64_t now_us) const;
  std::int64_t Held(std::uint64_t now_us) const;
  // Everything in lots (of any state) and holds, less debt: the total balance.
  std::int64_t Total() const;

  // Takes `points` from live lots in spending order, appending what it took
  // (with each lot's identity) to `taken` when not null.
  // REQUIRES: 0 < points <= Spendable(now_us).
  void Take(std::int64_t points, std::uint64_t now_us, std::vector<Lot>* taken);
  // Takes up to `points` from pending lots in spending order; returns how
  // many it took.
  std::int64_t TakePending(std::int64_t points, std::uint64_t now_us);
  // Puts slices back into the lots they came from (recreating a lot that was
  // emptied meanwhile); like any arrival they repay debt first.
  void Return(const std::vector<Lot>& slices);
  // Takes up to `points` from the lots created by event `sequence` that are
  // not past date at `now_us`; returns how many it took.
  std::int64_t TakeFromLotsOf(std::uint64_t sequence, std::int64_t points, std::uint64_t now_us);

  bool HasExpiredHold(std::uint64_t now_us) const;
  // Holds that expired by `now_us` give their slices back and are removed.
  void ReleaseExpiredHolds(std::uint64_t now_us);
  Hold* FindHold(std::uint64_t sequence);
  void AddHold(Hold hold) { MutableExtras().holds.push_back(std::move(hold)); }
  // Removes the hold; its slices are the caller's to return or keep.
  Hold RemoveHold(std::uint64_t sequence);

  // Removes every lot past date at `now_us`; returns the points removed.
  std::int64_t WriteOffPastDate(std::uint64_t now_us);
  // True when a lot is past date or a hold has expired at `now_us`: the
  // next expire sweep has something to write for this member.
  bool HasPastDate(std::uint64_t now_us) const;
  // Points in lots that are live now but past date at `before_us`.
  std::int64_t ExpiringBefore(std::uint64_t now_us, std::uint64_t before_us) const;

  std::int64_t debt() const { return extras_ ? extras_->debt : 0; }
  // Adds to the debt (a return under allow_negative). REQUIRES: points > 0.
  void AddDebt(std::int64_t points) { MutableExtras().debt += points; }

  // Starts loading the first lot (where spending starts) and the last
  // (where a new lot usually goes), for a command soon.
  void Prefetch() const {
    if (lots_.empty()) return;
    __builtin_prefetch(lots_.data());
    __builtin_prefetch(&lots_.back());
  }

  // From this many lots on an account is summed (below, at Insert).
  static constexpr std::size_t kSummedLotsMin = 64;

  // The lots, in spending order, none empty.
  std::span<const Lot> lots() const { return std::span<const Lot>(lots_).subspan(spent()); }
  std::size_t lots_capacity() const { return lots_.capacity(); }  // memory accounting
  const std::vector<Hold>& holds() const { return extras_ ? extras_->holds : kNoExtras.holds; }
  std::vector<Purchase>& purchases() { return MutableExtras().purchases; }
  const std::vector<Purchase>& purchases() const { return extras_ ? extras_->purchases : kNoExtras.purchases; }
  std::uint64_t last_purchase_us() const { return extras_ ? extras_->last_purchase_us : 0; }
  void set_last_purchase_us(std::uint64_t at) { MutableExtras().last_purchase_us = at; }

 private:
  void Insert(const Lot& lot);  // merges into the same lot or inserts in spending order

  // An account of kSummedLotsMin lots or more (a member who earns often
  // and spends now and then) is summed: its lots' points and the latest
  // time any of them becomes spendable are kept as they change, so that
  // while every lot is live — no pending period or expiry says otherwise
  // yet — Spendable and Pending need not look at the lots, and a spend
  // walks only the lots it empties, which stay in place as a spent prefix
  // until they are half the vector. With fewer lots a look at all of them
  // is as quick. (Under Zipf-skewed load a member with ~10^5 lots made
  // every redeem and balance read a scan of megabytes: docs/performance-log.md,
  // "Members with many lots".) The rarer changes — a spend while some lot
  // is not live, pending points taken back, a write-off — compact the
  // vector, change it as before and sum it again: O(lots), as they were.
  std::size_t spent() const { return extras_ ? extras_->spent : 0; }
  bool summed() const { return extras_ && extras_->summed; }
  // REQUIRES: summed(). Whether every lot is live at now_us, by the sums.
  bool AllLive(std::uint64_t now_us) const;
  void Compact();  // drops the spent prefix
  void Sum();      // (re)computes the sums from the lots

  // What only some members have, behind one pointer so that a member who
  // only earns and redeems costs 32 bytes here plus their lots (and the
  // member's whole state is one cache line, member_table.h).
  struct Extras {
    std::vector<Hold> holds;
    std::vector<Purchase> purchases;  // by time; only those tiers can still see
    std::int64_t debt = 0;
    std::uint64_t last_purchase_us = 0;
    // A summed account's (see Insert): lots_[0, spent) are spent; the sums
    // are of lots_[spent, end).
    bool summed = false;
    std::size_t spent = 0;
    std::int64_t lots_points = 0;
    std::uint64_t spendable_from_max = 0;  // no lot becomes spendable later
  };
  static const Extras kNoExtras;
  Extras& MutableExtras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }
  std::vector<Hold>& holds_mutable() { return MutableExtras().holds; }

  std::vector<Lot> lots_;  // in spending order, none empty past the spent prefix
  std::unique_ptr<Extras> extras_;
};

}  // namespace tally::internal

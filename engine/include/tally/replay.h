// Replay: rebuilds every balance from the event log alone, with its own
// implementation of the rules, and checks every recorded outcome against it.
// It opens the data directory read-only and changes nothing.
//
// Thread safety: a free function; runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tally/status.h"
#include "tally/types.h"

namespace tally {

struct ReplayMember {
  MemberKey key;
  std::int64_t balance = 0;
  std::uint64_t last_sequence = 0;
};

struct ReplayReport {
  std::uint64_t blocks = 0;
  std::uint64_t events = 0;
  std::uint64_t rejections_logged = 0;
  std::uint64_t last_sequence = 0;
  // The exact sum of all balances, in decimal: with many members near the
  // 64-bit limit it can exceed 64 bits, so it is summed in 128.
  std::string points_outstanding = "0";
  std::vector<ReplayMember> members;    // sorted by (chain, member)
  double seconds = 0;
  std::string chain_head;               // the chain hash at last_sequence, hex (docs/audit.md)
};

struct ReplayOptions {
  // A chain head the auditor kept: the hash chain must pass through it.
  // head_sequence 0: none.
  std::uint64_t head_sequence = 0;
  std::string head_hash;  // 64 hex digits
  // Called now and then with the events checked so far.
  std::function<void(std::uint64_t)> progress;
};

// Fails with kCorruption naming the sequence (and member, where there is one)
// of the first record whose checksum, order, hash chain or recorded outcome
// differs from the replay, or when the kept head does not match;
// kInvalidArgument for a malformed head.
Result<ReplayReport> Replay(const std::string& directory, const ReplayOptions& options = {});

}  // namespace tally

namespace tally {

// One event as the log holds it, for exports.
struct LoggedEvent {
  HistoryEntry entry;  // the command, its outcome, the member's balance after, what it moved
  bool derived = false;  // an expiry event written by an expire sweep
  // transfer: the receiver's previous event and total after it.
  std::uint64_t counterparty_previous_sequence = 0;
  std::int64_t counterparty_balance_after = 0;
};

struct LogRange {
  std::uint32_t chain = 0;  // 0: every chain
  std::uint64_t from_sequence = 1;
  std::uint64_t to_sequence = ~std::uint64_t{0};
  std::uint64_t from_us = 0;  // ledger time, inclusive
  std::uint64_t to_us = ~std::uint64_t{0};  // exclusive
};

// Streams the events of a data directory that fall in `range`, in sequence
// order, read-only. It checks checksums, order and the hash chain as it
// reads (the rules are Replay's job) and stops at the first failure, or at
// the first non-ok Status from `visit`, which it returns.
Status ReadLog(const std::string& directory, const LogRange& range,
               const std::function<Status(const LoggedEvent&)>& visit);

}  // namespace tally

namespace tally {

// Every member's balance of `chain` as of ledger time `as_of_us` (events
// before it) — the trial balance — by replay: the rules re-applied to the
// log up to then, every recorded outcome checked. Sorted by member.
Result<std::vector<ReplayMember>> BalancesAsOf(const std::string& directory, std::uint32_t chain,
                                               std::uint64_t as_of_us);

// A chain's points liability over [from_us, to_us) (docs/audit.md): what was
// outstanding at both ends and every flow between, by kind, store and
// campaign. `reconciled` says that start + issued − redeemed − expired −
// returned + redemptions_reversed + adjusted = end, each side computed on
// its own (the ends from members' balances, the flows from the events).
struct LiabilityReport {
  std::int64_t start = 0;  // outstanding points at from_us
  std::int64_t end = 0;    // outstanding points at to_us
  std::int64_t issued = 0;                // earn, earn_purchase, referral
  std::int64_t redeemed = 0;              // redeem, capture
  std::int64_t expired = 0;               // expiry events: the breakage
  std::int64_t returned = 0;              // reverses of earns and purchases
  std::int64_t redemptions_reversed = 0;  // reverses of redeems
  std::int64_t adjusted = 0;              // adjust, signed
  std::int64_t transferred = 0;           // between members; no effect on the total
  std::uint64_t events = 0;               // in the period
  std::vector<std::pair<std::uint64_t, std::int64_t>> issued_by_store;    // store 0: none
  std::vector<std::pair<std::uint64_t, std::int64_t>> redeemed_by_store;
  std::vector<std::pair<std::uint64_t, std::int64_t>> issued_by_campaign;  // campaign 0: tier shares
  // Of the campaign points issued in the period, those redeemed (or
  // captured) before its end, attributed in proportion within each
  // purchase's lot (docs/audit.md).
  std::vector<std::pair<std::uint64_t, std::int64_t>> redeemed_by_campaign;
  bool reconciled = false;
};
Result<LiabilityReport> Liability(const std::string& directory, std::uint32_t chain, std::uint64_t from_us,
                                  std::uint64_t to_us);

}  // namespace tally

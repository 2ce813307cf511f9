// A deliberately simple model of the ledger's rules, written from the specs
// (docs/engine.md, docs/loyalty.md) on standard containers with the plainest
// algorithms (sort lots before every spend, sample tiers at every purchase),
// for the randomized and crash tests to compare the engine against. It
// shares no code with the engine; it uses only the public types and the
// program record's decoder.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "tally/program.h"
#include "tally/types.h"

namespace tally::testing {

class Model {
 public:
  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::uint64_t kDay = 86'400'000'000;

  // Applies one command at ledger time `now_us`, as the engine would in a
  // batch committed at that time.
  CommandResult Apply(const Command& command, std::uint64_t now_us = 0) {
    const ResultCode invalid = Check(command);
    if (invalid != ResultCode::kOk) return {invalid, 0, 0, 0, 0};
    const auto key = std::make_tuple(command.chain, command.id.high, command.id.low);
    if (auto seen = logged_.find(key); seen != logged_.end()) {
      if (seen->second.command == command) return seen->second.result;
      return {ResultCode::kIdConflict, 0, 0, 0, 0};
    }
    const std::uint64_t sequence = ++sequence_;
    Outcome outcome = Decide(command, now_us, sequence);
    const CommandResult result{outcome.code, sequence, 0, outcome.balance, outcome.moved};
    logged_[key] = Logged{command, result, sequence, 0, outcome.base};
    return result;
  }

  // Every member's total balance.
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> balances() const {
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> totals;
    for (const auto& [key, member] : members_) totals[key] = member.total;
    return totals;
  }

  // A member's balance parts at `now_us` (holds that expired count as released).
  Balance BalanceAt(std::uint32_t chain, std::uint64_t member_id, std::uint64_t now_us) const {
    Balance balance;
    auto found = members_.find({chain, member_id});
    if (found == members_.end()) return balance;
    Member member = found->second;
    ReleaseExpiredHolds(&member, now_us);
    balance.points = member.total;
    for (const Lot& lot : member.lots) {
      if (lot.spendable_from <= now_us && now_us < lot.expires) balance.spendable += lot.points;
      if (now_us < lot.spendable_from && now_us < lot.expires) balance.pending += lot.points;
    }
    for (const auto& [sequence, hold] : member.holds) {
      for (const Lot& slice : hold.slices) balance.held += slice.points;
    }
    return balance;
  }

  std::uint64_t sequence() const { return sequence_; }

 private:
  struct Lot {
    std::int64_t points;
    std::uint64_t spendable_from;
    std::uint64_t expires;
    std::uint64_t sequence;
  };
  struct Hold {
    std::uint64_t expires;
    std::vector<Lot> slices;
  };
  struct Purchase {
    std::uint64_t at;
    std::uint64_t sequence;
    std::int64_t awarded;
    std::int64_t base;
    std::int64_t qualifying;
  };
  struct Member {
    std::int64_t total = 0;
    std::int64_t debt = 0;
    std::vector<Lot> lots;
    std::map<std::uint64_t, Hold> holds;  // by the hold's sequence
    std::vector<Purchase> purchases;
  };
  struct Chain {
    Program program;
    std::uint32_t version = 0;
    std::set<std::uint64_t> referred;
  };
  struct Logged {
    Command command;
    CommandResult result;
    std::uint64_t sequence;
    std::int64_t reversed;
    std::int64_t base;
  };
  struct Outcome {
    ResultCode code = ResultCode::kOk;
    std::int64_t balance = 0;
    std::int64_t moved = 0;
    std::int64_t base = 0;
  };

  static bool Before(const Lot& a, const Lot& b) {
    return std::tie(a.expires, a.sequence) < std::tie(b.expires, b.sequence);
  }

  static std::uint64_t ExpiresAt(const Program& program, std::uint64_t at) {
    if (program.expiry == ExpiryKind::kNone) return kNever;
    if (program.expiry == ExpiryKind::kDays) return at + program.expiry_value * kDay;
    // Month arithmetic by walking days: slow and obviously right.
    std::int64_t days = static_cast<std::int64_t>(at / kDay);
    int year = 1970, month = 1;
    auto month_days = [](int y, int m) {
      static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
      return m == 2 && leap ? 29 : kDays[m - 1];
    };
    std::int64_t first_of_month = 0;
    while (days >= month_days(year, month)) {
      days -= month_days(year, month);
      first_of_month += month_days(year, month);
      if (++month == 13) month = 1, ++year;
    }
    for (std::uint32_t step = 0; step <= program.expiry_value; ++step) {
      first_of_month += month_days(year, month);
      if (++month == 13) month = 1, ++year;
    }
    return static_cast<std::uint64_t>(first_of_month) * kDay;
  }

  // Points arriving repay debt first; the rest joins the lot with the same
  // creating event and expiry, or makes a new one.
  static void Arrive(Member* member, Lot lot) {
    const std::int64_t repaid = std::min(member->debt, lot.points);
    member->debt -= repaid;
    lot.points -= repaid;
    if (lot.points == 0) return;
    for (Lot& existing : member->lots) {
      if (existing.sequence == lot.sequence && existing.expires == lot.expires) {
        existing.points += lot.points;
        return;
      }
    }
    member->lots.push_back(lot);
  }

  static void ReleaseExpiredHolds(Member* member, std::uint64_t now) {
    for (auto it = member->holds.begin(); it != member->holds.end();) {
      if (it->second.expires <= now) {
        for (const Lot& slice : it->second.slices) Arrive(member, slice);
        it = member->holds.erase(it);
      } else {
        ++it;
      }
    }
  }

  static std::int64_t Spendable(const Member& member, std::uint64_t now) {
    std::int64_t sum = 0;
    for (const Lot& lot : member.lots) {
      if (lot.spendable_from <= now && now < lot.expires) sum += lot.points;
    }
    return sum;
  }

  // Takes up to `points` from the lots `eligible` accepts, in spending order.
  template <typename Eligible>
  static std::int64_t Take(Member* member, std::int64_t points, Eligible eligible, std::vector<Lot>* taken) {
    std::sort(member->lots.begin(), member->lots.end(), Before);
    std::int64_t got = 0;
    for (Lot& lot : member->lots) {
      if (got == points || !eligible(lot)) continue;
      const std::int64_t part = std::min(points - got, lot.points);
      if (taken != nullptr) taken->push_back(Lot{part, lot.spendable_from, lot.expires, lot.sequence});
      lot.points -= part;
      got += part;
    }
    std::erase_if(member->lots, [](const Lot& lot) { return lot.points == 0; });
    return got;
  }

  static bool AddOverflows(std::int64_t a, std::int64_t b) {
    return static_cast<long double>(a) + static_cast<long double>(b) >
           static_cast<long double>(std::numeric_limits<std::int64_t>::max());
  }

  // The highest tier whose threshold qualifying points met at some moment of
  // [now - keep, now]: sampled at the start of the interval and at every
  // purchase inside it (the only moments the sum can rise).
  static std::size_t TierAt(const Program& program, const std::vector<Purchase>& purchases, std::uint64_t now) {
    if (program.tiers.empty()) return 0;
    const std::uint64_t window = program.tier_window_days * kDay;
    const std::uint64_t keep = program.tier_keep_days * kDay;
    const std::uint64_t from = now >= keep ? now - keep : 0;
    auto qualifying = [&](std::uint64_t at) {
      std::int64_t sum = 0;
      for (const Purchase& purchase : purchases) {
        if (purchase.at <= at && at < purchase.at + window) sum += purchase.qualifying;
      }
      return sum;
    };
    std::int64_t best = qualifying(from);
    for (const Purchase& purchase : purchases) {
      if (purchase.at >= from && purchase.at <= now) best = std::max(best, qualifying(purchase.at));
    }
    std::size_t tier = 0;
    for (std::size_t index = 1; index < program.tiers.size(); ++index) {
      if (best >= program.tiers[index].threshold) tier = index;
    }
    return tier;
  }

  Outcome Decide(const Command& command, std::uint64_t now, std::uint64_t sequence) {
    Chain& chain = chains_[command.chain];
    Outcome outcome;
    if (command.kind == CommandKind::kProgram) {
      chain.program = *Program::Decode(command.program);
      outcome.moved = ++chain.version;
      return outcome;
    }
    if (command.kind == CommandKind::kExpire) {
      std::int64_t written = 0;
      for (auto& [key, member] : members_) {
        if (key.first != command.chain) continue;
        bool past = false;
        for (const Lot& lot : member.lots) past = past || lot.expires <= now;
        for (const auto& [hold_sequence, hold] : member.holds) past = past || hold.expires <= now;
        if (!past || written == command.limit) continue;
        ++written;
        ++sequence_;  // the member's expiry event
        ReleaseExpiredHolds(&member, now);
        std::int64_t gone = 0;
        for (const Lot& lot : member.lots) {
          if (lot.expires <= now) gone += lot.points;
        }
        std::erase_if(member.lots, [now](const Lot& lot) { return lot.expires <= now; });
        member.total -= gone;
      }
      outcome.moved = written;
      return outcome;
    }

    const Program& program = chain.program;
    Member& member = members_[{command.chain, command.member}];
    ReleaseExpiredHolds(&member, now);
    ResultCode& code = outcome.code;
    std::int64_t moved = 0;
    std::int64_t change = 0;
    auto live = [now](const Lot& lot) { return lot.spendable_from <= now && now < lot.expires; };
    auto new_lot = [&](std::int64_t points, std::uint64_t pending_days = 0) {
      return Lot{points, now + pending_days * kDay, ExpiresAt(program, now), sequence};
    };

    switch (command.kind) {
      case CommandKind::kEarn:
      case CommandKind::kAdjust:
      case CommandKind::kRedeem:
      case CommandKind::kHold: {
        const bool takes = command.kind == CommandKind::kRedeem || command.kind == CommandKind::kHold ||
                           command.points < 0;
        const std::int64_t points = command.points < 0 ? -command.points : command.points;
        if (!takes) {
          if (AddOverflows(member.total, points)) {
            code = ResultCode::kOverflow;
            break;
          }
          Arrive(&member, new_lot(points));
          change = points;
          moved = points;
          break;
        }
        if (Spendable(member, now) < points) {
          code = ResultCode::kInsufficientPoints;
          break;
        }
        moved = command.points;
        if (command.kind == CommandKind::kHold) {
          Hold hold{now + std::uint64_t{command.duration_seconds} * 1'000'000, {}};
          Take(&member, points, live, &hold.slices);
          member.holds[sequence] = hold;
          break;
        }
        Take(&member, points, live, nullptr);
        change = -points;
        break;
      }

      case CommandKind::kEarnPurchase: {
        if (chain.version == 0) {
          code = ResultCode::kProgramMissing;
          break;
        }
        const unsigned __int128 base = static_cast<unsigned __int128>(command.amount_minor) * program.rate_points /
                                       program.rate_minor;
        if (base > static_cast<unsigned __int128>(std::numeric_limits<std::int64_t>::max())) {
          code = ResultCode::kOverflow;
          break;
        }
        const std::size_t tier = TierAt(program, member.purchases, now);
        unsigned __int128 total = base;
        if (!program.tiers.empty()) total += base * (program.tiers[tier].multiplier_permille - 1000) / 1000;
        for (const Campaign& campaign : program.campaigns) {
          const bool named = std::count(command.campaigns.begin(), command.campaigns.end(), campaign.id) > 0;
          if ((campaign.automatic || named) && campaign.starts_at_us <= now && now < campaign.ends_at_us &&
              tier >= campaign.min_tier) {
            total += campaign.multiplier_permille != 0 ? base * (campaign.multiplier_permille - 1000) / 1000
                                                       : static_cast<unsigned __int128>(campaign.bonus_points);
          }
        }
        if (total > static_cast<unsigned __int128>(std::numeric_limits<std::int64_t>::max()) ||
            AddOverflows(member.total, static_cast<std::int64_t>(total))) {
          code = ResultCode::kOverflow;
          break;
        }
        moved = static_cast<std::int64_t>(total);
        outcome.base = static_cast<std::int64_t>(base);
        if (moved > 0) Arrive(&member, new_lot(moved, program.pending_days));
        member.purchases.push_back({now, sequence, moved, outcome.base, outcome.base});
        change = moved;
        break;
      }

      case CommandKind::kReverse:
      case CommandKind::kCapture:
      case CommandKind::kRelease: {
        auto found = logged_.find(std::make_tuple(command.chain, command.target.high, command.target.low));
        if (found == logged_.end() || found->second.command.member != command.member) {
          code = ResultCode::kUnknownReference;
          break;
        }
        Logged& target = found->second;
        const CommandKind kind = target.command.kind;
        if (command.kind != CommandKind::kReverse) {
          if (kind != CommandKind::kHold || target.result.code != ResultCode::kOk) {
            code = ResultCode::kUnknownReference;
            break;
          }
          auto hold = member.holds.find(target.sequence);
          if (hold == member.holds.end()) {
            code = ResultCode::kHoldClosed;
            break;
          }
          std::int64_t held = 0;
          for (const Lot& slice : hold->second.slices) held += slice.points;
          if (command.kind == CommandKind::kCapture && command.points > held) {
            code = ResultCode::kExceedsHold;
            break;
          }
          std::int64_t capture = command.kind == CommandKind::kCapture ? command.points : 0;
          moved = command.kind == CommandKind::kCapture ? capture : held;
          change = -capture;
          for (Lot slice : hold->second.slices) {
            const std::int64_t part = std::min(capture, slice.points);
            capture -= part;
            slice.points -= part;
            if (slice.points > 0) Arrive(&member, slice);
          }
          member.holds.erase(hold);
          break;
        }
        const bool earned = kind == CommandKind::kEarn || kind == CommandKind::kEarnPurchase;
        if (target.result.code != ResultCode::kOk || !(earned || kind == CommandKind::kRedeem)) {
          code = ResultCode::kNotReversible;
          break;
        }
        if (command.points > target.result.points - target.reversed) {
          code = ResultCode::kReversalExceedsOriginal;
          break;
        }
        if (!earned) {
          if (AddOverflows(member.total, command.points)) {
            code = ResultCode::kOverflow;
            break;
          }
          Arrive(&member, new_lot(command.points));
          moved = command.points;
          change = command.points;
          target.reversed += command.points;
          break;
        }
        const std::uint64_t own = target.sequence;
        std::int64_t taken = Take(&member, command.points,
                                  [&](const Lot& lot) { return lot.sequence == own && now < lot.expires; }, nullptr);
        taken += Take(&member, command.points - taken, live, nullptr);
        taken += Take(&member, command.points - taken,
                      [now](const Lot& lot) { return now < lot.spendable_from && now < lot.expires; }, nullptr);
        moved = taken;
        if (program.return_policy == ReturnPolicy::kAllowNegative && taken < command.points) {
          member.debt += command.points - taken;
          moved = command.points;
        }
        change = -moved;
        target.reversed += command.points;
        for (Purchase& purchase : member.purchases) {
          if (purchase.sequence != own) continue;
          purchase.qualifying = purchase.base - static_cast<std::int64_t>(
                                                    static_cast<unsigned __int128>(target.reversed) *
                                                    static_cast<std::uint64_t>(purchase.base) /
                                                    static_cast<std::uint64_t>(purchase.awarded));
        }
        break;
      }

      case CommandKind::kTransfer: {
        if (Spendable(member, now) < command.points) {
          code = ResultCode::kInsufficientPoints;
          break;
        }
        Member& receiver = members_[{command.chain, command.counterparty}];
        if (AddOverflows(receiver.total, command.points)) {
          code = ResultCode::kOverflow;
          break;
        }
        std::vector<Lot> slices;
        Take(&member, command.points, live, &slices);
        ReleaseExpiredHolds(&receiver, now);
        for (const Lot& slice : slices) Arrive(&receiver, Lot{slice.points, now, slice.expires, sequence});
        receiver.total += command.points;
        moved = command.points;
        change = -command.points;
        break;
      }

      case CommandKind::kReferral: {
        if (chain.version == 0 || program.referral_points == 0) {
          code = ResultCode::kProgramMissing;
          break;
        }
        if (chain.referred.contains(command.counterparty)) {
          code = ResultCode::kAlreadyReferred;
          break;
        }
        if (AddOverflows(member.total, program.referral_points)) {
          code = ResultCode::kOverflow;
          break;
        }
        chain.referred.insert(command.counterparty);
        Arrive(&member, new_lot(program.referral_points));
        moved = program.referral_points;
        change = moved;
        break;
      }

      default:
        break;
    }
    if (code == ResultCode::kOk) {
      member.total += change;
      outcome.moved = moved;
    }
    outcome.balance = member.total;
    return outcome;
  }

  static ResultCode Check(const Command& command) {
    if (command.id == CommandId{}) return ResultCode::kIdInvalid;
    if (command.chain == 0) return ResultCode::kChainInvalid;
    const CommandKind kind = command.kind;
    if (kind < CommandKind::kEarn || kind > CommandKind::kReferral) return ResultCode::kKindInvalid;
    const bool positive = kind == CommandKind::kEarn || kind == CommandKind::kRedeem ||
                          kind == CommandKind::kReverse || kind == CommandKind::kHold ||
                          kind == CommandKind::kCapture || kind == CommandKind::kTransfer;
    if (kind == CommandKind::kAdjust) {
      if (command.points == 0 || command.points == std::numeric_limits<std::int64_t>::min()) {
        return ResultCode::kAmountInvalid;
      }
      if (command.reason_code == 0) return ResultCode::kReasonMissing;
    } else if (positive ? command.points <= 0 : command.points != 0) {
      return ResultCode::kAmountInvalid;
    }
    const bool targets = kind == CommandKind::kReverse || kind == CommandKind::kCapture ||
                         kind == CommandKind::kRelease;
    if (targets == (command.target == CommandId{})) return ResultCode::kIdInvalid;
    const bool chain_level = kind == CommandKind::kProgram || kind == CommandKind::kExpire;
    const bool purchase = kind == CommandKind::kEarnPurchase;
    const bool counterparty = kind == CommandKind::kTransfer || kind == CommandKind::kReferral;
    bool fields = !(chain_level && command.member != 0) && purchase == (command.amount_minor != 0) &&
                  !(purchase && command.order_reference == 0) && counterparty == (command.counterparty != 0) &&
                  !(counterparty && command.counterparty == command.member) &&
                  (kind == CommandKind::kHold
                       ? command.duration_seconds >= 1 && command.duration_seconds <= 30 * 86'400
                       : command.duration_seconds == 0) &&
                  (kind == CommandKind::kExpire ? command.limit >= 1 && command.limit <= 8192 : command.limit == 0) &&
                  (purchase || command.campaigns.empty()) && command.campaigns.size() <= 8 &&
                  (kind == CommandKind::kProgram) == !command.program.empty();
    std::set<std::uint64_t> distinct(command.campaigns.begin(), command.campaigns.end());
    fields = fields && distinct.size() == command.campaigns.size() && !distinct.contains(0);
    if (!fields) return ResultCode::kFieldInvalid;
    if (kind == CommandKind::kProgram) {
      const std::optional<Program> program = Program::Decode(command.program);
      if (!program || !program->Validate().empty()) return ResultCode::kProgramInvalid;
    }
    return ResultCode::kOk;
  }

  std::map<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>, Logged> logged_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, Member> members_;
  std::map<std::uint32_t, Chain> chains_;
  std::uint64_t sequence_ = 0;
};

}  // namespace tally::testing

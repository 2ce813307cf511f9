// The rules: what each command does to a member's points, and when it is
// rejected. docs/engine.md and docs/loyalty.md describe them in prose; the
// worked examples there are tests/engine/loyalty_test.cc.
#include <algorithm>
#include <limits>

#include "block.h"
#include "ledger_impl.h"
#include "tiers.h"

namespace tally {
namespace {

constexpr std::uint32_t kHoldSecondsMax = 30 * 86'400;
constexpr std::uint32_t kSweepMembersMax = 8192;
constexpr std::int64_t kPointsMax = std::numeric_limits<std::int64_t>::max();

bool NamesTarget(CommandKind kind) {
  return kind == CommandKind::kReverse || kind == CommandKind::kCapture || kind == CommandKind::kRelease;
}

// The points check of each kind: kOk or kAmountInvalid.
ResultCode CheckPoints(const Command& command) {
  switch (command.kind) {
    case CommandKind::kEarn:
    case CommandKind::kRedeem:
    case CommandKind::kReverse:
    case CommandKind::kHold:
    case CommandKind::kCapture:
    case CommandKind::kTransfer:
      return command.points > 0 ? ResultCode::kOk : ResultCode::kAmountInvalid;
    case CommandKind::kAdjust:
      return command.points == 0 || command.points == std::numeric_limits<std::int64_t>::min()
                 ? ResultCode::kAmountInvalid
                 : ResultCode::kOk;
    default:  // the others carry no points
      return command.points == 0 ? ResultCode::kOk : ResultCode::kAmountInvalid;
  }
}

// The kind-specific fields: present where the kind needs them, absent
// (zero) where it does not.
bool FieldsValid(const Command& command) {
  const CommandKind kind = command.kind;
  if (IsChainLevel(kind) && command.member != 0) return false;
  if ((kind == CommandKind::kEarnPurchase) != (command.amount_minor != 0)) return false;
  if (kind == CommandKind::kEarnPurchase && command.order_reference == 0) return false;
  const bool has_counterparty = kind == CommandKind::kTransfer || kind == CommandKind::kReferral;
  if (has_counterparty != (command.counterparty != 0)) return false;
  if (has_counterparty && command.counterparty == command.member) return false;
  if (kind == CommandKind::kHold) {
    if (command.duration_seconds == 0 || command.duration_seconds > kHoldSecondsMax) return false;
  } else if (command.duration_seconds != 0) {
    return false;
  }
  if (kind == CommandKind::kExpire) {
    if (command.limit == 0 || command.limit > kSweepMembersMax) return false;
  } else if (command.limit != 0) {
    return false;
  }
  if (kind != CommandKind::kEarnPurchase && !command.campaigns.empty()) return false;
  if (command.campaigns.size() > internal::kPurchaseCampaignsMax) return false;
  for (std::size_t index = 0; index < command.campaigns.size(); ++index) {
    if (command.campaigns[index] == 0) return false;
    for (std::size_t other = 0; other < index; ++other) {
      if (command.campaigns[other] == command.campaigns[index]) return false;
    }
  }
  return (kind == CommandKind::kProgram) == !command.program.empty();
}

std::string DescribeEvent(const internal::Event& event) {
  return "event " + std::to_string(event.sequence) + " (chain " + std::to_string(event.command.chain) +
         ", member " + std::to_string(event.command.member) + ")";
}

// What an arrival of `points` at `now_us` makes: a lot under `program`.
internal::Lot NewLot(const Program& program, std::int64_t points, std::uint64_t now_us, std::uint64_t sequence,
                     std::uint64_t pending_days = 0) {
  return internal::Lot{points, now_us + pending_days * internal::kDayUs, internal::ExpiresAt(program, now_us),
                       sequence};
}

// The points of a purchase (docs/loyalty.md, "Points of a purchase"); false
// when they do not fit in 63 bits.
bool PurchasePoints(const Program& program, std::uint32_t tier, const Command& command, std::uint64_t now_us,
                    internal::Event* event) {
  const unsigned __int128 base =
      static_cast<unsigned __int128>(command.amount_minor) * program.rate_points / program.rate_minor;
  if (base > static_cast<unsigned __int128>(kPointsMax)) return false;
  event->base_points = static_cast<std::int64_t>(base);
  // Multiplier shares are floor(base * (permille - 1000) / 1000): at most 9 × base.
  auto multiplied = [&](std::uint32_t permille) {
    return static_cast<unsigned __int128>(base) * (permille - 1000) / 1000;
  };
  unsigned __int128 total = base;
  event->shares.clear();
  if (!program.tiers.empty() && program.tiers[tier].multiplier_permille > 1000) {
    const unsigned __int128 share = multiplied(program.tiers[tier].multiplier_permille);
    event->shares.push_back({0, static_cast<std::int64_t>(std::min<unsigned __int128>(share, kPointsMax))});
    total += share;
  }
  for (const Campaign& campaign : program.campaigns) {
    const bool named = std::find(command.campaigns.begin(), command.campaigns.end(), campaign.id) !=
                       command.campaigns.end();
    if (!(campaign.automatic || named) || now_us < campaign.starts_at_us || now_us >= campaign.ends_at_us ||
        tier < campaign.min_tier) {
      continue;
    }
    const unsigned __int128 share = campaign.multiplier_permille != 0
                                        ? multiplied(campaign.multiplier_permille)
                                        : static_cast<unsigned __int128>(campaign.bonus_points);
    event->shares.push_back({campaign.id, static_cast<std::int64_t>(std::min<unsigned __int128>(share, kPointsMax))});
    total += share;
  }
  if (total > static_cast<unsigned __int128>(kPointsMax)) return false;
  event->moved = static_cast<std::int64_t>(total);
  return true;
}

}  // namespace

ResultCode ValidateCommand(const Command& command) {
  if (command.id.IsZero()) return ResultCode::kIdInvalid;
  if (command.chain == 0) return ResultCode::kChainInvalid;
  if (command.kind < CommandKind::kEarn || command.kind > CommandKind::kReferral) return ResultCode::kKindInvalid;
  if (const ResultCode points = CheckPoints(command); points != ResultCode::kOk) return points;
  if (command.kind == CommandKind::kAdjust && command.reason_code == 0) return ResultCode::kReasonMissing;
  if (NamesTarget(command.kind) == command.target.IsZero()) return ResultCode::kIdInvalid;
  if (!FieldsValid(command)) return ResultCode::kFieldInvalid;
  if (command.kind == CommandKind::kProgram) {
    const std::optional<Program> program = Program::Decode(command.program);
    if (!program || !program->Validate().empty()) return ResultCode::kProgramInvalid;
  }
  return ResultCode::kOk;
}

Result<internal::Event> Ledger::Impl::ReadEvent(std::uint64_t sequence) const {
  if (sequence > last_sequence) {
    const std::uint64_t index = sequence - last_sequence - 1;
    TALLY_ASSERT(index < pending.size());
    return pending[index];
  }
  if (const internal::EncodedBlock* block = tail.Find(sequence)) {
    Result<internal::Event> event = internal::FindEventInBlock(*block, sequence);
    if (event.ok() || event.status().code() != Status::Code::kNotFound) return event;
  }
  return store->ReadEvent(sequence);
}

Result<std::optional<internal::Event>> Ledger::Impl::FindLogged(std::uint32_t chain, const CommandId& id) const {
  return FindLogged(chain, id, internal::IdIndex::Fingerprint(chain, id));
}

Result<std::optional<internal::Event>> Ledger::Impl::FindLogged(std::uint32_t chain, const CommandId& id,
                                                                std::uint64_t fingerprint) const {
  std::optional<internal::Event> found;
  Status status;
  ids.ForEachCandidate(fingerprint, [&](std::uint64_t sequence) {
    Result<internal::Event> event = ReadEvent(sequence);
    if (!event.ok()) {
      status = event.status();
      return true;
    }
    if (event->command.chain != chain || event->command.id != id) return false;  // a fingerprint collision
    found = std::move(event.value());
    return true;
  });
  if (!status.ok()) return status;
  return found;
}

internal::MemberState* Ledger::Impl::MemberOf(MemberKey key, internal::MemberState* hint) {
  if (hint != nullptr && hint->chain == key.chain && hint->member == key.member) return hint;
  return members.FindOrInsert(key);
}

const ChainState& Ledger::Impl::ChainOf(std::uint32_t chain) const {
  static const ChainState kNoProgram;
  const auto found = chains.find(chain);
  return found == chains.end() ? kNoProgram : found->second;
}

std::int64_t Ledger::Impl::ReversedSoFar(std::uint64_t sequence) const {
  std::int64_t total = 0;
  reversed_points.ForEachCandidate(internal::MixBits(sequence), [&](std::uint64_t value) {
    total = static_cast<std::int64_t>(value);
    return true;
  });
  return total;
}

void Ledger::Impl::SetReversed(std::uint64_t sequence, std::int64_t total) {
  TALLY_ASSERT(sequence != 0 && total > 0);
  const std::uint64_t key = internal::MixBits(sequence);
  const bool updated = reversed_points.ForEachCandidate(key, [&](std::uint64_t& value) {
    value = static_cast<std::uint64_t>(total);
    return true;
  });
  if (!updated) reversed_points.Insert(key, static_cast<std::uint64_t>(total));
}

Result<CommandResult> Ledger::Impl::ApplyOne(const Command& command, std::uint64_t fingerprint,
                                             std::uint64_t timestamp_us, internal::MemberState* member_hint) {
  const ResultCode invalid = ValidateCommand(command);
  if (invalid != ResultCode::kOk) return CommandResult{invalid, 0, 0, 0, 0};

  // Nearly every command is new: only a fingerprint already in the index
  // has an event to read and compare.
  if (ids.Contains(fingerprint)) {
    Result<std::optional<internal::Event>> original = FindLogged(command.chain, command.id, fingerprint);
    if (!original.ok()) return original.status();
    if (original->has_value()) {
      const internal::Event& event = **original;
      if (event.command == command) return event.ToResult();
      return CommandResult{ResultCode::kIdConflict, 0, 0, 0, 0};
    }
  }

  // A fresh command: its outcome is logged, ok or not. The event is built
  // in place at the end of the group's events (moving ~300 bytes of event
  // was ~100 instructions a command).
  internal::Event& event = pending.emplace_back();
  event.sequence = last_sequence + pending.size();
  event.timestamp_us = timestamp_us;
  event.command = command;
  std::vector<internal::Event> derived;
  Status decided = Decide(&event, &derived, member_hint);
  if (!decided.ok()) {
    pending.pop_back();
    return decided;
  }
  ids.Insert(fingerprint, event.sequence);
  const CommandResult result = event.ToResult();
  // (Appending may move the events, `event` among them: it is not used after.)
  for (internal::Event& part : derived) pending.push_back(std::move(part));
  return result;
}

void Ledger::Impl::ExpireMember(internal::MemberState* member, internal::Event* event) {
  internal::Account& account = member->account;
  account.ReleaseExpiredHolds(event->timestamp_us);
  event->moved = account.WriteOffPastDate(event->timestamp_us);
  member->balance -= event->moved;
  event->balance_after = member->balance;
  event->previous_sequence = member->last_sequence;
  member->last_sequence = event->sequence;
}

Status Ledger::Impl::Decide(internal::Event* event, std::vector<internal::Event>* derived,
                            internal::MemberState* member_hint) {
  const Command& command = event->command;
  const std::uint64_t now = event->timestamp_us;
  event->code = ResultCode::kOk;
  event->moved = 0;

  if (command.kind == CommandKind::kProgram) {
    ChainState& chain = chains[command.chain];
    chain.program = *Program::Decode(command.program);  // ValidateCommand checked it
    chain.version += 1;
    event->moved = chain.version;
    return Status::Ok();
  }
  if (command.kind == CommandKind::kExpire) {
    TALLY_ASSERT(derived != nullptr);  // recovery checks a sweep's events one by one
    const internal::StableVector<std::uint32_t>* numbers = members.NumbersOf(command.chain);
    for (std::size_t position = 0; numbers != nullptr && position < numbers->size(); ++position) {
      if (derived->size() == command.limit) break;
      internal::MemberState& state = members.member((*numbers)[position]);
      if (!state.account.HasPastDate(now)) continue;
      internal::Event part;
      part.sequence = event->sequence + derived->size() + 1;
      part.timestamp_us = now;
      part.command.id = command.id;
      part.command.kind = CommandKind::kExpiry;
      part.command.chain = command.chain;
      part.command.member = state.member;
      part.derived = true;
      derived->push_back(std::move(part));
      ExpireMember(&state, &derived->back());
    }
    event->moved = static_cast<std::int64_t>(derived->size());
    return Status::Ok();
  }

  const ChainState& chain = ChainOf(command.chain);
  const Program& program = chain.program;
  internal::MemberState* member = MemberOf({command.chain, command.member}, member_hint);
  internal::Account& account = member->account;
  account.ReleaseExpiredHolds(now);
  event->previous_sequence = member->last_sequence;
  ResultCode& code = event->code;
  std::int64_t balance = member->balance;  // the total after the command

  // Adds `points` arriving to the total, or says why not.
  auto arrive = [&](std::int64_t points) {
    if (__builtin_add_overflow(balance, points, &balance)) code = ResultCode::kOverflow;
    return code == ResultCode::kOk;
  };

  switch (command.kind) {
    case CommandKind::kEarn:
    case CommandKind::kAdjust:
      if (command.points < 0) {  // a negative adjust takes like a redeem
        if (account.Spendable(now) < -command.points) {
          code = ResultCode::kInsufficientPoints;
          break;
        }
        account.Take(-command.points, now, nullptr);
        balance += command.points;
        event->moved = command.points;
        break;
      }
      if (!arrive(command.points)) break;
      account.Arrive(NewLot(program, command.points, now, event->sequence));
      event->moved = command.points;
      break;

    case CommandKind::kRedeem:
    case CommandKind::kHold: {
      if (account.Spendable(now) < command.points) {
        code = ResultCode::kInsufficientPoints;
        break;
      }
      event->moved = command.points;
      if (command.kind == CommandKind::kRedeem) {
        if (spend_observer) {
          std::vector<internal::Lot> taken;
          account.Take(command.points, now, &taken);
          for (const internal::Lot& slice : taken) spend_observer(*event, slice.sequence, slice.points);
        } else {
          account.Take(command.points, now, nullptr);
        }
        balance -= command.points;
        break;
      }
      internal::Hold hold;
      hold.sequence = event->sequence;
      hold.expires_at_us = now + std::uint64_t{command.duration_seconds} * 1'000'000;
      account.Take(command.points, now, &hold.slices);
      account.AddHold(std::move(hold));
      break;
    }

    case CommandKind::kEarnPurchase: {
      if (chain.version == 0) {
        code = ResultCode::kProgramMissing;
        break;
      }
      std::vector<internal::Purchase>& purchases = account.purchases();
      internal::PrunePurchases(program, &purchases, now);
      const std::uint32_t tier = program.tiers.empty() ? 0 : internal::TierAt(program, purchases, now).tier;
      event->program_version = chain.version;
      if (!PurchasePoints(program, tier, command, now, event) || !arrive(event->moved)) {
        code = ResultCode::kOverflow;
        event->moved = 0;
        event->base_points = 0;
        event->shares.clear();
        break;
      }
      if (event->moved > 0) {
        account.Arrive(NewLot(program, event->moved, now, event->sequence, program.pending_days));
      }
      purchases.push_back({now, event->sequence, event->moved, event->base_points});
      account.set_last_purchase_us(now);
      break;
    }

    case CommandKind::kReverse:
    case CommandKind::kCapture:
    case CommandKind::kRelease: {
      Result<std::optional<internal::Event>> found = FindLogged(command.chain, command.target);
      if (!found.ok()) return found.status();
      const std::optional<internal::Event>& target = *found;
      if (!target || target->derived || target->command.member != command.member) {
        code = ResultCode::kUnknownReference;
        break;
      }
      event->target_sequence = target->sequence;
      const CommandKind target_kind = target->command.kind;
      if (command.kind != CommandKind::kReverse) {
        if (target_kind != CommandKind::kHold || target->code != ResultCode::kOk) {
          code = ResultCode::kUnknownReference;
          break;
        }
        internal::Hold* hold = account.FindHold(target->sequence);
        if (hold == nullptr) {
          code = ResultCode::kHoldClosed;
          break;
        }
        if (command.kind == CommandKind::kCapture && command.points > hold->points()) {
          code = ResultCode::kExceedsHold;
          break;
        }
        internal::Hold closed = account.RemoveHold(target->sequence);
        std::int64_t capture = command.kind == CommandKind::kCapture ? command.points : 0;
        event->moved = command.kind == CommandKind::kCapture ? capture : closed.points();
        for (internal::Lot& slice : closed.slices) {  // in spending order
          const std::int64_t part = std::min(capture, slice.points);
          slice.points -= part;
          capture -= part;
          if (part > 0 && spend_observer) spend_observer(*event, slice.sequence, part);
        }
        account.Return(closed.slices);
        if (command.kind == CommandKind::kCapture) balance -= command.points;
        break;
      }
      const bool earned = target_kind == CommandKind::kEarn || target_kind == CommandKind::kEarnPurchase;
      if (target->code != ResultCode::kOk || !(earned || target_kind == CommandKind::kRedeem)) {
        code = ResultCode::kNotReversible;
        break;
      }
      const std::int64_t reversed = ReversedSoFar(target->sequence);
      if (command.points > target->moved - reversed) {
        code = ResultCode::kReversalExceedsOriginal;
        break;
      }
      if (!earned) {  // a returned redeem: the points come back as a new lot
        if (!arrive(command.points)) break;
        account.Arrive(NewLot(program, command.points, now, event->sequence));
        event->moved = command.points;
        SetReversed(target->sequence, reversed + command.points);
        break;
      }
      // A return: the purchase's own lot first, then the member's other
      // live lots, then pending ones; the rest by the chain's policy.
      std::int64_t taken = account.TakeFromLotsOf(target->sequence, command.points, now);
      const std::int64_t live = std::min(command.points - taken, account.Spendable(now));
      if (live > 0) account.Take(live, now, nullptr);
      taken += live;
      const std::int64_t still_pending = std::min(command.points - taken, account.Pending(now));
      if (still_pending > 0) taken += account.TakePending(still_pending, now);
      std::int64_t moved = taken;
      if (program.return_policy == ReturnPolicy::kAllowNegative && taken < command.points) {
        account.AddDebt(command.points - taken);
        moved = command.points;
      }
      balance -= moved;
      event->moved = moved;
      SetReversed(target->sequence, reversed + command.points);
      if (target_kind == CommandKind::kEarnPurchase) {
        for (internal::Purchase& purchase : account.purchases()) {
          if (purchase.sequence != target->sequence) continue;
          // Qualifying points shrink in proportion to what was returned.
          const auto returned = static_cast<unsigned __int128>(reversed + command.points);
          purchase.qualifying = target->base_points - static_cast<std::int64_t>(
                                                          returned * static_cast<std::uint64_t>(target->base_points) /
                                                          static_cast<std::uint64_t>(target->moved));
        }
      }
      break;
    }

    case CommandKind::kTransfer: {
      if (account.Spendable(now) < command.points) {
        code = ResultCode::kInsufficientPoints;
        break;
      }
      const internal::MemberState* known = members.Find({command.chain, command.counterparty});
      std::int64_t received = 0;
      if (__builtin_add_overflow(known == nullptr ? 0 : known->balance, command.points, &received)) {
        code = ResultCode::kOverflow;
        break;
      }
      std::vector<internal::Lot> slices;
      account.Take(command.points, now, &slices);
      balance -= command.points;
      event->moved = command.points;
      internal::MemberState* receiver = members.FindOrInsert({command.chain, command.counterparty});
      internal::Account& to = receiver->account;
      to.ReleaseExpiredHolds(now);
      for (const internal::Lot& slice : slices) {
        to.Arrive(internal::Lot{slice.points, now, slice.expires_at_us, event->sequence});
      }
      event->counterparty_previous_sequence = receiver->last_sequence;
      event->counterparty_balance_after = received;
      receiver->balance = received;
      receiver->last_sequence = event->sequence;
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
      if (!arrive(program.referral_points)) break;
      chains[command.chain].referred.insert(command.counterparty);
      account.Arrive(NewLot(program, program.referral_points, now, event->sequence));
      event->moved = program.referral_points;
      break;
    }

    default:
      return Status::Corruption(DescribeEvent(*event) + ": no rule for kind " +
                                std::string(CommandKindName(command.kind)));
  }

  if (code != ResultCode::kOk) {
    balance = member->balance;
    event->moved = 0;
  }
  event->balance_after = balance;
  member->balance = balance;
  member->last_sequence = event->sequence;
  return Status::Ok();
}

}  // namespace tally

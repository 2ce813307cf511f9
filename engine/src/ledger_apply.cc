// The rules: what each command does to a member's balance, and when it is
// rejected. docs/engine.md describes them in prose.
#include <limits>

#include "block.h"
#include "ledger_impl.h"

namespace tally {

ResultCode ValidateCommand(const Command& command) {
  if (command.id.IsZero()) return ResultCode::kIdInvalid;
  if (command.chain == 0) return ResultCode::kChainInvalid;
  switch (command.kind) {
    case CommandKind::kEarn:
    case CommandKind::kRedeem:
      if (command.points <= 0) return ResultCode::kAmountInvalid;
      break;
    case CommandKind::kAdjust:
      if (command.points == 0 || command.points == std::numeric_limits<std::int64_t>::min()) {
        return ResultCode::kAmountInvalid;
      }
      if (command.reason_code == 0) return ResultCode::kReasonMissing;
      break;
    case CommandKind::kReverse:
      if (command.points <= 0) return ResultCode::kAmountInvalid;
      if (command.target.IsZero()) return ResultCode::kIdInvalid;
      return ResultCode::kOk;
    default:
      return ResultCode::kKindInvalid;
  }
  // Only a reverse names a target.
  return command.target.IsZero() ? ResultCode::kOk : ResultCode::kIdInvalid;
}

namespace {

struct Decision {
  ResultCode code = ResultCode::kOk;
  std::int64_t balance_after = 0;
  std::uint64_t target_sequence = 0;
};

// earn, redeem, adjust: the new balance, or why not.
Decision DecideSimple(const Command& command, std::int64_t balance) {
  Decision decision{ResultCode::kOk, balance, 0};
  std::int64_t after = 0;
  const bool overflow = command.kind == CommandKind::kRedeem
                            ? __builtin_sub_overflow(balance, command.points, &after)
                            : __builtin_add_overflow(balance, command.points, &after);
  if (overflow) {
    decision.code = ResultCode::kOverflow;
  } else if (after < 0) {
    decision.code = ResultCode::kInsufficientPoints;
  } else {
    decision.balance_after = after;
  }
  return decision;
}

}  // namespace

Result<internal::Event> Ledger::Impl::ReadEvent(std::uint64_t sequence) const {
  if (sequence > last_sequence) {
    const std::uint64_t index = sequence - last_sequence - 1;
    TALLY_ASSERT(index < pending.size());
    return pending[index];
  }
  if (const internal::EncodedBlock* block = tail.Find(sequence)) {
    Result<internal::Event> event = internal::FindEventInBlock(block->first_sequence, block->bytes, sequence);
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

Result<CommandResult> Ledger::Impl::ApplyOne(const Command& command, std::uint64_t fingerprint,
                                             std::uint64_t timestamp_us) {
  const ResultCode invalid = ValidateCommand(command);
  if (invalid != ResultCode::kOk) return CommandResult{invalid, 0, 0, 0};

  Result<std::optional<internal::Event>> original = FindLogged(command.chain, command.id, fingerprint);
  if (!original.ok()) return original.status();
  if (original->has_value()) {
    const internal::Event& event = **original;
    if (event.command == command) return event.ToResult();
    return CommandResult{ResultCode::kIdConflict, 0, 0, 0};
  }

  // A fresh command: its outcome is logged, ok or not.
  Decision decision;
  internal::MemberState* member = members.FindOrInsert({command.chain, command.member});
  if (command.kind != CommandKind::kReverse) {
    decision = DecideSimple(command, member->balance);
  } else {
    Result<std::optional<internal::Event>> target = FindLogged(command.chain, command.target);
    if (!target.ok()) return target.status();
    decision = {ResultCode::kOk, member->balance, 0};
    const std::optional<internal::Event>& original_event = *target;
    if (!original_event || original_event->command.member != command.member) {
      decision.code = ResultCode::kUnknownReference;
    } else {
      decision.target_sequence = original_event->sequence;
      const CommandKind target_kind = original_event->command.kind;
      const std::int64_t reversed = reversed_points.contains(original_event->sequence)
                                        ? reversed_points.at(original_event->sequence)
                                        : 0;
      if (original_event->code != ResultCode::kOk ||
          (target_kind != CommandKind::kEarn && target_kind != CommandKind::kRedeem)) {
        decision.code = ResultCode::kNotReversible;
      } else if (command.points > original_event->command.points - reversed) {
        decision.code = ResultCode::kReversalExceedsOriginal;
      } else {
        // Undoing an earn takes points; undoing a redeem gives them back.
        Command undo = command;
        undo.kind = target_kind == CommandKind::kEarn ? CommandKind::kRedeem : CommandKind::kEarn;
        const Decision simple = DecideSimple(undo, member->balance);
        decision.code = simple.code;
        decision.balance_after = simple.balance_after;
      }
    }
  }

  internal::Event event;
  event.sequence = last_sequence + pending.size() + 1;
  event.timestamp_us = timestamp_us;
  event.command = command;
  event.code = decision.code;
  event.balance_after = decision.balance_after;
  event.previous_sequence = member->last_sequence;
  event.target_sequence = decision.target_sequence;

  member->balance = decision.balance_after;
  member->last_sequence = event.sequence;
  ids.Insert(fingerprint, event.sequence);
  if (command.kind == CommandKind::kReverse && decision.code == ResultCode::kOk) {
    reversed_points[decision.target_sequence] += command.points;
  }
  pending.push_back(event);
  return event.ToResult();
}

}  // namespace tally

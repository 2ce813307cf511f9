// A deliberately simple model of the ledger's rules, written from the spec
// (docs/engine.md) on standard containers,
// for the randomized and crash tests to compare the engine against. It
// shares no code with the engine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include "tally/types.h"

namespace tally::testing {

class Model {
 public:
  CommandResult Apply(const Command& command) {
    const ResultCode invalid = Check(command);
    if (invalid != ResultCode::kOk) return {invalid, 0, 0, 0, 0};
    const auto key = std::make_tuple(command.chain, command.id.high, command.id.low);
    if (auto seen = logged_.find(key); seen != logged_.end()) {
      if (seen->second.command == command) return seen->second.result;
      return {ResultCode::kIdConflict, 0, 0, 0, 0};
    }
    std::int64_t& balance = balances_[{command.chain, command.member}];
    ResultCode code = ResultCode::kOk;
    long double change = 0;  // exact for the magnitudes used here
    Logged* target = nullptr;
    switch (command.kind) {
      case CommandKind::kEarn:
      case CommandKind::kAdjust:
        change = command.points;
        break;
      case CommandKind::kRedeem:
        change = -static_cast<long double>(command.points);
        break;
      case CommandKind::kReverse: {
        auto found = logged_.find(std::make_tuple(command.chain, command.target.high, command.target.low));
        if (found == logged_.end() || found->second.command.member != command.member) {
          code = ResultCode::kUnknownReference;
          break;
        }
        target = &found->second;
        const CommandKind kind = target->command.kind;
        if (target->result.code != ResultCode::kOk || (kind != CommandKind::kEarn && kind != CommandKind::kRedeem)) {
          code = ResultCode::kNotReversible;
        } else if (command.points > target->command.points - target->reversed) {
          code = ResultCode::kReversalExceedsOriginal;
        } else if (kind == CommandKind::kEarn) {
          // A return without a program: the default policy claws back only
          // what the member still has.
          change = -static_cast<long double>(std::min(command.points, balance));
        } else {
          change = command.points;
        }
        break;
      }
      default:  // Check() refuses every other kind
        break;
    }
    std::int64_t moved = 0;
    if (code == ResultCode::kOk) {
      const long double after = static_cast<long double>(balance) + change;
      if (after > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
        code = ResultCode::kOverflow;
      } else if (after < 0) {
        code = ResultCode::kInsufficientPoints;
      } else {
        balance = static_cast<std::int64_t>(after);
        if (target != nullptr) target->reversed += command.points;
        moved = static_cast<std::int64_t>(change < 0 && command.kind != CommandKind::kAdjust ? -change : change);
      }
    }
    ++sequence_;
    const CommandResult result{code, sequence_, 0, balance, moved};
    logged_[key] = Logged{command, result, 0};
    return result;
  }

  const std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t>& balances() const { return balances_; }
  std::uint64_t sequence() const { return sequence_; }

 private:
  struct Logged {
    Command command;
    CommandResult result;
    std::int64_t reversed;
  };

  static ResultCode Check(const Command& command) {
    if (command.id == CommandId{}) return ResultCode::kIdInvalid;
    if (command.chain == 0) return ResultCode::kChainInvalid;
    const bool is_reverse = command.kind == CommandKind::kReverse;
    if (command.kind == CommandKind::kAdjust) {
      if (command.points == 0 || command.points == std::numeric_limits<std::int64_t>::min()) {
        return ResultCode::kAmountInvalid;
      }
      if (command.reason_code == 0) return ResultCode::kReasonMissing;
    } else if (command.kind == CommandKind::kEarn || command.kind == CommandKind::kRedeem || is_reverse) {
      if (command.points <= 0) return ResultCode::kAmountInvalid;
    } else {
      return ResultCode::kKindInvalid;
    }
    if (is_reverse == (command.target == CommandId{})) return ResultCode::kIdInvalid;
    return ResultCode::kOk;
  }

  std::map<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>, Logged> logged_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> balances_;
  std::uint64_t sequence_ = 0;
};

}  // namespace tally::testing

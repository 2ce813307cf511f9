// Replay: an independent re-derivation of every outcome from the commands in
// the log. It shares only the decoders and the stateless checks with the
// engine; the stateful rules are written again here, plainly, on standard
// containers, so that a bug in the engine's tables or rules shows up as a
// difference instead of being repeated.
#include "tally/replay.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "block.h"
#include "ledger_impl.h"
#include "store.h"

namespace tally {
namespace {

struct PairHash {
  std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& key) const {
    return std::hash<std::uint64_t>()(key.first * 0x9e3779b97f4a7c15ULL ^ key.second);
  }
};

struct CommandKey {
  std::uint32_t chain;
  CommandId id;
  friend bool operator==(const CommandKey&, const CommandKey&) = default;
};

struct CommandKeyHash {
  std::size_t operator()(const CommandKey& key) const {
    return PairHash()({key.id.high ^ key.chain, key.id.low});
  }
};

struct LoggedCommand {
  std::uint64_t sequence;
  std::uint64_t member;
  CommandKind kind;
  ResultCode code;
  std::int64_t points;
  std::int64_t reversed;
};

std::string FormatDecimal(unsigned __int128 value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return digits;
}

class Replayer {
 public:
  Status Block(std::uint64_t key_sequence, std::string_view bytes) {
    internal::BlockReader reader;
    Status status = reader.Open(key_sequence, bytes);
    if (status.ok()) status = order_.Next(reader);
    if (!status.ok()) return status;
    ++report_.blocks;
    internal::Event event;
    while (!reader.done()) {
      status = reader.Next(&event);
      if (!status.ok()) return status;
      status = Event(event);
      if (!status.ok()) return status;
      report_.last_sequence = event.sequence;
    }
    return Status::Ok();
  }

  ReplayReport Finish() {
    // At most 2^32 members of at most 2^63 - 1 points each: the sum fits in 96 bits.
    unsigned __int128 outstanding = 0;
    for (const auto& [key, member] : members_) {
      report_.members.push_back(ReplayMember{{static_cast<std::uint32_t>(key.first), key.second},
                                             member.balance, member.last_sequence});
      outstanding += static_cast<unsigned __int128>(member.balance);
    }
    report_.points_outstanding = FormatDecimal(outstanding);
    std::sort(report_.members.begin(), report_.members.end(), [](const ReplayMember& a, const ReplayMember& b) {
      return std::pair(a.key.chain, a.key.member) < std::pair(b.key.chain, b.key.member);
    });
    return std::move(report_);
  }

 private:
  struct Member {
    std::int64_t balance = 0;
    std::uint64_t last_sequence = 0;
  };

  // What the rules say the outcome of `command` is, given the state so far.
  internal::Event Expect(const internal::Event& logged, const Member& member) {
    internal::Event expected = logged;
    const Command& command = logged.command;
    expected.code = ResultCode::kOk;
    expected.balance_after = member.balance;
    expected.previous_sequence = member.last_sequence;
    expected.target_sequence = 0;
    std::int64_t delta = command.points;
    if (command.kind == CommandKind::kRedeem) delta = -command.points;
    if (command.kind == CommandKind::kReverse) {
      auto target = commands_.find(CommandKey{command.chain, command.target});
      if (target == commands_.end() || target->second.member != command.member) {
        expected.code = ResultCode::kUnknownReference;
        return expected;
      }
      expected.target_sequence = target->second.sequence;
      const LoggedCommand& original = target->second;
      if (original.code != ResultCode::kOk ||
          (original.kind != CommandKind::kEarn && original.kind != CommandKind::kRedeem)) {
        expected.code = ResultCode::kNotReversible;
        return expected;
      }
      if (command.points > original.points - original.reversed) {
        expected.code = ResultCode::kReversalExceedsOriginal;
        return expected;
      }
      delta = original.kind == CommandKind::kEarn ? -command.points : command.points;
    }
    std::int64_t after = 0;
    if (__builtin_add_overflow(member.balance, delta, &after)) {
      expected.code = ResultCode::kOverflow;
    } else if (after < 0) {
      expected.code = ResultCode::kInsufficientPoints;
    } else {
      expected.balance_after = after;
    }
    return expected;
  }

  Status Event(const internal::Event& logged) {
    const Command& command = logged.command;
    const std::string where = "event " + std::to_string(logged.sequence) + " (chain " +
                              std::to_string(command.chain) + ", member " + std::to_string(command.member) + "): ";
    if (ValidateCommand(command) != ResultCode::kOk) return Status::Corruption(where + "the command is invalid");
    const CommandKey key{command.chain, command.id};
    if (commands_.contains(key)) {
      return Status::Corruption(where + "command id " + command.id.ToHex() + " is logged twice");
    }
    Member& member = members_[{command.chain, command.member}];
    const internal::Event expected = Expect(logged, member);
    if (expected.code != logged.code) {
      return Status::Corruption(where + "logged outcome " + std::string(ResultCodeName(logged.code)) +
                                ", replay gives " + std::string(ResultCodeName(expected.code)));
    }
    if (expected.balance_after != logged.balance_after) {
      return Status::Corruption(where + "logged balance " + std::to_string(logged.balance_after) +
                                ", replay gives " + std::to_string(expected.balance_after));
    }
    if (expected.previous_sequence != logged.previous_sequence ||
        expected.target_sequence != logged.target_sequence) {
      return Status::Corruption(where + "logged links to other events differ from the replay");
    }
    if (command.kind == CommandKind::kReverse && logged.code == ResultCode::kOk) {
      commands_.at(CommandKey{command.chain, command.target}).reversed += command.points;
    }
    commands_.emplace(key, LoggedCommand{logged.sequence, command.member, command.kind, logged.code,
                                         command.points, 0});
    member.balance = logged.balance_after;
    member.last_sequence = logged.sequence;
    ++report_.events;
    if (logged.code != ResultCode::kOk) ++report_.rejections_logged;
    return Status::Ok();
  }

  ReplayReport report_;
  internal::LogOrder order_;
  std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, Member, PairHash> members_;
  std::unordered_map<CommandKey, LoggedCommand, CommandKeyHash> commands_;
};

}  // namespace

Result<ReplayReport> Replay(const std::string& directory) {
  const auto started = std::chrono::steady_clock::now();
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
  if (!store.ok()) return store.status();
  Replayer replayer;
  Status status = (*store)->ForEachBlock(
      [&](std::uint64_t sequence, std::string_view bytes) { return replayer.Block(sequence, bytes); });
  if (!status.ok()) return status;
  ReplayReport report = replayer.Finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace tally

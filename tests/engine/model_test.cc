// The randomized test: over 100,000 random commands of every kind (fresh,
// retried, conflicting and invalid), with ledger time moving forward by
// days, against the model in model.h; every result and every balance part
// must match exactly, across reopens, and replay must agree.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "model.h"
#include "tally/program.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Model;
using testing::TemporaryDirectory;

constexpr std::uint64_t kDay = 86'400'000'000;

// Programs the generator switches between: every rule of docs/loyalty.md is
// reached by one of them. The tier window and keep period stay the same so
// that what the engine prunes never matters (a longer window after a program
// change is documented to see only remembered purchases).
Program RandomProgram(std::mt19937_64& random, std::uint64_t now) {
  auto pick = [&](std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random);
  };
  Program program;
  program.rate_points = static_cast<std::uint32_t>(pick(1, 3));
  program.rate_minor = static_cast<std::uint32_t>(pick(1, 100));
  program.pending_days = static_cast<std::uint32_t>(pick(0, 1) * pick(1, 5));
  switch (pick(0, 2)) {
    case 0: program.expiry = ExpiryKind::kNone; break;
    case 1: program.expiry = ExpiryKind::kDays; program.expiry_value = static_cast<std::uint32_t>(pick(1, 20)); break;
    default: program.expiry = ExpiryKind::kMonthEnd; program.expiry_value = static_cast<std::uint32_t>(pick(0, 1));
  }
  program.return_policy = pick(0, 1) == 0 ? ReturnPolicy::kClawBack : ReturnPolicy::kAllowNegative;
  program.referral_points = static_cast<std::int64_t>(pick(0, 1) * pick(1, 300));
  program.tier_window_days = 20;
  program.tier_keep_days = 5;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 300, 1500}, Tier{"gold", 1500, 2000}};
  program.campaigns = {
      Campaign{1, now - kDay, now + pick(1, 10) * kDay, 2000, 0, 0, true},
      Campaign{2, now, now + pick(1, 10) * kDay, 0, static_cast<std::int64_t>(pick(1, 100)), 0, false},
      Campaign{3, now, now + 30 * kDay, 1250, 0, 1, false},
  };
  return program;
}

class CommandGenerator {
 public:
  explicit CommandGenerator(std::uint64_t seed) : random_(seed) {}

  // A command for ledger time about `now`.
  Command Next(std::uint64_t now) {
    const int roll = Uniform(0, 99);
    if (!issued_.empty() && roll < 8) return issued_[Uniform(0, issued_.size() - 1)];  // retry
    if (!issued_.empty() && roll < 11) {  // same id, different content
      Command conflict = issued_[Uniform(0, issued_.size() - 1)];
      conflict.store_reference += 1;
      return conflict;
    }
    Command command;
    command.id = CommandId{random_(), random_()};
    command.chain = static_cast<std::uint32_t>(Uniform(1, 3));
    command.member = Uniform(1, 40);
    command.kind = PickKind();
    command.points = Points();
    if (Uniform(0, 3) == 0) command.order_reference = random_();
    if (Uniform(0, 3) == 0) command.store_reference = Uniform(1, 50);
    if (Uniform(0, 5) == 0) command.campaign_reference = Uniform(1, 5);
    if (command.kind == CommandKind::kAdjust || Uniform(0, 9) == 0) command.reason_code = static_cast<std::uint32_t>(Uniform(1, 9));
    if (command.kind == CommandKind::kAdjust && Uniform(0, 1) == 0) command.points = -command.points;
    switch (command.kind) {
      case CommandKind::kProgram:
        command.member = 0;
        command.points = 0;
        command.program = RandomProgram(random_, now).Encode();
        break;
      case CommandKind::kExpire:
        command.member = 0;
        command.points = 0;
        command.limit = 8192;
        break;
      case CommandKind::kEarnPurchase:
        command.points = 0;
        command.order_reference = random_() | 1;
        command.amount_minor = Uniform(0, 30) == 0 ? std::numeric_limits<std::uint64_t>::max() : Uniform(1, 50'000);
        if (Uniform(0, 1) == 0) command.campaigns = {Uniform(2, 3)};
        if (Uniform(0, 5) == 0) command.campaigns.push_back(99);
        break;
      case CommandKind::kHold:
        command.duration_seconds = static_cast<std::uint32_t>(Uniform(1, 3 * 86'400));
        break;
      case CommandKind::kTransfer:
      case CommandKind::kReferral:
        command.counterparty = Uniform(1, 40);
        if (command.kind == CommandKind::kReferral) command.points = 0;
        break;
      case CommandKind::kRelease:
        command.points = 0;
        [[fallthrough]];
      case CommandKind::kReverse:
      case CommandKind::kCapture:
        if (!issued_.empty() && Uniform(0, 9) != 0) {
          const Command& target = issued_[Uniform(0, issued_.size() - 1)];
          command.target = target.id;
          command.chain = target.chain;
          if (Uniform(0, 9) != 0) command.member = target.member;
          if (command.kind != CommandKind::kRelease) {
            const std::int64_t magnitude = target.points < 0 ? -(target.points + 1) : target.points;  // no overflow
            command.points = std::max<std::int64_t>(1, magnitude / static_cast<std::int64_t>(Uniform(1, 3)));
            if (target.kind == CommandKind::kEarnPurchase) command.points = static_cast<std::int64_t>(Uniform(1, 500));
            if (command.kind == CommandKind::kCapture && Uniform(0, 4) == 0 &&
                target.points < std::numeric_limits<std::int64_t>::max()) {
              command.points = target.points + 1;
            }
          }
        } else {
          command.target = CommandId{random_(), random_()};
        }
        break;
      default:
        break;
    }
    MaybeBreak(&command);
    issued_.push_back(command);
    return command;
  }

 private:
  CommandKind PickKind() {
    const int roll = static_cast<int>(Uniform(0, 99));
    if (roll < 20) return CommandKind::kEarn;
    if (roll < 32) return CommandKind::kRedeem;
    if (roll < 37) return CommandKind::kAdjust;
    if (roll < 45) return CommandKind::kReverse;
    if (roll < 47) return CommandKind::kProgram;
    if (roll < 65) return CommandKind::kEarnPurchase;
    if (roll < 72) return CommandKind::kHold;
    if (roll < 78) return CommandKind::kCapture;
    if (roll < 82) return CommandKind::kRelease;
    if (roll < 84) return CommandKind::kExpire;
    if (roll < 93) return CommandKind::kTransfer;
    return CommandKind::kReferral;
  }

  std::uint64_t Uniform(std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random_);
  }

  std::int64_t Points() {
    const int roll = static_cast<int>(Uniform(0, 99));
    if (roll < 2) return std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(Uniform(0, 1000));
    if (roll < 4) return 0;
    if (roll < 6) return -static_cast<std::int64_t>(Uniform(1, 100));
    return static_cast<std::int64_t>(Uniform(1, 500));
  }

  // Now and then, a command that breaks a stateless rule.
  void MaybeBreak(Command* command) {
    switch (Uniform(0, 199)) {
      case 0: command->id = CommandId{}; break;
      case 1: command->chain = 0; break;
      case 2: command->kind = static_cast<CommandKind>(Uniform(13, 255)); break;
      case 3: command->reason_code = 0; break;
      case 4: command->target = command->target.IsZero() ? CommandId{1, 2} : CommandId{}; break;
      case 5: command->points = std::numeric_limits<std::int64_t>::min(); break;
      case 6: command->duration_seconds = command->duration_seconds == 0 ? 5 : 0; break;
      case 7: command->counterparty = command->member; break;
      case 8: command->program = "garbage"; break;
      case 9: command->campaigns = {7, 7}; break;
      default: break;
    }
  }

  std::mt19937_64 random_;
  std::vector<Command> issued_;
};

TEST(ModelTest, HundredThousandRandomCommandsMatchTheModelExactly) {
  constexpr int kCommands = 120'000;
  constexpr int kReopenEvery = 30'000;
  TemporaryDirectory directory;
  // Ledger time is the test's: it moves forward by up to a few days between
  // batches, so pending periods end, lots expire and holds run out.
  std::uint64_t now = 1'790'000'000'000'000;
  OpenOptions options;
  options.clock_us = [&now] { return now; };
  auto opened = Ledger::Open(directory.path(), options);
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Ledger> ledger = std::move(opened.value());
  Model model;
  CommandGenerator generator(20261123);
  std::mt19937_64 sizes(7);
  std::map<ResultCode, int> seen_codes;
  std::map<CommandKind, int> applied_kinds;

  for (int applied = 0; applied < kCommands;) {
    const int batch_size = std::uniform_int_distribution<int>(1, 300)(sizes);
    std::vector<Command> batch;
    if (std::uniform_int_distribution<int>(0, 3)(sizes) == 0) {
      now += std::uniform_int_distribution<std::uint64_t>(0, 3 * kDay)(sizes);
    }
    for (int index = 0; index < batch_size; ++index) batch.push_back(generator.Next(now));
    auto results = ledger->Apply(batch);
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    for (std::size_t index = 0; index < batch.size(); ++index) {
      CommandResult expected = model.Apply(batch[index], now);
      CommandResult actual = (*results)[index];
      ++seen_codes[actual.code];
      if (actual.code == ResultCode::kOk) ++applied_kinds[batch[index].kind];
      actual.timestamp_us = 0;
      ASSERT_EQ(actual.code, expected.code) << "command " << applied + index << ": got "
                                            << ResultCodeName(actual.code) << ", model says "
                                            << ResultCodeName(expected.code);
      ASSERT_EQ(actual, expected) << "command " << applied + index;
    }
    if ((applied + batch_size) / kReopenEvery != applied / kReopenEvery) {
      ledger.reset();
      auto reopened = Ledger::Open(directory.path(), options);
      ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
      ledger = std::move(reopened.value());
    }
    applied += batch_size;
  }

  for (const auto& [key, balance] : model.balances()) {
    auto actual = ledger->GetBalance({key.first, key.second});
    ASSERT_TRUE(actual.ok());
    const Balance expected = model.BalanceAt(key.first, key.second, now);
    EXPECT_EQ(actual->points, balance) << "chain " << key.first << " member " << key.second;
    EXPECT_EQ(actual->spendable, expected.spendable) << "chain " << key.first << " member " << key.second;
    EXPECT_EQ(actual->pending, expected.pending) << "chain " << key.first << " member " << key.second;
    EXPECT_EQ(actual->held, expected.held) << "chain " << key.first << " member " << key.second;
  }
  EXPECT_EQ(ledger->Stats().last_sequence, model.sequence());
  // The generator must have reached every result code, or the test proves less than it claims.
  for (ResultCode code : {ResultCode::kOk, ResultCode::kInsufficientPoints, ResultCode::kOverflow,
                          ResultCode::kUnknownReference, ResultCode::kReversalExceedsOriginal,
                          ResultCode::kNotReversible, ResultCode::kAmountInvalid, ResultCode::kReasonMissing,
                          ResultCode::kIdInvalid, ResultCode::kChainInvalid, ResultCode::kKindInvalid,
                          ResultCode::kIdConflict, ResultCode::kProgramMissing, ResultCode::kHoldClosed,
                          ResultCode::kExceedsHold, ResultCode::kAlreadyReferred, ResultCode::kProgramInvalid,
                          ResultCode::kFieldInvalid}) {
    EXPECT_GT(seen_codes[code], 0) << ResultCodeName(code) << " never happened";
  }
  for (int kind = 1; kind <= static_cast<int>(CommandKind::kReferral); ++kind) {
    EXPECT_GT(applied_kinds[static_cast<CommandKind>(kind)], 0)
        << CommandKindName(static_cast<CommandKind>(kind)) << " never applied";
  }

  ledger.reset();
  auto report = Replay(directory.path());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->last_sequence, model.sequence());
  std::size_t members_with_state = 0;
  for (const ReplayMember& member : report->members) {
    ASSERT_EQ(member.balance, model.balances().at({member.key.chain, member.key.member}));
    ++members_with_state;
  }
  EXPECT_EQ(members_with_state, model.balances().size());
}

}  // namespace
}  // namespace tally

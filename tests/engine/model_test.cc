// The randomized test: over 100,000 random commands (fresh, retried,
// conflicting and invalid) against the model in model.h; every result and
// every balance must match exactly, across reopens, and replay must agree.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "model.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Model;
using testing::TemporaryDirectory;

class CommandGenerator {
 public:
  explicit CommandGenerator(std::uint64_t seed) : random_(seed) {}

  Command Next() {
    const int roll = Uniform(0, 99);
    if (!issued_.empty() && roll < 8) return issued_[Uniform(0, issued_.size() - 1)];  // retry
    if (!issued_.empty() && roll < 11) {  // same id, different content
      Command conflict = issued_[Uniform(0, issued_.size() - 1)];
      conflict.points += 1;
      return conflict;
    }
    Command command;
    command.id = CommandId{random_(), random_()};
    command.chain = static_cast<std::uint32_t>(Uniform(1, 3));
    command.member = Uniform(1, 40);
    command.kind = static_cast<CommandKind>(Uniform(1, 4));
    command.points = Points();
    if (Uniform(0, 3) == 0) command.order_reference = random_();
    if (Uniform(0, 3) == 0) command.store_reference = Uniform(1, 50);
    if (Uniform(0, 5) == 0) command.campaign_reference = Uniform(1, 5);
    if (command.kind == CommandKind::kAdjust || Uniform(0, 9) == 0) command.reason_code = static_cast<std::uint32_t>(Uniform(1, 9));
    if (command.kind == CommandKind::kAdjust && Uniform(0, 1) == 0) command.points = -command.points;
    if (command.kind == CommandKind::kReverse) {
      if (!issued_.empty() && Uniform(0, 9) != 0) {
        const Command& target = issued_[Uniform(0, issued_.size() - 1)];
        command.target = target.id;
        command.chain = target.chain;
        if (Uniform(0, 9) != 0) command.member = target.member;
        command.points = std::max<std::int64_t>(1, target.points / Uniform(1, 3));
      } else {
        command.target = CommandId{random_(), random_()};
      }
    }
    MaybeBreak(&command);
    issued_.push_back(command);
    return command;
  }

 private:
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
      case 4: command->target = command->kind == CommandKind::kReverse ? CommandId{} : CommandId{1, 2}; break;
      case 5: command->points = std::numeric_limits<std::int64_t>::min(); break;
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
  auto opened = Ledger::Open(directory.path());
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Ledger> ledger = std::move(opened.value());
  Model model;
  CommandGenerator generator(20261123);
  std::mt19937_64 sizes(7);
  std::map<ResultCode, int> seen_codes;

  for (int applied = 0; applied < kCommands;) {
    const int batch_size = std::uniform_int_distribution<int>(1, 300)(sizes);
    std::vector<Command> batch;
    for (int index = 0; index < batch_size; ++index) batch.push_back(generator.Next());
    auto results = ledger->Apply(batch);
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    for (std::size_t index = 0; index < batch.size(); ++index) {
      CommandResult expected = model.Apply(batch[index]);
      CommandResult actual = (*results)[index];
      ++seen_codes[actual.code];
      actual.timestamp_us = 0;
      ASSERT_EQ(actual.code, expected.code) << "command " << applied + index << ": got "
                                            << ResultCodeName(actual.code) << ", model says "
                                            << ResultCodeName(expected.code);
      ASSERT_EQ(actual, expected) << "command " << applied + index;
    }
    if ((applied + batch_size) / kReopenEvery != applied / kReopenEvery) {
      ledger.reset();
      auto reopened = Ledger::Open(directory.path());
      ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
      ledger = std::move(reopened.value());
    }
    applied += batch_size;
  }

  for (const auto& [key, balance] : model.balances()) {
    auto actual = ledger->GetBalance({key.first, key.second});
    ASSERT_TRUE(actual.ok());
    EXPECT_EQ(actual->points, balance) << "chain " << key.first << " member " << key.second;
  }
  EXPECT_EQ(ledger->Stats().last_sequence, model.sequence());
  // The generator must have reached every result code, or the test proves less than it claims.
  for (ResultCode code : {ResultCode::kOk, ResultCode::kInsufficientPoints, ResultCode::kOverflow,
                          ResultCode::kUnknownReference, ResultCode::kReversalExceedsOriginal,
                          ResultCode::kNotReversible, ResultCode::kAmountInvalid, ResultCode::kReasonMissing,
                          ResultCode::kIdInvalid, ResultCode::kChainInvalid, ResultCode::kKindInvalid,
                          ResultCode::kIdConflict}) {
    EXPECT_GT(seen_codes[code], 0) << ResultCodeName(code) << " never happened";
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

#include "tally/ledger.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <thread>

#include "tally/limits.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Adjust;
using testing::Earn;
using testing::Id;
using testing::Redeem;
using testing::Reverse;
using testing::TemporaryDirectory;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    ledger_.reset();
    OpenOptions options;
    options.clock_us = [this] { return clock_us_; };
    auto opened = Ledger::Open(directory_.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(opened.value());
  }

  CommandResult Apply(const Command& command) {
    auto results = ledger_->Apply({&command, 1});
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    if (!results.ok()) return {};
    EXPECT_EQ(results->size(), 1u);
    return results->front();
  }

  std::int64_t BalanceOf(std::uint32_t chain, std::uint64_t member) {
    auto balance = ledger_->GetBalance({chain, member});
    EXPECT_TRUE(balance.ok());
    return balance.ok() ? balance->points : -1;
  }

  TemporaryDirectory directory_;
  std::uint64_t clock_us_ = 1'000'000;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, EarnAddsPointsAndAssignsSequenceAndTime) {
  const CommandResult first = Apply(Earn(1, 1, 42, 100));
  EXPECT_EQ(first, (CommandResult{ResultCode::kOk, 1, 1'000'000, 100, 100}));
  clock_us_ = 2'000'000;
  const CommandResult second = Apply(Earn(2, 1, 42, 50));
  EXPECT_EQ(second, (CommandResult{ResultCode::kOk, 2, 2'000'000, 150, 50}));
  EXPECT_EQ(BalanceOf(1, 42), 150);
  EXPECT_EQ(ledger_->GetBalance({1, 42})->last_sequence, 2u);
}

TEST_F(LedgerTest, GetBalancesReadsManyMembersAtOnce) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Earn(2, 1, 43, 7));
  std::vector<MemberKey> members = {{1, 43}, {1, 42}, {1, 44}};
  auto balances = ledger_->GetBalances(members);
  ASSERT_TRUE(balances.ok());
  ASSERT_EQ(balances->size(), 3u);
  EXPECT_EQ((*balances)[0].points, 7);
  EXPECT_EQ((*balances)[1].points, 100);
  EXPECT_EQ((*balances)[2].points, 0);
  EXPECT_EQ(ledger_->GetBalances({}).status().code(), Status::Code::kInvalidArgument);
  members.push_back({0, 1});
  EXPECT_EQ(ledger_->GetBalances(members).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(LedgerTest, UnknownMemberHasZeroBalanceAndNoEvents) {
  auto balance = ledger_->GetBalance({1, 999});
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->points, 0);
  EXPECT_EQ(balance->last_sequence, 0u);
}

TEST_F(LedgerTest, RedeemTakesPointsButNeverBelowZero) {
  Apply(Earn(1, 1, 42, 100));
  EXPECT_EQ(Apply(Redeem(2, 1, 42, 100)).balance, 0);
  const CommandResult refused = Apply(Redeem(3, 1, 42, 1));
  EXPECT_EQ(refused.code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(refused.sequence, 3u) << "a state rejection is logged";
  EXPECT_EQ(refused.balance, 0);
  EXPECT_EQ(BalanceOf(1, 42), 0);
}

TEST_F(LedgerTest, AdjustAddsOrTakesWithAReason) {
  Apply(Earn(1, 1, 42, 100));
  EXPECT_EQ(Apply(Adjust(2, 1, 42, -30, 7)).balance, 70);
  EXPECT_EQ(Apply(Adjust(3, 1, 42, 5, 7)).balance, 75);
  EXPECT_EQ(Apply(Adjust(4, 1, 42, -76, 7)).code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(Apply(Adjust(5, 1, 42, 5, 0)).code, ResultCode::kReasonMissing);
  EXPECT_EQ(Apply(Adjust(6, 1, 42, 0, 7)).code, ResultCode::kAmountInvalid);
  EXPECT_EQ(Apply(Adjust(7, 1, 42, std::numeric_limits<std::int64_t>::min(), 7)).code, ResultCode::kAmountInvalid);
  EXPECT_EQ(BalanceOf(1, 42), 75);
}

TEST_F(LedgerTest, ReverseOfEarnTakesBackUpToTheOriginal) {
  Apply(Earn(1, 1, 42, 100));
  EXPECT_EQ(Apply(Reverse(2, 1, 42, 60, 1)), (CommandResult{ResultCode::kOk, 2, 1'000'000, 40, 60}));
  EXPECT_EQ(Apply(Reverse(3, 1, 42, 41, 1)).code, ResultCode::kReversalExceedsOriginal);
  EXPECT_EQ(Apply(Reverse(4, 1, 42, 40, 1)).balance, 0);
  EXPECT_EQ(Apply(Reverse(5, 1, 42, 1, 1)).code, ResultCode::kReversalExceedsOriginal);
  EXPECT_EQ(BalanceOf(1, 42), 0);
}

// The totals reversed so far live in a table that grows as reversals come
// (4,096 slots at first): 10,000 earns reversed in two parts each, checked
// across its growth and after a reopen rebuilds it from the log.
TEST_F(LedgerTest, ReversedTotalsHoldAcrossTheTablesGrowthAndAReopen) {
  constexpr std::uint64_t kEarns = 10'000;
  auto apply_all = [&](auto make, ResultCode expected) {
    std::vector<Command> batch;
    for (std::uint64_t earn = 1; earn <= kEarns; ++earn) {
      batch.push_back(make(earn));
      if (batch.size() < 1000 && earn < kEarns) continue;
      auto results = ledger_->Apply(batch);
      ASSERT_TRUE(results.ok()) << results.status().ToString();
      for (const CommandResult& result : *results) ASSERT_EQ(result.code, expected);
      batch.clear();
    }
  };
  // Earn k (id k) goes to member k % 97 + 1; its reversals have ids k + 10,000 … .
  apply_all([](std::uint64_t k) { return Earn(k, 1, k % 97 + 1, 100); }, ResultCode::kOk);
  apply_all([](std::uint64_t k) { return Reverse(k + 10'000, 1, k % 97 + 1, 30, k); }, ResultCode::kOk);
  apply_all([](std::uint64_t k) { return Reverse(k + 20'000, 1, k % 97 + 1, 71, k); }, ResultCode::kReversalExceedsOriginal);
  apply_all([](std::uint64_t k) { return Reverse(k + 30'000, 1, k % 97 + 1, 70, k); }, ResultCode::kOk);
  Reopen();
  apply_all([](std::uint64_t k) { return Reverse(k + 40'000, 1, k % 97 + 1, 1, k); }, ResultCode::kReversalExceedsOriginal);
  for (std::uint64_t member = 1; member <= 97; ++member) EXPECT_EQ(BalanceOf(1, member), 0);
}

TEST_F(LedgerTest, ReverseOfRedeemGivesPointsBack) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Redeem(2, 1, 42, 80));
  EXPECT_EQ(Apply(Reverse(3, 1, 42, 80, 2)).balance, 100);
  EXPECT_EQ(Apply(Reverse(4, 1, 42, 1, 2)).code, ResultCode::kReversalExceedsOriginal);
}

TEST_F(LedgerTest, ReverseOfSpentEarnClawsBackWhatIsLeftWithoutAProgram) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Redeem(2, 1, 42, 90));
  // The default return policy (docs/loyalty.md): take what is left, forgive the rest.
  const CommandResult returned = Apply(Reverse(3, 1, 42, 50, 1));
  EXPECT_EQ(returned.code, ResultCode::kOk);
  EXPECT_EQ(returned.points, 10);
  EXPECT_EQ(returned.balance, 0);
  EXPECT_EQ(Apply(Reverse(4, 1, 42, 50, 1)).points, 0) << "the forgiven part counts towards the original";
  EXPECT_EQ(Apply(Reverse(5, 1, 42, 1, 1)).code, ResultCode::kReversalExceedsOriginal);
}

TEST_F(LedgerTest, ReverseNeedsAKnownTargetOfTheSameMember) {
  Apply(Earn(1, 1, 42, 100));
  EXPECT_EQ(Apply(Reverse(2, 1, 42, 10, 999)).code, ResultCode::kUnknownReference);
  EXPECT_EQ(Apply(Reverse(3, 1, 43, 10, 1)).code, ResultCode::kUnknownReference) << "another member's earn";
  EXPECT_EQ(Apply(Reverse(4, 2, 42, 10, 1)).code, ResultCode::kUnknownReference) << "another chain's earn";
  EXPECT_EQ(BalanceOf(1, 42), 100);
}

TEST_F(LedgerTest, OnlyOkEarnsAndRedeemsAreReversible) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Adjust(2, 1, 42, 10, 3));
  Apply(Redeem(3, 1, 42, 1000));  // rejected
  Apply(Reverse(4, 1, 42, 10, 1));
  EXPECT_EQ(Apply(Reverse(5, 1, 42, 1, 2)).code, ResultCode::kNotReversible) << "an adjust";
  EXPECT_EQ(Apply(Reverse(6, 1, 42, 1, 3)).code, ResultCode::kNotReversible) << "a rejected redeem";
  EXPECT_EQ(Apply(Reverse(7, 1, 42, 1, 4)).code, ResultCode::kNotReversible) << "a reverse";
}

TEST_F(LedgerTest, OverflowIsAnErrorNeverAWrap) {
  EXPECT_EQ(Apply(Earn(1, 1, 42, kMax)).balance, kMax);
  const CommandResult overflow = Apply(Earn(2, 1, 42, 1));
  EXPECT_EQ(overflow.code, ResultCode::kOverflow);
  EXPECT_EQ(overflow.balance, kMax);
  EXPECT_EQ(Apply(Adjust(3, 1, 42, 1, 9)).code, ResultCode::kOverflow);
  Apply(Redeem(4, 1, 42, 10));
  Apply(Earn(5, 1, 42, 10));
  EXPECT_EQ(Apply(Reverse(6, 1, 42, 10, 4)).code, ResultCode::kOverflow) << "giving a redeem back";
  EXPECT_EQ(BalanceOf(1, 42), kMax);
}

TEST_F(LedgerTest, StatelessRejectionsAreNotLoggedAndChangeNothing) {
  Command no_id = Earn(0, 1, 42, 10);
  no_id.id = CommandId{};
  EXPECT_EQ(Apply(no_id), (CommandResult{ResultCode::kIdInvalid, 0, 0, 0}));
  EXPECT_EQ(Apply(Earn(1, 0, 42, 10)).code, ResultCode::kChainInvalid);
  EXPECT_EQ(Apply(Earn(2, 1, 42, 0)).code, ResultCode::kAmountInvalid);
  EXPECT_EQ(Apply(Earn(3, 1, 42, -5)).code, ResultCode::kAmountInvalid);
  EXPECT_EQ(Apply(Redeem(4, 1, 42, 0)).code, ResultCode::kAmountInvalid);
  EXPECT_EQ(Apply(Reverse(5, 1, 42, 0, 1)).code, ResultCode::kAmountInvalid);
  Command bad_kind = Earn(6, 1, 42, 10);
  bad_kind.kind = static_cast<CommandKind>(77);
  EXPECT_EQ(Apply(bad_kind).code, ResultCode::kKindInvalid);
  Command no_target = Reverse(7, 1, 42, 10, 1);
  no_target.target = CommandId{};
  EXPECT_EQ(Apply(no_target).code, ResultCode::kIdInvalid);
  Command stray_target = Earn(8, 1, 42, 10);
  stray_target.target = Id(1);
  EXPECT_EQ(Apply(stray_target).code, ResultCode::kIdInvalid);
  EXPECT_EQ(ledger_->Stats().last_sequence, 0u);
  EXPECT_EQ(ledger_->Stats().members, 0u);
  // The id of a stateless rejection is not spent: the corrected command goes through.
  EXPECT_EQ(Apply(Earn(2, 1, 42, 10)).code, ResultCode::kOk);
}

TEST_F(LedgerTest, RetryReturnsTheOriginalResultAndConflictIsRejected) {
  const Command earn = Earn(1, 1, 42, 100);
  const CommandResult original = Apply(earn);
  clock_us_ += 5;
  Apply(Earn(2, 1, 42, 1));
  EXPECT_EQ(Apply(earn), original) << "the original result, not the current balance";
  Command different = earn;
  different.points = 101;
  EXPECT_EQ(Apply(different), (CommandResult{ResultCode::kIdConflict, 0, 0, 0}));
  different = earn;
  different.order_reference = 5;
  EXPECT_EQ(Apply(different).code, ResultCode::kIdConflict) << "references are content too";
  EXPECT_EQ(BalanceOf(1, 42), 101);
  EXPECT_EQ(ledger_->Stats().last_sequence, 2u);
}

TEST_F(LedgerTest, RetryOfARejectionStaysRejected) {
  const Command redeem = Redeem(1, 1, 42, 50);
  const CommandResult refused = Apply(redeem);
  ASSERT_EQ(refused.code, ResultCode::kInsufficientPoints);
  Apply(Earn(2, 1, 42, 100));
  EXPECT_EQ(Apply(redeem), refused) << "a retry never turns a refused redeem into a success";
  EXPECT_EQ(BalanceOf(1, 42), 100);
}

TEST_F(LedgerTest, IdsAreScopedByChain) {
  EXPECT_EQ(Apply(Earn(1, 1, 42, 100)).sequence, 1u);
  EXPECT_EQ(Apply(Earn(1, 2, 42, 7)).sequence, 2u) << "the same id in another chain is another command";
  EXPECT_EQ(BalanceOf(2, 42), 7);
}

TEST_F(LedgerTest, IdempotencySurvivesReopen) {
  const Command earn = Earn(1, 1, 42, 100);
  const Command refused = Redeem(2, 1, 42, 1000);
  const CommandResult earned = Apply(earn);
  const CommandResult rejected = Apply(refused);
  Reopen();
  EXPECT_EQ(Apply(earn), earned);
  EXPECT_EQ(Apply(refused), rejected);
  Command conflict = earn;
  conflict.member = 43;
  EXPECT_EQ(Apply(conflict).code, ResultCode::kIdConflict);
  EXPECT_EQ(BalanceOf(1, 42), 100);
  EXPECT_EQ(Apply(Earn(3, 1, 42, 1)).sequence, 3u);
  auto found = ledger_->Find(1, Id(1));
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, earned);
  EXPECT_FALSE(ledger_->Find(1, Id(99))->has_value());
}

TEST_F(LedgerTest, ABatchAppliesInOrderAndSeesItsOwnCommands) {
  const std::vector<Command> batch = {
      Earn(1, 1, 42, 100), Redeem(2, 1, 42, 60), Earn(1, 1, 42, 100) /* retry inside the batch */,
      Earn(1, 1, 42, 5) /* conflict inside the batch */, Reverse(3, 1, 42, 40, 1), Redeem(4, 1, 42, 1)};
  auto results = ledger_->Apply(batch);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 6u);
  EXPECT_EQ((*results)[0], (CommandResult{ResultCode::kOk, 1, 1'000'000, 100, 100}));
  EXPECT_EQ((*results)[1].balance, 40);
  EXPECT_EQ((*results)[2], (*results)[0]);
  EXPECT_EQ((*results)[3].code, ResultCode::kIdConflict);
  EXPECT_EQ((*results)[4], (CommandResult{ResultCode::kOk, 3, 1'000'000, 0, 40}));
  EXPECT_EQ((*results)[5].code, ResultCode::kInsufficientPoints);
}

TEST_F(LedgerTest, BatchSizeIsLimited) {
  EXPECT_EQ(ledger_->Apply({}).status().code(), Status::Code::kInvalidArgument);
  std::vector<Command> too_many;
  for (std::uint64_t index = 1; index <= kBatchCommandsMax + 1; ++index) too_many.push_back(Earn(index, 1, 1, 1));
  EXPECT_EQ(ledger_->Apply(too_many).status().code(), Status::Code::kInvalidArgument);
  too_many.pop_back();
  auto results = ledger_->Apply(too_many);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(results->back().balance, static_cast<std::int64_t>(kBatchCommandsMax));
}

TEST_F(LedgerTest, LedgerTimeNeverGoesBackwards) {
  clock_us_ = 5'000'000;
  EXPECT_EQ(Apply(Earn(1, 1, 42, 1)).timestamp_us, 5'000'000u);
  clock_us_ = 4'000'000;
  EXPECT_EQ(Apply(Earn(2, 1, 42, 1)).timestamp_us, 5'000'000u);
  Reopen();
  EXPECT_EQ(Apply(Earn(3, 1, 42, 1)).timestamp_us, 5'000'000u) << "also across a reopen";
  clock_us_ = 6'000'000;
  EXPECT_EQ(Apply(Earn(4, 1, 42, 1)).timestamp_us, 6'000'000u);
}

TEST_F(LedgerTest, HistoryIsNewestFirstAndPaginatedByCursor) {
  for (std::uint64_t index = 1; index <= 25; ++index) {
    clock_us_ += 1;
    Apply(Earn(index, 1, 42, static_cast<std::int64_t>(index)));
    Apply(Earn(1000 + index, 1, 43, 1));  // another member, interleaved
  }
  Apply(Redeem(100, 1, 42, 100000));  // a logged rejection is part of the history
  std::vector<HistoryEntry> all;
  std::string cursor;
  int pages = 0;
  do {
    auto page = ledger_->History({1, 42}, cursor, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    all.insert(all.end(), page->entries.begin(), page->entries.end());
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 26u);
  EXPECT_EQ(all[0].code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(all[0].command.points, 100000);
  EXPECT_EQ(all[1].command.id, Id(25));
  EXPECT_EQ(all[1].balance_after, 25 * 26 / 2);
  EXPECT_EQ(all.back().command.id, Id(1));
  EXPECT_EQ(all.back().balance_after, 1);
  for (std::size_t index = 1; index < all.size(); ++index) EXPECT_GT(all[index - 1].sequence, all[index].sequence);
  for (std::size_t index = 1; index < all.size(); ++index) {
    EXPECT_GE(all[index - 1].timestamp_us, all[index].timestamp_us);
  }
}

TEST_F(LedgerTest, HistoryOfReverseRecordsItsTarget) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Reverse(2, 1, 42, 10, 1));
  auto page = ledger_->History({1, 42}, "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].command.kind, CommandKind::kReverse);
  EXPECT_EQ(page->entries[0].command.target, Id(1));
  EXPECT_EQ(page->entries[0].target_sequence, 1u);
}

TEST_F(LedgerTest, HistoryRejectsBadCursorsAndLimits) {
  for (std::uint64_t index = 1; index <= 3; ++index) Apply(Earn(index, 1, 42, 1));
  Apply(Earn(10, 1, 43, 1));
  auto page = ledger_->History({1, 42}, "", 1);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_cursor.empty());
  EXPECT_EQ(ledger_->History({1, 43}, page->next_cursor, 10).status().code(), Status::Code::kInvalidArgument)
      << "a cursor of another member";
  std::string damaged = page->next_cursor;
  damaged[31] = damaged[31] == '0' ? '1' : '0';
  EXPECT_EQ(ledger_->History({1, 42}, damaged, 10).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->History({1, 42}, "zz", 10).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->History({1, 42}, "", 0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->History({1, 42}, "", kHistoryPageEntriesMax + 1).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->History({0, 42}, "", 10).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(ledger_->History({1, 999}, "", 10)->entries.empty());
}

TEST_F(LedgerTest, ConcurrentCallersAreGroupCommittedExactly) {
  constexpr int kThreads = 8;
  constexpr int kBatchesPerThread = 50;
  constexpr int kBatchSize = 20;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([this, thread] {
      for (int batch = 0; batch < kBatchesPerThread; ++batch) {
        std::vector<Command> commands;
        for (int index = 0; index < kBatchSize; ++index) {
          const std::uint64_t id = (static_cast<std::uint64_t>(thread) << 32) | (batch * kBatchSize + index + 1);
          commands.push_back(Earn(id, 1, static_cast<std::uint64_t>(index % 5), 3));
        }
        auto results = ledger_->Apply(commands);
        ASSERT_TRUE(results.ok());
        for (const CommandResult& result : *results) ASSERT_EQ(result.code, ResultCode::kOk);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::int64_t total = 0;
  for (std::uint64_t member = 0; member < 5; ++member) total += BalanceOf(1, member);
  EXPECT_EQ(total, std::int64_t{kThreads} * kBatchesPerThread * kBatchSize * 3);
  EXPECT_EQ(ledger_->Stats().last_sequence, std::uint64_t{kThreads} * kBatchesPerThread * kBatchSize);
}

TEST_F(LedgerTest, ApplyBatchesSpansSeveralGroupsBesideOtherCallers) {
  // Five full batches are more than one group holds, so the caller leads twice.
  std::vector<std::vector<Command>> batches(5);
  for (std::size_t batch = 0; batch < batches.size(); ++batch) {
    for (std::size_t index = 0; index < kBatchCommandsMax; ++index) {
      batches[batch].push_back(Earn(batch * kBatchCommandsMax + index + 1, 1, batch + 1, 2));
    }
  }
  std::thread other([this] {
    for (std::uint64_t index = 0; index < 200; ++index) {
      auto result = ledger_->Apply(std::vector<Command>{Earn(1'000'000 + index, 1, 99, 1)});
      ASSERT_TRUE(result.ok());
    }
  });
  std::vector<std::span<const Command>> spans(batches.begin(), batches.end());
  auto results = ledger_->ApplyBatches(spans);
  other.join();
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 5u);
  for (std::size_t batch = 0; batch < 5; ++batch) {
    ASSERT_EQ((*results)[batch].size(), kBatchCommandsMax);
    EXPECT_EQ((*results)[batch].back().balance, static_cast<std::int64_t>(2 * kBatchCommandsMax));
    EXPECT_EQ(BalanceOf(1, batch + 1), static_cast<std::int64_t>(2 * kBatchCommandsMax));
  }
  EXPECT_EQ(BalanceOf(1, 99), 200);
  EXPECT_EQ(ledger_->Stats().last_sequence, 5 * kBatchCommandsMax + 200);
  std::vector<Command> empty;
  std::vector<std::span<const Command>> with_empty = {spans[0], empty};
  EXPECT_EQ(ledger_->ApplyBatches(with_empty).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(LedgerTest, ReplayAgreesWithTheLedger) {
  Apply(Earn(1, 1, 42, 100));
  Apply(Redeem(2, 1, 42, 30));
  Apply(Reverse(3, 1, 42, 30, 2));
  Apply(Redeem(4, 1, 43, 1));
  Apply(Adjust(5, 2, 7, 9, 1));
  auto report = Replay(directory_.path());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->events, 5u);
  EXPECT_EQ(report->rejections_logged, 1u);
  EXPECT_EQ(report->last_sequence, 5u);
  EXPECT_EQ(report->points_outstanding, "109");
  ASSERT_EQ(report->members.size(), 3u);
  for (const ReplayMember& member : report->members) {
    auto balance = ledger_->GetBalance(member.key);
    ASSERT_TRUE(balance.ok());
    EXPECT_EQ(balance->points, member.balance);
    EXPECT_EQ(balance->last_sequence, member.last_sequence);
  }
}

TEST(LedgerOpen, RefusesAMissingDirectoryUnlessAskedToCreate) {
  TemporaryDirectory directory;
  OpenOptions options;
  options.create_if_missing = false;
  EXPECT_FALSE(Ledger::Open(directory.Child("absent"), options).ok());
  EXPECT_FALSE(Replay(directory.Child("absent")).ok());
  EXPECT_TRUE(Ledger::Open(directory.Child("absent")).ok());
}

TEST(LedgerOpen, ASecondOpenOfTheSameDirectoryFails) {
  TemporaryDirectory directory;
  auto first = Ledger::Open(directory.path());
  ASSERT_TRUE(first.ok());
  auto second = Ledger::Open(directory.path());
  EXPECT_FALSE(second.ok()) << "RocksDB's lock keeps a second writer out";
}

TEST_F(LedgerTest, TokensAreStoredAsHashesAndCanBeRevoked) {
  EXPECT_FALSE(*ledger_->HasTokens());
  auto secret = ledger_->CreateToken("checkout", Role::kWriter, 7);
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_TRUE(secret->starts_with("tly_"));
  EXPECT_EQ(secret->size(), 4u + 64u);
  EXPECT_TRUE(*ledger_->HasTokens());
  EXPECT_EQ(ledger_->CreateToken("checkout", Role::kReader, 7).status().code(), Status::Code::kInvalidArgument)
      << "names are unique";
  EXPECT_EQ(ledger_->CreateToken("with space", Role::kReader, 7).status().code(), Status::Code::kInvalidArgument);
  auto other = ledger_->CreateToken("ops", Role::kAdmin, 0);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *secret);

  auto found = ledger_->Authenticate(*secret);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "checkout");
  EXPECT_EQ((*found)->role, Role::kWriter);
  EXPECT_EQ((*found)->chain, 7u);
  EXPECT_FALSE(ledger_->Authenticate("tly_" + std::string(64, '0'))->has_value());
  std::string near = *secret;
  near.back() = near.back() == '0' ? '1' : '0';
  EXPECT_FALSE(ledger_->Authenticate(near)->has_value()) << "one digit off";

  ASSERT_TRUE(ledger_->RevokeToken("checkout").ok());
  EXPECT_FALSE(ledger_->Authenticate(*secret)->has_value());
  EXPECT_EQ(ledger_->RevokeToken("nobody").code(), Status::Code::kNotFound);
  auto tokens = ledger_->ListTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].name, "checkout");
  EXPECT_NE((*tokens)[0].revoked_us, 0u);
  EXPECT_EQ((*tokens)[1].revoked_us, 0u);

  // The secrets are nowhere in the data directory, also after a reopen.
  Reopen();
  EXPECT_TRUE((*ledger_->Authenticate(*other)).has_value());
  ledger_.reset();
  for (const auto& entry : std::filesystem::directory_iterator(directory_.path())) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(secret->substr(4)), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find(other->substr(4)), std::string::npos) << entry.path();
  }
  Reopen();
}

}  // namespace
}  // namespace tally

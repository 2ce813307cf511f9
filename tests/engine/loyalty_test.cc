// The loyalty rules of docs/loyalty.md, one worked example each: programs,
// purchase points (rounding, campaign stacking, tier multipliers), lots and
// their order, pending points, expiry and the sweep, holds, returns under
// both policies, transfers and referrals. After every scenario the ledger is
// reopened (recovery re-applies every rule) and replayed, and both must give
// the same state.
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <random>

#include "tally/ledger.h"
#include "tally/limits.h"
#include "tally/program.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::Id;
using testing::Redeem;
using testing::Reverse;
using testing::TemporaryDirectory;

constexpr std::uint32_t kChain = 7;
constexpr std::uint64_t kDay = 86'400'000'000;

// Microseconds since the epoch of 00:00 UTC on a calendar day.
std::uint64_t Date(int year, unsigned month, unsigned day) {
  using namespace std::chrono;
  const sys_days days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}};
  return static_cast<std::uint64_t>(duration_cast<microseconds>(days.time_since_epoch()).count());
}

Command ProgramCommand(std::uint64_t id, const Program& program) {
  Command command;
  command.id = Id(id);
  command.kind = CommandKind::kProgram;
  command.chain = kChain;
  command.program = program.Encode();
  return command;
}

Command Purchase(std::uint64_t id, std::uint64_t member, std::uint64_t amount_minor,
                 std::vector<std::uint64_t> campaigns = {}) {
  Command command;
  command.id = Id(id);
  command.kind = CommandKind::kEarnPurchase;
  command.chain = kChain;
  command.member = member;
  command.order_reference = 9000 + id;
  command.amount_minor = amount_minor;
  command.campaigns = std::move(campaigns);
  return command;
}

Command Hold(std::uint64_t id, std::uint64_t member, std::int64_t points, std::uint32_t seconds) {
  Command command = Earn(id, kChain, member, points);
  command.kind = CommandKind::kHold;
  command.duration_seconds = seconds;
  return command;
}

Command Settle(CommandKind kind, std::uint64_t id, std::uint64_t member, std::int64_t points, std::uint64_t hold) {
  Command command = Earn(id, kChain, member, points);
  command.kind = kind;
  command.target = Id(hold);
  return command;
}

Command Sweep(std::uint64_t id, std::uint32_t limit = 100) {
  Command command;
  command.id = Id(id);
  command.kind = CommandKind::kExpire;
  command.chain = kChain;
  command.limit = limit;
  return command;
}

Command Transfer(std::uint64_t id, std::uint64_t from, std::uint64_t to, std::int64_t points) {
  Command command = Earn(id, kChain, from, points);
  command.kind = CommandKind::kTransfer;
  command.counterparty = to;
  return command;
}

Command Referral(std::uint64_t id, std::uint64_t referrer, std::uint64_t referred) {
  Command command = Earn(id, kChain, referrer, 0);
  command.kind = CommandKind::kReferral;
  command.counterparty = referred;
  return command;
}

class LoyaltyTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // Every scenario ends by checking that recovery and replay agree with the
  // state the commands built.
  void TearDown() override {
    if (HasFailure()) return;
    std::vector<std::pair<MemberKey, Balance>> before;
    ledger_->ForEachMember([&](MemberKey key, const Balance& balance) { before.emplace_back(key, balance); });
    Reopen();
    for (const auto& [key, balance] : before) {
      auto after = ledger_->GetBalance(key);
      ASSERT_TRUE(after.ok());
      EXPECT_EQ(after->points, balance.points) << "member " << key.member << " after reopening";
      EXPECT_EQ(after->spendable, balance.spendable) << "member " << key.member << " after reopening";
      EXPECT_EQ(after->pending, balance.pending) << "member " << key.member << " after reopening";
      EXPECT_EQ(after->held, balance.held) << "member " << key.member << " after reopening";
    }
    ledger_.reset();
    // The export folds to the same balances: each member's last balance_after.
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::int64_t> folded;
    const Status exported = ReadLog(directory_.path(), LogRange{}, [&](const LoggedEvent& logged) {
      const Command& command = logged.entry.command;
      if (IsChainLevel(command.kind)) return Status::Ok();
      folded[{command.chain, command.member}] = logged.entry.balance_after;
      if (command.kind == CommandKind::kTransfer && logged.entry.code == ResultCode::kOk) {
        folded[{command.chain, command.counterparty}] = logged.counterparty_balance_after;
      }
      return Status::Ok();
    });
    ASSERT_TRUE(exported.ok()) << exported.ToString();
    ASSERT_EQ(folded.size(), before.size());
    for (const auto& [key, balance] : before) {
      EXPECT_EQ((folded[{key.chain, key.member}]), balance.points) << "member " << key.member << " in the export";
    }
    auto replayed = Replay(directory_.path());
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ASSERT_EQ(replayed->members.size(), before.size());
    for (const ReplayMember& member : replayed->members) {
      const auto found = std::find_if(before.begin(), before.end(),
                                      [&](const auto& entry) { return entry.first == member.key; });
      ASSERT_NE(found, before.end());
      EXPECT_EQ(member.balance, found->second.points) << "member " << member.key.member << " in the replay";
    }
  }

  void Reopen() {
    ledger_.reset();
    OpenOptions options;
    options.clock_us = [this] { return now_; };
    auto opened = Ledger::Open(directory_.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(opened.value());
  }

  CommandResult Apply(const Command& command) {
    auto results = ledger_->Apply({&command, 1});
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    return results.ok() ? results->front() : CommandResult{};
  }

  Balance BalanceOf(std::uint64_t member) {
    auto balance = ledger_->GetBalance({kChain, member});
    EXPECT_TRUE(balance.ok());
    return balance.ok() ? *balance : Balance{};
  }

  MemberStatus StatusOf(std::uint64_t member, std::uint64_t expiring_before = 0) {
    auto status = ledger_->GetMemberStatus({kChain, member}, expiring_before);
    EXPECT_TRUE(status.ok());
    return status.ok() ? *status : MemberStatus{};
  }

  void SetProgram(std::uint64_t id, const Program& program) {
    const CommandResult result = Apply(ProgramCommand(id, program));
    ASSERT_EQ(result.code, ResultCode::kOk);
  }

  TemporaryDirectory directory_;
  std::uint64_t now_ = Date(2025, 12, 1);  // before every date the scenarios use
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LoyaltyTest, ProgramsAreVersionedAndCheckedAndPurchasesNeedOne) {
  EXPECT_EQ(Apply(Purchase(1, 42, 10'000)).code, ResultCode::kProgramMissing) << "no program yet";
  Program program;
  program.rate_minor = 100;
  EXPECT_EQ(Apply(ProgramCommand(2, program)).points, 1) << "the first version";
  EXPECT_EQ(Apply(ProgramCommand(3, program)).points, 2);
  EXPECT_EQ(Apply(ProgramCommand(2, program)).points, 1) << "a retry returns the original version";

  Program bad = program;
  bad.rate_minor = 0;
  EXPECT_EQ(Apply(ProgramCommand(4, bad)).code, ResultCode::kProgramInvalid);
  bad = program;
  bad.campaigns = {Campaign{5, 10, 5, 2000, 0, 0, true}};
  EXPECT_EQ(Apply(ProgramCommand(5, bad)).code, ResultCode::kProgramInvalid) << "ends before it starts";
  Command garbage = ProgramCommand(6, program);
  garbage.program = "not a program";
  EXPECT_EQ(Apply(garbage).code, ResultCode::kProgramInvalid);
  Command with_member = ProgramCommand(7, program);
  with_member.member = 42;
  EXPECT_EQ(Apply(with_member).code, ResultCode::kFieldInvalid);

  const CommandResult earned = Apply(Purchase(8, 42, 10'000));
  EXPECT_EQ(earned.code, ResultCode::kOk);
  EXPECT_EQ(earned.points, 100);
  auto history = ledger_->History({kChain, 42}, "", 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->entries.size(), 2u);
  EXPECT_EQ(history->entries[0].program_version, 2u) << "the version in force";
}

TEST_F(LoyaltyTest, PurchasePointsRoundDownAndCampaignsStackOnTheBase) {
  Program program;
  program.rate_points = 1;
  program.rate_minor = 100;
  // A: automatic ×2 for November; B: a bonus of 50 when named, November too.
  program.campaigns = {Campaign{11, Date(2026, 11, 1), Date(2026, 12, 1), 2000, 0, 0, true},
                       Campaign{12, Date(2026, 11, 1), Date(2026, 12, 1), 0, 50, 0, false}};
  SetProgram(1, program);

  now_ = Date(2026, 11, 20);
  const CommandResult november = Apply(Purchase(2, 42, 12'345, {12}));
  EXPECT_EQ(november.points, 296) << "123 base + 123 (A) + 50 (B)";
  auto history = ledger_->History({kChain, 42}, "", 1);
  ASSERT_TRUE(history.ok());
  const HistoryEntry& entry = history->entries.front();
  EXPECT_EQ(entry.base_points, 123);
  EXPECT_EQ(entry.shares, (std::vector<CampaignShare>{{11, 123}, {12, 50}}));

  EXPECT_EQ(Apply(Purchase(3, 42, 12'345)).points, 246) << "B is not named: base and A only";
  EXPECT_EQ(Apply(Purchase(4, 42, 99, {12, 77})).points, 50) << "base 0, A 0, B 50; 77 is unknown and adds nothing";

  now_ = Date(2026, 12, 1);
  EXPECT_EQ(Apply(Purchase(5, 42, 12'345, {12})).points, 123) << "both windows are over";
  EXPECT_EQ(Apply(Purchase(6, 42, 50)).points, 0) << "less than one point";
  EXPECT_EQ(BalanceOf(42).points, 296 + 246 + 50 + 123);

  Command no_order = Purchase(7, 42, 100);
  no_order.order_reference = 0;
  EXPECT_EQ(Apply(no_order).code, ResultCode::kFieldInvalid);
  Command repeated = Purchase(8, 42, 100, {12, 12});
  EXPECT_EQ(Apply(repeated).code, ResultCode::kFieldInvalid);
  Command with_points = Purchase(9, 42, 100);
  with_points.points = 5;
  EXPECT_EQ(Apply(with_points).code, ResultCode::kAmountInvalid);
}

TEST_F(LoyaltyTest, PurchaseTooLargeForSixtyThreeBitsIsOverflow) {
  Program program;
  program.rate_points = kRateMax;
  SetProgram(1, program);
  const CommandResult result = Apply(Purchase(2, 42, std::numeric_limits<std::uint64_t>::max()));
  EXPECT_EQ(result.code, ResultCode::kOverflow);
  EXPECT_EQ(BalanceOf(42).points, 0);
}

TEST_F(LoyaltyTest, TiersFollowQualifyingPointsInTheWindowAndMultiplyTheBase) {
  Program program;
  program.rate_minor = 100;
  program.tier_window_days = 30;
  program.tier_keep_days = 10;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 1000, 1500}, Tier{"gold", 5000, 2000}};
  // Silver and above only: a bonus of 10.
  program.campaigns = {Campaign{21, Date(2026, 1, 1), Date(2027, 1, 1), 0, 10, 1, true}};
  SetProgram(1, program);

  now_ = Date(2026, 11, 1);
  EXPECT_EQ(Apply(Purchase(2, 42, 60'000)).points, 600) << "member tier: base only";
  MemberStatus status = StatusOf(42);
  EXPECT_EQ(status.tier_name, "member");
  EXPECT_EQ(status.qualifying_points, 600);
  EXPECT_EQ(status.points_to_next_tier, 400);
  EXPECT_EQ(status.tier_lapses_at_us, 0u);

  now_ = Date(2026, 11, 5);
  EXPECT_EQ(Apply(Purchase(3, 42, 50'000)).points, 500) << "still member when it is bought";
  status = StatusOf(42);
  EXPECT_EQ(status.tier_name, "silver");
  EXPECT_EQ(status.qualifying_points, 1100);
  EXPECT_EQ(status.points_to_next_tier, 3900);
  // The 11-01 purchase leaves the window on 12-01: qualifying drops to 500
  // then; silver is kept 10 more days.
  EXPECT_EQ(status.tier_lapses_at_us, Date(2026, 12, 11));

  now_ = Date(2026, 11, 6);
  const CommandResult silver = Apply(Purchase(4, 42, 10'001));
  EXPECT_EQ(silver.points, 100 + 50 + 10) << "base 100, silver ×1.5 adds 50, the silver campaign 10";
  auto history = ledger_->History({kChain, 42}, "", 1);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->entries.front().shares, (std::vector<CampaignShare>{{0, 50}, {21, 10}}))
      << "campaign 0 is the tier's share";
  EXPECT_EQ(StatusOf(42).qualifying_points, 1200) << "only base points qualify";

  // Kept until the last microsecond before it lapses, gone at that moment.
  now_ = Date(2026, 12, 11) - 1;
  EXPECT_EQ(StatusOf(42).tier_name, "silver");
  now_ = Date(2026, 12, 11);
  EXPECT_EQ(StatusOf(42).tier_name, "member");

  // After the window and the keep period the tier is gone.
  now_ = Date(2026, 12, 15);
  status = StatusOf(42);
  EXPECT_EQ(status.tier_name, "member");
  EXPECT_EQ(status.qualifying_points, 0);

  // A new purchase qualifies again; returning it takes the tier back.
  now_ = Date(2026, 12, 20);
  EXPECT_EQ(Apply(Purchase(5, 42, 100'000)).points, 1000);
  EXPECT_EQ(StatusOf(42).tier_name, "silver");
  const CommandResult returned = Apply(Reverse(6, kChain, 42, 1000, 5));
  EXPECT_EQ(returned.code, ResultCode::kOk);
  status = StatusOf(42);
  EXPECT_EQ(status.qualifying_points, 0) << "a return takes its qualifying points back";
  EXPECT_EQ(status.tier_name, "member");
}

TEST_F(LoyaltyTest, LotsArePendingThenSpentEarliestExpiringFirst) {
  Program program;
  program.pending_days = 14;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 365;
  SetProgram(1, program);

  now_ = Date(2026, 1, 1);
  Apply(Purchase(2, 42, 100));  // lot A: spendable 01-15, expires 2027-01-01
  now_ = Date(2026, 2, 1);
  Apply(Earn(3, kChain, 42, 50));  // lot B: spendable at once, expires 2027-02-01
  Apply(Purchase(4, 42, 70));      // lot C: spendable 02-15, expires 2027-02-01
  Balance balance = BalanceOf(42);
  EXPECT_EQ(balance.points, 220);
  EXPECT_EQ(balance.spendable, 150);
  EXPECT_EQ(balance.pending, 70);
  EXPECT_EQ(Apply(Redeem(5, kChain, 42, 151)).code, ResultCode::kInsufficientPoints) << "pending is not spendable";

  EXPECT_EQ(Apply(Redeem(6, kChain, 42, 120)).code, ResultCode::kOk) << "A (100) first, then 20 of B";
  MemberStatus status = StatusOf(42);
  ASSERT_EQ(status.lots.size(), 2u);
  EXPECT_EQ(status.lots[0], (LotInfo{30, 3, Date(2026, 2, 1), Date(2027, 2, 1)}));
  EXPECT_EQ(status.lots[1], (LotInfo{70, 4, Date(2026, 2, 15), Date(2027, 2, 1)})) << "same expiry: older first";

  now_ = Date(2026, 2, 15);
  balance = BalanceOf(42);
  EXPECT_EQ(balance.spendable, 100);
  EXPECT_EQ(balance.pending, 0);
}

TEST_F(LoyaltyTest, PastDateLotsCannotBeSpentAndTheSweepWritesThemOff) {
  Program program;
  program.expiry = ExpiryKind::kMonthEnd;
  program.expiry_value = 0;
  SetProgram(1, program);

  now_ = Date(2026, 1, 10);
  Apply(Earn(2, kChain, 42, 100));  // expires 2026-02-01
  now_ = Date(2026, 2, 3);
  Apply(Earn(3, kChain, 42, 40));  // expires 2026-03-01
  now_ = Date(2026, 2, 5);
  EXPECT_EQ(Apply(Redeem(4, kChain, 42, 120)).code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(Apply(Redeem(5, kChain, 42, 30)).code, ResultCode::kOk);
  Balance balance = BalanceOf(42);
  EXPECT_EQ(balance.points, 110) << "past date, but not yet written off";
  EXPECT_EQ(balance.spendable, 10);
  EXPECT_EQ(StatusOf(42, Date(2026, 3, 2)).expiring_points, 10);

  now_ = Date(2026, 2, 6);
  Apply(Earn(6, kChain, 43, 5));  // a member with nothing past date
  const CommandResult sweep = Apply(Sweep(7));
  EXPECT_EQ(sweep.code, ResultCode::kOk);
  EXPECT_EQ(sweep.points, 1) << "one member written";
  EXPECT_EQ(BalanceOf(42).points, 10);
  auto history = ledger_->History({kChain, 42}, "", 1);
  ASSERT_TRUE(history.ok());
  const HistoryEntry& expiry = history->entries.front();
  EXPECT_EQ(expiry.command.kind, CommandKind::kExpiry);
  EXPECT_EQ(expiry.command.id, Id(7)) << "it carries the sweep's id";
  EXPECT_EQ(expiry.points, 100);
  EXPECT_EQ(expiry.balance_after, 10);
  EXPECT_EQ(Apply(Sweep(8)).points, 0) << "nothing left to write";
  EXPECT_EQ(Apply(Sweep(7)), sweep) << "a retried sweep returns its original result";
  auto found = ledger_->Find(kChain, Id(7));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->points, 1) << "the id finds the sweep, not its member events";
}

TEST_F(LoyaltyTest, SweepsWriteAtMostTheirLimitAndThenTheRest) {
  Program program;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 1;
  SetProgram(1, program);
  for (std::uint64_t member = 1; member <= 5; ++member) Apply(Earn(10 + member, kChain, member, 10));
  now_ += 2 * kDay;
  EXPECT_EQ(Apply(Sweep(20, 2)).points, 2);
  EXPECT_EQ(Apply(Sweep(21, 2)).points, 2);
  EXPECT_EQ(Apply(Sweep(22, 2)).points, 1);
  EXPECT_EQ(Apply(Sweep(23, 2)).points, 0);
  for (std::uint64_t member = 1; member <= 5; ++member) EXPECT_EQ(BalanceOf(member).points, 0);
  Command no_limit = Sweep(24, 0);
  EXPECT_EQ(Apply(no_limit).code, ResultCode::kFieldInvalid);
}

TEST_F(LoyaltyTest, HoldsReserveCaptureReleaseAndExpire) {
  Apply(Earn(1, kChain, 42, 500));
  EXPECT_EQ(Apply(Hold(2, 42, 300, 900)).code, ResultCode::kOk);
  Balance balance = BalanceOf(42);
  EXPECT_EQ(balance.spendable, 200);
  EXPECT_EQ(balance.held, 300);
  EXPECT_EQ(balance.points, 500);
  EXPECT_EQ(Apply(Redeem(3, kChain, 42, 201)).code, ResultCode::kInsufficientPoints) << "held points are not spent twice";

  const CommandResult captured = Apply(Settle(CommandKind::kCapture, 4, 42, 250, 2));
  EXPECT_EQ(captured.code, ResultCode::kOk);
  EXPECT_EQ(captured.balance, 250);
  balance = BalanceOf(42);
  EXPECT_EQ(balance.spendable, 250) << "the 50 not captured came back";
  EXPECT_EQ(balance.held, 0);
  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 5, 42, 1, 2)).code, ResultCode::kHoldClosed);
  EXPECT_EQ(Apply(Settle(CommandKind::kRelease, 6, 42, 0, 2)).code, ResultCode::kHoldClosed);
  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 4, 42, 250, 2)), captured) << "a retry is the original";

  Apply(Hold(7, 42, 100, 60));
  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 8, 42, 101, 7)).code, ResultCode::kExceedsHold);
  EXPECT_EQ(Apply(Settle(CommandKind::kRelease, 9, 42, 0, 7)).points, 100);
  EXPECT_EQ(BalanceOf(42).spendable, 250);

  Apply(Hold(10, 42, 200, 60));
  EXPECT_EQ(BalanceOf(42).held, 200);
  now_ += 60'000'000;  // the hold's time is up: it released itself
  balance = BalanceOf(42);
  EXPECT_EQ(balance.held, 0);
  EXPECT_EQ(balance.spendable, 250);
  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 11, 42, 10, 10)).code, ResultCode::kHoldClosed);

  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 12, 42, 10, 1)).code, ResultCode::kUnknownReference)
      << "an earn is not a hold";
  EXPECT_EQ(Apply(Settle(CommandKind::kCapture, 13, 43, 10, 10)).code, ResultCode::kUnknownReference)
      << "another member's hold";
  EXPECT_EQ(Apply(Hold(14, 42, 10, 0)).code, ResultCode::kFieldInvalid);
  EXPECT_EQ(Apply(Hold(15, 42, 10, 30 * 86'400 + 1)).code, ResultCode::kFieldInvalid);
  EXPECT_EQ(Apply(Reverse(16, kChain, 42, 10, 10)).code, ResultCode::kNotReversible);
}

TEST_F(LoyaltyTest, HeldPointsKeepTheirLotsExpiry) {
  Program program;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 10;
  SetProgram(1, program);
  Apply(Earn(2, kChain, 42, 100));
  Apply(Hold(3, 42, 100, 30 * 86'400));
  now_ += 11 * kDay;  // the lot is past date while held
  EXPECT_EQ(Apply(Settle(CommandKind::kRelease, 4, 42, 0, 3)).points, 100);
  Balance balance = BalanceOf(42);
  EXPECT_EQ(balance.spendable, 0) << "released into a lot that is past date";
  EXPECT_EQ(balance.points, 100);
  EXPECT_EQ(Apply(Sweep(5)).points, 1);
  EXPECT_EQ(BalanceOf(42).points, 0);
}

TEST_F(LoyaltyTest, ReturnUnderClawBackTakesOnlyWhatIsLeft) {
  Program program;
  program.return_policy = ReturnPolicy::kClawBack;
  SetProgram(1, program);
  Apply(Purchase(2, 42, 100));
  Apply(Redeem(3, kChain, 42, 70));
  const CommandResult returned = Apply(Reverse(4, kChain, 42, 100, 2));
  EXPECT_EQ(returned.code, ResultCode::kOk);
  EXPECT_EQ(returned.points, 30);
  EXPECT_EQ(returned.balance, 0);
  EXPECT_EQ(Apply(Reverse(5, kChain, 42, 1, 2)).code, ResultCode::kReversalExceedsOriginal);
  Apply(Earn(6, kChain, 42, 100));
  EXPECT_EQ(BalanceOf(42).points, 100) << "nothing is owed";
}

TEST_F(LoyaltyTest, ReturnUnderAllowNegativeOwesTheRestAndLaterPointsRepayIt) {
  Program program;
  program.return_policy = ReturnPolicy::kAllowNegative;
  SetProgram(1, program);
  Apply(Purchase(2, 42, 100));
  Apply(Redeem(3, kChain, 42, 70));
  const CommandResult returned = Apply(Reverse(4, kChain, 42, 100, 2));
  EXPECT_EQ(returned.points, 100);
  EXPECT_EQ(returned.balance, -70);
  EXPECT_EQ(StatusOf(42).debt, 70);
  EXPECT_EQ(Apply(Redeem(5, kChain, 42, 1)).code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(Apply(Earn(6, kChain, 42, 100)).balance, 30);
  const MemberStatus status = StatusOf(42);
  EXPECT_EQ(status.debt, 0);
  ASSERT_EQ(status.lots.size(), 1u);
  EXPECT_EQ(status.lots[0].points, 30) << "the earn repaid 70 and made a lot of 30";
}

TEST_F(LoyaltyTest, ReturnTakesThePurchasesOwnLotFirstThenOtherPoints) {
  Program program;
  program.pending_days = 30;
  SetProgram(1, program);
  Apply(Earn(2, kChain, 42, 50));   // live
  Apply(Purchase(3, 42, 100));      // pending
  Apply(Purchase(4, 42, 20));       // pending
  Apply(Redeem(5, kChain, 42, 50));
  // The return of purchase 3 (100): its own pending lot gives all 100.
  EXPECT_EQ(Apply(Reverse(6, kChain, 42, 100, 3)).points, 100);
  const MemberStatus status = StatusOf(42);
  ASSERT_EQ(status.lots.size(), 1u);
  EXPECT_EQ(status.lots[0].sequence, 4u);
  // A reversed redeem comes back as a new lot, spendable at once.
  EXPECT_EQ(Apply(Reverse(7, kChain, 42, 50, 5)).points, 50);
  EXPECT_EQ(BalanceOf(42).spendable, 50);
}

TEST_F(LoyaltyTest, TransfersMoveLotsWithTheirExpiry) {
  Program program;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 100;
  SetProgram(1, program);
  const std::uint64_t start = now_;
  Apply(Earn(2, kChain, 42, 60));
  now_ += 10 * kDay;
  Apply(Earn(3, kChain, 42, 60));
  Apply(Earn(4, kChain, 43, 5));
  const CommandResult moved = Apply(Transfer(5, 42, 43, 100));
  EXPECT_EQ(moved.code, ResultCode::kOk);
  EXPECT_EQ(moved.balance, 20);
  const MemberStatus receiver = StatusOf(43);
  EXPECT_EQ(receiver.balance.points, 105);
  ASSERT_EQ(receiver.lots.size(), 3u);
  EXPECT_EQ(receiver.lots[0], (LotInfo{60, 5, now_, start + 100 * kDay})) << "the older lot's expiry";
  EXPECT_EQ(receiver.lots[1], (LotInfo{5, 4, now_, start + 110 * kDay})) << "same expiry: older first";
  EXPECT_EQ(receiver.lots[2], (LotInfo{40, 5, now_, start + 110 * kDay}));

  auto history = ledger_->History({kChain, 43}, "", 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->entries.size(), 2u);
  EXPECT_TRUE(history->entries[0].incoming);
  EXPECT_EQ(history->entries[0].balance_after, 105);
  EXPECT_EQ(history->entries[1].command.id, Id(4));

  EXPECT_EQ(Apply(Transfer(6, 42, 43, 21)).code, ResultCode::kInsufficientPoints);
  EXPECT_EQ(Apply(Transfer(7, 42, 42, 1)).code, ResultCode::kFieldInvalid) << "to oneself";
  EXPECT_EQ(Apply(Reverse(8, kChain, 42, 1, 5)).code, ResultCode::kNotReversible);
  EXPECT_EQ(ledger_->History({kChain, 43}, "", 10)->entries.size(), 2u) << "a refused transfer is not the receiver's";
}

TEST_F(LoyaltyTest, AReferralIsAwardedOncePerReferredMember) {
  EXPECT_EQ(Apply(Referral(1, 42, 99)).code, ResultCode::kProgramMissing);
  Program program;
  program.referral_points = 500;
  SetProgram(2, program);
  EXPECT_EQ(Apply(Referral(3, 42, 99)).points, 500);
  EXPECT_EQ(Apply(Referral(3, 42, 99)).points, 500) << "a retry";
  EXPECT_EQ(Apply(Referral(4, 42, 99)).code, ResultCode::kAlreadyReferred);
  EXPECT_EQ(Apply(Referral(5, 43, 99)).code, ResultCode::kAlreadyReferred) << "by another referrer too";
  EXPECT_EQ(Apply(Referral(6, 42, 98)).points, 500);
  EXPECT_EQ(BalanceOf(42).points, 1000);
  EXPECT_EQ(Apply(Referral(7, 42, 42)).code, ResultCode::kFieldInvalid);
}

// Every member of a segment, over all its pages of `limit` members.
std::vector<SegmentMember> AllPages(const Ledger& ledger, const SegmentQuery& query, std::size_t limit, int* pages) {
  std::vector<SegmentMember> members;
  std::string cursor;
  *pages = 0;
  do {
    auto page = ledger.FindMembers(query, cursor, limit);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    EXPECT_LE(page->members.size(), limit);
    members.insert(members.end(), page->members.begin(), page->members.end());
    cursor = page->next_cursor;
    ++*pages;
  } while (!cursor.empty());
  std::sort(members.begin(), members.end(),
            [](const SegmentMember& a, const SegmentMember& b) { return a.member < b.member; });
  return members;
}

TEST_F(LoyaltyTest, SegmentsFindInactiveNearTierAndExpiringMembersPageByPage) {
  Program program;
  program.rate_minor = 100;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 30;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 1000, 1500}};
  SetProgram(1, program);
  const std::uint64_t start = now_;
  Apply(Purchase(2, 1, 50'000));  // member 1: 500 qualifying, bought 120 days before the queries
  now_ = start + 100 * kDay;
  Apply(Purchase(3, 2, 95'000));  // member 2: 950 qualifying, 50 from silver
  now_ = start + 115 * kDay;
  Apply(Earn(4, kChain, 3, 70));  // member 3: never bought
  Apply(Earn(5, kChain + 1, 1, 70));  // another chain's member
  now_ = start + 120 * kDay;

  int pages = 0;
  SegmentQuery inactive{kChain, SegmentKind::kInactive, 60, -1, 0, 0};
  std::vector<SegmentMember> found = AllPages(*ledger_, inactive, 1, &pages);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0], (SegmentMember{1, 500, 0, static_cast<std::int64_t>(start)}));
  EXPECT_EQ(found[1], (SegmentMember{3, 70, 0, 0})) << "never bought: inactive";
  EXPECT_GE(pages, 2) << "a page holds at most one member here";
  inactive.tier = 1;
  EXPECT_TRUE(AllPages(*ledger_, inactive, 10, &pages).empty()) << "nobody inactive is silver";

  const SegmentQuery near{kChain, SegmentKind::kNearNextTier, 0, -1, 100, 0};
  found = AllPages(*ledger_, near, 10, &pages);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], (SegmentMember{2, 950, 0, 50}));

  const SegmentQuery expiring{kChain, SegmentKind::kExpiring, 0, -1, 0, start + 140 * kDay};
  found = AllPages(*ledger_, expiring, 10, &pages);
  ASSERT_EQ(found.size(), 1u) << "member 1's lot is already past date; member 3's expires later";
  EXPECT_EQ(found[0], (SegmentMember{2, 950, 0, 950}));

  // Cursors belong to their query, and survive members joining.
  inactive.tier = -1;
  auto first = ledger_->FindMembers(inactive, "", 1);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_cursor.empty());
  EXPECT_EQ(ledger_->FindMembers(near, first->next_cursor, 1).status().code(), Status::Code::kInvalidArgument);
  std::string damaged = first->next_cursor;
  damaged[0] = damaged[0] == '0' ? '1' : '0';
  EXPECT_EQ(ledger_->FindMembers(inactive, damaged, 1).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->FindMembers(inactive, "", 0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_->FindMembers(SegmentQuery{kChain, SegmentKind::kNearNextTier, 0, -1, 0, 0}, "", 1).status().code(),
            Status::Code::kInvalidArgument);
  // 60,000 members of another chain join mid-scan (the member index grows
  // past its first 65,536 slots), and one of this chain, inactive: the scan
  // goes on where it stopped and lists the newcomer once at the end.
  std::uint64_t id = 100;
  for (std::uint64_t member = 0; member < 60'000;) {
    std::vector<Command> many;
    for (; member < 60'000 && many.size() < kBatchCommandsMax; ++member) many.push_back(Earn(id++, kChain + 2, member, 1));
    ASSERT_TRUE(ledger_->Apply(many).ok());
  }
  Apply(Earn(id++, kChain, 4, 5));
  std::vector<SegmentMember> resumed = first->members;
  std::uint64_t scanned = first->scanned;
  for (std::string cursor = first->next_cursor; !cursor.empty();) {
    auto page = ledger_->FindMembers(inactive, cursor, 1);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    resumed.insert(resumed.end(), page->members.begin(), page->members.end());
    scanned += page->scanned;
    cursor = page->next_cursor;
  }
  EXPECT_EQ(scanned, 4u) << "the chain's four members, each once; no other chain's";
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed[0], (SegmentMember{1, 500, 0, static_cast<std::int64_t>(start)}));
  EXPECT_EQ(resumed[1], (SegmentMember{3, 70, 0, 0}));
  EXPECT_EQ(resumed[2], (SegmentMember{4, 5, 0, 0})) << "joined during the scan";
}

TEST_F(LoyaltyTest, CampaignPointsLaterRedeemedAreAttributedInProportion) {
  Program program;
  program.rate_minor = 100;
  program.campaigns = {Campaign{41, 0, ~std::uint64_t{0}, 0, 50, 0, true},
                       Campaign{42, 0, ~std::uint64_t{0}, 1500, 0, 0, true}};
  SetProgram(1, program);
  const std::uint64_t start = now_;
  // Base 100, campaign 41 adds 50, campaign 42 (×1.5) adds 50: a lot of 200.
  ASSERT_EQ(Apply(Purchase(2, 42, 10'000)).points, 200);
  Apply(Earn(3, kChain, 42, 1000));  // a later lot, spent after the purchase's (same expiry: older first)
  now_ += kDay;
  Apply(Redeem(4, kChain, 42, 60));  // 60 of the purchase's 200: 15 of each campaign's 50
  Apply(Hold(5, 42, 90, 3600));      // the next 90 held …
  Apply(Settle(CommandKind::kCapture, 6, 42, 70, 5));  // … 70 captured: taken 130 → 32 (floor 130 × 50 / 200)
  const std::uint64_t end = now_ + kDay;
  now_ += 2 * kDay;
  Apply(Redeem(7, kChain, 42, 70));  // after the period: not counted
  ledger_.reset();
  auto report = Liability(directory_.path(), kChain, start, end);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->issued_by_campaign, (std::vector<std::pair<std::uint64_t, std::int64_t>>{{41, 50}, {42, 50}}));
  EXPECT_EQ(report->redeemed_by_campaign, (std::vector<std::pair<std::uint64_t, std::int64_t>>{{41, 32}, {42, 32}}));
  EXPECT_EQ(report->redeemed, 130);
  Reopen();
}

// A random month of a program's life: every kind of command, time moving
// on, sweeps now and then. The liability of any period must reconcile, the
// periods must chain (one's end is the next one's start), and the trial
// balance at any moment must equal the balances the ledger had then.
TEST_F(LoyaltyTest, LiabilityReconcilesAndTrialBalancesMatchOnARandomLedger) {
  Program program;
  program.rate_minor = 10;
  program.pending_days = 2;
  program.expiry = ExpiryKind::kDays;
  program.expiry_value = 7;
  program.return_policy = ReturnPolicy::kAllowNegative;
  program.referral_points = 25;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 500, 1500}};
  program.campaigns = {Campaign{31, 0, ~std::uint64_t{0}, 0, 5, 0, false}};
  SetProgram(1, program);
  std::mt19937_64 random(11);
  auto pick = [&](std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random);
  };
  std::vector<std::pair<std::uint64_t, std::uint64_t>> earned, redeemed, holds;  // (command id, member)
  std::vector<std::pair<std::uint64_t, std::map<std::uint64_t, std::int64_t>>> snapshots;  // time → balances
  const std::uint64_t start = now_;
  std::uint64_t id = 100;
  std::map<std::pair<CommandKind, ResultCode>, int> outcomes;
  for (int step = 0; step < 3000; ++step) {
    if (pick(0, 20) == 0) {
      std::map<std::uint64_t, std::int64_t> balances;
      ledger_->ForEachMember([&](MemberKey key, const Balance& balance) {
        if (key.chain == kChain) balances[key.member] = balance.points;
      });
      snapshots.emplace_back(now_ + 1, std::move(balances));  // after every event so far
      now_ += pick(1, 2 * kDay);
    }
    const std::uint64_t member = pick(1, 30);
    Command command;
    switch (pick(0, 9)) {
      case 0: command = Earn(++id, kChain, member, static_cast<std::int64_t>(pick(1, 100))); break;
      case 1: case 2: command = Purchase(++id, member, pick(1, 5000), pick(0, 1) ? std::vector<std::uint64_t>{31} : std::vector<std::uint64_t>{});
        command.store_reference = pick(0, 3);
        break;
      case 3: command = Redeem(++id, kChain, member, static_cast<std::int64_t>(pick(1, 150))); break;
      case 4: command = Hold(++id, member, static_cast<std::int64_t>(pick(40, 80)), static_cast<std::uint32_t>(pick(86'400, 5 * 86'400))); break;
      case 5: {
        if (holds.empty()) continue;
        const auto [hold, holder] = holds[pick(0, holds.size() - 1)];
        command = Settle(pick(0, 1) ? CommandKind::kCapture : CommandKind::kRelease, ++id, holder, 0, hold);
        if (command.kind == CommandKind::kCapture) command.points = static_cast<std::int64_t>(pick(1, 40));
        break;
      }
      case 6: {
        const auto& pool = pick(0, 2) ? earned : redeemed;
        if (pool.empty()) continue;
        const auto [target, owner] = pool[pick(0, pool.size() - 1)];
        command = Reverse(++id, kChain, owner, static_cast<std::int64_t>(pick(1, 60)), target);
        break;
      }
      case 7: command = Transfer(++id, member, pick(1, 30), static_cast<std::int64_t>(pick(1, 50))); break;
      case 8: command = Referral(++id, member, pick(31, 60)); break;
      default: command = Sweep(++id); break;
    }
    if (command.kind == CommandKind::kTransfer && command.counterparty == command.member) continue;
    const ResultCode code = Apply(command).code;
    ++outcomes[{command.kind, code}];
    if (code != ResultCode::kOk) continue;
    if (command.kind == CommandKind::kEarn || command.kind == CommandKind::kEarnPurchase) earned.emplace_back(id, member);
    if (command.kind == CommandKind::kRedeem) redeemed.emplace_back(id, member);
    if (command.kind == CommandKind::kHold) holds.emplace_back(id, member);
  }
  // The scenario must reach what the reports classify, or they prove less than they claim.
  for (CommandKind kind : {CommandKind::kEarn, CommandKind::kEarnPurchase, CommandKind::kRedeem, CommandKind::kHold,
                           CommandKind::kCapture, CommandKind::kRelease, CommandKind::kReverse, CommandKind::kTransfer,
                           CommandKind::kReferral, CommandKind::kExpire}) {
    EXPECT_GT((outcomes[{kind, ResultCode::kOk}]), 5) << CommandKindName(kind) << " rarely applied";
  }
  const std::uint64_t finish = now_ + 1;
  ledger_.reset();  // the reports read the directory, as auditors do

  // Periods of 5 days chain into each other and all reconcile.
  std::int64_t previous_end = 0;
  std::int64_t expired = 0;
  for (std::uint64_t from = start; from < finish; from += 5 * kDay) {
    auto report = Liability(directory_.path(), kChain, from, std::min(finish, from + 5 * kDay));
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->reconciled);
    EXPECT_EQ(report->start, previous_end) << "each period starts where the last ended";
    previous_end = report->end;
    expired += report->expired;
  }
  auto whole = Liability(directory_.path(), kChain, start, finish);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->end, previous_end);
  EXPECT_EQ(whole->expired, expired);
  EXPECT_GT(whole->issued, 0);
  EXPECT_GT(whole->redeemed, 0);
  EXPECT_GT(whole->expired, 0) << "the scenario must reach expiry";
  EXPECT_GT(whole->returned, 0);
  EXPECT_GT(whole->transferred, 0);
  std::int64_t by_store = 0;
  for (const auto& [store, points] : whole->issued_by_store) by_store += points;
  EXPECT_EQ(by_store, whole->issued);
  ASSERT_FALSE(whole->issued_by_campaign.empty());
  ASSERT_FALSE(whole->redeemed_by_campaign.empty());
  for (const auto& [campaign, points] : whole->redeemed_by_campaign) {
    const auto issued = std::find_if(whole->issued_by_campaign.begin(), whole->issued_by_campaign.end(),
                                     [&](const auto& entry) { return entry.first == campaign; });
    ASSERT_NE(issued, whole->issued_by_campaign.end());
    EXPECT_LE(points, issued->second) << "campaign " << campaign << ": more redeemed than issued";
    EXPECT_GE(points, 0);
  }

  // Trial balances at every snapshot equal what the ledger held then.
  ASSERT_GE(snapshots.size(), 10u);
  for (const auto& [at, balances] : snapshots) {
    auto trial = BalancesAsOf(directory_.path(), kChain, at);
    ASSERT_TRUE(trial.ok());
    std::map<std::uint64_t, std::int64_t> got;
    for (const ReplayMember& member : *trial) got[member.key.member] = member.balance;
    EXPECT_EQ(got, balances) << "as of " << at;
  }
  EXPECT_EQ(Liability(directory_.path(), kChain, finish, start).status().code(), Status::Code::kInvalidArgument);
  Reopen();  // for the scenario's closing checks
}

}  // namespace
}  // namespace tally

// EngineWorker: where rounds run. A small request that finds the engine idle
// is run by the I/O thread (here: the test, running what was posted to it
// when it chooses); anything larger, or arriving while a round runs, goes to
// the worker's thread. Replies keep arrival order either way.
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "engine_worker.h"
#include "tally/protocol.h"
#include "../engine/test_util.h"

namespace tally::server {
namespace {

using testing::Earn;

// The replies given so far, in the order given.
class Answers {
 public:
  EngineWorker::Completion Completion() {
    return [this](Reply reply) {
      std::lock_guard lock(mutex_);
      replies_.push_back(std::move(reply));
      given_.notify_all();
    };
  }

  // The balances the first `count` replies carry, once they are given (the
  // last result's balance of each apply reply).
  std::vector<std::int64_t> Balances(std::size_t count) {
    std::unique_lock lock(mutex_);
    given_.wait(lock, [&] { return replies_.size() >= count; });
    std::vector<std::int64_t> balances;
    for (std::size_t index = 0; index < count; ++index) {
      std::vector<CommandResult> results;
      EXPECT_EQ(replies_[index].operation, wire::Operation::kApply);
      EXPECT_TRUE(wire::DecodeApplyResponse(replies_[index].body, &results).ok());
      balances.push_back(results.empty() ? -1 : results.back().balance);
    }
    return balances;
  }

  // The operation of the first reply, once given.
  wire::Operation First() {
    std::unique_lock lock(mutex_);
    given_.wait(lock, [&] { return !replies_.empty(); });
    return replies_.front().operation;
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return replies_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable given_;
  std::vector<Reply> replies_;
};

class EngineWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenOptions options;
    options.queries_answer_early = true;  // as tallyd opens it
    auto ledger = Ledger::Open(directory_.path(), options);
    ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
    ledger_ = std::move(ledger.value());
  }

  // What the worker posts to its I/O thread waits here until RunPosted().
  EngineWorker::PostToIoThread PostHere() {
    return [this](std::function<void()> round) {
      std::lock_guard lock(posted_mutex_);
      posted_.push_back(std::move(round));
    };
  }

  std::size_t Posted() {
    std::lock_guard lock(posted_mutex_);
    return posted_.size();
  }

  // Runs what is posted now (what that posts waits for the next call).
  void RunPostedOnce() {
    std::vector<std::function<void()>> posted;
    {
      std::lock_guard lock(posted_mutex_);
      posted.swap(posted_);
    }
    for (auto& round : posted) round();
  }

  // Runs what is posted, and what that posts, until nothing is left.
  void RunPosted() {
    while (Posted() != 0) RunPostedOnce();
  }

  static void ExpectRounds(const EngineWorker& worker, std::uint64_t on_worker, std::uint64_t on_io_thread) {
    const EngineWorker::Rounds rounds = worker.rounds();
    EXPECT_EQ(rounds.worker, on_worker) << "rounds on the worker's thread";
    EXPECT_EQ(rounds.io_thread, on_io_thread) << "rounds on the I/O thread";
  }

  // `count` earns of 10 points each to member 7, ids from `first`.
  static std::vector<Command> Earns(std::uint64_t first, std::size_t count) {
    std::vector<Command> commands;
    for (std::size_t index = 0; index < count; ++index) commands.push_back(Earn(first + index, 1, 7, 10));
    return commands;
  }

  testing::TemporaryDirectory directory_;
  std::unique_ptr<Ledger> ledger_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
};

TEST_F(EngineWorkerTest, SmallRequestsOnAnIdleEngineAreOneRoundOnTheIoThread) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(Earns(1, 1), answers.Completion());
  worker.Submit(Earns(2, 2), answers.Completion());
  worker.Submit(Earns(4, 1), answers.Completion());
  EXPECT_EQ(Posted(), 1u) << "one round for the three";
  EXPECT_EQ(answers.size(), 0u) << "nothing runs before the I/O thread runs the round";
  RunPosted();
  EXPECT_EQ(answers.Balances(3), (std::vector<std::int64_t>{10, 30, 40}));
  ExpectRounds(worker, 0u, 1u);
}

// A request read while the round waits in the I/O thread's queue (its read
// handler queued there behind the round) joins the round: the round goes
// behind what is queued once before it runs, and both share its fsync.
TEST_F(EngineWorkerTest, ARequestReadWhileTheRoundWaitsJoinsIt) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(Earns(1, 1), answers.Completion());
  ASSERT_EQ(Posted(), 1u);
  RunPostedOnce();  // the round's first pass
  EXPECT_EQ(answers.size(), 0u) << "the round has not run yet";
  ASSERT_EQ(Posted(), 1u) << "it went behind what was queued";
  worker.Submit(Earns(2, 1), answers.Completion());  // read meanwhile
  EXPECT_EQ(Posted(), 1u) << "joins the round, posts nothing";
  RunPostedOnce();
  EXPECT_EQ(answers.size(), 2u) << "both answered by the round";
  EXPECT_EQ(answers.Balances(2), (std::vector<std::int64_t>{10, 20}));
  ExpectRounds(worker, 0u, 1u);
}

// In a round the I/O thread runs, replies given before the round writes
// to the disk (a query answered at once) are sent before that write: the
// hook that sends what the server holds runs first.
TEST_F(EngineWorkerTest, RepliesHeldInARoundAreSentBeforeItWrites) {
  Answers answers;
  std::vector<std::size_t> given_at_send;  // replies given each time the hook ran
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere(), [&] { given_at_send.push_back(answers.size()); });
  worker.Submit(std::vector<MemberKey>{{1, 7}}, answers.Completion());
  worker.Submit(Earns(1, 1), answers.Completion());
  RunPosted();
  EXPECT_EQ(answers.size(), 2u);
  ASSERT_FALSE(given_at_send.empty()) << "the hook never ran";
  EXPECT_EQ(given_at_send.front(), 1u) << "the query's reply, before the earn's write";
  ExpectRounds(worker, 0u, 1u);
}

// A small round's group is written by the thread that runs the round when
// no other apply waits behind it — a query behind it does not count (it is
// answered only once what it saw is durable) — so its replies are given on
// that thread, not the log writer's.
TEST_F(EngineWorkerTest, AQueryBehindASmallRoundsAppliesLeavesTheirWriteToTheRound) {
  std::mutex mutex;
  std::vector<std::pair<wire::Operation, std::thread::id>> given;
  auto record = [&](Reply reply) {
    std::lock_guard lock(mutex);
    given.emplace_back(reply.operation, std::this_thread::get_id());
  };
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());  // after what its replies touch
  worker.Submit(Earns(1, 1), record);
  worker.Submit(Earns(2, 1), record);
  worker.Submit(std::vector<MemberKey>{{1, 7}}, record);
  ASSERT_EQ(Posted(), 1u);
  RunPosted();
  std::lock_guard lock(mutex);
  ASSERT_EQ(given.size(), 3u) << "all given before the round returned";
  for (const auto& [operation, thread] : given) EXPECT_EQ(thread, std::this_thread::get_id());
  EXPECT_EQ(given[2].first, wire::Operation::kBalance);
  ExpectRounds(worker, 0u, 1u);
}

// Commands with a query between them in a small round are written
// together at the round's end, with one fsync, on the round's thread; the
// query still answers what came before it, and every reply keeps its place.
TEST_F(EngineWorkerTest, ASmallRoundsCommandsAroundAQueryAreWrittenTogetherAtItsEnd) {
  std::mutex mutex;
  std::vector<std::pair<Reply, std::thread::id>> given;
  auto record = [&](Reply reply) {
    std::lock_guard lock(mutex);
    given.emplace_back(std::move(reply), std::this_thread::get_id());
  };
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());  // after what its replies touch
  worker.Submit(Earns(1, 1), record);
  worker.Submit(std::vector<MemberKey>{{1, 7}}, record);
  worker.Submit(Earns(2, 1), record);
  ASSERT_EQ(Posted(), 1u);
  RunPosted();
  std::lock_guard lock(mutex);
  ASSERT_EQ(given.size(), 3u) << "all given before the round returned";
  for (const auto& [reply, thread] : given) EXPECT_EQ(thread, std::this_thread::get_id()) << "not the log writer's";
  ASSERT_EQ(given[0].first.operation, wire::Operation::kApply);
  ASSERT_EQ(given[1].first.operation, wire::Operation::kBalance);
  ASSERT_EQ(given[2].first.operation, wire::Operation::kApply);
  std::vector<Balance> balances;
  ASSERT_TRUE(wire::DecodeBalanceResponse(given[1].first.body, &balances).ok());
  ASSERT_EQ(balances.size(), 1u);
  EXPECT_EQ(balances[0].points, 10) << "the query sees the earn before it, not the one after";
  std::vector<CommandResult> results;
  ASSERT_TRUE(wire::DecodeApplyResponse(given[2].first.body, &results).ok());
  EXPECT_EQ(results.back().balance, 20);
  ExpectRounds(worker, 0u, 1u);
}

// Requests that do not read members' data are answered at once, and a
// backup waits for the disk itself: the round writes what it holds before
// answering one (a backup behind a held group would wait for it forever).
TEST_F(EngineWorkerTest, ARoundWritesWhatItHoldsBeforeAStatusOrABackup) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<wire::Operation> given;
  auto record = [&](Reply reply) {
    std::lock_guard lock(mutex);
    given.push_back(reply.operation);
    changed.notify_all();
  };
  testing::TemporaryDirectory backups;
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());  // after what its replies touch
  worker.Submit(Earns(1, 1), record);
  worker.Submit(StatusRequest{}, record);
  worker.Submit(Earns(2, 1), record);
  worker.Submit(BackupRequest{backups.path() + "/copy"}, record);  // the round goes to the worker
  RunPosted();
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return given.size() == 4; });
  EXPECT_EQ(given, (std::vector<wire::Operation>{wire::Operation::kApply, wire::Operation::kStatus,
                                                 wire::Operation::kApply, wire::Operation::kBackup}))
      << "each earn durable, and answered, before the request behind it";
}

TEST_F(EngineWorkerTest, ALargeRequestGoesToTheWorker) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(Earns(1, kWriteHereEventsMax + 1), answers.Completion());
  EXPECT_EQ(Posted(), 0u);
  EXPECT_EQ(answers.Balances(1), (std::vector<std::int64_t>{10 * std::int64_t(kWriteHereEventsMax + 1)}));
  ExpectRounds(worker, 1u, 0u);
}

TEST_F(EngineWorkerTest, ARoundThatGrowsPastSmallIsHandedToTheWorkerWhole) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(Earns(1, 1), answers.Completion());
  worker.Submit(Earns(2, 1), answers.Completion());
  ASSERT_EQ(Posted(), 1u);
  // 2 + 63 commands: more than a round on the I/O thread may hold.
  worker.Submit(Earns(3, kWriteHereEventsMax - 1), answers.Completion());
  const std::int64_t last = 10 * std::int64_t(kWriteHereEventsMax + 1);
  EXPECT_EQ(answers.Balances(3), (std::vector<std::int64_t>{10, 20, last}));
  EXPECT_EQ(worker.rounds().worker, 1u) << "the three in one round";
  RunPosted();  // finds the round gone
  EXPECT_EQ(worker.rounds().io_thread, 0u);
  EXPECT_EQ(answers.size(), 3u);
}

TEST_F(EngineWorkerTest, AQueryThatReadsManyEntriesGoesToTheWorker) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(wire::HistoryRequest{MemberKey{1, 7}, 10, {}}, answers.Completion());
  EXPECT_EQ(Posted(), 0u);
  EXPECT_EQ(answers.First(), wire::Operation::kHistory);
  EXPECT_EQ(worker.rounds().worker, 1u);
}

TEST_F(EngineWorkerTest, WithoutAnIoThreadEveryRoundIsTheWorkers) {
  EngineWorker worker(*ledger_, [] { return 0; });
  Answers answers;
  worker.Submit(Earns(1, 1), answers.Completion());
  EXPECT_EQ(answers.Balances(1), (std::vector<std::int64_t>{10}));
  ExpectRounds(worker, 1u, 0u);
}

TEST_F(EngineWorkerTest, StopAnswersARoundTheIoThreadNeverRan) {
  EngineWorker worker(*ledger_, [] { return 0; }, PostHere());
  Answers answers;
  worker.Submit(Earns(1, 1), answers.Completion());
  ASSERT_EQ(Posted(), 1u);
  worker.Stop();  // as when the I/O thread has stopped
  EXPECT_EQ(answers.Balances(1), (std::vector<std::int64_t>{10}));
  EXPECT_EQ(worker.rounds().worker, 1u);
  RunPosted();
  EXPECT_EQ(worker.rounds().io_thread, 0u);
  EXPECT_EQ(answers.size(), 1u);
}

}  // namespace
}  // namespace tally::server

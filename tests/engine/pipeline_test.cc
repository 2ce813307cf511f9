// Group commit in two stages: a group is applied while the write of the one
// before it waits for its fsync. Syncs are held at a gate under RocksDB
// (fillable_file_system.h), so each test knows a write is in progress.
// Nothing may be told before it is durable; a failed write fails every
// group applied after it too, and they land in order when the disk works.
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "fillable_file_system.h"
#include "tally/ledger.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::Reverse;

// What a callback of the ledger delivered, for the test thread to wait on.
template <typename Value>
class Delivered {
 public:
  void Set(Value value) {
    {
      std::lock_guard lock(mutex_);
      value_ = std::move(value);
      done_ = true;
    }
    ready_.notify_all();
  }
  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  Value Wait() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return done_; });
    return *value_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  bool done_ = false;
  std::optional<Value> value_;
};

using Results = Result<std::vector<std::vector<CommandResult>>>;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = std::make_shared<testing::FillableFileSystem>();
    env_ = rocksdb::NewCompositeEnv(disk_);
  }

  void Open(bool answer_early) {
    ledger_.reset();
    OpenOptions options;
    options.env = env_;
    options.queries_answer_early = answer_early;
    auto opened = Ledger::Open(directory_.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(*opened);
  }

  // Applies `batch` without waiting for the disk; `into` gets the results.
  void ApplyAsync(const std::vector<Command>& batch, Delivered<Results>* into) {
    const std::span<const Command> one(batch);
    ledger_->ApplyBatches({&one, 1}, [into](Results results) { into->Set(std::move(results)); });
  }

  // Holds every sync from now on, applies `batch`, and returns once its
  // group's write waits in its fsync.
  void ApplyAndHoldItsWrite(const std::vector<Command>& batch, Delivered<Results>* into) {
    disk_->HoldSyncs();
    ApplyAsync(batch, into);
    disk_->WaitForHeldSync();
  }

  testing::TemporaryDirectory directory_;
  std::shared_ptr<testing::FillableFileSystem> disk_;
  std::shared_ptr<rocksdb::Env> env_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(PipelineTest, TheNextGroupIsAppliedWhileTheOneBeforeIsWritten) {
  Open(/*answer_early=*/true);
  const std::vector<Command> first = {Earn(1, 1, 10, 100)};
  Delivered<Results> first_results;
  ApplyAndHoldItsWrite(first, &first_results);

  // A return of that earn and a retry of it, applied while it is written.
  const std::vector<Command> second = {Reverse(2, 1, 10, 25, 1), Earn(1, 1, 10, 100)};
  Delivered<Results> second_results;
  ApplyAsync(second, &second_results);
  EXPECT_FALSE(first_results.done()) << "told before its fsync";
  EXPECT_FALSE(second_results.done()) << "told before its fsync";

  // Queries answer early from what is applied; WhenDurable holds the answer.
  auto balance = ledger_->GetBalance({1, 10});
  ASSERT_TRUE(balance.ok()) << balance.status().ToString();
  EXPECT_EQ(balance->points, 75);
  Delivered<Status> durable;
  ledger_->WhenDurable([&](const Status& status) { durable.Set(status); });
  EXPECT_FALSE(durable.done()) << "the balance read commands still being written";
  EXPECT_EQ(ledger_->Stats().last_sequence, 0u) << "the durable head";

  disk_->ReleaseSyncs();
  const Results got_first = first_results.Wait();
  const Results got_second = second_results.Wait();
  EXPECT_TRUE(durable.Wait().ok());
  ASSERT_TRUE(got_first.ok()) << got_first.status().ToString();
  ASSERT_TRUE(got_second.ok()) << got_second.status().ToString();
  const CommandResult earned = (*got_first)[0][0];
  EXPECT_EQ(earned.code, ResultCode::kOk);
  EXPECT_EQ(earned.sequence, 1u);
  EXPECT_EQ(earned.balance, 100);
  const CommandResult reversed = (*got_second)[0][0];
  EXPECT_EQ(reversed.code, ResultCode::kOk) << "found its target in the group still being written";
  EXPECT_EQ(reversed.sequence, 2u);
  EXPECT_EQ(reversed.balance, 75);
  EXPECT_EQ((*got_second)[0][1], earned) << "a retry answers the original result";
  EXPECT_EQ(ledger_->Stats().last_sequence, 2u);

  Open(/*answer_early=*/false);
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 75);
  EXPECT_EQ(ledger_->Stats().last_sequence, 2u);
}

TEST_F(PipelineTest, AQueryAndABackupGiveWhatWasAppliedOnceItIsWritten) {
  Open(/*answer_early=*/false);
  const std::vector<Command> batch = {Earn(1, 1, 10, 100)};
  Delivered<Results> results;
  ApplyAndHoldItsWrite(batch, &results);
  Result<Balance> balance = Status::Unavailable("not read");
  std::thread reader([&] { balance = ledger_->GetBalance({1, 10}); });
  Result<ChainHead> head = Status::Unavailable("not taken");
  const std::string copy = directory_.path() + "-backup";
  std::thread backup([&] { head = ledger_->Backup(copy); });
  disk_->ReleaseSyncs();
  reader.join();
  backup.join();
  ASSERT_TRUE(results.Wait().ok());
  ASSERT_TRUE(balance.ok()) << balance.status().ToString();
  EXPECT_EQ(balance->points, 100);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->sequence, 1u) << "the copy holds the group that was being written";
  auto restored = Ledger::Open(copy);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ((*restored)->GetBalance({1, 10})->points, 100);
  restored->reset();
  std::filesystem::remove_all(copy);
}

TEST_F(PipelineTest, AFailedWriteFailsTheGroupsAppliedAfterItAndTheyLandInOrder) {
  Open(/*answer_early=*/true);
  const std::vector<Command> first = {Earn(1, 1, 10, 100)};
  Delivered<Results> first_results;
  ApplyAndHoldItsWrite(first, &first_results);
  const std::vector<Command> second = {Earn(2, 1, 11, 50), Reverse(3, 1, 10, 30, 1)};
  Delivered<Results> second_results;
  ApplyAsync(second, &second_results);
  Delivered<Status> durable;
  ledger_->WhenDurable([&](const Status& status) { durable.Set(status); });

  disk_->Fill();  // the held fsync fails
  disk_->ReleaseSyncs();
  const Results got_first = first_results.Wait();
  const Results got_second = second_results.Wait();
  ASSERT_FALSE(got_first.ok());
  EXPECT_EQ(got_first.status().code(), Status::Code::kUnavailable);
  ASSERT_FALSE(got_second.ok()) << "applied after a group that did not land";
  EXPECT_EQ(got_second.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(durable.Wait().code(), Status::Code::kUnavailable) << "an answer that saw them is not given";
  EXPECT_EQ(ledger_->GetBalance({1, 10}).status().code(), Status::Code::kUnavailable);
  EXPECT_NE(ledger_->Stats().stopped.find("cannot write to its disk"), std::string::npos);

  disk_->Free();
  ASSERT_TRUE(ledger_->Resume().ok());
  EXPECT_EQ(ledger_->Stats().last_sequence, 3u) << "both groups landed";
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 70);
  EXPECT_EQ(ledger_->GetBalance({1, 11})->points, 50);
  auto retried = ledger_->Apply(second);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ((*retried)[1].sequence, 3u) << "the retry answers the original result";

  Open(/*answer_early=*/false);
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 70);
  EXPECT_EQ(ledger_->GetBalance({1, 11})->points, 50);
  EXPECT_EQ(ledger_->Stats().last_sequence, 3u);
}

TEST_F(PipelineTest, ASmallGroupIsWrittenOnTheCallersThreadWhenTheLogWriterIsIdle) {
  Open(/*answer_early=*/true);
  const std::thread::id caller = std::this_thread::get_id();
  const std::vector<Command> first = {Earn(1, 1, 10, 100)};
  const std::span<const Command> one(first);
  std::thread::id told_on;
  Delivered<Results> first_results;
  ledger_->ApplyBatches(
      {&one, 1},
      [&](Results results) {
        told_on = std::this_thread::get_id();
        first_results.Set(std::move(results));
      },
      Ledger::SmallWrites::kHereWhenIdle);
  ASSERT_TRUE(first_results.done()) << "written before ApplyBatches returned";
  EXPECT_EQ(disk_->last_sync_thread(), caller) << "synced by the caller";
  EXPECT_EQ(told_on, caller);
  const Results got_first = first_results.Wait();
  ASSERT_TRUE(got_first.ok()) << got_first.status().ToString();
  EXPECT_EQ((*got_first)[0][0].sequence, 1u);
  EXPECT_EQ(ledger_->Stats().last_sequence, 1u) << "durable";

  // By default the log writer writes it: ApplyBatches returns while its
  // fsync is held.
  const std::vector<Command> second = {Reverse(2, 1, 10, 25, 1)};
  Delivered<Results> second_results;
  ApplyAndHoldItsWrite(second, &second_results);
  EXPECT_FALSE(second_results.done()) << "told before its fsync";
  disk_->ReleaseSyncs();
  const Results got_second = second_results.Wait();
  EXPECT_NE(disk_->last_sync_thread(), caller) << "synced by the log writer";
  ASSERT_TRUE(got_second.ok()) << got_second.status().ToString();
  EXPECT_EQ((*got_second)[0][0].balance, 75);

  Open(/*answer_early=*/false);
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 75);
  EXPECT_EQ(ledger_->Stats().last_sequence, 2u);
}

// kHoldWhenIdle: groups applied one after another (a query may read
// between them) are written together when the caller says, with one sync.
TEST_F(PipelineTest, HeldGroupsAreWrittenTogetherWhenTheCallerSays) {
  Open(/*answer_early=*/true);
  const std::thread::id caller = std::this_thread::get_id();
  const std::vector<Command> first = {Earn(1, 1, 10, 100)};
  const std::vector<Command> second = {Earn(2, 1, 10, 50), Earn(3, 1, 11, 5)};
  const std::span<const Command> one(first);
  const std::span<const Command> two(second);
  Delivered<Results> first_results;
  Delivered<Results> second_results;
  const int syncs_before = disk_->syncs();
  ledger_->ApplyBatches({&one, 1}, [&](Results results) { first_results.Set(std::move(results)); },
                        Ledger::SmallWrites::kHoldWhenIdle);
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 100) << "applied, readable";
  ledger_->ApplyBatches({&two, 1}, [&](Results results) { second_results.Set(std::move(results)); },
                        Ledger::SmallWrites::kHoldWhenIdle);
  EXPECT_FALSE(first_results.done()) << "held, not written";
  EXPECT_FALSE(second_results.done()) << "queued behind the held group";
  EXPECT_EQ(disk_->syncs(), syncs_before);
  ledger_->WriteHeld();
  ASSERT_TRUE(first_results.done() && second_results.done()) << "written before WriteHeld returned";
  EXPECT_EQ(disk_->syncs(), syncs_before + 1) << "one sync for both";
  EXPECT_EQ(disk_->last_sync_thread(), caller);
  const Results got_second = second_results.Wait();
  ASSERT_TRUE(got_second.ok()) << got_second.status().ToString();
  EXPECT_EQ((*got_second)[0][0].balance, 150);
  ledger_->WriteHeld();  // nothing held: nothing happens
  EXPECT_EQ(disk_->syncs(), syncs_before + 1);

  // Or handed to the log writer.
  const std::vector<Command> third = {Earn(4, 1, 10, 1)};
  const std::span<const Command> three(third);
  Delivered<Results> third_results;
  ledger_->ApplyBatches({&three, 1}, [&](Results results) { third_results.Set(std::move(results)); },
                        Ledger::SmallWrites::kHoldWhenIdle);
  EXPECT_FALSE(third_results.done());
  ledger_->WriteHeld(/*here=*/false);
  const Results got_third = third_results.Wait();
  ASSERT_TRUE(got_third.ok()) << got_third.status().ToString();
  EXPECT_NE(disk_->last_sync_thread(), caller) << "synced by the log writer";

  // A ledger closed with a group held writes it.
  const std::vector<Command> fourth = {Earn(5, 1, 10, 2)};
  const std::span<const Command> four(fourth);
  Delivered<Results> fourth_results;
  ledger_->ApplyBatches({&four, 1}, [&](Results results) { fourth_results.Set(std::move(results)); },
                        Ledger::SmallWrites::kHoldWhenIdle);
  Open(/*answer_early=*/false);
  const Results got_fourth = fourth_results.Wait();
  ASSERT_TRUE(got_fourth.ok()) << got_fourth.status().ToString();
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 153);
  EXPECT_EQ(ledger_->GetBalance({1, 11})->points, 5);
}

TEST_F(PipelineTest, AFailedWriteOnTheCallersThreadStopsTheLedgerAsTheLogWritersDoes) {
  Open(/*answer_early=*/true);
  disk_->Fill();
  const std::vector<Command> batch = {Earn(1, 1, 10, 100)};
  const std::span<const Command> one(batch);
  Delivered<Results> results;
  ledger_->ApplyBatches({&one, 1}, [&](Results got) { results.Set(std::move(got)); },
                        Ledger::SmallWrites::kHereWhenIdle);
  ASSERT_TRUE(results.done()) << "the write was tried before ApplyBatches returned";
  const Results got = results.Wait();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(ledger_->Stats().stopped.find("cannot write to its disk"), std::string::npos);
  EXPECT_EQ(ledger_->GetBalance({1, 10}).status().code(), Status::Code::kUnavailable);

  disk_->Free();
  ASSERT_TRUE(ledger_->Resume().ok());
  EXPECT_EQ(ledger_->Stats().last_sequence, 1u) << "the group landed";
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 100);
  Open(/*answer_early=*/false);
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 100);
}

}  // namespace
}  // namespace tally

// Crash safety: a child process applies the crash workload and reports every
// acknowledged batch; the test kills it with SIGKILL at a random point, many
// times over the same data directory. After each kill the reopened ledger
// must hold every acknowledged batch, nothing half-applied, replay must
// agree, and balances and results must equal the model's.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "crash_workload.h"
#include "model.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::kCrashChain;

constexpr std::uint64_t kSeed = 4242;
constexpr int kKills = 30;

struct ChildRun {
  std::vector<std::uint64_t> acknowledged;  // batch indexes, in order
};

// Starts the child on `directory` from batch `first`, kills it once it has
// acknowledged `kill_after` batches, and collects every acknowledgement it
// wrote before it died.
ChildRun RunAndKill(const std::string& directory, std::uint64_t first, int kill_after) {
  int pipe_ends[2];
  TALLY_ASSERT(::pipe(pipe_ends) == 0);
  const pid_t child = ::fork();
  TALLY_ASSERT(child >= 0);
  if (child == 0) {
    ::dup2(pipe_ends[1], STDOUT_FILENO);
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    const std::string seed = std::to_string(kSeed);
    const std::string start = std::to_string(first);
    ::execl(TALLY_CRASH_CHILD, TALLY_CRASH_CHILD, directory.c_str(), seed.c_str(), start.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_ends[1]);
  ChildRun run;
  std::string buffer;
  bool killed = false;
  char chunk[4096];
  while (true) {
    const ssize_t got = ::read(pipe_ends[0], chunk, sizeof(chunk));
    if (got <= 0) break;  // EOF: the child is gone
    buffer.append(chunk, static_cast<std::size_t>(got));
    for (std::size_t newline; (newline = buffer.find('\n')) != std::string::npos;) {
      run.acknowledged.push_back(std::stoull(buffer.substr(0, newline)));
      buffer.erase(0, newline + 1);
    }
    if (!killed && static_cast<int>(run.acknowledged.size()) >= kill_after) {
      ::kill(child, SIGKILL);
      killed = true;
    }
  }
  ::close(pipe_ends[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child died on its own, status " << status;
  EXPECT_TRUE(buffer.empty()) << "a torn acknowledgement line";
  return run;
}

TEST(CrashTest, KilledWriterLosesNothingAcknowledgedAndHalfAppliesNothing) {
  testing::TemporaryDirectory directory;
  testing::Model model;
  std::mt19937_64 random(kSeed);
  std::uint64_t next_batch = 0;
  std::uint64_t total_acknowledged = 0;
  std::uint64_t durable_but_unacknowledged = 0;  // kills between the fsync and the acknowledgement

  for (int kill = 0; kill < kKills; ++kill) {
    const int kill_after = std::uniform_int_distribution<int>(1, 60)(random);
    const ChildRun run = RunAndKill(directory.path(), next_batch, kill_after);
    ASSERT_GE(static_cast<int>(run.acknowledged.size()), kill_after);
    for (std::size_t index = 0; index < run.acknowledged.size(); ++index) {
      ASSERT_EQ(run.acknowledged[index], next_batch + index) << "acknowledgements out of order";
    }
    total_acknowledged += run.acknowledged.size();

    auto replay = Replay(directory.path());
    ASSERT_TRUE(replay.ok()) << "after kill " << kill << ": " << replay.status().ToString();
    auto opened = Ledger::Open(directory.path());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Ledger& ledger = **opened;

    // Which batches are in the ledger: every acknowledged one, and at most
    // the one the child was writing when it died, never part of a batch.
    std::uint64_t applied_end = next_batch;
    while (true) {
      const std::vector<Command> batch = testing::CrashBatch(kSeed, applied_end);
      std::size_t present = 0;
      for (const Command& command : batch) {
        auto found = ledger.Find(kCrashChain, command.id);
        ASSERT_TRUE(found.ok());
        present += found->has_value() ? 1 : 0;
      }
      ASSERT_TRUE(present == 0 || present == batch.size())
          << "batch " << applied_end << " is half applied: " << present << " of " << batch.size();
      if (present == 0) break;
      ++applied_end;
    }
    const std::uint64_t acknowledged_end = next_batch + run.acknowledged.size();
    ASSERT_GE(applied_end, acknowledged_end) << "an acknowledged batch was lost";
    ASSERT_LE(applied_end, acknowledged_end + 1);
    durable_but_unacknowledged += applied_end - acknowledged_end;

    // Resending every batch returns the model's results and changes nothing.
    for (std::uint64_t batch_index = next_batch; batch_index < applied_end; ++batch_index) {
      const std::vector<Command> batch = testing::CrashBatch(kSeed, batch_index);
      auto results = ledger.Apply(batch);
      ASSERT_TRUE(results.ok());
      for (std::size_t index = 0; index < batch.size(); ++index) {
        CommandResult actual = (*results)[index];
        actual.timestamp_us = 0;
        ASSERT_EQ(actual, model.Apply(batch[index])) << "batch " << batch_index << " command " << index;
      }
    }
    EXPECT_EQ(ledger.Stats().last_sequence, model.sequence());
    for (const auto& [key, balance] : model.balances()) {
      ASSERT_EQ(ledger.GetBalance({key.first, key.second})->points, balance);
    }
    for (const ReplayMember& member : replay->members) {
      ASSERT_EQ(member.balance, model.balances().at({member.key.chain, member.key.member}));
    }
    next_batch = applied_end;
  }
  EXPECT_GE(total_acknowledged, static_cast<std::uint64_t>(kKills));
  RecordProperty("acknowledged_batches", std::to_string(total_acknowledged));
  RecordProperty("durable_but_unacknowledged", std::to_string(durable_but_unacknowledged));
}

}  // namespace
}  // namespace tally

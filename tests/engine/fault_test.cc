// Storage faults: a disk that fills up (or fails writes) under the ledger.
// The ledger must refuse commands and queries with a clear error while
// writes fail, lose nothing it acknowledged, and serve again once a write
// succeeds, with the same state a reopen rebuilds from the disk.
//
// Faults are injected under RocksDB (fillable_file_system.h).
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fillable_file_system.h"
#include "journal.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::Id;
using testing::Redeem;

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = std::make_shared<testing::FillableFileSystem>();
    env_ = rocksdb::NewCompositeEnv(disk_);
    Open();
  }

  static OpenOptions SmallJournal() {
    OpenOptions options;
    options.journal_file_bytes = 1 << 20;
    return options;
  }

  void Open() {
    ledger_.reset();
    OpenOptions options = SmallJournal();
    options.clock_us = [this] { return clock_us_; };
    options.env = env_;
    auto opened = Ledger::Open(directory_.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(*opened);
  }

  Result<std::vector<CommandResult>> Apply(std::vector<Command> batch) {
    clock_us_ += 1'000;
    return ledger_->Apply(batch);
  }

  // Every member's balance, by member.
  std::vector<std::pair<std::uint64_t, std::int64_t>> Balances() {
    std::vector<std::pair<std::uint64_t, std::int64_t>> balances;
    ledger_->ForEachMember(
        [&](MemberKey key, const Balance& balance) { balances.emplace_back(key.member, balance.points); });
    std::sort(balances.begin(), balances.end());
    return balances;
  }

  testing::TemporaryDirectory directory_;
  std::shared_ptr<testing::FillableFileSystem> disk_;
  std::shared_ptr<rocksdb::Env> env_;
  std::unique_ptr<Ledger> ledger_;
  std::uint64_t clock_us_ = 1'000'000;
};

TEST_F(FaultTest, AFullDiskStopsTheLedgerAndItResumesWhenSpaceReturns) {
  ASSERT_TRUE(Apply({Earn(1, 1, 10, 100), Earn(2, 1, 11, 50)}).ok());

  disk_->Fill();
  auto failed = Apply({Earn(3, 1, 10, 7), Redeem(4, 1, 11, 20)});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(failed.status().message().find("no space left on device"), std::string::npos) << failed.status().ToString();
  EXPECT_GT(disk_->failed_writes(), 0);

  // Stopped: commands, queries and retries of the failed write are refused,
  // and the status says why.
  auto refused = Apply({Earn(5, 1, 12, 1)});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(ledger_->GetBalance({1, 10}).status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(ledger_->Find(1, Id(1)).status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(ledger_->Resume().ok());
  EXPECT_NE(ledger_->Stats().stopped.find("no space left on device"), std::string::npos);
  EXPECT_EQ(ledger_->Stats().last_sequence, 2u) << "the failed write is not durable, so not the head";

  disk_->Free();
  // The next command writes the failed group first, then itself.
  auto resumed = Apply({Earn(3, 1, 10, 7), Earn(5, 1, 12, 1)});
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString() << disk_->failed_writes();
  // A retry answers with the original result: the failed write landed.
  EXPECT_EQ((*resumed)[0].code, ResultCode::kOk);
  EXPECT_EQ((*resumed)[0].sequence, 3u) << "the failed write landed when space returned";
  EXPECT_EQ((*resumed)[1].code, ResultCode::kOk);
  EXPECT_EQ((*resumed)[1].sequence, 5u);
  EXPECT_TRUE(ledger_->Stats().stopped.empty());
  auto balance = ledger_->GetBalance({1, 11});
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->points, 30);

  // What memory holds is what the disk holds: a reopen and a replay agree.
  const auto before = Balances();
  const std::string head = ledger_->Stats().chain_head;
  Open();
  EXPECT_EQ(Balances(), before);
  EXPECT_EQ(ledger_->Stats().chain_head, head);
  ledger_.reset();
  auto replayed = Replay(directory_.path());
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  EXPECT_EQ(replayed->last_sequence, 5u);
}

TEST_F(FaultTest, AnIoErrorStopsTheLedgerUntilAWriteSucceeds) {
  ASSERT_TRUE(Apply({Earn(1, 1, 10, 100)}).ok());
  disk_->FailWrites();
  auto failed = Apply({Redeem(2, 1, 10, 30)});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("input/output error"), std::string::npos) << failed.status().ToString();
  EXPECT_FALSE(Apply({Redeem(3, 1, 10, 30)}).ok());
  disk_->Free();
  auto resumed = Apply({Redeem(3, 1, 10, 30)});
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)[0].sequence, 3u) << "redeem 2 landed first, as sequence 2";
  EXPECT_EQ((*resumed)[0].balance, 40);
  Open();
  EXPECT_EQ(ledger_->GetBalance({1, 10})->points, 40);
}

TEST_F(FaultTest, QueriesAloneBringTheLedgerBack) {
  ASSERT_TRUE(Apply({Earn(1, 1, 10, 100)}).ok());
  disk_->Fill();
  ASSERT_FALSE(Apply({Earn(2, 1, 10, 5)}).ok());
  disk_->Free();
  EXPECT_TRUE(ledger_->Resume().ok());
  auto balance = ledger_->GetBalance({1, 10});
  ASSERT_TRUE(balance.ok()) << balance.status().ToString();
  EXPECT_EQ(balance->points, 105);
}

TEST_F(FaultTest, AClosedStoppedLedgerReopensWithEverythingAcknowledged) {
  ASSERT_TRUE(Apply({Earn(1, 1, 10, 100), Earn(2, 1, 11, 50)}).ok());
  disk_->Fill();
  ASSERT_FALSE(Apply({Earn(3, 1, 10, 7)}).ok());
  ledger_.reset();  // shut down while the disk is still full
  disk_->Free();
  Open();
  // Earn 3 was never acknowledged: either outcome is allowed, and a retry
  // with the same id settles it exactly once.
  auto retried = Apply({Earn(3, 1, 10, 7)});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  auto balance = ledger_->GetBalance({1, 10});
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->points, 107);
  EXPECT_EQ(ledger_->GetBalance({1, 11})->points, 50);
}

// The journal file of `directory` that holds records, and where its last
// record begins and ends.
struct LastRecord {
  std::filesystem::path file;
  std::size_t begin = 0;
  std::size_t end = 0;
};
LastRecord FindLastRecord(const std::string& directory) {
  LastRecord last;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().filename().string().rfind("journal-", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const internal::JournalScan scan = internal::ScanJournal(bytes, 0);
    if (scan.records.empty()) continue;
    last.file = entry.path();
    last.end = scan.end_offset;
    last.begin = last.end - internal::JournalRecordBytes(scan.records.back().blocks);
  }
  return last;
}

// Power lost inside the last write: the journal's last record reached the
// disk only in part (the rest of it still the file's fill), or with a byte
// changed. The ledger opens with every acknowledged command, without the
// torn one, and goes on.
TEST_F(FaultTest, ATornLastWriteIsDroppedAndNothingAcknowledgedIsLost) {
  for (std::uint64_t id = 1; id <= 20; ++id) ASSERT_TRUE(Apply({Earn(id, 1, 10 + id % 3, 10)}).ok());
  const auto before = Balances();
  std::vector<Command> torn;
  for (std::uint64_t id = 100; id < 140; ++id) torn.push_back(Earn(id, 1, 10, 1));
  ASSERT_TRUE(Apply(torn).ok());
  const LastRecord last = FindLastRecord(directory_.path());
  ASSERT_FALSE(last.file.empty());
  ASSERT_GT(last.end, last.begin + 64);

  struct Damage {
    std::size_t at;
    bool flip;  // a byte changed; else the record cut short here
  };
  for (const Damage damage : {Damage{last.begin + 7, false}, Damage{(last.begin + last.end) / 2, false},
                              Damage{last.end - 1, false}, Damage{last.begin + 40, true}, Damage{last.end - 3, true}}) {
    SCOPED_TRACE("record " + std::to_string(last.begin) + ".." + std::to_string(last.end) + (damage.flip ? ", byte " : ", cut at ") +
                 std::to_string(damage.at));
    // The directory as a power cut would leave it (the ledger stays open:
    // its files are copied as they are).
    testing::TemporaryDirectory copy;
    std::filesystem::copy(directory_.path(), copy.path(),
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
    {
      std::fstream file(copy.path() + "/" + last.file.filename().string(), std::ios::binary | std::ios::in | std::ios::out);
      if (damage.flip) {
        file.seekg(static_cast<std::streamoff>(damage.at));
        const char byte = static_cast<char>(file.get() ^ 0x10);
        file.seekp(static_cast<std::streamoff>(damage.at));
        file.put(byte);
      } else {
        const std::string fill(last.end - damage.at, internal::kJournalFill);
        file.seekp(static_cast<std::streamoff>(damage.at));
        file.write(fill.data(), static_cast<std::streamsize>(fill.size()));
      }
      ASSERT_TRUE(file.good());
    }
    auto reopened = Ledger::Open(copy.path(), SmallJournal());
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_EQ((*reopened)->Stats().last_sequence, 20u);
    std::vector<std::pair<std::uint64_t, std::int64_t>> balances;
    (*reopened)->ForEachMember(
        [&](MemberKey key, const Balance& balance) { balances.emplace_back(key.member, balance.points); });
    std::sort(balances.begin(), balances.end());
    EXPECT_EQ(balances, before);
    auto next = (*reopened)->Apply(std::vector<Command>{Earn(100, 1, 10, 1)});
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ((*next)[0].sequence, 21u) << "the torn command was never logged: it applies afresh";
  }
}

}  // namespace
}  // namespace tally

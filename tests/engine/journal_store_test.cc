// The journal under the store (docs/journal.md): a write is told durable
// exactly when a crash would keep it — its record synced, its file's
// directory entry synced — and before RocksDB has made it readable; the
// log writer tells its waiters then.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "block.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "journal.h"
#include "log_writer.h"
#include "store.h"
#include "test_util.h"

namespace tally::internal {
namespace {

using testing::TemporaryDirectory;

// Beneath the store: what a crash now would keep of each journal file —
// the records written that a successful sync covered, and the file itself
// only once a directory fsync succeeded after it was created. (Writes of
// fill alone, as a file is prepared, hold no record.)
class CrashModel final : public rocksdb::FileSystemWrapper {
 public:
  CrashModel() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "CrashModel"; }

  // Every record written to a journal file would survive a crash now.
  bool EveryRecordSurvives() {
    std::lock_guard lock(mutex_);
    bool records = false;
    for (const auto& [name, journal] : journals_) {
      if (!journal.holds_records) continue;
      records = true;
      if (!journal.entry_synced || journal.unsynced_writes > 0) return false;
    }
    return records;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus status = target()->NewWritableFile(name, options, file, debug);
    if (status.ok() && IsJournal(name)) {
      std::lock_guard lock(mutex_);
      journals_[name] = Journal{};  // created (or cut to nothing): its entry not yet durable
    }
    return status;
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus status = target()->NewRandomRWFile(name, options, file, debug);
    if (status.ok() && IsJournal(name)) file->reset(new File(std::move(*file), this, name));
    return status;
  }
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* directory,
                                 rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus status = target()->NewDirectory(name, options, directory, debug);
    if (status.ok()) directory->reset(new Directory(std::move(*directory), this));
    return status;
  }

 private:
  struct Journal {
    int unsynced_writes = 0;  // of records
    bool holds_records = false;
    bool entry_synced = false;
  };
  static bool IsJournal(const std::string& name) { return name.find("/journal-") != std::string::npos; }

  class File final : public rocksdb::FSRandomRWFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSRandomRWFile> target, CrashModel* model, std::string name)
        : FSRandomRWFileOwnerWrapper(std::move(target)), model_(model), name_(std::move(name)) {}
    rocksdb::IOStatus Write(uint64_t offset, const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* debug) override {
      if (!std::all_of(data.data(), data.data() + data.size(), [](char byte) { return byte == kJournalFill; })) {
        std::lock_guard lock(model_->mutex_);
        Journal& journal = model_->journals_[name_];
        ++journal.unsynced_writes;
        journal.holds_records = true;
      }
      return FSRandomRWFileOwnerWrapper::Write(offset, data, options, debug);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      return Synced(FSRandomRWFileOwnerWrapper::Sync(options, debug));
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      return Synced(FSRandomRWFileOwnerWrapper::Fsync(options, debug));
    }

   private:
    // Only the writes begun before the sync are covered by it; one thread
    // writes and syncs a journal file, so that is all of them.
    rocksdb::IOStatus Synced(rocksdb::IOStatus status) {
      if (status.ok()) {
        std::lock_guard lock(model_->mutex_);
        model_->journals_[name_].unsynced_writes = 0;
      }
      return status;
    }
    CrashModel* model_;
    std::string name_;
  };

  class Directory final : public rocksdb::FSDirectoryWrapper {
   public:
    Directory(std::unique_ptr<rocksdb::FSDirectory> target, CrashModel* model)
        : FSDirectoryWrapper(std::move(target)), model_(model) {}
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      std::vector<std::string> created;  // before the fsync began
      {
        std::lock_guard lock(model_->mutex_);
        for (const auto& [name, journal] : model_->journals_) created.push_back(name);
      }
      rocksdb::IOStatus status = FSDirectoryWrapper::Fsync(options, debug);
      if (status.ok()) {
        std::lock_guard lock(model_->mutex_);
        for (const std::string& name : created) model_->journals_[name].entry_synced = true;
      }
      return status;
    }

   private:
    CrashModel* model_;
  };

  std::mutex mutex_;
  std::map<std::string, Journal> journals_;
};

// A block of `events` events from `first`, as the ledger would make it.
EncodedBlock MakeBlock(std::uint64_t first, std::uint32_t events) {
  BlockBuilder builder;
  builder.Reset(first, 1'000'000 + first, ChainHash{});
  for (std::uint32_t index = 0; index < events; ++index) {
    Event event;
    event.sequence = first + index;
    event.command = testing::Earn(first + index, 1, 7, 10);
    event.balance_after = static_cast<std::int64_t>(first + index) * 10;
    event.moved = 10;
    EXPECT_TRUE(builder.TryAdd(event));
  }
  EncodedBlock block;
  block.first_sequence = first;
  block.bytes = std::string(builder.Finish());
  return block;
}

// The blocks a reader of the store sees now.
std::uint64_t BlocksReadable(const Store& store) {
  std::uint64_t count = 0;
  EXPECT_TRUE(store.ForEachBlock([&](std::uint64_t, std::string_view) {
                     ++count;
                     return Status::Ok();
                   }).ok());
  return count;
}

// Each write's `durable` comes once, when a crash would keep the write,
// and before the write is readable — also across journal files (the small
// files here take a few writes each) and after the store is opened again.
TEST(JournalStoreTest, DurableComesWhenACrashWouldKeepTheWriteAndBeforeItIsReadable) {
  TemporaryDirectory directory;
  auto disk = std::make_shared<CrashModel>();
  Result<std::unique_ptr<Store>> opened =
      Store::Open(directory.path(), Store::Mode::kReadWrite, true, rocksdb::NewCompositeEnv(disk), 16 << 10);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  std::uint64_t sequence = 0;
  std::uint64_t blocks = 0;
  for (int round = 0; round < 12; ++round) {
    // Even rounds: one write; odd rounds: three writes, one sync. Round 6
    // comes after the store is opened again (a new journal).
    if (round == 6) {
      ASSERT_TRUE(store.Resume().ok());
    }
    std::vector<BlockWrite> writes(round % 2 == 0 ? 1 : 3);
    for (BlockWrite& write : writes) {
      ASSERT_TRUE(store.AddToWrite(MakeBlock(sequence + 1, 20), &write).ok());
      sequence += 20;
      ++blocks;
    }
    int told = 0;
    bool survives = false;
    std::uint64_t readable_when_told = 0;
    const std::function<void()> durable = [&] {
      ++told;
      survives = disk->EveryRecordSurvives();
      readable_when_told = BlocksReadable(store);
    };
    ASSERT_TRUE(store.WriteBlocks(writes, durable).ok());
    EXPECT_EQ(told, 1) << "round " << round;
    EXPECT_TRUE(survives) << "round " << round;
    EXPECT_EQ(readable_when_told, blocks - writes.size()) << "round " << round << ": told before it is readable";
    EXPECT_EQ(BlocksReadable(store), blocks) << "round " << round;
  }
  EXPECT_GT(store.JournalFiles().back(), 2u) << "the writes went through several journal files";
}

// The log writer tells a group's waiters as soon as the journal's sync
// returns, then calls `then`: before RocksDB has made the group readable.
TEST(JournalStoreTest, TheLogWriterTellsWaitersAsSoonAsTheGroupIsDurable) {
  TemporaryDirectory directory;
  Result<std::unique_ptr<Store>> opened =
      Store::Open(directory.path(), Store::Mode::kReadWrite, true, nullptr, 1 << 20);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  LogWriter log(&store, 0, ChainHash{});
  for (std::uint64_t group = 1; group <= 3; ++group) {
    BlockWrite write = log.TakeEmptyWrite();
    ASSERT_TRUE(store.AddToWrite(MakeBlock(group, 1), &write).ok());
    ASSERT_TRUE(log.Enqueue(std::move(write), group, ChainHash{}, /*may_write_here=*/true)) << "the writer is idle";
    std::vector<std::string> order;
    std::uint64_t readable_when_told = 0;
    log.WhenDurable(group, [&](const Status& status) {
      EXPECT_TRUE(status.ok());
      order.push_back("told");
      readable_when_told = BlocksReadable(store);
    });
    log.WriteHere([&] { order.push_back("then"); });
    EXPECT_EQ(order, (std::vector<std::string>{"told", "then"})) << "group " << group;
    EXPECT_EQ(readable_when_told, group - 1) << "group " << group << ": told before RocksDB finished the write";
    EXPECT_EQ(BlocksReadable(store), group);
    EXPECT_EQ(log.durable_sequence(), group);
  }
}

// A ledger whose tables hold its first groups (a clean close flushes them)
// and whose journal alone holds the rest.
class HalfInTheJournal : public ::testing::Test {
 protected:
  void SetUp() override {
    ApplyGroups(0, 40);
    ledger_.reset();  // closed: flushed to tables
    ApplyGroups(40, 100);
    head_ = ledger_->Stats().chain_head;
    ledger_->ForEachMember([&](MemberKey key, const Balance& balance) { balances_[key.member] = balance.points; });
  }

  OpenOptions Options() {
    OpenOptions options;
    options.clock_us = [this] { return clock_us_; };
    options.journal_file_bytes = 32 << 10;  // a few files
    return options;
  }

  // Groups [from, to) of 20 earns each, 7 members.
  void ApplyGroups(std::uint64_t from, std::uint64_t to) {
    if (!ledger_) {
      auto opened = Ledger::Open(directory_.path(), Options());
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      ledger_ = std::move(*opened);
    }
    for (std::uint64_t group = from; group < to; ++group) {
      std::vector<Command> batch;
      for (std::uint64_t index = 0; index < 20; ++index) {
        const std::uint64_t id = group * 20 + index + 1;
        batch.push_back(testing::Earn(id, 1, id % 7, static_cast<std::int64_t>(id % 13 + 1)));
      }
      clock_us_ += 1'000;
      ASSERT_TRUE(ledger_->Apply(batch).ok());
    }
  }

  // A copy of the directory as a crash now would leave it.
  void CopyAsACrashWould(const std::string& to) {
    std::filesystem::copy(directory_.path(), to,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  }

  void ExpectTheSameLedger(const std::string& directory) {
    {
      SCOPED_TRACE("read-only: " + directory);
      auto replayed = Replay(directory);
      ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
      EXPECT_EQ(replayed->last_sequence, 2'000u);
      EXPECT_EQ(replayed->chain_head, head_);
      std::map<std::uint64_t, std::int64_t> balances;
      for (const ReplayMember& member : replayed->members) balances[member.key.member] = member.balance;
      EXPECT_EQ(balances, balances_);
    }
    SCOPED_TRACE("read-write: " + directory);
    auto opened = Ledger::Open(directory, Options());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ((*opened)->Stats().last_sequence, 2'000u);
    EXPECT_EQ((*opened)->Stats().chain_head, head_);
    std::map<std::uint64_t, std::int64_t> balances;
    (*opened)->ForEachMember([&](MemberKey key, const Balance& balance) { balances[key.member] = balance.points; });
    EXPECT_EQ(balances, balances_);
    // And it goes on from there.
    auto next = (*opened)->Apply(std::vector<Command>{testing::Earn(9'999, 1, 1, 1)});
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ((*next)[0].sequence, 2'001u);
  }

  TemporaryDirectory directory_;
  std::unique_ptr<Ledger> ledger_;
  std::uint64_t clock_us_ = 1'000'000;
  std::string head_;
  std::map<std::uint64_t, std::int64_t> balances_;
};

TEST_F(HalfInTheJournal, ACrashCopyOpensReadOnlyAndReadWriteWithEveryGroup) {
  TemporaryDirectory copy;
  CopyAsACrashWould(copy.path());
  auto journals = ListJournalFiles(rocksdb::FileSystem::Default().get(), copy.path());
  ASSERT_TRUE(journals.ok());
  EXPECT_GE(journals->size(), 3u) << "the journal's groups span several files";
  ExpectTheSameLedger(copy.path());
  // The read-write open recovered the journal into the tables and deleted
  // its files: only the new journal's are left.
  auto after = ListJournalFiles(rocksdb::FileSystem::Default().get(), copy.path());
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(after->empty());
  EXPECT_GT(after->front().number, journals->back().number);
}

TEST_F(HalfInTheJournal, ABackupHoldsTheJournalsGroups) {
  TemporaryDirectory backups;
  const std::string copy = backups.path() + "/copy";
  auto head = ledger_->Backup(copy);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->sequence, 2'000u);
  EXPECT_EQ(head->hash, head_);
  ledger_.reset();
  ExpectTheSameLedger(copy);
}

TEST_F(HalfInTheJournal, AReopenedLedgerHasEveryGroup) {
  ledger_.reset();
  ExpectTheSameLedger(directory_.path());
}

}  // namespace
}  // namespace tally::internal

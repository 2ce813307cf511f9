// The WAL watch (engine/src/wal_watch.h): a thread writing to RocksDB is
// told its write is durable exactly when a crash would keep it — its WAL
// bytes synced, the WAL file's directory entry synced — and not before;
// through the store and the log writer, that moment comes before RocksDB
// has made the write readable.
#include "wal_watch.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fillable_file_system.h"
#include "log_writer.h"
#include "store.h"
#include "test_util.h"

namespace tally::internal {
namespace {

using testing::TemporaryDirectory;

// Beneath the watch: what a crash now would keep of each WAL file — the
// bytes a successful sync covered, and the file itself only once a
// directory fsync succeeded after it was created.
class CrashModel final : public rocksdb::FileSystemWrapper {
 public:
  CrashModel() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "CrashModel"; }

  // Every byte appended to every WAL file would survive a crash now.
  bool EveryWalByteSurvives() {
    std::lock_guard lock(mutex_);
    for (const auto& [name, wal] : wals_) {
      if (!wal.entry_synced || wal.synced != wal.appended) return false;
    }
    return !wals_.empty();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus status = target()->NewWritableFile(name, options, file, debug);
    if (status.ok() && name.size() > 4 && name.substr(name.size() - 4) == ".log") {
      std::lock_guard lock(mutex_);
      wals_[name] = Wal{};
      file->reset(new File(std::move(*file), this, name));
    }
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
  struct Wal {
    std::uint64_t appended = 0;
    std::uint64_t synced = 0;
    bool entry_synced = false;
  };
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> target, CrashModel* model, std::string name)
        : FSWritableFileOwnerWrapper(std::move(target)), model_(model), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      rocksdb::IOStatus status = FSWritableFileOwnerWrapper::Append(data, options, debug);
      std::lock_guard lock(model_->mutex_);
      model_->wals_[name_].appended += data.size();
      return status;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* debug) override {
      rocksdb::IOStatus status = FSWritableFileOwnerWrapper::Append(data, options, info, debug);
      std::lock_guard lock(model_->mutex_);
      model_->wals_[name_].appended += data.size();
      return status;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      return Synced(FSWritableFileOwnerWrapper::Sync(options, debug));
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      return Synced(FSWritableFileOwnerWrapper::Fsync(options, debug));
    }

   private:
    rocksdb::IOStatus Synced(rocksdb::IOStatus status) {
      std::lock_guard lock(model_->mutex_);
      Wal& wal = model_->wals_[name_];
      if (status.ok()) wal.synced = wal.appended;
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
      return Synced(FSDirectoryWrapper::Fsync(options, debug));
    }
    rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug,
                                          const rocksdb::DirFsyncOptions& reason) override {
      return Synced(FSDirectoryWrapper::FsyncWithDirOptions(options, debug, reason));
    }

   private:
    // One directory per test: every WAL file created so far is in it.
    rocksdb::IOStatus Synced(rocksdb::IOStatus status) {
      std::lock_guard lock(model_->mutex_);
      if (status.ok()) {
        for (auto& [name, wal] : model_->wals_) wal.entry_synced = true;
      }
      return status;
    }
    CrashModel* model_;
  };

  std::mutex mutex_;
  std::map<std::string, Wal> wals_;
};

// The watch over a plain file system, driven by hand.
class WalWatchTest : public ::testing::Test {
 protected:
  WalWatchTest() : disk_(std::make_shared<testing::FillableFileSystem>()), watched_(disk_, directory_.path()) {}

  std::unique_ptr<rocksdb::FSWritableFile> Create(const std::string& name) {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    EXPECT_TRUE(watched_.NewWritableFile(directory_.path() + "/" + name, rocksdb::FileOptions(), &file, nullptr).ok());
    return file;
  }
  bool SyncDirectory() {
    std::unique_ptr<rocksdb::FSDirectory> directory;
    EXPECT_TRUE(watched_.NewDirectory(directory_.path(), rocksdb::IOOptions(), &directory, nullptr).ok());
    return directory->Fsync(rocksdb::IOOptions(), nullptr).ok();
  }
  static bool Append(rocksdb::FSWritableFile& file) {
    return file.Append(rocksdb::Slice("record"), rocksdb::IOOptions(), nullptr).ok();
  }
  static bool Sync(rocksdb::FSWritableFile& file) { return file.Sync(rocksdb::IOOptions(), nullptr).ok(); }

  TemporaryDirectory directory_;
  std::shared_ptr<testing::FillableFileSystem> disk_;
  WalFileSystem watched_;
  int told_ = 0;
  const std::function<void()> durable_ = [this] { ++told_; };
};

TEST_F(WalWatchTest, ToldOnceTheAppendIsSyncedAndTheNewFileIsInItsDirectory) {
  std::unique_ptr<rocksdb::FSWritableFile> wal = Create("000004.log");
  WalWatch watch(durable_);
  ASSERT_TRUE(Append(*wal));
  ASSERT_TRUE(SyncDirectory());
  EXPECT_EQ(told_, 0) << "the record is not synced yet";
  ASSERT_TRUE(Sync(*wal));
  EXPECT_EQ(told_, 1);
  EXPECT_TRUE(watch.told());
  ASSERT_TRUE(Sync(*wal));
  ASSERT_TRUE(SyncDirectory());
  EXPECT_EQ(told_, 1) << "once";
}

TEST_F(WalWatchTest, ANewFileWaitsForTheDirectoryFsyncAfterItsOwnSync) {
  ASSERT_TRUE(SyncDirectory());  // before the file exists: does not count
  std::unique_ptr<rocksdb::FSWritableFile> wal = Create("000004.log");
  WalWatch watch(durable_);
  ASSERT_TRUE(Append(*wal));
  ASSERT_TRUE(Sync(*wal));
  EXPECT_EQ(told_, 0) << "a crash could lose the file's directory entry";
  ASSERT_TRUE(SyncDirectory());
  EXPECT_EQ(told_, 1);
}

TEST_F(WalWatchTest, TheFileAppendedToLastIsTheOneThatCounts) {
  std::unique_ptr<rocksdb::FSWritableFile> older = Create("000004.log");
  std::unique_ptr<rocksdb::FSWritableFile> current = Create("000007.log");
  ASSERT_TRUE(SyncDirectory());
  WalWatch watch(durable_);
  ASSERT_TRUE(Append(*older));
  ASSERT_TRUE(Append(*current));
  ASSERT_TRUE(Sync(*older));
  EXPECT_EQ(told_, 0);
  ASSERT_TRUE(Sync(*current));
  EXPECT_EQ(told_, 1);
}

TEST_F(WalWatchTest, AFailedSyncTellsNothing) {
  std::unique_ptr<rocksdb::FSWritableFile> wal = Create("000004.log");
  ASSERT_TRUE(SyncDirectory());
  WalWatch watch(durable_);
  ASSERT_TRUE(Append(*wal));
  disk_->FailWrites();
  EXPECT_FALSE(Sync(*wal));
  EXPECT_EQ(told_, 0);
  disk_->Free();
  ASSERT_TRUE(Sync(*wal));
  EXPECT_EQ(told_, 1) << "the sync that covers the record";
}

TEST_F(WalWatchTest, OnlyTheArmedThreadAndOnlyWalFilesOfTheDirectory) {
  std::unique_ptr<rocksdb::FSWritableFile> table = Create("000005.sst");
  std::unique_ptr<rocksdb::FSWritableFile> wal = Create("000004.log");
  ASSERT_TRUE(SyncDirectory());
  {
    WalWatch watch(durable_);
    ASSERT_TRUE(Append(*table));
    ASSERT_TRUE(Sync(*table));
    EXPECT_EQ(told_, 0) << "not a WAL file";
  }
  ASSERT_TRUE(Append(*wal));
  {
    WalWatch watch(durable_);
    ASSERT_TRUE(Sync(*wal));
    EXPECT_EQ(told_, 0) << "appended before the watch was armed: another write's record";
  }
  TemporaryDirectory elsewhere;
  std::unique_ptr<rocksdb::FSWritableFile> copy;
  ASSERT_TRUE(watched_.NewWritableFile(elsewhere.path() + "/000004.log", rocksdb::FileOptions(), &copy, nullptr).ok());
  WalWatch watch(durable_);
  ASSERT_TRUE(Append(*copy));
  ASSERT_TRUE(Sync(*copy));
  EXPECT_EQ(told_, 0) << "a WAL file of another directory (a checkpoint's copy)";
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

// Through RocksDB: each write's `durable` comes once, when a crash would
// keep the write, and before the write is readable.
TEST(WalWatchStoreTest, DurableComesWhenACrashWouldKeepTheWriteAndBeforeItIsReadable) {
  TemporaryDirectory directory;
  auto disk = std::make_shared<CrashModel>();
  Result<std::unique_ptr<Store>> opened =
      Store::Open(directory.path(), Store::Mode::kReadWrite, true, rocksdb::NewCompositeEnv(disk));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  std::uint64_t sequence = 0;
  for (int round = 0; round < 6; ++round) {
    // Rounds 0–2: one write each; 3–5: three writes, one sync. Round 3
    // comes after the database is opened again (a new WAL file).
    if (round == 3) {
      ASSERT_TRUE(store.Resume().ok());
    }
    std::vector<BlockWrite> writes(round < 3 ? 1 : 3);
    for (BlockWrite& write : writes) {
      ++sequence;
      ASSERT_TRUE(store.AddToWrite(EncodedBlock{sequence, std::string(100 + round, 'x'), {}}, &write).ok());
    }
    int told = 0;
    bool survives = false;
    std::uint64_t readable_when_told = 0;
    const std::function<void()> durable = [&] {
      ++told;
      survives = disk->EveryWalByteSurvives();
      readable_when_told = BlocksReadable(store);
    };
    ASSERT_TRUE(store.WriteBlocks(writes, durable).ok());
    EXPECT_EQ(told, 1) << "round " << round;
    EXPECT_TRUE(survives) << "round " << round;
    EXPECT_EQ(readable_when_told, sequence - 1) << "round " << round << ": told before the last write is readable";
    EXPECT_EQ(BlocksReadable(store), sequence) << "round " << round;
  }
}

// The log writer tells a group's waiters from inside the write, then calls
// `then`: before RocksDB has made the group readable.
TEST(WalWatchStoreTest, TheLogWriterTellsWaitersAsSoonAsTheGroupIsDurable) {
  TemporaryDirectory directory;
  Result<std::unique_ptr<Store>> opened = Store::Open(directory.path(), Store::Mode::kReadWrite, true);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  LogWriter log(&store, 0, ChainHash{});
  for (std::uint64_t group = 1; group <= 3; ++group) {
    BlockWrite write = log.TakeEmptyWrite();
    ASSERT_TRUE(store.AddToWrite(EncodedBlock{group, std::string(200, 'y'), {}}, &write).ok());
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

}  // namespace
}  // namespace tally::internal

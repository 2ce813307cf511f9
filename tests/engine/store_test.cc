// RocksDB's write-ahead log under a ledger: the log family never goes to it
// (the journal does), and the default column family (the format record,
// tokens) is flushed after each write, so that its records never keep WAL
// files alive (docs/storage.md, "Data directory"); a version-3 directory,
// whose log blocks the WAL held, moves to version 4.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <xxhash.h>

#include "tally/auth.h"
#include "tally/internal/encoding.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::TemporaryDirectory;

// The data directory's RocksDB database opened directly, as an earlier
// build (or a tamperer) would: handles[0] the default family, [1] the log.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& directory) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}, {"log", rocksdb::ColumnFamilyOptions()}};
    rocksdb::DB* db = nullptr;
    const rocksdb::Status status = rocksdb::DB::Open(rocksdb::DBOptions(), directory, families, &handles, &db);
    EXPECT_TRUE(status.ok()) << status.ToString();
    db_.reset(db);
  }
  // Closed without a flush: what was written stays in the WAL only.
  ~RawDatabase() {
    for (auto* handle : handles) EXPECT_TRUE(db_->DestroyColumnFamilyHandle(handle).ok());
    EXPECT_TRUE(db_->Close().ok());
  }
  rocksdb::DB* operator->() const { return db_.get(); }
  // Written with a sync, through the WAL.
  void Put(std::size_t family, const std::string& key, const std::string& value) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    ASSERT_TRUE(db_->Put(sync, handles[family], key, value).ok());
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;

 private:
  std::unique_ptr<rocksdb::DB> db_;
};

// Entries each column family (default, log) gets back from the WAL when the
// directory is opened: what only the WAL holds.
std::vector<std::uint64_t> EntriesOnlyInTheWal(const std::string& directory) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}, {"log", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), directory, families, &handles, &db).ok());
  if (db == nullptr) return {};
  std::vector<std::uint64_t> entries;
  for (auto* handle : handles) {
    std::uint64_t count = 0;
    EXPECT_TRUE(db->GetIntProperty(handle, "rocksdb.num-entries-active-mem-table", &count));
    entries.push_back(count);
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  delete db;
  return entries;
}

TEST(StoreTest, TheFormatRecordAndTokensAreNotLeftToTheWal) {
  TemporaryDirectory directory;
  TemporaryDirectory copy;
  auto ledger = Ledger::Open(directory.path());
  ASSERT_TRUE(ledger.ok());
  ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(1, 1, 42, 100)}).ok());
  ASSERT_TRUE((*ledger)->CreateToken("till", Role::kWriter, 1).ok());
  ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(2, 1, 42, 5)}).ok());
  // Copied while open, as a crash would leave it (a clean close flushes
  // every family). The log family's blocks go to the journal, never to the
  // WAL (docs/journal.md); the token's record is flushed as it is written.
  std::filesystem::copy(directory.path(), copy.path(),
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(EntriesOnlyInTheWal(copy.path()), (std::vector<std::uint64_t>{0, 0}));
  // The check sees what it should: a token written without the flush is there.
  { RawDatabase(copy.path()).Put(0, "token:x", "y"); }
  EXPECT_EQ(EntriesOnlyInTheWal(copy.path()), (std::vector<std::uint64_t>{1, 0}));
}

// RocksDB flushes what it recovers from the WAL at open (unless told to
// avoid it): a directory from an earlier build, whose token record only the
// WAL held, is cleaned up by opening it.
TEST(StoreTest, OpeningFlushesADefaultFamilyRecordLeftInTheWal) {
  TemporaryDirectory directory;
  {
    auto ledger = Ledger::Open(directory.path());
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE((*ledger)->CreateToken("till", Role::kWriter, 1).ok());
  }
  {
    // As a directory written by an earlier build holds it: the token's
    // record written again, left in the WAL only.
    RawDatabase db(directory.path());
    std::unique_ptr<rocksdb::Iterator> records(db->NewIterator(rocksdb::ReadOptions(), db.handles[0]));
    records->Seek("token:");
    ASSERT_TRUE(records->Valid());
    const std::string key = records->key().ToString();
    const std::string value = records->value().ToString();
    records.reset();
    db.Put(0, key, value);
  }
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{1, 0}));
  { ASSERT_TRUE(Ledger::Open(directory.path()).ok()); }
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{0, 0}));
}

// The format record's value for `version` (docs/storage.md).
std::string FormatRecord(std::uint32_t version) {
  std::string bytes;
  internal::PutFixed32(&bytes, version);
  internal::PutFixed64(&bytes, XXH3_64bits(bytes.data(), bytes.size()));
  return bytes;
}

std::uint32_t FormatVersion(const std::string& directory) {
  RawDatabase db(directory);
  std::string value;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), db.handles[0], "format", &value).ok());
  return value.size() == 12 ? internal::LoadFixed32(value.data()) : 0;
}

// A directory of format version 3 made its log blocks durable in RocksDB's
// WAL, with no journal: opened, its WAL's blocks are kept, flushed to
// tables, and the directory moves to version 4.
TEST(StoreTest, AVersionThreeDirectoryOpensAndMovesToVersionFour) {
  OpenOptions options;
  options.clock_us = [] { return std::uint64_t{1'700'000'000'000'000}; };
  options.journal_file_bytes = 64 << 10;
  const std::vector<Command> first = {Earn(1, 1, 42, 100), Earn(2, 1, 43, 7)};
  const std::vector<Command> second = {Earn(3, 1, 42, 5)};
  // The same two groups in another directory, for the second group's block.
  TemporaryDirectory model;
  {
    auto ledger = Ledger::Open(model.path(), options);
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE((*ledger)->Apply(first).ok());
    ASSERT_TRUE((*ledger)->Apply(second).ok());
  }
  std::string block;
  {
    RawDatabase db(model.path());
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), db.handles[1], internal::BigEndianKey(3), &block).ok());
  }
  TemporaryDirectory directory;
  {
    auto ledger = Ledger::Open(directory.path(), options);
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE((*ledger)->Apply(first).ok());
  }
  // As a version-3 build leaves it: no journal, the last group in the WAL only.
  for (const auto& entry : std::filesystem::directory_iterator(directory.path())) {
    if (entry.path().filename().string().rfind("journal-", 0) == 0) std::filesystem::remove(entry.path());
  }
  {
    RawDatabase db(directory.path());
    db.Put(0, "format", FormatRecord(3));
    db.Put(1, internal::BigEndianKey(3), block);
  }
  ASSERT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{1, 1}));
  {
    auto replayed = Replay(directory.path());  // read-only: read as it is
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    EXPECT_EQ(replayed->last_sequence, 3u);
  }
  EXPECT_EQ(FormatVersion(directory.path()), 3u);
  {
    auto ledger = Ledger::Open(directory.path(), options);
    ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
    EXPECT_EQ((*ledger)->Stats().last_sequence, 3u);
    EXPECT_EQ((*ledger)->GetBalance({1, 42})->points, 105);
    auto next = (*ledger)->Apply(std::vector<Command>{Earn(4, 1, 43, 1)});
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ((*next)[0].sequence, 4u);
  }
  EXPECT_EQ(FormatVersion(directory.path()), 4u);
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{0, 0}));
  // A version this build does not read is refused, changing nothing.
  { RawDatabase(directory.path()).Put(0, "format", FormatRecord(5)); }
  auto refused = Ledger::Open(directory.path(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("format version 5, this build reads versions 3 and 4"), std::string::npos)
      << refused.status().ToString();
}

}  // namespace
}  // namespace tally

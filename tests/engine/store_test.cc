// RocksDB's write-ahead log under a ledger: the default column family (the
// format record, tokens) is flushed after each write, so that its records
// never keep WAL files alive (docs/storage.md, "RocksDB underneath").
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tally/auth.h"
#include "tally/ledger.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::TemporaryDirectory;

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
  {
    auto ledger = Ledger::Open(directory.path());
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(1, 1, 42, 100)}).ok());
    ASSERT_TRUE((*ledger)->CreateToken("till", Role::kWriter, 1).ok());
    ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(2, 1, 42, 5)}).ok());
  }
  // The log family's two blocks are in the WAL only (its memtable was never
  // flushed): the check sees what it should.
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{0, 2}));
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
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}, {"log", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), directory.path(), families, &handles, &db).ok());
    std::unique_ptr<rocksdb::Iterator> records(db->NewIterator(rocksdb::ReadOptions(), handles[0]));
    records->Seek("token:");
    ASSERT_TRUE(records->Valid());
    const std::string key = records->key().ToString();
    const std::string value = records->value().ToString();
    records.reset();
    rocksdb::WriteOptions sync;
    sync.sync = true;
    ASSERT_TRUE(db->Put(sync, handles[0], key, value).ok());
    for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    delete db;
  }
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{1, 0}));
  { ASSERT_TRUE(Ledger::Open(directory.path()).ok()); }
  EXPECT_EQ(EntriesOnlyInTheWal(directory.path()), (std::vector<std::uint64_t>{0, 0}));
}

}  // namespace
}  // namespace tally

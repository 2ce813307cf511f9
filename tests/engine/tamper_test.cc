// Damage to a real data directory, made behind the ledger's back through
// RocksDB: opening and replay must both refuse it and say where.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <xxhash.h>

#include "block.h"
#include "tally/internal/encoding.h"
#include "tally/ledger.h"
#include "tally/replay.h"
#include "test_util.h"

namespace tally {
namespace {

using testing::Earn;
using testing::Redeem;
using testing::TemporaryDirectory;

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ledger = Ledger::Open(directory_.path());
    ASSERT_TRUE(ledger.ok());
    // Three groups, so three blocks: sequences 1-2, 3-4, 5.
    ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(1, 1, 42, 100), Earn(2, 1, 43, 50)}).ok());
    ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Redeem(3, 1, 42, 30), Earn(4, 1, 42, 5)}).ok());
    ASSERT_TRUE((*ledger)->Apply(std::vector<Command>{Earn(5, 1, 43, 1)}).ok());
  }

  // Runs `edit` on the raw log column family.
  void Edit(const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& edit) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"log", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), directory_.path(), families, &handles, &db).ok());
    edit(db, handles[1]);
    for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    delete db;
  }

  std::string ReadBlock(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log, std::uint64_t first) {
    std::string value;
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), log, internal::BigEndianKey(first), &value).ok());
    return value;
  }

  void ExpectBothRefuse(const std::string& needle) {
    auto opened = Ledger::Open(directory_.path());
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
    EXPECT_NE(opened.status().message().find(needle), std::string::npos) << opened.status().ToString();
    auto replayed = Replay(directory_.path());
    ASSERT_FALSE(replayed.ok());
    EXPECT_EQ(replayed.status().code(), Status::Code::kCorruption);
    EXPECT_NE(replayed.status().message().find(needle), std::string::npos) << replayed.status().ToString();
  }

  TemporaryDirectory directory_;
};

TEST_F(TamperTest, UntouchedLedgerReplaysCleanly) {
  auto report = Replay(directory_.path());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->blocks, 3u);
  EXPECT_EQ(report->events, 5u);
  EXPECT_EQ(report->points_outstanding, "126");
}

TEST_F(TamperTest, FlippedByteIsNamedByItsBlock) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    std::string block = ReadBlock(db, log, 3);
    block[internal::kBlockHeaderBytes + 33] ^= 0x10;  // inside the points of event 3
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(3), block).ok());
  });
  ExpectBothRefuse("log block 3: checksum mismatch");
}

TEST_F(TamperTest, DeletedBlockIsAGap) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), log, internal::BigEndianKey(3)).ok());
  });
  ExpectBothRefuse("expected a block at sequence 3");
}

TEST_F(TamperTest, ResealedBalanceEditIsCaughtByTheArithmetic) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    std::string block = ReadBlock(db, log, 3);
    // Event 3 (redeem 30 from 100): record 170 instead of 70, and reseal.
    internal::StoreFixed64(block.data() + internal::kBlockHeaderBytes + 40, 170);
    const std::size_t body = block.size() - internal::kBlockTrailerBytes;
    internal::StoreFixed64(block.data() + body, XXH3_64bits(block.data(), body));
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(3), block).ok());
  });
  ExpectBothRefuse("event 3 (chain 1, member 42)");
}

}  // namespace
}  // namespace tally

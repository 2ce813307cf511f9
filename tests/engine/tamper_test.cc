// Damage to a real data directory, made behind the ledger's back through
// RocksDB: opening and replay must both refuse it and say where.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

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

  // Rewrites the trailing checksum, as someone editing the bytes on purpose would.
  static void Reseal(std::string* block) {
    const std::size_t body = block->size() - internal::kBlockTrailerBytes;
    internal::StoreFixed64(block->data() + body, XXH3_64bits(block->data(), body));
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

TEST_F(TamperTest, AnEventCutOutOfItsBlockIsAGap) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    std::string block = ReadBlock(db, log, 3);
    // Block 3 holds events 3 and 4 (56 bytes each): keep only event 3,
    // fix the count and reseal, as a careful forger would.
    block.erase(internal::kBlockHeaderBytes + internal::kEventCoreBytes, internal::kEventCoreBytes);
    internal::StoreFixed32(block.data() + 4, 1);
    Reseal(&block);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(3), block).ok());
  });
  ExpectBothRefuse("expected a block at sequence 4");
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

TEST_F(TamperTest, ResealedEditTheRulesCannotSeeIsCaughtByTheHashChain) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    // Block 3's ledger time moved back to block 1's: no rule depends on it
    // here (no program), and time still never decreases.
    const std::string first = ReadBlock(db, log, 1);
    std::string block = ReadBlock(db, log, 3);
    std::memcpy(block.data() + 16, first.data() + 16, 8);
    Reseal(&block);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(3), block).ok());
  });
  ExpectBothRefuse("log block 5: hash chain broken");
}

TEST_F(TamperTest, SwappedEventsAreCaughtByTheHashChain) {
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    std::string block = ReadBlock(db, log, 1);
    // Events 1 and 2 are the first events of two members, 56 bytes each:
    // swapped, each still follows from its member's state.
    const std::size_t first = internal::kBlockHeaderBytes;
    std::swap_ranges(block.begin() + first, block.begin() + first + internal::kEventCoreBytes,
                     block.begin() + first + internal::kEventCoreBytes);
    Reseal(&block);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(1), block).ok());
  });
  ExpectBothRefuse("log block 3: hash chain broken");
}

TEST_F(TamperTest, ARewrittenChainIsCaughtByAHeadKeptOutside) {
  std::string kept;
  {
    auto ledger = Ledger::Open(directory_.path());
    ASSERT_TRUE(ledger.ok());
    kept = (*ledger)->Stats().chain_head;
  }
  ASSERT_EQ(kept.size(), 64u);
  Edit([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* log) {
    // Change block 3 and rewrite the chain after it, as a careful forger would.
    const std::string first = ReadBlock(db, log, 1);
    std::string block = ReadBlock(db, log, 3);
    std::memcpy(block.data() + 16, first.data() + 16, 8);
    Reseal(&block);
    const internal::ChainHash hash = internal::HashOfBlock(block);
    std::string last = ReadBlock(db, log, 5);
    std::memcpy(last.data() + 24, hash.data(), hash.size());
    Reseal(&last);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(3), block).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), log, internal::BigEndianKey(5), last).ok());
  });
  auto unchecked = Replay(directory_.path());
  ASSERT_TRUE(unchecked.ok()) << "the rewritten chain is consistent in itself";
  EXPECT_NE(unchecked->chain_head, kept);
  ReplayOptions options;
  options.head_sequence = 5;
  options.head_hash = kept;
  auto checked = Replay(directory_.path(), options);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().message().find("not the kept head"), std::string::npos) << checked.status().ToString();
  options.head_sequence = 3;  // inside block 3-4
  EXPECT_NE(Replay(directory_.path(), options).status().message().find("no block ends at sequence 3"),
            std::string::npos);
  options.head_hash = "xyz";
  EXPECT_EQ(Replay(directory_.path(), options).status().code(), Status::Code::kInvalidArgument);
}

// Every file of the directory, by name, with a checksum of its bytes.
std::map<std::string, std::uint64_t> Snapshot(const std::string& directory) {
  std::map<std::string, std::uint64_t> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    files[entry.path().filename().string()] = XXH3_64bits(bytes.data(), bytes.size());
  }
  return files;
}

TEST_F(TamperTest, AnAuditChangesNotAByteOfTheDirectory) {
  const auto before = Snapshot(directory_.path());
  ASSERT_GT(before.size(), 3u);
  ASSERT_TRUE(Replay(directory_.path()).ok());
  ASSERT_TRUE(ReadLog(directory_.path(), LogRange{}, [](const LoggedEvent&) { return Status::Ok(); }).ok());
  EXPECT_EQ(Snapshot(directory_.path()), before);
}

TEST_F(TamperTest, AnUntouchedLogPassesItsKeptHead) {
  std::string kept;
  {
    auto ledger = Ledger::Open(directory_.path());
    ASSERT_TRUE(ledger.ok());
    kept = (*ledger)->Stats().chain_head;
    EXPECT_EQ((*ledger)->Stats().last_sequence, 5u);
  }
  ReplayOptions options;
  options.head_sequence = 5;
  options.head_hash = kept;
  auto checked = Replay(directory_.path(), options);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->chain_head, kept);
}

}  // namespace
}  // namespace tally

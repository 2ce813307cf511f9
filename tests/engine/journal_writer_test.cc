// The journal's files as the store writes them (engine/src/journal_writer.h)
// and as recovery reads them (ReadJournal): records go from file to file in
// order and read back whole; a file goes only once the tables hold it, and
// not while a backup holds it; recovery takes what follows the tables and
// nothing after a gap or a torn record.
#include "journal_writer.h"

#include <gtest/gtest.h>
#include <rocksdb/file_system.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "block.h"
#include "journal.h"
#include "tally/internal/encoding.h"
#include "test_util.h"

namespace tally::internal {
namespace {

rocksdb::FileSystem* Disk() { return rocksdb::FileSystem::Default().get(); }

// A stand-in block of `events` events from `first`: a block's header (the
// journal reads its event count and first sequence) and `bytes` in all.
std::string FakeBlock(std::uint64_t first, std::uint32_t events, std::size_t bytes = 120) {
  std::string block(kBlockMagic, sizeof kBlockMagic);
  PutFixed32(&block, events);
  PutFixed64(&block, first);
  block.resize(std::max(bytes, kBlockHeaderBytes), static_cast<char>('a' + first % 26));
  return block;
}

// The record of one group: one block of ten events from `first`.
std::string Record(std::uint64_t first, std::size_t block_bytes = 120) {
  JournalRecordBuilder builder;
  builder.Add(FakeBlock(first, 10, block_bytes), first, first + 9);
  return std::string(builder.Finish());
}

// The first sequence of each block recovery would take after `tables_last`.
Result<std::vector<std::uint64_t>> Recovered(const std::string& directory, std::uint64_t tables_last) {
  auto files = ListJournalFiles(Disk(), directory);
  if (!files.ok()) return files.status();
  std::vector<std::uint64_t> firsts;
  Status status = ReadJournal(Disk(), *files, tables_last, [&](std::uint64_t first, std::string_view block) {
    EXPECT_EQ(block, FakeBlock(first, 10, block.size()));
    firsts.push_back(first);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return firsts;
}

std::vector<std::uint64_t> Firsts(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> firsts;
  for (std::uint64_t first = from; first <= to; first += 10) firsts.push_back(first);
  return firsts;
}

std::vector<std::uint64_t> FilesOnDisk(const std::string& directory) {
  const Result<std::vector<JournalFileEntry>> files = ListJournalFiles(Disk(), directory);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  std::vector<std::uint64_t> numbers;
  if (!files.ok()) return numbers;
  for (const JournalFileEntry& file : files.value()) numbers.push_back(file.number);
  return numbers;
}

TEST(JournalRecordBuilder, BuildsTheSameBytesAsAppendJournalRecord) {
  const std::vector<std::string> blocks = {FakeBlock(5, 3), FakeBlock(8, 4, 300)};
  JournalRecordBuilder builder;
  builder.Add(blocks[0], 5, 7);
  builder.Add(blocks[1], 8, 11);
  std::string expected;
  const std::vector<std::string_view> views(blocks.begin(), blocks.end());
  AppendJournalRecord(views, 5, 11, &expected);
  EXPECT_EQ(builder.Finish(), expected);
  EXPECT_EQ(builder.Finish(), expected) << "finishing again changes nothing";
  builder.Clear();
  builder.Add(blocks[0], 5, 7);
  expected.clear();
  AppendJournalRecord(std::span<const std::string_view>(views.data(), 1), 5, 7, &expected);
  EXPECT_EQ(builder.Finish(), expected);
}

TEST(JournalWriter, RecordsGoFromFileToFileInOrderAndReadBackWhole) {
  testing::TemporaryDirectory directory;
  {
    auto journal = JournalWriter::Start(Disk(), directory.path(), 7, 4096);
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    for (std::uint64_t first = 1; first <= 391; first += 10) {
      ASSERT_TRUE((*journal)->Append(Record(first)).ok());
      if (first % 50 == 1) {
        ASSERT_TRUE((*journal)->Sync().ok());
      }
    }
    // A record larger than a file gets a file of its own size.
    ASSERT_TRUE((*journal)->Append(Record(401, 10'000)).ok());
    ASSERT_TRUE((*journal)->Append(Record(411)).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
    const std::vector<std::uint64_t> files = (*journal)->files();
    ASSERT_GE(files.size(), 4u);
    EXPECT_EQ(files.front(), 7u);
    for (std::size_t index = 1; index < files.size(); ++index) EXPECT_GT(files[index], files[index - 1]);
  }
  auto recovered = Recovered(directory.path(), 0);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(1, 411));
  // After the tables' last sequence, only what follows it.
  recovered = Recovered(directory.path(), 250);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(251, 411));
}

TEST(JournalWriter, AFileGoesOnlyOnceTheTablesHoldItsRecords) {
  testing::TemporaryDirectory directory;
  auto journal = JournalWriter::Start(Disk(), directory.path(), 1, 4096);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  JournalWriter& writer = **journal;
  std::uint64_t first = 1;
  while (writer.files().size() < 3) {
    ASSERT_TRUE(writer.Append(Record(first)).ok());
    first += 10;
  }
  ASSERT_TRUE(writer.Sync().ok());
  const std::vector<std::uint64_t> used = writer.files();
  const std::uint64_t current = used.back();
  auto on_disk = [&](std::uint64_t number) {
    const std::vector<std::uint64_t> files = FilesOnDisk(directory.path());
    return std::find(files.begin(), files.end(), number) != files.end();
  };

  writer.Flushed(100);
  EXPECT_EQ(writer.files().size(), 3u) << "not yet in RocksDB: no file goes";
  writer.Written(500);  // RocksDB's sequence number after the write of those records
  writer.Flushed(499);
  EXPECT_EQ(writer.files().size(), 3u) << "the tables do not hold the last of them yet";
  for (std::uint64_t number : used) EXPECT_TRUE(on_disk(number)) << number;
  writer.Flushed(500);
  EXPECT_EQ(writer.files(), std::vector<std::uint64_t>{current});
  EXPECT_FALSE(on_disk(used[0]));
  EXPECT_FALSE(on_disk(used[1]));
  EXPECT_TRUE(on_disk(current)) << "the current one stays";

  // Held by a backup, a covered file stays until the release.
  while (writer.files().size() < 2) {
    ASSERT_TRUE(writer.Append(Record(first)).ok());
    first += 10;
  }
  ASSERT_TRUE(writer.Sync().ok());
  writer.Written(600);
  writer.HoldDeletions();
  writer.Flushed(600);
  EXPECT_EQ(writer.files().size(), 2u);
  testing::TemporaryDirectory copy;
  ASSERT_TRUE(writer.CopyTo(copy.path()).ok());
  writer.ReleaseDeletions();
  EXPECT_EQ(writer.files().size(), 1u);
  // The copy holds the records of both files, each file up to its last
  // record: from the first record of the file that was current before.
  const std::vector<std::uint64_t> copied_files = FilesOnDisk(copy.path());
  ASSERT_EQ(copied_files.size(), 2u);
  EXPECT_EQ(copied_files.front(), current);
  EXPECT_LT(std::filesystem::file_size(copy.path() + "/" + JournalFileName(current)), 4096u);
  std::string bytes;
  ASSERT_TRUE(rocksdb::ReadFileToString(Disk(), copy.path() + "/" + JournalFileName(current), &bytes).ok());
  const JournalScan scan = ScanJournal(bytes, 0);
  ASSERT_FALSE(scan.records.empty());
  EXPECT_EQ(scan.end, JournalEnd::kEndOfBytes);
  const std::uint64_t copied_from = scan.records.front().first_sequence;
  auto copied = Recovered(copy.path(), copied_from - 1);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(*copied, Firsts(copied_from, first - 10));
}

// Writes `records` into a new journal file numbered `number`, as written
// and synced (the rest fill).
void WriteFile(const std::string& directory, std::uint64_t number, const std::vector<std::string>& records) {
  auto file = JournalFile::Prepare(Disk(), directory, JournalFileName(number), 4096);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::uint64_t offset = 0;
  for (const std::string& record : records) {
    ASSERT_TRUE((*file)->Write(offset, record).ok());
    offset += record.size();
  }
  ASSERT_TRUE((*file)->Sync().ok());
}

TEST(ReadJournal, FilesBeforeTheTablesEndArePassedOverAndAGapAfterThemIsCorruption) {
  testing::TemporaryDirectory directory;
  // File 2 went (deleted after a flush), file 1 came back after a crash
  // (deletions are not synced): both hold only what the tables hold.
  WriteFile(directory.path(), 1, {Record(1), Record(11)});
  WriteFile(directory.path(), 3, {Record(41), Record(51)});
  WriteFile(directory.path(), 4, {Record(61), Record(71)});
  auto recovered = Recovered(directory.path(), 50);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(51, 71));

  // A file listed and then deleted (a read-only open beside a running
  // server) is passed over like an empty one.
  auto listed = ListJournalFiles(Disk(), directory.path());
  ASSERT_TRUE(listed.ok());
  ASSERT_TRUE(Disk()->DeleteFile(listed->front().path, rocksdb::IOOptions(), nullptr).ok());
  std::vector<std::uint64_t> firsts;
  ASSERT_TRUE(ReadJournal(Disk(), *listed, 50, [&](std::uint64_t first, std::string_view) {
                firsts.push_back(first);
                return Status::Ok();
              }).ok());
  EXPECT_EQ(firsts, Firsts(51, 71));

  // Tables that end before the journal begins: the events between are lost.
  auto gap = Recovered(directory.path(), 30);
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().code(), Status::Code::kCorruption);
  EXPECT_NE(gap.status().message().find("from sequence 41 where sequence 31 was next"), std::string::npos)
      << gap.status().ToString();
}

TEST(ReadJournal, ATornRecordAfterTheTablesEndsTheJournalAcrossFiles) {
  testing::TemporaryDirectory directory;
  std::string torn = Record(21);
  torn[torn.size() / 2] ^= 0x01;
  WriteFile(directory.path(), 1, {Record(1), Record(11), torn, Record(31)});
  WriteFile(directory.path(), 2, {Record(41)});  // whole, but after the torn one
  auto recovered = Recovered(directory.path(), 0);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(1, 11));

  // A record out of order after the tables ends it too.
  testing::TemporaryDirectory other;
  WriteFile(other.path(), 1, {Record(1), Record(11)});
  WriteFile(other.path(), 2, {Record(31), Record(41)});
  recovered = Recovered(other.path(), 0);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(1, 11));
}

// Recovery reads a file only as far as its records go, in reads that grow;
// records across those reads' ends are read whole, and a torn one far into
// the file still ends the journal.
TEST(ReadJournal, RecordsFarIntoALargeFileAreReadWholeAndATornOneStillEndsIt) {
  testing::TemporaryDirectory directory;
  std::uint64_t first = 1;
  {
    auto journal = JournalWriter::Start(Disk(), directory.path(), 1, 8 << 20);
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    while (first <= 3'000 * 10) {  // ~3 MiB of records of ~1 KiB
      ASSERT_TRUE((*journal)->Append(Record(first, 1'000 + first % 97)).ok());
      first += 10;
    }
    ASSERT_TRUE((*journal)->Sync().ok());
    EXPECT_EQ((*journal)->files().size(), 1u);
  }
  auto recovered = Recovered(directory.path(), 0);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(1, first - 10));

  // A byte changed in a record past 2 MiB: the journal ends before it.
  const std::string path = directory.path() + "/" + JournalFileName(1);
  std::string bytes;
  ASSERT_TRUE(rocksdb::ReadFileToString(Disk(), path, &bytes).ok());
  const JournalScan scan = ScanJournal(bytes, 0);
  ASSERT_EQ(scan.records.size(), 3'000u);
  // The first record that begins past 2 MiB, a byte in its middle.
  std::size_t offset = 0;
  std::size_t damaged = 0;
  std::uint64_t torn_first = 0;
  for (const JournalRecord& record : scan.records) {
    const std::size_t size = JournalRecordBytes(record.blocks);
    if (offset > (2u << 20)) {
      damaged = offset + size / 2;
      torn_first = record.first_sequence;
      break;
    }
    offset += size;
  }
  ASSERT_GT(damaged, 0u);
  bytes[damaged] ^= 0x20;
  {
    std::unique_ptr<rocksdb::FSRandomRWFile> file;
    ASSERT_TRUE(Disk()->NewRandomRWFile(path, rocksdb::FileOptions(), &file, nullptr).ok());
    ASSERT_TRUE(file->Write(damaged, rocksdb::Slice(bytes.data() + damaged, 1), rocksdb::IOOptions(), nullptr).ok());
    ASSERT_TRUE(file->Close(rocksdb::IOOptions(), nullptr).ok());
  }
  recovered = Recovered(directory.path(), 0);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_EQ(*recovered, Firsts(1, torn_first - 10));
}

}  // namespace
}  // namespace tally::internal

// The journal (engine/src/journal.h, docs/journal.md): a group's record
// is taken whole or not at all, a scan ends at the first record that is
// not whole, not unchanged or not next — nothing after it is taken — and a
// journal file keeps its size and what was written into it.
#include "journal.h"

#include <gtest/gtest.h>
#include <rocksdb/file_system.h>
#include <xxhash.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fillable_file_system.h"
#include "tally/internal/encoding.h"
#include "test_util.h"

namespace tally::internal {
namespace {

// A group's blocks: stand-ins of distinct bytes (the journal does not look
// inside them).
std::vector<std::string> Blocks(std::uint64_t first_sequence, int count) {
  std::vector<std::string> blocks;
  for (int index = 0; index < count; ++index) {
    blocks.push_back("block " + std::to_string(first_sequence) + "." + std::to_string(index) +
                     std::string(40 + 13 * index, static_cast<char>('a' + index)));
  }
  return blocks;
}

std::vector<std::string_view> Views(const std::vector<std::string>& blocks) {
  return std::vector<std::string_view>(blocks.begin(), blocks.end());
}

struct Group {
  std::uint64_t first_sequence;
  std::uint64_t last_sequence;
  std::vector<std::string> blocks;
};

// Groups of 10 sequences from 1 on, with 1, 2, 3 … blocks; their records
// one after another, and where each record starts.
struct Journal {
  std::vector<Group> groups;
  std::string bytes;
  std::vector<std::size_t> starts;
};

Journal MakeJournal(int groups) {
  Journal journal;
  for (int index = 0; index < groups; ++index) {
    const std::uint64_t first = 1 + 10 * static_cast<std::uint64_t>(index);
    journal.groups.push_back({first, first + 9, Blocks(first, 1 + index % 3)});
    journal.starts.push_back(journal.bytes.size());
    AppendJournalRecord(Views(journal.groups.back().blocks), first, first + 9, &journal.bytes);
  }
  journal.starts.push_back(journal.bytes.size());
  return journal;
}

void ExpectRecordsAre(const JournalScan& scan, const Journal& journal, std::size_t count) {
  ASSERT_EQ(scan.records.size(), count);
  for (std::size_t index = 0; index < count; ++index) {
    const JournalRecord& record = scan.records[index];
    const Group& group = journal.groups[index];
    EXPECT_EQ(record.first_sequence, group.first_sequence);
    EXPECT_EQ(record.last_sequence, group.last_sequence);
    ASSERT_EQ(record.blocks.size(), group.blocks.size());
    for (std::size_t block = 0; block < group.blocks.size(); ++block) EXPECT_EQ(record.blocks[block], group.blocks[block]);
  }
  EXPECT_EQ(scan.end_offset, journal.starts[count]);
  EXPECT_EQ(scan.next_sequence, count == 0 ? 0 : journal.groups[count - 1].last_sequence + 1);
}

TEST(Journal, RecordsReadBackAsWritten) {
  const Journal journal = MakeJournal(4);
  for (std::size_t index = 0; index < journal.groups.size(); ++index) {
    EXPECT_EQ(journal.starts[index + 1] - journal.starts[index], JournalRecordBytes(Views(journal.groups[index].blocks)));
  }
  const JournalScan scan = ScanJournal(journal.bytes, 0);
  ExpectRecordsAre(scan, journal, 4);
  EXPECT_EQ(scan.end, JournalEnd::kEndOfBytes);

  // Asked to begin where the records do, the same; asked for anything else,
  // nothing.
  EXPECT_EQ(ScanJournal(journal.bytes, 1).records.size(), 4u);
  const JournalScan elsewhere = ScanJournal(journal.bytes, 11);
  EXPECT_TRUE(elsewhere.records.empty());
  EXPECT_EQ(elsewhere.end, JournalEnd::kOutOfOrder);
  EXPECT_EQ(elsewhere.end_offset, 0u);
}

TEST(Journal, TheFileFillEndsTheJournal) {
  Journal journal = MakeJournal(3);
  journal.bytes.append(4096, kJournalFill);
  const JournalScan scan = ScanJournal(journal.bytes, 0);
  ExpectRecordsAre(scan, journal, 3);
  EXPECT_EQ(scan.end, JournalEnd::kFill);

  const std::string fill(4096, kJournalFill);
  const JournalScan empty = ScanJournal(fill, 0);
  EXPECT_TRUE(empty.records.empty());
  EXPECT_EQ(empty.end, JournalEnd::kFill);
  // Fewer fill bytes than a header at the file's end are fill too.
  EXPECT_EQ(ScanJournal(std::string(3, kJournalFill), 0).end, JournalEnd::kFill);
}

// A crash while the last record was being written leaves any prefix of it
// over the file's fill.
TEST(Journal, ARecordCutShortAnywhereIsNotTaken) {
  const Journal journal = MakeJournal(3);
  const std::size_t last = journal.starts[2];
  for (std::size_t cut = last; cut < journal.bytes.size(); ++cut) {
    std::string bytes = journal.bytes.substr(0, cut);
    bytes.append(8192, kJournalFill);
    const JournalScan scan = ScanJournal(bytes, 0);
    ExpectRecordsAre(scan, journal, 2);
    EXPECT_EQ(scan.end, cut == last ? JournalEnd::kFill : JournalEnd::kTorn) << "cut at " << cut;

    // And with nothing after the cut (the end of the bytes read). The scan's
    // blocks point into the bytes, which must outlive it.
    const std::string cut_bytes = journal.bytes.substr(0, cut);
    const JournalScan bare = ScanJournal(cut_bytes, 0);
    ExpectRecordsAre(bare, journal, 2);
    EXPECT_EQ(bare.end, cut == last ? JournalEnd::kEndOfBytes : JournalEnd::kTorn) << "cut at " << cut;
  }
}

TEST(Journal, AnyChangedByteEndsTheJournalBeforeItsRecord) {
  const Journal journal = MakeJournal(3);
  for (std::size_t position = journal.starts[1]; position < journal.starts[2]; ++position) {
    std::string bytes = journal.bytes;
    bytes[position] = static_cast<char>(bytes[position] ^ 0x01);
    const JournalScan scan = ScanJournal(bytes, 0);
    ExpectRecordsAre(scan, journal, 1);
    EXPECT_EQ(scan.end, JournalEnd::kTorn) << "byte " << position;
  }
}

// Two pages written by one sync, the first lost and the second kept: the
// record after the lost one is whole, and must not be taken without it.
TEST(Journal, ARecordAfterALostOneIsNotTaken) {
  const Journal journal = MakeJournal(3);
  std::string lost = journal.bytes;
  std::fill(lost.begin() + static_cast<std::ptrdiff_t>(journal.starts[1]),
            lost.begin() + static_cast<std::ptrdiff_t>(journal.starts[2]), kJournalFill);
  JournalScan scan = ScanJournal(lost, 0);
  ExpectRecordsAre(scan, journal, 1);
  EXPECT_EQ(scan.end, JournalEnd::kFill);

  std::string garbled = journal.bytes;
  std::fill(garbled.begin() + static_cast<std::ptrdiff_t>(journal.starts[1]),
            garbled.begin() + static_cast<std::ptrdiff_t>(journal.starts[2]), '\0');
  scan = ScanJournal(garbled, 0);
  ExpectRecordsAre(scan, journal, 1);
  EXPECT_EQ(scan.end, JournalEnd::kTorn);
}

// A whole record of older sequences (left from a file's earlier use) after
// the newest ends the journal.
TEST(Journal, AnOlderRecordEndsTheJournal) {
  const Journal journal = MakeJournal(2);
  std::string bytes = journal.bytes;
  const std::vector<std::string> old = Blocks(5, 1);
  AppendJournalRecord(Views(old), 5, 8, &bytes);
  AppendJournalRecord(Views(Blocks(21, 1)), 21, 30, &bytes);  // the next sequence, but after the old one
  const JournalScan scan = ScanJournal(bytes, 0);
  ExpectRecordsAre(scan, journal, 2);
  EXPECT_EQ(scan.end, JournalEnd::kOutOfOrder);
}

// A record with a right checksum and wrong fields (as a bug writing it
// would make) is not taken either.
TEST(Journal, ARecordWithImpossibleFieldsIsNotTaken) {
  auto record = [](std::uint64_t first, std::uint64_t last, std::uint32_t block_count,
                   const std::vector<std::uint32_t>& sizes, std::size_t body_bytes_extra) {
    std::string body;
    PutFixed64(&body, first);
    PutFixed64(&body, last);
    PutFixed32(&body, block_count);
    for (std::uint32_t size : sizes) {
      PutFixed32(&body, size);
      body.append(size, 'x');
    }
    body.append(body_bytes_extra, 'y');
    std::string bytes(kJournalMagic, sizeof kJournalMagic);
    PutFixed32(&bytes, static_cast<std::uint32_t>(body.size()));
    bytes += body;
    PutFixed64(&bytes, XXH3_64bits(bytes.data(), bytes.size()));
    return bytes;
  };
  // The well-formed one first, to show the helper makes records a scan takes.
  ASSERT_EQ(ScanJournal(record(1, 3, 2, {5, 7}, 0), 0).records.size(), 1u);
  for (const std::string& bad : {
           record(0, 3, 1, {5}, 0),        // sequence 0
           record(4, 3, 1, {5}, 0),        // first after last
           record(1, 3, 0, {}, 0),         // no block
           record(1, 3, 2, {5}, 0),        // fewer blocks than counted
           record(1, 3, 1, {5, 7}, 0),     // more bytes than its blocks
           record(1, 3, 1, {5}, 3),        // bytes after the last block
           record(1, 3, 1, {0}, 0),        // an empty block
       }) {
    const JournalScan scan = ScanJournal(bad, 0);
    EXPECT_TRUE(scan.records.empty());
    EXPECT_EQ(scan.end, JournalEnd::kTorn);
  }
  // A header whose size runs past the bytes.
  std::string oversized = record(1, 3, 1, {5}, 0);
  StoreFixed32(oversized.data() + 4, 1u << 30);
  EXPECT_EQ(ScanJournal(oversized, 0).end, JournalEnd::kTorn);
}

// ---- the file ----

constexpr std::uint64_t kFileBytes = (256 << 10) + 100;  // not a whole number of fill chunks

TEST(JournalFile, APreparedFileIsFillOfItsSizeWhateverWasThere) {
  testing::TemporaryDirectory directory;
  const std::string path = directory.path() + "/journal-00000001";
  {
    std::FILE* old = std::fopen(path.c_str(), "w");  // a longer file left from before
    ASSERT_NE(old, nullptr);
    std::fputs(std::string(kFileBytes * 2, 'x').c_str(), old);
    std::fclose(old);
  }
  auto file = JournalFile::Prepare(rocksdb::FileSystem::Default().get(), directory.path(), "journal-00000001", kFileBytes);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->size(), kFileBytes);
  EXPECT_EQ(std::filesystem::file_size(path), kFileBytes);
  auto bytes = (*file)->ReadAll();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, std::string(kFileBytes, kJournalFill));
  const JournalScan scan = ScanJournal(*bytes, 0);
  EXPECT_TRUE(scan.records.empty());
  EXPECT_EQ(scan.end, JournalEnd::kFill);
}

TEST(JournalFile, RecordsWrittenOverTheFillAreThereAfterAReopenAndARefillClearsThem) {
  testing::TemporaryDirectory directory;
  const Journal journal = MakeJournal(2);
  std::string path;
  {
    auto file = JournalFile::Prepare(rocksdb::FileSystem::Default().get(), directory.path(), "journal-00000007", kFileBytes);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    path = (*file)->path();
    // Record by record, as groups would come.
    ASSERT_TRUE((*file)->Write(0, std::string_view(journal.bytes).substr(0, journal.starts[1])).ok());
    ASSERT_TRUE((*file)->Write(journal.starts[1], std::string_view(journal.bytes).substr(journal.starts[1])).ok());
    ASSERT_TRUE((*file)->Sync().ok());
  }
  EXPECT_EQ(std::filesystem::file_size(path), kFileBytes);  // writes over the fill change no size
  auto reopened = JournalFile::Open(rocksdb::FileSystem::Default().get(), path);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->size(), kFileBytes);
  auto bytes = (*reopened)->ReadAll();
  ASSERT_TRUE(bytes.ok());
  JournalScan scan = ScanJournal(*bytes, 0);
  ExpectRecordsAre(scan, journal, 2);
  EXPECT_EQ(scan.end, JournalEnd::kFill);

  ASSERT_TRUE((*reopened)->Refill().ok());
  bytes = (*reopened)->ReadAll();
  ASSERT_TRUE(bytes.ok());
  scan = ScanJournal(*bytes, 0);
  EXPECT_TRUE(scan.records.empty());
  EXPECT_EQ(scan.end, JournalEnd::kFill);
  EXPECT_EQ(std::filesystem::file_size(path), kFileBytes);
}

TEST(JournalFile, AFullDiskFailsItsWritesAndSyncsUntilItIsFreed) {
  testing::TemporaryDirectory directory;
  auto disk = std::make_shared<testing::FillableFileSystem>();
  const Journal journal = MakeJournal(1);

  disk->Fill();
  auto refused = JournalFile::Prepare(disk.get(), directory.path(), "journal-00000001", kFileBytes);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no space left on device"), std::string::npos)
      << refused.status().ToString();
  disk->Free();

  auto file = JournalFile::Prepare(disk.get(), directory.path(), "journal-00000001", kFileBytes);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  disk->FailWrites();
  const Status write = (*file)->Write(0, journal.bytes);
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.message().find("input/output error"), std::string::npos) << write.ToString();
  EXPECT_FALSE((*file)->Sync().ok());
  const int failed = disk->failed_writes();
  EXPECT_GE(failed, 2);

  disk->Free();
  ASSERT_TRUE((*file)->Write(0, journal.bytes).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  auto bytes = (*file)->ReadAll();
  ASSERT_TRUE(bytes.ok());
  ExpectRecordsAre(ScanJournal(*bytes, 0), journal, 1);
}

}  // namespace
}  // namespace tally::internal

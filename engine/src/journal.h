// The journal (docs/journal.md): files of tally's own, written in full
// before use, in which a group's log blocks would be made durable — each
// group one record written over the file's fill — instead of through
// RocksDB's WAL. Built so far: the record's bytes, the rule that says
// where a journal ends, and the file. Not used by the store yet.
//
//   record := magic "TJR1" | body_size u32 | first_sequence u64
//             | last_sequence u64 | block_count u32
//             | (block_size u32 | block){block_count}
//             | checksum u64
//
// body_size counts the bytes from first_sequence to the last block's end;
// checksum is XXH3-64 (seed 0) of every byte before it. A group is one
// record, so recovery takes a group whole or not at all.
//
// Thread safety: the functions are pure; a JournalFile is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace rocksdb {
class FileSystem;
class FSRandomRWFile;
}  // namespace rocksdb

namespace tally::internal {

inline constexpr char kJournalMagic[4] = {'T', 'J', 'R', '1'};
inline constexpr std::size_t kJournalRecordHeaderBytes = 8;    // magic, body_size
inline constexpr std::size_t kJournalBodyFixedBytes = 20;      // sequences, block_count
inline constexpr std::size_t kJournalRecordTrailerBytes = 8;   // checksum
// A journal file is filled with this byte before any record goes into it.
inline constexpr char kJournalFill = '\xff';

// Appends the record of one group — `blocks` in order, holding the events
// first_sequence..last_sequence — to `out`.
// REQUIRES: !blocks.empty(), first_sequence <= last_sequence.
void AppendJournalRecord(std::span<const std::string_view> blocks, std::uint64_t first_sequence,
                         std::uint64_t last_sequence, std::string* out);

// The same, built as the group's blocks are made: each block is copied in
// once, and Finish() fills in the header and the checksum.
class JournalRecordBuilder {
 public:
  // Adds a block holding the events first_sequence..last_sequence, which
  // follow those of the block added before. REQUIRES: not finished.
  void Add(std::string_view block, std::uint64_t first_sequence, std::uint64_t last_sequence);
  // The record's bytes, sealed; the same bytes when called again.
  // REQUIRES: a block added.
  std::string_view Finish();
  // Empties it for another group, keeping its buffer.
  void Clear();
  std::uint32_t blocks() const { return blocks_; }
  std::uint64_t last_sequence() const { return last_sequence_; }

 private:
  std::string bytes_;
  std::uint64_t first_sequence_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::uint32_t blocks_ = 0;
  bool finished_ = false;
};

// The bytes one record of these blocks takes.
std::size_t JournalRecordBytes(std::span<const std::string_view> blocks);

struct JournalRecord {
  std::uint64_t first_sequence = 0;
  std::uint64_t last_sequence = 0;
  std::vector<std::string_view> blocks;  // into the scanned bytes
};

// Why a scan stopped.
enum class JournalEnd {
  kFill,        // the file's fill: nothing was written here
  kEndOfBytes,  // the bytes ran out at a record's end
  kTorn,        // a record cut short or damaged (magic, sizes or checksum)
  kOutOfOrder,  // a whole record that does not begin where the last one ended
};

struct JournalScan {
  std::vector<JournalRecord> records;  // the records that count, in order
  std::size_t end_offset = 0;          // where the first record that does not count begins
  JournalEnd end = JournalEnd::kEndOfBytes;
  std::uint64_t next_sequence = 0;     // the sequence after the last record that counts
};

// Reads records from the start of `bytes` while each is whole and
// unchanged (magic, sizes, checksum) and begins at the sequence after the
// one before it; the first record must begin at `next_sequence`, or
// anywhere when it is 0. The first record that does not count ends the
// scan, and nothing after it is read: a record whose neighbour before it
// was lost is never taken without it.
JournalScan ScanJournal(std::string_view bytes, std::uint64_t next_sequence);

// Journal files are named "journal-" and a number, increasing.
std::string JournalFileName(std::uint64_t number);

struct JournalFileEntry {
  std::uint64_t number = 0;
  std::string path;
};

// The journal files in `directory`, in number order.
Result<std::vector<JournalFileEntry>> ListJournalFiles(rocksdb::FileSystem* file_system, const std::string& directory);

// Recovery's read (docs/journal.md, "Recovery"): visits, in order, each
// block of the journal's counted records that holds events after
// `tables_last_sequence` (the last one RocksDB's tables hold), with the
// block's first sequence. `files` are read in order; within a file the
// scan is ScanJournal's. A file's fill moves the scan to the next file.
// Until the records have gone past the tables, a file whose scan ends at
// a record that does not count also moves it on (such a file's records
// are in the tables already); after that, such a record ends the
// journal. Corruption when the first block after the tables does not
// begin right after them, or a counted block is malformed.
Status ReadJournal(rocksdb::FileSystem* file_system, std::span<const JournalFileEntry> files,
                   std::uint64_t tables_last_sequence,
                   const std::function<Status(std::uint64_t first_sequence, std::string_view block)>& visit);

// A journal file: a fixed size, every byte kJournalFill until records are
// written over it, so that a write changes neither the file's size nor
// its extents and a sync writes the data alone. I/O goes through RocksDB's
// FileSystem, the store's, so that fault tests reach it.
class JournalFile {
 public:
  // Creates `name` in `directory` (replacing a file of that name) with
  // `size` bytes of fill, syncs it and then the directory, so that a
  // record written into it needs no metadata made durable.
  static Result<std::unique_ptr<JournalFile>> Prepare(rocksdb::FileSystem* file_system, const std::string& directory,
                                                      const std::string& name, std::uint64_t size);
  // Opens an existing journal file.
  static Result<std::unique_ptr<JournalFile>> Open(rocksdb::FileSystem* file_system, const std::string& path);
  ~JournalFile();
  JournalFile(const JournalFile&) = delete;
  JournalFile& operator=(const JournalFile&) = delete;

  // Writes `bytes` at `offset`. REQUIRES: offset + bytes.size() <= size().
  Status Write(std::uint64_t offset, std::string_view bytes);
  // Makes every write so far durable.
  Status Sync();
  // Every byte of the file.
  Result<std::string> ReadAll() const;
  // Fill again, synced: the file can take records from offset 0 again.
  Status Refill();

  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  JournalFile(std::unique_ptr<rocksdb::FSRandomRWFile> file, std::string path, std::uint64_t size);

  std::unique_ptr<rocksdb::FSRandomRWFile> file_;
  std::string path_;
  std::uint64_t size_;
};

}  // namespace tally::internal

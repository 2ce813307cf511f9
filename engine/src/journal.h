// The journal's records (docs/journal.md): the form in which a group's log
// blocks would be made durable in a file of tally's own, written over
// blocks written before, instead of through RocksDB's WAL. Step one of
// that design: the bytes and the rule that says where a journal ends. Not
// used by the store yet.
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
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace tally::internal

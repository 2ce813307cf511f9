#include "journal.h"

#include <rocksdb/file_system.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "block.h"
#include "store.h"
#include "tally/internal/encoding.h"
#include "tally/status.h"

namespace tally::internal {

std::size_t JournalRecordBytes(std::span<const std::string_view> blocks) {
  std::size_t bytes = kJournalRecordHeaderBytes + kJournalBodyFixedBytes + kJournalRecordTrailerBytes;
  for (std::string_view block : blocks) bytes += 4 + block.size();
  return bytes;
}

namespace {

constexpr std::size_t kJournalRecordFrontBytes = kJournalRecordHeaderBytes + kJournalBodyFixedBytes;

// Fills in the front of the record that starts at `start` in `out` and
// whose blocks follow it to the end of `out`, and appends its checksum.
void SealRecord(std::size_t start, std::uint64_t first_sequence, std::uint64_t last_sequence,
                std::uint32_t block_count, std::string* out) {
  std::string front;
  front.append(kJournalMagic, sizeof kJournalMagic);
  PutFixed32(&front, static_cast<std::uint32_t>(out->size() - start - kJournalRecordHeaderBytes));
  PutFixed64(&front, first_sequence);
  PutFixed64(&front, last_sequence);
  PutFixed32(&front, block_count);
  std::memcpy(out->data() + start, front.data(), front.size());
  PutFixed64(out, XXH3_64bits(out->data() + start, out->size() - start));
}

void AppendBlock(std::string_view block, std::string* out) {
  PutFixed32(out, static_cast<std::uint32_t>(block.size()));
  out->append(block);
}

}  // namespace

void AppendJournalRecord(std::span<const std::string_view> blocks, std::uint64_t first_sequence,
                         std::uint64_t last_sequence, std::string* out) {
  TALLY_ASSERT(!blocks.empty() && first_sequence <= last_sequence);
  const std::size_t start = out->size();
  out->reserve(start + JournalRecordBytes(blocks));
  out->append(kJournalRecordFrontBytes, '\0');
  for (std::string_view block : blocks) AppendBlock(block, out);
  SealRecord(start, first_sequence, last_sequence, static_cast<std::uint32_t>(blocks.size()), out);
}

void JournalRecordBuilder::Add(std::string_view block, std::uint64_t first_sequence, std::uint64_t last_sequence) {
  TALLY_ASSERT(!finished_ && first_sequence <= last_sequence);
  if (blocks_ == 0) {
    bytes_.assign(kJournalRecordFrontBytes, '\0');
    first_sequence_ = first_sequence;
  }
  TALLY_ASSERT(blocks_ == 0 || first_sequence == last_sequence_ + 1);
  AppendBlock(block, &bytes_);
  last_sequence_ = last_sequence;
  ++blocks_;
}

std::string_view JournalRecordBuilder::Finish() {
  TALLY_ASSERT(blocks_ > 0);
  if (!finished_) {
    SealRecord(0, first_sequence_, last_sequence_, blocks_, &bytes_);
    finished_ = true;
  }
  return bytes_;
}

void JournalRecordBuilder::Clear() {
  bytes_.clear();
  blocks_ = 0;
  first_sequence_ = last_sequence_ = 0;
  finished_ = false;
}

namespace {

bool AllFill(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char byte) { return byte == kJournalFill; });
}

// The record at the front of `bytes`, checked whole; false when it is cut
// short or damaged.
bool ReadRecord(std::string_view bytes, JournalRecord* record, std::size_t* record_bytes) {
  if (bytes.size() < kJournalRecordHeaderBytes) return false;
  if (std::memcmp(bytes.data(), kJournalMagic, sizeof kJournalMagic) != 0) return false;
  const std::size_t body_bytes = LoadFixed32(bytes.data() + 4);
  if (body_bytes < kJournalBodyFixedBytes) return false;
  const std::size_t checked_bytes = kJournalRecordHeaderBytes + body_bytes;
  if (bytes.size() < checked_bytes + kJournalRecordTrailerBytes) return false;
  if (XXH3_64bits(bytes.data(), checked_bytes) != LoadFixed64(bytes.data() + checked_bytes)) return false;

  std::string_view body = bytes.substr(kJournalRecordHeaderBytes, body_bytes);
  record->first_sequence = LoadFixed64(body.data());
  record->last_sequence = LoadFixed64(body.data() + 8);
  const std::uint32_t block_count = LoadFixed32(body.data() + 16);
  body.remove_prefix(kJournalBodyFixedBytes);
  if (record->first_sequence == 0 || record->first_sequence > record->last_sequence || block_count == 0) return false;
  record->blocks.clear();
  for (std::uint32_t index = 0; index < block_count; ++index) {
    if (body.size() < 4) return false;
    const std::size_t block_bytes = LoadFixed32(body.data());
    body.remove_prefix(4);
    if (block_bytes == 0 || block_bytes > body.size()) return false;
    record->blocks.push_back(body.substr(0, block_bytes));
    body.remove_prefix(block_bytes);
  }
  if (!body.empty()) return false;
  *record_bytes = checked_bytes + kJournalRecordTrailerBytes;
  return true;
}

}  // namespace

JournalScan ScanJournal(std::string_view bytes, std::uint64_t next_sequence) {
  JournalScan scan;
  scan.next_sequence = next_sequence;
  std::size_t offset = 0;
  while (true) {
    scan.end_offset = offset;
    const std::string_view rest = bytes.substr(offset);
    if (rest.empty()) {
      scan.end = JournalEnd::kEndOfBytes;
      return scan;
    }
    if (AllFill(rest.substr(0, kJournalRecordHeaderBytes))) {
      scan.end = JournalEnd::kFill;
      return scan;
    }
    JournalRecord record;
    std::size_t record_bytes = 0;
    if (!ReadRecord(rest, &record, &record_bytes)) {
      scan.end = JournalEnd::kTorn;
      return scan;
    }
    if (scan.next_sequence != 0 && record.first_sequence != scan.next_sequence) {
      scan.end = JournalEnd::kOutOfOrder;
      return scan;
    }
    scan.next_sequence = record.last_sequence + 1;
    scan.records.push_back(std::move(record));
    offset += record_bytes;
  }
}

std::string JournalFileName(std::uint64_t number) {
  char name[32];
  std::snprintf(name, sizeof name, "journal-%08llu", static_cast<unsigned long long>(number));
  return name;
}

Result<std::vector<JournalFileEntry>> ListJournalFiles(rocksdb::FileSystem* file_system,
                                                       const std::string& directory) {
  std::vector<std::string> children;
  const rocksdb::IOStatus listed = file_system->GetChildren(directory, rocksdb::IOOptions(), &children, nullptr);
  if (!listed.ok()) return FromRocks(listed, "listing " + directory);
  constexpr std::string_view kPrefix = "journal-";
  std::vector<JournalFileEntry> files;
  for (const std::string& child : children) {
    if (child.size() <= kPrefix.size() || child.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    const std::string_view digits = std::string_view(child).substr(kPrefix.size());
    if (digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    files.push_back({std::stoull(std::string(digits)), directory + "/" + child});
  }
  std::sort(files.begin(), files.end(),
            [](const JournalFileEntry& a, const JournalFileEntry& b) { return a.number < b.number; });
  return files;
}

namespace {

// ScanJournal over the file at `path`, read from its start only as far as
// the scan needs: a file is mostly fill, and its records end where the
// fill begins. Reads 1 MiB, then twice as much each time the scan ran out
// of bytes (the bytes ended, or a record was cut short by the read) while
// the file has more. `bytes` keeps what was read: the scan's records point
// into it.
Status ScanJournalFile(rocksdb::FileSystem* file_system, const std::string& path, std::uint64_t next_sequence,
                       std::string* bytes, JournalScan* scan) {
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  rocksdb::IOStatus status = file_system->NewSequentialFile(path, rocksdb::FileOptions(), &file, nullptr);
  bytes->clear();
  if (status.IsPathNotFound()) {
    // Deleted since it was listed (a read-only open beside a running
    // server): a file is deleted only once the tables hold its records, and
    // a gap it leaves is still caught (ReadJournal).
    *scan = ScanJournal(*bytes, next_sequence);
    return Status::Ok();
  }
  if (!status.ok()) return FromRocks(status, "opening " + path);
  std::size_t want = 1 << 20;
  bool whole = false;
  while (true) {
    const std::size_t had = bytes->size();
    bytes->resize(want);
    rocksdb::Slice read;
    status = file->Read(want - had, rocksdb::IOOptions(), &read, bytes->data() + had, nullptr);
    if (!status.ok()) return FromRocks(status, "reading " + path);
    if (read.data() != bytes->data() + had) std::memmove(bytes->data() + had, read.data(), read.size());
    bytes->resize(had + read.size());
    whole = read.size() < want - had;
    *scan = ScanJournal(*bytes, next_sequence);
    const bool ran_out = scan->end == JournalEnd::kEndOfBytes || scan->end == JournalEnd::kTorn;
    if (whole || !ran_out) return Status::Ok();
    want *= 2;
  }
}

}  // namespace

Status ReadJournal(rocksdb::FileSystem* file_system, std::span<const JournalFileEntry> files,
                   std::uint64_t tables_last_sequence,
                   const std::function<Status(std::uint64_t, std::string_view)>& visit) {
  std::uint64_t next_sequence = 0;                       // the next record must begin here (0: anywhere)
  std::uint64_t next_block = tables_last_sequence + 1;   // the next block to visit must begin here
  for (const JournalFileEntry& file : files) {
    const bool past_tables = next_sequence > tables_last_sequence + 1;
    std::string bytes;
    JournalScan scan;
    if (Status read = ScanJournalFile(file_system, file.path, past_tables ? next_sequence : 0, &bytes, &scan);
        !read.ok()) {
      return read;
    }
    for (const JournalRecord& record : scan.records) {
      for (std::string_view block : record.blocks) {
        if (block.size() < kBlockHeaderBytes) {
          return Status::Corruption(file.path + " holds a block of " + std::to_string(block.size()) + " bytes");
        }
        const std::uint64_t first = LoadFixed64(block.data() + 8);
        const std::uint32_t events = LoadFixed32(block.data() + 4);
        if (events == 0 || first == 0) return Status::Corruption(file.path + " holds a block without events");
        const std::uint64_t last = first + events - 1;
        if (last <= tables_last_sequence) continue;
        if (first != next_block) {
          return Status::Corruption(file.path + " holds a block from sequence " + std::to_string(first) +
                                    " where sequence " + std::to_string(next_block) + " was next");
        }
        if (Status visited = visit(first, block); !visited.ok()) return visited;
        next_block = last + 1;
      }
    }
    if (!scan.records.empty()) next_sequence = scan.next_sequence;
    const bool ends = scan.end == JournalEnd::kTorn || scan.end == JournalEnd::kOutOfOrder;
    if (ends && next_sequence > tables_last_sequence + 1) break;
  }
  return Status::Ok();
}

JournalFile::JournalFile(std::unique_ptr<rocksdb::FSRandomRWFile> file, std::string path, std::uint64_t size)
    : file_(std::move(file)), path_(std::move(path)), size_(size) {}

JournalFile::~JournalFile() {
  if (file_) file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
}

Result<std::unique_ptr<JournalFile>> JournalFile::Prepare(rocksdb::FileSystem* file_system,
                                                          const std::string& directory, const std::string& name,
                                                          std::uint64_t size) {
  const std::string path = directory + "/" + name;
  // Created empty (a file of that name left from before, say by a crash
  // while preparing it, is cut to nothing: its bytes beyond `size` must
  // not stay), then opened for writing at offsets.
  std::unique_ptr<rocksdb::FSWritableFile> created;
  rocksdb::IOStatus opened = file_system->NewWritableFile(path, rocksdb::FileOptions(), &created, nullptr);
  if (opened.ok()) opened = created->Close(rocksdb::IOOptions(), nullptr);
  if (!opened.ok()) return FromRocks(opened, "creating " + path);
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  opened = file_system->NewRandomRWFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (!opened.ok()) return FromRocks(opened, "opening " + path);
  std::unique_ptr<JournalFile> journal(new JournalFile(std::move(file), path, size));
  if (Status filled = journal->Refill(); !filled.ok()) return filled;
  std::unique_ptr<rocksdb::FSDirectory> parent;
  rocksdb::IOStatus synced = file_system->NewDirectory(directory, rocksdb::IOOptions(), &parent, nullptr);
  if (synced.ok()) synced = parent->Fsync(rocksdb::IOOptions(), nullptr);
  if (!synced.ok()) return FromRocks(synced, "syncing " + directory + " after creating " + name);
  return journal;
}

Result<std::unique_ptr<JournalFile>> JournalFile::Open(rocksdb::FileSystem* file_system, const std::string& path) {
  std::uint64_t size = 0;
  const rocksdb::IOStatus sized = file_system->GetFileSize(path, rocksdb::IOOptions(), &size, nullptr);
  if (!sized.ok()) return FromRocks(sized, "reading the size of " + path);
  std::unique_ptr<rocksdb::FSRandomRWFile> file;
  const rocksdb::IOStatus opened = file_system->NewRandomRWFile(path, rocksdb::FileOptions(), &file, nullptr);
  if (!opened.ok()) return FromRocks(opened, "opening " + path);
  return std::unique_ptr<JournalFile>(new JournalFile(std::move(file), path, size));
}

Status JournalFile::Write(std::uint64_t offset, std::string_view bytes) {
  TALLY_ASSERT(offset <= size_ && bytes.size() <= size_ - offset);
  return FromRocks(file_->Write(offset, rocksdb::Slice(bytes.data(), bytes.size()), rocksdb::IOOptions(), nullptr),
                   "writing " + path_);
}

Status JournalFile::Sync() { return FromRocks(file_->Sync(rocksdb::IOOptions(), nullptr), "syncing " + path_); }

Result<std::string> JournalFile::ReadAll() const {
  std::string bytes(size_, '\0');
  rocksdb::Slice read;
  const rocksdb::IOStatus status = file_->Read(0, bytes.size(), rocksdb::IOOptions(), &read, bytes.data(), nullptr);
  if (!status.ok()) return FromRocks(status, "reading " + path_);
  if (read.size() != bytes.size()) {
    return Status::Corruption(path_ + " holds " + std::to_string(read.size()) + " bytes, not " +
                              std::to_string(bytes.size()));
  }
  if (read.data() != bytes.data()) std::memcpy(bytes.data(), read.data(), read.size());
  return bytes;
}

Status JournalFile::Refill() {
  constexpr std::size_t kChunkBytes = 1 << 20;
  const std::string fill(static_cast<std::size_t>(std::min<std::uint64_t>(size_, kChunkBytes)), kJournalFill);
  for (std::uint64_t offset = 0; offset < size_; offset += fill.size()) {
    const std::size_t bytes = static_cast<std::size_t>(std::min<std::uint64_t>(fill.size(), size_ - offset));
    if (Status written = Write(offset, std::string_view(fill.data(), bytes)); !written.ok()) return written;
  }
  return Sync();
}

}  // namespace tally::internal

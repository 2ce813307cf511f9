#include "store.h"

#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/iterator.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <xxhash.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <mutex>

#include "block.h"
#include "journal_writer.h"
#include "tally/internal/encoding.h"

namespace tally::internal {

Status FromRocks(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return Status::Ok();
  if (status.IsCorruption()) return Status::Corruption(what + ": " + status.ToString());
  if (status.IsNotFound()) return Status::NotFound(what + ": " + status.ToString());
  if (status.IsInvalidArgument()) return Status::InvalidArgument(what + ": " + status.ToString());
  return Status::IOError(what + ": " + status.ToString());
}

// Tells the journal when a flush of the log family has finished, so that
// the files it holds in the tables can go (docs/journal.md, "Recycling").
class LogFlushes final : public rocksdb::EventListener {
 public:
  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo& info) override {
    if (info.cf_name != "log") return;
    std::lock_guard lock(mutex_);
    if (journal_ != nullptr) journal_->Flushed(info.largest_seqno);
  }
  void Attach(JournalWriter* journal) {
    std::lock_guard lock(mutex_);
    journal_ = journal;
  }

 private:
  std::mutex mutex_;
  JournalWriter* journal_ = nullptr;
};

namespace {

constexpr std::size_t kDefaultFamily = 0;
constexpr std::size_t kLogFamily = 1;
constexpr char kFormatKey[] = "format";

rocksdb::ColumnFamilyOptions LogFamilyOptions() {
  rocksdb::ColumnFamilyOptions options;
  // Keys arrive in increasing order, so flushed files never overlap and
  // compaction mostly moves files; large memtables mean fewer of them.
  options.write_buffer_size = 128 << 20;
  options.max_write_buffer_number = 4;
  options.level_compaction_dynamic_level_bytes = true;
  options.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_size = 32 * 1024;  // about two log blocks per table block
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

// RocksDB would recover from a full disk by itself, in the background, and
// refuse a Resume() meanwhile; the ledger resumes instead, when it retries
// the write that failed (docs/engine.md, "When a write fails").
class NoAutomaticRecovery final : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

// RocksDB's info log (DIR/LOG), written with stdio, write errors ignored.
// RocksDB's own logger aborts the process when it writes again after a
// failed write (an assertion, and Debian builds RocksDB with assertions),
// which is what a full disk does to it: the log must never stop the ledger.
class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(std::string path) : path_(std::move(path)) {
    std::error_code error;
    if (std::filesystem::file_size(path_, error) > kBytesMax) Rotate();
    file_ = std::fopen(path_.c_str(), "a");
  }
  ~InfoLog() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list arguments) override {
    std::lock_guard lock(mutex_);
    if (file_ == nullptr) return;
    if (written_ > kBytesMax) {
      std::fclose(file_);
      Rotate();
      file_ = std::fopen(path_.c_str(), "a");
      written_ = 0;
      if (file_ == nullptr) return;
    }
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &utc);
    int wrote = std::fputs(stamp, file_) >= 0 ? static_cast<int>(std::strlen(stamp)) : 0;
    const int message = std::vfprintf(file_, format, arguments);
    if (message > 0) wrote += message;
    std::fputc('\n', file_);
    std::fflush(file_);  // a failure (a full disk) loses this line, nothing more
    written_ += static_cast<std::uint64_t>(wrote) + 1;
  }

 private:
  static constexpr std::uint64_t kBytesMax = 16u << 20;  // then LOG becomes LOG.old
  void Rotate() {
    std::error_code ignored;
    std::filesystem::rename(path_, path_ + ".old", ignored);
  }

  const std::string path_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::uint64_t written_ = 0;
};

std::string EncodeFormat(std::uint32_t version) {
  std::string bytes;
  PutFixed32(&bytes, version);
  PutFixed64(&bytes, XXH3_64bits(bytes.data(), bytes.size()));
  return bytes;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& directory, Mode mode, bool create_if_missing,
                                           std::shared_ptr<rocksdb::Env> env, std::uint64_t journal_file_bytes) {
  // RocksDB creates the directory (for its info log) even when told not to
  // create a database; checking first keeps a mistyped path from leaving one.
  std::error_code error;
  if (!create_if_missing && !std::filesystem::exists(directory + "/CURRENT", error)) {
    return Status::NotFound(directory + " does not exist or is not a tally data directory");
  }
  std::unique_ptr<Store> store(new Store());
  store->directory_ = directory;
  store->mode_ = mode;
  store->env_ = std::move(env);
  store->journal_file_bytes_ = journal_file_bytes;
  store->flushes_ = std::make_shared<LogFlushes>();
  Status status = store->OpenDatabase(create_if_missing);
  if (status.ok()) status = store->CheckOrWriteFormat(mode);
  if (status.ok()) status = mode == Mode::kReadWrite ? store->RecoverJournal() : store->ReadJournalBlocks();
  if (!status.ok()) return status;
  return store;
}

// The default family takes a few small, rare writes (the format record,
// tokens). Left in its memtable, one such record keeps alive every WAL file
// written since: RocksDB deletes a WAL file only once every family has
// flushed what it holds, and would force the flush only past ~4 GB of WAL
// (max_total_wal_size 0: four times all the memtables): a served ledger
// kept ~1 GB of WAL per 16 M events beside ~0.4 GB of tables. Flushed at
// once, a default-family record never holds a WAL file, and the log
// family's flushes free them as they go. (Opening flushes what the WAL
// held, so directories written before this change are cleaned up then.)
Status Store::FlushFamily(std::size_t family) {
  rocksdb::FlushOptions options;
  options.wait = true;
  return FromRocks(db_->Flush(options, handles_[family]),
                   family == kDefaultFamily ? "flushing the default column family" : "flushing the log column family");
}

rocksdb::FileSystem* Store::file_system() const {
  return (env_ ? env_.get() : rocksdb::Env::Default())->GetFileSystem().get();
}

Status Store::OpenDatabase(bool create_if_missing) {
  rocksdb::DBOptions options;
  options.create_if_missing = create_if_missing;
  options.create_missing_column_families = create_if_missing;
  options.max_background_jobs = 2;
  options.paranoid_checks = true;
  if (env_) options.env = env_.get();
  options.listeners.push_back(std::make_shared<NoAutomaticRecovery>());
  options.listeners.push_back(flushes_);
  if (mode_ == Mode::kReadWrite) {
    std::error_code ignored;
    if (create_if_missing) std::filesystem::create_directories(directory_, ignored);
    options.info_log = std::make_shared<InfoLog>(directory_ + "/LOG");
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"log", LogFamilyOptions()},
  };
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = mode_ == Mode::kReadOnly
                               ? rocksdb::DB::OpenForReadOnly(options, directory_, families, &handles_, &db)
                               : rocksdb::DB::Open(options, directory_, families, &handles_, &db);
  if (!status.ok()) return FromRocks(status, "opening " + directory_);
  db_.reset(db);
  return Status::Ok();
}

void Store::CloseDatabase() {
  flushes_->Attach(nullptr);
  journal_.reset();
  if (!db_) return;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

Store::~Store() { CloseDatabase(); }

Status Store::Resume() {
  // Closed and opened again, which recovers the journal (the memtable of
  // the log family, written without a WAL, is lost with the database) and
  // starts a new one. RocksDB's own DB::Resume cannot always resume (not
  // after a resume that failed while the disk was still full), and when the
  // memtables are empty it keeps the WAL file whose write failed and
  // appends to it again (which RocksDB 7.8 asserts against).
  CloseDatabase();
  Status status = OpenDatabase(false);
  if (status.ok()) status = RecoverJournal();
  if (!status.ok()) CloseDatabase();
  return status;
}

Status Store::Closed() const {
  return Status::Unavailable("the database under " + directory_ + " is closed after a failed write");
}

Status Store::CheckOrWriteFormat(Mode mode) {
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), handles_[kDefaultFamily], kFormatKey, &value);
  if (status.IsNotFound()) {
    if (mode == Mode::kReadOnly) return Status::NotFound("no tally format record: not a tally data directory");
    rocksdb::WriteOptions sync;
    sync.sync = true;
    const Status written = FromRocks(db_->Put(sync, handles_[kDefaultFamily], kFormatKey, EncodeFormat(kFormatVersion)),
                                     "writing the format record");
    return written.ok() ? FlushFamily(kDefaultFamily) : written;
  }
  if (!status.ok()) return FromRocks(status, "reading the format record");
  if (value.size() != 12 || XXH3_64bits(value.data(), 4) != LoadFixed64(value.data() + 4)) {
    return Status::Corruption("format record is damaged");
  }
  const std::uint32_t version = LoadFixed32(value.data());
  if (version != kFormatVersion && version != kFormatVersion - 1) {
    return Status::InvalidArgument("data directory has format version " + std::to_string(version) +
                                   ", this build reads versions " + std::to_string(kFormatVersion - 1) + " and " +
                                   std::to_string(kFormatVersion));
  }
  if (version == kFormatVersion || mode == Mode::kReadOnly) return Status::Ok();
  // Version 3 made the log family durable through RocksDB's WAL, which the
  // open has just replayed: flushed to tables, those blocks need no WAL, and
  // the directory moves to the journal.
  if (Status flushed = FlushFamily(kLogFamily); !flushed.ok()) return flushed;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const Status written = FromRocks(db_->Put(sync, handles_[kDefaultFamily], kFormatKey, EncodeFormat(kFormatVersion)),
                                   "writing the format record");
  return written.ok() ? FlushFamily(kDefaultFamily) : written;
}

Result<std::uint64_t> Store::LastSequenceInTables() const {
  std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), handles_[kLogFamily]));
  iterator->SeekToLast();
  if (!iterator->Valid()) {
    Status status = FromRocks(iterator->status(), "reading the log's last block");
    if (!status.ok()) return status;
    return std::uint64_t{0};
  }
  BlockReader reader;
  Status opened = reader.Open(DecodeBigEndianKey(iterator->key().ToStringView()), iterator->value().ToStringView());
  if (!opened.ok()) return opened;
  return reader.first_sequence() + reader.event_count() - 1;
}

Status Store::RecoverJournal() {
  auto files = ListJournalFiles(file_system(), directory_);
  if (!files.ok()) return files.status();
  auto last = LastSequenceInTables();
  if (!last.ok()) return last.status();
  rocksdb::WriteOptions no_wal;
  no_wal.disableWAL = true;
  rocksdb::WriteBatch batch;
  bool wrote = false;
  auto write = [&]() -> Status {
    if (batch.Count() == 0) return Status::Ok();
    wrote = true;
    const Status written = FromRocks(db_->Write(no_wal, &batch), "writing the journal's blocks");
    batch.Clear();
    return written;
  };
  Status status = ReadJournal(file_system(), *files, *last, [&](std::uint64_t first, std::string_view block) {
    Status added = FromRocks(batch.Put(handles_[kLogFamily], BigEndianKey(first), rocksdb::Slice(block.data(), block.size())),
                             "building a write batch");
    if (added.ok() && batch.GetDataSize() >= (4u << 20)) added = write();
    return added;
  });
  if (status.ok()) status = write();
  // In tables (synced by the flush) the blocks need the journal no more.
  if (status.ok() && wrote) status = FlushFamily(kLogFamily);
  if (!status.ok()) return status;
  for (const JournalFileEntry& file : *files) {
    rocksdb::IOStatus deleted = file_system()->DeleteFile(file.path, rocksdb::IOOptions(), nullptr);
    if (!deleted.ok()) return FromRocks(deleted, "deleting " + file.path);
  }
  auto journal = JournalWriter::Start(file_system(), directory_, files->empty() ? 1 : files->back().number + 1,
                                      journal_file_bytes_);
  if (!journal.ok()) return journal.status();
  journal_ = std::move(journal.value());
  flushes_->Attach(journal_.get());
  return Status::Ok();
}

Status Store::ReadJournalBlocks() {
  auto files = ListJournalFiles(file_system(), directory_);
  if (!files.ok()) return files.status();
  auto last = LastSequenceInTables();
  if (!last.ok()) return last.status();
  return ReadJournal(file_system(), *files, *last, [&](std::uint64_t first, std::string_view block) {
    journal_blocks_.emplace(first, std::string(block));
    return Status::Ok();
  });
}

BlockWrite::BlockWrite() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
BlockWrite::~BlockWrite() = default;
BlockWrite::BlockWrite(BlockWrite&&) noexcept = default;
BlockWrite& BlockWrite::operator=(BlockWrite&&) noexcept = default;
void BlockWrite::Clear() {
  batch_->Clear();
  record_.Clear();
}
std::uint32_t BlockWrite::blocks() const { return record_.blocks(); }

Status Store::AddToWrite(const EncodedBlock& block, BlockWrite* write) const {
  if (!db_) return Closed();
  TALLY_ASSERT(block.bytes.size() >= kBlockHeaderBytes);
  const std::uint32_t events = LoadFixed32(block.bytes.data() + 4);
  // The batch records the family's id, which stays the same when the
  // database is opened again (Resume).
  Status status = FromRocks(write->batch_->Put(handles_[kLogFamily], BigEndianKey(block.first_sequence), block.bytes),
                            "building a write batch");
  if (status.ok()) write->record_.Add(block.bytes, block.first_sequence, block.first_sequence + events - 1);
  return status;
}

Status Store::WriteBlocks(std::span<BlockWrite> writes, const std::function<void()>& durable) {
  if (!db_ || !journal_) return Closed();
  for (BlockWrite& write : writes) {
    if (write.record_.blocks() == 0) continue;
    if (Status appended = journal_->Append(write.record_.Finish()); !appended.ok()) return appended;
  }
  if (Status synced = journal_->Sync(); !synced.ok()) return synced;
  if (durable) durable();
  // Durable in the journal: RocksDB takes them into its memtable only; its
  // flushes make them durable in tables, and the journal files go then.
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  for (BlockWrite& write : writes) {
    const rocksdb::Status status = db_->Write(options, write.batch_.get());
    if (!status.ok()) return FromRocks(status, "writing log blocks");
  }
  journal_->Written(db_->GetLatestSequenceNumber());
  return Status::Ok();
}

Result<Event> Store::ReadEvent(std::uint64_t sequence) const {
  if (!db_) return Closed();
  if (!journal_blocks_.empty() && sequence >= journal_blocks_.begin()->first) {
    const auto block = std::prev(journal_blocks_.upper_bound(sequence));
    return FindEventInBlock(block->first, block->second, sequence);
  }
  std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), handles_[kLogFamily]));
  iterator->SeekForPrev(BigEndianKey(sequence));
  if (!iterator->Valid()) {
    Status status = FromRocks(iterator->status(), "reading the log");
    if (!status.ok()) return status;
    return Status::NotFound("no log block holds sequence " + std::to_string(sequence));
  }
  return FindEventInBlock(DecodeBigEndianKey(iterator->key().ToStringView()), iterator->value().ToStringView(),
                          sequence);
}

namespace {
constexpr std::string_view kTokenPrefix = "token:";
}  // namespace

Status Store::PutToken(std::string_view hash, std::string_view record) {
  if (!db_) return Closed();
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const Status written = FromRocks(db_->Put(sync, handles_[kDefaultFamily], std::string(kTokenPrefix) + std::string(hash),
                                            rocksdb::Slice(record.data(), record.size())),
                                   "writing a token");
  return written.ok() ? FlushFamily(kDefaultFamily) : written;
}

Result<std::optional<std::string>> Store::GetToken(std::string_view hash) const {
  if (!db_) return Closed();
  std::string record;
  rocksdb::Status status =
      db_->Get(rocksdb::ReadOptions(), handles_[kDefaultFamily], std::string(kTokenPrefix) + std::string(hash), &record);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return FromRocks(status, "reading a token");
  return std::optional<std::string>(std::move(record));
}

Status Store::ForEachToken(const std::function<Status(std::string_view, std::string_view)>& visit) const {
  if (!db_) return Closed();
  std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), handles_[kDefaultFamily]));
  for (iterator->Seek(rocksdb::Slice(kTokenPrefix.data(), kTokenPrefix.size()));
       iterator->Valid() && iterator->key().starts_with(rocksdb::Slice(kTokenPrefix.data(), kTokenPrefix.size()));
       iterator->Next()) {
    std::string_view key = iterator->key().ToStringView();
    key.remove_prefix(kTokenPrefix.size());
    Status status = visit(key, iterator->value().ToStringView());
    if (!status.ok()) return status;
  }
  return FromRocks(iterator->status(), "reading tokens");
}

Status Store::Checkpoint(const std::string& directory) const {
  if (!db_ || !journal_) return Closed();
  if (std::filesystem::exists(directory)) return Status::InvalidArgument(directory + " exists already");
  rocksdb::Checkpoint* raw = nullptr;
  const rocksdb::Status created = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!created.ok()) return FromRocks(created, "starting a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // No flush (log_size_for_flush at its maximum): the live WAL files are
  // copied instead (the default family's), and the copy replays them when
  // it is opened. The log family's memtable is in no WAL: the journal's
  // records are copied after, and the copy recovers them as after a crash.
  // Its files are kept meanwhile, so that those the checkpoint's tables do
  // not hold are all there. The caller keeps writes out, so the journal
  // ends at a group commit.
  journal_->HoldDeletions();
  Status status = FromRocks(checkpoint->CreateCheckpoint(directory, std::numeric_limits<std::uint64_t>::max()),
                            "writing a checkpoint to " + directory);
  if (status.ok()) status = journal_->CopyTo(directory);
  journal_->ReleaseDeletions();
  return status;
}

std::vector<std::uint64_t> Store::JournalFiles() const { return journal_ ? journal_->files() : std::vector<std::uint64_t>(); }

Status Store::ForEachBlock(const std::function<Status(std::uint64_t, std::string_view)>& visit) const {
  if (!db_) return Closed();
  rocksdb::ReadOptions options;
  options.fill_cache = false;  // a full scan should not evict what queries use
  options.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(options, handles_[kLogFamily]));
  for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
    if (iterator->key().size() != 8) {
      return Status::Corruption("log key of " + std::to_string(iterator->key().size()) + " bytes");
    }
    Status status = visit(DecodeBigEndianKey(iterator->key().ToStringView()), iterator->value().ToStringView());
    if (!status.ok()) return status;
  }
  if (Status status = FromRocks(iterator->status(), "scanning the log"); !status.ok()) return status;
  for (const auto& [first, block] : journal_blocks_) {
    if (Status status = visit(first, block); !status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace tally::internal

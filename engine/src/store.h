// Store: the RocksDB database under a data directory. It knows keys and
// column families (docs/storage.md), not the rules of the ledger.
//
// Column families:
//   default  format record ("format" -> version)
//   log      big-endian first sequence -> log block
//
// Thread safety: all methods are safe to call concurrently (RocksDB is).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event.h"
#include "journal.h"
#include "tally/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class FileSystem;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace tally::internal {

class JournalWriter;
class LogFlushes;

// A RocksDB status as tally's, its message prefixed with `what`.
Status FromRocks(const rocksdb::Status& status, const std::string& what);

// 2: program-aware events; 3: the hash chain; 4: the journal (docs/journal.md).
inline constexpr std::uint32_t kFormatVersion = 4;
inline constexpr std::uint64_t kJournalFileBytesDefault = 64 << 20;

struct EncodedBlock {
  std::uint64_t first_sequence = 0;
  std::string bytes;
  // Where each event starts in `bytes`, for a block this process built
  // (kept in memory only; empty when not known).
  std::vector<std::uint16_t> event_offsets;
};

// The write of one group commit's blocks — its journal record and its
// RocksDB batch — made by the thread that applied the group and written by
// the log writer's thread (log_writer.h).
class BlockWrite {
 public:
  BlockWrite();
  ~BlockWrite();
  BlockWrite(BlockWrite&&) noexcept;
  BlockWrite& operator=(BlockWrite&&) noexcept;

  // Empties it for another group, keeping its buffer.
  void Clear();
  // The blocks added since it was made or emptied.
  std::uint32_t blocks() const;

 private:
  friend class Store;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  JournalRecordBuilder record_;
};

class Store {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // `env` null: the default environment (tests pass one that injects faults).
  // Read-write, the journal is recovered into RocksDB's tables and a new
  // one started, of files of `journal_file_bytes`; read-only, the
  // journal's blocks after the tables are read into memory and served with
  // them (docs/journal.md).
  static Result<std::unique_ptr<Store>> Open(const std::string& directory, Mode mode, bool create_if_missing,
                                             std::shared_ptr<rocksdb::Env> env = nullptr,
                                             std::uint64_t journal_file_bytes = kJournalFileBytesDefault);
  ~Store();

  // After a failed write: closes the database and opens it again, with the
  // journal's recovery (what the failed write made durable is kept, the
  // rest is not); it fails while the cause (a full disk, say) is still
  // there. While the database is closed every method answers Unavailable.
  // REQUIRES: no other call in progress.
  Status Resume();

  // Adds `block` to `write` under its key (copies its bytes).
  Status AddToWrite(const EncodedBlock& block, BlockWrite* write) const;

  // Writes `writes` in order, each a record of the journal, syncs the
  // journal once, then writes them to RocksDB's log family without its WAL
  // (docs/journal.md): when it returns Ok, all are durable and readable.
  // After an error Resume() must be called before the next write; what the
  // failed write made durable is then kept, and writing the same blocks
  // again puts the same bytes under the same keys. REQUIRES: read-write
  // mode; one call at a time.
  //
  // `durable`, if given, is called on this thread the moment all of them
  // are durable — when the journal's sync returns, before RocksDB has made
  // them readable — or not at all, when the journal's write or sync failed.
  // It must not write to the store. Once called, they are durable whatever
  // WriteBlocks then returns.
  Status WriteBlocks(std::span<BlockWrite> writes, const std::function<void()>& durable = nullptr);

  // The event with sequence `sequence`, read from its block (checksum verified).
  // NotFound if no block holds it.
  Result<Event> ReadEvent(std::uint64_t sequence) const;

  // Token records (docs/security.md), in the default column family under
  // "token:" and the SHA-256 of the secret. Written with a sync.
  Status PutToken(std::string_view hash, std::string_view record);
  Result<std::optional<std::string>> GetToken(std::string_view hash) const;
  Status ForEachToken(const std::function<Status(std::string_view hash, std::string_view record)>& visit) const;

  // A consistent copy of the database in `directory`, which must not exist
  // (a RocksDB checkpoint: hard links where it can, copies elsewhere; then
  // the journal's records, copied). REQUIRES: read-write mode, no write in
  // progress.
  Status Checkpoint(const std::string& directory) const;

  // The numbers of the journal files in use (tests). Read-write mode.
  std::vector<std::uint64_t> JournalFiles() const;

  // Visits every block in sequence order, passing its key's sequence and bytes.
  // Stops at the first non-ok Status from `visit` and returns it.
  Status ForEachBlock(const std::function<Status(std::uint64_t, std::string_view)>& visit) const;

 private:
  Store() = default;
  Status OpenDatabase(bool create_if_missing);
  void CloseDatabase();
  Status Closed() const;
  Status CheckOrWriteFormat(Mode mode);
  Status FlushFamily(std::size_t family);
  rocksdb::FileSystem* file_system() const;
  // The last sequence the log family's blocks hold (0: none).
  Result<std::uint64_t> LastSequenceInTables() const;
  // Read-write: the journal's blocks after the tables written to them and
  // flushed, its files deleted, and a new journal started.
  Status RecoverJournal();
  // Read-only: the journal's blocks after the tables, into journal_blocks_.
  Status ReadJournalBlocks();

  std::string directory_;
  Mode mode_ = Mode::kReadWrite;
  std::uint64_t journal_file_bytes_ = kJournalFileBytesDefault;
  std::shared_ptr<rocksdb::Env> env_;  // outlives db_
  std::shared_ptr<LogFlushes> flushes_;  // RocksDB's listener, telling journal_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<JournalWriter> journal_;  // read-write; closed before db_
  std::map<std::uint64_t, std::string> journal_blocks_;  // read-only: blocks after the tables, by first sequence
};

}  // namespace tally::internal

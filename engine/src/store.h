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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event.h"
#include "tally/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace tally::internal {

// A RocksDB status as tally's, its message prefixed with `what`.
Status FromRocks(const rocksdb::Status& status, const std::string& what);

inline constexpr std::uint32_t kFormatVersion = 3;  // 2: program-aware events; 3: the hash chain

struct EncodedBlock {
  std::uint64_t first_sequence = 0;
  std::string bytes;
  // Where each event starts in `bytes`, for a block this process built
  // (kept in memory only; empty when not known).
  std::vector<std::uint16_t> event_offsets;
};

// The RocksDB write of one group commit's blocks, made by the thread that
// applied the group and written by the log writer's thread (log_writer.h).
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
};

class Store {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // `env` null: the default environment (tests pass one that injects faults).
  static Result<std::unique_ptr<Store>> Open(const std::string& directory, Mode mode, bool create_if_missing,
                                             std::shared_ptr<rocksdb::Env> env = nullptr);
  ~Store();

  // After a failed write RocksDB refuses further writes until it has
  // recovered: Resume() closes the database and opens it again (replaying
  // the WAL into a new one); it fails while the cause (a full disk, say) is
  // still there. While the database is closed every method answers
  // Unavailable. REQUIRES: no other call in progress.
  Status Resume();

  // Adds `block` to `write` under its key (copies its bytes).
  Status AddToWrite(const EncodedBlock& block, BlockWrite* write) const;

  // Writes `writes` in order, each atomically, and fsyncs the WAL once
  // before returning: when it returns Ok, all are durable. After an error
  // some may be written; writing them again puts the same bytes under the
  // same keys. REQUIRES: read-write mode.
  //
  // `durable`, if given, is called on this thread the moment all of them
  // are durable — when the WAL's sync returns, before RocksDB has made them
  // readable and returned (wal_watch.h) — or not at all, when that moment
  // is not seen (the write failed; rarely, another thread wrote them). It
  // must not write to the store. Once called, they are durable whatever
  // WriteBlocks then returns.
  Status WriteBlocks(std::span<const BlockWrite> writes, const std::function<void()>& durable = nullptr);

  // The event with sequence `sequence`, read from its block (checksum verified).
  // NotFound if no block holds it.
  Result<Event> ReadEvent(std::uint64_t sequence) const;

  // Token records (docs/security.md), in the default column family under
  // "token:" and the SHA-256 of the secret. Written with a sync.
  Status PutToken(std::string_view hash, std::string_view record);
  Result<std::optional<std::string>> GetToken(std::string_view hash) const;
  Status ForEachToken(const std::function<Status(std::string_view hash, std::string_view record)>& visit) const;

  // A consistent copy of the database in `directory`, which must not exist
  // (a RocksDB checkpoint: hard links where it can, copies elsewhere).
  Status Checkpoint(const std::string& directory) const;

  // Visits every block in sequence order, passing its key's sequence and bytes.
  // Stops at the first non-ok Status from `visit` and returns it.
  Status ForEachBlock(const std::function<Status(std::uint64_t, std::string_view)>& visit) const;

 private:
  Store() = default;
  Status OpenDatabase(bool create_if_missing);
  void CloseDatabase();
  Status Closed() const;
  Status CheckOrWriteFormat(Mode mode);
  Status FlushDefaultFamily();

  std::string directory_;
  Mode mode_ = Mode::kReadWrite;
  std::shared_ptr<rocksdb::Env> env_;  // outlives db_
  std::unique_ptr<rocksdb::Env> wal_env_;  // env_'s, its WAL files watched (wal_watch.h); outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace tally::internal

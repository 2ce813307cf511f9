// WalWatch: tells the thread that writes to RocksDB the moment its write is
// durable, instead of when RocksDB's Write() returns.
//
// A synced RocksDB write appends its record to the WAL, fsyncs the WAL (and,
// for a WAL file new since the last time, the directory), and only then
// inserts the record into the memtable and leaves the write group: ~10–20
// µs after the data is on disk, during which the ledger's answers waited
// for nothing. WalFileSystem wraps the file system RocksDB writes through
// and watches the WAL files of one directory; a thread that arms a WalWatch
// around its Write() gets `durable` called on it, inside RocksDB's write,
// as soon as:
//   - every WAL byte it appended while armed has been synced by a later
//     sync of the same file (RocksDB syncs older WAL files before the
//     current one, so they are synced too), and
//   - that file's directory entry is durable: a successful fsync of the
//     directory began after the file was created.
// If that never happens (RocksDB's write failed, or another thread led the
// write group and wrote this thread's batch), `durable` is not called and
// the caller learns the outcome from Write() as before.
//
// `durable` runs inside RocksDB's write path with no RocksDB lock held; it
// must not write to the same database (that write would wait for this one).
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tally::internal {

class WalFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  // Watches the WAL files (`*.log`) created directly in `directory`.
  WalFileSystem(std::shared_ptr<rocksdb::FileSystem> target, const std::string& directory);
  const char* Name() const override { return "WalFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                      rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* directory,
                                 rocksdb::IODebugContext* debug) override;

 private:
  class WalFile;
  class Directory;

  bool IsWal(const std::string& name) const;
  rocksdb::IOStatus Watch(rocksdb::IOStatus opened, std::unique_ptr<rocksdb::FSWritableFile>* file);
  // After a sync on this thread: calls the armed watch's `durable` if its
  // write is now durable.
  void MaybeDurable();

  const std::string directory_;  // normalized, no trailing separator
  // WAL files are numbered as they are created; a directory fsync that
  // began after file n was created makes entries 1..n durable.
  std::atomic<std::uint64_t> wal_files_created_{0};
  std::atomic<std::uint64_t> wal_entries_synced_{0};
};

// Armed on this thread for its lifetime (see above); `durable` must outlive
// it. Not nested.
class WalWatch {
 public:
  explicit WalWatch(const std::function<void()>& durable);
  ~WalWatch();
  WalWatch(const WalWatch&) = delete;
  WalWatch& operator=(const WalWatch&) = delete;

  // `durable` has been called.
  bool told() const { return told_; }

 private:
  friend class WalFileSystem;
  const std::function<void()>& durable_;
  const void* file_ = nullptr;      // the WAL file last appended to while armed
  std::uint64_t file_number_ = 0;   // its creation number
  bool appended_unsynced_ = false;  // appended to since its last sync
  bool told_ = false;
};

}  // namespace tally::internal

// JournalWriter: the journal's files as the store writes them
// (docs/journal.md): the current file, taking one record after another at
// its next offset; the next file, prepared ahead by a thread of its own;
// and the files left behind, deleted once RocksDB's tables hold everything
// they hold.
//
// Thread safety: Append, Sync and Written are called by one thread at a
// time (the store's writer). Flushed, HoldDeletions, ReleaseDeletions,
// CopyTo and files may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "journal.h"
#include "tally/status.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace tally::internal {

class JournalWriter {
 public:
  // Prepares the file numbered `first_number` in `directory` (`file_bytes`
  // of fill, synced with its directory) and starts writing there.
  static Result<std::unique_ptr<JournalWriter>> Start(rocksdb::FileSystem* file_system, const std::string& directory,
                                                      std::uint64_t first_number, std::uint64_t file_bytes);
  // Stops the thread; the files stay.
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Writes `record` at the current file's next offset. A record that does
  // not fit goes to the start of the next file, after the current one is
  // synced (so that a record is never durable while one before it is not).
  // The next file is prepared once the current one is half full; a record
  // waits for it only when it is not ready yet, and a record larger than a
  // file gets a file of its size. After an error the record may be written
  // in part: the journal must be read again (recovery) before it is
  // written to again.
  Status Append(std::string_view record);
  // Makes every record appended so far durable (one fdatasync).
  Status Sync();
  // The records appended so far are in RocksDB, whose last sequence number
  // is now `rocks_sequence`.
  void Written(std::uint64_t rocks_sequence);
  // RocksDB's tables hold everything up to its sequence number
  // `rocks_sequence` (a flush of the log family has finished): files left
  // behind whose records are all that old are deleted, on this thread.
  void Flushed(std::uint64_t rocks_sequence);

  // While held (a backup copies the files), no file is deleted; the
  // release deletes what is due.
  void HoldDeletions();
  void ReleaseDeletions();
  // Copies into `directory` the part of each file that holds records, in
  // files of the same names, synced. REQUIRES: deletions held, no Append.
  Status CopyTo(const std::string& directory) const;

  // The numbers of the files in use: left behind and not yet deleted, then
  // the current one.
  std::vector<std::uint64_t> files() const;

 private:
  struct Left {
    std::uint64_t number = 0;
    std::string path;
    std::uint64_t used = 0;            // bytes of records
    std::uint64_t rocks_sequence = 0;  // RocksDB's last sequence after its records' write; kUnwritten until known
  };
  static constexpr std::uint64_t kUnwritten = ~std::uint64_t{0};

  JournalWriter(rocksdb::FileSystem* file_system, std::string directory, std::uint64_t file_bytes,
                std::unique_ptr<JournalFile> first, std::uint64_t first_number);
  // Moves to a prepared file of at least `bytes`, the current one synced.
  Status NextFile(std::uint64_t bytes);
  // Prepares the next file when it is wanted.
  void Run();
  // Deletes the files left behind that the tables hold, unless held.
  // REQUIRES: `lock` holds mutex_; it is released.
  void DeleteCovered(std::unique_lock<std::mutex>& lock);

  rocksdb::FileSystem* const file_system_;
  const std::string directory_;
  const std::uint64_t file_bytes_;

  // The writer's; offset_ is also read under mutex_.
  std::unique_ptr<JournalFile> current_;
  std::uint64_t current_number_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;      // the thread: a file wanted, or stopping
  std::condition_variable prepared_;  // the writer: the next file is ready, or could not be made
  std::uint64_t offset_ = 0;
  std::unique_ptr<JournalFile> ready_;
  std::uint64_t ready_number_ = 0;
  std::uint64_t next_number_;        // the number the next file prepared gets
  std::uint64_t wanted_bytes_ = 0;   // a file of this size is wanted (0: none)
  Status prepare_failure_;
  std::deque<Left> left_;
  std::uint64_t flushed_ = 0;
  int holds_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts when everything above is ready
};

}  // namespace tally::internal

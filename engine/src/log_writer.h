// LogWriter: the second stage of a group commit. The ledger applies a group
// in memory and hands its blocks here; this writer's thread writes whatever
// groups have queued up with one synced RocksDB write, so that the next
// group is applied while this one's fsync runs. Whoever waits for a
// sequence (a caller of Apply, a server holding an answer) is told once it
// is durable, or that it cannot be written (docs/engine.md, "Group commit").
//
// Thread safety: every method may be called from any thread. Resume()
// requires that nothing else uses the store meanwhile (the ledger holds its
// exclusive lock, under which groups are enqueued too).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "block.h"
#include "store.h"
#include "tally/status.h"

namespace tally::internal {

class LogWriter {
 public:
  using Waiter = std::function<void(const Status&)>;

  // Everything up to `durable_sequence` (chain hash `durable_head`) is on disk.
  LogWriter(Store* store, std::uint64_t durable_sequence, const ChainHash& durable_head);
  // Writes what is queued, tells its waiters, and stops.
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queues a group's blocks, which end at `last_sequence` with chain hash
  // `head`; groups are enqueued in sequence order. While the writer is
  // stopped by a failed write, the group joins the unwritten ones.
  //
  // With `may_write_here`, a group that finds the writer's thread idle is
  // left for the caller instead of waking the thread: Enqueue returns true,
  // and the caller must then call WriteHere() (holding no lock that a
  // caller of Enqueue takes). At light load this spares a request a
  // thread's wake-up, which costs as much as a tenth of the fsync on a
  // virtual machine; the caller waits for the fsync it would have waited
  // for anyway. Only small groups should ask: the caller applies nothing
  // while it writes.
  bool Enqueue(BlockWrite write, std::uint64_t last_sequence, const ChainHash& head, bool may_write_here = false);
  // Writes every queued group on the calling thread, tells their waiters
  // (here, as soon as they are durable), then calls `then` if given, and
  // lets the thread write what is queued after them. `then` runs only
  // after a write that succeeded, possibly before this returns (while
  // RocksDB finishes the write: it must not write to the store).
  // REQUIRES: an Enqueue returned true, and neither this nor HandOff() has
  // been called since. Groups enqueued in between are written too, with
  // the same fsync: a caller may hold the write while it applies more.
  void WriteHere(const std::function<void()>& then = nullptr);
  // Leaves what the caller was to write (WriteHere) to the writer's thread.
  // REQUIRES: as WriteHere().
  void HandOff();
  // An empty write for the next group: one already written, whose buffer
  // is kept (a fresh buffer of a megabyte grown by doubling cost a copy
  // and a page fault per page, each group), or a new one.
  BlockWrite TakeEmptyWrite();

  // Calls `done` with Ok once everything up to `sequence` is durable, or with
  // why it cannot be; at once, on this thread, when that is already known,
  // else later on the writer's thread. `done` must not call back into the
  // writer.
  void WhenDurable(std::uint64_t sequence, Waiter done);
  // The same, waiting.
  Status WaitDurable(std::uint64_t sequence);

  // True from a failed write until Resume() writes what failed.
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Ok, or why the writer is stopped.
  Status failure() const;
  // Writes the groups of the failed write and those queued after it.
  // Ok when the writer writes again (or never stopped).
  // REQUIRES: nothing else uses the store (the ledger's exclusive lock).
  Status Resume();

  // The last durable sequence and its chain hash, read together.
  std::pair<std::uint64_t, ChainHash> durable() const;
  std::uint64_t durable_sequence() const { return durable_sequence_.load(std::memory_order_acquire); }

 private:
  struct Group {
    BlockWrite write;
    std::uint64_t last_sequence = 0;
    ChainHash head{};
  };
  struct Waiting {
    std::uint64_t sequence = 0;
    Waiter done;
  };

  void Run();
  // Writes `taken`, in order, with one synced write, and tells their
  // waiters, then calls `then`; on failure keeps them for Resume().
  // Clears `taken`.
  void Write(std::vector<Group>& taken, const std::function<void()>& then);
  // The groups up to `last_sequence` are durable: tells their waiters.
  void TellDurable(std::uint64_t last_sequence, const ChainHash& head);
  // REQUIRES: mutex_ held. The groups are durable: the waiters they satisfy
  // are moved to `ready`.
  void WrittenLocked(std::uint64_t last_sequence, const ChainHash& head, std::vector<Waiting>* ready);

  Store* store_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Group> queue_;      // applied, not yet taken by the thread
  std::vector<Group> unwritten_;  // the failed write's groups and those after it, in order
  std::vector<Waiting> waiting_;
  std::vector<BlockWrite> written_;  // empty, for TakeEmptyWrite
  Status failure_;
  bool stopping_ = false;
  bool writing_ = false;  // a write is in progress, on the thread or a caller's (WriteHere)
  std::uint64_t durable_head_sequence_ = 0;  // with durable_head_, under mutex_
  ChainHash durable_head_{};
  std::atomic<std::uint64_t> durable_sequence_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;  // last: starts when everything above is ready
};

}  // namespace tally::internal

#include "log_writer.h"

#include <utility>

namespace tally::internal {
namespace {

// Kept for reuse: two groups in flight, one being applied, one spare.
constexpr std::size_t kWritesKept = 4;

// What the ledger answers while a write fails (docs/engine.md, "When a write
// fails").
Status StoppedByWrite(const Status& cause) {
  return Status::Unavailable("the ledger cannot write to its disk (" + cause.message() +
                             "); it refuses commands and queries until a write succeeds, and retries with each "
                             "request. Commands that got this answer may or may not be applied: send them again "
                             "with the same ids");
}

void Tell(std::vector<std::pair<LogWriter::Waiter, Status>>& told) {
  for (auto& [done, status] : told) done(status);
}

}  // namespace

LogWriter::LogWriter(Store* store, std::uint64_t durable_sequence, const ChainHash& durable_head)
    : store_(store),
      durable_head_sequence_(durable_sequence),
      durable_head_(durable_head),
      durable_sequence_(durable_sequence),
      thread_([this] { Run(); }) {}

LogWriter::~LogWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  // Only a stopped writer leaves anyone waiting: tell them.
  std::vector<Waiting> waiting;
  Status status;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(waiting_);
    status = failure_.ok() ? Status::Unavailable("the ledger closed before the write") : failure_;
  }
  for (Waiting& waiter : waiting) waiter.done(status);
}

bool LogWriter::Enqueue(BlockWrite write, std::uint64_t last_sequence, const ChainHash& head, bool may_write_here) {
  {
    std::lock_guard lock(mutex_);
    if (!failure_.ok()) {
      unwritten_.push_back(Group{std::move(write), last_sequence, head});
      return false;
    }
    queue_.push_back(Group{std::move(write), last_sequence, head});
    if (may_write_here && !writing_ && queue_.size() == 1) {
      writing_ = true;  // the thread leaves the queue to the caller
      return true;
    }
    // Whoever writes now (the thread, or a caller) takes this group next
    // without being woken.
    if (writing_) return false;
  }
  wake_.notify_one();
  return false;
}

void LogWriter::HandOff() {
  bool more = false;
  {
    std::lock_guard lock(mutex_);
    TALLY_ASSERT(writing_);
    writing_ = false;
    more = !queue_.empty() || stopping_;
  }
  if (more) wake_.notify_one();
}

void LogWriter::WriteHere(const std::function<void()>& then) {
  std::vector<Group> taken;
  {
    std::lock_guard lock(mutex_);
    TALLY_ASSERT(writing_);
    taken.swap(queue_);
  }
  Write(taken, then);
  bool more = false;
  {
    std::lock_guard lock(mutex_);
    writing_ = false;
    more = !queue_.empty() || stopping_;
  }
  if (more) wake_.notify_one();
}

BlockWrite LogWriter::TakeEmptyWrite() {
  std::lock_guard lock(mutex_);
  if (written_.empty()) return BlockWrite();
  BlockWrite write = std::move(written_.back());
  written_.pop_back();
  return write;
}

void LogWriter::WhenDurable(std::uint64_t sequence, Waiter done) {
  Status status;
  {
    std::lock_guard lock(mutex_);
    if (durable_sequence_.load(std::memory_order_relaxed) < sequence) {
      if (failure_.ok()) {
        waiting_.push_back(Waiting{sequence, std::move(done)});
        return;
      }
      status = failure_;
    }
  }
  done(status);
}

Status LogWriter::WaitDurable(std::uint64_t sequence) {
  if (durable_sequence() >= sequence) return Status::Ok();
  std::mutex mutex;
  std::condition_variable told;
  bool done = false;
  Status result;
  WhenDurable(sequence, [&](const Status& status) {
    std::lock_guard lock(mutex);
    result = status;
    done = true;
    told.notify_one();
  });
  std::unique_lock lock(mutex);
  told.wait(lock, [&] { return done; });
  return result;
}

Status LogWriter::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::pair<std::uint64_t, ChainHash> LogWriter::durable() const {
  std::lock_guard lock(mutex_);
  return {durable_head_sequence_, durable_head_};
}

void LogWriter::WrittenLocked(std::uint64_t last_sequence, const ChainHash& head, std::vector<Waiting>* ready) {
  durable_head_sequence_ = last_sequence;
  durable_head_ = head;
  durable_sequence_.store(last_sequence, std::memory_order_release);
  // Waiters come nearly in sequence order; the list is short (one per
  // caller or answer held since the last write).
  std::size_t kept = 0;
  for (Waiting& waiter : waiting_) {
    if (waiter.sequence <= last_sequence) {
      ready->push_back(std::move(waiter));
    } else {
      waiting_[kept++] = std::move(waiter);
    }
  }
  waiting_.resize(kept);
}

void LogWriter::Run() {
  std::vector<Group> taken;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return !writing_ && (stopping_ || !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and everything is written
      taken.swap(queue_);
      writing_ = true;
    }
    Write(taken, nullptr);
    std::lock_guard lock(mutex_);
    writing_ = false;
  }
}

void LogWriter::Write(std::vector<Group>& taken, const std::function<void()>& then) {
  std::vector<BlockWrite> writes;
  writes.reserve(taken.size());
  for (Group& group : taken) writes.push_back(std::move(group.write));
  // The waiters are told the moment the journal's sync returns, before
  // RocksDB has also inserted the blocks into its memtable (store.h). If
  // that moment is not seen, they are told once the write returns.
  bool told_durable = false;
  const std::function<void()> durable = [&] {
    TellDurable(taken.back().last_sequence, taken.back().head);
    told_durable = true;
    if (then) then();
  };
  const Status written = store_->WriteBlocks(writes, durable);
  if (written.ok() && !told_durable) durable();
  std::vector<std::pair<Waiter, Status>> told;
  {
    std::lock_guard lock(mutex_);
    if (!written.ok()) {
      // Keep the groups that are not known durable, in order, to be written
      // by Resume(); everyone still waiting waits for one of them.
      failure_ = StoppedByWrite(written);
      stopped_.store(true, std::memory_order_release);
      if (told_durable) {
        taken.clear();
      } else {
        for (std::size_t index = 0; index < taken.size(); ++index) taken[index].write = std::move(writes[index]);
      }
      for (Group& group : queue_) taken.push_back(std::move(group));
      queue_.clear();
      unwritten_ = std::move(taken);
      for (Waiting& waiter : waiting_) told.emplace_back(std::move(waiter.done), failure_);
      waiting_.clear();
    }
    if (told_durable) {
      for (BlockWrite& write : writes) {
        if (written_.size() == kWritesKept) break;
        write.Clear();
        written_.push_back(std::move(write));
      }
    }
  }
  taken.clear();
  Tell(told);
}

void LogWriter::TellDurable(std::uint64_t last_sequence, const ChainHash& head) {
  std::vector<Waiting> ready;
  {
    std::lock_guard lock(mutex_);
    WrittenLocked(last_sequence, head, &ready);
  }
  for (Waiting& waiter : ready) waiter.done(Status::Ok());
}

Status LogWriter::Resume() {
  std::vector<Waiting> ready;
  std::vector<std::pair<Waiter, Status>> told;
  {
    std::lock_guard lock(mutex_);
    if (failure_.ok()) return Status::Ok();
    // The thread is idle: nothing is queued while the writer is stopped.
    Status status = store_->Resume();
    if (status.ok()) {
      std::vector<BlockWrite> writes;
      for (Group& group : unwritten_) writes.push_back(std::move(group.write));
      status = store_->WriteBlocks(writes);
      for (std::size_t index = 0; index < writes.size(); ++index) unwritten_[index].write = std::move(writes[index]);
    }
    if (!status.ok()) {
      failure_ = StoppedByWrite(status);
      return failure_;
    }
    if (!unwritten_.empty()) WrittenLocked(unwritten_.back().last_sequence, unwritten_.back().head, &ready);
    unwritten_.clear();
    failure_ = Status::Ok();
    stopped_.store(false, std::memory_order_release);
    for (Waiting& waiter : ready) told.emplace_back(std::move(waiter.done), Status::Ok());
  }
  Tell(told);
  return Status::Ok();
}

}  // namespace tally::internal

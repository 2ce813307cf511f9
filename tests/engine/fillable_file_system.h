// FillableFileSystem: a RocksDB FileSystem for fault tests. Every write,
// sync and file creation (appended files, and files written at offsets)
// fails while the disk is "full" (with the error
// RocksDB sees when a real disk fills up) or "failing" (an I/O error), and
// works again once it is freed. Syncs can also be held: a sync waits until
// released, so that a test knows a write is in progress (pipelining
// tests). Pass it to the ledger as
// OpenOptions::env = rocksdb::NewCompositeEnv(file_system).
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace tally::testing {

class FillableFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FillableFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FillableFileSystem"; }

  void Fill() {
    io_error_.store(false);
    full_.store(true);
  }
  void FailWrites() {
    io_error_.store(true);
    full_.store(true);
  }
  void Free() { full_.store(false); }
  int failed_writes() const { return failed_writes_.load(); }

  // From now on every sync waits until ReleaseSyncs().
  void HoldSyncs() {
    std::lock_guard lock(gate_mutex_);
    holding_ = true;
  }
  // Returns once a sync is waiting.
  void WaitForHeldSync() {
    std::unique_lock lock(gate_mutex_);
    gate_.wait(lock, [&] { return held_ > 0; });
  }
  // Syncs and fsyncs of files so far.
  int syncs() {
    std::lock_guard lock(gate_mutex_);
    return syncs_;
  }
  // The thread of the latest sync.
  std::thread::id last_sync_thread() {
    std::lock_guard lock(gate_mutex_);
    return last_sync_thread_;
  }
  void ReleaseSyncs() {
    {
      std::lock_guard lock(gate_mutex_);
      holding_ = false;
    }
    gate_.notify_all();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    if (full_.load()) return NoSpace();
    return Wrap(target_->NewWritableFile(name, options, file, debug), file);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* file,
                                       rocksdb::IODebugContext* debug) override {
    if (full_.load()) return NoSpace();
    return Wrap(target_->ReopenWritableFile(name, options, file, debug), file);
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    if (full_.load()) return NoSpace();
    rocksdb::IOStatus status = target_->NewRandomRWFile(name, options, file, debug);
    if (status.ok()) file->reset(new RandomRWFile(std::move(*file), this));
    return status;
  }

 private:
  // A file's syncs, gated and failed as the disk says; the same for both
  // kinds of file (appended, and written at offsets), whose Sync and Fsync
  // have one signature.
  template <typename Wrapper>
  class Gated : public Wrapper {
   public:
    template <typename Target>
    Gated(Target target, FillableFileSystem* disk) : Wrapper(std::move(target)), disk_(disk) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->SyncFault();
      return fault.ok() ? Wrapper::Sync(options, debug) : fault;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->SyncFault();
      return fault.ok() ? Wrapper::Fsync(options, debug) : fault;
    }

   protected:
    FillableFileSystem* disk_;
  };

  class File final : public Gated<rocksdb::FSWritableFileOwnerWrapper> {
   public:
    using Gated::Gated;
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->WriteFault();
      return fault.ok() ? FSWritableFileOwnerWrapper::Append(data, options, debug) : fault;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->WriteFault();
      return fault.ok() ? FSWritableFileOwnerWrapper::Append(data, options, info, debug) : fault;
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->WriteFault();
      return fault.ok() ? FSWritableFileOwnerWrapper::Flush(options, debug) : fault;
    }
  };

  // A file written at offsets (the journal's).
  class RandomRWFile final : public Gated<rocksdb::FSRandomRWFileOwnerWrapper> {
   public:
    using Gated::Gated;
    rocksdb::IOStatus Write(uint64_t offset, const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* debug) override {
      const rocksdb::IOStatus fault = disk_->WriteFault();
      return fault.ok() ? FSRandomRWFileOwnerWrapper::Write(offset, data, options, debug) : fault;
    }
  };

  // A file the target opened, made to fail while the disk is full.
  rocksdb::IOStatus Wrap(rocksdb::IOStatus status, std::unique_ptr<rocksdb::FSWritableFile>* file) {
    if (status.ok()) file->reset(new File(std::move(*file), this));
    return status;
  }

  void PassGate() {
    std::unique_lock lock(gate_mutex_);
    last_sync_thread_ = std::this_thread::get_id();
    ++syncs_;
    if (!holding_) return;
    ++held_;
    gate_.notify_all();
    gate_.wait(lock, [&] { return !holding_; });
    --held_;
  }

  // What a write meets: the fault while the disk is full, else nothing.
  rocksdb::IOStatus WriteFault() { return full_.load() ? NoSpace() : rocksdb::IOStatus::OK(); }
  // What a sync meets: the gate (HoldSyncs), then the same.
  rocksdb::IOStatus SyncFault() {
    PassGate();
    return WriteFault();
  }

  rocksdb::IOStatus NoSpace() {
    failed_writes_.fetch_add(1);
    if (io_error_.load()) return rocksdb::IOStatus::IOError("injected: input/output error");
    return rocksdb::IOStatus::NoSpace("injected: no space left on device");
  }

  std::atomic<bool> full_{false};
  std::atomic<bool> io_error_{false};
  std::atomic<int> failed_writes_{0};
  std::mutex gate_mutex_;
  std::condition_variable gate_;
  bool holding_ = false;
  int held_ = 0;  // syncs waiting at the gate
  std::thread::id last_sync_thread_;
  int syncs_ = 0;
};

}  // namespace tally::testing

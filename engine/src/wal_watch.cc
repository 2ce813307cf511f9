#include "wal_watch.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "tally/status.h"

namespace tally::internal {
namespace {

thread_local WalWatch* armed = nullptr;

std::string Normalized(const std::string& path) {
  std::string normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace

WalWatch::WalWatch(const std::function<void()>& durable) : durable_(durable) {
  TALLY_ASSERT(armed == nullptr);
  armed = this;
}

WalWatch::~WalWatch() { armed = nullptr; }

// A WAL file: records which armed thread appended to it, and whether a sync
// covered what it appended.
class WalFileSystem::WalFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  WalFile(std::unique_ptr<rocksdb::FSWritableFile> target, WalFileSystem* file_system, std::uint64_t number)
      : FSWritableFileOwnerWrapper(std::move(target)), file_system_(file_system), number_(number) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* debug) override {
    return Appended(FSWritableFileOwnerWrapper::Append(data, options, debug));
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* debug) override {
    return Appended(FSWritableFileOwnerWrapper::Append(data, options, info, debug));
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, std::uint64_t offset,
                                     const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
    return Appended(FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, debug));
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, std::uint64_t offset,
                                     const rocksdb::IOOptions& options, const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* debug) override {
    return Appended(FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, info, debug));
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
    return Synced(FSWritableFileOwnerWrapper::Sync(options, debug));
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
    return Synced(FSWritableFileOwnerWrapper::Fsync(options, debug));
  }

 private:
  // Failed or not, an append leaves bytes a sync must cover.
  rocksdb::IOStatus Appended(rocksdb::IOStatus status) {
    if (armed != nullptr) {
      armed->file_ = this;
      armed->file_number_ = number_;
      armed->appended_unsynced_ = true;
    }
    return status;
  }
  rocksdb::IOStatus Synced(rocksdb::IOStatus status) {
    if (status.ok() && armed != nullptr && armed->file_ == this) {
      armed->appended_unsynced_ = false;
      file_system_->MaybeDurable();
    }
    return status;
  }

  WalFileSystem* const file_system_;
  const std::uint64_t number_;
};

// The WAL files' directory: a successful fsync makes the entries of the
// files created before it began durable.
class WalFileSystem::Directory final : public rocksdb::FSDirectoryWrapper {
 public:
  Directory(std::unique_ptr<rocksdb::FSDirectory> target, WalFileSystem* file_system)
      : FSDirectoryWrapper(std::move(target)), file_system_(file_system) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
    const std::uint64_t created = file_system_->wal_files_created_.load(std::memory_order_acquire);
    return Synced(FSDirectoryWrapper::Fsync(options, debug), created);
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug,
                                        const rocksdb::DirFsyncOptions& reason) override {
    const std::uint64_t created = file_system_->wal_files_created_.load(std::memory_order_acquire);
    return Synced(FSDirectoryWrapper::FsyncWithDirOptions(options, debug, reason), created);
  }

 private:
  rocksdb::IOStatus Synced(rocksdb::IOStatus status, std::uint64_t created) {
    if (!status.ok()) return status;
    std::uint64_t synced = file_system_->wal_entries_synced_.load(std::memory_order_acquire);
    while (synced < created &&
           !file_system_->wal_entries_synced_.compare_exchange_weak(synced, created, std::memory_order_acq_rel)) {
    }
    file_system_->MaybeDurable();
    return status;
  }

  WalFileSystem* const file_system_;
};

WalFileSystem::WalFileSystem(std::shared_ptr<rocksdb::FileSystem> target, const std::string& directory)
    : FileSystemWrapper(std::move(target)), directory_(Normalized(directory)) {}

bool WalFileSystem::IsWal(const std::string& name) const {
  const std::filesystem::path path(name);
  return path.extension() == ".log" && Normalized(path.parent_path().string()) == directory_;
}

rocksdb::IOStatus WalFileSystem::Watch(rocksdb::IOStatus opened, std::unique_ptr<rocksdb::FSWritableFile>* file) {
  if (opened.ok()) {
    const std::uint64_t number = wal_files_created_.fetch_add(1, std::memory_order_acq_rel) + 1;
    file->reset(new WalFile(std::move(*file), this, number));
  }
  return opened;
}

rocksdb::IOStatus WalFileSystem::NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                                 std::unique_ptr<rocksdb::FSWritableFile>* file,
                                                 rocksdb::IODebugContext* debug) {
  rocksdb::IOStatus opened = target()->NewWritableFile(name, options, file, debug);
  return IsWal(name) ? Watch(std::move(opened), file) : opened;
}

rocksdb::IOStatus WalFileSystem::ReuseWritableFile(const std::string& name, const std::string& old_name,
                                                   const rocksdb::FileOptions& options,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* file,
                                                   rocksdb::IODebugContext* debug) {
  rocksdb::IOStatus opened = target()->ReuseWritableFile(name, old_name, options, file, debug);
  return IsWal(name) ? Watch(std::move(opened), file) : opened;
}

rocksdb::IOStatus WalFileSystem::NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                              std::unique_ptr<rocksdb::FSDirectory>* directory,
                                              rocksdb::IODebugContext* debug) {
  rocksdb::IOStatus opened = target()->NewDirectory(name, options, directory, debug);
  if (opened.ok() && Normalized(name) == directory_) directory->reset(new Directory(std::move(*directory), this));
  return opened;
}

void WalFileSystem::MaybeDurable() {
  WalWatch* watch = armed;
  if (watch == nullptr || watch->told_ || watch->file_ == nullptr || watch->appended_unsynced_) return;
  if (watch->file_number_ > wal_entries_synced_.load(std::memory_order_acquire)) return;
  watch->told_ = true;
  watch->durable_();
}

}  // namespace tally::internal

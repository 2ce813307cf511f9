#include "journal_writer.h"

#include <rocksdb/file_system.h>

#include <algorithm>
#include <utility>

#include "store.h"

namespace tally::internal {

Result<std::unique_ptr<JournalWriter>> JournalWriter::Start(rocksdb::FileSystem* file_system,
                                                            const std::string& directory, std::uint64_t first_number,
                                                            std::uint64_t file_bytes) {
  auto first = JournalFile::Prepare(file_system, directory, JournalFileName(first_number), file_bytes);
  if (!first.ok()) return first.status();
  return std::unique_ptr<JournalWriter>(
      new JournalWriter(file_system, directory, file_bytes, std::move(first.value()), first_number));
}

JournalWriter::JournalWriter(rocksdb::FileSystem* file_system, std::string directory, std::uint64_t file_bytes,
                             std::unique_ptr<JournalFile> first, std::uint64_t first_number)
    : file_system_(file_system),
      directory_(std::move(directory)),
      file_bytes_(file_bytes),
      current_(std::move(first)),
      current_number_(first_number),
      next_number_(first_number + 1),
      thread_([this] { Run(); }) {}

JournalWriter::~JournalWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

Status JournalWriter::Append(std::string_view record) {
  std::uint64_t offset;
  {
    std::lock_guard lock(mutex_);
    offset = offset_;
  }
  if (record.size() > current_->size() - offset) {
    if (Status moved = NextFile(record.size()); !moved.ok()) return moved;
    offset = 0;
  }
  if (Status written = current_->Write(offset, record); !written.ok()) return written;
  bool want = false;
  {
    std::lock_guard lock(mutex_);
    offset_ = offset + record.size();
    if (offset_ >= current_->size() / 2 && !ready_ && wanted_bytes_ == 0 && prepare_failure_.ok()) {
      wanted_bytes_ = file_bytes_;
      want = true;
    }
  }
  if (want) wake_.notify_one();
  return Status::Ok();
}

Status JournalWriter::NextFile(std::uint64_t bytes) {
  // Every record in this file durable before any goes to the next: the
  // scan at recovery never finds one in the next file after a lost one here.
  if (Status synced = current_->Sync(); !synced.ok()) return synced;
  std::unique_lock lock(mutex_);
  std::vector<Left> too_small;
  while (!ready_ || ready_->size() < bytes) {
    if (ready_) {
      // Too small for this record: never written, it goes with the files
      // left behind (after the current one, which is older).
      too_small.push_back(Left{ready_number_, ready_->path(), 0, 0});
      ready_.reset();
    }
    if (!prepare_failure_.ok()) {
      for (Left& left : too_small) left_.push_back(std::move(left));
      Status failure = std::move(prepare_failure_);
      prepare_failure_ = Status::Ok();
      return failure;
    }
    if (wanted_bytes_ < bytes) wanted_bytes_ = std::max(bytes, file_bytes_);
    wake_.notify_one();
    prepared_.wait(lock);
  }
  left_.push_back(Left{current_number_, current_->path(), offset_, kUnwritten});
  for (Left& left : too_small) left_.push_back(std::move(left));
  current_ = std::move(ready_);
  current_number_ = ready_number_;
  offset_ = 0;
  return Status::Ok();
}

Status JournalWriter::Sync() { return current_->Sync(); }

void JournalWriter::Written(std::uint64_t rocks_sequence) {
  // Not deleted here, on the write path: the next flush report does it.
  std::lock_guard lock(mutex_);
  for (Left& left : left_) {
    if (left.rocks_sequence == kUnwritten) left.rocks_sequence = rocks_sequence;
  }
}

void JournalWriter::Flushed(std::uint64_t rocks_sequence) {
  std::unique_lock lock(mutex_);
  flushed_ = std::max(flushed_, rocks_sequence);
  DeleteCovered(lock);
}

void JournalWriter::HoldDeletions() {
  std::lock_guard lock(mutex_);
  ++holds_;
}

void JournalWriter::ReleaseDeletions() {
  std::unique_lock lock(mutex_);
  --holds_;
  DeleteCovered(lock);
}

void JournalWriter::DeleteCovered(std::unique_lock<std::mutex>& lock) {
  if (holds_ > 0) return;
  std::vector<std::string> covered;
  for (auto left = left_.begin(); left != left_.end();) {
    if (left->rocks_sequence <= flushed_) {
      covered.push_back(left->path);
      left = left_.erase(left);
    } else {
      ++left;
    }
  }
  lock.unlock();
  // Deleted in any order: a file left after a crash is read at recovery
  // and its blocks, all in the tables, are passed over (journal.h,
  // ReadJournal). One that cannot be deleted stays until the next open
  // deletes it.
  for (const std::string& path : covered) {
    file_system_->DeleteFile(path, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  }
}

std::vector<std::uint64_t> JournalWriter::files() const {
  std::lock_guard lock(mutex_);
  std::vector<std::uint64_t> numbers;
  for (const Left& left : left_) numbers.push_back(left.number);
  numbers.push_back(current_number_);
  return numbers;
}

namespace {

// Copies the first `bytes` of `from` to a new file `to`, synced.
Status CopyPrefix(rocksdb::FileSystem* file_system, const std::string& from, const std::string& to,
                  std::uint64_t bytes) {
  std::unique_ptr<rocksdb::FSSequentialFile> source;
  rocksdb::IOStatus status = file_system->NewSequentialFile(from, rocksdb::FileOptions(), &source, nullptr);
  if (!status.ok()) return FromRocks(status, "opening " + from);
  std::unique_ptr<rocksdb::FSWritableFile> target;
  status = file_system->NewWritableFile(to, rocksdb::FileOptions(), &target, nullptr);
  if (!status.ok()) return FromRocks(status, "creating " + to);
  std::string buffer(1 << 20, '\0');
  while (bytes > 0) {
    rocksdb::Slice read;
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(bytes, buffer.size()));
    status = source->Read(chunk, rocksdb::IOOptions(), &read, buffer.data(), nullptr);
    if (!status.ok()) return FromRocks(status, "reading " + from);
    if (read.empty()) return Status::Corruption(from + " ended early");
    status = target->Append(read, rocksdb::IOOptions(), nullptr);
    if (!status.ok()) return FromRocks(status, "writing " + to);
    bytes -= read.size();
  }
  status = target->Sync(rocksdb::IOOptions(), nullptr);
  if (status.ok()) status = target->Close(rocksdb::IOOptions(), nullptr);
  return FromRocks(status, "syncing " + to);
}

}  // namespace

Status JournalWriter::CopyTo(const std::string& directory) const {
  std::vector<std::pair<std::string, std::uint64_t>> copies;  // name, bytes
  {
    std::lock_guard lock(mutex_);
    for (const Left& left : left_) {
      if (left.used > 0) copies.emplace_back(JournalFileName(left.number), left.used);
    }
    copies.emplace_back(JournalFileName(current_number_), offset_);
  }
  for (const auto& [name, bytes] : copies) {
    if (Status copied = CopyPrefix(file_system_, directory_ + "/" + name, directory + "/" + name, bytes);
        !copied.ok()) {
      return copied;
    }
  }
  std::unique_ptr<rocksdb::FSDirectory> parent;
  rocksdb::IOStatus synced = file_system_->NewDirectory(directory, rocksdb::IOOptions(), &parent, nullptr);
  if (synced.ok()) synced = parent->Fsync(rocksdb::IOOptions(), nullptr);
  return FromRocks(synced, "syncing " + directory);
}

void JournalWriter::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || (wanted_bytes_ > 0 && !ready_ && prepare_failure_.ok()); });
    if (stopping_) return;
    const std::uint64_t bytes = wanted_bytes_;
    const std::uint64_t number = next_number_++;
    lock.unlock();
    auto prepared = JournalFile::Prepare(file_system_, directory_, JournalFileName(number), bytes);
    lock.lock();
    wanted_bytes_ = 0;
    if (prepared.ok()) {
      ready_ = std::move(prepared.value());
      ready_number_ = number;
    } else {
      prepare_failure_ = prepared.status();
    }
    prepared_.notify_all();
  }
}

}  // namespace tally::internal

// Status and Result<T>: how infrastructure failures (I/O, corruption, bad
// arguments to the API) travel. Business outcomes of commands are not
// Statuses; they are ResultCodes (see types.h).
//
// Thread safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tally {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,   // the caller asked for something malformed
    kNotFound,          // a data directory or record that should exist does not
    kCorruption,        // a checksum, sequence or format check failed
    kIOError,           // the file system or RocksDB failed
    kFailedPrecondition,// the ledger is stopped after an earlier write failure
    kUnavailable,       // the server cannot be reached or cannot serve now
    kDeadlineExceeded,  // no answer in time: the outcome of a command is unknown
    kPermissionDenied,  // the credentials do not allow it (docs/security.md)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }
  static Status NotFound(std::string message) { return Status(Code::kNotFound, std::move(message)); }
  static Status Corruption(std::string message) { return Status(Code::kCorruption, std::move(message)); }
  static Status IOError(std::string message) { return Status(Code::kIOError, std::move(message)); }
  static Status FailedPrecondition(std::string message) {
    return Status(Code::kFailedPrecondition, std::move(message));
  }
  static Status Unavailable(std::string message) { return Status(Code::kUnavailable, std::move(message)); }
  static Status PermissionDenied(std::string message) {
    return Status(Code::kPermissionDenied, std::move(message));
  }
  static Status DeadlineExceeded(std::string message) {
    return Status(Code::kDeadlineExceeded, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result holds a value or an error, never an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<Status, T> state_;
};

}  // namespace tally

// Invariant checks that stay on in release builds: a broken invariant in a
// ledger is worse than a crash, because a crash loses nothing acknowledged.
#define TALLY_ASSERT(condition)                                              \
  do {                                                                       \
    if (!(condition)) ::tally::internal::AssertionFailed(#condition, __FILE__, __LINE__); \
  } while (false)

namespace tally::internal {
[[noreturn]] void AssertionFailed(const char* condition, const char* file, int line);
}  // namespace tally::internal

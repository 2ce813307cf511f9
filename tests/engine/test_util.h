// Helpers shared by the engine tests: a temporary data directory and terse
// command builders.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tally/types.h"

namespace tally::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/tally-test-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::string& path() const { return path_; }
  // A path inside this directory that does not exist yet.
  std::string Child(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline CommandId Id(std::uint64_t n) { return CommandId{0x7e57, n}; }

inline Command Earn(std::uint64_t id, std::uint32_t chain, std::uint64_t member, std::int64_t points) {
  Command command;
  command.id = Id(id);
  command.kind = CommandKind::kEarn;
  command.chain = chain;
  command.member = member;
  command.points = points;
  return command;
}

inline Command Redeem(std::uint64_t id, std::uint32_t chain, std::uint64_t member, std::int64_t points) {
  Command command = Earn(id, chain, member, points);
  command.kind = CommandKind::kRedeem;
  return command;
}

inline Command Adjust(std::uint64_t id, std::uint32_t chain, std::uint64_t member, std::int64_t points,
                      std::uint32_t reason) {
  Command command = Earn(id, chain, member, points);
  command.kind = CommandKind::kAdjust;
  command.reason_code = reason;
  return command;
}

inline Command Reverse(std::uint64_t id, std::uint32_t chain, std::uint64_t member, std::int64_t points,
                       std::uint64_t target) {
  Command command = Earn(id, chain, member, points);
  command.kind = CommandKind::kReverse;
  command.target = Id(target);
  return command;
}

}  // namespace tally::testing

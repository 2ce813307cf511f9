// LogTail: the most recently written log blocks, kept in memory so that
// reading a recent event (the target of a reverse, the original of a retry, a
// fresh history page) does not cost a RocksDB iterator. Reads of anything
// older go to the store.
//
// Thread safety: none; the ledger guards it (written under its exclusive
// lock, read under its shared lock).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "block.h"
#include "store.h"

namespace tally::internal {

class LogTail {
 public:
  explicit LogTail(std::size_t bytes_max) : bytes_max_(bytes_max) {}

  // Appends blocks just applied, in sequence order, and drops the oldest
  // beyond bytes_max that end at or before `durable_sequence` (a block not
  // yet on disk can be read nowhere else).
  void Append(std::vector<EncodedBlock>&& blocks, std::uint64_t durable_sequence);

  // The block holding `sequence`, or nullptr when it is not in the tail.
  const EncodedBlock* Find(std::uint64_t sequence) const;

 private:
  std::size_t bytes_max_;
  std::size_t bytes_ = 0;
  std::deque<EncodedBlock> blocks_;
};

}  // namespace tally::internal

#include "log_tail.h"

#include <algorithm>

#include "block.h"
#include "tally/status.h"

namespace tally::internal {

void LogTail::Append(std::vector<EncodedBlock>&& blocks, std::uint64_t durable_sequence) {
  for (EncodedBlock& block : blocks) {
    TALLY_ASSERT(blocks_.empty() || block.first_sequence > blocks_.back().first_sequence);
    bytes_ += block.bytes.size();
    blocks_.push_back(std::move(block));
  }
  // A block ends before the next one starts.
  while (bytes_ > bytes_max_ && blocks_.size() > 1 && blocks_[1].first_sequence - 1 <= durable_sequence) {
    bytes_ -= blocks_.front().bytes.size();
    blocks_.pop_front();
  }
}

const EncodedBlock* LogTail::Find(std::uint64_t sequence) const {
  // The last block whose first sequence is <= sequence.
  auto after = std::upper_bound(blocks_.begin(), blocks_.end(), sequence,
                                [](std::uint64_t wanted, const EncodedBlock& block) {
                                  return wanted < block.first_sequence;
                                });
  if (after == blocks_.begin()) return nullptr;
  const EncodedBlock& block = *std::prev(after);
  // A block holds at most kBlockEventsMax events; the decoder checks the rest.
  if (sequence >= block.first_sequence + kBlockEventsMax) return nullptr;
  return &block;
}

}  // namespace tally::internal

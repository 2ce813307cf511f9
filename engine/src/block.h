// The log block: up to kBlockEventsMax consecutive events written as one
// RocksDB value under the big-endian key of its first sequence number.
// docs/storage.md ("Log block") specifies the bytes:
//
//   block := magic "TLB2" | event_count u32 | first_sequence u64
//            | timestamp_us u64 | previous_hash u8[32] | event{event_count}
//            | checksum u64
//
// where checksum is XXH3-64 (seed 0) of every byte before it, and
// previous_hash is the chain hash of the block before (zeros for the
// first): the SHA-256 of that block's bytes before its checksum
// (docs/audit.md).
//
// Thread safety: BlockBuilder and BlockReader are single-threaded values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/internal/encoding.h"
#include "event.h"
#include "tally/limits.h"
#include "tally/status.h"

namespace tally::internal {

inline constexpr char kBlockMagic[4] = {'T', 'L', 'B', '2'};
inline constexpr std::size_t kBlockHeaderBytes = 56;
inline constexpr std::size_t kBlockTrailerBytes = 8;
// A block ends at kBlockEventsMax events or before the event that would take
// it past this size, so reading one event reads at most 16 KiB.
inline constexpr std::size_t kBlockBytesMax = 16 * 1024;
static_assert(kBlockHeaderBytes + kEventBytesMax + kBlockTrailerBytes <= kBlockBytesMax,
              "every event fits in a block of its own");

// A SHA-256 digest: the chain hash of a block.
using ChainHash = std::array<std::uint8_t, 32>;

// The chain hash of a finished block (its bytes before the checksum).
// REQUIRES: bytes.size() > kBlockTrailerBytes.
ChainHash HashOfBlock(std::string_view bytes);
std::string ToHex(const ChainHash& hash);
std::optional<ChainHash> ChainHashFromHex(std::string_view hex);

class BlockBuilder {
 public:
  // Starts a new block after the block whose chain hash is `previous_hash`;
  // the previous one's bytes become invalid.
  void Reset(std::uint64_t first_sequence, std::uint64_t timestamp_us, const ChainHash& previous_hash);
  // Adds `event` when the block has room for it (kBlockEventsMax events,
  // kBlockBytesMax bytes); false, changing nothing, when it has not. An empty
  // block always has room.
  bool TryAdd(const Event& event);
  // Seals the block with its checksum and returns its bytes.
  // REQUIRES: event_count() > 0.
  std::string_view Finish();

  std::uint32_t event_count() const { return event_count_; }
  std::uint64_t first_sequence() const { return first_sequence_; }
  // Where each event added so far starts in the block's bytes.
  const std::vector<std::uint16_t>& event_offsets() const { return event_offsets_; }

 private:
  std::string buffer_;
  std::vector<std::uint16_t> event_offsets_;
  std::uint64_t first_sequence_ = 0;
  std::uint32_t event_count_ = 0;
  bool finished_ = false;
};

// Verifies a block and hands out its events in order.
class BlockReader {
 public:
  // Checks magic, checksum, that the header's first sequence equals
  // `key_sequence` and that the event count is within limits.
  Status Open(std::uint64_t key_sequence, std::string_view bytes);

  std::uint64_t first_sequence() const { return first_sequence_; }
  std::uint64_t timestamp_us() const { return timestamp_us_; }
  std::uint32_t event_count() const { return event_count_; }
  const ChainHash& previous_hash() const { return previous_hash_; }
  bool done() const { return next_index_ == event_count_; }

  // Decodes the next event, with its sequence and timestamp filled in.
  // REQUIRES: Open() succeeded and !done().
  Status Next(Event* event);
  // Steps over the next event without decoding it.
  // REQUIRES: Open() succeeded and !done().
  Status Skip();

 private:
  Reader events_{std::string_view()};
  std::uint64_t first_sequence_ = 0;
  std::uint64_t timestamp_us_ = 0;
  ChainHash previous_hash_{};
  std::uint32_t event_count_ = 0;
  std::uint32_t next_index_ = 0;
};

// The event with `sequence` from the block stored under `key_sequence`,
// verified. NotFound when the block does not hold it.
Result<Event> FindEventInBlock(std::uint64_t key_sequence, std::string_view bytes, std::uint64_t sequence);

struct EncodedBlock;  // store.h

// The same from a block this process built (its event offsets known, its
// checksum computed here from these very bytes): the event is decoded at
// its offset, without checksumming the block again or stepping over the
// events before it. Falls back to FindEventInBlock when the offsets are
// not known.
Result<Event> FindEventInBlock(const EncodedBlock& block, std::uint64_t sequence);

// Checks that blocks follow each other without gap or overlap, starting at
// sequence 1, that ledger time never goes backwards, and that each block
// names the chain hash of the one before.
class LogOrder {
 public:
  // REQUIRES: `block` opened successfully from `bytes`.
  Status Next(const BlockReader& block, std::string_view bytes);

  std::uint64_t last_sequence() const { return last_sequence_; }
  std::uint64_t last_timestamp_us() const { return last_timestamp_us_; }
  // The chain hash of the last block: the chain head.
  const ChainHash& head() const { return head_; }

 private:
  std::uint64_t last_sequence_ = 0;
  std::uint64_t last_timestamp_us_ = 0;
  ChainHash head_{};
};

}  // namespace tally::internal

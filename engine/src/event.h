// The event record: one logged command with its outcome. The byte layout is
// specified in docs/storage.md ("Event record"); this file implements it:
//
//   event  := id_high u64 | id_low u64 | kind u8 | code u8 | flags u16
//             | chain u32 | member u64 | points i64 | balance_after i64
//             | previous_sequence u64 | optional*
//   optional := order u64      (flags bit 0)
//             | store u64      (flags bit 1)
//             | campaign u64   (flags bit 2)
//             | reason u32     (flags bit 3)
//             | target_high u64 | target_low u64 | target_sequence u64  (flags bit 4)
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/status.h"
#include "tally/types.h"

namespace tally::internal {

inline constexpr std::size_t kEventCoreBytes = 56;
inline constexpr std::size_t kEventBytesMax = kEventCoreBytes + 8 + 8 + 8 + 4 + 24;

struct Event {
  std::uint64_t sequence = 0;      // from the block: first_sequence + index
  std::uint64_t timestamp_us = 0;  // from the block
  Command command;
  ResultCode code = ResultCode::kOk;
  std::int64_t balance_after = 0;
  std::uint64_t previous_sequence = 0;  // the member's previous event, 0: none
  std::uint64_t target_sequence = 0;    // reverse: the reversed event, 0: unresolved

  CommandResult ToResult() const { return {code, sequence, timestamp_us, balance_after}; }
};

// Appends the encoding of `event` (everything but sequence and timestamp,
// which the block holds) to `out`.
void AppendEvent(const Event& event, std::string* out);

// Steps over one event at the front of `reader`, reading only its flags to
// learn its size. Corruption when the bytes cannot hold it.
Status SkipEvent(class Reader& reader);

// Decodes one event from the front of `reader`; sequence and timestamp are
// left for the caller. Corruption when the bytes are not a valid event.
Status DecodeEvent(class Reader& reader, Event* event);

}  // namespace tally::internal

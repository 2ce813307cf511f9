// The event record: one logged command with its outcome. The byte layout is
// specified in docs/storage.md ("Event record"); this file implements it:
//
//   event  := id_high u64 | id_low u64 | kind u8 | code u8 | flags u16
//             | chain u32 | member u64 | points i64 | balance_after i64
//             | previous_sequence u64 | optional*
//   optional, in this order, each present when its flag bit is set:
//     order u64 (0) | store u64 (1) | campaign u64 (2) | reason u32 (3)
//     | target_high u64 | target_low u64 | target_sequence u64 (4)
//     | amount_minor u64 (5) | counterparty u64 (6)
//     | counterparty_previous u64 | counterparty_balance_after i64 (7)
//     | duration_seconds u32 (8) | limit u32 (9)
//     | campaign_count u8 | campaign u64{campaign_count} (10)
//     | program_size u16 | program bytes (11)
//     | moved i64 (12)
//     | program_version u32 | base_points i64 | share_count u8
//       | (campaign u64 | points i64){share_count} (13)
//   flag 14 marks a derived event (no bytes of its own).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <vector>

#include "tally/program.h"
#include "tally/status.h"
#include "tally/types.h"

namespace tally::internal {

inline constexpr std::size_t kEventCoreBytes = 56;
inline constexpr std::size_t kPurchaseCampaignsMax = 8;
inline constexpr std::size_t kEventBytesMax = kEventCoreBytes + 8 + 8 + 8 + 4 + 24 + 8 + 8 + 16 + 4 + 4 +
                                              (1 + 8 * kPurchaseCampaignsMax) + (2 + kProgramBytesMax) + 8 +
                                              (4 + 8 + 1 + 16 * (kCampaignsMax + 1));

struct Event {
  std::uint64_t sequence = 0;      // from the block: first_sequence + index
  std::uint64_t timestamp_us = 0;  // from the block
  Command command;
  ResultCode code = ResultCode::kOk;
  std::int64_t balance_after = 0;
  std::uint64_t previous_sequence = 0;  // the member's previous event, 0: none
  std::uint64_t target_sequence = 0;    // reverse, capture, release: the named event, 0: unresolved
  std::int64_t moved = 0;               // CommandResult::points
  std::uint32_t program_version = 0;    // earn_purchase: the version it was computed under
  std::int64_t base_points = 0;         // earn_purchase
  std::vector<CampaignShare> shares;    // earn_purchase: what each campaign added
  // transfer: the receiver's side of the event.
  std::uint64_t counterparty_previous_sequence = 0;
  std::int64_t counterparty_balance_after = 0;
  // Written by the ledger as part of another command (an expire sweep's
  // per-member expiry); it carries that command's id but is not found by it.
  bool derived = false;

  CommandResult ToResult() const { return {code, sequence, timestamp_us, balance_after, moved}; }
  friend bool operator==(const Event&, const Event&) = default;
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

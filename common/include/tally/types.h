// The ledger's vocabulary: command ids, commands, result codes, results and
// history entries. See docs/glossary.md for what each word means.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

// A client-chosen 128-bit command id, unique per chain. Written as 32 hex
// digits, `high` first. The all-zero id is invalid.
struct CommandId {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  bool IsZero() const { return high == 0 && low == 0; }
  friend bool operator==(const CommandId&, const CommandId&) = default;

  std::string ToHex() const;
  // Parses exactly 32 hex digits (either case); nullopt otherwise.
  static std::optional<CommandId> FromHex(std::string_view hex);
};

enum class CommandKind : std::uint8_t {
  kEarn = 1,     // add points > 0
  kRedeem = 2,   // take points > 0; never below zero
  kAdjust = 3,   // add or take points != 0, with a reason code
  kReverse = 4,  // undo part or all of an earlier ok earn or redeem
};

// The outcome of one command. The numbers are part of the wire and disk
// formats: never renumber, only append. docs/engine.md lists them.
enum class ResultCode : std::uint8_t {
  kOk = 0,
  // Rejections that depend on ledger state. They are logged: the command id
  // is spent, and a retry returns the same rejection forever.
  kInsufficientPoints = 1,
  kOverflow = 2,
  kUnknownReference = 3,
  kReversalExceedsOriginal = 4,
  kNotReversible = 5,
  // Rejections that depend only on the command itself. Nothing is logged;
  // the same command is rejected the same way every time.
  kAmountInvalid = 16,
  kReasonMissing = 17,
  kIdInvalid = 18,
  kChainInvalid = 19,
  kKindInvalid = 20,
  // The command id was used before, in this chain, with different content.
  kIdConflict = 32,
};

std::string_view ResultCodeName(ResultCode code);
std::string_view CommandKindName(CommandKind kind);
// True for outcomes that are written to the log (ok and state rejections).
bool IsLogged(ResultCode code);

struct MemberKey {
  std::uint32_t chain = 0;
  std::uint64_t member = 0;
  friend bool operator==(const MemberKey&, const MemberKey&) = default;
};

// One command. Fields a kind does not use must be zero. A reference of zero
// means "none".
struct Command {
  CommandId id;
  CommandKind kind = CommandKind::kEarn;
  std::uint32_t chain = 0;   // 1..2^32-1
  std::uint64_t member = 0;  // opaque; never personal data
  std::int64_t points = 0;   // earn, redeem, reverse: > 0; adjust: != 0
  std::uint64_t order_reference = 0;
  std::uint64_t store_reference = 0;
  std::uint64_t campaign_reference = 0;
  std::uint32_t reason_code = 0;  // required (non-zero) for adjust
  CommandId target;               // reverse only: the id of the earn or redeem to undo

  friend bool operator==(const Command&, const Command&) = default;
};

struct CommandResult {
  ResultCode code = ResultCode::kOk;
  // For logged outcomes: the event's ledger sequence number and ledger time.
  // Zero for rejections that are not logged.
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_us = 0;
  // The member's balance after the command (unchanged by a rejection); zero
  // for rejections that are not logged.
  std::int64_t balance = 0;

  friend bool operator==(const CommandResult&, const CommandResult&) = default;
};

struct Balance {
  std::int64_t points = 0;
  std::uint64_t last_sequence = 0;  // the member's newest event; 0: no events
};

// One event of a member's history.
struct HistoryEntry {
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_us = 0;
  Command command;
  ResultCode code = ResultCode::kOk;
  std::int64_t balance_after = 0;
  std::uint64_t target_sequence = 0;  // reverse: the event it reversed
};

// What a server says about itself.
struct ServerStatus {
  std::uint64_t last_sequence = 0;
  std::uint64_t last_timestamp_us = 0;
  std::uint64_t uptime_us = 0;
  std::uint64_t members = 0;
  std::uint64_t connections = 0;
};

struct HistoryPage {
  std::vector<HistoryEntry> entries;  // newest first
  std::string next_cursor;            // empty when there is nothing older
};

}  // namespace tally

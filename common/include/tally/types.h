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

// docs/engine.md and docs/loyalty.md say what each kind does. The numbers
// are part of the wire and disk formats.
enum class CommandKind : std::uint8_t {
  kEarn = 1,          // add points > 0 as a lot, spendable at once
  kRedeem = 2,        // take points > 0 from live lots; never below zero
  kAdjust = 3,        // add or take points != 0, with a reason code
  kReverse = 4,       // undo part or all of an earlier ok earn, purchase or redeem
  kProgram = 5,       // chain-level: a new version of the chain's program
  kEarnPurchase = 6,  // points for a purchase, computed by the program
  kHold = 7,          // reserve points at checkout, for a duration
  kCapture = 8,       // turn (part of) a hold into a redemption; closes it
  kRelease = 9,       // give a hold's points back; closes it
  kExpire = 10,       // chain-level: write the books for past-date lots and expired holds
  kTransfer = 11,     // move points to another member of the chain
  kReferral = 12,     // award the referrer, once per referred member
  // Written by the ledger, never sent: one member's part of an expire sweep.
  kExpiry = 13,
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
  kProgramMissing = 6,
  kHoldClosed = 7,
  kExceedsHold = 8,
  kAlreadyReferred = 9,
  // Rejections that depend only on the command itself. Nothing is logged;
  // the same command is rejected the same way every time.
  kAmountInvalid = 16,
  kReasonMissing = 17,
  kIdInvalid = 18,
  kChainInvalid = 19,
  kKindInvalid = 20,
  kProgramInvalid = 21,
  kFieldInvalid = 22,
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
  CommandId target;               // reverse: the command to undo; capture, release: the hold
  std::uint64_t amount_minor = 0;       // earn_purchase: what was paid, in minor units (> 0)
  std::uint64_t counterparty = 0;       // transfer: the receiver; referral: the referred member
  std::uint32_t duration_seconds = 0;   // hold: how long it holds (1 .. 30 days)
  std::uint32_t limit = 0;              // expire: most members one sweep writes (1 .. 8192)
  std::vector<std::uint64_t> campaigns;  // earn_purchase: campaigns named (at most 8)
  std::string program;                  // program: Program::Encode() (tally/program.h)

  friend bool operator==(const Command&, const Command&) = default;
};

// Chain-level commands name no member (member 0).
inline bool IsChainLevel(CommandKind kind) { return kind == CommandKind::kProgram || kind == CommandKind::kExpire; }

struct CommandResult {
  ResultCode code = ResultCode::kOk;
  // For logged outcomes: the event's ledger sequence number and ledger time.
  // Zero for rejections that are not logged.
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_us = 0;
  // The member's total balance after the command (unchanged by a
  // rejection); zero for rejections that are not logged and for
  // chain-level commands.
  std::int64_t balance = 0;
  // What the command moved, for ok outcomes: the points earned, redeemed,
  // reversed, held, captured, released, transferred or awarded; for program
  // the new version; for expire the members it wrote.
  std::int64_t points = 0;

  friend bool operator==(const CommandResult&, const CommandResult&) = default;
};

// A member's balance at a ledger time (docs/loyalty.md, "Balance").
struct Balance {
  std::int64_t points = 0;          // total: what the member has in the books
  std::uint64_t last_sequence = 0;  // the member's newest event; 0: no events
  std::int64_t spendable = 0;       // in live lots
  std::int64_t pending = 0;         // in lots not yet spendable
  std::int64_t held = 0;            // in holds that have not expired
};

// One lot of a member's points (docs/loyalty.md, "Lots").
struct LotInfo {
  std::int64_t points = 0;
  std::uint64_t sequence = 0;           // the event that created it
  std::uint64_t spendable_from_us = 0;
  std::uint64_t expires_at_us = 0;      // 0: never
  friend bool operator==(const LotInfo&, const LotInfo&) = default;
};

// What the loyalty team and the shop see of a member at a ledger time.
struct MemberStatus {
  Balance balance;
  std::int64_t debt = 0;
  std::uint32_t tier = 0;               // index into the program's tiers
  std::string tier_name;                // empty without tiers
  std::int64_t qualifying_points = 0;   // in the tier window ending now
  std::int64_t points_to_next_tier = 0; // 0 at the top tier or without tiers
  std::uint64_t tier_lapses_at_us = 0;  // 0: the tier does not lapse (the lowest tier)
  std::uint64_t last_purchase_us = 0;   // 0: no purchase
  std::int64_t expiring_points = 0;     // not yet past date, but past date before the date asked about
  std::vector<LotInfo> lots;            // in spending order, the first kStatusLotsMax
  std::uint32_t lots_total = 0;         // how many lots there are
  std::uint32_t holds = 0;              // open holds
};

// A chain-wide query for CRM and win-back campaigns (docs/loyalty.md,
// "Segments"): members matching one condition, a page at a time.
enum class SegmentKind : std::uint8_t {
  kInactive = 1,      // no purchase for `days` days (or never), optionally only in `tier`
  kNearNextTier = 2,  // at most `within_points` qualifying points from the next tier
  kExpiring = 3,      // points that expire before `before_us`
};

struct SegmentQuery {
  std::uint32_t chain = 0;
  SegmentKind kind = SegmentKind::kInactive;
  std::uint32_t days = 0;           // kInactive
  std::int32_t tier = -1;           // kInactive: the tier index, or -1 for any
  std::int64_t within_points = 0;   // kNearNextTier: > 0
  std::uint64_t before_us = 0;      // kExpiring
};

struct SegmentMember {
  std::uint64_t member = 0;
  std::int64_t balance = 0;  // total
  std::uint32_t tier = 0;
  // kInactive: the last purchase's time (0: never); kNearNextTier: the points
  // to the next tier; kExpiring: the points expiring.
  std::int64_t value = 0;
  friend bool operator==(const SegmentMember&, const SegmentMember&) = default;
};

struct SegmentPage {
  std::vector<SegmentMember> members;  // in no particular order
  std::string next_cursor;             // empty when the scan is complete
  std::uint64_t scanned = 0;           // members this page looked at
};

// A campaign's part of a purchase's points.
struct CampaignShare {
  std::uint64_t campaign = 0;
  std::int64_t points = 0;
  friend bool operator==(const CampaignShare&, const CampaignShare&) = default;
};

// One event of a member's history.
struct HistoryEntry {
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_us = 0;
  Command command;
  ResultCode code = ResultCode::kOk;
  std::int64_t balance_after = 0;       // of the member whose history this is
  std::uint64_t target_sequence = 0;    // reverse, capture, release: the event it names
  std::int64_t points = 0;              // CommandResult::points
  // earn_purchase: the program version, the base points and each campaign's share.
  std::uint32_t program_version = 0;
  std::int64_t base_points = 0;
  std::vector<CampaignShare> shares;
  bool incoming = false;  // a transfer as its receiver sees it
};

// What a server says about itself.
struct ServerStatus {
  std::uint64_t last_sequence = 0;
  std::uint64_t last_timestamp_us = 0;
  std::uint64_t uptime_us = 0;
  std::uint64_t members = 0;
  std::uint64_t connections = 0;
  std::string chain_head;  // the chain hash at last_sequence: 64 hex digits (docs/audit.md)
  std::string stopped;     // why the ledger refuses requests (a failed write); empty while it serves
};

struct HistoryPage {
  std::vector<HistoryEntry> entries;  // newest first
  std::string next_cursor;            // empty when there is nothing older
};

}  // namespace tally

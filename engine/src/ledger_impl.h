// The private state of a Ledger and the pieces of its implementation, split
// by concern across ledger.cc (open, recovery, group commit),
// ledger_apply.cc (the rules) and ledger_query.cc (queries).
//
// Thread safety: `state_mutex` guards the state; the leader of a group commit
// holds it exclusively while it applies the group and hands the group's
// blocks to the log writer, which writes them on its own thread, so the
// state may hold groups that are not yet durable: a query reads under the
// shared lock and then waits until what it saw is durable (unless
// options.queries_answer_early). `queue_mutex` guards `writers`. Reopening
// the store (LogWriter::Resume) holds `state_mutex` exclusively while the
// log writer is stopped, so it is alone with the store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "account.h"
#include "block.h"
#include "event.h"
#include "id_index.h"
#include "log_tail.h"
#include "log_writer.h"
#include "member_table.h"
#include "store.h"
#include "tally/ledger.h"
#include "tally/limits.h"
#include "tally/program.h"

namespace tally {

// One batch of a caller of Apply() in the group-commit queue.
struct GroupWriter {
  std::span<const Command> batch;
  std::vector<CommandResult> results;
  Status status;
  bool applied = false;     // in memory; durable once durable_at is
  std::uint64_t durable_at = 0;  // the last sequence applied with it
  std::condition_variable ready;
};

// What the ledger keeps per chain: its program and who was referred.
struct ChainState {
  Program program;            // version 0: the defaults (docs/loyalty.md)
  std::uint32_t version = 0;
  std::unordered_set<std::uint64_t> referred;
};

struct Ledger::Impl {
  std::unique_ptr<internal::Store> store;
  // Writes the applied groups (null in replays, which only recover).
  // Declared after the store: it stops first.
  std::unique_ptr<internal::LogWriter> log;
  // A small group found the log writer idle and is held for its caller's
  // WriteHeld() (SmallWrites::kHoldWhenIdle).
  std::atomic<bool> write_held{false};
  OpenOptions options;

  mutable std::shared_mutex state_mutex;
  // Tokens by the SHA-256 of their secret, as the store holds them, loaded
  // at open (ledger_tokens.cc); changed with state_mutex held too.
  mutable std::shared_mutex token_mutex;
  std::map<std::string, TokenInfo> tokens;
  internal::MemberTable members;
  internal::IdIndex ids;
  std::unordered_map<std::uint32_t, ChainState> chains;
  // Points reversed so far, by the sequence of the reversed earn or redeem
  // (keyed by MixBits(sequence): a bijection, so never 0 and never shared).
  // A GrowingTable, not a node-based map: a std::unordered_map's rehash at
  // 3 M reversals held the writer for ~0.4 s (docs/performance-log.md).
  internal::GrowingTable reversed_points{std::size_t{1} << 12, kCommandIdsMax};
  // What recovery read.
  struct {
    std::uint64_t blocks = 0;
    std::uint64_t events = 0;
    std::uint64_t rejections = 0;
  } recovered;
  // Recovery: the per-member events an expire sweep wrote that are still to come.
  struct {
    std::uint32_t chain = 0;
    CommandId id;
    std::uint64_t remaining = 0;
  } sweep;
  std::uint64_t last_sequence = 0;  // applied; log->durable() tells how far it is on disk
  internal::ChainHash head{};       // the chain hash of the block that ends at last_sequence
  // Recovery calls it after each block's checks, with the block's last
  // sequence and chain hash (replay and audit use it).
  std::function<void(std::uint64_t, const internal::ChainHash&)> block_observer;
  // Reports: recovery stops before the first group commit at or after this
  // ledger time (a trial balance as of then).
  std::uint64_t recover_before_us = ~std::uint64_t{0};
  // Reports: recovery calls it for every event it re-derived.
  std::function<void(const internal::Event&)> event_observer;
  // Reports: a redeem or capture took `points` from the lot created by event
  // `lot_sequence` (docs/audit.md, campaign redemptions). Null in service.
  std::function<void(const internal::Event& spender, std::uint64_t lot_sequence, std::int64_t points)> spend_observer;
  std::uint64_t last_timestamp_us = 0;
  // Set for good by an error in the rules (a failed write stops the log
  // writer instead, until it is written).
  Status failure;
  double recovery_seconds = 0;
  internal::LogTail tail{kLogTailBytesMax};
  // Events of the group being committed; their sequences follow last_sequence.
  std::vector<internal::Event> pending;
  std::vector<std::uint64_t> fingerprints;  // of the batch being applied, or the block being recovered
  // By position in that batch or block: the member's state as prefetching
  // found it a few commands ahead (null: not found, or not looked for), so
  // that applying the command need not look it up again. States never move,
  // so a state found stays valid.
  std::vector<internal::MemberState*> member_hints;

  std::mutex queue_mutex;
  std::deque<GroupWriter*> writers;

  // ledger.cc
  Status Recover();
  Status LoadTokens();  // ledger_tokens.cc
  // `fingerprint` is IdIndex::Fingerprint(event.command.chain, event.command.id);
  // `member_hint` as for Decide.
  Status RecoverEvent(const internal::Event& event, std::uint64_t fingerprint, internal::MemberState* member_hint);
  // Starts the memory reads of the commands ahead of `index` in a run of
  // `count` (ledger.cc); `command_at(i)` is the run's i-th command, whose id's
  // fingerprint is fingerprints[i].
  template <typename CommandAt>
  void PrefetchAhead(std::size_t index, std::size_t count, CommandAt command_at);
  // The member's state: `hint` when it is this member's, else found or created.
  internal::MemberState* MemberOf(MemberKey key, internal::MemberState* hint);
  // Applies the batches in memory, in one or more groups (leading them or
  // waiting for the leader); the results are final once `durable_at` is
  // durable.
  struct Applied {
    std::vector<std::vector<CommandResult>> results;
    std::uint64_t durable_at = 0;
  };
  // `small_writes`: whether a small group this thread leads may be written
  // by it, at once or when it calls WriteHeld() (Ledger::SmallWrites).
  Result<Applied> ApplyInMemory(std::span<const std::span<const Command>> batches, Ledger::SmallWrites small_writes);
  void LeadGroup(std::unique_lock<std::mutex>& queue_lock, Ledger::SmallWrites small_writes);
  // Applies the group and hands its blocks to the log writer; sets each
  // writer's durable_at. Sets *write_here when the caller is to write them
  // itself, after releasing its locks (with `may_write_here`, a group of at
  // most kWriteHereEventsMax events that finds the log writer idle).
  Status ApplyGroup(std::span<GroupWriter* const> group, bool may_write_here, bool* write_here);
  // Why commands and queries are refused (the rules stopped the ledger, or
  // a write failed), or Ok.
  Status Refusal() const;
  // Runs `read` (returning a Result) under the shared lock; unless queries
  // answer early, returns only once everything it could have seen is durable.
  template <typename Read>
  auto Query(Read read) const -> decltype(read());
  std::uint64_t NextTimestamp();
  // The ledger time queries are answered at.
  std::uint64_t QueryTime() const;

  // ledger_apply.cc. REQUIRES: state_mutex held exclusively.
  // `fingerprint` is IdIndex::Fingerprint(command.chain, command.id);
  // `member_hint` as for Decide.
  Result<CommandResult> ApplyOne(const Command& command, std::uint64_t fingerprint, std::uint64_t timestamp_us,
                                 internal::MemberState* member_hint);
  // Applies the rules to a fresh, valid command as event `event->sequence`
  // at `event->timestamp_us`, filling in the outcome and changing the state.
  // `derived` (live only) receives the events an expire sweep writes; in
  // recovery it is null and those events are checked as they are read.
  // `member_hint`: the command's member's state if known (may be null, or
  // another member's; it is checked).
  Status Decide(internal::Event* event, std::vector<internal::Event>* derived, internal::MemberState* member_hint);
  // One member's part of an expire sweep at the event's time.
  void ExpireMember(internal::MemberState* member, internal::Event* event);
  const ChainState& ChainOf(std::uint32_t chain) const;
  // Points reversed so far of the earn or redeem logged as `sequence`
  // (0 when none), and recording a new total for it.
  std::int64_t ReversedSoFar(std::uint64_t sequence) const;
  void SetReversed(std::uint64_t sequence, std::int64_t total);
  Result<std::optional<internal::Event>> FindLogged(std::uint32_t chain, const CommandId& id) const;
  Result<std::optional<internal::Event>> FindLogged(std::uint32_t chain, const CommandId& id,
                                                    std::uint64_t fingerprint) const;
  Result<internal::Event> ReadEvent(std::uint64_t sequence) const;
};

// The stateless checks: kOk, or the rejection that does not depend on the
// ledger's state. Shared by the engine and its replay.
ResultCode ValidateCommand(const Command& command);

}  // namespace tally

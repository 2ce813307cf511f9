// The private state of a Ledger and the pieces of its implementation, split
// by concern across ledger.cc (open, recovery, group commit),
// ledger_apply.cc (the rules) and ledger_query.cc (queries).
//
// Thread safety: `state_mutex` guards the state; the leader of a group commit
// holds it exclusively from the first rule applied to the fsync, so queries
// (shared) see only durable state. `queue_mutex` guards `writers`.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "event.h"
#include "id_index.h"
#include "log_tail.h"
#include "member_table.h"
#include "store.h"
#include "tally/ledger.h"
#include "tally/limits.h"

namespace tally {

// One caller of Apply() waiting in the group-commit queue.
struct GroupWriter {
  std::span<const Command> batch;
  std::vector<CommandResult> results;
  Status status;
  bool done = false;
  std::condition_variable ready;
};

struct Ledger::Impl {
  std::unique_ptr<internal::Store> store;
  OpenOptions options;

  mutable std::shared_mutex state_mutex;
  internal::MemberTable members;
  internal::IdIndex ids;
  // Points reversed so far, by the sequence of the reversed earn or redeem.
  std::unordered_map<std::uint64_t, std::int64_t> reversed_points;
  std::uint64_t last_sequence = 0;  // durable
  std::uint64_t last_timestamp_us = 0;
  Status failure;                    // set for good by a failed write
  double recovery_seconds = 0;
  internal::LogTail tail{kLogTailBytesMax};
  // Events of the group being committed; their sequences follow last_sequence.
  std::vector<internal::Event> pending;
  std::vector<std::uint64_t> fingerprints;  // of the batch being applied

  std::mutex queue_mutex;
  std::deque<GroupWriter*> writers;

  // ledger.cc
  Status Recover();
  Status RecoverEvent(const internal::Event& event);
  Result<std::vector<std::vector<CommandResult>>> ApplyBatches(std::span<const std::span<const Command>> batches);
  void LeadGroup(std::unique_lock<std::mutex>& queue_lock);
  Status CommitGroup(std::span<GroupWriter* const> group);
  std::uint64_t NextTimestamp();

  // ledger_apply.cc. REQUIRES: state_mutex held exclusively.
  // `fingerprint` is IdIndex::Fingerprint(command.chain, command.id).
  Result<CommandResult> ApplyOne(const Command& command, std::uint64_t fingerprint, std::uint64_t timestamp_us);
  Result<std::optional<internal::Event>> FindLogged(std::uint32_t chain, const CommandId& id) const;
  Result<std::optional<internal::Event>> FindLogged(std::uint32_t chain, const CommandId& id,
                                                    std::uint64_t fingerprint) const;
  Result<internal::Event> ReadEvent(std::uint64_t sequence) const;
};

// The stateless checks: kOk, or the rejection that does not depend on the
// ledger's state. Shared by the engine and its replay.
ResultCode ValidateCommand(const Command& command);

}  // namespace tally

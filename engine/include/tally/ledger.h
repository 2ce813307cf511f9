// Ledger: the engine's entry point. Opens a data directory, applies batches of
// commands durably and idempotently, answers queries.
//
// Thread safety: every method may be called from any thread. Concurrent
// Apply() calls are coalesced into group commits (one write, one fsync) and
// applied in the order they queued; a group is applied while the one before
// it is written. Queries answer only with durable state (see
// OpenOptions::queries_answer_early).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/auth.h"
#include "tally/status.h"
#include "tally/types.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace tally {

struct OpenOptions {
  bool create_if_missing = true;
  // Ledger time source in microseconds since the epoch; the ledger keeps its
  // time non-decreasing whatever this returns. Tests replace it.
  std::function<std::uint64_t()> clock_us;
  // The RocksDB environment; null: the default. Fault tests pass one that
  // fails writes.
  std::shared_ptr<rocksdb::Env> env;
  // Off (the default), a query returns once everything it saw is durable:
  // a group commit still being written may hold what it read. On, queries
  // answer at once, and the caller must hold each answer until WhenDurable()
  // says so; a server does, so that its one engine thread never waits for
  // an fsync (server/src/engine_worker.cc).
  bool queries_answer_early = false;
  // The size of each journal file (docs/journal.md): written in full
  // before its first record; a new one is prepared when the current one is
  // half full. Tests use small ones.
  std::uint64_t journal_file_bytes = 64 << 20;
};

// Where the hash chain stands: the last sequence and its chain hash (hex).
struct ChainHead {
  std::uint64_t sequence = 0;
  std::string hash;
};

struct LedgerStats {
  std::uint64_t last_sequence = 0;
  std::uint64_t last_timestamp_us = 0;
  std::uint64_t members = 0;
  std::uint64_t command_ids = 0;
  std::uint64_t memory_bytes = 0;     // the in-memory tables (members, ids, reversal totals, accounts and their lots)
  double recovery_seconds = 0;        // time Open() took to rebuild state
  std::string chain_head;             // SHA-256 chain hash at last_sequence, 64 hex digits (docs/audit.md)
  std::string stopped;                // why the ledger refuses requests; empty while it serves
};

class Ledger {
 public:
  // Opens (or creates) the ledger in `directory` and rebuilds the in-memory
  // state from the log, verifying every block checksum.
  static Result<std::unique_ptr<Ledger>> Open(const std::string& directory, OpenOptions options = {});

  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Applies `batch` (1..kBatchCommandsMax commands) in order, atomically and
  // durably: when this returns ok, every logged result is on disk. Returns
  // one result per command. A non-ok Status means nothing of the batch was
  // acknowledged. After a failed write (a full disk, an I/O error) the
  // ledger is Unavailable: it refuses commands and queries, and each later
  // Apply() (or Resume()) first retries the failed write; the batches of
  // the failed write may or may not end up applied (send them again with
  // the same ids). After an error in the rules it stays stopped until it
  // is reopened.
  Result<std::vector<CommandResult>> Apply(std::span<const Command> batch);

  // Retries a failed write now: Ok when the ledger serves again (or never
  // stopped), else why it still cannot.
  Status Resume();

  // Applies several batches, each atomically, in one or more group commits
  // (as many as kGroupCommandsMax requires), in order; one result list per
  // batch. For a server that has many clients' batches at hand.
  Result<std::vector<std::vector<CommandResult>>> ApplyBatches(std::span<const std::span<const Command>> batches);
  // The same without waiting for the disk: returns once the batches are
  // applied in memory (the next group may be applied at once), and calls
  // `done` with the results once they are durable, or with why they are not
  // (as Apply would return it): on the ledger's log writer thread, or on
  // this one when known at once. `done` must not call the ledger.
  //
  // `small_writes`: who writes a small group (up to 64 events) that finds
  // the log writer idle. kHereWhenIdle: this thread, before returning (a
  // request spared a thread's wake-up; meanwhile this thread applies
  // nothing), for a caller with nothing else waiting to be applied;
  // kHoldWhenIdle: this thread too, but only when it calls WriteHeld(),
  // with every group applied meanwhile (by it or anyone) and one fsync —
  // for a caller with a few more requests at hand, queries between
  // commands among them; kLogWriter: the log writer, always. (The waiting
  // Apply and ApplyBatches write here when no other caller is queued
  // behind.)
  enum class SmallWrites { kLogWriter, kHereWhenIdle, kHoldWhenIdle };
  using ApplyDone = std::function<void(Result<std::vector<std::vector<CommandResult>>>)>;
  void ApplyBatches(std::span<const std::span<const Command>> batches, ApplyDone done,
                    SmallWrites small_writes = SmallWrites::kLogWriter);
  // Writes the group held by kHoldWhenIdle, and every group queued behind
  // it, with one fsync: on this thread (`here`), or on the log writer's.
  // Nothing if no group is held. Until then every later group, anyone's,
  // waits for it: call it promptly, and before anything that waits for the
  // disk (Backup, the waiting Apply). Written here, `then` (if given) is
  // called on this thread once the write succeeded and its waiters' `done`
  // were called — as soon as it is durable, possibly before RocksDB has
  // finished the write, so `then` must not call the ledger (it is for
  // sending the answers `done` gave).
  void WriteHeld(bool here = true, const std::function<void()>& then = nullptr);
  // Calls `done` with Ok once everything applied before this call is
  // durable, or with why it is not (then answers that saw it must not be
  // given); on the log writer's thread, or on this one when known at once.
  // `done` must not call the ledger.
  void WhenDurable(std::function<void(const Status&)> done) const;

  Result<Balance> GetBalance(MemberKey member) const;
  // The balances of 1..kBalanceMembersMax members, read under one lock.
  Result<std::vector<Balance>> GetBalances(std::span<const MemberKey> members) const;

  // The member's lots, tier and what expires before `expiring_before_us`,
  // at the ledger's current time (docs/loyalty.md).
  Result<MemberStatus> GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) const;

  // One page of a chain-wide segment query: up to `limit`
  // (1..kSegmentPageMembersMax) matching members from at most
  // kSegmentPageSlotsMax of the chain's members, in the order they joined. `cursor` is
  // empty for the first page, else the previous page's next_cursor; a page
  // may be empty with a cursor. Cursors do not expire: members keep their
  // place, and those who join meanwhile come at the end.
  Result<SegmentPage> FindMembers(const SegmentQuery& query, std::string_view cursor, std::size_t limit) const;

  // The member's events, newest first, at most `limit` (1..kHistoryPageEntriesMax).
  // `cursor` is empty for the first page, else a next_cursor from a page of
  // the same member.
  Result<HistoryPage> History(MemberKey member, std::string_view cursor, std::size_t limit) const;

  // The original result of command `id` in `chain`, if it was logged.
  Result<std::optional<CommandResult>> Find(std::uint32_t chain, CommandId id) const;

  LedgerStats Stats() const;

  // Tokens (docs/security.md). CreateToken returns the secret, once; only
  // its SHA-256 is stored. Names are unique, 1..64 printable characters.
  Result<std::string> CreateToken(const std::string& name, Role role, std::uint32_t chain);
  Status RevokeToken(const std::string& name);
  Result<std::vector<TokenInfo>> ListTokens() const;
  // The active token whose secret this is; nullopt for an unknown or revoked one.
  Result<std::optional<TokenInfo>> Authenticate(std::string_view secret) const;
  // True when at least one token is active.
  Result<bool> HasTokens() const;

  // Writes a consistent copy of the ledger to `directory` (which must not
  // exist): a RocksDB checkpoint taken between two group commits, so it
  // holds exactly the events up to the chain head returned. Commands wait
  // while it is taken (mostly the flush of the memtables). The copy opens
  // as a ledger, and `tally audit` checks it (docs/audit.md, "Backups").
  Result<ChainHead> Backup(const std::string& directory) const;

  // Calls `visit` for every member with at least one event, in no particular order.
  void ForEachMember(const std::function<void(MemberKey, const Balance&)>& visit) const;

  struct Impl;

 private:
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally

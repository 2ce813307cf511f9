// MemberTable: the state of every member, in memory: balance, the sequence
// of the member's newest event (the head of its history chain) and the
// member's account (lots, holds, debt, purchases).
//
// Members are numbered 1, 2, 3 … in the order they joined and kept in that
// order in a StableVector, so a member's state never moves; an index from a
// fingerprint of (chain, member) to the member's number — a GrowingTable,
// like the command-id index, which grows a few slots per insert instead of
// doubling in one step — finds it. Nothing stops the writer when the table
// grows, and a scan in member order resumes exactly where it stopped. Each
// chain also lists its members' numbers, so that a chain's scans and sweeps
// look at that chain's members only.
// 64 bytes a member (plus the account's lots), 4 in its chain's list and 16
// per index slot (load <= 3/4, two tables while growing): 97 to 119 bytes a
// member.
//
// Thread safety: none; the ledger guards it.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>

#include "account.h"
#include "growing_table.h"
#include "stable_vector.h"
#include "tally/limits.h"
#include "tally/types.h"

namespace tally::internal {

// One cache line: a command's lookup of its member reads one line after the
// index slot.
struct alignas(64) MemberState {
  std::uint32_t chain = 0;  // never 0 for a member (chain 0 is invalid)
  std::uint64_t member = 0;
  std::int64_t balance = 0;
  std::uint64_t last_sequence = 0;
  Account account;
};
static_assert(sizeof(MemberState) == 64);

class MemberTable {
 public:
  MemberTable();

  // nullptr when the member has no state.
  const MemberState* Find(MemberKey key) const;
  MemberState* Find(MemberKey key) { return const_cast<MemberState*>(std::as_const(*this).Find(key)); }
  // The member's state, created with balance 0 if absent; its address never
  // changes. REQUIRES: key.chain != 0.
  MemberState* FindOrInsert(MemberKey key);

  // Start loading what a lookup of `key` reads, for a lookup soon: first the
  // index slot, then (once that is in) the member's state and account.
  void Prefetch(MemberKey key) const { index_.Prefetch(Fingerprint(key)); }
  void PrefetchState(MemberKey key) const;

  std::uint64_t size() const { return states_.size() - 1; }
  // Members by number, 1 to end() - 1, for a scan that resumes across
  // calls: numbers are never reused or moved.
  std::uint64_t end() const { return states_.size(); }
  const MemberState& member(std::uint64_t number) const { return states_[number]; }
  MemberState& member(std::uint64_t number) { return states_[number]; }
  // The numbers of `chain`'s members in joining order; nullptr when the chain
  // has none.
  const StableVector<std::uint32_t>* NumbersOf(std::uint32_t chain) const;
  std::uint64_t memory_bytes() const;

  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (std::uint64_t number = 1; number < states_.size(); ++number) visit(states_[number]);
  }

 private:
  static std::uint64_t Fingerprint(MemberKey key);

  // [0] unused: the index keeps numbers > 0. Chunks of 2^15 states, 2 MB:
  // one huge page each.
  StableVector<MemberState, 15> states_;
  GrowingTable index_{std::size_t{1} << 16, kMembersMax};  // fingerprint -> number
  std::unordered_map<std::uint32_t, StableVector<std::uint32_t>> chains_;
};

}  // namespace tally::internal

// MemberTable: the hot state of every member, in memory: balance and the
// sequence of the member's newest event (the head of its history chain).
// 32 bytes a slot, open addressing with linear probing, load <= 3/4, so at
// most ~85 bytes a member including growth headroom.
//
// Thread safety: none; the ledger guards it.
#pragma once

#include <cstdint>
#include <vector>

#include "tally/types.h"

namespace tally::internal {

struct MemberState {
  std::uint32_t chain;  // 0: empty slot (chain 0 is invalid)
  std::uint32_t account;  // index into the ledger's accounts; 0: none yet
  std::uint64_t member;
  std::int64_t balance;
  std::uint64_t last_sequence;
};
static_assert(sizeof(MemberState) == 32);

class MemberTable {
 public:
  MemberTable();

  // nullptr when the member has no state.
  const MemberState* Find(MemberKey key) const;
  // The member's state, created with balance 0 if absent. The pointer is
  // valid until the next FindOrInsert. REQUIRES: key.chain != 0.
  MemberState* FindOrInsert(MemberKey key);

  // Starts loading the slot where `key` lives, for a lookup soon.
  void Prefetch(MemberKey key) const { __builtin_prefetch(&slots_[Home(key)]); }

  std::uint64_t size() const { return size_; }
  // Slots, for a scan in slot order that resumes across calls: a slot's
  // member stays in it until the table grows.
  std::size_t capacity() const { return slots_.size(); }
  const MemberState& slot(std::size_t index) const { return slots_[index]; }
  std::uint64_t memory_bytes() const { return slots_.capacity() * sizeof(MemberState); }

  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const MemberState& state : slots_) {
      if (state.chain != 0) visit(state);
    }
  }

 private:
  std::size_t Home(MemberKey key) const;
  void Grow();

  std::vector<MemberState> slots_;
  std::size_t mask_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace tally::internal

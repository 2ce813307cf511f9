#include "member_table.h"

#include "tally/limits.h"
#include "tally/status.h"

namespace tally::internal {
namespace {

constexpr std::size_t kInitialSlots = 1 << 12;

// The 64-bit finalizer of MurmurHash3: cheap, and good enough to spread
// sequential member numbers over the table.
std::uint64_t Mix(std::uint64_t value) {
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

}  // namespace

MemberTable::MemberTable() : slots_(kInitialSlots, MemberState{}), mask_(kInitialSlots - 1) {}

std::size_t MemberTable::Home(MemberKey key) const {
  return Mix(key.member ^ Mix(key.chain)) & mask_;
}

const MemberState* MemberTable::Find(MemberKey key) const {
  for (std::size_t slot = Home(key);; slot = (slot + 1) & mask_) {
    const MemberState& state = slots_[slot];
    if (state.chain == 0) return nullptr;
    if (state.chain == key.chain && state.member == key.member) return &state;
  }
}

MemberState* MemberTable::FindOrInsert(MemberKey key) {
  TALLY_ASSERT(key.chain != 0);
  if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
  std::size_t slot = Home(key);
  for (;; slot = (slot + 1) & mask_) {
    MemberState& state = slots_[slot];
    if (state.chain == key.chain && state.member == key.member) return &state;
    if (state.chain == 0) break;
  }
  TALLY_ASSERT(size_ < kMembersMax);
  slots_[slot] = MemberState{key.chain, 0, key.member, 0, 0};
  ++size_;
  return &slots_[slot];
}

void MemberTable::Grow() {
  std::vector<MemberState> old = std::move(slots_);
  slots_.assign(old.size() * 2, MemberState{});
  mask_ = slots_.size() - 1;
  for (const MemberState& state : old) {
    if (state.chain == 0) continue;
    std::size_t slot = Home({state.chain, state.member});
    while (slots_[slot].chain != 0) slot = (slot + 1) & mask_;
    slots_[slot] = state;
  }
}

}  // namespace tally::internal

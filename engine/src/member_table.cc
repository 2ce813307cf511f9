#include "member_table.h"

#include <limits>

#include "tally/limits.h"
#include "tally/status.h"

namespace tally::internal {

MemberTable::MemberTable() : states_(1) {}

std::uint64_t MemberTable::Fingerprint(MemberKey key) {
  const std::uint64_t hash = MixBits(key.member ^ MixBits(key.chain));
  return hash == 0 ? 1 : hash;  // 0 marks an empty index slot
}

const MemberState* MemberTable::Find(MemberKey key) const {
  const MemberState* found = nullptr;
  index_.ForEachCandidate(Fingerprint(key), [&](std::uint64_t number) {
    const MemberState& state = states_[number];
    if (state.chain != key.chain || state.member != key.member) return false;  // another member, same fingerprint
    found = &state;
    return true;
  });
  return found;
}

void MemberTable::PrefetchState(MemberKey key) const {
  // The first candidate is nearly always the member.
  index_.ForEachCandidate(Fingerprint(key), [&](std::uint64_t number) {
    __builtin_prefetch(&states_[number]);  // one cache line
    return true;
  });
}

MemberState* MemberTable::FindOrInsert(MemberKey key) {
  TALLY_ASSERT(key.chain != 0);
  if (const MemberState* found = Find(key)) return const_cast<MemberState*>(found);
  TALLY_ASSERT(size() < kMembersMax);
  const std::uint64_t number = states_.size();
  TALLY_ASSERT(number <= std::numeric_limits<std::uint32_t>::max());
  chains_[key.chain].emplace_back(static_cast<std::uint32_t>(number));
  MemberState& state = states_.emplace_back();
  state.chain = key.chain;
  state.member = key.member;
  index_.Insert(Fingerprint(key), number);
  return &state;
}

const StableVector<std::uint32_t>* MemberTable::NumbersOf(std::uint32_t chain) const {
  const auto found = chains_.find(chain);
  return found == chains_.end() ? nullptr : &found->second;
}

std::uint64_t MemberTable::memory_bytes() const {
  std::uint64_t bytes = states_.capacity() * sizeof(MemberState) + index_.memory_bytes();
  for (const auto& [chain, numbers] : chains_) bytes += numbers.capacity() * sizeof(std::uint32_t);
  return bytes;
}

}  // namespace tally::internal

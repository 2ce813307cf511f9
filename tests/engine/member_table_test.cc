// The member table: members keep their state's address and their number
// while the index grows under them, are found once each, and are visited in
// the order they joined.
#include "member_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace tally::internal {
namespace {

constexpr std::uint64_t kMembers = 300'000;  // the index grows several times (65,536 slots at first)

MemberKey KeyOf(std::uint64_t index) {
  // Two chains, and member numbers that share the low bits across chains.
  return MemberKey{static_cast<std::uint32_t>(1 + index % 2), index / 2 * 1'000'003};
}

TEST(MemberTable, StatesStayPutAndAreFoundOnceWhileTheIndexGrows) {
  MemberTable table;
  std::vector<MemberState*> states;
  for (std::uint64_t index = 0; index < kMembers; ++index) {
    MemberState* state = table.FindOrInsert(KeyOf(index));
    ASSERT_EQ(state->chain, KeyOf(index).chain);
    ASSERT_EQ(state->member, KeyOf(index).member);
    ASSERT_EQ(state->balance, 0);
    state->balance = static_cast<std::int64_t>(index);
    states.push_back(state);
    // A member from long before is still where it was, with what was written.
    const std::uint64_t earlier = index / 3;
    ASSERT_EQ(table.Find(KeyOf(earlier)), states[earlier]) << "member " << earlier << " after " << index;
  }
  ASSERT_EQ(table.size(), kMembers);
  for (std::uint64_t index = 0; index < kMembers; ++index) {
    ASSERT_EQ(table.FindOrInsert(KeyOf(index)), states[index]) << "found again, not inserted twice";
    ASSERT_EQ(states[index]->balance, static_cast<std::int64_t>(index));
  }
  EXPECT_EQ(table.size(), kMembers);
  EXPECT_EQ(table.Find({3, 0}), nullptr) << "a chain nobody joined";
  EXPECT_EQ(table.Find({1, 1}), nullptr) << "a member nobody added";
}

TEST(MemberTable, MembersAreNumberedAndVisitedInJoiningOrder) {
  MemberTable table;
  for (std::uint64_t index = 0; index < kMembers; ++index) table.FindOrInsert(KeyOf(index));
  table.FindOrInsert(KeyOf(7));  // joined already: keeps its place
  ASSERT_EQ(table.end(), kMembers + 1);
  for (std::uint64_t number = 1; number < table.end(); ++number) {
    ASSERT_EQ(table.member(number).member, KeyOf(number - 1).member) << "number " << number;
    ASSERT_EQ(table.member(number).chain, KeyOf(number - 1).chain) << "number " << number;
  }
  std::uint64_t visited = 0;
  table.ForEach([&](const MemberState& state) {
    ASSERT_EQ(state.member, KeyOf(visited).member);
    ++visited;
  });
  EXPECT_EQ(visited, kMembers);
  // Each chain lists its own members' numbers, in joining order.
  for (std::uint32_t chain : {1u, 2u}) {
    const StableVector<std::uint32_t>* numbers = table.NumbersOf(chain);
    ASSERT_NE(numbers, nullptr);
    ASSERT_EQ(numbers->size(), kMembers / 2);
    for (std::size_t position = 0; position < numbers->size(); ++position) {
      ASSERT_EQ((*numbers)[position], 2 * position + chain) << "chain " << chain << " position " << position;
      ASSERT_EQ(table.member((*numbers)[position]).chain, chain);
    }
  }
  EXPECT_EQ(table.NumbersOf(3), nullptr);
}

}  // namespace
}  // namespace tally::internal

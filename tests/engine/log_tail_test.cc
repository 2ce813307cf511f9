#include "log_tail.h"

#include <gtest/gtest.h>

namespace tally::internal {
namespace {

EncodedBlock Block(std::uint64_t first, std::size_t bytes) { return EncodedBlock{first, std::string(bytes, 'x'), {}}; }

TEST(LogTail, FindsTheBlockHoldingASequence) {
  LogTail tail(1 << 20);
  std::vector<EncodedBlock> blocks = {Block(1, 100), Block(11, 100), Block(200, 100)};
  tail.Append(std::move(blocks), 300);
  EXPECT_EQ(tail.Find(0), nullptr);
  EXPECT_EQ(tail.Find(1)->first_sequence, 1u);
  EXPECT_EQ(tail.Find(10)->first_sequence, 1u);
  EXPECT_EQ(tail.Find(11)->first_sequence, 11u);
  EXPECT_EQ(tail.Find(150), nullptr) << "beyond what block 11 can hold";
  EXPECT_EQ(tail.Find(250)->first_sequence, 200u);
}

TEST(LogTail, DropsTheOldestBeyondItsSize) {
  LogTail tail(250);
  std::vector<EncodedBlock> first = {Block(1, 100), Block(11, 100)};
  tail.Append(std::move(first), 20);
  std::vector<EncodedBlock> second = {Block(21, 100)};
  tail.Append(std::move(second), 30);
  EXPECT_EQ(tail.Find(5), nullptr) << "evicted";
  EXPECT_EQ(tail.Find(15)->first_sequence, 11u);
  EXPECT_EQ(tail.Find(25)->first_sequence, 21u);
}

TEST(LogTail, KeepsBlocksNotYetDurableBeyondItsSize) {
  LogTail tail(250);
  std::vector<EncodedBlock> first = {Block(1, 100), Block(11, 100)};
  tail.Append(std::move(first), 0);
  std::vector<EncodedBlock> second = {Block(21, 100), Block(31, 100)};
  tail.Append(std::move(second), 10);  // blocks 1..10 on disk, the rest being written
  EXPECT_EQ(tail.Find(5), nullptr) << "durable: evicted";
  EXPECT_EQ(tail.Find(15)->first_sequence, 11u) << "not durable: kept although over the size";
  EXPECT_EQ(tail.Find(35)->first_sequence, 31u);
  std::vector<EncodedBlock> third = {Block(41, 100)};
  tail.Append(std::move(third), 40);
  EXPECT_EQ(tail.Find(15), nullptr);
  EXPECT_EQ(tail.Find(25), nullptr);
  EXPECT_EQ(tail.Find(35)->first_sequence, 31u);
}

}  // namespace
}  // namespace tally::internal

#include "log_tail.h"

#include <gtest/gtest.h>

namespace tally::internal {
namespace {

EncodedBlock Block(std::uint64_t first, std::size_t bytes) { return EncodedBlock{first, std::string(bytes, 'x')}; }

TEST(LogTail, FindsTheBlockHoldingASequence) {
  LogTail tail(1 << 20);
  std::vector<EncodedBlock> blocks = {Block(1, 100), Block(11, 100), Block(200, 100)};
  tail.Append(std::move(blocks));
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
  tail.Append(std::move(first));
  std::vector<EncodedBlock> second = {Block(21, 100)};
  tail.Append(std::move(second));
  EXPECT_EQ(tail.Find(5), nullptr) << "evicted";
  EXPECT_EQ(tail.Find(15)->first_sequence, 11u);
  EXPECT_EQ(tail.Find(25)->first_sequence, 21u);
}

}  // namespace
}  // namespace tally::internal

// The log writer on its own: groups land in order, and a write handed back
// for the next group is empty (its buffer kept), so no block is written
// twice.
#include "log_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "store.h"
#include "test_util.h"

namespace tally::internal {
namespace {

TEST(LogWriter, AWriteTakenForTheNextGroupIsEmptyAndGroupsLandInOrder) {
  testing::TemporaryDirectory directory;
  Result<std::unique_ptr<Store>> store = Store::Open(directory.path(), Store::Mode::kReadWrite, true);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  {
    LogWriter log(store->get(), 0, ChainHash{});
    for (std::uint64_t group = 1; group <= 3; ++group) {
      BlockWrite write = log.TakeEmptyWrite();
      EXPECT_EQ(write.blocks(), 0u) << "group " << group;
      const std::string bytes(1000 * group, static_cast<char>('a' + group));
      ASSERT_TRUE((*store)->AddToWrite(EncodedBlock{group, bytes, {}}, &write).ok());
      EXPECT_EQ(write.blocks(), 1u);
      log.Enqueue(std::move(write), group, ChainHash{});
      ASSERT_TRUE(log.WaitDurable(group).ok());
    }
  }
  std::vector<std::pair<std::uint64_t, std::string>> blocks;
  ASSERT_TRUE((*store)
                  ->ForEachBlock([&](std::uint64_t sequence, std::string_view bytes) {
                    blocks.emplace_back(sequence, std::string(bytes));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_EQ(blocks.size(), 3u);
  for (std::uint64_t group = 1; group <= 3; ++group) {
    EXPECT_EQ(blocks[group - 1].first, group);
    EXPECT_EQ(blocks[group - 1].second, std::string(1000 * group, static_cast<char>('a' + group)));
  }
}

}  // namespace
}  // namespace tally::internal

// The command-id index across its growth: every entry is found, once, with
// its sequence, whether it still sits in the old table, has moved, or was
// inserted since; runs that wrap around the end and runs of one colliding
// fingerprint included.
#include "id_index.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace tally::internal {
namespace {

// Every sequence the index visits for `fingerprint`, in visit order.
std::vector<std::uint64_t> Candidates(const IdIndex& index, std::uint64_t fingerprint) {
  std::vector<std::uint64_t> sequences;
  index.ForEachCandidate(fingerprint, [&](std::uint64_t sequence) {
    sequences.push_back(sequence);
    return false;
  });
  return sequences;
}

TEST(IdIndex, EveryEntryIsFoundOnceWhileTheTableGrows) {
  IdIndex index;
  std::multimap<std::uint64_t, std::uint64_t> inserted;  // fingerprint -> sequence
  std::mt19937_64 random(7);
  int checks_while_growing = 0;
  std::uint64_t sequence = 0;
  // Three doublings, looked at throughout each of them.
  while (sequence < 197'000) {  // two doublings, and the start of the third (at 196,608)
    for (int burst = 0; burst < 997; ++burst) {
      std::uint64_t fingerprint = random() | 1;
      const int shape = static_cast<int>(sequence % 10);
      if (shape == 0) fingerprint = (random() % 5) + 1;          // a few fingerprints shared by many entries
      if (shape == 1) fingerprint = ~std::uint64_t{0} - random() % 3;  // homes at the very end: runs wrap
      index.Insert(fingerprint, ++sequence);
      inserted.emplace(fingerprint, sequence);
    }
    checks_while_growing += index.growing() ? 1 : 0;
    // A sample of what is in, and what is not.
    for (int probe = 0; probe < 50; ++probe) {
      auto entry = inserted.lower_bound(random());
      if (entry == inserted.end()) entry = inserted.begin();
      const auto [first, last] = inserted.equal_range(entry->first);
      std::vector<std::uint64_t> expected;
      for (auto it = first; it != last; ++it) expected.push_back(it->second);
      std::vector<std::uint64_t> found = Candidates(index, entry->first);
      std::sort(found.begin(), found.end());
      ASSERT_EQ(found, expected) << "fingerprint " << entry->first << " at " << index.size() << " entries";
    }
  }
  EXPECT_GT(checks_while_growing, 10) << "the checks must have run during growth";
  EXPECT_EQ(index.size(), inserted.size());
  // At the end, everything, exhaustively, by fingerprint.
  for (auto it = inserted.begin(); it != inserted.end(); it = inserted.upper_bound(it->first)) {
    const auto [first, last] = inserted.equal_range(it->first);
    ASSERT_EQ(Candidates(index, it->first).size(), static_cast<std::size_t>(std::distance(first, last)));
  }
}

TEST(IdIndex, AbsentFingerprintsAreNotFoundWhileGrowing) {
  IdIndex index;
  std::mt19937_64 inserts(11);
  std::uint64_t sequence = 0;
  int absent_checks = 0;
  while (absent_checks < 2000) {
    index.Insert(inserts() | 1, ++sequence);
    if (index.growing()) {
      std::mt19937_64 others(static_cast<std::uint64_t>(absent_checks) + 1'000'000);
      const std::uint64_t absent = others() & ~std::uint64_t{1};  // even: never inserted
      ASSERT_TRUE(Candidates(index, absent == 0 ? 2 : absent).empty());
      ++absent_checks;
    }
  }
}

TEST(IdIndex, AVisitThatReturnsTrueStopsTheSearch) {
  IdIndex index;
  for (std::uint64_t sequence = 1; sequence <= 100; ++sequence) index.Insert(42, sequence);
  int visits = 0;
  EXPECT_TRUE(index.ForEachCandidate(42, [&](std::uint64_t) { return ++visits == 3; }));
  EXPECT_EQ(visits, 3);
}

// Minor page faults of this process so far: one per page brought in.
long PageFaults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// The next table (twice the current one) is allocated ahead of growth and
// brought into memory a page at a time: the insert that allocates it must
// not clear or touch it all. (With tcmalloc's calloc, a table placed in
// memory freed by the earlier tables was cleared at once: 0.7 s under one
// insert at 30 M ids.) Checked at every growth to 2^21 slots.
TEST(IdIndex, TheNextTableComesIntoMemoryAPageAtATime) {
  IdIndex index;
  std::mt19937_64 random(5);
  std::uint64_t sequence = 0;
  int allocations = 0;
  bool next_allocated = false;  // since the last growth
  while (index.memory_bytes() < (std::uint64_t{1} << 21) * 16) {
    const std::uint64_t before_bytes = index.memory_bytes();
    const bool was_growing = index.growing();
    const long before_faults = PageFaults();
    index.Insert(random() | 1, ++sequence);
    if (index.growing()) {
      next_allocated = false;
      continue;
    }
    if (was_growing || next_allocated || index.memory_bytes() <= before_bytes) continue;
    // This insert allocated the next table and touched its first page.
    next_allocated = true;
    ++allocations;
    EXPECT_LT(PageFaults() - before_faults, 64) << "a table of " << 2 * before_bytes << " bytes came into memory at once";
  }
  EXPECT_EQ(allocations, 5);  // next tables of 2^17 to 2^21 slots
}

}  // namespace
}  // namespace tally::internal

// The growing table (behind the command-id index, the member index and the
// reversed totals) across its growth: every entry is found, once, with its
// value, whether it still sits in the old table, has moved, or was inserted
// since; runs that wrap around the end and runs of one colliding key
// included; values changed in place stay changed.
#include "growing_table.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tally/limits.h"

namespace tally::internal {
namespace {

constexpr std::size_t kFirstSlots = std::size_t{1} << 16;  // as the id index

// Every value the table visits for `fingerprint`, in visit order.
std::vector<std::uint64_t> Candidates(const GrowingTable& index, std::uint64_t fingerprint) {
  std::vector<std::uint64_t> sequences;
  index.ForEachCandidate(fingerprint, [&](std::uint64_t sequence) {
    sequences.push_back(sequence);
    return false;
  });
  return sequences;
}

TEST(GrowingTable, EveryEntryIsFoundOnceWhileTheTableGrows) {
  GrowingTable index(kFirstSlots, kCommandIdsMax);
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

TEST(GrowingTable, AbsentFingerprintsAreNotFoundWhileGrowing) {
  GrowingTable index(kFirstSlots, kCommandIdsMax);
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

TEST(GrowingTable, AVisitThatReturnsTrueStopsTheSearch) {
  GrowingTable index(kFirstSlots, kCommandIdsMax);
  for (std::uint64_t sequence = 1; sequence <= 100; ++sequence) index.Insert(42, sequence);
  int visits = 0;
  EXPECT_TRUE(index.ForEachCandidate(42, [&](std::uint64_t) { return ++visits == 3; }));
  EXPECT_EQ(visits, 3);
}

// Values changed through a non-const table stay changed whichever table
// the entry sits in when it is changed, and after it moves. A small first
// table (as the reversed totals use) grows through many doublings here.
TEST(GrowingTable, ValuesChangedInPlaceStayChangedAcrossGrowth) {
  GrowingTable table(256, kCommandIdsMax);
  std::map<std::uint64_t, std::uint64_t> expected;  // key -> value
  std::mt19937_64 random(13);
  int changes_while_growing = 0;
  for (std::uint64_t next = 1; next <= 40'000; ++next) {
    const std::uint64_t key = MixBits(next);
    table.Insert(key, next);
    expected[key] = next;
    // Change an earlier entry's value: now one long in, now one just added.
    const std::uint64_t earlier_key = MixBits(next % 3 == 0 ? next : random() % next + 1);
    const bool found = table.ForEachCandidate(earlier_key, [&](std::uint64_t& value) {
      value += 1'000'000;
      return true;
    });
    ASSERT_TRUE(found) << "key of entry " << next;
    expected[earlier_key] += 1'000'000;
    changes_while_growing += table.growing() ? 1 : 0;
  }
  EXPECT_GT(changes_while_growing, 1000) << "changes must have been made during growth";
  for (const auto& [key, value] : expected) {
    ASSERT_EQ(Candidates(table, key), std::vector<std::uint64_t>{value});
  }
}

// Resident pages of this process now (/proc/self/statm, kept open: it is
// read before every insert).
long ResidentPages() {
  static const int statm = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  char text[128] = {};
  if (statm < 0 || ::pread(statm, text, sizeof text - 1, 0) <= 0) return -1;
  char* after_size = nullptr;
  std::strtol(text, &after_size, 10);
  return std::strtol(after_size, nullptr, 10);
}

// The first table is in memory once the index exists, so that a new
// ledger's first commands do not each fault at a random slot.
TEST(GrowingTable, TheFirstTableIsInMemoryFromTheStart) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const long before = ResidentPages();
  ASSERT_GT(before, 0);
  GrowingTable index(kFirstSlots, kCommandIdsMax);
  const long after = ResidentPages();
  ASSERT_GT(index.memory_bytes(), 0u);
  EXPECT_GE(after - before, static_cast<long>(index.memory_bytes()) / page);
}

// The next table (twice the current one) is allocated ahead of growth and
// brought into memory by then — by its own thread, and by the writer where
// that thread falls behind — so that growth does not fault page after page
// under the writer. Checked at every growth to 2^21 slots.
TEST(GrowingTable, TheNextTableIsInMemoryWhenGrowthBegins) {
  GrowingTable index(kFirstSlots, kCommandIdsMax);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::mt19937_64 random(5);
  std::uint64_t sequence = 0;
  int allocations = 0;
  int growths_checked = 0;
  long resident_at_allocation = -1;  // since the next table was allocated
  std::uint64_t next_table_bytes = 0;
  while (index.memory_bytes() < (std::uint64_t{1} << 21) * 16) {
    const std::uint64_t before_bytes = index.memory_bytes();
    const bool was_growing = index.growing();
    const long before_resident = ResidentPages();
    ASSERT_GT(before_resident, 0);
    index.Insert(random() | 1, ++sequence);
    if (index.growing()) {
      if (!was_growing && resident_at_allocation >= 0) {
        // Growth started: the whole next table came in since its allocation.
        EXPECT_GE(before_resident - resident_at_allocation, static_cast<long>(next_table_bytes) / page)
            << "a table of " << next_table_bytes << " bytes was not in memory when growth began";
        ++growths_checked;
      }
      resident_at_allocation = -1;
      continue;
    }
    if (was_growing || resident_at_allocation >= 0 || index.memory_bytes() <= before_bytes) continue;
    // This insert allocated the next table.
    ++allocations;
    next_table_bytes = index.memory_bytes() - before_bytes;
    EXPECT_EQ(next_table_bytes, 2 * before_bytes);
    resident_at_allocation = before_resident;
  }
  EXPECT_EQ(allocations, 5);  // next tables of 2^17 to 2^21 slots
  EXPECT_GE(growths_checked, 4);
}

}  // namespace
}  // namespace tally::internal

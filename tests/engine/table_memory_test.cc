// Memory for the big tables: zeroed, aligned for huge pages from 2 MB, and
// advised so (where the machine allows transparent huge pages at all); the
// chunked vector built on it keeps its elements in place and destroys them.
#include "table_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stable_vector.h"

namespace tally::internal {
namespace {

bool AllZero(const char* begin, std::size_t bytes) {
  for (std::size_t offset = 0; offset < bytes; ++offset) {
    if (begin[offset] != 0) return false;
  }
  return true;
}

// The smaps entry of the mapping that holds `address`, or "" if none does.
std::string SmapsOf(const void* address) {
  const auto wanted = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line, entry;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream fields(line);
    if (line.find(':') == std::string::npos || line.find(':') > line.find(' ')) {
      // A header line: "begin-end perms offset device inode path".
      if (fields >> std::hex >> begin >> dash >> end && dash == '-') inside = begin <= wanted && wanted < end;
    }
    if (inside) entry += line + '\n';
  }
  return entry;
}

// The value of a field ("Name:") of an smaps entry, without its padding.
std::string Field(const std::string& entry, const std::string& name) {
  std::istringstream lines(entry);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const std::size_t first = line.find_first_not_of(' ', name.size());
    const std::size_t last = line.find_last_not_of(' ');
    return first == std::string::npos ? std::string() : line.substr(first, last - first + 1);
  }
  return {};
}

bool HugePagesNever() {
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text;
  std::getline(mode, text);
  return text.empty() || text.find("[never]") != std::string::npos;
}

TEST(TableMemory, ASmallTableIsZeroedAndPageAligned) {
  constexpr std::size_t kBytes = 100 * 1024;
  char* table = static_cast<char*>(MapTable(kBytes));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(table) % 4096, 0u);
  EXPECT_TRUE(AllZero(table, kBytes));
  std::memset(table, 0x5a, kBytes);  // all of it is writable
  EXPECT_EQ(table[kBytes - 1], 0x5a);
  UnmapTable(table, kBytes);
}

TEST(TableMemory, ALargeTableStartsOnAHugePageAndIsAdvisedSo) {
  constexpr std::size_t kBytes = 3 * kHugePageBytes;
  char* table = static_cast<char*>(MapTable(kBytes));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(table) % kHugePageBytes, 0u);
  EXPECT_TRUE(AllZero(table, kBytes));
  std::memset(table, 0x5a, kBytes);
  EXPECT_EQ(table[kBytes - 1], 0x5a);
  const std::string smaps = SmapsOf(table);
  UnmapTable(table, kBytes);
  if (HugePagesNever()) {
    GTEST_SKIP() << "transparent huge pages are off on this machine: the table works in small pages";
  }
  ASSERT_FALSE(smaps.empty()) << "no mapping holds the table";
  EXPECT_EQ(Field(smaps, "THPeligible:"), "1") << smaps;
  std::istringstream flags(Field(smaps, "VmFlags:"));
  bool advised = false;
  for (std::string flag; flags >> flag;) advised = advised || flag == "hg";
  EXPECT_TRUE(advised) << "advised MADV_HUGEPAGE:\n" << smaps;
}

struct alignas(64) Line {
  std::uint64_t value = 7;
  std::vector<int> owned;  // the chunk's elements must be destroyed, not just unmapped
};

// Appends `count` lines, each value-initialized and then given its index
// and something owned; every line is still at its address, with its value.
template <typename Vector>
void FillAndCheck(Vector& lines, std::size_t count) {
  std::vector<Line*> addresses;
  for (std::size_t index = 0; index < count; ++index) {
    Line& line = lines.emplace_back();
    ASSERT_EQ(line.value, 7u) << "elements start value-initialized";
    line.value = index;
    line.owned.assign(index % 3, static_cast<int>(index));
    addresses.push_back(&line);
  }
  for (std::size_t index = 0; index < count; ++index) {
    ASSERT_EQ(&lines[index], addresses[index]) << "element " << index << " moved";
    ASSERT_EQ(lines[index].value, index);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(&lines[index]) % alignof(Line), 0u);
  }
}

TEST(TableMemory, ChunksOfTwoMegabytesKeepElementsInPlace) {
  using Vector = StableVector<Line, 15>;  // 32,768 lines of 64 bytes: 2 MB a chunk, mapped
  Vector lines;
  FillAndCheck(lines, 3 * Vector::kChunkSize + 5);
  for (std::size_t chunk = 0; chunk < 4; ++chunk) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&lines[chunk * Vector::kChunkSize]) % kHugePageBytes, 0u)
        << "chunk " << chunk << " starts on a huge page";
  }
}

TEST(TableMemory, SmallChunksComeFromTheAllocatorAndKeepElementsInPlace) {
  using Vector = StableVector<Line, 10>;  // 1,024 lines: 64 KB a chunk
  Vector lines;
  FillAndCheck(lines, 5 * Vector::kChunkSize + 3);
}

}  // namespace
}  // namespace tally::internal

#include "table_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace tally::internal {

void* MapTable(std::size_t bytes) {
  const std::size_t slack = bytes >= kHugePageBytes ? kHugePageBytes : 0;
  void* mapped = ::mmap(nullptr, bytes + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  if (slack == 0) return mapped;
  // Keep the 2 MB-aligned part; give back what is before and after it.
  const auto start = reinterpret_cast<std::uintptr_t>(mapped);
  const std::uintptr_t aligned = (start + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (aligned > start) ::munmap(mapped, aligned - start);
  if (start + slack > aligned) ::munmap(reinterpret_cast<void*>(aligned + bytes), start + slack - aligned);
  // Advice only: a kernel without transparent huge pages says no, and the
  // table works the same in small pages.
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void UnmapTable(void* begin, std::size_t bytes) { ::munmap(begin, bytes); }

}  // namespace tally::internal

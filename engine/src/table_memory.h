// Memory for the ledger's big in-memory tables (the id and member indexes,
// the members' states), mapped from the kernel: fresh zero pages, in memory
// only once touched, and in 2 MB huge pages where the kernel gives them.
//
// Why huge pages: a command reads an index slot and a member's state at
// random addresses over gigabytes; with 4 KB pages nearly every one of those
// reads also misses the TLB, and on a virtual machine the page walk is
// nested (docs/performance-log.md, "Huge pages for the tables"). Tables of 2 MB
// or more start on a 2 MB boundary and are advised MADV_HUGEPAGE (the
// machine's transparent huge pages set to `madvise`, Debian's default, is
// enough; with `never` they stay in 4 KB pages and work the same).
//
// Thread safety: any thread.
#pragma once

#include <cstddef>

namespace tally::internal {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// `bytes` of zeroed memory, page-aligned, and 2 MB-aligned when `bytes` is
// at least 2 MB. Throws std::bad_alloc when the kernel refuses.
void* MapTable(std::size_t bytes);
// REQUIRES: `begin` and `bytes` are a MapTable call's.
void UnmapTable(void* begin, std::size_t bytes);

}  // namespace tally::internal

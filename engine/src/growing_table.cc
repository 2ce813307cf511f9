#include "growing_table.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

#include "table_memory.h"
#include "tally/status.h"

namespace tally::internal {
namespace {
// Old slots moved per insert while growing. Growth starts at 3/4 of C
// slots, with C old slots to move, and the next growth comes 3/4 C inserts
// later: anything above 4/3 finishes in time; 4 finishes at a third of that.
constexpr std::size_t kMovesPerInsert = 4;
constexpr std::size_t kReleaseSlots = (1u << 20) / 16;  // a megabyte of moved slots
// The next table, 2 C slots of 16 bytes, is C / 128 pages. It is allocated
// at 11/16 load, C / 16 inserts before growth; 16 pages every 64 inserts
// (one page per 4) have it all in memory by 23/32 load. Not earlier: until
// growth those pages are resident and unused (from half load on, they put
// ~80 bytes a member on a ledger of 10,000,000 members).
constexpr std::size_t kPagesPerTouch = 16;
constexpr std::size_t kInsertsPerTouch = 64;

// Linux 5.14; Debian 12's headers predate it.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

std::size_t PageSize() {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

bool Populate(char* begin, std::size_t bytes) { return ::madvise(begin, bytes, MADV_POPULATE_WRITE) == 0; }
}  // namespace

struct GrowingTable::Preparer {
  Preparer(char* begin, std::size_t bytes) : thread([this, begin, bytes] { Run(begin, bytes); }) {}
  ~Preparer() {
    stop.store(true, std::memory_order_relaxed);
    thread.join();
  }

  void Run(char* begin, std::size_t bytes) {
    const std::size_t chunk = kPagesPerTouch * PageSize();
    for (std::size_t offset = 0; offset < bytes && !stop.load(std::memory_order_relaxed); offset += chunk) {
      const std::size_t length = std::min(chunk, bytes - offset);
      // Reading a page that is not populated would map the zero page and
      // cost the writer a second fault: without populate, leave it all to
      // the writer.
      if (!Populate(begin + offset, length)) return;
      // The writer never reads or writes next_ until growth, which joins
      // this thread first.
      for (std::size_t page = 0; page < length; page += PageSize()) {
        sink += *(reinterpret_cast<const volatile char*>(begin + offset + page));
      }
      ready.store(offset + length, std::memory_order_relaxed);
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<std::size_t> ready{0};  // bytes from the start populated and read
  char sink = 0;
  std::thread thread;  // last: starts when everything above is ready
};

GrowingTable::GrowingTable(std::size_t initial_slots, std::uint64_t entries_max)
    : slots_(Allocate(initial_slots)), mask_(initial_slots - 1), entries_max_(entries_max) {
  TALLY_ASSERT(initial_slots >= 256 && (initial_slots & (initial_slots - 1)) == 0);
  // The first table is in memory from the start, as every
  // later one is by growth: left to first touches, the first few thousand
  // commands of a new ledger each took a fault at a random slot (~10 us,
  // up to ~70 under load on the virtual machine) in the caller's path.
  char* const begin = reinterpret_cast<char*>(slots_.get());
  const std::size_t bytes = initial_slots * sizeof(Slot);
  if (!Populate(begin, bytes)) {
    // A kernel before 5.14: one write fault a page, here rather than later.
    for (std::size_t offset = 0; offset < bytes; offset += PageSize()) *(reinterpret_cast<volatile char*>(begin) + offset) = 0;
  }
  std::size_t sink = 0;  // each page read once, as the preparing thread does
  for (std::size_t offset = 0; offset < bytes; offset += PageSize()) sink += *(reinterpret_cast<const volatile char*>(begin) + offset);
  (void)sink;
}

GrowingTable::~GrowingTable() = default;

GrowingTable::Slots GrowingTable::Allocate(std::size_t count) {
  // Fresh zero pages from the kernel: a big table costs nothing until its
  // pages are touched (TouchNextPages), and Release can hand pages back.
  const std::size_t bytes = count * sizeof(Slot);
  return Slots(static_cast<Slot*>(MapTable(bytes)), Unmap(bytes));
}

void GrowingTable::Unmap::operator()(Slot* slots) const { UnmapTable(slots, bytes); }

void GrowingTable::Place(Slot* slots, std::size_t mask, Slot entry) {
  std::size_t slot = entry.key & mask;
  while (slots[slot].key != 0) slot = (slot + 1) & mask;
  slots[slot] = entry;
}

void GrowingTable::Insert(std::uint64_t key, std::uint64_t value) {
  TALLY_ASSERT(key != 0);
  TALLY_ASSERT(size_ < entries_max_);
  // In steps of 64 slots every 16 inserts: the steps' random writes overlap.
  if (old_slots_ && size_ % 16 == 0) MoveSome(16 * kMovesPerInsert);
  if (!old_slots_ && !next_ && (size_ + 1) * 16 > (mask_ + 1) * 11) {
    next_ = Allocate((mask_ + 1) * 2);
    touched_ = 0;
    try {
      preparer_ = std::make_unique<Preparer>(reinterpret_cast<char*>(next_.get()), (mask_ + 1) * 2 * sizeof(Slot));
    } catch (const std::system_error&) {
      // No thread to be had: the writer brings the table in alone.
    }
  }
  if (next_ && size_ % kInsertsPerTouch == 0) TouchNextPages();
  if ((size_ + 1) * 4 > (mask_ + 1) * 3) StartGrowing();
  Place(slots_.get(), mask_, Slot{key, value});
  ++size_;
}

void GrowingTable::TouchNextPages() {
  const std::size_t bytes = (mask_ + 1) * 2 * sizeof(Slot);
  if (touched_ >= bytes) return;
  const std::size_t chunk = std::min(bytes - touched_, kPagesPerTouch * PageSize());
  char* const at = reinterpret_cast<char*>(next_.get()) + touched_;
  touched_ += chunk;
  if (preparer_ && preparer_->ready.load(std::memory_order_relaxed) >= touched_) return;
  // Pages brought in by the kernel in one call, as if written: no fault to
  // take per page (~1 us a page here against ~10 for a fault, whose trap
  // this virtual machine makes dear), and no zero page to copy later.
  if (populate_ && Populate(at, chunk)) return;
  // Out of memory or interrupted: the pages come in when first used.
  if (populate_ && errno != EINVAL) return;
  // A kernel before 5.14 (where the preparing thread stops at its first
  // chunk, having read nothing): a write as each page's first touch, one
  // fault a page.
  populate_ = false;
  for (std::size_t offset = 0; offset < chunk; offset += PageSize()) *(reinterpret_cast<volatile char*>(at) + offset) = 0;
}

void GrowingTable::StartGrowing() {
  preparer_.reset();  // the writer is about to write next_
  if (old_slots_) MoveSome(old_mask_ + 1);  // cannot happen with kMovesPerInsert > 4/3; kept safe
  const std::size_t capacity = (mask_ + 1) * 2;
  old_slots_ = std::move(slots_);
  old_mask_ = mask_;
  moved_ = 0;
  released_ = 0;
  slots_ = next_ ? std::move(next_) : Allocate(capacity);
  touched_ = 0;
  mask_ = capacity - 1;
}

void GrowingTable::MoveSome(std::size_t count) {
  const std::size_t old_capacity = old_mask_ + 1;
  const std::size_t end = std::min(old_capacity, moved_ + count);
  for (std::size_t slot = moved_; slot < end; ++slot) {
    if (old_slots_[slot].key != 0) __builtin_prefetch(&slots_[old_slots_[slot].key & mask_], 1);
  }
  for (; moved_ < end; ++moved_) {
    const Slot& entry = old_slots_[moved_];
    if (entry.key != 0) Place(slots_.get(), mask_, entry);
  }
  // Give the moved part back to the kernel a megabyte at a time: freeing
  // half a gigabyte at once at the end took ~30 ms.
  if (moved_ - released_ >= kReleaseSlots || moved_ == old_capacity) Release();
  if (moved_ == old_capacity) {
    old_slots_.reset();
    old_mask_ = 0;
    moved_ = 0;
    released_ = 0;
  }
}

void GrowingTable::Release() {
  const std::uintptr_t page = PageSize();
  const auto begin = reinterpret_cast<std::uintptr_t>(old_slots_.get() + released_);
  const auto end = reinterpret_cast<std::uintptr_t>(old_slots_.get() + moved_);
  const std::uintptr_t first = (begin + page - 1) & ~(page - 1);
  const std::uintptr_t last = end & ~(page - 1);
  // Whole pages only (a megabyte of slots rarely ends on a page boundary);
  // a failure just keeps the memory until the table is unmapped.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  released_ = moved_;
}

}  // namespace tally::internal

// GrowingTable: a hash table in memory from 64-bit keys to 64-bit values
// that grows without a pause. Keys are never 0 and already well mixed (a
// key's low bits are its home slot); a key may be inserted more than once.
// 16 bytes a slot, open addressing with linear probing, load <= 3/4. Used
// for the command-id index (id_index.h), the member index (member_table.h)
// and the points reversed so far of each reversed event (ledger_impl.h).
//
// The first table is brought into memory when the table is made, so that a
// new ledger's first commands take no fault.
//
// Growing without a pause: when the table is 3/4 full a table twice the size
// is allocated (zero pages from the kernel, not written until used) and
// each later insert moves a few slots of the old table into it, oldest slot
// index first; lookups probe the new table, then the old one, skipping the
// old slots already moved. A doubling used to stop the writer for ~2 s at
// 25 M ids (docs/performance-log.md).
//
// The new table is allocated a little earlier, at 11/16 load, and brought
// into memory before growth by a thread of its own: each page populated
// (madvise MADV_POPULATE_WRITE, no fault a page) and then read once (on
// the project's virtual machine the first access to a page costs ~6 us
// more). Every 64 inserts the writer checks that the thread is ahead of one
// page per 4 inserts, and populates the next 16 pages itself when it is
// not, so by growth every page is in memory whatever the thread managed;
// growth stops and joins the thread. Left to random first touches, a page
// was first read (the kernel maps its shared zero page) and then written (a
// second fault, which copies and flushes the other cores' TLBs by
// interrupt): ~7 % of a server's engine time; touched one at a time by
// writes on the writer, one fault a page, ~16 % on the virtual machine,
// where a fault costs ~10 us.
//
// Thread safety: none; the owner guards it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <type_traits>

namespace tally::internal {

// The 64-bit finalizer of MurmurHash3: a bijection on 64 bits that spreads
// neighbouring values (sequential ids and member numbers) over a table.
inline std::uint64_t MixBits(std::uint64_t value) {
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

class GrowingTable {
 public:
  // REQUIRES: initial_slots is a power of two, at least 256 (4 KiB).
  GrowingTable(std::size_t initial_slots, std::uint64_t entries_max);
  ~GrowingTable();
  GrowingTable(const GrowingTable&) = delete;
  GrowingTable& operator=(const GrowingTable&) = delete;

  // Calls `visit(value)` for every entry with `key`, in no particular
  // order, until it returns true. Returns whether a visit did. The value is
  // a reference, changeable through a non-const table, valid until the
  // next insert.
  template <typename Visit>
  bool ForEachCandidate(std::uint64_t key, Visit&& visit) const {
    return Scan(*this, key, visit);
  }
  template <typename Visit>
  bool ForEachCandidate(std::uint64_t key, Visit&& visit) {
    return Scan(*this, key, visit);
  }

  // Whether any entry has `key`.
  bool Contains(std::uint64_t key) const {
    return ForEachCandidate(key, [](std::uint64_t) { return true; });
  }

  // Starts loading the slots where `key` lives, for a lookup soon: in the
  // table, and while growing in the old one unless already moved.
  void Prefetch(std::uint64_t key) const {
    __builtin_prefetch(&slots_[key & mask_]);
    if (old_slots_ && (key & old_mask_) >= moved_) __builtin_prefetch(&old_slots_[key & old_mask_]);
  }

  // REQUIRES: key != 0, and fewer than entries_max entries.
  void Insert(std::uint64_t key, std::uint64_t value);

  std::uint64_t size() const { return size_; }
  // The tables', the next one included once allocated.
  std::uint64_t memory_bytes() const {
    return ((mask_ + 1) + (old_slots_ ? old_mask_ + 1 : 0) + (next_ ? 2 * (mask_ + 1) : 0)) * sizeof(Slot);
  }
  bool growing() const { return old_slots_ != nullptr; }  // tests

 private:
  struct Slot {
    std::uint64_t key;  // 0: empty
    std::uint64_t value;
  };
  static_assert(sizeof(Slot) == 16);
  // Tables are mapped from the kernel directly (fresh zero pages, in memory
  // only once touched, in huge pages from 2 MB: table_memory.h), whatever
  // the allocator: tcmalloc's calloc clears a large block at once, which
  // held one insert for 0.7 s at 30 M ids.
  struct Unmap {
    Unmap() noexcept : bytes(0) {}
    explicit Unmap(std::size_t mapped_bytes) noexcept : bytes(mapped_bytes) {}
    void operator()(Slot* slots) const;
    std::size_t bytes;
  };
  using Slots = std::unique_ptr<Slot[], Unmap>;

  // The lookup behind both ForEachCandidate: `Table` is GrowingTable or
  // const GrowingTable, and the visit sees the value as such.
  template <typename Table, typename Visit>
  static bool Scan(Table& table, std::uint64_t key, Visit& visit) {
    using Value = std::conditional_t<std::is_const_v<Table>, const std::uint64_t, std::uint64_t>;
    for (std::size_t slot = key & table.mask_;; slot = (slot + 1) & table.mask_) {
      Slot& entry = table.slots_[slot];
      if (entry.key == 0) break;
      if (entry.key == key && visit(static_cast<Value&>(entry.value))) return true;
    }
    if (!table.old_slots_) return false;
    // The old table's run from the home slot, without the moved slots
    // [0, moved_): their entries were seen above, and their pages may be
    // gone (read as zero), so they are stepped over unread. A run never
    // had a gap there, so stepping over them cannot end it early.
    const std::size_t home = key & table.old_mask_;
    const std::size_t start = std::max(home, table.moved_);
    int found = ScanOld<Value>(table, start, table.old_mask_ + 1, key, visit);
    if (found < 0 && home >= table.moved_) found = ScanOld<Value>(table, table.moved_, home, key, visit);  // wrapped
    return found > 0;
  }

  // Old slots [from, to) of a probe run: 1 when a visit returned true, 0 at
  // an empty slot (the run ended), -1 at `to`.
  template <typename Value, typename Table, typename Visit>
  static int ScanOld(Table& table, std::size_t from, std::size_t to, std::uint64_t key, Visit& visit) {
    for (std::size_t slot = from; slot < to; ++slot) {
      Slot& entry = table.old_slots_[slot];
      if (entry.key == 0) return 0;
      if (entry.key == key && visit(static_cast<Value&>(entry.value))) return 1;
    }
    return -1;
  }

  static Slots Allocate(std::size_t count);  // zeroed, not yet in memory
  static void Place(Slot* slots, std::size_t mask, Slot entry);
  struct Preparer;          // the thread that brings next_ into memory
  void TouchNextPages();     // makes sure the next table's next pages are in memory
  void StartGrowing();
  void MoveSome(std::size_t count);
  void Release();  // returns the pages of moved old slots to the kernel

  Slots slots_;
  std::size_t mask_ = 0;
  Slots old_slots_;          // the table being emptied into slots_, while growing
  std::size_t old_mask_ = 0;
  std::size_t moved_ = 0;    // old slots [0, moved_) are in slots_
  std::size_t released_ = 0; // old slots [0, released_) have their pages returned
  Slots next_;               // the table growth will use, from 11/16 load on
  std::size_t touched_ = 0;  // bytes of next_ made sure of by the writer
  bool populate_ = true;     // until the kernel says it cannot (TouchNextPages)
  std::unique_ptr<Preparer> preparer_;  // while next_ is being brought in
  std::uint64_t size_ = 0;
  std::uint64_t entries_max_;
};

}  // namespace tally::internal

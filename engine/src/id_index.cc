#include "id_index.h"

// Inlined: the fingerprint of 20 bytes is on the hot path of every command.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tally/internal/encoding.h"
#include "tally/limits.h"
#include "tally/status.h"

namespace tally::internal {
namespace {
constexpr std::size_t kInitialSlots = 1 << 16;
}  // namespace

IdIndex::IdIndex() : slots_(kInitialSlots, Slot{0, 0}), mask_(kInitialSlots - 1) {}

std::uint64_t IdIndex::Fingerprint(std::uint32_t chain, const CommandId& id) {
  char bytes[20];
  StoreFixed32(bytes, chain);
  StoreFixed64(bytes + 4, id.high);
  StoreFixed64(bytes + 12, id.low);
  const std::uint64_t hash = XXH3_64bits(bytes, sizeof(bytes));
  return hash == 0 ? 1 : hash;  // 0 marks an empty slot
}

void IdIndex::Insert(std::uint64_t fingerprint, std::uint64_t sequence) {
  TALLY_ASSERT(fingerprint != 0 && sequence != 0);
  TALLY_ASSERT(size_ < kCommandIdsMax);
  if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
  std::size_t slot = Home(fingerprint);
  while (slots_[slot].fingerprint != 0) slot = (slot + 1) & mask_;
  slots_[slot] = Slot{fingerprint, sequence};
  ++size_;
}

void IdIndex::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{0, 0});
  mask_ = slots_.size() - 1;
  // Reinserting in old slot order keeps entries with equal fingerprints in
  // their original (insertion) order along each probe run.
  for (const Slot& entry : old) {
    if (entry.fingerprint == 0) continue;
    std::size_t slot = Home(entry.fingerprint);
    while (slots_[slot].fingerprint != 0) slot = (slot + 1) & mask_;
    slots_[slot] = entry;
  }
}

}  // namespace tally::internal

// IdIndex: every logged command id, in memory, as a 64-bit fingerprint of
// (chain, id) mapped to the sequence number of its event. The log is the
// source of truth: a fingerprint match is confirmed by reading the event and
// comparing the full id, so fingerprint collisions cost a read, never a wrong
// answer. 16 bytes a slot, open addressing with linear probing, load <= 3/4.
//
// Why in memory: a RocksDB put per id costs ~6 us and a negative lookup
// ~0.6 us on this machine, too slow for a million events a second; see
// docs/storage.md ("Design in one paragraph" and "In memory").
//
// Thread safety: none; the ledger guards it.
#pragma once

#include <cstdint>
#include <vector>

#include "tally/types.h"

namespace tally::internal {

class IdIndex {
 public:
  IdIndex();

  static std::uint64_t Fingerprint(std::uint32_t chain, const CommandId& id);

  // Calls `visit(sequence)` for every entry with `fingerprint`, oldest first,
  // until it returns true. Returns whether a visit returned true.
  template <typename Visit>
  bool ForEachCandidate(std::uint64_t fingerprint, Visit&& visit) const {
    for (std::size_t slot = Home(fingerprint);; slot = (slot + 1) & mask_) {
      if (slots_[slot].fingerprint == 0) return false;
      if (slots_[slot].fingerprint == fingerprint && visit(slots_[slot].sequence)) return true;
    }
  }

  // Starts loading the slot where `fingerprint` lives, for a lookup soon.
  void Prefetch(std::uint64_t fingerprint) const { __builtin_prefetch(&slots_[Home(fingerprint)]); }

  // REQUIRES: sequence > 0 and not inserted before.
  void Insert(std::uint64_t fingerprint, std::uint64_t sequence);

  std::uint64_t size() const { return size_; }
  std::uint64_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint64_t fingerprint;  // 0: empty
    std::uint64_t sequence;
  };
  static_assert(sizeof(Slot) == 16);

  std::size_t Home(std::uint64_t fingerprint) const { return fingerprint & mask_; }
  void Grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace tally::internal

// IdIndex: every logged command id, in memory, as a 64-bit fingerprint of
// (chain, id) mapped to the sequence number of its event. The log is the
// source of truth: a fingerprint match is confirmed by reading the event and
// comparing the full id, so fingerprint collisions cost a read, never a wrong
// answer. A GrowingTable (growing_table.h): it grows without a pause.
//
// Why in memory: a RocksDB put per id costs ~6 us and a negative lookup
// ~0.6 us on this machine, too slow for a million events a second; see
// docs/storage.md ("Design in one paragraph" and "In memory").
//
// Thread safety: none; the ledger guards it.
#pragma once

#include <cstdint>

#include "growing_table.h"
#include "tally/limits.h"
#include "tally/types.h"

namespace tally::internal {

class IdIndex : public GrowingTable {
 public:
  // The first table, 2^16 slots (a megabyte), is in memory from the start.
  IdIndex() : GrowingTable(std::size_t{1} << 16, kCommandIdsMax) {}

  // Never 0. Two ids of a chain that differ in one half only never share a
  // fingerprint (the finalizer is a bijection).
  static std::uint64_t Fingerprint(std::uint32_t chain, const CommandId& id) {
    const std::uint64_t hash = MixBits(id.low ^ MixBits(id.high ^ (std::uint64_t{chain} << 32 | chain)));
    return hash == 0 ? 1 : hash;  // 0 marks an empty slot
  }
};

}  // namespace tally::internal

// Replay: rebuilds every balance from the event log alone, with its own
// implementation of the rules, and checks every recorded outcome against it.
// It opens the data directory read-only and changes nothing.
//
// Thread safety: a free function; runs on the calling thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tally/status.h"
#include "tally/types.h"

namespace tally {

struct ReplayMember {
  MemberKey key;
  std::int64_t balance = 0;
  std::uint64_t last_sequence = 0;
};

struct ReplayReport {
  std::uint64_t blocks = 0;
  std::uint64_t events = 0;
  std::uint64_t rejections_logged = 0;
  std::uint64_t last_sequence = 0;
  std::int64_t points_outstanding = 0;  // sum of all balances (exact; overflow is reported)
  std::vector<ReplayMember> members;    // sorted by (chain, member)
  double seconds = 0;
};

// Fails with kCorruption naming the sequence (and member, where there is one)
// of the first record whose checksum, order or recorded outcome differs from
// the replay.
Result<ReplayReport> Replay(const std::string& directory);

}  // namespace tally

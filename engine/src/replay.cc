// Replay: rebuilds every balance from the event log alone and checks every
// recorded outcome against the rules. It runs the engine's recovery — which
// re-applies each logged command at its logged ledger time and compares the
// outcome field by field — on a read-only store, so it changes nothing. The
// independent check of the rules themselves is the model test
// (tests/engine/model.h), which implements them a second time.
#include "tally/replay.h"

#include <algorithm>
#include <chrono>

#include "ledger_impl.h"
#include "store.h"

namespace tally {
namespace {

std::string FormatDecimal(__int128 value) {
  const bool negative = value < 0;
  unsigned __int128 magnitude = negative ? static_cast<unsigned __int128>(-(value + 1)) + 1
                                         : static_cast<unsigned __int128>(value);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  return negative ? "-" + digits : digits;
}

}  // namespace

Result<ReplayReport> Replay(const std::string& directory) {
  const auto started = std::chrono::steady_clock::now();
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
  if (!store.ok()) return store.status();
  Ledger::Impl impl;
  impl.store = std::move(store.value());
  Status status = impl.Recover();
  if (!status.ok()) return status;

  ReplayReport report;
  report.blocks = impl.recovered.blocks;
  report.events = impl.recovered.events;
  report.rejections_logged = impl.recovered.rejections;
  report.last_sequence = impl.last_sequence;
  // At most 2^32 members of at most 2^63 - 1 points each: the sum fits in 96 bits.
  __int128 outstanding = 0;
  impl.members.ForEach([&](const internal::MemberState& member) {
    report.members.push_back(ReplayMember{{member.chain, member.member}, member.balance, member.last_sequence});
    outstanding += member.balance;
  });
  report.points_outstanding = FormatDecimal(outstanding);
  std::sort(report.members.begin(), report.members.end(), [](const ReplayMember& a, const ReplayMember& b) {
    return std::pair(a.key.chain, a.key.member) < std::pair(b.key.chain, b.key.member);
  });
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace tally

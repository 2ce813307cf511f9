// Queries: balance, history, find by command id, statistics.
#include <xxhash.h>

#include <cstdio>

#include "tally/internal/encoding.h"
#include "ledger_impl.h"
#include "tally/limits.h"

namespace tally {
namespace {

// A history cursor is 32 hex digits: the sequence to continue from, and a
// check that ties it to the member, so a cursor of another member (or a
// typo) is refused rather than followed.
std::uint64_t CursorCheck(MemberKey member, std::uint64_t sequence) {
  char bytes[20];
  internal::StoreFixed32(bytes, member.chain);
  internal::StoreFixed64(bytes + 4, member.member);
  internal::StoreFixed64(bytes + 12, sequence);
  return XXH3_64bits_withSeed(bytes, sizeof(bytes), 0x7461'6c6c'7963'7572ULL);
}

std::string EncodeCursor(MemberKey member, std::uint64_t sequence) {
  return CommandId{sequence, CursorCheck(member, sequence)}.ToHex();
}

Result<std::uint64_t> DecodeCursor(MemberKey member, std::string_view cursor) {
  const std::optional<CommandId> parts = CommandId::FromHex(cursor);
  if (!parts || parts->high == 0 || parts->low != CursorCheck(member, parts->high)) {
    return Status::InvalidArgument("history cursor is damaged or belongs to another member");
  }
  return parts->high;
}

}  // namespace

Result<Balance> Ledger::GetBalance(MemberKey member) const {
  if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  std::shared_lock lock(impl_->state_mutex);
  if (!impl_->failure.ok()) return impl_->failure;
  const internal::MemberState* state = impl_->members.Find(member);
  if (state == nullptr) return Balance{};
  return Balance{state->balance, state->last_sequence};
}

Result<std::vector<Balance>> Ledger::GetBalances(std::span<const MemberKey> members) const {
  if (members.empty() || members.size() > kBalanceMembersMax) {
    return Status::InvalidArgument("a balance request names 1 to " + std::to_string(kBalanceMembersMax) + " members");
  }
  for (const MemberKey& member : members) {
    if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  }
  std::shared_lock lock(impl_->state_mutex);
  if (!impl_->failure.ok()) return impl_->failure;
  std::vector<Balance> balances;
  balances.reserve(members.size());
  for (const MemberKey& member : members) {
    const internal::MemberState* state = impl_->members.Find(member);
    balances.push_back(state == nullptr ? Balance{} : Balance{state->balance, state->last_sequence});
  }
  return balances;
}

Result<HistoryPage> Ledger::History(MemberKey member, std::string_view cursor, std::size_t limit) const {
  if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  if (limit == 0 || limit > kHistoryPageEntriesMax) {
    return Status::InvalidArgument("a history page holds 1 to " + std::to_string(kHistoryPageEntriesMax) +
                                   " entries");
  }
  std::shared_lock lock(impl_->state_mutex);
  if (!impl_->failure.ok()) return impl_->failure;
  std::uint64_t sequence = 0;
  if (cursor.empty()) {
    const internal::MemberState* state = impl_->members.Find(member);
    sequence = state == nullptr ? 0 : state->last_sequence;
  } else {
    Result<std::uint64_t> decoded = DecodeCursor(member, cursor);
    if (!decoded.ok()) return decoded.status();
    sequence = *decoded;
  }
  HistoryPage page;
  while (sequence != 0 && page.entries.size() < limit) {
    Result<internal::Event> event = impl_->ReadEvent(sequence);
    if (!event.ok()) return event.status();
    if (event->command.chain != member.chain || event->command.member != member.member) {
      return Status::Corruption("event " + std::to_string(sequence) + " is in the history of another member");
    }
    if (event->previous_sequence >= sequence) {
      return Status::Corruption("event " + std::to_string(sequence) + " points forward in its member's history");
    }
    page.entries.push_back(HistoryEntry{event->sequence, event->timestamp_us, event->command, event->code,
                                        event->balance_after, event->target_sequence});
    sequence = event->previous_sequence;
  }
  if (sequence != 0) page.next_cursor = EncodeCursor(member, sequence);
  return page;
}

Result<std::optional<CommandResult>> Ledger::Find(std::uint32_t chain, CommandId id) const {
  if (chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  std::shared_lock lock(impl_->state_mutex);
  if (!impl_->failure.ok()) return impl_->failure;
  Result<std::optional<internal::Event>> event = impl_->FindLogged(chain, id);
  if (!event.ok()) return event.status();
  if (!event->has_value()) return std::optional<CommandResult>();
  return std::optional<CommandResult>((*event)->ToResult());
}

LedgerStats Ledger::Stats() const {
  std::shared_lock lock(impl_->state_mutex);
  LedgerStats stats;
  stats.last_sequence = impl_->last_sequence;
  stats.last_timestamp_us = impl_->last_timestamp_us;
  stats.members = impl_->members.size();
  stats.command_ids = impl_->ids.size();
  stats.memory_bytes = impl_->members.memory_bytes() + impl_->ids.memory_bytes();
  stats.recovery_seconds = impl_->recovery_seconds;
  return stats;
}

void Ledger::ForEachMember(const std::function<void(MemberKey, const Balance&)>& visit) const {
  std::shared_lock lock(impl_->state_mutex);
  impl_->members.ForEach([&](const internal::MemberState& state) {
    visit(MemberKey{state.chain, state.member}, Balance{state.balance, state.last_sequence});
  });
}

}  // namespace tally

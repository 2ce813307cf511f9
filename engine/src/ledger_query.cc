// Queries: balance, history, find by command id, statistics.
#include <xxhash.h>

#include <cstdio>

#include "tally/internal/encoding.h"
#include "ledger_impl.h"
#include "tally/limits.h"
#include "tiers.h"

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

// A member's balance at ledger time `now_us` (docs/loyalty.md, "Balance"),
// from its state and account (`account` is state->account, or a copy).
Balance BalanceAt(const internal::MemberState& state, const internal::Account& account, std::uint64_t now_us) {
  if (account.HasExpiredHold(now_us)) {
    // Rare: release the expired holds on a copy, as the next command will.
    internal::Account released = account;
    released.ReleaseExpiredHolds(now_us);
    return BalanceAt(state, released, now_us);
  }
  Balance balance{state.balance, state.last_sequence, 0, 0, 0};
  balance.spendable = account.Spendable(now_us);
  balance.pending = account.Pending(now_us);
  balance.held = account.Held(now_us);
  return balance;
}

Balance BalanceAt(const internal::MemberState* state, std::uint64_t now_us) {
  return state == nullptr ? Balance{} : BalanceAt(*state, state->account, now_us);
}

// A segment cursor: the position, in the chain's list of members, of the
// next member to look at, and a check tying it to the query. The list only
// grows at its end (members in joining order, also when recovery rebuilds
// them), so a cursor stays good whatever joins meanwhile.
std::uint64_t SegmentCheck(const SegmentQuery& query, std::uint64_t position) {
  char bytes[40];
  internal::StoreFixed32(bytes, query.chain);
  internal::StoreFixed32(bytes + 4, static_cast<std::uint32_t>(query.kind));
  internal::StoreFixed32(bytes + 8, static_cast<std::uint32_t>(query.tier));
  internal::StoreFixed32(bytes + 12, query.days);
  internal::StoreFixed64(bytes + 16, static_cast<std::uint64_t>(query.within_points));
  internal::StoreFixed64(bytes + 24, query.before_us);
  internal::StoreFixed64(bytes + 32, position);
  return XXH3_64bits_withSeed(bytes, sizeof(bytes), 0x7365'676d'656e'7473ULL);
}

}  // namespace

std::uint64_t Ledger::Impl::QueryTime() const { return std::max(options.clock_us(), last_timestamp_us); }

template <typename Read>
auto Ledger::Impl::Query(Read read) const -> decltype(read()) {
  std::uint64_t seen = 0;
  decltype(read()) answer = [&]() -> decltype(read()) {
    std::shared_lock lock(state_mutex);
    if (Status refused = Refusal(); !refused.ok()) return refused;
    seen = last_sequence;
    return read();
  }();
  if (!answer.ok() || options.queries_answer_early) return answer;
  if (Status durable = log->WaitDurable(seen); !durable.ok()) return durable;
  return answer;
}

Result<Balance> Ledger::GetBalance(MemberKey member) const {
  if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  return impl_->Query([&]() -> Result<Balance> {
    return BalanceAt(impl_->members.Find(member), impl_->QueryTime());
  });
}

Result<std::vector<Balance>> Ledger::GetBalances(std::span<const MemberKey> members) const {
  if (members.empty() || members.size() > kBalanceMembersMax) {
    return Status::InvalidArgument("a balance request names 1 to " + std::to_string(kBalanceMembersMax) + " members");
  }
  for (const MemberKey& member : members) {
    if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  }
  return impl_->Query([&]() -> Result<std::vector<Balance>> {
    std::vector<Balance> balances;
    balances.reserve(members.size());
    const std::uint64_t now_us = impl_->QueryTime();
    // As in a group commit: the index slot eight members ahead, the state
    // four, the account's lots two (found then, and kept for the read).
    const internal::MemberTable& table = impl_->members;
    const std::size_t count = members.size();
    std::vector<const internal::MemberState*> found(count, nullptr);
    for (std::size_t index = 0; index < count; ++index) {
      if (index + 8 < count) table.Prefetch(members[index + 8]);
      if (index + 4 < count) table.PrefetchState(members[index + 4]);
      if (index + 2 < count) {
        found[index + 2] = table.Find(members[index + 2]);
        if (found[index + 2] != nullptr) found[index + 2]->account.Prefetch();
      }
      const internal::MemberState* state = index < 2 ? table.Find(members[index]) : found[index];
      balances.push_back(BalanceAt(state, now_us));
    }
    return balances;
  });
}

Result<MemberStatus> Ledger::GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) const {
  if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  return impl_->Query([&]() -> Result<MemberStatus> {
    const std::uint64_t now_us = impl_->QueryTime();
    MemberStatus status;
    const internal::MemberState* state = impl_->members.Find(member);
    status.balance = BalanceAt(state, now_us);
    const Program& program = impl_->ChainOf(member.chain).program;
    if (!program.tiers.empty()) status.tier_name = program.tiers[0].name;
    if (state == nullptr) return status;
    internal::Account account = state->account;  // released as of now, as the next command will see it
    account.ReleaseExpiredHolds(now_us);
    status.debt = account.debt();
    status.last_purchase_us = account.last_purchase_us();
    status.expiring_points = account.ExpiringBefore(now_us, expiring_before_us);
    status.holds = static_cast<std::uint32_t>(account.holds().size());
    status.lots_total = static_cast<std::uint32_t>(account.lots().size());
    for (const internal::Lot& lot : account.lots()) {
      if (status.lots.size() == kStatusLotsMax) break;
      status.lots.push_back(LotInfo{lot.points, lot.sequence, lot.spendable_from_us,
                                    lot.expires_at_us == internal::kNever ? 0 : lot.expires_at_us});
    }
    if (!program.tiers.empty()) {
      const internal::TierStatus tier = internal::TierAt(program, account.purchases(), now_us);
      status.tier = tier.tier;
      status.tier_name = program.tiers[tier.tier].name;
      status.qualifying_points = tier.qualifying;
      status.points_to_next_tier = tier.to_next;
      status.tier_lapses_at_us = tier.lapses_at_us == internal::kNever ? 0 : tier.lapses_at_us;
    }
    return status;
  });
}

Result<SegmentPage> Ledger::FindMembers(const SegmentQuery& query, std::string_view cursor, std::size_t limit) const {
  if (query.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  if (limit == 0 || limit > kSegmentPageMembersMax) {
    return Status::InvalidArgument("a segment page holds 1 to " + std::to_string(kSegmentPageMembersMax) + " members");
  }
  switch (query.kind) {
    case SegmentKind::kInactive:
      if (query.tier < -1) return Status::InvalidArgument("a segment's tier is an index, or -1 for any");
      break;
    case SegmentKind::kNearNextTier:
      if (query.within_points <= 0) return Status::InvalidArgument("a near-next-tier segment wants points > 0");
      break;
    case SegmentKind::kExpiring:
      if (query.before_us == 0) return Status::InvalidArgument("an expiring segment wants a date");
      break;
    default:
      return Status::InvalidArgument("unknown segment kind");
  }
  return impl_->Query([&]() -> Result<SegmentPage> {
    const internal::MemberTable& table = impl_->members;
    const internal::StableVector<std::uint32_t>* numbers = table.NumbersOf(query.chain);
    const std::uint64_t chain_members = numbers == nullptr ? 0 : numbers->size();
    std::uint64_t position = 0;
    if (!cursor.empty()) {
      const std::optional<CommandId> parts = CommandId::FromHex(cursor);
      if (!parts || parts->high >= chain_members || parts->low != SegmentCheck(query, parts->high)) {
        return Status::InvalidArgument("segment cursor is damaged or belongs to another query; start again");
      }
      position = parts->high;
    }
    const std::uint64_t now_us = impl_->QueryTime();
    const Program& program = impl_->ChainOf(query.chain).program;
    const bool tiers = !program.tiers.empty();
    const std::uint64_t inactive_before =
        now_us > std::uint64_t{query.days} * internal::kDayUs ? now_us - std::uint64_t{query.days} * internal::kDayUs : 0;
    SegmentPage page;
    const std::uint64_t end = std::min<std::uint64_t>(chain_members, position + kSegmentPageSlotsMax);
    for (; position < end && page.members.size() < limit; ++position) {
      ++page.scanned;
      const internal::MemberState& state = table.member((*numbers)[position]);
      const internal::Account& account = state.account;
      SegmentMember found{state.member, state.balance, 0, 0};
      switch (query.kind) {
        case SegmentKind::kInactive: {
          if (account.last_purchase_us() != 0 && account.last_purchase_us() >= inactive_before) continue;
          if (tiers) found.tier = internal::TierAt(program, account.purchases(), now_us).tier;
          if (query.tier >= 0 && found.tier != static_cast<std::uint32_t>(query.tier)) continue;
          found.value = static_cast<std::int64_t>(account.last_purchase_us());
          break;
        }
        case SegmentKind::kNearNextTier: {
          if (!tiers) continue;
          const internal::TierStatus tier = internal::TierAt(program, account.purchases(), now_us);
          if (tier.to_next <= 0 || tier.to_next > query.within_points) continue;
          found.tier = tier.tier;
          found.value = tier.to_next;
          break;
        }
        case SegmentKind::kExpiring: {
          found.value = account.ExpiringBefore(now_us, query.before_us);
          if (found.value <= 0) continue;
          if (tiers) found.tier = internal::TierAt(program, account.purchases(), now_us).tier;
          break;
        }
      }
      page.members.push_back(found);
    }
    if (position < chain_members) page.next_cursor = CommandId{position, SegmentCheck(query, position)}.ToHex();
    return page;
  });
}

Result<HistoryPage> Ledger::History(MemberKey member, std::string_view cursor, std::size_t limit) const {
  if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  if (limit == 0 || limit > kHistoryPageEntriesMax) {
    return Status::InvalidArgument("a history page holds 1 to " + std::to_string(kHistoryPageEntriesMax) +
                                   " entries");
  }
  return impl_->Query([&]() -> Result<HistoryPage> {
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
      const Command& command = event->command;
      // A transfer is in the receiver's history too, with the receiver's side.
      const bool incoming = command.kind == CommandKind::kTransfer && command.member != member.member &&
                            command.counterparty == member.member;
      if (command.chain != member.chain || (command.member != member.member && !incoming)) {
        return Status::Corruption("event " + std::to_string(sequence) + " is in the history of another member");
      }
      const std::uint64_t previous = incoming ? event->counterparty_previous_sequence : event->previous_sequence;
      if (previous >= sequence) {
        return Status::Corruption("event " + std::to_string(sequence) + " points forward in its member's history");
      }
      HistoryEntry entry{event->sequence, event->timestamp_us, command, event->code,
                         incoming ? event->counterparty_balance_after : event->balance_after, event->target_sequence,
                         event->moved, event->program_version, event->base_points, std::move(event->shares), incoming};
      page.entries.push_back(std::move(entry));
      sequence = previous;
    }
    if (sequence != 0) page.next_cursor = EncodeCursor(member, sequence);
    return page;
  });
}

Result<std::optional<CommandResult>> Ledger::Find(std::uint32_t chain, CommandId id) const {
  if (chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  return impl_->Query([&]() -> Result<std::optional<CommandResult>> {
    Result<std::optional<internal::Event>> event = impl_->FindLogged(chain, id);
    if (!event.ok()) return event.status();
    if (!event->has_value()) return std::optional<CommandResult>();
    return std::optional<CommandResult>((*event)->ToResult());
  });
}

Result<ChainHead> Ledger::Backup(const std::string& directory) const {
  if (directory.empty()) return Status::InvalidArgument("a backup needs a directory");
  // Shared: group commits (exclusive) wait; once the log writer has
  // written what was applied, the copy ends at the head.
  std::shared_lock lock(impl_->state_mutex);
  if (Status refused = impl_->Refusal(); !refused.ok()) return refused;
  if (Status durable = impl_->log->WaitDurable(impl_->last_sequence); !durable.ok()) return durable;
  Status status = impl_->store->Checkpoint(directory);
  if (!status.ok()) return status;
  return ChainHead{impl_->last_sequence, internal::ToHex(impl_->head)};
}

LedgerStats Ledger::Stats() const {
  std::shared_lock lock(impl_->state_mutex);
  LedgerStats stats;
  // The head on disk: a status answer is given at once, without waiting.
  const auto [durable_sequence, durable_head] = impl_->log->durable();
  stats.last_sequence = durable_sequence;
  stats.last_timestamp_us = impl_->last_timestamp_us;
  stats.members = impl_->members.size();
  stats.command_ids = impl_->ids.size();
  // The tables (members with their accounts, ids, reversal totals) and the
  // accounts' lots (not the heap's own overhead, nor holds and purchases,
  // which are rarer).
  std::uint64_t lots = 0;
  impl_->members.ForEach([&](const internal::MemberState& state) { lots += state.account.lots_capacity(); });
  stats.memory_bytes = impl_->members.memory_bytes() + impl_->ids.memory_bytes() + impl_->reversed_points.memory_bytes() +
                       lots * sizeof(internal::Lot);
  stats.recovery_seconds = impl_->recovery_seconds;
  stats.chain_head = internal::ToHex(durable_head);
  if (Status refused = impl_->Refusal(); !refused.ok()) stats.stopped = refused.ToString();
  return stats;
}

void Ledger::ForEachMember(const std::function<void(MemberKey, const Balance&)>& visit) const {
  std::shared_lock lock(impl_->state_mutex);
  const std::uint64_t now_us = impl_->QueryTime();
  impl_->members.ForEach([&](const internal::MemberState& state) {
    visit(MemberKey{state.chain, state.member}, BalanceAt(state, state.account, now_us));
  });
}

}  // namespace tally

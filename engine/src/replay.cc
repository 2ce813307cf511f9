// Replay: rebuilds every balance from the event log alone and checks every
// recorded outcome against the rules. It runs the engine's recovery — which
// re-applies each logged command at its logged ledger time and compares the
// outcome field by field — on a read-only store, so it changes nothing. The
// independent check of the rules themselves is the model test
// (tests/engine/model.h), which implements them a second time.
#include "tally/replay.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>
#include <optional>

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

Result<ReplayReport> Replay(const std::string& directory, const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<internal::ChainHash> kept;
  if (options.head_sequence != 0) {
    kept = internal::ChainHashFromHex(options.head_hash);
    if (!kept) return Status::InvalidArgument("a chain head is 64 hex digits");
  }
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
  if (!store.ok()) return store.status();
  Ledger::Impl impl;
  impl.store = std::move(store.value());
  bool head_seen = false;
  Status head_status;
  std::uint64_t reported = 0;
  impl.block_observer = [&](std::uint64_t last_sequence, const internal::ChainHash& hash) {
    if (kept && last_sequence == options.head_sequence) {
      head_seen = true;
      if (hash != *kept && head_status.ok()) {
        head_status = Status::Corruption("the chain hash at sequence " + std::to_string(last_sequence) + " is " +
                                         internal::ToHex(hash) + ", not the kept head " + options.head_hash +
                                         ": the log up to it was altered");
      }
    }
    if (options.progress && last_sequence - reported >= 1'000'000) {
      reported = last_sequence;
      options.progress(last_sequence);
    }
  };
  Status status = impl.Recover();
  if (!status.ok()) return status;
  if (!head_status.ok()) return head_status;
  if (kept && !head_seen) {
    return Status::Corruption("no block ends at sequence " + std::to_string(options.head_sequence) +
                              ": the kept head is not in this log (last sequence " +
                              std::to_string(impl.last_sequence) + ")");
  }

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
  report.chain_head = internal::ToHex(impl.head);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

Status ReadLog(const std::string& directory, const LogRange& range,
               const std::function<Status(const LoggedEvent&)>& visit) {
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
  if (!store.ok()) return store.status();
  internal::LogOrder order;
  bool past_range = false;
  Status status = (*store)->ForEachBlock([&](std::uint64_t key_sequence, std::string_view bytes) {
    internal::BlockReader reader;
    Status block_status = reader.Open(key_sequence, bytes);
    if (block_status.ok()) block_status = order.Next(reader, bytes);
    if (!block_status.ok()) return block_status;
    if (reader.first_sequence() > range.to_sequence || reader.timestamp_us() >= range.to_us) {
      past_range = true;
      return Status::NotFound("past the range");  // stops the scan
    }
    if (order.last_sequence() < range.from_sequence || reader.timestamp_us() < range.from_us) return Status::Ok();
    internal::Event event;
    while (!reader.done()) {
      block_status = reader.Next(&event);
      if (!block_status.ok()) return block_status;
      if (event.sequence < range.from_sequence || event.sequence > range.to_sequence) continue;
      if (range.chain != 0 && event.command.chain != range.chain) continue;
      LoggedEvent logged;
      logged.entry = HistoryEntry{event.sequence, event.timestamp_us, event.command, event.code,
                                  event.balance_after, event.target_sequence, event.moved, event.program_version,
                                  event.base_points, std::move(event.shares), false};
      logged.derived = event.derived;
      logged.counterparty_previous_sequence = event.counterparty_previous_sequence;
      logged.counterparty_balance_after = event.counterparty_balance_after;
      block_status = visit(logged);
      if (!block_status.ok()) return block_status;
    }
    return Status::Ok();
  });
  if (past_range && status.code() == Status::Code::kNotFound) return Status::Ok();
  return status;
}

Result<std::vector<ReplayMember>> BalancesAsOf(const std::string& directory, std::uint32_t chain,
                                               std::uint64_t as_of_us) {
  if (chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  // A replay (the rules re-applied, every outcome checked) up to that time.
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
  if (!store.ok()) return store.status();
  Ledger::Impl impl;
  impl.store = std::move(store.value());
  impl.recover_before_us = as_of_us;
  Status status = impl.Recover();
  if (!status.ok()) return status;
  std::vector<ReplayMember> members;
  impl.members.ForEach([&](const internal::MemberState& member) {
    if (member.chain == chain) members.push_back(ReplayMember{{chain, member.member}, member.balance, member.last_sequence});
  });
  std::sort(members.begin(), members.end(),
            [](const ReplayMember& a, const ReplayMember& b) { return a.key.member < b.key.member; });
  return members;
}

Result<LiabilityReport> Liability(const std::string& directory, std::uint32_t chain, std::uint64_t from_us,
                                  std::uint64_t to_us) {
  if (chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  if (from_us >= to_us) return Status::InvalidArgument("a period ends after it starts");
  LiabilityReport report;
  std::unordered_map<std::uint64_t, std::int64_t> balances;  // by member
  std::map<std::uint64_t, std::int64_t> issued_by_store;
  std::map<std::uint64_t, std::int64_t> redeemed_by_store;
  std::map<std::uint64_t, std::int64_t> issued_by_campaign;
  __int128 outstanding = 0;
  bool started = false;
  std::string problem;
  // Moves a member's balance to `after`; returns the change.
  auto move = [&](std::uint64_t member, std::int64_t after) {
    std::int64_t& balance = balances[member];
    const std::int64_t delta = after - balance;
    outstanding += delta;
    balance = after;
    return delta;
  };
  LogRange range;
  range.chain = chain;
  range.to_us = to_us;
  Status status = ReadLog(directory, range, [&](const LoggedEvent& logged) {
    const HistoryEntry& entry = logged.entry;
    const Command& command = entry.command;
    if (!started && entry.timestamp_us >= from_us) {
      started = true;
      report.start = static_cast<std::int64_t>(outstanding);
    }
    if (IsChainLevel(command.kind)) return Status::Ok();
    const std::int64_t delta = move(command.member, entry.balance_after);
    std::int64_t received = 0;
    if (command.kind == CommandKind::kTransfer && entry.code == ResultCode::kOk) {
      received = move(command.counterparty, logged.counterparty_balance_after);
    }
    if (!started) return Status::Ok();
    ++report.events;
    // Flows come from what each event says it moved; the ends from the
    // members' balances. They are two records of the same facts, and the
    // reconciliation below holds only if they agree.
    const std::int64_t moved = entry.code == ResultCode::kOk ? entry.points : 0;
    switch (command.kind) {
      case CommandKind::kEarn:
      case CommandKind::kEarnPurchase:
      case CommandKind::kReferral:
        report.issued += moved;
        issued_by_store[command.store_reference] += moved;
        for (const CampaignShare& share : entry.shares) issued_by_campaign[share.campaign] += share.points;
        break;
      case CommandKind::kRedeem:
      case CommandKind::kCapture:
        report.redeemed += moved;
        redeemed_by_store[command.store_reference] += moved;
        break;
      case CommandKind::kAdjust:
        report.adjusted += moved;
        break;
      case CommandKind::kReverse:
        // A return lowers the balance, an undone redemption raises it.
        if (delta < 0) report.returned += moved;
        else report.redemptions_reversed += moved;
        break;
      case CommandKind::kExpiry:
        report.expired += moved;
        break;
      case CommandKind::kTransfer:
        if (delta + received != 0 && problem.empty()) {
          problem = "transfer at sequence " + std::to_string(entry.sequence) + " does not balance";
        }
        report.transferred += moved;
        break;
      default:  // hold, release: the total does not move
        if (delta != 0 && problem.empty()) {
          problem = std::string(CommandKindName(command.kind)) + " at sequence " + std::to_string(entry.sequence) +
                    " moved the total by " + std::to_string(delta);
        }
        break;
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  if (!started) report.start = static_cast<std::int64_t>(outstanding);
  report.end = static_cast<std::int64_t>(outstanding);
  const __int128 flows = static_cast<__int128>(report.start) + report.issued - report.redeemed - report.expired -
                         report.returned + report.redemptions_reversed + report.adjusted;
  if (problem.empty() && flows != report.end) {
    problem = "start + flows = " + std::to_string(static_cast<std::int64_t>(flows)) + " but the members hold " +
              std::to_string(report.end);
  }
  if (!problem.empty()) return Status::Corruption("liability does not reconcile: " + problem);
  report.reconciled = true;

  // Campaign redemptions: the rules again, watching which lots redemptions
  // take from. A purchase's lot holds its base and its campaign shares; what
  // leaves it by redemption is attributed to the shares in proportion:
  // after T points taken, share s of an award A has had floor(T * s / A).
  struct PurchaseLot {
    std::int64_t awarded = 0;
    std::vector<CampaignShare> shares;
    std::int64_t taken = 0;
  };
  std::unordered_map<std::uint64_t, PurchaseLot> lots;  // by the purchase's sequence
  std::map<std::uint64_t, std::int64_t> redeemed_by_campaign;
  {
    auto store = internal::Store::Open(directory, internal::Store::Mode::kReadOnly, false);
    if (!store.ok()) return store.status();
    Ledger::Impl impl;
    impl.store = std::move(store.value());
    impl.event_observer = [&](const internal::Event& event) {
      if (event.command.chain != chain || event.command.kind != CommandKind::kEarnPurchase) return;
      if (event.code != ResultCode::kOk || event.shares.empty() || event.moved <= 0) return;
      if (event.timestamp_us < from_us || event.timestamp_us >= to_us) return;
      lots[event.sequence] = PurchaseLot{event.moved, event.shares, 0};
    };
    impl.spend_observer = [&](const internal::Event& spender, std::uint64_t lot_sequence, std::int64_t points) {
      if (spender.timestamp_us >= to_us) return;
      const auto found = lots.find(lot_sequence);
      if (found == lots.end()) return;
      PurchaseLot& lot = found->second;
      const std::int64_t before = lot.taken;
      lot.taken += points;
      for (const CampaignShare& share : lot.shares) {
        const auto attributed = [&](std::int64_t taken) {
          return static_cast<std::int64_t>(static_cast<__int128>(taken) * share.points / lot.awarded);
        };
        redeemed_by_campaign[share.campaign] += attributed(lot.taken) - attributed(before);
      }
    };
    Status recovered = impl.Recover();
    if (!recovered.ok()) return recovered;
  }
  report.redeemed_by_campaign.assign(redeemed_by_campaign.begin(), redeemed_by_campaign.end());
  report.issued_by_store.assign(issued_by_store.begin(), issued_by_store.end());
  report.redeemed_by_store.assign(redeemed_by_store.begin(), redeemed_by_store.end());
  report.issued_by_campaign.assign(issued_by_campaign.begin(), issued_by_campaign.end());
  return report;
}

}  // namespace tally

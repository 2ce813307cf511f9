// Ledger: open, recovery from the log, and group commit.
#include <algorithm>
#include <chrono>

#include "block.h"
#include "ledger_impl.h"
#include "tally/limits.h"

namespace tally {
namespace {

// How many commands ahead CommitGroup prefetches table slots; measured on the
// engine benchmark (docs/performance.md).
constexpr std::size_t kPrefetchDistance = 8;

std::uint64_t SystemClockUs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string DescribeEvent(const internal::Event& event) {
  return "event " + std::to_string(event.sequence) + " (chain " + std::to_string(event.command.chain) +
         ", member " + std::to_string(event.command.member) + ")";
}

// The balance an ok event must leave, from the balance before it; nullopt
// when the arithmetic overflows. A reverse moves the balance by its points in
// the direction opposite to its target; recovery only knows the magnitude.
std::optional<std::int64_t> ExpectedBalance(const internal::Event& event, std::int64_t before) {
  std::int64_t after = 0;
  const std::int64_t points = event.command.points;
  switch (event.command.kind) {
    case CommandKind::kEarn:
    case CommandKind::kAdjust:
      if (__builtin_add_overflow(before, points, &after)) return std::nullopt;
      return after;
    case CommandKind::kRedeem:
      if (__builtin_sub_overflow(before, points, &after)) return std::nullopt;
      return after;
    case CommandKind::kReverse:
      if (!__builtin_sub_overflow(before, points, &after) && after == event.balance_after) return after;
      if (!__builtin_add_overflow(before, points, &after)) return after;
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& directory, OpenOptions options) {
  const auto started = std::chrono::steady_clock::now();
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadWrite, options.create_if_missing);
  if (!store.ok()) return store.status();
  auto impl = std::make_unique<Impl>();
  impl->store = std::move(store.value());
  if (!options.clock_us) options.clock_us = SystemClockUs;
  impl->options = std::move(options);
  Status status = impl->Recover();
  if (!status.ok()) return status;
  impl->recovery_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

Status Ledger::Impl::Recover() {
  internal::LogOrder order;
  Status status = store->ForEachBlock([&](std::uint64_t key_sequence, std::string_view bytes) {
    internal::BlockReader reader;
    Status block_status = reader.Open(key_sequence, bytes);
    if (block_status.ok()) block_status = order.Next(reader);
    internal::Event event;
    while (block_status.ok() && !reader.done()) {
      block_status = reader.Next(&event);
      if (block_status.ok()) block_status = RecoverEvent(event);
    }
    return block_status;
  });
  last_sequence = order.last_sequence();
  last_timestamp_us = order.last_timestamp_us();
  return status;
}

// Rebuilds the state one event at a time, checking what the event records
// against the state before it: the member's history chain and the balance
// arithmetic. The full re-derivation of outcomes is Replay()'s job.
Status Ledger::Impl::RecoverEvent(const internal::Event& event) {
  const Command& command = event.command;
  if (ValidateCommand(command) != ResultCode::kOk) {
    return Status::Corruption(DescribeEvent(event) + ": the logged command is invalid");
  }
  internal::MemberState* member = members.FindOrInsert({command.chain, command.member});
  if (event.previous_sequence != member->last_sequence) {
    return Status::Corruption(DescribeEvent(event) + ": previous sequence " +
                              std::to_string(event.previous_sequence) + ", expected " +
                              std::to_string(member->last_sequence));
  }
  const std::optional<std::int64_t> expected =
      event.code == ResultCode::kOk ? ExpectedBalance(event, member->balance) : member->balance;
  if (!expected || *expected != event.balance_after || event.balance_after < 0) {
    return Status::Corruption(DescribeEvent(event) + ": recorded balance " + std::to_string(event.balance_after) +
                              " does not follow from " + std::to_string(member->balance));
  }
  member->balance = event.balance_after;
  member->last_sequence = event.sequence;
  ids.Insert(internal::IdIndex::Fingerprint(command.chain, command.id), event.sequence);
  if (command.kind == CommandKind::kReverse && event.code == ResultCode::kOk) {
    reversed_points[event.target_sequence] += command.points;
  }
  return Status::Ok();
}

std::uint64_t Ledger::Impl::NextTimestamp() {
  return std::max(options.clock_us(), last_timestamp_us);
}

Result<std::vector<CommandResult>> Ledger::Apply(std::span<const Command> batch) {
  Result<std::vector<std::vector<CommandResult>>> results = impl_->ApplyBatches({&batch, 1});
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

Result<std::vector<std::vector<CommandResult>>> Ledger::ApplyBatches(
    std::span<const std::span<const Command>> batches) {
  return impl_->ApplyBatches(batches);
}

// Group commit, as in LevelDB's write path: callers queue their batches; the
// caller whose batch is at the front leads: it takes whole batches from the
// queue up to kGroupCommandsMax, commits them with one write and one fsync,
// and wakes their callers. A caller with several batches queues them
// together and waits on the first of them not yet done, which is the one
// that reaches the front next.
Result<std::vector<std::vector<CommandResult>>> Ledger::Impl::ApplyBatches(
    std::span<const std::span<const Command>> batches) {
  if (batches.empty()) return Status::InvalidArgument("no batches");
  for (std::span<const Command> batch : batches) {
    if (batch.empty() || batch.size() > kBatchCommandsMax) {
      return Status::InvalidArgument("a batch holds 1 to " + std::to_string(kBatchCommandsMax) + " commands, not " +
                                     std::to_string(batch.size()));
    }
  }
  std::vector<GroupWriter> mine(batches.size());
  std::unique_lock queue_lock(queue_mutex);
  for (std::size_t index = 0; index < batches.size(); ++index) {
    mine[index].batch = batches[index];
    writers.push_back(&mine[index]);
  }
  for (std::size_t next = 0; next < mine.size();) {
    GroupWriter& self = mine[next];
    self.ready.wait(queue_lock, [&] { return self.done || writers.front() == &self; });
    if (!self.done) LeadGroup(queue_lock);
    while (next < mine.size() && mine[next].done) ++next;
  }
  std::vector<std::vector<CommandResult>> results;
  results.reserve(mine.size());
  for (GroupWriter& writer : mine) {
    if (!writer.status.ok()) return writer.status;
    results.push_back(std::move(writer.results));
  }
  return results;
}

// REQUIRES: queue_lock held, and the caller's writer is at the front.
void Ledger::Impl::LeadGroup(std::unique_lock<std::mutex>& queue_lock) {
  std::vector<GroupWriter*> group;
  std::size_t commands = 0;
  for (GroupWriter* writer : writers) {
    if (!group.empty() && commands + writer->batch.size() > kGroupCommandsMax) break;
    group.push_back(writer);
    commands += writer->batch.size();
  }
  queue_lock.unlock();
  const Status status = CommitGroup(group);
  queue_lock.lock();
  for (GroupWriter* writer : group) {
    TALLY_ASSERT(writers.front() == writer);
    writers.pop_front();
    writer->status = status;
    writer->done = true;
    writer->ready.notify_one();
  }
  if (!writers.empty()) writers.front()->ready.notify_one();
}

Status Ledger::Impl::CommitGroup(std::span<GroupWriter* const> group) {
  std::unique_lock state_lock(state_mutex);
  if (!failure.ok()) return failure;
  const std::uint64_t timestamp_us = NextTimestamp();
  pending.clear();
  for (GroupWriter* writer : group) {
    writer->results.clear();
    writer->results.reserve(writer->batch.size());
    const std::span<const Command> batch = writer->batch;
    fingerprints.resize(batch.size());
    for (std::size_t index = 0; index < batch.size(); ++index) {
      fingerprints[index] = internal::IdIndex::Fingerprint(batch[index].chain, batch[index].id);
    }
    for (std::size_t index = 0; index < batch.size(); ++index) {
      // Both tables are far larger than the caches: start the two random
      // reads of a command a few commands before it is applied.
      if (index + kPrefetchDistance < batch.size()) {
        const Command& ahead = batch[index + kPrefetchDistance];
        ids.Prefetch(fingerprints[index + kPrefetchDistance]);
        members.Prefetch({ahead.chain, ahead.member});
      }
      Result<CommandResult> result = ApplyOne(batch[index], fingerprints[index], timestamp_us);
      if (!result.ok()) {
        // The in-memory state may hold part of this group: stop for good.
        failure = Status::FailedPrecondition("ledger stopped after an error; reopen it: " + result.status().ToString());
        return result.status();
      }
      writer->results.push_back(*result);
    }
  }
  if (pending.empty()) return Status::Ok();  // only retries and stateless rejections

  std::vector<internal::EncodedBlock> blocks;
  blocks.reserve((pending.size() + kBlockEventsMax - 1) / kBlockEventsMax);
  internal::BlockBuilder builder;
  for (std::size_t first = 0; first < pending.size(); first += kBlockEventsMax) {
    const std::size_t end = std::min(pending.size(), first + kBlockEventsMax);
    builder.Reset(pending[first].sequence, timestamp_us);
    for (std::size_t index = first; index < end; ++index) builder.Add(pending[index]);
    blocks.push_back({pending[first].sequence, std::string(builder.Finish())});
  }
  const Status written = store->WriteBlocks(blocks);
  if (!written.ok()) {
    failure = Status::FailedPrecondition("ledger stopped after a failed write; reopen it: " + written.ToString());
    return written;
  }
  last_sequence = pending.back().sequence;
  last_timestamp_us = timestamp_us;
  pending.clear();
  tail.Append(std::move(blocks));
  return Status::Ok();
}

}  // namespace tally

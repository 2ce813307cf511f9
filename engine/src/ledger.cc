// Ledger: open, recovery from the log, and group commit.
#include <algorithm>
#include <chrono>

#include "block.h"
#include "ledger_impl.h"
#include "tally/limits.h"

namespace tally {
namespace {

// How many commands ahead a group commit and recovery prefetch table slots;
// measured on the engine benchmark (docs/performance-log.md).
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

// The first field in which the logged event and the rules' outcome differ.
std::string Difference(const internal::Event& logged, const internal::Event& derived) {
  auto differs = [](std::string_view field, auto a, auto b) {
    return std::string(field) + " is " + std::to_string(a) + " in the log, " + std::to_string(b) + " by the rules";
  };
  if (logged.code != derived.code) {
    return "outcome is " + std::string(ResultCodeName(logged.code)) + " in the log, " +
           std::string(ResultCodeName(derived.code)) + " by the rules";
  }
  if (logged.balance_after != derived.balance_after) {
    return differs("balance", logged.balance_after, derived.balance_after);
  }
  if (logged.moved != derived.moved) return differs("points moved", logged.moved, derived.moved);
  if (logged.previous_sequence != derived.previous_sequence) {
    return differs("previous sequence", logged.previous_sequence, derived.previous_sequence);
  }
  if (logged.target_sequence != derived.target_sequence) {
    return differs("target sequence", logged.target_sequence, derived.target_sequence);
  }
  if (logged.counterparty_balance_after != derived.counterparty_balance_after) {
    return differs("counterparty balance", logged.counterparty_balance_after, derived.counterparty_balance_after);
  }
  if (logged.counterparty_previous_sequence != derived.counterparty_previous_sequence) {
    return differs("counterparty previous sequence", logged.counterparty_previous_sequence,
                   derived.counterparty_previous_sequence);
  }
  if (logged.program_version != derived.program_version) {
    return differs("program version", logged.program_version, derived.program_version);
  }
  if (logged.base_points != derived.base_points) return differs("base points", logged.base_points, derived.base_points);
  return "campaign shares differ";
}

}  // namespace

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() {
  // A group held for its caller is left to the log writer, which writes
  // what is queued before it stops.
  WriteHeld(/*here=*/false);
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::string& directory, OpenOptions options) {
  const auto started = std::chrono::steady_clock::now();
  auto store = internal::Store::Open(directory, internal::Store::Mode::kReadWrite, options.create_if_missing,
                                    options.env, options.journal_file_bytes);
  if (!store.ok()) return store.status();
  auto impl = std::make_unique<Impl>();
  impl->store = std::move(store.value());
  if (!options.clock_us) options.clock_us = SystemClockUs;
  impl->options = std::move(options);
  Status status = impl->LoadTokens();
  if (status.ok()) status = impl->Recover();
  if (!status.ok()) return status;
  impl->log = std::make_unique<internal::LogWriter>(impl->store.get(), impl->last_sequence, impl->head);
  impl->recovery_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

// Both tables, the members' states and their lots are far larger than the
// caches: the reads of a command start a few commands before it is applied,
// in stages, each using what the one before brought in: the id slot and the
// member's index slot kPrefetchDistance ahead, the member's state (with its
// account) half as far ahead, the account's lots a quarter as far.
template <typename CommandAt>
void Ledger::Impl::PrefetchAhead(std::size_t index, std::size_t count, CommandAt command_at) {
  if (index + kPrefetchDistance < count) {
    const Command& ahead = command_at(index + kPrefetchDistance);
    ids.Prefetch(fingerprints[index + kPrefetchDistance]);
    members.Prefetch({ahead.chain, ahead.member});
  }
  if (index + kPrefetchDistance / 2 < count) {
    const Command& ahead = command_at(index + kPrefetchDistance / 2);
    members.PrefetchState({ahead.chain, ahead.member});
  }
  if (index + kPrefetchDistance / 4 < count) {
    const Command& ahead = command_at(index + kPrefetchDistance / 4);
    internal::MemberState* state = members.Find({ahead.chain, ahead.member});
    member_hints[index + kPrefetchDistance / 4] = state;
    if (state != nullptr) state->account.Prefetch();
  }
}

Status Ledger::Impl::Recover() {
  internal::LogOrder order;
  bool cut_off = false;
  std::vector<internal::Event> events;  // of the block being recovered
  Status status = store->ForEachBlock([&](std::uint64_t key_sequence, std::string_view bytes) {
    internal::BlockReader reader;
    Status block_status = reader.Open(key_sequence, bytes);
    // A group commit's blocks share its ledger time: the cut never splits one.
    if (block_status.ok() && reader.timestamp_us() >= recover_before_us) {
      cut_off = true;
      return Status::NotFound("the cut-off time");  // stops the scan
    }
    if (block_status.ok()) block_status = order.Next(reader, bytes);
    if (!block_status.ok()) return block_status;
    if (block_observer) block_observer(order.last_sequence(), order.head());
    // Events may name earlier events of their own block: the block is
    // readable (in the tail) before its events are applied.
    std::vector<internal::EncodedBlock> block;
    block.push_back({key_sequence, std::string(bytes), {}});
    tail.Append(std::move(block), ~std::uint64_t{0});  // all on disk
    last_sequence = order.last_sequence();
    ++recovered.blocks;
    // The whole block first, so that the random reads of its events can
    // start a few events ahead, as in a group commit.
    events.clear();
    fingerprints.clear();
    while (!reader.done()) {
      internal::Event& event = events.emplace_back();
      block_status = reader.Next(&event);
      if (!block_status.ok()) return block_status;
      fingerprints.push_back(internal::IdIndex::Fingerprint(event.command.chain, event.command.id));
    }
    member_hints.assign(events.size(), nullptr);
    for (std::size_t index = 0; index < events.size(); ++index) {
      PrefetchAhead(index, events.size(), [&](std::size_t at) -> const Command& { return events[at].command; });
      block_status = RecoverEvent(events[index], fingerprints[index], member_hints[index]);
      ++recovered.events;
      if (events[index].code != ResultCode::kOk) ++recovered.rejections;
      if (!block_status.ok()) return block_status;
    }
    return Status::Ok();
  });
  if (cut_off && status.code() == Status::Code::kNotFound) status = Status::Ok();
  if (status.ok() && sweep.remaining != 0) {
    status = Status::Corruption("the log ends inside an expire sweep: " + std::to_string(sweep.remaining) +
                                " member events missing");
  }
  last_sequence = order.last_sequence();
  last_timestamp_us = order.last_timestamp_us();
  head = order.head();
  return status;
}

// Rebuilds the state one event at a time by applying the rules to the
// logged command at its logged time, and checks that they give exactly the
// logged outcome: a log that was edited, or a rule that changed, fails here.
Status Ledger::Impl::RecoverEvent(const internal::Event& logged, std::uint64_t fingerprint,
                                  internal::MemberState* member_hint) {
  const Command& command = logged.command;
  if (sweep.remaining > 0) {
    // One member's part of an expire sweep.
    if (!logged.derived || command.kind != CommandKind::kExpiry || command.chain != sweep.chain ||
        command.id != sweep.id) {
      return Status::Corruption(DescribeEvent(logged) + ": expected the next member event of expire sweep " +
                                sweep.id.ToHex());
    }
    --sweep.remaining;
    internal::MemberState* member = members.FindOrInsert({command.chain, command.member});
    internal::Event derived = logged;
    if (!member->account.HasPastDate(logged.timestamp_us)) {
      return Status::Corruption(DescribeEvent(logged) + ": an expiry for a member with nothing past date");
    }
    ExpireMember(member, &derived);
    if (!(derived == logged)) return Status::Corruption(DescribeEvent(logged) + ": " + Difference(logged, derived));
    if (event_observer) event_observer(logged);
    return Status::Ok();
  }
  if (logged.derived || command.kind == CommandKind::kExpiry) {
    return Status::Corruption(DescribeEvent(logged) + ": an expiry event outside an expire sweep");
  }
  if (ValidateCommand(command) != ResultCode::kOk) {
    return Status::Corruption(DescribeEvent(logged) + ": the logged command is invalid");
  }
  Result<std::optional<internal::Event>> earlier = FindLogged(command.chain, command.id, fingerprint);
  if (!earlier.ok()) return earlier.status();
  if (earlier->has_value()) {
    return Status::Corruption(DescribeEvent(logged) + ": command id " + command.id.ToHex() + " is logged twice");
  }
  if (command.kind == CommandKind::kExpire) {
    if (logged.code != ResultCode::kOk || logged.moved < 0 || logged.moved > command.limit ||
        logged.balance_after != 0 || logged.previous_sequence != 0) {
      return Status::Corruption(DescribeEvent(logged) + ": an expire sweep with an impossible outcome");
    }
    sweep = {command.chain, command.id, static_cast<std::uint64_t>(logged.moved)};
    ids.Insert(fingerprint, logged.sequence);
    if (event_observer) event_observer(logged);
    return Status::Ok();
  }
  internal::Event derived;
  derived.sequence = logged.sequence;
  derived.timestamp_us = logged.timestamp_us;
  derived.command = command;
  Status decided = Decide(&derived, nullptr, member_hint);
  if (!decided.ok()) return decided;
  if (!(derived == logged)) return Status::Corruption(DescribeEvent(logged) + ": " + Difference(logged, derived));
  ids.Insert(fingerprint, logged.sequence);  // after the rules, as when it was applied
  if (event_observer) event_observer(logged);
  return Status::Ok();
}

std::uint64_t Ledger::Impl::NextTimestamp() {
  return std::max(options.clock_us(), last_timestamp_us);
}

Result<std::vector<CommandResult>> Ledger::Apply(std::span<const Command> batch) {
  Result<std::vector<std::vector<CommandResult>>> results = ApplyBatches({&batch, 1});
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

Result<std::vector<std::vector<CommandResult>>> Ledger::ApplyBatches(
    std::span<const std::span<const Command>> batches) {
  Result<Impl::Applied> applied = impl_->ApplyInMemory(batches, SmallWrites::kHereWhenIdle);
  if (!applied.ok()) return applied.status();
  const Status durable = impl_->log->WaitDurable(applied->durable_at);
  if (!durable.ok()) return durable;
  return std::move(applied->results);
}

void Ledger::ApplyBatches(std::span<const std::span<const Command>> batches, ApplyDone done,
                          SmallWrites small_writes) {
  Result<Impl::Applied> applied = impl_->ApplyInMemory(batches, small_writes);
  if (!applied.ok()) {
    done(applied.status());
    return;
  }
  const std::uint64_t durable_at = applied->durable_at;
  impl_->log->WhenDurable(durable_at, [results = std::move(applied->results), done = std::move(done)](
                                          const Status& status) mutable {
    if (status.ok()) {
      done(std::move(results));
    } else {
      done(status);
    }
  });
}

void Ledger::WriteHeld(bool here, const std::function<void()>& then) {
  if (!impl_->write_held.exchange(false, std::memory_order_acq_rel)) return;
  if (here) {
    impl_->log->WriteHere(then);
  } else {
    impl_->log->HandOff();
  }
}

void Ledger::WhenDurable(std::function<void(const Status&)> done) const {
  std::uint64_t applied = 0;
  {
    std::shared_lock state_lock(impl_->state_mutex);
    applied = impl_->last_sequence;
  }
  impl_->log->WhenDurable(applied, std::move(done));
}

Status Ledger::Resume() {
  if (!impl_->log->stopped()) {
    std::shared_lock state_lock(impl_->state_mutex);
    return impl_->failure;
  }
  std::unique_lock state_lock(impl_->state_mutex);
  if (!impl_->failure.ok()) return impl_->failure;
  return impl_->log->Resume();
}

Status Ledger::Impl::Refusal() const {
  if (!failure.ok()) return failure;
  return log->stopped() ? log->failure() : Status::Ok();
}

// Group commit, as in LevelDB's write path: callers queue their batches; the
// caller whose batch is at the front leads: it takes whole batches from the
// queue up to kGroupCommandsMax, applies them, hands their blocks to the log
// writer, and lets the next caller lead while the write and its fsync run.
// A caller with several batches queues them together and waits on the first
// of them not yet applied, which is the one that reaches the front next.
Result<Ledger::Impl::Applied> Ledger::Impl::ApplyInMemory(std::span<const std::span<const Command>> batches,
                                                          SmallWrites small_writes) {
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
    self.ready.wait(queue_lock, [&] { return self.applied || writers.front() == &self; });
    if (!self.applied) LeadGroup(queue_lock, small_writes);
    while (next < mine.size() && mine[next].applied) ++next;
  }
  Applied applied;
  applied.results.reserve(mine.size());
  for (GroupWriter& writer : mine) {
    if (!writer.status.ok()) return writer.status;
    applied.results.push_back(std::move(writer.results));
    applied.durable_at = std::max(applied.durable_at, writer.durable_at);
  }
  return applied;
}

// REQUIRES: queue_lock held, and the caller's writer is at the front.
void Ledger::Impl::LeadGroup(std::unique_lock<std::mutex>& queue_lock, SmallWrites small_writes) {
  std::vector<GroupWriter*> group;
  std::size_t commands = 0;
  for (GroupWriter* writer : writers) {
    if (!group.empty() && commands + writer->batch.size() > kGroupCommandsMax) break;
    group.push_back(writer);
    commands += writer->batch.size();
  }
  // Nobody queued behind, who would wait for this thread's write to lead.
  const bool may_write_here = small_writes != SmallWrites::kLogWriter && group.size() == writers.size();
  queue_lock.unlock();
  bool write_here = false;
  const Status status = ApplyGroup(group, may_write_here, &write_here);
  // The group is in memory; the next caller waits for its write only
  // behind this one, as it would behind the log writer's.
  if (write_here) {
    if (small_writes == SmallWrites::kHoldWhenIdle) {
      write_held.store(true, std::memory_order_release);  // for WriteHeld()
    } else {
      log->WriteHere();
    }
  }
  queue_lock.lock();
  for (GroupWriter* writer : group) {
    TALLY_ASSERT(writers.front() == writer);
    writers.pop_front();
    writer->status = status;
    writer->applied = true;
    writer->ready.notify_one();
  }
  if (!writers.empty()) writers.front()->ready.notify_one();
}

Status Ledger::Impl::ApplyGroup(std::span<GroupWriter* const> group, bool may_write_here, bool* write_here) {
  std::unique_lock state_lock(state_mutex);
  if (!failure.ok()) return failure;
  if (log->stopped()) {
    const Status resumed = log->Resume();
    if (!resumed.ok()) return resumed;
  }
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
    member_hints.assign(batch.size(), nullptr);
    for (std::size_t index = 0; index < batch.size(); ++index) {
      PrefetchAhead(index, batch.size(), [&](std::size_t at) -> const Command& { return batch[at]; });
      Result<CommandResult> result = ApplyOne(batch[index], fingerprints[index], timestamp_us, member_hints[index]);
      if (!result.ok()) {
        // The in-memory state may hold part of this group: stop for good.
        failure = Status::FailedPrecondition("ledger stopped after an error; reopen it: " + result.status().ToString());
        return result.status();
      }
      writer->results.push_back(*result);
    }
  }
  if (!pending.empty()) {
    // Blocks of at most kBlockEventsMax events, each naming the chain hash
    // of the one before.
    std::vector<internal::EncodedBlock> blocks;
    blocks.reserve((pending.size() + kBlockEventsMax - 1) / kBlockEventsMax);
    internal::BlockBuilder builder;
    auto seal = [&] {
      const std::string_view bytes = builder.Finish();
      head = internal::HashOfBlock(bytes);
      blocks.push_back({builder.first_sequence(), std::string(bytes), builder.event_offsets()});
    };
    builder.Reset(pending.front().sequence, timestamp_us, head);
    for (const internal::Event& event : pending) {
      if (builder.TryAdd(event)) continue;
      seal();
      builder.Reset(event.sequence, timestamp_us, head);
      const bool added = builder.TryAdd(event);
      TALLY_ASSERT(added);
    }
    seal();
    internal::BlockWrite write = log->TakeEmptyWrite();
    for (const internal::EncodedBlock& block : blocks) {
      const Status added = store->AddToWrite(block, &write);
      if (!added.ok()) {
        failure = Status::FailedPrecondition("ledger stopped after an error; reopen it: " + added.ToString());
        return added;
      }
    }
    last_sequence = pending.back().sequence;
    last_timestamp_us = timestamp_us;
    const bool small = may_write_here && pending.size() <= kWriteHereEventsMax;
    pending.clear();
    // Readable at once by the next group (a reverse of this group's earn);
    // the tail keeps every block that is not yet durable.
    tail.Append(std::move(blocks), log->durable_sequence());
    *write_here = log->Enqueue(std::move(write), last_sequence, head, small);
  }
  // A group of retries alone is answered from events that may still be
  // being written: it too waits for them.
  for (GroupWriter* writer : group) writer->durable_at = last_sequence;
  return Status::Ok();
}

}  // namespace tally

#include "engine_worker.h"

#include <algorithm>

#include "tally/limits.h"

namespace tally::server {

Reply ErrorReply(wire::ErrorCode code, std::string message) {
  return Reply{wire::Operation::kError, wire::EncodeErrorResponse({code, std::move(message)})};
}

namespace {

Reply StatusError(const Status& status) {
  const wire::ErrorCode code = status.code() == Status::Code::kInvalidArgument ? wire::ErrorCode::kInvalidArgument
                                                                               : wire::ErrorCode::kUnavailable;
  return ErrorReply(code, status.message());
}

// How much a request adds to a round the I/O thread may run: its commands
// or members, one for a query of one member or the status; more than a
// round may hold for the rest (histories, segments, tokens, backups: the
// worker runs those, and the I/O thread keeps serving meanwhile).
std::size_t IoRoundShare(const Request& request) {
  if (const auto* commands = std::get_if<std::vector<Command>>(&request)) return std::max<std::size_t>(commands->size(), 1);
  if (const auto* members = std::get_if<std::vector<MemberKey>>(&request)) return std::max<std::size_t>(members->size(), 1);
  const bool small = std::holds_alternative<wire::FindRequest>(request) ||
                     std::holds_alternative<wire::MemberStatusRequest>(request) ||
                     std::holds_alternative<StatusRequest>(request) || std::holds_alternative<DeniedRequest>(request);
  return small ? 1 : kWriteHereEventsMax + 1;
}

}  // namespace

EngineWorker::EngineWorker(Ledger& ledger, std::function<std::uint64_t()> connections, PostToIoThread post_to_io_thread,
                           std::function<void()> send_held_replies)
    : ledger_(ledger),
      connections_(std::move(connections)),
      post_to_io_thread_(std::move(post_to_io_thread)),
      send_held_replies_(std::move(send_held_replies)),
      thread_([this] { Run(); }) {}

EngineWorker::~EngineWorker() { Stop(); }

void EngineWorker::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(held_mutex_);
  held_done_.wait(lock, [&] { return held_ == 0; });
}

EngineWorker::Rounds EngineWorker::rounds() const {
  std::lock_guard lock(mutex_);
  return rounds_;
}

void EngineWorker::Started() {
  std::lock_guard lock(held_mutex_);
  ++held_;
}

void EngineWorker::Finished() {
  std::lock_guard lock(held_mutex_);
  if (--held_ == 0) held_done_.notify_all();
}

void EngineWorker::Submit(Request request, Completion completion) {
  bool post = false;
  bool wake_worker = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      completion(ErrorReply(wire::ErrorCode::kUnavailable, "the server is shutting down"));
      return;
    }
    const std::size_t share = IoRoundShare(request);
    const bool engine_idle = !running_ && queue_.empty();
    queue_.push_back(Job{std::move(request), std::move(completion)});
    if (io_round_posted_ && io_round_share_ + share <= kWriteHereEventsMax) {
      io_round_share_ += share;  // joins the round the I/O thread runs next
    } else if (io_round_posted_) {
      // The round is no longer small: the worker takes it (and the posted
      // call finds nothing to do).
      io_round_posted_ = false;
      wake_worker = true;
    } else if (post_to_io_thread_ && engine_idle && share <= kWriteHereEventsMax) {
      io_round_posted_ = true;
      io_round_share_ = share;
      post = true;
    } else {
      wake_worker = true;
    }
    if (wake_worker) pending_hint_.store(true, std::memory_order_release);
  }
  if (post) post_to_io_thread_([this] { RunOnIoThread(/*second_pass=*/false); });
  if (wake_worker) wake_.notify_one();
}

void EngineWorker::TakeJobs(std::vector<Job>& jobs) {
  while (!queue_.empty() && jobs.size() < kWorkerJobsPerRoundMax) {
    jobs.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  pending_hint_.store(!queue_.empty(), std::memory_order_release);
  running_ = true;
}

void EngineWorker::Run() {
  std::vector<Job> jobs;
  while (true) {
    SpinBriefly();
    {
      std::unique_lock lock(mutex_);
      // A round posted to the I/O thread is its own, unless the server
      // stops (then the I/O thread may never run it).
      wake_.wait(lock, [&] { return !running_ && (stopping_ || (!queue_.empty() && !io_round_posted_)); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      TakeJobs(jobs);
      ++rounds_.worker;
    }
    RunRound(jobs, /*on_io_thread=*/false);
    std::lock_guard lock(mutex_);
    running_ = false;
  }
}

void EngineWorker::RunOnIoThread(bool second_pass) {
  // Requests that arrive while the round waits in the I/O thread's queue
  // are read by handlers that the reactor queues behind it. Going behind
  // them once before running lets them join this round and its fsync, as
  // a single-threaded server reads whatever is ready before it writes;
  // without it, callers whose answers came in the last round were left
  // for the next fsync, and a closed loop of 8 callers settled into two
  // halves taking turns (docs/performance-log.md, "Reading what has arrived
  // before the fsync").
  if (!second_pass) {
    post_to_io_thread_([this] { RunOnIoThread(/*second_pass=*/true); });
    return;
  }
  std::vector<Job> jobs;
  {
    std::lock_guard lock(mutex_);
    if (!io_round_posted_) return;  // handed to the worker meanwhile
    io_round_posted_ = false;
    if (running_ || queue_.empty()) return;  // the worker took it, stopping
    TakeJobs(jobs);
    ++rounds_.io_thread;
  }
  RunRound(jobs, /*on_io_thread=*/true);
  bool more = false;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    more = !queue_.empty() || stopping_;  // submitted meanwhile from another thread
  }
  if (more) wake_.notify_one();
}

void EngineWorker::RunRound(std::vector<Job>& jobs, bool on_io_thread) {
  // A small round's groups are written together at its end, with one fsync
  // (Ledger::SmallWrites::kHoldWhenIdle): runs of commands with queries
  // between them no longer cost an fsync each.
  std::size_t commands = 0;
  for (const Job& job : jobs) {
    if (const auto* batch = std::get_if<std::vector<Command>>(&job.request)) commands += batch->size();
  }
  const bool small = commands <= kWriteHereEventsMax;
  // In arrival order: runs of apply requests go to the ledger together.
  for (std::size_t begin = 0; begin < jobs.size();) {
    if (!std::holds_alternative<std::vector<Command>>(jobs[begin].request)) {
      // Those that do not read members' data may wait for the disk
      // (a backup) or write to it (tokens): the held groups go first.
      if (!ReadsMembers(jobs[begin].request)) WriteHeld(on_io_thread);
      AnswerQuery(jobs[begin]);
      ++begin;
      continue;
    }
    std::size_t end = begin;
    while (end < jobs.size() && std::holds_alternative<std::vector<Command>>(jobs[end].request)) ++end;
    ApplyRun(jobs, begin, end, small);
    begin = end;
  }
  jobs.clear();
  // With requests waiting for the next round, the log writer writes these
  // while it is applied.
  WriteHeld(on_io_thread, /*here=*/!pending_hint_.load(std::memory_order_acquire));
}

void EngineWorker::WriteHeld(bool on_io_thread, bool here) {
  // Replies given so far (queries answered at once) do not wait for this
  // write to be sent.
  if (on_io_thread && send_held_replies_) send_held_replies_();
  // Those the write gives are sent the moment it is durable, while RocksDB
  // finishes it.
  ledger_.WriteHeld(here, on_io_thread ? send_held_replies_ : nullptr);
}

// Waking a sleeping thread costs tens of microseconds on a virtual machine,
// several times per request; right after a round, the next request is often
// close behind, so look for it for a short while before sleeping.
void EngineWorker::SpinBriefly() {
  const auto until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  while (std::chrono::steady_clock::now() < until) {
    if (pending_hint_.load(std::memory_order_acquire)) return;
    std::this_thread::yield();
  }
}

void EngineWorker::ApplyRun(std::vector<Job>& jobs, std::size_t begin, std::size_t end, bool small_round) {
  std::vector<std::span<const Command>> batches;
  batches.reserve(end - begin);
  std::vector<Completion> completions;
  completions.reserve(end - begin);
  for (std::size_t index = begin; index < end; ++index) {
    batches.emplace_back(std::get<std::vector<Command>>(jobs[index].request));
    completions.push_back(std::move(jobs[index].completion));
  }
  Started();
  // Returns once the batches are applied in memory: the next run or query
  // sees them, and the results are given when they are durable. A small
  // round's group is held for the round's end (RunRound). In a larger
  // round, with no other apply request waiting, a small group is written
  // here (Ledger::SmallWrites); queries behind it gain nothing from the log
  // writer: they are answered only once what they saw is durable.
  Ledger::SmallWrites small_writes = Ledger::SmallWrites::kHoldWhenIdle;
  if (!small_round) {
    const bool more_applies =
        std::any_of(jobs.begin() + static_cast<std::ptrdiff_t>(end), jobs.end(),
                    [](const Job& job) { return std::holds_alternative<std::vector<Command>>(job.request); });
    const bool waiting = more_applies || pending_hint_.load(std::memory_order_acquire);
    small_writes = waiting ? Ledger::SmallWrites::kLogWriter : Ledger::SmallWrites::kHereWhenIdle;
  }
  ledger_.ApplyBatches(batches, [this, completions = std::move(completions)](
                                    Result<std::vector<std::vector<CommandResult>>> results) mutable {
    for (std::size_t index = 0; index < completions.size(); ++index) {
      if (!results.ok()) {
        completions[index](StatusError(results.status()));
      } else {
        completions[index](Reply{wire::Operation::kApply, wire::EncodeApplyResponse((*results)[index])});
      }
    }
    // The completions hold their sessions: they go before Finished() lets
    // Stop() return and the server's io_context go (the log writer's
    // thread destroys this callback later; a session's last reference
    // dropped there touched a timer service already destroyed).
    completions.clear();
    Finished();
  }, small_writes);
}

bool EngineWorker::ReadsMembers(const Request& request) {
  return std::holds_alternative<std::vector<MemberKey>>(request) ||
         std::holds_alternative<wire::HistoryRequest>(request) ||
         std::holds_alternative<wire::FindRequest>(request) ||
         std::holds_alternative<wire::MemberStatusRequest>(request) ||
         std::holds_alternative<wire::SegmentRequest>(request);
}

void EngineWorker::AnswerQuery(Job& job) {
  Reply reply = Query(job.request);
  // Status, tokens, backups and refusals say nothing of commands still
  // being written (a backup waits for them itself).
  if (!ReadsMembers(job.request) || reply.operation == wire::Operation::kError) {
    job.completion(std::move(reply));
    return;
  }
  Started();
  // The answer may have read commands whose group is still being written.
  ledger_.WhenDurable([this, reply = std::move(reply), completion = std::move(job.completion)](const Status& durable) mutable {
    completion(durable.ok() ? std::move(reply) : StatusError(durable));
    completion = nullptr;  // before Finished(), as above
    Finished();
  });
}

Reply EngineWorker::Query(const Request& request) {
  // After a failed write, commands retry it; so do queries, or a ledger
  // that only answers queries would stay stopped.
  (void)ledger_.Resume();  // cheap unless stopped; a failure shows in the answer below
  if (const auto* members = std::get_if<std::vector<MemberKey>>(&request)) {
    auto balances = ledger_.GetBalances(*members);
    if (!balances.ok()) return StatusError(balances.status());
    return Reply{wire::Operation::kBalance, wire::EncodeBalanceResponse(*balances)};
  }
  if (const auto* history = std::get_if<wire::HistoryRequest>(&request)) {
    auto page = ledger_.History(history->member, history->cursor, history->limit);
    if (!page.ok()) return StatusError(page.status());
    return Reply{wire::Operation::kHistory, wire::EncodeHistoryResponse(*page)};
  }
  if (const auto* find = std::get_if<wire::FindRequest>(&request)) {
    auto found = ledger_.Find(find->chain, find->id);
    if (!found.ok()) return StatusError(found.status());
    return Reply{wire::Operation::kFind, wire::EncodeFindResponse(*found)};
  }
  if (const auto* member = std::get_if<wire::MemberStatusRequest>(&request)) {
    auto status = ledger_.GetMemberStatus(member->member, member->expiring_before_us);
    if (!status.ok()) return StatusError(status.status());
    return Reply{wire::Operation::kMemberStatus, wire::EncodeMemberStatusResponse(*status)};
  }
  if (const auto* segment = std::get_if<wire::SegmentRequest>(&request)) {
    auto page = ledger_.FindMembers(segment->query, segment->cursor, segment->limit);
    if (!page.ok()) return StatusError(page.status());
    return Reply{wire::Operation::kSegment, wire::EncodeSegmentResponse(*page)};
  }
  if (const auto* denied = std::get_if<DeniedRequest>(&request)) {
    return Reply{wire::Operation::kError, wire::EncodeErrorResponse({wire::ErrorCode::kUnauthorized, denied->reason})};
  }
  if (const auto* create = std::get_if<wire::TokenCreateRequest>(&request)) {
    auto secret = ledger_.CreateToken(create->name, create->role, create->chain);
    if (!secret.ok()) return StatusError(secret.status());
    return Reply{wire::Operation::kTokenCreate, wire::EncodeTokenCreateResponse(*secret)};
  }
  if (const auto* list = std::get_if<TokenListRequest>(&request)) {
    auto tokens = ledger_.ListTokens();
    if (!tokens.ok()) return StatusError(tokens.status());
    // An admin of one chain sees that chain's tokens.
    std::erase_if(*tokens, [&](const TokenInfo& token) { return list->by && !MayManageTokens(*list->by, token.chain); });
    return Reply{wire::Operation::kTokenList, wire::EncodeTokenListResponse(*tokens)};
  }
  if (const auto* revoke = std::get_if<TokenRevokeRequest>(&request)) {
    if (revoke->by) {
      auto tokens = ledger_.ListTokens();
      if (!tokens.ok()) return StatusError(tokens.status());
      const auto target = std::find_if(tokens->begin(), tokens->end(),
                                       [&](const TokenInfo& token) { return token.name == revoke->name; });
      if (target != tokens->end() && !MayManageTokens(*revoke->by, target->chain)) {
        return ErrorReply(wire::ErrorCode::kUnauthorized, "token " + revoke->by->name + " may not revoke " +
                                                              revoke->name + ", a token of another chain");
      }
    }
    const Status revoked = ledger_.RevokeToken(revoke->name);
    if (revoked.code() == Status::Code::kNotFound) return ErrorReply(wire::ErrorCode::kInvalidArgument, revoked.message());
    if (!revoked.ok()) return StatusError(revoked);
    return Reply{wire::Operation::kTokenRevoke, std::string()};
  }
  if (const auto* backup = std::get_if<BackupRequest>(&request)) {
    auto head = ledger_.Backup(backup->directory);
    if (!head.ok()) return StatusError(head.status());
    return Reply{wire::Operation::kBackup, wire::EncodeBackupResponse(head->sequence, head->hash)};
  }
  const LedgerStats stats = ledger_.Stats();
  wire::StatusResponse status;
  status.last_sequence = stats.last_sequence;
  status.last_timestamp_us = stats.last_timestamp_us;
  status.uptime_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_).count());
  status.members = stats.members;
  status.connections = connections_();
  status.chain_head = stats.chain_head;
  status.stopped = stats.stopped;
  return Reply{wire::Operation::kStatus, wire::EncodeStatusResponse(status)};
}

}  // namespace tally::server

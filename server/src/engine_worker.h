// EngineWorker: runs the ledger's calls for tallyd. Sessions submit decoded
// requests; a round takes everything queued, applies consecutive apply
// requests together through Ledger::ApplyBatches (one group commit for many
// connections' batches), answers queries in arrival order between them, and
// hands each encoded response to the request's completion once what it
// depends on is durable.
//
// Rounds run one at a time, on one of two threads. Under load, on the
// worker's own thread: the I/O thread reads and decodes the next requests
// while the worker applies, and neither waits on the disk (the ledger's log
// writer does, and completes the replies). At light load — a small request
// that finds the engine idle — on the I/O thread itself, posted behind the
// requests it has already read: the round and the write of its small group
// run there, and the request is read, applied, made durable and answered
// without waking any other thread (as a single-threaded server would).
//
// Thread safety: Submit() from any thread; completions run on the thread
// of the round, or the ledger's log writer thread, and must only post
// elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "tally/ledger.h"
#include "tally/protocol.h"

namespace tally::server {

struct StatusRequest {};
struct BackupRequest {
  std::string directory;
};
// A request the connection's token does not allow: answered `unauthorized`
// in its turn (after the requests before it, not held for their write).
struct DeniedRequest {
  std::string reason;
};
// Token management; `by` is the connection's token (nullopt: a server
// without tokens), checked against the tokens it lists or revokes.
struct TokenListRequest {
  std::optional<TokenInfo> by;
};
struct TokenRevokeRequest {
  std::string name;
  std::optional<TokenInfo> by;
};
using Request = std::variant<std::vector<Command>, std::vector<MemberKey>, wire::HistoryRequest, wire::FindRequest,
                             StatusRequest, wire::MemberStatusRequest, wire::SegmentRequest, BackupRequest,
                             DeniedRequest, wire::TokenCreateRequest, TokenListRequest, TokenRevokeRequest>;

struct Reply {
  wire::Operation operation = wire::Operation::kError;  // the response's operation, or kError
  std::string body;
};

class EngineWorker {
 public:
  using Completion = std::function<void(Reply)>;

  // Runs a function on the I/O thread, after what is already queued there.
  using PostToIoThread = std::function<void(std::function<void()>)>;

  // `connections` is read for status responses. For the worker never to
  // wait for an fsync, `ledger` is opened with queries_answer_early (else
  // each query waits for the group commit before it). Without
  // `post_to_io_thread` every round runs on the worker's thread; with it,
  // Submit() must be called on that I/O thread.
  // `send_held_replies` is called in a round the I/O thread runs before
  // the round writes to the disk, and again the moment that write is
  // durable: replies its caller holds until the round ends (one send per
  // connection) go out before the fsync, and as it returns, instead.
  EngineWorker(Ledger& ledger, std::function<std::uint64_t()> connections,
               PostToIoThread post_to_io_thread = nullptr, std::function<void()> send_held_replies = nullptr);
  ~EngineWorker();  // stops after the queue is drained and every reply is given

  void Submit(Request request, Completion completion);
  void Stop();

  // Rounds run so far on each thread (for tests and status).
  struct Rounds {
    std::uint64_t worker = 0;
    std::uint64_t io_thread = 0;
  };
  Rounds rounds() const;

 private:
  struct Job {
    Request request;
    Completion completion;
  };

  void Run();
  // Posted for a small round; runs it on its second pass (see the .cc).
  void RunOnIoThread(bool second_pass);
  // Takes the queue's first jobs (with mutex_ held).
  void TakeJobs(std::vector<Job>& jobs);
  void RunRound(std::vector<Job>& jobs, bool on_io_thread);
  void WriteHeld(bool on_io_thread, bool here = true);
  void SpinBriefly();
  // `small_round`: the round's commands are at most kWriteHereEventsMax;
  // its groups are held for its end.
  void ApplyRun(std::vector<Job>& jobs, std::size_t begin, std::size_t end, bool small_round);
  // Whether the request reads members' data (and so its answer waits for
  // what it saw to be durable).
  static bool ReadsMembers(const Request& request);
  // Answers the query now and completes it once what it saw is durable.
  void AnswerQuery(Job& job);
  Reply Query(const Request& request);
  void Started();   // a reply is held for the log writer
  void Finished();  // and given

  Ledger& ledger_;
  std::function<std::uint64_t()> connections_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  const PostToIoThread post_to_io_thread_;
  const std::function<void()> send_held_replies_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool running_ = false;          // a round is running, on either thread
  bool io_round_posted_ = false;  // the queue is the I/O thread's next round
  std::size_t io_round_share_ = 0;  // its requests' IoRoundShare
  Rounds rounds_;
  std::atomic<bool> pending_hint_{false};  // the queue may have work for the worker
  std::mutex held_mutex_;
  std::condition_variable held_done_;
  std::uint64_t held_ = 0;                 // replies waiting for the log writer
  static constexpr std::chrono::microseconds kSpinBeforeSleep{200};
  std::thread thread_;
};

Reply ErrorReply(wire::ErrorCode code, std::string message);

}  // namespace tally::server

// EngineWorker: the one thread that calls the ledger. Sessions submit decoded
// requests; the worker takes everything queued, applies consecutive apply
// requests together through Ledger::ApplyBatches (one group commit for many
// connections' batches), answers queries in arrival order between them, and
// hands each encoded response to the request's completion. The I/O thread
// never waits on the disk.
//
// Thread safety: Submit() from any thread; completions run on the worker
// thread and must only post elsewhere.
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
// in its turn, so that responses keep request order.
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

  // `connections` is read for status responses.
  EngineWorker(Ledger& ledger, std::function<std::uint64_t()> connections);
  ~EngineWorker();  // stops after the queue is drained

  void Submit(Request request, Completion completion);
  void Stop();

 private:
  struct Job {
    Request request;
    Completion completion;
  };

  void Run();
  void SpinBriefly();
  void ApplyRun(std::vector<Job>& jobs, std::size_t begin, std::size_t end);
  Reply Query(const Request& request);

  Ledger& ledger_;
  std::function<std::uint64_t()> connections_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<bool> pending_hint_{false};  // the queue may be non-empty
  bool stopped_ = false;                   // the last apply failed to write (worker thread only)
  static constexpr std::chrono::microseconds kSpinBeforeSleep{200};
  std::thread thread_;
};

Reply ErrorReply(wire::ErrorCode code, std::string message);

}  // namespace tally::server

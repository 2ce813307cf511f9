// The client: callers queue calls; one I/O thread owns the connection, packs
// queued commands into apply requests, pipelines requests, matches responses
// by request id, enforces every call's deadline, and on a lost connection
// reconnects and resends what was not answered.
#include "tally/client.h"

#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "tally/internal/asio.h"
#include "tally/internal/stream.h"
#include "tally/protocol.h"

namespace tally {
namespace {

using Clock = std::chrono::steady_clock;
using wire::Operation;

constexpr auto kNever = asio::steady_timer::time_point::max();
constexpr std::chrono::milliseconds kReconnectDelayMin{5};
constexpr std::chrono::milliseconds kReconnectDelayMax{500};
constexpr std::chrono::milliseconds kDeadlineCheckIntervalMax{20};

struct CallReply {
  std::vector<CommandResult> results;  // apply
  std::vector<Balance> balances;       // balance
  std::string body;                    // other queries
};

// One caller's request. Finished exactly once: by its answer, an error, or
// its deadline, whichever comes first; later answers are ignored.
struct Call {
  Operation operation = Operation::kApply;
  std::vector<Command> commands;   // apply
  std::size_t bytes = 0;           // apply: the commands' request body alone
  std::vector<MemberKey> members;  // balance
  std::string body;                // other queries: the encoded request body
  Clock::time_point deadline;
  bool finished = false;          // I/O thread only
  std::promise<Result<CallReply>> promise;

  void Finish(Result<CallReply> result) {
    if (finished) return;
    finished = true;
    promise.set_value(std::move(result));
  }
};
using CallPtr = std::shared_ptr<Call>;

struct InFlight {
  Operation operation;
  std::vector<CallPtr> calls;
};

Status ErrorStatus(const wire::ErrorResponse& error) {
  const std::string message = "server: " + std::string(wire::ErrorCodeName(error.code)) + ": " + error.message;
  if (error.code == wire::ErrorCode::kUnavailable) return Status::Unavailable(message);
  if (error.code == wire::ErrorCode::kUnauthorized) return Status::PermissionDenied(message);
  return Status::InvalidArgument(message);
}

Status Expired() {
  return Status::DeadlineExceeded("no answer before the deadline; the outcome is unknown: retry with the same id");
}

}  // namespace

class Client::Core {
 public:
  explicit Core(ClientOptions options) : options_(std::move(options)), wake_(io_, kNever) {}

  ~Core() {
    asio::post(io_, [this] {
      stopping_ = true;
      Disconnect();
    });
    if (thread_.joinable()) thread_.join();
  }

  // Starts the I/O thread and waits for the first connection.
  Status Start() {
    if (options_.tls) {
      auto tls = internal::ClientTlsContext(options_.tls_ca_file);
      if (!tls.ok()) return tls.status();
      tls_ = std::move(*tls);
    }
    std::future<Status> connected = first_connect_.get_future();
    asio::co_spawn(io_, [this] { return Run(); }, asio::detached);
    asio::co_spawn(io_, [this] { return ExpiryLoop(); }, asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    return connected.get();
  }

  std::future<Result<CallReply>> Enqueue(CallPtr call) {
    call->deadline = Clock::now() + options_.call_timeout;
    std::future<Result<CallReply>> future = call->promise.get_future();
    {
      std::lock_guard lock(mutex_);
      incoming_.push_back(std::move(call));
    }
    asio::post(io_, [this] { wake_.cancel(); });
    return future;
  }

 private:
  asio::awaitable<void> Run() {
    auto delay = kReconnectDelayMin;
    bool first = true;
    while (!stopping_) {
      const Status status = co_await ConnectAndHello();
      if (first) {
        first_connect_.set_value(status);
        first = false;
        if (!status.ok()) break;
      }
      if (!status.ok()) {
        asio::steady_timer backoff(io_, delay);
        error_code ignored;
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        delay = std::min(delay * 2, kReconnectDelayMax);
        continue;
      }
      delay = kReconnectDelayMin;
      connected_ = true;
      const std::uint64_t generation = ++generation_;
      std::shared_ptr<internal::Stream> stream = stream_;  // the loops keep it alive
      asio::co_spawn(io_, [this, generation, stream] { return ReadLoop(generation, stream); }, asio::detached);
      co_await WriteLoop(*stream);
      // The connection is gone: what was in flight goes first on the next one,
      // with the same command ids.
      for (auto entry = in_flight_.rbegin(); entry != in_flight_.rend(); ++entry) {
        for (auto call = entry->second.calls.rbegin(); call != entry->second.calls.rend(); ++call) {
          if (!(*call)->finished) pending_.push_front(*call);
        }
      }
      in_flight_.clear();
    }
    stopping_ = true;
    FailEverything(Status::Unavailable("the client is closed"));
    error_code ignored;
    expiry_timer_.cancel(ignored);
  }

  // Finishes every call whose deadline passed, sent or not.
  asio::awaitable<void> ExpiryLoop() {
    const auto interval = std::min(kDeadlineCheckIntervalMax, options_.call_timeout);
    while (!stopping_) {
      expiry_timer_.expires_after(interval);
      error_code ignored;
      co_await expiry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      TakeIncoming();
      const auto now = Clock::now();
      std::erase_if(pending_, [&](const CallPtr& call) {
        if (call->deadline > now) return false;
        call->Finish(Expired());
        return true;
      });
      for (auto& [id, request] : in_flight_) {
        for (const CallPtr& call : request.calls) {
          if (call->deadline <= now) call->Finish(Expired());
        }
      }
    }
  }

  asio::awaitable<Status> ConnectAndHello() {
    error_code error;
    const asio::ip::address address = asio::ip::make_address(options_.host, error);
    if (error) co_return Status::InvalidArgument("'" + options_.host + "' is not an IP address");
    auto stream = std::make_shared<internal::Stream>(
        asio::ip::tcp::socket(io_), tls_.get(),
        options_.tls_server_name.empty() ? options_.host : options_.tls_server_name);
    stream_ = stream;
    asio::steady_timer deadline(io_, options_.connect_timeout);
    deadline.async_wait([stream](const error_code& cancelled) {
      if (!cancelled) stream->Close();
    });
    co_await stream->socket().async_connect({address, options_.port}, asio::redirect_error(asio::use_awaitable, error));
    if (error) {
      deadline.cancel();
      co_return Status::Unavailable("cannot connect to " + options_.host + ":" + std::to_string(options_.port) +
                                    ": " + error.message());
    }
    error = co_await stream->Handshake(false);
    if (error) {
      deadline.cancel();
      co_return Status::Unavailable("TLS with " + options_.host + ":" + std::to_string(options_.port) +
                                    " failed: " + internal::DescribeError(error));
    }
    stream->socket().set_option(asio::ip::tcp::no_delay(true), error);
    std::string frame;
    wire::AppendFrame(Operation::kHello, 0, 0,
                      wire::EncodeHelloRequest({wire::kProtocolVersion, options_.client_name, options_.credentials}),
                      &frame);
    const std::vector<asio::const_buffer> hello_buffers{asio::buffer(frame)};
    error = co_await stream->Write(hello_buffers);
    wire::Header header;
    std::string body;
    // Not a conditional expression: g++ 12 miscompiles co_await inside one.
    Status status = Status::Unavailable("hello: " + error.message());
    if (!error) status = co_await ReadFrame(*stream, &header, &body);
    deadline.cancel();
    if (!status.ok()) co_return status;
    if (header.operation == Operation::kError) {
      wire::ErrorResponse refusal;
      if (!wire::DecodeErrorResponse(body, &refusal).ok()) co_return Status::Unavailable("malformed hello refusal");
      const std::string message =
          "server refused hello: " + std::string(wire::ErrorCodeName(refusal.code)) + ": " + refusal.message;
      if (refusal.code == wire::ErrorCode::kUnauthorized) co_return Status::PermissionDenied(message);
      co_return Status::Unavailable(message);
    }
    wire::HelloResponse hello;
    if (header.operation != Operation::kHello || !wire::DecodeHelloResponse(body, &hello).ok() ||
        hello.version != wire::kProtocolVersion) {
      co_return Status::Unavailable("the server did not answer hello with protocol version " +
                                    std::to_string(wire::kProtocolVersion));
    }
    co_return Status::Ok();
  }

  asio::awaitable<Status> ReadFrame(internal::Stream& stream, wire::Header* header, std::string* body) {
    std::string header_bytes(wire::kHeaderBytes, '\0');
    error_code error = co_await stream.Read(asio::buffer(header_bytes));
    if (error) co_return Status::Unavailable("connection lost: " + error.message());
    if (Status status = wire::DecodeHeader(header_bytes, header); !status.ok()) co_return status;
    if (header->version != wire::kProtocolVersion || (header->flags & wire::kResponse) == 0) {
      co_return Status::Unavailable("the server sent a frame that is not a version " +
                                    std::to_string(wire::kProtocolVersion) + " response");
    }
    body->resize(header->body_bytes);
    error = co_await stream.Read(asio::buffer(*body));
    if (error) co_return Status::Unavailable("connection lost: " + error.message());
    co_return wire::CheckBody(*header, *body);
  }

  asio::awaitable<void> ReadLoop(std::uint64_t generation, std::shared_ptr<internal::Stream> stream) {
    wire::Header header;
    std::string body;
    while (connected_ && generation == generation_) {
      const Status status = co_await ReadFrame(*stream, &header, &body);
      if (generation != generation_) co_return;  // the loop of a connection already replaced
      if (!status.ok()) break;
      auto entry = in_flight_.find(header.request_id);
      if (entry == in_flight_.end()) break;  // an answer to nothing: the stream is not trustworthy
      InFlight answered = std::move(entry->second);
      in_flight_.erase(entry);
      if (!Complete(answered, header, body)) break;
      wake_.cancel();  // a slot is free
    }
    if (generation == generation_) Disconnect();
  }

  // Finishes the calls of one answered request; false when the answer is malformed.
  bool Complete(InFlight& answered, const wire::Header& header, const std::string& body) {
    if (header.operation == Operation::kError) {
      wire::ErrorResponse error;
      if (!wire::DecodeErrorResponse(body, &error).ok()) return false;
      for (const CallPtr& call : answered.calls) call->Finish(ErrorStatus(error));
      return true;
    }
    if (header.operation != answered.operation) return false;
    if (answered.operation == Operation::kApply) {
      std::vector<CommandResult> results;
      if (!wire::DecodeApplyResponse(body, &results).ok()) return false;
      return Distribute(answered.calls, results, &Call::commands, &CallReply::results);
    }
    if (answered.operation == Operation::kBalance) {
      std::vector<Balance> balances;
      if (!wire::DecodeBalanceResponse(body, &balances).ok()) return false;
      return Distribute(answered.calls, balances, &Call::members, &CallReply::balances);
    }
    answered.calls.front()->Finish(CallReply{{}, {}, body});
    return true;
  }

  // Hands each packed call its slice of `answers`, one per item of the call;
  // false when the counts do not add up.
  template <typename Answer, typename Item>
  static bool Distribute(const std::vector<CallPtr>& calls, const std::vector<Answer>& answers,
                         std::vector<Item> Call::*items, std::vector<Answer> CallReply::*slot) {
    std::size_t expected = 0;
    for (const CallPtr& call : calls) expected += ((*call).*items).size();
    if (answers.size() != expected) return false;
    auto next = answers.begin();
    for (const CallPtr& call : calls) {
      const auto end = next + static_cast<std::ptrdiff_t>(((*call).*items).size());
      CallReply reply;
      reply.*slot = std::vector<Answer>(next, end);
      call->Finish(std::move(reply));
      next = end;
    }
    return true;
  }

  asio::awaitable<void> WriteLoop(internal::Stream& stream) {
    while (connected_ && !stopping_) {
      TakeIncoming();
      std::erase_if(pending_, [](const CallPtr& call) { return call->finished; });
      if (pending_.empty() || in_flight_.size() >= options_.requests_in_flight_max) {
        wake_.expires_at(kNever);
        error_code ignored;
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        continue;
      }
      std::string frames;
      while (!pending_.empty() && in_flight_.size() < options_.requests_in_flight_max) PackRequest(&frames);
      error_code error;
      const std::vector<asio::const_buffer> buffers{asio::buffer(frames)};
      error = co_await stream.Write(buffers);
      if (error) break;
    }
    Disconnect();
  }

  // Moves the front of pending_ into one request: as many whole apply calls
  // as fit in batch_commands_max, as many whole balance calls as fit in
  // kBalanceMembersMax, or one other query.
  void PackRequest(std::string* frames) {
    const std::uint64_t request_id = ++next_request_id_;
    InFlight request{pending_.front()->operation, {}};
    std::string body;
    if (request.operation == Operation::kApply) {
      body = wire::EncodeApplyRequest(PackCommands(&request.calls));
    } else if (request.operation == Operation::kBalance) {
      body = wire::EncodeBalanceRequest(Pack(&Call::members, kBalanceMembersMax, &request.calls));
    } else {
      body = pending_.front()->body;
      request.calls.push_back(pending_.front());
      pending_.pop_front();
    }
    wire::AppendFrame(request.operation, 0, request_id, body, frames);
    in_flight_.emplace(request_id, std::move(request));
  }

  // Takes consecutive apply calls from pending_ while their commands fit in
  // batch_commands_max and their bytes in one frame (the first always goes:
  // ApplyAsync checked that it fits), and returns the commands.
  std::vector<Command> PackCommands(std::vector<CallPtr>* calls) {
    std::vector<Command> packed;
    std::size_t bytes = 4;
    while (!pending_.empty() && pending_.front()->operation == Operation::kApply) {
      const struct Call& call = *pending_.front();
      if (!packed.empty() && (packed.size() + call.commands.size() > options_.batch_commands_max ||
                              bytes + call.bytes - 4 > wire::kBodyBytesMax)) {
        break;
      }
      packed.insert(packed.end(), call.commands.begin(), call.commands.end());
      bytes += call.bytes - 4;
      calls->push_back(pending_.front());
      pending_.pop_front();
    }
    return packed;
  }

  // Takes consecutive calls of the front call's operation from pending_ while
  // their items fit in `limit` (the first always goes), and returns the items.
  template <typename Item>
  std::vector<Item> Pack(std::vector<Item> Call::*items, std::size_t limit, std::vector<CallPtr>* calls) {
    const Operation operation = pending_.front()->operation;
    std::vector<Item> packed;
    while (!pending_.empty() && pending_.front()->operation == operation &&
           (packed.empty() || packed.size() + ((*pending_.front()).*items).size() <= limit)) {
      const CallPtr& call = pending_.front();
      packed.insert(packed.end(), ((*call).*items).begin(), ((*call).*items).end());
      calls->push_back(call);
      pending_.pop_front();
    }
    return packed;
  }

  void TakeIncoming() {
    std::lock_guard lock(mutex_);
    while (!incoming_.empty()) {
      pending_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
  }

  void FailEverything(const Status& status) {
    TakeIncoming();
    for (const CallPtr& call : pending_) call->Finish(status);
    pending_.clear();
    for (auto& [id, request] : in_flight_) {
      for (const CallPtr& call : request.calls) call->Finish(status);
    }
    in_flight_.clear();
  }

  void Disconnect() {
    connected_ = false;
    if (stream_) stream_->Close();
    wake_.cancel();
  }

  const ClientOptions options_;
  asio::io_context io_;
  std::shared_ptr<asio::ssl::context> tls_;    // null: in the clear
  std::shared_ptr<internal::Stream> stream_;   // the current connection
  asio::steady_timer wake_;
  asio::steady_timer expiry_timer_{io_};
  std::thread thread_;
  std::promise<Status> first_connect_;

  std::mutex mutex_;
  std::deque<CallPtr> incoming_;  // guarded by mutex_

  // I/O thread only.
  std::deque<CallPtr> pending_;
  std::map<std::uint64_t, InFlight> in_flight_;
  std::uint64_t next_request_id_ = 0;
  std::uint64_t generation_ = 0;
  bool connected_ = false;
  bool stopping_ = false;

 public:
  // Queues a call and converts its reply when the caller asks for it.
  template <typename Value, typename Convert>
  std::future<Result<Value>> Call(CallPtr call, Convert convert) {
    std::future<Result<CallReply>> reply = Enqueue(std::move(call));
    return std::async(std::launch::deferred, [reply = std::move(reply), convert]() mutable -> Result<Value> {
      Result<CallReply> got = reply.get();
      if (!got.ok()) return got.status();
      return convert(*got);
    });
  }
};

namespace {

CallPtr QueryCall(Operation operation, std::string body) {
  auto call = std::make_shared<Call>();
  call->operation = operation;
  call->body = std::move(body);
  return call;
}

template <typename Value>
std::future<Result<Value>> Refused(Status status) {
  std::promise<Result<Value>> refused;
  refused.set_value(std::move(status));
  return refused.get_future();
}

}  // namespace

Client::Client(std::unique_ptr<Core> core) : core_(std::move(core)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.batch_commands_max == 0 || options.batch_commands_max > kBatchCommandsMax ||
      options.requests_in_flight_max == 0 || options.requests_in_flight_max > kRequestsInFlightPerConnectionMax ||
      options.client_name.size() > wire::kNameBytesMax || options.credentials.size() > wire::kCredentialsBytesMax ||
      options.call_timeout.count() <= 0 || options.connect_timeout.count() <= 0) {
    return Status::InvalidArgument("client options out of range");
  }
  auto core = std::make_unique<Core>(std::move(options));
  Status status = core->Start();
  if (!status.ok()) return status;
  return std::unique_ptr<Client>(new Client(std::move(core)));
}

std::future<Result<std::vector<CommandResult>>> Client::ApplyAsync(std::vector<Command> batch) {
  if (batch.empty() || batch.size() > kBatchCommandsMax) {
    return Refused<std::vector<CommandResult>>(
        Status::InvalidArgument("a batch holds 1 to " + std::to_string(kBatchCommandsMax) + " commands"));
  }
  const std::size_t bytes = wire::ApplyRequestBytes(batch);
  if (bytes > wire::kBodyBytesMax) {
    return Refused<std::vector<CommandResult>>(Status::InvalidArgument(
        "a batch of " + std::to_string(bytes) + " bytes does not fit in one request of " +
        std::to_string(wire::kBodyBytesMax) + "; send program commands a few at a time"));
  }
  auto call = std::make_shared<struct Call>();
  call->operation = Operation::kApply;
  call->commands = std::move(batch);
  call->bytes = bytes;
  return core_->Call<std::vector<CommandResult>>(call, [](const CallReply& reply) { return reply.results; });
}

Result<std::vector<CommandResult>> Client::Apply(std::span<const Command> batch) {
  return ApplyAsync(std::vector<Command>(batch.begin(), batch.end())).get();
}

std::future<Result<CommandResult>> Client::SubmitAsync(const Command& command) {
  auto call = std::make_shared<struct Call>();
  call->operation = Operation::kApply;
  call->commands = {command};
  call->bytes = wire::ApplyRequestBytes(call->commands);
  return core_->Call<CommandResult>(call, [](const CallReply& reply) { return reply.results.front(); });
}

Result<CommandResult> Client::Submit(const Command& command) { return SubmitAsync(command).get(); }

std::future<Result<std::vector<Balance>>> Client::GetBalancesAsync(std::vector<MemberKey> members) {
  if (members.empty() || members.size() > kBalanceMembersMax) {
    return Refused<std::vector<Balance>>(
        Status::InvalidArgument("a balance request names 1 to " + std::to_string(kBalanceMembersMax) + " members"));
  }
  // Checked here: calls are packed together, and one bad member would fail them all.
  for (const MemberKey& member : members) {
    if (member.chain == 0) return Refused<std::vector<Balance>>(Status::InvalidArgument("chain 0 is not a chain"));
  }
  auto call = std::make_shared<struct Call>();
  call->operation = Operation::kBalance;
  call->members = std::move(members);
  return core_->Call<std::vector<Balance>>(call, [](const CallReply& reply) { return reply.balances; });
}

Result<std::vector<Balance>> Client::GetBalances(std::span<const MemberKey> members) {
  return GetBalancesAsync(std::vector<MemberKey>(members.begin(), members.end())).get();
}

std::future<Result<Balance>> Client::GetBalanceAsync(MemberKey member) {
  if (member.chain == 0) return Refused<Balance>(Status::InvalidArgument("chain 0 is not a chain"));
  auto call = std::make_shared<struct Call>();
  call->operation = Operation::kBalance;
  call->members = {member};
  return core_->Call<Balance>(call, [](const CallReply& reply) { return reply.balances.front(); });
}

Result<Balance> Client::GetBalance(MemberKey member) { return GetBalanceAsync(member).get(); }

std::future<Result<HistoryPage>> Client::HistoryAsync(MemberKey member, std::string_view cursor,
                                                      std::uint32_t limit) {
  if (cursor.size() > 32) return Refused<HistoryPage>(Status::InvalidArgument("a history cursor is 32 hex digits"));
  const wire::HistoryRequest request{member, limit, std::string(cursor)};
  return core_->Call<HistoryPage>(QueryCall(Operation::kHistory, wire::EncodeHistoryRequest(request)),
                                  [](const CallReply& reply) -> Result<HistoryPage> {
                                    HistoryPage page;
                                    Status status = wire::DecodeHistoryResponse(reply.body, &page);
                                    if (!status.ok()) return status;
                                    return page;
                                  });
}

Result<HistoryPage> Client::History(MemberKey member, std::string_view cursor, std::uint32_t limit) {
  return HistoryAsync(member, cursor, limit).get();
}

std::future<Result<std::optional<CommandResult>>> Client::FindAsync(std::uint32_t chain, CommandId id) {
  return core_->Call<std::optional<CommandResult>>(
      QueryCall(Operation::kFind, wire::EncodeFindRequest({chain, id})),
      [](const CallReply& reply) -> Result<std::optional<CommandResult>> {
        std::optional<CommandResult> found;
        Status status = wire::DecodeFindResponse(reply.body, &found);
        if (!status.ok()) return status;
        return found;
      });
}

Result<std::optional<CommandResult>> Client::Find(std::uint32_t chain, CommandId id) {
  return FindAsync(chain, id).get();
}

std::future<Result<MemberStatus>> Client::GetMemberStatusAsync(MemberKey member, std::uint64_t expiring_before_us) {
  return core_->Call<MemberStatus>(
      QueryCall(Operation::kMemberStatus, wire::EncodeMemberStatusRequest({member, expiring_before_us})),
      [](const CallReply& reply) -> Result<MemberStatus> {
        MemberStatus status;
        Status decoded = wire::DecodeMemberStatusResponse(reply.body, &status);
        if (!decoded.ok()) return decoded;
        return status;
      });
}

Result<MemberStatus> Client::GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) {
  return GetMemberStatusAsync(member, expiring_before_us).get();
}

std::future<Result<SegmentPage>> Client::FindMembersAsync(const SegmentQuery& query, std::string_view cursor,
                                                           std::uint32_t limit) {
  if (cursor.size() > 32) return Refused<SegmentPage>(Status::InvalidArgument("a segment cursor is 32 hex digits"));
  const wire::SegmentRequest request{query, limit, std::string(cursor)};
  return core_->Call<SegmentPage>(QueryCall(Operation::kSegment, wire::EncodeSegmentRequest(request)),
                                  [](const CallReply& reply) -> Result<SegmentPage> {
                                    SegmentPage page;
                                    Status status = wire::DecodeSegmentResponse(reply.body, &page);
                                    if (!status.ok()) return status;
                                    return page;
                                  });
}

Result<SegmentPage> Client::FindMembers(const SegmentQuery& query, std::string_view cursor, std::uint32_t limit) {
  return FindMembersAsync(query, cursor, limit).get();
}

Result<std::pair<std::uint64_t, std::string>> Client::Backup(std::string_view directory) {
  if (directory.empty() || directory.size() > wire::kPathBytesMax) {
    return Status::InvalidArgument("a backup directory is 1 to " + std::to_string(wire::kPathBytesMax) + " bytes");
  }
  return core_
      ->Call<std::pair<std::uint64_t, std::string>>(
          QueryCall(Operation::kBackup, wire::EncodeBackupRequest(directory)),
          [](const CallReply& reply) -> Result<std::pair<std::uint64_t, std::string>> {
            std::pair<std::uint64_t, std::string> head;
            Status status = wire::DecodeBackupResponse(reply.body, &head.first, &head.second);
            if (!status.ok()) return status;
            return head;
          })
      .get();
}

namespace {

Status CheckTokenName(std::string_view name) {
  if (!name.empty() && name.size() <= wire::kTokenNameBytesMax) return Status::Ok();
  return Status::InvalidArgument("a token name is 1 to " + std::to_string(wire::kTokenNameBytesMax) + " bytes");
}

}  // namespace

Result<std::string> Client::CreateToken(std::string_view name, Role role, std::uint32_t chain) {
  if (Status checked = CheckTokenName(name); !checked.ok()) return checked;
  return core_
      ->Call<std::string>(QueryCall(Operation::kTokenCreate,
                                    wire::EncodeTokenCreateRequest({std::string(name), role, chain})),
                          [](const CallReply& reply) -> Result<std::string> {
                            std::string secret;
                            Status status = wire::DecodeTokenCreateResponse(reply.body, &secret);
                            if (!status.ok()) return status;
                            return secret;
                          })
      .get();
}

Result<std::vector<TokenInfo>> Client::ListTokens() {
  return core_
      ->Call<std::vector<TokenInfo>>(QueryCall(Operation::kTokenList, ""),
                                     [](const CallReply& reply) -> Result<std::vector<TokenInfo>> {
                                       std::vector<TokenInfo> tokens;
                                       Status status = wire::DecodeTokenListResponse(reply.body, &tokens);
                                       if (!status.ok()) return status;
                                       return tokens;
                                     })
      .get();
}

Status Client::RevokeToken(std::string_view name) {
  if (Status checked = CheckTokenName(name); !checked.ok()) return checked;
  return core_
      ->Call<bool>(QueryCall(Operation::kTokenRevoke, wire::EncodeTokenRevokeRequest(name)),
                   [](const CallReply& reply) -> Result<bool> {
                     Status status = wire::DecodeTokenRevokeResponse(reply.body);
                     if (!status.ok()) return status;
                     return true;
                   })
      .get()
      .status();
}

std::future<Result<ServerStatus>> Client::GetStatusAsync() {
  return core_->Call<ServerStatus>(QueryCall(Operation::kStatus, ""), [](const CallReply& reply) -> Result<ServerStatus> {
    ServerStatus response;
    Status status = wire::DecodeStatusResponse(reply.body, &response);
    if (!status.ok()) return status;
    return response;
  });
}

Result<ServerStatus> Client::GetStatus() { return GetStatusAsync().get(); }

}  // namespace tally

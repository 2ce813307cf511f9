// The client: callers queue calls; one I/O thread owns the connection, packs
// queued commands into apply requests, pipelines requests, matches responses
// by request id, enforces every call's deadline, and on a lost connection
// reconnects and resends what was not answered. A caller that waits for its
// answer at once sends its own request when the writer has nothing to send
// (SendOwn), and callers waiting for answers read them themselves, one at a
// time, passing the reading role on (ReadAsCaller): each spares the call a
// thread wake-up.
#include "tally/client.h"

#include <linux/futex.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

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
// What a reader of answers reads at most in one go (Stream::ReadAhead).
constexpr std::size_t kReadAheadBytes = 16 * 1024;

// A waiting caller's call signals it (Call::signal) when done or when
// handed the reading role; the caller sleeps on it with a futex. (Not
// std::atomic::wait, which first spins and yields the CPU — on two busy
// cores, to the threads the caller waits for.)
constexpr std::uint32_t kSignalDone = 1;
constexpr std::uint32_t kSignalRead = 2;
constexpr std::uint32_t kSignalSleeping = 4;  // the caller sleeps: whoever signals wakes it

void SleepUntilSignalled(std::atomic<std::uint32_t>& signal) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  for (;;) {
    std::uint32_t seen = signal.load(std::memory_order_acquire);
    if ((seen & (kSignalDone | kSignalRead)) != 0) return;
    if (seen == 0 && !signal.compare_exchange_weak(seen, kSignalSleeping, std::memory_order_acq_rel)) continue;
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&signal), FUTEX_WAIT_PRIVATE, kSignalSleeping, nullptr,
              nullptr, 0);
  }
}

// Raise, then Wake if it says so: the bit may be raised under a lock and
// the sleeper woken after it is released, so that the lock is not held
// through the futex call (and whoever waits for the lock through it).
bool Raise(std::atomic<std::uint32_t>& signal, std::uint32_t bit) {
  return (signal.fetch_or(bit, std::memory_order_acq_rel) & kSignalSleeping) != 0;
}

void Wake(std::atomic<std::uint32_t>& signal) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&signal), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void Signal(std::atomic<std::uint32_t>& signal, std::uint32_t bit) {
  if (Raise(signal, bit)) Wake(signal);
}

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
  bool waiter = false;   // a caller's thread waits for it (CallAndWait), and may read answers meanwhile
  bool finished = false;  // whoever holds the call: the I/O thread, or the caller reading answers
  std::promise<Result<CallReply>> promise;  // not a waiter's
  std::optional<Result<CallReply>> reply;   // a waiter's, once kSignalDone
  // For a waiter: kSignalDone once finished; kSignalRead when handed the
  // reading role.
  std::atomic<std::uint32_t> signal{0};
  std::uint64_t reading_generation = 0;  // guarded by the client's mutex: the connection it was handed the role on
  // Guarded likewise: the role came with its own send (SendOwn), so nothing
  // it waits for can have arrived yet: its first read waits before it tries.
  bool wait_before_reading = false;

  void Finish(Result<CallReply> result) {
    if (finished) return;
    finished = true;
    if (waiter) {
      reply.emplace(std::move(result));
      Signal(signal, kSignalDone);
    } else {
      promise.set_value(std::move(result));
    }
  }
};
using CallPtr = std::shared_ptr<Call>;

struct InFlight {
  Operation operation;
  std::vector<CallPtr> calls;
  bool waiter = false;  // a call's caller waits for it
};

// Who reads the answers of the current connection: nobody (nothing in
// flight), the I/O thread's ReadLoop, or a waiting caller (ReadAsCaller).
enum class Reader { kNone, kIoThread, kCaller };

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
    Queue(std::move(call));
    return future;
  }

  // For a caller that waits for the answer now: it sends its request itself
  // when it can (SendOwn), else queues it; while it waits it may be handed
  // the reading role, and reads answers until its own has come.
  Result<CallReply> CallAndWait(CallPtr call) {
    call->deadline = Clock::now() + options_.call_timeout;
    call->waiter = true;
    if (!SendOwn(call)) Queue(call);
    for (;;) {
      SleepUntilSignalled(call->signal);
      if ((call->signal.load(std::memory_order_acquire) & kSignalRead) == 0) return std::move(*call->reply);
      call->signal.fetch_and(~(kSignalRead | kSignalSleeping), std::memory_order_acq_rel);
      ReadAsCaller(*call);
    }
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
      std::uint64_t generation = 0;
      std::shared_ptr<internal::Stream> stream;  // the loops keep it alive
      {
        std::lock_guard lock(mutex_);
        generation = ++generation_;
        stream = stream_;
        reader_ = Reader::kNone;  // a caller still reading the last connection reads nothing of this one
        reader_stream_.reset();
      }
      asio::co_spawn(io_, [this, generation, stream] { return ReadLoop(generation, stream); }, asio::detached);
      co_await WriteLoop(*stream);
      // The connection is gone: what was in flight goes first on the next one,
      // with the same command ids.
      std::lock_guard lock(mutex_);
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

  // Finishes every call whose deadline passed, sent or not, then sleeps
  // until the next deadline. Every call's deadline is call_timeout after it
  // was made, so none made later comes due before the earliest deadline of
  // the calls there are now — or, with none, before call_timeout from now:
  // the loop wakes once per deadline that can pass, never on a fixed tick
  // (an idle client's I/O thread sleeps), and a new call never needs to
  // wake it.
  asio::awaitable<void> ExpiryLoop() {
    while (!stopping_) {
      const auto now = Clock::now();
      auto next = now + options_.call_timeout;
      auto expire = [&](const CallPtr& call) {
        if (call->deadline > now) {
          next = std::min(next, call->deadline);
          return false;
        }
        call->Finish(Expired());
        return true;
      };
      std::erase_if(pending_, expire);
      {
        std::lock_guard lock(mutex_);
        std::erase_if(incoming_, expire);  // not taken: that tells callers the writer is busy (SendOwn)
        for (auto& [id, request] : in_flight_) {
          for (const CallPtr& call : request.calls) {
            if (call->deadline <= now) {
              call->Finish(Expired());  // its answer, if it comes, is dropped
            } else {
              next = std::min(next, call->deadline);
            }
          }
        }
      }
      expiry_timer_.expires_at(next);
      error_code ignored;
      co_await expiry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  asio::awaitable<Status> ConnectAndHello() {
    error_code error;
    const asio::ip::address address = asio::ip::make_address(options_.host, error);
    if (error) co_return Status::InvalidArgument("'" + options_.host + "' is not an IP address");
    auto stream = std::make_shared<internal::Stream>(
        asio::ip::tcp::socket(io_), tls_.get(),
        options_.tls_server_name.empty() ? options_.host : options_.tls_server_name);
    {
      std::lock_guard lock(mutex_);
      stream_ = stream;
    }
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
    stream->Release();  // held again by the I/O thread's reads and writes
    co_return Status::Ok();
  }

  // Reads one response frame from `stream` on the I/O thread: from what a
  // reader read ahead, then whatever has arrived (several answers sent
  // together cost one read).
  asio::awaitable<Status> ReadFrame(internal::Stream& stream, wire::Header* header, std::string* body) {
    internal::Stream::ReadAhead& ahead = stream.read_ahead();
    std::size_t wanted = wire::kHeaderBytes;
    while (true) {
      if (ahead.available() >= wanted) {
        const Status status = TakeFrame(ahead, &wanted, header, body);
        if (!status.ok() || wanted == 0) co_return status;
        continue;
      }
      ahead.Compact();
      const std::size_t end = ahead.bytes.size();
      ahead.bytes.resize(std::max(wanted, kReadAheadBytes));
      std::size_t read = 0;
      const error_code error = co_await stream.ReadSome(asio::buffer(ahead.bytes.data() + end, ahead.bytes.size() - end), &read);
      ahead.bytes.resize(end + read);
      if (error) co_return Status::Unavailable("connection lost: " + error.message());
    }
  }

  // Whether a whole frame waits in what was read ahead (or a header that
  // does not decode, for TakeFrame to report).
  static bool FrameReadAhead(const internal::Stream::ReadAhead& ahead) {
    if (ahead.available() < wire::kHeaderBytes) return false;
    wire::Header header;
    if (!wire::DecodeHeader(ahead.view().substr(0, wire::kHeaderBytes), &header).ok()) return true;
    return ahead.available() >= wire::kHeaderBytes + header.body_bytes;
  }

  // With at least `*wanted` bytes read ahead: the header, then (once its
  // body is there too) the whole frame. `*wanted` becomes 0 when the frame
  // is taken, else how many bytes it needs.
  static Status TakeFrame(internal::Stream::ReadAhead& ahead, std::size_t* wanted, wire::Header* header,
                          std::string* body) {
    if (Status status = wire::DecodeHeader(ahead.view().substr(0, wire::kHeaderBytes), header); !status.ok()) {
      return status;
    }
    if (header->version != wire::kProtocolVersion || (header->flags & wire::kResponse) == 0) {
      return Status::Unavailable("the server sent a frame that is not a version " +
                                 std::to_string(wire::kProtocolVersion) + " response");
    }
    const std::size_t frame_bytes = wire::kHeaderBytes + header->body_bytes;
    if (ahead.available() < frame_bytes) {
      *wanted = frame_bytes;
      return Status::Ok();
    }
    body->assign(ahead.view().substr(wire::kHeaderBytes, header->body_bytes));
    ahead.Consume(frame_bytes);
    *wanted = 0;
    return wire::CheckBody(*header, *body);
  }

  asio::awaitable<void> ReadLoop(std::uint64_t generation, std::shared_ptr<internal::Stream> stream) {
    wire::Header header;
    std::string body;
    bool holding = false;  // the stream (Stream::Hold)
    while (connected_ && generation == generation_) {
      // Nothing to read for, or a caller reading: wait, so that the socket
      // has one reader.
      bool park = false;
      {
        std::lock_guard lock(mutex_);
        if (reader_ == Reader::kNone && !in_flight_.empty()) reader_ = Reader::kIoThread;
        park = reader_ != Reader::kIoThread;
      }
      if (park) {
        if (holding) stream->Release();
        holding = false;
        reader_wake_.expires_at(kNever);
        error_code ignored;
        co_await reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        continue;
      }
      if (!holding) stream->Hold();
      holding = true;
      const Status status = co_await ReadFrame(*stream, &header, &body);
      if (generation != generation_) co_return;  // the loop of a connection already replaced
      if (!status.ok()) break;
      InFlight answered;
      {
        std::lock_guard lock(mutex_);
        auto entry = in_flight_.find(header.request_id);
        if (entry == in_flight_.end()) break;  // an answer to nothing: the stream is not trustworthy
        answered = std::move(entry->second);
        in_flight_.erase(entry);
      }
      if (!Complete(answered, header, body)) break;
      wake_.cancel();  // a slot is free
      CallPtr wake;
      {
        std::lock_guard lock(mutex_);
        // A waiting caller reads the next answers, sparing this thread's
        // wake-up and then the caller's.
        // (Not while a whole answer waits in what was read ahead: this
        // thread finishes it at once.)
        if (in_flight_.empty()) {
          reader_ = Reader::kNone;
        } else if (!stream->tls() && !FrameReadAhead(stream->read_ahead())) {
          HandToWaiterLocked(stream, &wake);
        }
      }
      if (wake) Wake(wake->signal);
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
      TakeIncoming();  // and the writer is busy: callers queue (SendOwn)
      std::erase_if(pending_, [](const CallPtr& call) { return call->finished; });
      if (pending_.empty() || InFlightCount() >= options_.requests_in_flight_max) {
        {
          std::lock_guard lock(mutex_);
          // With nothing of its own to send, callers may send theirs
          // (SendOwn); with requests held back, a freed slot wakes it.
          writer_waiting_ = pending_.empty() && !stream.tls();
          writer_full_ = !pending_.empty();
        }
        wake_.expires_at(kNever);
        error_code ignored;
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        continue;
      }
      std::string frames;
      while (!pending_.empty() && InFlightCount() < options_.requests_in_flight_max) PackRequest(&frames);
      error_code error;
      const std::vector<asio::const_buffer> buffers{asio::buffer(frames)};
      stream.Hold();
      error = co_await stream.Write(buffers);
      stream.Release();
      if (error) break;
      reader_wake_.cancel();  // answers to read
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
    request.waiter = std::ranges::any_of(request.calls, [](const CallPtr& call) { return call->waiter; });
    std::lock_guard lock(mutex_);
    in_flight_.emplace(request_id, std::move(request));
  }

  std::size_t InFlightCount() {
    std::lock_guard lock(mutex_);
    return in_flight_.size();
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
    writer_waiting_ = false;
    writer_full_ = false;
    while (!incoming_.empty()) {
      pending_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
  }

  void FailEverything(const Status& status) {
    TakeIncoming();
    for (const CallPtr& call : pending_) call->Finish(status);
    pending_.clear();
    std::lock_guard lock(mutex_);
    for (auto& [id, request] : in_flight_) {
      for (const CallPtr& call : request.calls) call->Finish(status);
    }
    in_flight_.clear();
  }

  void Disconnect() {
    connected_ = false;
    {
      std::lock_guard lock(mutex_);
      writer_waiting_ = false;
      if (stream_ && reader_ == Reader::kCaller) {
        // A caller is reading it: shut it down, but keep the descriptor
        // open (closed when the caller lets go) so that its number is not
        // reused by the next connection under the caller's feet.
        stream_->Shutdown();
      } else if (stream_) {
        stream_->Close();
      }
    }
    wake_.cancel();
    reader_wake_.cancel();
  }

  void Queue(CallPtr call) {
    {
      std::lock_guard lock(mutex_);
      incoming_.push_back(std::move(call));
    }
    asio::post(io_, [this] { wake_.cancel(); });
  }

  // The body of `call`'s request, alone in it.
  static std::string EncodeAlone(const struct Call& call) {
    if (call.operation == Operation::kApply) return wire::EncodeApplyRequest(call.commands);
    if (call.operation == Operation::kBalance) return wire::EncodeBalanceRequest(call.members);
    return call.body;
  }

  // When the I/O thread's writer has nothing of its own to send (and the
  // connection is in the clear), a caller that waits for its answer sends
  // its request itself, under the client's lock so that no other write
  // interleaves: this spares the writer's wake-up. If nobody is reading
  // answers, the caller takes the reading role too (its signal says so).
  // Returns false, having done nothing, otherwise. A request that does not
  // go out whole breaks the stream: the connection is replaced, and what
  // was in flight, this call included, is resent.
  bool SendOwn(const CallPtr& call) {
    constexpr std::size_t kOwnBodyBytesMax = 4096;  // goes whole into a socket's buffer
    if (call->bytes > kOwnBodyBytesMax || call->members.size() > kOwnBodyBytesMax / 16) return false;
    std::string body = EncodeAlone(*call);
    if (body.size() > kOwnBodyBytesMax) return false;
    const std::uint64_t request_id = ++next_request_id_;
    std::string frame;
    wire::AppendFrame(call->operation, 0, request_id, body, &frame);
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      if (!writer_waiting_ || !incoming_.empty() || !stream_ ||
          in_flight_.size() >= options_.requests_in_flight_max) {
        return false;
      }
      in_flight_.emplace(request_id, InFlight{call->operation, {call}, true});
      if (stream_->SendNow(frame) == frame.size()) {
        if (reader_ == Reader::kNone) {
          GiveReadingRoleLocked(*call, stream_);
          call->wait_before_reading = true;
          call->signal.fetch_or(kSignalRead, std::memory_order_relaxed);
        }
        return true;
      }
      generation = generation_;
    }
    asio::post(io_, [this, generation] {
      if (generation == generation_ && connected_) Disconnect();
    });
    return true;
  }

  // The reading role's holder, a waiting caller: reads answers in order on
  // its own thread and finishes the calls each answers, until its own call
  // is finished; then hands the role to a caller waiting for one of the
  // oldest requests in flight, or else to the I/O thread's reader. This
  // spares each call the hand-over of its answer (I/O thread → caller): a
  // caller handed the role is woken while its answer is still on the way.
  // A connection that fails on the way is replaced, and what was in flight,
  // this call included, is resent on the next. A deadline that passes ends
  // the call `deadline_exceeded` and replaces the connection too: a partly
  // read answer may follow.
  void ReadAsCaller(struct Call& call) {
    std::shared_ptr<internal::Stream> stream;
    const std::uint64_t generation = call.reading_generation;
    bool wait_first = false;
    {
      std::lock_guard lock(mutex_);
      wait_first = std::exchange(call.wait_before_reading, false);
      if (generation != generation_ || reader_ != Reader::kCaller) return;  // replaced meanwhile: the role is void
      stream = reader_stream_;
    }
    bool broken = false;
    // Until its own call is finished, and then through every answer already
    // read ahead: the callers those answer are woken from here, each at
    // once, rather than one after another as each, woken to read, found the
    // next answer waiting (docs/server.md, "The client library").
    while (stream && ((call.signal.load(std::memory_order_acquire) & kSignalDone) == 0 ||
                      FrameReadAhead(stream->read_ahead()))) {
      wire::Header header;
      std::string body;
      const Status status = ReadFrameNow(*stream, call.deadline, std::exchange(wait_first, false), &header, &body);
      InFlight answered;
      {
        std::lock_guard lock(mutex_);
        if (generation != generation_) return;  // already replaced: this role is void
        auto entry = status.ok() ? in_flight_.find(header.request_id) : in_flight_.end();
        if (entry == in_flight_.end()) {  // a failed read, or an answer to nothing: the stream is not trustworthy
          if (status.code() == Status::Code::kDeadlineExceeded) call.Finish(Expired());
          broken = true;
          break;
        }
        answered = std::move(entry->second);
        in_flight_.erase(entry);
        if (writer_full_) asio::post(io_, [this] { wake_.cancel(); });  // a slot is free
      }
      if (!Complete(answered, header, body)) {
        broken = true;
        break;
      }
    }
    bool wake_reader = false;
    CallPtr wake;
    {
      std::lock_guard lock(mutex_);
      if (generation != generation_ || reader_ != Reader::kCaller) return;
      // A broken stream keeps the role, unread, until it is replaced.
      if (!broken && (in_flight_.empty() || !HandToWaiterLocked(stream, &wake))) {
        wake_reader = !in_flight_.empty();
        reader_ = Reader::kNone;
        reader_stream_.reset();
      }
    }
    if (wake) Wake(wake->signal);
    if (broken) {
      asio::post(io_, [this, generation] {
        if (generation == generation_ && connected_) Disconnect();
      });
    } else if (wake_reader) {
      asio::post(io_, [this] { reader_wake_.cancel(); });
    }
  }

  // Gives the reading role on `stream`, the current connection's, to
  // `call`'s caller.
  void GiveReadingRoleLocked(struct Call& call, const std::shared_ptr<internal::Stream>& stream) {
    reader_ = Reader::kCaller;
    reader_stream_ = stream;
    call.reading_generation = generation_;
  }

  // Hands the reading role on `stream` to a caller waiting for one of the
  // oldest requests in flight; false when none of them has one. `*wake`:
  // the caller, when it sleeps — to be woken (Wake) once the lock is
  // released; the role is its from now on either way.
  bool HandToWaiterLocked(const std::shared_ptr<internal::Stream>& stream, CallPtr* wake) {
    constexpr int kLookAhead = 8;
    int looked = 0;
    for (auto& [id, request] : in_flight_) {
      if (++looked > kLookAhead) break;
      if (!request.waiter) continue;
      for (const CallPtr& waiting : request.calls) {
        if (!waiting->waiter || (waiting->signal.load(std::memory_order_acquire) & kSignalDone) != 0) continue;
        GiveReadingRoleLocked(*waiting, stream);
        if (Raise(waiting->signal, kSignalRead)) *wake = waiting;
        return true;
      }
    }
    return false;
  }

  // Reads one response frame from `stream` (in the clear) on the calling
  // thread, from what was read ahead and then from its socket, waiting at
  // most until `deadline` (`wait_first`: for something to arrive before
  // the first read from the socket, which would find nothing).
  static Status ReadFrameNow(internal::Stream& stream, Clock::time_point deadline, bool wait_first,
                             wire::Header* header, std::string* body) {
    internal::Stream::ReadAhead& ahead = stream.read_ahead();
    std::size_t wanted = wire::kHeaderBytes;
    while (true) {
      if (ahead.available() >= wanted) {
        const Status status = TakeFrame(ahead, &wanted, header, body);
        if (!status.ok() || wanted == 0) return status;
        continue;
      }
      if (Status status = ReadAheadNow(stream.fd(), deadline, wanted, std::exchange(wait_first, false), ahead);
          !status.ok()) {
        return status;
      }
    }
  }

  // Reads what has arrived into `ahead` (room for at least `wanted` bytes
  // in all), waiting for something to arrive.
  static Status ReadAheadNow(int socket, Clock::time_point deadline, std::size_t wanted, bool wait_first,
                             internal::Stream::ReadAhead& ahead) {
    ahead.Compact();
    const std::size_t end = ahead.bytes.size();
    ahead.bytes.resize(std::max(wanted, kReadAheadBytes));
    bool waited = !wait_first;
    while (true) {
      if (!waited) {
        waited = true;
        pollfd readable{socket, POLLIN, 0};
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() > 0) ::poll(&readable, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      }
      const ssize_t got = ::recv(socket, ahead.bytes.data() + end, ahead.bytes.size() - end, MSG_DONTWAIT);
      if (got > 0) {
        ahead.bytes.resize(end + static_cast<std::size_t>(got));
        return Status::Ok();
      }
      const int error = errno;
      if (got == 0 || (error != EINTR && error != EAGAIN && error != EWOULDBLOCK)) {
        ahead.bytes.resize(end);
        return Status::Unavailable(got == 0 ? "connection lost: closed by the server"
                                            : "connection lost: " + std::string(strerror(error)));
      }
      if (error == EINTR) continue;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        ahead.bytes.resize(end);
        return Expired();
      }
      pollfd readable{socket, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000))) < 0 && errno != EINTR) {
        ahead.bytes.resize(end);
        return Status::Unavailable("connection lost: " + std::string(strerror(errno)));
      }
    }
  }

  const ClientOptions options_;
  asio::io_context io_;
  std::shared_ptr<asio::ssl::context> tls_;    // null: in the clear
  asio::steady_timer wake_;
  asio::steady_timer reader_wake_{io_, kNever};  // cancelled to wake ReadLoop
  asio::steady_timer expiry_timer_{io_};
  std::thread thread_;
  std::promise<Status> first_connect_;

  std::mutex mutex_;
  std::deque<CallPtr> incoming_;  // guarded by mutex_
  std::shared_ptr<internal::Stream> stream_;  // the current connection; set under mutex_
  std::uint64_t generation_ = 0;              // set under mutex_
  bool writer_waiting_ = false;  // guarded: connected, in the clear, the writer waits with nothing to send
  bool writer_full_ = false;     // guarded: the writer waits for a free slot in flight
  Reader reader_ = Reader::kNone;                    // guarded
  std::shared_ptr<internal::Stream> reader_stream_;  // guarded: the stream a caller holding the role reads
  std::atomic<std::uint64_t> next_request_id_{0};

  std::map<std::uint64_t, InFlight> in_flight_;  // guarded by mutex_; callers add to it (SendOwn)
  // I/O thread only.
  std::deque<CallPtr> pending_;
  bool connected_ = false;
  bool stopping_ = false;

 public:
  // Queues a call and converts its reply when the caller asks for it.
  // Calls and converts the reply at once (CallAndWait).
  template <typename Value, typename Convert>
  Result<Value> CallNow(CallPtr call, Convert convert) {
    Result<CallReply> got = CallAndWait(std::move(call));
    if (!got.ok()) return got.status();
    return convert(*got);
  }

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

namespace {

// The calls of the methods below, checked; each method makes it and either
// queues it (…Async) or waits for it at once.
Result<CallPtr> ApplyCall(std::vector<Command> batch) {
  if (batch.empty() || batch.size() > kBatchCommandsMax) {
    return Status::InvalidArgument("a batch holds 1 to " + std::to_string(kBatchCommandsMax) + " commands");
  }
  const std::size_t bytes = wire::ApplyRequestBytes(batch);
  if (bytes > wire::kBodyBytesMax) {
    return Status::InvalidArgument("a batch of " + std::to_string(bytes) + " bytes does not fit in one request of " +
                                   std::to_string(wire::kBodyBytesMax) + "; send program commands a few at a time");
  }
  auto call = std::make_shared<Call>();
  call->operation = Operation::kApply;
  call->commands = std::move(batch);
  call->bytes = bytes;
  return call;
}

Result<CallPtr> BalanceCall(std::vector<MemberKey> members) {
  if (members.empty() || members.size() > kBalanceMembersMax) {
    return Status::InvalidArgument("a balance request names 1 to " + std::to_string(kBalanceMembersMax) + " members");
  }
  // Checked here: calls are packed together, and one bad member would fail them all.
  for (const MemberKey& member : members) {
    if (member.chain == 0) return Status::InvalidArgument("chain 0 is not a chain");
  }
  auto call = std::make_shared<Call>();
  call->operation = Operation::kBalance;
  call->members = std::move(members);
  return call;
}

std::vector<CommandResult> Results(const CallReply& reply) { return reply.results; }
CommandResult FirstResult(const CallReply& reply) { return reply.results.front(); }
std::vector<Balance> Balances(const CallReply& reply) { return reply.balances; }
Balance FirstBalance(const CallReply& reply) { return reply.balances.front(); }

}  // namespace

std::future<Result<std::vector<CommandResult>>> Client::ApplyAsync(std::vector<Command> batch) {
  Result<CallPtr> call = ApplyCall(std::move(batch));
  if (!call.ok()) return Refused<std::vector<CommandResult>>(call.status());
  return core_->Call<std::vector<CommandResult>>(*call, Results);
}

Result<std::vector<CommandResult>> Client::Apply(std::span<const Command> batch) {
  Result<CallPtr> call = ApplyCall(std::vector<Command>(batch.begin(), batch.end()));
  if (!call.ok()) return call.status();
  return core_->CallNow<std::vector<CommandResult>>(*call, Results);
}

std::future<Result<CommandResult>> Client::SubmitAsync(const Command& command) {
  return core_->Call<CommandResult>(*ApplyCall({command}), FirstResult);  // one command always fits
}

Result<CommandResult> Client::Submit(const Command& command) {
  return core_->CallNow<CommandResult>(*ApplyCall({command}), FirstResult);
}

std::future<Result<std::vector<Balance>>> Client::GetBalancesAsync(std::vector<MemberKey> members) {
  Result<CallPtr> call = BalanceCall(std::move(members));
  if (!call.ok()) return Refused<std::vector<Balance>>(call.status());
  return core_->Call<std::vector<Balance>>(*call, Balances);
}

Result<std::vector<Balance>> Client::GetBalances(std::span<const MemberKey> members) {
  Result<CallPtr> call = BalanceCall(std::vector<MemberKey>(members.begin(), members.end()));
  if (!call.ok()) return call.status();
  return core_->CallNow<std::vector<Balance>>(*call, Balances);
}

std::future<Result<Balance>> Client::GetBalanceAsync(MemberKey member) {
  Result<CallPtr> call = BalanceCall({member});
  if (!call.ok()) return Refused<Balance>(call.status());
  return core_->Call<Balance>(*call, FirstBalance);
}

Result<Balance> Client::GetBalance(MemberKey member) {
  Result<CallPtr> call = BalanceCall({member});
  if (!call.ok()) return call.status();
  return core_->CallNow<Balance>(*call, FirstBalance);
}

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

// Session: one client connection. A visible loop reads a header, checks its
// limits, reads the body, decodes it and hands it to the engine worker; a
// second loop writes responses in the order they complete. Both run as
// coroutines on the server's single I/O thread. Reads take whatever has
// arrived into an inbox, and requests are cut from it (Inbox, below).
//
// Limits: at most kRequestsInFlightPerConnectionMax requests in flight, from
// the header read to the response written (then the session stops reading:
// backpressure); every request charged to the server's RequestBudget
// before more than the inbox's 16 KiB of its body is read (the session
// waits while it does not fit);
// frames of at most wire::kBodyBytesMax, and a hello of at most
// kHelloBodyBytesMax; an idle deadline between requests (the I/O deadline
// before hello) and an I/O deadline for a body to arrive or a response to
// leave. Any malformed frame gets an error frame where one can be sent, and
// the connection is closed.
//
// Thread safety: all methods run on the I/O thread.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "tally/internal/asio.h"
#include "tally/internal/stream.h"
#include "engine_worker.h"
#include "request_budget.h"
#include "tally/auth.h"
#include "tally/limits.h"

namespace tally::server {

class Session;

// Replies given while the I/O thread runs a round are held and sent when
// it ends (or before it writes to the disk), each connection's in one
// send: a round answering 8 callers of one client is one send, not 8, and
// the client reads the 8 answers at once (docs/server.md).
struct ReplyCork {
  bool active = false;                          // a round is running on the I/O thread
  std::vector<std::shared_ptr<Session>> held;   // sessions holding replies
  void SendHeld();                              // sends what each holds
  std::atomic<std::uint64_t> sends{0};          // sends and writes of replies, every session's (for tests)
};

struct SessionOptions {
  std::uint32_t idle_timeout_ms = 0;
  std::uint32_t io_timeout_ms = kIoTimeoutMs;
  std::string server_name;
  const Ledger* ledger = nullptr;     // for tokens at hello (docs/security.md)
  RequestBudget* budget = nullptr;    // the server's, shared by every session
  ReplyCork* cork = nullptr;          // the server's; null: every reply is sent as it is given
  std::shared_ptr<asio::ssl::context> tls;  // null: in the clear
};

// What a request is charged against the RequestBudget: its body, and a
// bound on its decoded form and its response.
std::uint64_t RequestCharge(const wire::Header& header);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::ip::tcp::socket socket, EngineWorker& worker, SessionOptions options);

  void Start();
  // Stops reading new requests; in-flight ones are answered, then the
  // connection closes.
  void Stop();
  bool closed() const { return closed_; }
  // Sends the replies held while a round ran (ReplyCork).
  void SendHeld();
  const asio::ip::address& remote() const { return remote_; }

 private:
  void CountSend();  // in the cork's count
  // The TLS handshake (under the I/O deadline), then the two loops.
  asio::awaitable<void> Run();
  asio::awaitable<void> ReadLoop();
  // What has been read from the connection and not yet handled. One read
  // takes whatever has arrived (up to kReadChunkBytes, or the rest of a
  // larger frame), and requests are cut from it as they complete: requests
  // that arrived together reach the engine worker together, and a request
  // costs no read of its own.
  struct Inbox {
    std::string bytes;
    std::size_t begin = 0;  // bytes before are handled
    std::size_t end = 0;    // bytes from here on are free room
    std::string_view View(std::size_t size) const { return std::string_view(bytes).substr(begin, size); }
  };
  static constexpr std::size_t kReadChunkBytes = 16 << 10;
  // Reads until `inbox` holds at least `bytes` not yet handled.
  asio::awaitable<error_code> Fill(Inbox& inbox, std::size_t bytes);
  asio::awaitable<void> WriteLoop();
  // A deadline that moves without a system call: its timer is re-armed
  // only when the deadline comes sooner than the timer is set for (each
  // re-arm of the earliest timer is a timerfd_settime, three per request
  // when every read and write re-armed it); when the timer fires before a
  // deadline that moved later, Watch sleeps again until the new one.
  struct Deadline {
    explicit Deadline(const asio::any_io_executor& executor);
    void Set(asio::steady_timer::time_point due);
    void After(std::chrono::milliseconds timeout) { Set(asio::steady_timer::clock_type::now() + timeout); }
    void Clear() { due = asio::steady_timer::time_point::max(); }
    asio::steady_timer timer;
    asio::steady_timer::time_point due = asio::steady_timer::time_point::max();
  };
  // Closes the connection once `deadline` passes.
  asio::awaitable<void> Watch(Deadline& deadline);
  // Decodes one request charged `charge`; false (after queuing an error)
  // when the connection must close.
  bool Handle(const wire::Header& header, std::string_view body, std::uint64_t charge);
  // Queues a frame; a reply to a request in flight carries its charge,
  // released once it is written.
  void Send(wire::Operation operation, std::uint64_t request_id, std::string_view body, bool reply = false,
            std::uint64_t charge = 0);
  void Written(bool reply, std::uint64_t charge);  // a reply is written or dropped
  void SendError(std::uint64_t request_id, wire::ErrorCode code, const std::string& message);
  void Close();

  const SessionOptions options_;  // keeps the TLS context alive for the stream
  internal::Stream stream_;
  asio::ip::address remote_;
  EngineWorker& worker_;
  Deadline read_deadline_;
  Deadline write_deadline_;
  asio::steady_timer wake_writer_;   // cancelled to wake WriteLoop
  asio::steady_timer wake_reader_;   // cancelled to wake ReadLoop when a slot frees
  struct Outgoing {
    std::string frame;
    bool reply = false;       // answers a request in flight
    std::uint64_t charge = 0;
  };
  std::deque<Outgoing> outbox_;      // encoded frames waiting to be written
  std::size_t in_flight_ = 0;        // requests read whose response is not yet written
  bool hello_done_ = false;
  // The token this connection presented; nullopt when the ledger has no
  // tokens and everything is allowed (on loopback only).
  std::optional<TokenInfo> identity_;
  // Why `request` is outside this connection's token; empty when it is not.
  std::string Refusal(const Request& request) const;
  bool writing_ = false;             // the write loop has a write in progress
  bool reading_done_ = false;        // no more requests will be read
  bool closed_ = false;
  bool held_ = false;                // in the cork's list
};

}  // namespace tally::server

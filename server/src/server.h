// Server: the listener. Accepts connections (up to connections_max), starts a
// Session for each, and on Stop() (or SIGINT/SIGTERM) stops accepting, lets
// every session answer what it has in flight, and returns from Run().
//
// Thread safety: Run() on one thread (the I/O thread); Stop() from any.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tally/internal/asio.h"
#include "engine_worker.h"
#include "session.h"

namespace tally::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7411;  // 0: any free port (see port())
  std::uint32_t idle_timeout_ms = kIdleTimeoutMsDefault;
  std::uint32_t io_timeout_ms = kIoTimeoutMs;
  std::size_t connections_max = kConnectionsMax;
  std::size_t connections_per_address_max = kConnectionsPerAddressMax;
  std::uint64_t request_bytes_max = kServerRequestBytesMax;  // RequestBudget
  // TLS (docs/security.md): both PEM files, or neither for the clear.
  std::string tls_certificate_file;
  std::string tls_key_file;
  bool handle_signals = true;
};

class Server {
 public:
  // Binds the listening socket; Run() serves.
  static Result<std::unique_ptr<Server>> Bind(Ledger& ledger, const ServerOptions& options);
  ~Server();

  std::uint16_t port() const { return port_; }
  // Reads the TLS certificate chain and key files again (tallyd does on
  // SIGHUP): new connections get the new ones, open ones keep theirs. On
  // an error the old ones stay. Any thread.
  Status ReloadTls();
  const RequestBudget& budget() const { return budget_; }
  // Sends and writes of frames to clients so far, every connection's.
  std::uint64_t sends() const { return cork_.sends.load(std::memory_order_relaxed); }
  void Run();
  void Stop();

 private:
  Server(Ledger& ledger, const ServerOptions& options);
  asio::awaitable<void> AcceptLoop();
  void BeginShutdown();
  void WaitForSignal();
  std::uint64_t OpenConnections();

  Ledger& ledger_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::signal_set signals_;
  ServerOptions options_;
  std::uint16_t port_ = 0;
  std::vector<std::weak_ptr<Session>> sessions_;  // I/O thread only
  std::atomic<std::uint64_t> connections_{0};
  RequestBudget budget_;
  ReplyCork cork_;  // on the I/O thread only
  std::mutex tls_mutex_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: in the clear; guarded by tls_mutex_
  EngineWorker worker_;
  bool stopping_ = false;
};

}  // namespace tally::server

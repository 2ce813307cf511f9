#include "server.h"

#include <algorithm>
#include <csignal>
#include <cstdio>

namespace tally::server {

Server::Server(Ledger& ledger, const ServerOptions& options)
    : ledger_(ledger),
      acceptor_(io_),
      signals_(io_),
      options_(options),
      budget_(options.request_bytes_max),
      worker_(ledger, [this] { return connections_.load(); },
              [this](std::function<void()> round) {
                asio::post(io_, [this, round = std::move(round)] {
                  // Replies the round gives are held, and sent together.
                  cork_.active = true;
                  round();
                  cork_.active = false;
                  cork_.SendHeld();
                });
              },
              [this] { cork_.SendHeld(); }) {}

Server::~Server() { worker_.Stop(); }

Result<std::unique_ptr<Server>> Server::Bind(Ledger& ledger, const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server(ledger, options));
  error_code error;
  const asio::ip::address address = asio::ip::make_address(options.host, error);
  if (error) return Status::InvalidArgument("'" + options.host + "' is not an IP address");
  if (!address.is_loopback()) {
    // Without tokens, anyone who can connect could do anything: loopback only.
    Result<bool> tokens = ledger.HasTokens();
    if (!tokens.ok()) return tokens.status();
    if (!*tokens) {
      return Status::InvalidArgument("listening on " + options.host +
                                     " needs tokens (docs/security.md): create one with `tally --data DIR token "
                                     "create`, or listen on 127.0.0.1");
    }
  }
  if (options.tls_certificate_file.empty() != options.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate chain and a private key");
  }
  if (!options.tls_certificate_file.empty()) {
    auto tls = internal::ServerTlsContext(options.tls_certificate_file, options.tls_key_file);
    if (!tls.ok()) return tls.status();
    server->tls_ = std::move(*tls);
  }
  const asio::ip::tcp::endpoint endpoint(address, options.port);
  server->acceptor_.open(endpoint.protocol(), error);
  if (!error) server->acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), error);
  if (!error) server->acceptor_.bind(endpoint, error);
  if (!error) server->acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return Status::IOError("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                           error.message());
  }
  server->port_ = server->acceptor_.local_endpoint().port();
  return server;
}

Status Server::ReloadTls() {
  if (options_.tls_certificate_file.empty()) return Status::InvalidArgument("tallyd runs without TLS");
  auto tls = internal::ServerTlsContext(options_.tls_certificate_file, options_.tls_key_file);
  if (!tls.ok()) return tls.status();
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(*tls);
  return Status::Ok();
}

// SIGINT, SIGTERM: stop. SIGHUP: read the TLS files again.
void Server::WaitForSignal() {
  signals_.async_wait([this](const error_code& error, int signal) {
    if (error) return;
    if (signal != SIGHUP) {
      BeginShutdown();
      return;
    }
    const Status reloaded = ReloadTls();
    if (reloaded.ok()) {
      std::printf("tallyd: TLS certificate and key read again from %s and %s\n",
                  options_.tls_certificate_file.c_str(), options_.tls_key_file.c_str());
    } else {
      std::printf("tallyd: TLS files not reloaded, the old ones stay: %s\n", reloaded.ToString().c_str());
    }
    std::fflush(stdout);
    WaitForSignal();
  });
}

void Server::Run() {
  if (options_.handle_signals) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.add(SIGHUP);
    WaitForSignal();
  }
  asio::co_spawn(io_, [this] { return AcceptLoop(); }, asio::detached);
  io_.run();
  worker_.Stop();  // every session is closed: nothing more will be submitted
}

void Server::Stop() {
  asio::post(io_, [this] { BeginShutdown(); });
}

void Server::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  signals_.cancel(ignored);
  for (const std::weak_ptr<Session>& weak : sessions_) {
    if (auto session = weak.lock()) session->Stop();
  }
}

std::uint64_t Server::OpenConnections() {
  std::erase_if(sessions_, [](const std::weak_ptr<Session>& weak) {
    auto session = weak.lock();
    return !session || session->closed();
  });
  return sessions_.size();
}

asio::awaitable<void> Server::AcceptLoop() {
  SessionOptions session_options{options_.idle_timeout_ms, options_.io_timeout_ms, "tallyd", &ledger_, &budget_,
                                 &cork_, nullptr};
  while (!stopping_) {
    error_code error;
    asio::ip::tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, error));
    if (error) {
      if (stopping_) break;
      continue;  // e.g. the peer gave up before accept; keep serving
    }
    const std::uint64_t open = OpenConnections();
    const asio::ip::address remote = socket.remote_endpoint(error).address();
    const auto from_remote = std::count_if(sessions_.begin(), sessions_.end(), [&](const std::weak_ptr<Session>& weak) {
      auto session = weak.lock();
      return session && session->remote() == remote;
    });
    if (error || open >= options_.connections_max ||
        static_cast<std::size_t>(from_remote) >= options_.connections_per_address_max) {
      socket.close(error);  // over a limit: refuse by closing at once
      continue;
    }
    {
      std::lock_guard lock(tls_mutex_);
      session_options.tls = tls_;  // the newest, for this connection's life
    }
    auto session = std::make_shared<Session>(std::move(socket), worker_, session_options);
    sessions_.push_back(session);
    connections_.store(open + 1);
    session->Start();
  }
}

}  // namespace tally::server

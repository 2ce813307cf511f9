#include "tally/internal/stream.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>

namespace tally::internal {

struct Stream::Tls {
  Tls(asio::ip::tcp::socket& socket, asio::ssl::context& context) : stream(socket, context) {}
  asio::ssl::stream<asio::ip::tcp::socket&> stream;
};

namespace {

Status TlsError(const std::string& what, const boost::system::system_error& error) {
  return Status::InvalidArgument(what + ": " + DescribeError(error.code()));
}

}  // namespace

std::string DescribeError(const error_code& error) {
  std::string message = error.message();
  if (error.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason string, without the library prefix.
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(error.value()));
    if (reason != nullptr) message = reason;
    message = "TLS: " + message;
  }
  return message;
}

Result<std::shared_ptr<asio::ssl::context>> ServerTlsContext(const std::string& certificate_chain_file,
                                                             const std::string& private_key_file) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  try {
    context->use_certificate_chain_file(certificate_chain_file);
  } catch (const boost::system::system_error& error) {
    return TlsError("reading the certificate chain " + certificate_chain_file, error);
  }
  try {
    context->use_private_key_file(private_key_file, asio::ssl::context::pem);
  } catch (const boost::system::system_error& error) {
    return TlsError("reading the private key " + private_key_file, error);
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Status::InvalidArgument("the private key " + private_key_file + " does not match the certificate " +
                                   certificate_chain_file);
  }
  return context;
}

Result<std::shared_ptr<asio::ssl::context>> ClientTlsContext(const std::string& ca_file) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  context->set_verify_mode(asio::ssl::verify_peer);
  try {
    if (ca_file.empty()) {
      context->set_default_verify_paths();
    } else {
      context->load_verify_file(ca_file);
    }
  } catch (const boost::system::system_error& error) {
    return TlsError("reading the CA certificates " + (ca_file.empty() ? "of the system" : ca_file), error);
  }
  return context;
}

Stream::Stream(asio::ip::tcp::socket socket, asio::ssl::context* tls, const std::string& verify_name)
    : socket_(std::move(socket)) {
  if (socket_.is_open()) fd_ = socket_.native_handle();
  if (tls == nullptr) return;
  tls_ = std::make_unique<Tls>(socket_, *tls);
  if (!verify_name.empty()) {
    tls_->stream.set_verify_callback(asio::ssl::host_name_verification(verify_name));
    // Server name indication, for a name (not for an address).
    error_code not_an_address;
    asio::ip::make_address(verify_name, not_an_address);
    if (not_an_address) SSL_set_tlsext_host_name(tls_->stream.native_handle(), verify_name.c_str());
  }
}

Stream::~Stream() {
  if (released_) ::close(fd_);
}

asio::awaitable<error_code> Stream::Handshake(bool server) {
  error_code error;
  if (tls_) {
    co_await tls_->stream.async_handshake(server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                                          asio::redirect_error(asio::use_awaitable, error));
  }
  co_return error;
}

asio::awaitable<error_code> Stream::Read(asio::mutable_buffer buffer) {
  error_code error;
  if (tls_) {
    co_await asio::async_read(tls_->stream, buffer, asio::redirect_error(asio::use_awaitable, error));
  } else {
    co_await asio::async_read(socket_, buffer, asio::redirect_error(asio::use_awaitable, error));
  }
  co_return error;
}

asio::awaitable<error_code> Stream::ReadSome(asio::mutable_buffer buffer, std::size_t* read) {
  error_code error;
  if (tls_) {
    *read = co_await tls_->stream.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, error));
  } else {
    *read = co_await socket_.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, error));
  }
  co_return error;
}

asio::awaitable<error_code> Stream::Write(const std::vector<asio::const_buffer>& buffers) {
  error_code error;
  if (tls_) {
    co_await asio::async_write(tls_->stream, buffers, asio::redirect_error(asio::use_awaitable, error));
  } else {
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, error));
  }
  co_return error;
}

std::size_t Stream::SendNow(std::string_view bytes) {
  // Under TLS the stream's state belongs to the I/O thread; a closed
  // descriptor's number may already be another connection's.
  if (tls_ || closed_) return 0;
  const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  return sent > 0 ? static_cast<std::size_t>(sent) : 0;
}

void Stream::Close() {
  if (released_) return Shutdown();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  closed_ = true;
}

void Stream::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Stream::Hold() {
  if (holders_++ > 0 || !released_) return;
  error_code error;
  socket_.assign(protocol_, fd_, error);
  // Not back in the reactor: the descriptor stays ours, and the read or
  // write that follows fails, which ends the connection.
  if (!error) released_ = false;
}

void Stream::Release() {
  if (--holders_ > 0 || tls_ || released_ || !socket_.is_open()) return;
  error_code error;
  const auto local = socket_.local_endpoint(error);
  if (error) return;
  protocol_ = local.protocol();
  const int fd = socket_.release(error);
  if (error) return;
  if (fd_ < 0) fd_ = fd;  // the same descriptor every time: written once, read by other threads
  released_ = true;
}

}  // namespace tally::internal

// Stream: one TCP connection, in the clear or under TLS, for the server's
// sessions and the client library alike. Reads and writes are whole
// (asio::async_read / async_write), or a read takes what has arrived
// (ReadSome); one read and one write may be in
// progress at once, as on a plain socket.
//
// TLS (docs/security.md, "TLS"): the server presents a certificate chain
// and key; the client verifies the chain against its CA file (or the
// system's) and the server's name or address against the certificate.
//
// Thread safety: as an Asio socket: one thread (the io_context's) at a time,
// except SendNow, Shutdown and fd (below).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tally/internal/asio.h"
#include "tally/status.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace tally::internal {

// A server's TLS context: its certificate chain and private key, PEM files.
// TLS 1.2 and later only.
Result<std::shared_ptr<asio::ssl::context>> ServerTlsContext(const std::string& certificate_chain_file,
                                                             const std::string& private_key_file);
// A client's TLS context: the CAs it trusts (a PEM file; empty: the
// system's store). The server's certificate is always verified.
Result<std::shared_ptr<asio::ssl::context>> ClientTlsContext(const std::string& ca_file);

class Stream {
 public:
  // `tls` null: in the clear. `verify_name` (client side): the name or IP
  // address the server's certificate must carry.
  Stream(asio::ip::tcp::socket socket, asio::ssl::context* tls, const std::string& verify_name = {});
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  asio::ip::tcp::socket& socket() { return socket_; }
  bool tls() const { return tls_ != nullptr; }

  // The TLS handshake; nothing in the clear.
  asio::awaitable<error_code> Handshake(bool server);
  asio::awaitable<error_code> Read(asio::mutable_buffer buffer);
  // Reads what has arrived, at least one byte and at most the buffer's
  // size; `*read` is how much.
  asio::awaitable<error_code> ReadSome(asio::mutable_buffer buffer, std::size_t* read);
  asio::awaitable<error_code> Write(const std::vector<asio::const_buffer>& buffers);
  // In the clear, from any thread: sends what the socket takes at once,
  // without waiting, and returns how many bytes that was (0 under TLS, or
  // when the socket's buffer is full or the connection broken). The caller
  // makes sure that no Write is in progress and that Close() does not run
  // meanwhile.
  std::size_t SendNow(std::string_view bytes);
  // Shuts the connection down at once (no TLS close_notify), ending any
  // read or write in progress. The descriptor is closed too, unless the
  // stream is released (below): then when the stream goes.
  void Close();
  // Shuts the connection down, from any thread, and keeps the descriptor
  // open until the stream goes (a caller reading it on its own thread must
  // not find its number reused).
  void Shutdown();

  // In the clear, for a client: while the I/O thread neither reads nor
  // writes the stream, its socket is taken out of the io_context's reactor,
  // so that answers arriving for a caller reading on its own thread do not
  // wake the I/O thread as well. On the I/O thread: Hold() before a Read or
  // Write, Release() after; a stream starts held. Under TLS, a no-op.
  void Hold();
  void Release();
  // The connected socket's descriptor, for reads and writes on other
  // threads (after the first Release, or from the start for an accepted
  // socket); fixed for the stream's life.
  int fd() const { return fd_; }

  // Bytes read from the connection past the frame their reader wanted,
  // for whoever reads the next one: a client's readers of answers take
  // turns (one at a time), and each reads what has arrived in one go —
  // one system call for a header and its body, or for several answers
  // sent together. The stream only keeps them.
  struct ReadAhead {
    std::string bytes;
    std::size_t begin = 0;  // bytes before it are consumed
    std::size_t available() const { return bytes.size() - begin; }
    std::string_view view() const { return std::string_view(bytes).substr(begin); }
    void Consume(std::size_t count) {
      begin += count;
      if (begin == bytes.size()) {
        bytes.clear();
        begin = 0;
      }
    }
    // Moves what is left to the front, before reading more behind it.
    void Compact() {
      bytes.erase(0, begin);
      begin = 0;
    }
  };
  ReadAhead& read_ahead() { return read_ahead_; }

 private:
  ReadAhead read_ahead_;
  struct Tls;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<Tls> tls_;
  int fd_ = -1;
  asio::ip::tcp protocol_ = asio::ip::tcp::v4();
  int holders_ = 1;
  bool released_ = false;  // out of the reactor: socket_ holds nothing, fd_ is ours to close
  bool closed_ = false;    // fd_ closed: SendNow sends nothing
};

// "certificate verify failed" and the like: what a TLS error means, for
// error messages.
std::string DescribeError(const error_code& error);

}  // namespace tally::internal

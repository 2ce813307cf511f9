#include "session.h"

#include "tally/limits.h"

namespace tally::server {
namespace {

using std::chrono::milliseconds;
using wire::ErrorCode;
using wire::Operation;

constexpr auto kNever = asio::steady_timer::time_point::max();

bool IsRequestOperation(Operation operation) {
  switch (operation) {
    case Operation::kApply:
    case Operation::kBalance:
    case Operation::kHistory:
    case Operation::kFind:
    case Operation::kStatus:
    case Operation::kMemberStatus:
    case Operation::kSegment:
    case Operation::kBackup:
    case Operation::kTokenCreate:
    case Operation::kTokenList:
    case Operation::kTokenRevoke:
      return true;
    default:
      return false;
  }
}

// Decodes the body of a request after hello. REQUIRES: IsRequestOperation(operation).
Status DecodeRequest(Operation operation, std::string_view body, Request* request) {
  Status decoded = Status::Ok();
  switch (operation) {
    case Operation::kApply: {
      std::vector<Command> commands;
      decoded = wire::DecodeApplyRequest(body, &commands);
      *request = std::move(commands);
      break;
    }
    case Operation::kBalance: {
      std::vector<MemberKey> members;
      decoded = wire::DecodeBalanceRequest(body, &members);
      *request = std::move(members);
      break;
    }
    case Operation::kHistory: {
      wire::HistoryRequest history;
      decoded = wire::DecodeHistoryRequest(body, &history);
      *request = std::move(history);
      break;
    }
    case Operation::kFind: {
      wire::FindRequest find;
      decoded = wire::DecodeFindRequest(body, &find);
      *request = find;
      break;
    }
    case Operation::kMemberStatus: {
      wire::MemberStatusRequest member;
      decoded = wire::DecodeMemberStatusRequest(body, &member);
      *request = member;
      break;
    }
    case Operation::kSegment: {
      wire::SegmentRequest segment;
      decoded = wire::DecodeSegmentRequest(body, &segment);
      *request = std::move(segment);
      break;
    }
    case Operation::kBackup: {
      BackupRequest backup;
      decoded = wire::DecodeBackupRequest(body, &backup.directory);
      *request = std::move(backup);
      break;
    }
    case Operation::kTokenCreate: {
      wire::TokenCreateRequest create;
      decoded = wire::DecodeTokenCreateRequest(body, &create);
      *request = std::move(create);
      break;
    }
    case Operation::kTokenList:
      decoded = wire::DecodeTokenListRequest(body);
      *request = TokenListRequest{};
      break;
    case Operation::kTokenRevoke: {
      TokenRevokeRequest revoke;
      decoded = wire::DecodeTokenRevokeRequest(body, &revoke.name);
      *request = std::move(revoke);
      break;
    }
    default:
      TALLY_ASSERT(operation == Operation::kStatus);
      decoded = wire::DecodeStatusRequest(body);
      *request = StatusRequest{};
      break;
  }
  return decoded;
}

}  // namespace

std::uint64_t RequestCharge(const wire::Header& header) {
  constexpr std::uint64_t kFixed = 4u << 10;          // the request's bookkeeping, a small response
  constexpr std::uint64_t kPageResponse = 256u << 10;  // a history, segment or member status answer
  const std::uint64_t body = header.body_bytes;
  switch (header.operation) {
    case Operation::kApply:
      return kFixed + 3 * body;  // the body, its decoded commands, the results
    case Operation::kBalance:
      return kFixed + 5 * body;  // 12 bytes a member asked, 16 decoded, 40 answered
    case Operation::kHistory:
    case Operation::kSegment:
    case Operation::kMemberStatus:
      return kFixed + body + kPageResponse;
    default:
      return kFixed + body;
  }
}

Session::Session(asio::ip::tcp::socket socket, EngineWorker& worker, SessionOptions options)
    : options_(std::move(options)),
      stream_(std::move(socket), options_.tls.get()),
      worker_(worker),
      read_deadline_(stream_.socket().get_executor()),
      write_deadline_(stream_.socket().get_executor()),
      wake_writer_(stream_.socket().get_executor(), kNever),
      wake_reader_(stream_.socket().get_executor(), kNever) {
  error_code ignored;
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  remote_ = stream_.socket().remote_endpoint(ignored).address();
}

void Session::Start() {
  auto self = shared_from_this();
  const auto executor = stream_.socket().get_executor();
  asio::co_spawn(executor, [self] { return self->Run(); }, asio::detached);
  asio::co_spawn(executor, [self] { return self->Watch(self->read_deadline_); }, asio::detached);
  asio::co_spawn(executor, [self] { return self->Watch(self->write_deadline_); }, asio::detached);
}

asio::awaitable<void> Session::Run() {
  if (stream_.tls()) {
    read_deadline_.After(milliseconds(options_.io_timeout_ms));
    const error_code error = co_await stream_.Handshake(true);
    read_deadline_.Clear();
    if (error || closed_) {
      Close();  // nothing can be said to a peer that does not speak TLS
      co_return;
    }
  }
  auto self = shared_from_this();
  const auto executor = stream_.socket().get_executor();
  asio::co_spawn(executor, [self] { return self->WriteLoop(); }, asio::detached);
  co_await ReadLoop();
}

void Session::Stop() {
  reading_done_ = true;
  error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);  // ends a pending read
  wake_reader_.cancel();
  wake_writer_.cancel();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  reading_done_ = true;
  // Replies that will never be written free their charge now; replies
  // still to come from the worker free theirs when they arrive.
  for (const Outgoing& outgoing : outbox_) Written(outgoing.reply, outgoing.charge);
  outbox_.clear();
  options_.budget->Forget(&wake_reader_);
  stream_.Close();
  read_deadline_.timer.cancel();
  write_deadline_.timer.cancel();
  wake_writer_.cancel();
  wake_reader_.cancel();
}

Session::Deadline::Deadline(const asio::any_io_executor& executor) : timer(executor, kNever) {}

void Session::Deadline::Set(asio::steady_timer::time_point when) {
  due = when;
  if (due < timer.expiry()) timer.expires_at(due);  // cancels Watch's wait: it waits again, less long
}

asio::awaitable<void> Session::Watch(Deadline& deadline) {
  while (!closed_) {
    error_code error;
    co_await deadline.timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
    if (closed_) break;
    const auto now = asio::steady_timer::clock_type::now();
    if (deadline.due <= now) {
      Close();
      break;
    }
    if (deadline.timer.expiry() <= now) deadline.timer.expires_at(deadline.due);  // the deadline moved later
  }
}

asio::awaitable<error_code> Session::Fill(Inbox& inbox, std::size_t bytes) {
  while (inbox.end - inbox.begin < bytes) {
    if (inbox.begin > 0) {  // what was taken makes room
      inbox.bytes.erase(0, inbox.begin);
      inbox.end -= inbox.begin;
      inbox.begin = 0;
    }
    const std::size_t room = std::max(bytes, kReadChunkBytes);
    if (inbox.bytes.size() < room) inbox.bytes.resize(room);
    std::size_t read = 0;
    const error_code error =
        co_await stream_.ReadSome(asio::buffer(inbox.bytes.data() + inbox.end, inbox.bytes.size() - inbox.end), &read);
    if (error) co_return error;
    inbox.end += read;
  }
  co_return error_code();
}

asio::awaitable<void> Session::ReadLoop() {
  Inbox inbox;
  while (!reading_done_) {
    // Backpressure: with the in-flight limit reached, stop reading.
    while (in_flight_ >= kRequestsInFlightPerConnectionMax && !reading_done_) {
      wake_reader_.expires_at(kNever);
      error_code ignored;
      co_await wake_reader_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (reading_done_) break;

    error_code error;
    // Before hello, a connection has the I/O deadline, not the idle one: a
    // flood of silent connections does not hold the connection slots long.
    read_deadline_.After(
        milliseconds(hello_done_ ? options_.idle_timeout_ms : std::min(options_.idle_timeout_ms, options_.io_timeout_ms)));
    error = co_await Fill(inbox, wire::kHeaderBytes);
    if (error) break;  // closed by the peer, a deadline, or Stop()
    wire::Header header;
    if (Status status = wire::DecodeHeader(inbox.View(wire::kHeaderBytes), &header); !status.ok()) {
      SendError(0, ErrorCode::kBadFrame, status.message());
      break;
    }
    if (header.version != wire::kProtocolVersion) {
      SendError(header.request_id, ErrorCode::kUnsupportedVersion,
                "this server speaks protocol version " + std::to_string(wire::kProtocolVersion) + ", not " +
                    std::to_string(header.version));
      break;
    }
    if (!hello_done_ && header.body_bytes > kHelloBodyBytesMax) {
      SendError(header.request_id, ErrorCode::kBadRequest,
                "a first frame of " + std::to_string(header.body_bytes) + " bytes; hello takes at most " +
                    std::to_string(kHelloBodyBytesMax));
      break;
    }
    // The server-wide budget: wait (not reading) until this request fits.
    const std::uint64_t charge = RequestCharge(header);
    read_deadline_.Clear();
    while (!reading_done_ && !options_.budget->TryCharge(charge, header.body_bytes > kLargeRequestBodyBytes)) {
      wake_reader_.expires_at(kNever);
      options_.budget->Wait(&wake_reader_);
      error_code ignored;
      co_await wake_reader_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (reading_done_) break;
    const std::size_t frame_bytes = wire::kHeaderBytes + header.body_bytes;
    read_deadline_.After(milliseconds(options_.io_timeout_ms));
    error = co_await Fill(inbox, frame_bytes);
    read_deadline_.Clear();
    const std::string_view body = inbox.View(frame_bytes).substr(wire::kHeaderBytes);
    Status checked = error ? Status::Unavailable(error.message()) : wire::CheckBody(header, body);
    if (error || !checked.ok() || !Handle(header, body, charge)) {
      if (!error && !checked.ok()) SendError(header.request_id, ErrorCode::kBadFrame, checked.message());
      options_.budget->Release(charge);  // not in flight: Handle takes the charge only when it submits
      break;
    }
    inbox.begin += frame_bytes;
    // Memory goes back as requests are answered, not when the connection ends.
    if (inbox.bytes.size() > kLargeRequestBodyBytes && inbox.end - inbox.begin <= kReadChunkBytes) {
      std::string rest = inbox.bytes.substr(inbox.begin, inbox.end - inbox.begin);
      rest.resize(kReadChunkBytes);
      inbox.bytes.swap(rest);
      inbox.end -= inbox.begin;
      inbox.begin = 0;
    }
  }
  reading_done_ = true;
  read_deadline_.Clear();
  options_.budget->Forget(&wake_reader_);
  // Answer what is in flight, then close (WriteLoop closes once drained).
  wake_writer_.cancel();
}

bool Session::Handle(const wire::Header& header, std::string_view body, std::uint64_t charge) {
  const std::uint64_t request_id = header.request_id;
  if (header.flags != 0) {
    SendError(request_id, ErrorCode::kBadFrame, "a request has no flags set");
    return false;
  }
  if (!hello_done_) {
    wire::HelloRequest hello;
    if (header.operation != Operation::kHello) {
      SendError(request_id, ErrorCode::kHelloRequired, "the first request must be hello");
      return false;
    }
    if (!wire::DecodeHelloRequest(body, &hello).ok()) {
      SendError(request_id, ErrorCode::kBadRequest, "malformed hello");
      return false;
    }
    if (hello.version != wire::kProtocolVersion) {
      SendError(request_id, ErrorCode::kUnsupportedVersion,
                "this server speaks protocol version " + std::to_string(wire::kProtocolVersion));
      return false;
    }
    if (options_.ledger != nullptr) {
      Result<bool> tokens = options_.ledger->HasTokens();
      if (tokens.ok() && *tokens) {
        Result<std::optional<TokenInfo>> token = options_.ledger->Authenticate(hello.credentials);
        if (!token.ok() || !token->has_value()) {
          SendError(request_id, ErrorCode::kUnauthorized, "hello needs the secret of an active token as credentials");
          return false;
        }
        identity_ = **token;
      } else if (!tokens.ok()) {
        SendError(request_id, ErrorCode::kUnavailable, tokens.status().ToString());
        return false;
      }
    }
    hello_done_ = true;
    ++in_flight_;
    Send(Operation::kHello, request_id, wire::EncodeHelloResponse({wire::kProtocolVersion, options_.server_name}),
         true, charge);
    return true;
  }

  Request request;
  if (!IsRequestOperation(header.operation)) {
    SendError(request_id, ErrorCode::kUnknownOperation,
              "unknown operation " + std::to_string(static_cast<int>(header.operation)));
    return false;
  }
  const Status decoded = DecodeRequest(header.operation, body, &request);
  if (!decoded.ok()) {
    SendError(request_id, ErrorCode::kBadRequest, decoded.message());
    return false;
  }
  if (auto* list = std::get_if<TokenListRequest>(&request)) list->by = identity_;
  if (auto* revoke = std::get_if<TokenRevokeRequest>(&request)) revoke->by = identity_;
  if (std::string refusal = Refusal(request); !refusal.empty()) {
    // Answered through the worker, after the requests read before it
    // (not held for their write, though: docs/protocol.md, on order).
    request = DeniedRequest{std::move(refusal)};
  }
  ++in_flight_;
  auto self = shared_from_this();
  worker_.Submit(std::move(request), [self, request_id, charge](Reply reply) {
    // On the I/O thread (a round it runs), the reply is sent at once,
    // before the thread reads further requests — as a single-threaded
    // server answers a group before it reads the next; on the worker's or
    // the log writer's thread it is handed to the I/O thread.
    asio::dispatch(self->stream_.socket().get_executor(), [self, request_id, charge, reply = std::move(reply)] {
      self->Send(reply.operation, request_id, reply.body, true, charge);
    });
  });
  return true;
}

std::string Session::Refusal(const Request& request) const {
  if (!identity_) return {};
  const TokenInfo& token = *identity_;
  const std::string who = "token " + token.name + " (" + std::string(RoleName(token.role)) + ")";
  if (const auto* commands = std::get_if<std::vector<Command>>(&request)) {
    for (const Command& command : *commands) {
      if (!MayApply(token, command)) {
        return who + " may not " + std::string(CommandKindName(command.kind)) + " in chain " +
               std::to_string(command.chain) + "; nothing of the request was applied";
      }
    }
    return {};
  }
  auto chain_refusal = [&](std::uint32_t chain) {
    return MayQuery(token, chain) ? std::string() : who + " does not reach chain " + std::to_string(chain);
  };
  if (const auto* members = std::get_if<std::vector<MemberKey>>(&request)) {
    for (const MemberKey& member : *members) {
      if (std::string refusal = chain_refusal(member.chain); !refusal.empty()) return refusal;
    }
    return {};
  }
  if (const auto* history = std::get_if<wire::HistoryRequest>(&request)) return chain_refusal(history->member.chain);
  if (const auto* find = std::get_if<wire::FindRequest>(&request)) return chain_refusal(find->chain);
  if (const auto* member = std::get_if<wire::MemberStatusRequest>(&request)) return chain_refusal(member->member.chain);
  if (const auto* segment = std::get_if<wire::SegmentRequest>(&request)) return chain_refusal(segment->query.chain);
  if (const auto* create = std::get_if<wire::TokenCreateRequest>(&request)) {
    if (MayManageTokens(token, create->chain)) return {};
    return who + (create->chain == 0 ? " may not create tokens for every chain" : " may not create tokens in chain " +
                                                                                     std::to_string(create->chain));
  }
  if ((std::holds_alternative<TokenListRequest>(request) || std::holds_alternative<TokenRevokeRequest>(request)) &&
      token.role != Role::kAdmin) {
    return who + " may not manage tokens (an admin may)";
  }
  if (std::holds_alternative<BackupRequest>(request) && !MayBackup(token)) {
    return who + " may not take backups (an admin of every chain may)";
  }
  return {};  // status: any token
}

void Session::Send(Operation operation, std::uint64_t request_id, std::string_view body, bool reply,
                   std::uint64_t charge) {
  if (closed_) {
    Written(reply, charge);  // dropped
    return;
  }
  Outgoing outgoing{std::string(), reply, charge};
  wire::AppendFrame(operation, wire::kResponse, request_id, body, &outgoing.frame);
  if (options_.cork != nullptr && options_.cork->active) {
    // Given in a round the I/O thread runs: sent with the round's others.
    outbox_.push_back(std::move(outgoing));
    if (!held_) {
      held_ = true;
      options_.cork->held.push_back(shared_from_this());
    }
    return;
  }
  if (outbox_.empty() && !writing_) {
    // The write loop is idle: send now what the socket takes, sparing the
    // reply two trips through the I/O thread's queue (waking the loop, and
    // the completion of its write).
    CountSend();
    const std::size_t sent = stream_.SendNow(outgoing.frame);
    if (sent == outgoing.frame.size()) {
      Written(reply, charge);
      if (reading_done_ && in_flight_ == 0) wake_writer_.cancel();  // everything answered: the loop closes
      return;
    }
    outgoing.frame.erase(0, sent);
  }
  outbox_.push_back(std::move(outgoing));
  wake_writer_.cancel();
}

void Session::SendHeld() {
  held_ = false;
  if (closed_ || outbox_.empty()) return;  // Close() let go of what it held
  if (!writing_) {
    // The write loop is idle: send now what the socket takes, as Send()
    // does for one reply.
    std::string joined;
    for (const Outgoing& outgoing : outbox_) joined += outgoing.frame;
    CountSend();
    std::size_t sent = stream_.SendNow(joined);
    while (!outbox_.empty() && sent >= outbox_.front().frame.size()) {
      sent -= outbox_.front().frame.size();
      Written(outbox_.front().reply, outbox_.front().charge);
      outbox_.pop_front();
    }
    if (outbox_.empty()) {
      if (reading_done_ && in_flight_ == 0) wake_writer_.cancel();  // everything answered: the loop closes
      return;
    }
    outbox_.front().frame.erase(0, sent);
  }
  wake_writer_.cancel();
}

void Session::CountSend() {
  if (options_.cork != nullptr) options_.cork->sends.fetch_add(1, std::memory_order_relaxed);
}

void ReplyCork::SendHeld() {
  std::vector<std::shared_ptr<Session>> sessions;
  sessions.swap(held);
  for (const std::shared_ptr<Session>& session : sessions) session->SendHeld();
}

void Session::Written(bool reply, std::uint64_t charge) {
  if (!reply) return;
  --in_flight_;
  options_.budget->Release(charge);
  wake_reader_.cancel();  // a slot is free
}

void Session::SendError(std::uint64_t request_id, ErrorCode code, const std::string& message) {
  Send(Operation::kError, request_id, wire::EncodeErrorResponse({code, message}));
}

asio::awaitable<void> Session::WriteLoop() {
  while (!closed_) {
    if (outbox_.empty()) {
      if (reading_done_ && in_flight_ == 0) break;  // everything answered
      wake_writer_.expires_at(kNever);
      error_code ignored;
      co_await wake_writer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      continue;
    }
    // Write everything queued so far in one go.
    std::vector<Outgoing> frames(std::make_move_iterator(outbox_.begin()), std::make_move_iterator(outbox_.end()));
    outbox_.clear();
    std::vector<asio::const_buffer> buffers;
    for (const Outgoing& outgoing : frames) buffers.push_back(asio::buffer(outgoing.frame));
    error_code error;
    write_deadline_.After(milliseconds(options_.io_timeout_ms));
    writing_ = true;
    CountSend();
    error = co_await stream_.Write(buffers);
    writing_ = false;
    write_deadline_.Clear();
    for (const Outgoing& outgoing : frames) Written(outgoing.reply, outgoing.charge);
    if (error) break;
  }
  Close();
}

}  // namespace tally::server

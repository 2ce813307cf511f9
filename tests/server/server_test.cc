// tallyd end to end, through real sockets on loopback: the client library for
// every operation and for concurrency, raw sockets for malformed frames.
#include <gtest/gtest.h>

#include <rocksdb/env.h>
#include <xxhash.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "server.h"
#include "tally/client.h"
#include "tally/program.h"
#include "tally/internal/asio.h"
#include "tally/internal/encoding.h"
#include "tally/protocol.h"
#include "tally/replay.h"
#include "../engine/fillable_file_system.h"
#include "../engine/test_util.h"
#include "test_certificates.h"

namespace tally {
namespace {

using testing::Earn;
using testing::Id;
using testing::Redeem;
using testing::Reverse;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void TearDown() override { StopServer(); }

  void StartServer(server::ServerOptions options = {}, OpenOptions open_options = {}) {
    open_options.queries_answer_early = true;  // as tallyd opens it
    auto ledger = Ledger::Open(directory_.path(), std::move(open_options));
    ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
    ledger_ = std::move(ledger.value());
    if (options.port == server::ServerOptions().port) options.port = 0;
    options.handle_signals = false;
    auto bound = server::Server::Bind(*ledger_, options);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    server_ = std::move(bound.value());
    port_ = server_->port();
    thread_ = std::thread([this] { server_->Run(); });
  }

  void StopServer() {
    if (!server_) return;
    server_->Stop();
    thread_.join();
    server_.reset();
    ledger_.reset();
  }

  // Restarts the server with TLS, presenting `certificate` and `key`.
  void StartTlsServer(const std::string& certificate, const std::string& key) {
    StopServer();
    server::ServerOptions options;
    options.tls_certificate_file = certificate;
    options.tls_key_file = key;
    StartServer(options);
  }

  // Client options for TLS, trusting the certificates in `ca_file`.
  static ClientOptions Trusting(const std::string& ca_file) {
    ClientOptions options;
    options.tls = true;
    options.tls_ca_file = ca_file;
    return options;
  }

  // A connection presenting `secret`, or why there is none.
  Result<std::unique_ptr<Client>> ConnectWith(const std::string& secret) {
    ClientOptions options;
    options.port = port_;
    options.credentials = secret;
    return Client::Connect(options);
  }

  std::unique_ptr<Client> Connect(ClientOptions options = {}) {
    options.port = port_;
    auto client = Client::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client.value()) : nullptr;
  }

  testing::TemporaryDirectory directory_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

// A blocking raw connection, for frames the client library would never send.
class RawConnection {
 public:
  // `from`: the local address to connect from (any of 127.0.0.0/8).
  explicit RawConnection(std::uint16_t port, const char* from = nullptr) : socket_(io_) {
    if (from != nullptr) {
      socket_.open(asio::ip::tcp::v4());
      socket_.bind({asio::ip::make_address(from), 0});
    }
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void Send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }

  void SendFrame(wire::Operation operation, std::string_view body, std::uint64_t request_id = 1) {
    std::string frame;
    wire::AppendFrame(operation, 0, request_id, body, &frame);
    Send(frame);
  }

  void Hello() {
    SendFrame(wire::Operation::kHello, wire::EncodeHelloRequest({wire::kProtocolVersion, "raw", ""}), 0);
    wire::Header header;
    std::string body;
    ASSERT_TRUE(ReadFrame(&header, &body));
    ASSERT_EQ(header.operation, wire::Operation::kHello);
  }

  // What one read returns: whatever has arrived, once something has.
  std::string ReadSome() {
    std::string bytes(1 << 16, '\0');
    error_code error;
    bytes.resize(socket_.read_some(asio::buffer(bytes), error));
    return bytes;
  }

  // False at end of stream.
  bool ReadFrame(wire::Header* header, std::string* body) {
    std::string header_bytes(wire::kHeaderBytes, '\0');
    error_code error;
    asio::read(socket_, asio::buffer(header_bytes), error);
    if (error) return false;
    EXPECT_TRUE(wire::DecodeHeader(header_bytes, header).ok());
    body->resize(header->body_bytes);
    asio::read(socket_, asio::buffer(*body), error);
    return !error;
  }

  // Reads the next frame, which must answer apply request `request_id`, and
  // returns its results.
  std::vector<CommandResult> ReadApplyResults(std::uint64_t request_id) {
    wire::Header header;
    std::string body;
    std::vector<CommandResult> results;
    if (!ReadFrame(&header, &body)) {
      ADD_FAILURE() << "no answer to request " << request_id;
      return results;
    }
    EXPECT_EQ(header.request_id, request_id);
    EXPECT_TRUE(wire::DecodeApplyResponse(body, &results).ok());
    return results;
  }

  // Reads one frame, which must be an error with `code`, then end of stream.
  void ExpectErrorThenClose(wire::ErrorCode code) {
    wire::Header header;
    std::string body;
    ASSERT_TRUE(ReadFrame(&header, &body)) << "no error frame";
    ASSERT_EQ(header.operation, wire::Operation::kError);
    wire::ErrorResponse error;
    ASSERT_TRUE(wire::DecodeErrorResponse(body, &error).ok());
    EXPECT_EQ(error.code, code) << error.message;
    ExpectClosed();
  }

  void ExpectClosed() {
    char byte;
    error_code error;
    asio::read(socket_, asio::buffer(&byte, 1), error);
    EXPECT_EQ(error, asio::error::eof) << error.message();
  }

  void Close() { socket_.close(); }
  void StopSending() { socket_.shutdown(asio::ip::tcp::socket::shutdown_send); }

  // True once the server has closed the connection (what it sent before
  // is skipped).
  bool ServerClosed() {
    char byte;
    error_code error;
    while (!error) asio::read(socket_, asio::buffer(&byte, 1), error);
    return error == asio::error::eof || error == asio::error::connection_reset;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

TEST_F(ServerTest, EveryOperationEndToEnd) {
  auto client = Connect();
  ASSERT_TRUE(client);
  auto earned = client->Submit(Earn(1, 1, 42, 100));
  ASSERT_TRUE(earned.ok()) << earned.status().ToString();
  EXPECT_EQ(earned->code, ResultCode::kOk);
  EXPECT_EQ(earned->sequence, 1u);
  EXPECT_EQ(earned->balance, 100);
  EXPECT_EQ(*client->Submit(Earn(1, 1, 42, 100)), *earned) << "a retry returns the original";
  EXPECT_EQ(client->Submit(Earn(1, 1, 42, 5))->code, ResultCode::kIdConflict);
  auto batch = client->Apply(std::vector<Command>{Redeem(2, 1, 42, 30), Reverse(3, 1, 42, 30, 2),
                                                  Redeem(4, 1, 42, 1000), Earn(5, 0, 42, 1)});
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 4u);
  EXPECT_EQ((*batch)[0].balance, 70);
  EXPECT_EQ((*batch)[1].balance, 100);
  EXPECT_EQ((*batch)[2].code, ResultCode::kInsufficientPoints);
  EXPECT_EQ((*batch)[3].code, ResultCode::kChainInvalid);

  auto balance = client->GetBalance({1, 42});
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->points, 100);
  EXPECT_EQ(balance->last_sequence, 4u);

  std::vector<MemberKey> members = {{1, 42}, {1, 43}, {2, 42}};
  auto balances = client->GetBalances(members);
  ASSERT_TRUE(balances.ok()) << balances.status().ToString();
  ASSERT_EQ(balances->size(), 3u);
  EXPECT_EQ((*balances)[0].points, 100);
  EXPECT_EQ((*balances)[1].last_sequence, 0u) << "a member with no events";
  EXPECT_EQ(client->GetBalance({0, 42}).status().code(), Status::Code::kInvalidArgument);

  auto page = client->History({1, 42}, "", 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].code, ResultCode::kInsufficientPoints);
  auto rest = client->History({1, 42}, page->next_cursor, 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->entries.size(), 2u);
  EXPECT_TRUE(rest->next_cursor.empty());
  EXPECT_EQ(client->History({1, 42}, "not-a-cursor", 10).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(client->History({1, 42}, "", 0).status().code(), Status::Code::kInvalidArgument);

  auto found = client->Find(1, Id(3));
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((**found).sequence, 3u);
  EXPECT_FALSE(client->Find(1, Id(99))->has_value());

  auto status = client->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->last_sequence, 4u);
  EXPECT_EQ(status->members, 1u);
  EXPECT_EQ(status->connections, 1u);
}

TEST_F(ServerTest, LoyaltyCommandsAndMemberStatusEndToEnd) {
  auto client = Connect();
  ASSERT_TRUE(client);
  Program program;
  program.rate_minor = 100;
  program.pending_days = 14;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 100, 1500}};
  program.campaigns = {Campaign{5, 0, ~std::uint64_t{0}, 0, 25, 0, false}};
  Command set_program;
  set_program.id = Id(1);
  set_program.kind = CommandKind::kProgram;
  set_program.chain = 3;
  set_program.program = program.Encode();
  auto version = client->Submit(set_program);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->points, 1);

  Command purchase;
  purchase.id = Id(2);
  purchase.kind = CommandKind::kEarnPurchase;
  purchase.chain = 3;
  purchase.member = 42;
  purchase.order_reference = 900;
  purchase.amount_minor = 20'000;
  purchase.campaigns = {5};
  auto earned = client->Submit(purchase);
  ASSERT_TRUE(earned.ok());
  EXPECT_EQ(earned->points, 225) << "base 200 + the named campaign's 25";

  Command gift = Earn(3, 3, 42, 500);
  Command hold = Earn(4, 3, 42, 300);
  hold.kind = CommandKind::kHold;
  hold.duration_seconds = 600;
  auto applied = client->Apply(std::vector<Command>{gift, hold});
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ((*applied)[1].code, ResultCode::kOk);

  auto balance = client->GetBalance({3, 42});
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance->points, 725);
  EXPECT_EQ(balance->pending, 225);
  EXPECT_EQ(balance->held, 300);
  EXPECT_EQ(balance->spendable, 200);

  auto status = client->GetMemberStatus({3, 42}, ~std::uint64_t{0});
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->tier_name, "silver");
  EXPECT_EQ(status->qualifying_points, 200);
  EXPECT_EQ(status->holds, 1u);
  EXPECT_EQ(status->lots_total, 2u);
  EXPECT_EQ(status->balance.held, 300);

  auto page = client->History({3, 42}, "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->entries[2].shares, (std::vector<CampaignShare>{{5, 25}}));
  EXPECT_EQ(page->entries[2].base_points, 200);
  EXPECT_EQ(page->entries[2].command, purchase);

  auto segment = client->FindMembers(SegmentQuery{3, SegmentKind::kNearNextTier, 0, -1, 1000, 0}, "", 10);
  ASSERT_TRUE(segment.ok()) << segment.status().ToString();
  EXPECT_TRUE(segment->members.empty()) << "member 42 is silver, the top tier";
  segment = client->FindMembers(SegmentQuery{3, SegmentKind::kInactive, 30, 1, 0, 0}, "", 10);
  ASSERT_TRUE(segment.ok());
  EXPECT_TRUE(segment->members.empty()) << "member 42 bought just now";
  segment = client->FindMembers(SegmentQuery{3, SegmentKind::kInactive, 30, 0, 0, 0}, "", 10);
  ASSERT_TRUE(segment.ok());
  ASSERT_TRUE(segment->next_cursor.empty()) << "one page scans the whole small table";
  segment = client->FindMembers(SegmentQuery{3, SegmentKind::kExpiring, 0, -1, 0, ~std::uint64_t{0}}, "", 10);
  ASSERT_TRUE(segment.ok());
  EXPECT_TRUE(segment->members.empty()) << "nothing expires without an expiry policy";
  EXPECT_EQ(client->FindMembers(SegmentQuery{3, SegmentKind::kInactive, 0, 1, 0, 0}, "zz", 10).status().code(),
            Status::Code::kInvalidArgument);

  Program large = program;
  for (std::uint64_t id = 6; large.campaigns.size() < kCampaignsMax; ++id) {
    large.campaigns.push_back(Campaign{id, 0, 1, 0, 1, 0, false});
  }
  set_program.program = large.Encode();
  std::vector<Command> too_big(kBatchCommandsMax / 8, set_program);  // about 2.5 MB
  EXPECT_EQ(client->Apply(too_big).status().code(), Status::Code::kInvalidArgument)
      << "a batch too large for one request is refused before it is sent";
}

TEST_F(ServerTest, ABackupTakenUnderLoadIsConsistentAndServes) {
  auto client = Connect();
  ASSERT_TRUE(client);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int thread = 0; thread < 4; ++thread) {
    writers.emplace_back([&, thread] {
      auto own = Connect();
      for (std::uint64_t index = 1; !stop.load(); ++index) {
        auto result = own->Submit(Earn((std::uint64_t(thread) << 32) | index, 1, index % 100, 1));
        if (!result.ok() || result->code != ResultCode::kOk) failures.fetch_add(1);
      }
    });
  }
  // Let the writers get going: wait until the ledger has events.
  while (client->GetStatus()->last_sequence < 500) std::this_thread::yield();
  const std::string copy = directory_.Child("backup");
  auto head = client->Backup(copy);
  stop = true;
  for (std::thread& writer : writers) writer.join();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(head->first, 500u);
  EXPECT_EQ(client->Backup(copy).status().code(), Status::Code::kInvalidArgument) << "it exists already";

  ReplayOptions options;
  options.head_sequence = head->first;
  options.head_hash = head->second;
  auto audited = Replay(copy, options);
  ASSERT_TRUE(audited.ok()) << audited.status().ToString();
  EXPECT_EQ(audited->last_sequence, head->first) << "the copy ends exactly at the head returned";
  EXPECT_EQ(audited->chain_head, head->second);
  auto restored = Ledger::Open(copy);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  std::int64_t total = 0;
  for (std::uint64_t member = 0; member < 100; ++member) total += (*restored)->GetBalance({1, member})->points;
  EXPECT_EQ(total, static_cast<std::int64_t>(head->first)) << "one point per event";
}

// docs/security.md: with tokens, every connection presents one, and reaches
// only its role's requests in its chain; nothing refused changes anything.
TEST_F(ServerTest, TokensLimitEachConnectionToItsRoleAndChain) {
  auto open = Connect();  // no tokens yet: everything allowed (on loopback)
  ASSERT_TRUE(open);
  ASSERT_EQ(open->Submit(Earn(1, 1, 42, 100))->code, ResultCode::kOk);
  const std::string reader = *ledger_->CreateToken("reader", Role::kReader, 1);
  const std::string writer = *ledger_->CreateToken("writer", Role::kWriter, 1);
  const std::string admin = *ledger_->CreateToken("admin", Role::kAdmin, 0);
  const std::string gone = *ledger_->CreateToken("gone", Role::kAdmin, 0);
  ASSERT_TRUE(ledger_->RevokeToken("gone").ok());

  EXPECT_EQ(ConnectWith("").status().code(), Status::Code::kPermissionDenied) << "no token";
  EXPECT_EQ(ConnectWith("tly_0000").status().code(), Status::Code::kPermissionDenied) << "an unknown token";
  EXPECT_EQ(ConnectWith(gone).status().code(), Status::Code::kPermissionDenied) << "a revoked token";

  auto as_reader = std::move(ConnectWith(reader).value());
  EXPECT_EQ(as_reader->GetBalance({1, 42})->points, 100);
  EXPECT_EQ(as_reader->Submit(Earn(2, 1, 42, 5)).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_reader->GetBalance({2, 42}).status().code(), Status::Code::kPermissionDenied) << "another chain";
  EXPECT_EQ(as_reader->History({2, 42}, "", 10).status().code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(as_reader->GetStatus().ok());
  EXPECT_EQ(as_reader->GetBalance({1, 42})->points, 100) << "the connection stays open after a refusal";

  auto as_writer = std::move(ConnectWith(writer).value());
  EXPECT_EQ(as_writer->Submit(Earn(3, 1, 42, 5))->code, ResultCode::kOk);
  auto mixed = as_writer->Apply(std::vector<Command>{Earn(4, 1, 42, 5), Earn(5, 2, 42, 5)});
  EXPECT_EQ(mixed.status().code(), Status::Code::kPermissionDenied) << "one command of another chain";
  Command program;
  program.id = Id(6);
  program.kind = CommandKind::kProgram;
  program.chain = 1;
  program.program = Program{}.Encode();
  EXPECT_EQ(as_writer->Submit(program).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_writer->Backup(directory_.Child("copy")).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_writer->GetBalance({1, 42})->points, 105) << "nothing of the refused batch was applied";
  EXPECT_FALSE(as_writer->Find(1, Id(4))->has_value());

  auto as_admin = std::move(ConnectWith(admin).value());
  EXPECT_EQ(as_admin->Submit(program)->code, ResultCode::kOk);
  EXPECT_EQ(as_admin->Submit(Earn(7, 2, 42, 5))->code, ResultCode::kOk) << "every chain";
  EXPECT_TRUE(as_admin->Backup(directory_.Child("copy")).ok());
  EXPECT_EQ(open->GetBalance({1, 42})->points, 105) << "a connection opened before the tokens keeps its access";
}

TEST_F(ServerTest, TokensAreManagedThroughAnAdminConnection) {
  // Without tokens (loopback only) anyone may create the first.
  auto open = Connect();
  ASSERT_TRUE(open);
  auto root = open->CreateToken("root", Role::kAdmin, 0);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(ConnectWith("").status().code(), Status::Code::kPermissionDenied) << "tokens count from the next connection";

  auto as_root = std::move(ConnectWith(*root).value());
  const std::string chain_admin = *as_root->CreateToken("chain-1-admin", Role::kAdmin, 1);
  const std::string checkout = *as_root->CreateToken("checkout", Role::kWriter, 1);
  ASSERT_TRUE(as_root->CreateToken("other-chain", Role::kReader, 2).ok());
  EXPECT_EQ(as_root->CreateToken("checkout", Role::kReader, 1).status().code(), Status::Code::kInvalidArgument)
      << "names are unique";
  EXPECT_EQ(as_root->ListTokens()->size(), 4u);

  // A new token works at once, without a restart.
  auto as_checkout = std::move(ConnectWith(checkout).value());
  EXPECT_EQ(as_checkout->Submit(Earn(1, 1, 42, 100))->balance, 100);
  EXPECT_EQ(as_checkout->ListTokens().status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_checkout->CreateToken("mine", Role::kWriter, 1).status().code(), Status::Code::kPermissionDenied);

  // An admin of chain 1 manages chain 1's tokens and no others.
  auto as_chain_admin = std::move(ConnectWith(chain_admin).value());
  EXPECT_TRUE(as_chain_admin->CreateToken("reports", Role::kReader, 1).ok());
  EXPECT_EQ(as_chain_admin->CreateToken("x", Role::kReader, 2).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_chain_admin->CreateToken("y", Role::kAdmin, 0).status().code(), Status::Code::kPermissionDenied);
  auto listed = as_chain_admin->ListTokens();
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> names;
  for (const TokenInfo& token : *listed) names.push_back(token.name);
  EXPECT_EQ(names, (std::vector<std::string>{"chain-1-admin", "checkout", "reports"}));
  EXPECT_EQ(as_chain_admin->RevokeToken("other-chain").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_chain_admin->RevokeToken("root").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(as_chain_admin->RevokeToken("nobody").code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(as_chain_admin->RevokeToken("checkout").ok());
  EXPECT_EQ(ConnectWith(checkout).status().code(), Status::Code::kPermissionDenied) << "revoked: refused at hello";
  EXPECT_EQ(as_checkout->GetBalance({1, 42})->points, 100) << "an open connection keeps what it was given";
  EXPECT_EQ(ledger_->ListTokens()->size(), 5u) << "all of it is in the ledger's token records";
}

TEST_F(ServerTest, OnlyLoopbackWithoutTokens) {
  server::ServerOptions options;
  options.host = "0.0.0.0";
  options.port = 0;
  options.handle_signals = false;
  auto refused = server::Server::Bind(*ledger_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("needs tokens"), std::string::npos) << refused.status().ToString();
  ASSERT_TRUE(ledger_->CreateToken("ops", Role::kAdmin, 0).ok());
  auto bound = server::Server::Bind(*ledger_, options);
  EXPECT_TRUE(bound.ok()) << bound.status().ToString();
}

TEST_F(ServerTest, ConcurrentPipelinedClientsGetExactBalances) {
  constexpr int kThreads = 16;
  constexpr int kCommandsPerThread = 2000;
  constexpr std::uint64_t kMembers = 50;
  auto shared = Connect();  // half the threads share one client, so their calls coalesce
  ASSERT_TRUE(shared);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      std::unique_ptr<Client> own = thread % 2 == 0 ? Connect() : nullptr;
      Client& client = own ? *own : *shared;
      std::vector<std::future<Result<CommandResult>>> futures;
      for (int index = 0; index < kCommandsPerThread; ++index) {
        const std::uint64_t id = (static_cast<std::uint64_t>(thread) << 32) | (index + 1);
        futures.push_back(client.SubmitAsync(Earn(id, 7, id % kMembers, 3)));
      }
      for (auto& future : futures) {
        auto result = future.get();
        if (!result.ok() || result->code != ResultCode::kOk) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  // Balance reads from many callers, coalesced into shared requests.
  std::vector<std::future<Result<Balance>>> reads;
  for (std::uint64_t member = 0; member < kMembers; ++member) reads.push_back(shared->GetBalanceAsync({7, member}));
  std::int64_t total = 0;
  for (auto& read : reads) total += read.get()->points;
  EXPECT_EQ(total, std::int64_t{kThreads} * kCommandsPerThread * 3);
  EXPECT_EQ(shared->GetStatus()->last_sequence, std::uint64_t{kThreads} * kCommandsPerThread);
}

struct BadFrame {
  const char* name;
  std::function<std::string()> bytes;
  wire::ErrorCode code;
};

TEST_F(ServerTest, MalformedFramesGetAnErrorCloseTheConnectionAndChangeNothing) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Submit(Earn(1, 1, 42, 100))->code, ResultCode::kOk);
  const std::string apply_body = wire::EncodeApplyRequest({Earn(2, 1, 42, 5)});
  auto frame = [](wire::Operation operation, std::string_view body) {
    std::string bytes;
    wire::AppendFrame(operation, 0, 5, body, &bytes);
    return bytes;
  };
  const std::vector<BadFrame> cases = {
      {"bad magic", [&] { std::string f = frame(wire::Operation::kApply, apply_body); f[0] = 'X'; return f; },
       wire::ErrorCode::kBadFrame},
      {"header checksum", [&] { std::string f = frame(wire::Operation::kApply, apply_body); f[33] ^= 1; return f; },
       wire::ErrorCode::kBadFrame},
      {"body checksum", [&] { std::string f = frame(wire::Operation::kApply, apply_body); f.back() ^= 1; return f; },
       wire::ErrorCode::kBadFrame},
      {"unknown operation", [&] { return frame(static_cast<wire::Operation>(14), apply_body); },
       wire::ErrorCode::kUnknownOperation},
      {"undecodable body", [&] { return frame(wire::Operation::kApply, apply_body.substr(0, 50)); },
       wire::ErrorCode::kBadRequest},
      {"oversized batch", [&] {
         std::string body = apply_body;
         internal::StoreFixed32(body.data(), kBatchCommandsMax + 1);
         return frame(wire::Operation::kApply, body);
       },
       wire::ErrorCode::kBadRequest},
  };
  for (const BadFrame& bad : cases) {
    SCOPED_TRACE(bad.name);
    RawConnection raw(port_);
    raw.Hello();
    raw.Send(bad.bytes());
    raw.ExpectErrorThenClose(bad.code);
  }
  // An oversized frame is refused from its header alone.
  {
    RawConnection raw(port_);
    raw.Hello();
    std::string header = frame(wire::Operation::kApply, "").substr(0, wire::kHeaderBytes);
    internal::StoreFixed32(header.data() + 16, static_cast<std::uint32_t>(wire::kBodyBytesMax + 1));
    internal::StoreFixed64(header.data() + 32, XXH3_64bits(header.data(), 32));
    raw.Send(header);
    raw.ExpectErrorThenClose(wire::ErrorCode::kBadFrame);
  }
  // The first request must be hello, in a version the server speaks.
  {
    RawConnection raw(port_);
    raw.SendFrame(wire::Operation::kApply, apply_body);
    raw.ExpectErrorThenClose(wire::ErrorCode::kHelloRequired);
  }
  {
    RawConnection raw(port_);
    raw.SendFrame(wire::Operation::kHello, wire::EncodeHelloRequest({wire::kProtocolVersion + 1, "future", ""}));
    raw.ExpectErrorThenClose(wire::ErrorCode::kUnsupportedVersion);
  }
  // Truncated: half a header, or a header and half its body, then hang up.
  {
    RawConnection raw(port_);
    raw.Hello();
    raw.Send(frame(wire::Operation::kApply, apply_body).substr(0, 20));
    raw.Close();
  }
  {
    RawConnection raw(port_);
    raw.Hello();
    const std::string full = frame(wire::Operation::kApply, apply_body);
    raw.Send(full.substr(0, full.size() - 10));
    raw.Close();
  }
  // Nothing changed, and the well-behaved client was never disturbed.
  EXPECT_EQ(client->GetBalance({1, 42})->points, 100);
  EXPECT_EQ(client->GetStatus()->last_sequence, 1u);
  EXPECT_FALSE(client->Find(1, Id(2))->has_value());
  EXPECT_EQ(client->Submit(Earn(3, 1, 42, 1))->balance, 101);
}

TEST_F(ServerTest, PipelinedRawRequestsAreAllAnsweredInOrderDespiteBackpressure) {
  RawConnection raw(port_);
  raw.Hello();
  // More requests than may be in flight, sent before reading any answer.
  constexpr std::uint64_t kRequests = 3 * kRequestsInFlightPerConnectionMax;
  std::string frames;
  for (std::uint64_t request = 1; request <= kRequests; ++request) {
    wire::AppendFrame(wire::Operation::kApply, 0, request, wire::EncodeApplyRequest({Earn(request, 1, 9, 2)}),
                      &frames);
  }
  raw.Send(frames);
  for (std::uint64_t request = 1; request <= kRequests; ++request) {
    const std::vector<CommandResult> results = raw.ReadApplyResults(request);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].balance, static_cast<std::int64_t>(2 * request));
  }
}

// Requests that arrive together make one round, and the round's answers to
// one connection leave in one send: the first read returns all of them.
TEST_F(ServerTest, ARoundsAnswersToOneConnectionLeaveTogether) {
  RawConnection raw(port_);
  raw.Hello();
  std::string frames;
  for (std::uint64_t request = 1; request <= 3; ++request) {
    wire::AppendFrame(wire::Operation::kApply, 0, request, wire::EncodeApplyRequest({Earn(request, 1, 11, 5)}),
                      &frames);
  }
  const std::uint64_t sends_before = server_->sends();
  raw.Send(frames);  // one write: one read at the server
  const std::string answers = raw.ReadSome();
  std::size_t offset = 0;
  for (std::uint64_t request = 1; request <= 3; ++request) {
    ASSERT_GE(answers.size(), offset + wire::kHeaderBytes) << "answer " << request << " was not in the first read";
    wire::Header header;
    ASSERT_TRUE(wire::DecodeHeader(std::string_view(answers).substr(offset, wire::kHeaderBytes), &header).ok());
    EXPECT_EQ(header.request_id, request);
    offset += wire::kHeaderBytes + header.body_bytes;
  }
  EXPECT_EQ(offset, answers.size());
  EXPECT_EQ(server_->sends() - sends_before, 1u) << "one send for the three answers";
}

// The server reads what has arrived and cuts requests from it: frames split
// anywhere, frames larger than one read, and many frames in one read all
// come out whole and in order.
TEST_F(ServerTest, FramesSplitAnywhereOrLargerThanAReadAreAnsweredInOrder) {
  RawConnection raw(port_);
  raw.Hello();
  std::string frames;
  std::vector<std::int64_t> expected;  // the member's balance after each request
  std::int64_t balance = 0;
  std::uint64_t id = 1;
  for (std::uint64_t request = 1; request <= 6; ++request) {
    // Requests 2 and 5 carry 1,000 commands (~60 KB); the others one.
    const std::size_t count = request % 3 == 2 ? 1000 : 1;
    std::vector<Command> commands;
    for (std::size_t index = 0; index < count; ++index) commands.push_back(Earn(id++, 1, 5, 3));
    balance += 3 * static_cast<std::int64_t>(count);
    expected.push_back(balance);
    wire::AppendFrame(wire::Operation::kApply, 0, request, wire::EncodeApplyRequest(commands), &frames);
  }
  // The first frame byte by byte, then pieces of every size up to 40 KB.
  const std::size_t first_frame = wire::kHeaderBytes + wire::EncodeApplyRequest({Earn(1, 1, 5, 3)}).size();
  std::size_t sent = 0;
  for (; sent < first_frame; ++sent) raw.Send(std::string_view(frames).substr(sent, 1));
  for (std::size_t piece = 7; sent < frames.size(); piece = piece * 3 % 40'000 + 1) {
    const std::size_t size = std::min(piece, frames.size() - sent);
    raw.Send(std::string_view(frames).substr(sent, size));
    sent += size;
  }
  for (std::uint64_t request = 1; request <= 6; ++request) {
    const std::vector<CommandResult> results = raw.ReadApplyResults(request);
    ASSERT_FALSE(results.empty());
    EXPECT_EQ(results.back().balance, expected[request - 1]) << "request " << request;
  }
}

// A client that sends its last requests and shuts its side gets every
// answer, then the end of the stream: the server closes once nothing is in
// flight, whichever comes first, its end of reading or the last reply.
TEST_F(ServerTest, AClientThatStopsSendingGetsItsAnswersThenTheEnd) {
  for (std::uint64_t requests = 1; requests <= 3; ++requests) {
    RawConnection raw(port_);
    raw.Hello();
    std::string frames;
    for (std::uint64_t request = 1; request <= requests; ++request) {
      wire::AppendFrame(wire::Operation::kApply, 0, request,
                        wire::EncodeApplyRequest({Earn(100 * requests + request, 1, 11, 1)}), &frames);
    }
    raw.Send(frames);
    raw.StopSending();
    for (std::uint64_t request = 1; request <= requests; ++request) {
      EXPECT_EQ(raw.ReadApplyResults(request).size(), 1u);
    }
    raw.ExpectClosed();
  }
  EXPECT_EQ(Connect()->GetBalance({1, 11})->points, 6);
}

TEST_F(ServerTest, AFullDiskIsAnsweredUnavailableAndServedAgainWhenSpaceReturns) {
  StopServer();
  auto disk = std::make_shared<testing::FillableFileSystem>();
  OpenOptions open_options;
  open_options.env = rocksdb::NewCompositeEnv(disk);
  StartServer({}, open_options);
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Apply(std::vector<Command>{Earn(1, 1, 42, 100)}).ok());

  disk->Fill();
  auto refused = client->Apply(std::vector<Command>{Earn(2, 1, 42, 5)});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(refused.status().message().find("no space left on device"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(client->GetBalance({1, 42}).status().code(), Status::Code::kUnavailable);
  auto stopped = client->GetStatus();
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_NE(stopped->stopped.find("cannot write to its disk"), std::string::npos) << stopped->stopped;
  EXPECT_EQ(stopped->last_sequence, 1u);

  disk->Free();
  // A query alone brings it back: the failed write lands first.
  auto balance = client->GetBalance({1, 42});
  ASSERT_TRUE(balance.ok()) << balance.status().ToString();
  EXPECT_EQ(balance->points, 105);
  auto again = client->Apply(std::vector<Command>{Earn(2, 1, 42, 5), Earn(3, 1, 42, 1)});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)[0].sequence, 2u) << "a retry answers the original result";
  EXPECT_EQ((*again)[1].balance, 106);
  EXPECT_TRUE(client->GetStatus()->stopped.empty());
}

// Waits, yielding, until `done` holds; fails the test if it never does (a
// guard against hanging, not a timing check).
template <typename Condition>
bool Eventually(Condition done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// Huge frames from many connections: the server charges each request to
// its budget before it reads the body, so the connections beyond the
// budget wait unread (no memory), and ordinary requests, which may use
// the quarter huge ones may not, are served meanwhile.
TEST_F(ServerTest, AFloodOfHugeFramesStaysWithinTheBudgetAndOthersAreServed) {
  StopServer();
  server::ServerOptions options;
  options.request_bytes_max = 8u << 20;
  options.io_timeout_ms = 600'000;  // the flood stalls on purpose; no deadline may end it
  StartServer(options);

  std::vector<Command> batch;
  for (std::uint64_t index = 0; index < kBatchCommandsMax; ++index) batch.push_back(Earn(0, 2, index % 100, 1));
  constexpr int kFlooders = 4;
  std::vector<std::string> frames;
  for (int flooder = 0; flooder < kFlooders; ++flooder) {
    for (std::uint64_t index = 0; index < batch.size(); ++index) batch[index].id = Id(1'000'000 * (flooder + 1) + index);
    std::string frame;
    wire::AppendFrame(wire::Operation::kApply, 0, 1, wire::EncodeApplyRequest(batch), &frame);
    frames.push_back(std::move(frame));
  }
  wire::Header header;
  ASSERT_TRUE(wire::DecodeHeader(std::string_view(frames[0]).substr(0, wire::kHeaderBytes), &header).ok());
  const std::uint64_t charge = server::RequestCharge(header);
  ASSERT_GT(header.body_bytes, kLargeRequestBodyBytes);
  const std::uint64_t fitting = options.request_bytes_max / 4 * 3 / charge;  // huge requests that fit at once
  ASSERT_GE(fitting, 1u);
  ASSERT_LT(fitting, static_cast<std::uint64_t>(kFlooders));

  // Each flooder sends its header and half its body, then stalls.
  std::vector<std::unique_ptr<RawConnection>> flooders;
  for (const std::string& frame : frames) {
    flooders.push_back(std::make_unique<RawConnection>(port_));
    flooders.back()->Hello();
    flooders.back()->Send(std::string_view(frame).substr(0, wire::kHeaderBytes + header.body_bytes / 2));
  }
  const server::RequestBudget& budget = server_->budget();
  ASSERT_TRUE(Eventually([&] { return budget.in_use() >= fitting * charge && budget.refusals() >= kFlooders - fitting; }))
      << "in use " << budget.in_use() << ", refusals " << budget.refusals();
  EXPECT_LE(budget.in_use(), options.request_bytes_max / 4 * 3) << "huge requests stay within three quarters";

  // Meanwhile an ordinary client is served.
  auto client = Connect();
  ASSERT_TRUE(client);
  auto applied = client->Apply(std::vector<Command>{Earn(1, 1, 42, 100), Earn(2, 1, 42, 5)});
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(client->GetBalance({1, 42})->points, 105);
  EXPECT_EQ(client->GetStatus()->last_sequence, 2u) << "no flood request has been applied yet";

  // The flood finishes its bodies: every request is applied, in turn.
  for (int flooder = 0; flooder < kFlooders; ++flooder) {
    flooders[flooder]->Send(std::string_view(frames[flooder]).substr(wire::kHeaderBytes + header.body_bytes / 2));
  }
  for (auto& flooder : flooders) {
    wire::Header reply;
    std::string body;
    ASSERT_TRUE(flooder->ReadFrame(&reply, &body));
    std::vector<CommandResult> results;
    ASSERT_TRUE(wire::DecodeApplyResponse(body, &results).ok());
    EXPECT_EQ(results.size(), batch.size());
  }
  const auto per_flooder = std::count_if(batch.begin(), batch.end(), [](const Command& c) { return c.member == 7; });
  EXPECT_EQ(client->GetBalance({2, 7})->points, kFlooders * per_flooder);
  EXPECT_LE(budget.peak(), options.request_bytes_max);
  flooders.clear();
  client.reset();
  // Every charge comes back: nothing leaks when connections end.
  EXPECT_TRUE(Eventually([&] { return budget.in_use() == 0; })) << "still charged: " << budget.in_use();
}

// A flood of connections that never say hello: past connections_max they
// are closed at once, the others at the I/O deadline, and then the server
// takes ordinary clients again. A first frame larger than a hello is
// refused from its header.
TEST_F(ServerTest, AFloodOfSilentConnectionsIsShedAndTheServerServesAgain) {
  StopServer();
  server::ServerOptions options;
  options.connections_max = 8;
  options.io_timeout_ms = 200;
  StartServer(options);
  std::vector<std::unique_ptr<RawConnection>> silent;
  for (std::size_t index = 0; index < 2 * options.connections_max; ++index) {
    silent.push_back(std::make_unique<RawConnection>(port_));
  }
  for (auto& connection : silent) EXPECT_TRUE(connection->ServerClosed());

  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Submit(Earn(1, 1, 42, 100))->balance, 100);

  RawConnection huge_hello(port_);
  std::string frame;
  wire::AppendFrame(wire::Operation::kHello, 0, 1, std::string(kHelloBodyBytesMax + 1, 'x'), &frame);
  huge_hello.Send(std::string_view(frame).substr(0, wire::kHeaderBytes));
  huge_hello.ExpectErrorThenClose(wire::ErrorCode::kBadRequest);
}

// TLS: a client that trusts the server's certificate, for the name it
// dialled, is served; one that trusts another authority, or dials another
// name, or speaks in the clear, is not, and neither is a clear client's
// hello ever read.
// One host cannot take every connection slot: past its share, its new
// connections are closed at once, and another host is still served.
TEST_F(ServerTest, AFloodFromOneAddressLeavesRoomForOthers) {
  StopServer();
  server::ServerOptions options;
  options.connections_max = 8;
  options.connections_per_address_max = 4;
  options.io_timeout_ms = 600'000;  // the flood stays until the test ends
  StartServer(options);
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (std::size_t index = 0; index < options.connections_per_address_max; ++index) {
    flood.push_back(std::make_unique<RawConnection>(port_, "127.0.0.1"));
  }
  RawConnection one_too_many(port_, "127.0.0.1");
  EXPECT_TRUE(one_too_many.ServerClosed());

  RawConnection other_host(port_, "127.0.0.2");
  other_host.Hello();
  other_host.SendFrame(wire::Operation::kStatus, "", 2);
  wire::Header header;
  std::string body;
  ASSERT_TRUE(other_host.ReadFrame(&header, &body));
  EXPECT_EQ(header.operation, wire::Operation::kStatus);
  wire::StatusResponse status;
  ASSERT_TRUE(wire::DecodeStatusResponse(body, &status).ok());
  EXPECT_EQ(status.connections, options.connections_per_address_max + 1);
}

TEST_F(ServerTest, TlsServesVerifiedClientsAndNoOneElse) {
  const testing::CertificateFiles server_files =
      testing::MakeSelfSignedCertificate(directory_.Child("server"), "DNS:localhost,IP:127.0.0.1");
  const testing::CertificateFiles stranger =
      testing::MakeSelfSignedCertificate(directory_.Child("stranger"), "DNS:localhost,IP:127.0.0.1");
  StartTlsServer(server_files.certificate, server_files.key);

  ClientOptions trusting = Trusting(server_files.certificate);
  auto client = Connect(trusting);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Submit(Earn(1, 1, 42, 100))->balance, 100);
  EXPECT_EQ(client->Apply(std::vector<Command>{Earn(2, 1, 42, 5), Redeem(3, 1, 42, 30)})->back().balance, 75);
  EXPECT_EQ(client->GetBalance({1, 42})->points, 75);
  EXPECT_EQ(client->GetStatus()->last_sequence, 3u);
  trusting.tls_server_name = "localhost";  // by name, with SNI
  EXPECT_TRUE(Connect(trusting));

  auto refused = [&](ClientOptions client_options) {
    client_options.port = port_;
    client_options.connect_timeout = std::chrono::seconds(30);
    auto connected = Client::Connect(client_options);
    EXPECT_FALSE(connected.ok());
    return connected.ok() ? std::string() : connected.status().ToString();
  };
  ClientOptions other_authority = trusting;
  other_authority.tls_ca_file = stranger.certificate;
  EXPECT_NE(refused(other_authority).find("certificate verify failed"), std::string::npos);
  ClientOptions other_name = trusting;
  other_name.tls_server_name = "ledger.example";
  EXPECT_NE(refused(other_name).find("certificate verify failed"), std::string::npos);
  EXPECT_FALSE(refused(ClientOptions{}).empty()) << "a clear client";
  // The clear hello is never taken as one: the connection is just closed.
  RawConnection raw(port_);
  raw.SendFrame(wire::Operation::kHello, wire::EncodeHelloRequest({wire::kProtocolVersion, "raw", ""}), 0);
  EXPECT_TRUE(raw.ServerClosed());
  EXPECT_EQ(client->GetBalance({1, 42})->points, 75) << "nothing changed";

  // And a TLS client does not talk to a clear server.
  StopServer();
  StartServer();
  EXPECT_FALSE(refused(trusting).empty());
}

// A certificate is replaced while tallyd serves (tallyd does this on
// SIGHUP): new connections get the new one, an open connection keeps its
// session, and files that do not load leave the last good ones in place.
TEST_F(ServerTest, TlsCertificatesAreReloadedWithoutARestart) {
  const testing::CertificateFiles first =
      testing::MakeSelfSignedCertificate(directory_.Child("first"), "IP:127.0.0.1");
  const std::string certificate = directory_.Child("served.crt");
  const std::string key = directory_.Child("served.key");
  std::filesystem::copy_file(first.certificate, certificate);
  std::filesystem::copy_file(first.key, key);
  StartTlsServer(certificate, key);
  ClientOptions trusting_first = Trusting(first.certificate);
  auto old_client = Connect(trusting_first);
  ASSERT_TRUE(old_client);
  EXPECT_EQ(old_client->Submit(Earn(1, 1, 42, 100))->balance, 100);

  const testing::CertificateFiles second =
      testing::MakeSelfSignedCertificate(directory_.Child("second"), "IP:127.0.0.1");
  std::filesystem::copy_file(second.certificate, certificate, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(second.key, key, std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(server_->ReloadTls().ok());
  ClientOptions trusting_second = Trusting(second.certificate);
  trusting_first.port = port_;
  EXPECT_FALSE(Client::Connect(trusting_first).ok()) << "new connections get the new certificate";
  auto new_client = Connect(trusting_second);
  ASSERT_TRUE(new_client);
  EXPECT_EQ(new_client->Submit(Earn(2, 1, 42, 5))->balance, 105);
  EXPECT_EQ(old_client->GetBalance({1, 42})->points, 105) << "the open connection is undisturbed";

  // A half-written key: the reload fails, and the second certificate stays.
  { std::ofstream(key, std::ios::trunc) << "-----BEGIN PRIVATE KEY-----\n"; }
  EXPECT_FALSE(server_->ReloadTls().ok());
  EXPECT_TRUE(Connect(trusting_second));
}

TEST_F(ServerTest, TlsNeedsACertificateAndItsKey) {
  const testing::CertificateFiles one = testing::MakeSelfSignedCertificate(directory_.Child("one"), "DNS:localhost");
  const testing::CertificateFiles two = testing::MakeSelfSignedCertificate(directory_.Child("two"), "DNS:localhost");
  server::ServerOptions options;
  options.port = 0;
  options.tls_certificate_file = one.certificate;
  options.tls_key_file = two.key;
  auto mismatched = server::Server::Bind(*ledger_, options);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("mismatch"), std::string::npos) << mismatched.status().ToString();
  options.tls_key_file = directory_.Child("missing.key");
  auto missing = server::Server::Bind(*ledger_, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.key"), std::string::npos) << missing.status().ToString();
  options.tls_key_file.clear();
  EXPECT_FALSE(server::Server::Bind(*ledger_, options).ok()) << "a certificate without its key";
}

TEST_F(ServerTest, ClientReconnectsAndResendsAfterTheServerRestarts) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Submit(Earn(1, 1, 42, 100))->code, ResultCode::kOk);
  const std::uint16_t port = port_;
  StopServer();
  // Calls made while the server is down wait for it, within their deadline.
  auto pending = client->SubmitAsync(Earn(2, 1, 42, 50));
  server::ServerOptions options;
  options.port = port;
  StartServer(options);
  auto result = pending.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->balance, 150);
  EXPECT_EQ(client->Submit(Earn(1, 1, 42, 100))->sequence, 1u) << "idempotency survives the restart";
}

TEST_F(ServerTest, CallsTimeOutWhenTheServerIsGone) {
  ClientOptions options;
  options.call_timeout = std::chrono::milliseconds(200);
  auto client = Connect(options);
  ASSERT_TRUE(client);
  StopServer();
  auto result = client->Submit(Earn(1, 1, 42, 100));
  EXPECT_EQ(result.status().code(), Status::Code::kDeadlineExceeded);
}

// Calls waited for at once (which the client makes itself when its
// connection is idle) and queued calls, from many threads on one client and
// one after another, every answer right.
TEST_F(ServerTest, CallsWaitedForAtOnceAndQueuedCallsShareAClientExactly) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 300;
  auto client = Connect();
  ASSERT_TRUE(client);
  // One caller alone first: most of its calls find the connection idle.
  for (std::uint64_t call = 1; call <= 100; ++call) {
    auto earned = client->Submit(Earn(call, 7, 99, 5));
    ASSERT_TRUE(earned.ok()) << earned.status().ToString();
    ASSERT_EQ(earned->balance, static_cast<std::int64_t>(5 * call));
    ASSERT_EQ(client->GetBalance({7, 99})->points, static_cast<std::int64_t>(5 * call));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      const std::uint64_t member = 100 + thread;  // each thread's own member: its balances are known
      std::int64_t expected = 0;
      for (int round = 0; round < kRounds; ++round) {
        const std::uint64_t id = (static_cast<std::uint64_t>(thread + 1) << 32) | (2 * round + 1);
        auto queued = client->SubmitAsync(Earn(id, 7, member, 1));
        auto now = client->Submit(Earn(id + 1, 7, member, 2));
        auto later = queued.get();
        expected += 3;
        if (!now.ok() || now->code != ResultCode::kOk || !later.ok() || later->code != ResultCode::kOk) ++failures;
        if (round % 50 == 0) {
          auto balance = client->GetBalance({7, member});
          if (!balance.ok() || balance->points != expected) ++failures;
        }
        if (round % 100 == 0) {  // a retry is answered as the original, by either path
          auto again = client->Submit(Earn(id + 1, 7, member, 2));
          if (!again.ok() || again->sequence != now->sequence) ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto balances = client->GetBalances(std::vector<MemberKey>{{7, 100}, {7, 100 + kThreads - 1}});
  ASSERT_TRUE(balances.ok()) << balances.status().ToString();
  EXPECT_EQ((*balances)[0].points, 3 * kRounds);
  EXPECT_EQ((*balances)[1].points, 3 * kRounds);
  EXPECT_EQ(client->GetStatus()->last_sequence, 100 + std::uint64_t{kThreads} * kRounds * 2);
}

// Callers waiting on one client read each other's answers (the reading
// role passes between them); a server restart in the middle breaks the
// connection under whichever caller reads: every call is resent with its
// command id and answered exactly once.
TEST_F(ServerTest, CallersReadingForEachOtherSurviveAServerRestartExactly) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 200;
  ClientOptions options;
  options.call_timeout = std::chrono::seconds(60);  // the restart is waited for, however slow the machine
  auto client = Connect(options);
  ASSERT_TRUE(client);
  std::atomic<int> failures{0};
  std::mutex mutex;
  std::condition_variable halfway_reached;
  int halfway = 0;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      const std::uint64_t member = 500 + thread;
      for (int call = 1; call <= kCalls; ++call) {
        const std::uint64_t id = (static_cast<std::uint64_t>(thread + 1) << 32) | call;
        auto earned = client->Submit(Earn(id, 3, member, 10));
        if (!earned.ok() || earned->code != ResultCode::kOk || earned->balance != 10 * call) ++failures;
        if (call == kCalls / 2) {
          std::lock_guard lock(mutex);
          ++halfway;
          halfway_reached.notify_one();
        }
      }
    });
  }
  {
    std::unique_lock lock(mutex);
    halfway_reached.wait(lock, [&] { return halfway > 0; });
  }
  server::ServerOptions restart;
  restart.port = port_;
  StopServer();
  StartServer(restart);
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  for (int thread = 0; thread < kThreads; ++thread) {
    EXPECT_EQ(client->GetBalance({3, static_cast<std::uint64_t>(500 + thread)})->points, 10 * kCalls);
  }
  EXPECT_EQ(client->GetStatus()->last_sequence, std::uint64_t{kThreads} * kCalls) << "no call applied twice";
}

// A server that says hello on every connection and then answers nothing:
// calls end at their deadline, whichever way they were sent, and the
// client keeps working through the reconnections that follow.
TEST(ClientDeadline, CallsToAServerThatNeverAnswersEndAtTheirDeadline) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::uint16_t port = acceptor.local_endpoint().port();
  std::atomic<bool> done{false};
  std::vector<asio::ip::tcp::socket> connections;  // kept open, silent
  std::thread server([&] {
    while (!done) {
      error_code error;
      asio::ip::tcp::socket socket(io);
      acceptor.accept(socket, error);
      if (error || done) break;
      std::string header_bytes(wire::kHeaderBytes, '\0');
      wire::Header header;
      std::string body;
      asio::read(socket, asio::buffer(header_bytes), error);
      if (error || !wire::DecodeHeader(header_bytes, &header).ok()) continue;
      body.resize(header.body_bytes);
      asio::read(socket, asio::buffer(body), error);
      std::string frame;
      wire::AppendFrame(wire::Operation::kHello, wire::kResponse, header.request_id,
                        wire::EncodeHelloResponse({wire::kProtocolVersion, "silent"}), &frame);
      asio::write(socket, asio::buffer(frame), error);
      connections.push_back(std::move(socket));
    }
  });
  ClientOptions options;
  options.port = port;
  options.call_timeout = std::chrono::milliseconds(200);
  {
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    for (int call = 0; call < 3; ++call) {
      auto result = (*client)->Submit(Earn(call + 1, 1, 42, 100));
      EXPECT_EQ(result.status().code(), Status::Code::kDeadlineExceeded) << result.status().ToString();
      auto queued = (*client)->SubmitAsync(Earn(call + 10, 1, 42, 100)).get();
      EXPECT_EQ(queued.status().code(), Status::Code::kDeadlineExceeded) << queued.status().ToString();
    }
    // Callers waiting together, one of them reading for the others.
    std::vector<std::thread> callers;
    std::atomic<int> expired{0};
    for (int caller = 0; caller < 4; ++caller) {
      callers.emplace_back([&, caller] {
        auto result = (*client)->Submit(Earn(caller + 20, 1, 42, 100));
        if (result.status().code() == Status::Code::kDeadlineExceeded) ++expired;
      });
    }
    for (std::thread& caller : callers) caller.join();
    EXPECT_EQ(expired.load(), 4);
    // Idle for longer than a deadline (the expiry loop then sleeps until a
    // deadline no call has yet): a call made afterwards still ends at its
    // own, and not before.
    std::this_thread::sleep_for(options.call_timeout * 3 / 2);  // the idle spell, not synchronization
    const auto made = std::chrono::steady_clock::now();
    auto late = (*client)->SubmitAsync(Earn(30, 1, 42, 100)).get();
    EXPECT_EQ(late.status().code(), Status::Code::kDeadlineExceeded) << late.status().ToString();
    EXPECT_GE(std::chrono::steady_clock::now() - made, options.call_timeout);
  }
  done = true;
  asio::ip::tcp::socket wake(io);  // ends the blocking accept
  wake.connect(acceptor.local_endpoint());
  server.join();
}

// The client's readers read whatever has arrived and keep what is past the
// frame they wanted for the next reader (Stream::ReadAhead): answers sent
// together, or split anywhere, each reach the caller whose request they
// answer, whichever caller or thread reads them. In request order the
// reader's own answer comes first and it finishes the others read with it
// before it hands the role on.
TEST(ClientReadAhead, AnswersSentTogetherOrSplitAnywhereReachTheirCallers) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  constexpr int kCallers = 4;
  // Round 0: answers a byte per write, in the reverse order of the
  // requests; round 1: all in one write, reversed; round 2: all in one
  // write, in request order.
  constexpr int kRounds = 3;
  std::thread server([&] {
    error_code error;
    asio::ip::tcp::socket socket(io);
    acceptor.accept(socket, error);
    ASSERT_FALSE(error) << error.message();
    socket.set_option(asio::ip::tcp::no_delay(true));
    auto read_frame = [&](wire::Header* header, std::string* body) {
      std::string header_bytes(wire::kHeaderBytes, '\0');
      asio::read(socket, asio::buffer(header_bytes), error);
      if (error || !wire::DecodeHeader(header_bytes, header).ok()) return false;
      body->resize(header->body_bytes);
      asio::read(socket, asio::buffer(*body), error);
      return !error;
    };
    wire::Header header;
    std::string body;
    ASSERT_TRUE(read_frame(&header, &body));
    std::string frame;
    wire::AppendFrame(wire::Operation::kHello, wire::kResponse, header.request_id,
                      wire::EncodeHelloResponse({wire::kProtocolVersion, "scripted"}), &frame);
    asio::write(socket, asio::buffer(frame), error);
    for (int round = 0; round < kRounds; ++round) {
      // Every caller's command first (one request each, or several in one),
      // then every answer.
      std::vector<std::string> answers;
      for (int commands = 0; commands < kCallers;) {
        ASSERT_TRUE(read_frame(&header, &body));
        std::vector<Command> batch;
        ASSERT_TRUE(wire::DecodeApplyRequest(body, &batch).ok());
        std::vector<CommandResult> results;
        for (const Command& command : batch) {
          CommandResult result;
          result.points = command.points;
          result.balance = command.points * 10;
          results.push_back(result);
        }
        commands += static_cast<int>(batch.size());
        std::string answer;
        wire::AppendFrame(wire::Operation::kApply, wire::kResponse, header.request_id,
                          wire::EncodeApplyResponse(results), &answer);
        answers.insert(round == 2 ? answers.end() : answers.begin(), answer);
      }
      std::string together;
      for (const std::string& answer : answers) together += answer;
      if (round == 0) {
        for (char byte : together) asio::write(socket, asio::buffer(&byte, 1), error);
      } else {
        asio::write(socket, asio::buffer(together), error);
      }
      ASSERT_FALSE(error) << error.message();
    }
    // Until the client goes.
    char byte;
    socket.read_some(asio::buffer(&byte, 1), error);
  });
  ClientOptions options;
  options.port = acceptor.local_endpoint().port();
  options.call_timeout = std::chrono::seconds(30);  // a failure, not a pace
  {
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::thread> callers;
      std::vector<Result<CommandResult>> results(kCallers, Status::Unavailable("not called"));
      for (int caller = 0; caller < kCallers; ++caller) {
        callers.emplace_back([&, caller] {
          results[caller] = (*client)->Submit(Earn(round * 100 + caller + 1, 1, 42, 1000 * round + caller + 1));
        });
      }
      for (std::thread& caller : callers) caller.join();
      for (int caller = 0; caller < kCallers; ++caller) {
        ASSERT_TRUE(results[caller].ok()) << "round " << round << " caller " << caller << ": "
                                          << results[caller].status().ToString();
        EXPECT_EQ(results[caller]->points, 1000 * round + caller + 1) << "round " << round;
        EXPECT_EQ(results[caller]->balance, (1000 * round + caller + 1) * 10) << "round " << round;
      }
    }
  }
  server.join();
}

TEST_F(ServerTest, ConnectingToNothingFailsClearly) {
  const std::uint16_t port = port_;
  StopServer();
  ClientOptions options;
  options.port = port;
  auto client = Client::Connect(options);
  EXPECT_EQ(client.status().code(), Status::Code::kUnavailable);
}

TEST(ServerIdle, AnIdleConnectionIsClosed) {
  testing::TemporaryDirectory directory;
  auto ledger = Ledger::Open(directory.path());
  ASSERT_TRUE(ledger.ok());
  server::ServerOptions options;
  options.port = 0;
  options.handle_signals = false;
  options.idle_timeout_ms = 100;
  auto server = server::Server::Bind(**ledger, options);
  ASSERT_TRUE(server.ok());
  std::thread thread([&] { (*server)->Run(); });
  {
    RawConnection raw((*server)->port());
    raw.Hello();
    raw.ExpectClosed();  // blocks until the server's idle deadline closes it
  }
  (*server)->Stop();
  thread.join();
}

}  // namespace
}  // namespace tally

// The C++ client library: how an e-commerce backend reaches tallyd.
//
//   tally::ClientOptions options;
//   options.port = 7411;
//   auto client = tally::Client::Connect(options);
//   auto result = (*client)->Submit(earn);  // coalesced with other threads' commands
//
// Every call has a deadline (ClientOptions::call_timeout). Commands travel in
// batches: concurrent calls from many threads are coalesced into apply
// requests of up to batch_commands_max commands (a caller's own batch is never
// split, so it stays atomic). One connection is reused, with up to
// requests_in_flight_max requests pipelined on it. When the connection is
// lost the client reconnects and resends every unanswered request with the
// same command ids, which is safe because the ledger is idempotent; it never
// reports success for a command the server did not acknowledge. A call whose
// deadline passes returns kDeadlineExceeded: its outcome is unknown, and a
// retry with the same command id (or Find) tells. Apply, Submit, GetBalance
// and GetBalances, finding the connection idle, send the request and read
// the answer on the calling thread (docs/server.md, "The client library").
//
// Thread safety: every method may be called from any thread. The client does
// not link the engine or RocksDB.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/auth.h"
#include "tally/limits.h"
#include "tally/status.h"
#include "tally/types.h"

namespace tally {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7411;
  std::string client_name = "tally-client";
  std::string credentials;
  std::chrono::milliseconds call_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};
  std::size_t batch_commands_max = kBatchCommandsMax;  // 1..kBatchCommandsMax
  std::size_t requests_in_flight_max = 32;             // 1..kRequestsInFlightPerConnectionMax
  // TLS (docs/security.md, "TLS"): the server's certificate is verified
  // against the CAs in tls_ca_file (PEM; empty: the system's) and must name
  // tls_server_name (empty: host, an IP address then).
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_server_name;
};

class Client {
 public:
  // Connects and says hello; kUnavailable when the server cannot be reached
  // within connect_timeout or does not speak this protocol version.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Applies `batch` (1..kBatchCommandsMax commands, in one request body of
  // at most 2 MiB) atomically; one result per command.
  Result<std::vector<CommandResult>> Apply(std::span<const Command> batch);
  std::future<Result<std::vector<CommandResult>>> ApplyAsync(std::vector<Command> batch);

  // One command, coalesced with other callers' commands into shared requests.
  Result<CommandResult> Submit(const Command& command);
  std::future<Result<CommandResult>> SubmitAsync(const Command& command);

  // Balance reads from many threads are coalesced into shared requests too.
  Result<Balance> GetBalance(MemberKey member);
  std::future<Result<Balance>> GetBalanceAsync(MemberKey member);
  Result<std::vector<Balance>> GetBalances(std::span<const MemberKey> members);  // 1..kBalanceMembersMax
  std::future<Result<std::vector<Balance>>> GetBalancesAsync(std::vector<MemberKey> members);
  Result<HistoryPage> History(MemberKey member, std::string_view cursor, std::uint32_t limit);
  std::future<Result<HistoryPage>> HistoryAsync(MemberKey member, std::string_view cursor, std::uint32_t limit);
  Result<std::optional<CommandResult>> Find(std::uint32_t chain, CommandId id);
  std::future<Result<std::optional<CommandResult>>> FindAsync(std::uint32_t chain, CommandId id);
  // Lots, tier and expiring points (docs/loyalty.md, "Member status").
  Result<MemberStatus> GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us);
  std::future<Result<MemberStatus>> GetMemberStatusAsync(MemberKey member, std::uint64_t expiring_before_us);
  // One page of a chain-wide segment query (Ledger::FindMembers says how pages work).
  Result<SegmentPage> FindMembers(const SegmentQuery& query, std::string_view cursor, std::uint32_t limit);
  std::future<Result<SegmentPage>> FindMembersAsync(const SegmentQuery& query, std::string_view cursor,
                                                    std::uint32_t limit);
  // Has the server write a consistent copy of its ledger to `directory` on
  // its own machine (which must not exist); the chain head it ends at.
  Result<std::pair<std::uint64_t, std::string>> Backup(std::string_view directory);
  Result<ServerStatus> GetStatus();
  // Tokens through an admin connection (docs/security.md): an admin token
  // manages the tokens of its chain (of every chain: all of them); a server
  // without tokens lets anyone on loopback create the first. CreateToken
  // answers the new secret, the only time it is shown: if the connection is
  // lost before the answer, the resent request finds the name taken, and
  // the token should be revoked and made again.
  Result<std::string> CreateToken(std::string_view name, Role role, std::uint32_t chain);
  Result<std::vector<TokenInfo>> ListTokens();
  Status RevokeToken(std::string_view name);
  std::future<Result<ServerStatus>> GetStatusAsync();

  class Core;

 private:
  explicit Client(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

}  // namespace tally

// Where the CLI sends its work: a tallyd server through the client library
// (the default), or a data directory opened directly (--data, embedded).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tally/client.h"
#include "tally/ledger.h"

namespace tally::cli {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<std::vector<CommandResult>> Apply(std::span<const Command> batch) = 0;
  virtual Result<Balance> GetBalance(MemberKey member) = 0;
  virtual Result<MemberStatus> GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) = 0;
  virtual Result<SegmentPage> FindMembers(const SegmentQuery& query, std::string_view cursor, std::uint32_t limit) = 0;
  virtual Result<HistoryPage> History(MemberKey member, std::string_view cursor, std::uint32_t limit) = 0;
  virtual Result<std::optional<CommandResult>> Find(std::uint32_t chain, CommandId id) = 0;
  // Named figures for `status`.
  virtual Result<std::vector<std::pair<std::string, std::uint64_t>>> Status() = 0;
  // The chain head: the sequence it is at and its hash (docs/audit.md).
  virtual Result<std::pair<std::uint64_t, std::string>> Head() = 0;
  // Why the ledger refuses requests (a failed write); empty while it serves.
  virtual Result<std::string> Stopped() = 0;
  virtual Result<std::string> CreateToken(const std::string& name, Role role, std::uint32_t chain) = 0;
  virtual tally::Status RevokeToken(const std::string& name) = 0;
  virtual Result<std::vector<TokenInfo>> ListTokens() = 0;
  // A consistent copy in `directory` (on the server's machine); the head it ends at.
  virtual Result<std::pair<std::uint64_t, std::string>> Backup(const std::string& directory) = 0;
};

class LedgerBackend final : public Backend {
 public:
  explicit LedgerBackend(std::unique_ptr<Ledger> ledger) : ledger_(std::move(ledger)) {}
  Result<std::vector<CommandResult>> Apply(std::span<const Command> batch) override { return ledger_->Apply(batch); }
  Result<Balance> GetBalance(MemberKey member) override { return ledger_->GetBalance(member); }
  Result<MemberStatus> GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) override {
    return ledger_->GetMemberStatus(member, expiring_before_us);
  }
  Result<SegmentPage> FindMembers(const SegmentQuery& query, std::string_view cursor, std::uint32_t limit) override {
    return ledger_->FindMembers(query, cursor, limit);
  }
  Result<HistoryPage> History(MemberKey member, std::string_view cursor, std::uint32_t limit) override {
    return ledger_->History(member, cursor, limit);
  }
  Result<std::optional<CommandResult>> Find(std::uint32_t chain, CommandId id) override {
    return ledger_->Find(chain, id);
  }
  Result<std::pair<std::uint64_t, std::string>> Head() override {
    const LedgerStats stats = ledger_->Stats();
    return std::pair(stats.last_sequence, stats.chain_head);
  }
  Result<std::string> Stopped() override { return ledger_->Stats().stopped; }
  Result<std::string> CreateToken(const std::string& name, Role role, std::uint32_t chain) override {
    return ledger_->CreateToken(name, role, chain);
  }
  tally::Status RevokeToken(const std::string& name) override { return ledger_->RevokeToken(name); }
  Result<std::vector<TokenInfo>> ListTokens() override { return ledger_->ListTokens(); }
  Result<std::pair<std::uint64_t, std::string>> Backup(const std::string& directory) override {
    auto head = ledger_->Backup(directory);
    if (!head.ok()) return head.status();
    return std::pair(head->sequence, head->hash);
  }
  Result<std::vector<std::pair<std::string, std::uint64_t>>> Status() override {
    const LedgerStats stats = ledger_->Stats();
    return std::vector<std::pair<std::string, std::uint64_t>>{
        {"last_sequence", stats.last_sequence},
        {"last_timestamp_us", stats.last_timestamp_us},
        {"members", stats.members},
        {"memory_bytes", stats.memory_bytes},
        {"open_ms", static_cast<std::uint64_t>(stats.recovery_seconds * 1000)},
    };
  }

 private:
  std::unique_ptr<Ledger> ledger_;
};

class ClientBackend final : public Backend {
 public:
  explicit ClientBackend(std::unique_ptr<Client> client) : client_(std::move(client)) {}
  Result<std::vector<CommandResult>> Apply(std::span<const Command> batch) override { return client_->Apply(batch); }
  Result<Balance> GetBalance(MemberKey member) override { return client_->GetBalance(member); }
  Result<MemberStatus> GetMemberStatus(MemberKey member, std::uint64_t expiring_before_us) override {
    return client_->GetMemberStatus(member, expiring_before_us);
  }
  Result<SegmentPage> FindMembers(const SegmentQuery& query, std::string_view cursor, std::uint32_t limit) override {
    return client_->FindMembers(query, cursor, limit);
  }
  Result<HistoryPage> History(MemberKey member, std::string_view cursor, std::uint32_t limit) override {
    return client_->History(member, cursor, limit);
  }
  Result<std::optional<CommandResult>> Find(std::uint32_t chain, CommandId id) override {
    return client_->Find(chain, id);
  }
  Result<std::pair<std::uint64_t, std::string>> Head() override {
    auto status = client_->GetStatus();
    if (!status.ok()) return status.status();
    return std::pair(status->last_sequence, status->chain_head);
  }
  Result<std::string> Stopped() override {
    auto status = client_->GetStatus();
    if (!status.ok()) return status.status();
    return status->stopped;
  }
  Result<std::string> CreateToken(const std::string& name, Role role, std::uint32_t chain) override {
    return client_->CreateToken(name, role, chain);
  }
  tally::Status RevokeToken(const std::string& name) override { return client_->RevokeToken(name); }
  Result<std::vector<TokenInfo>> ListTokens() override { return client_->ListTokens(); }
  Result<std::pair<std::uint64_t, std::string>> Backup(const std::string& directory) override {
    return client_->Backup(directory);
  }
  Result<std::vector<std::pair<std::string, std::uint64_t>>> Status() override {
    auto status = client_->GetStatus();
    if (!status.ok()) return status.status();
    return std::vector<std::pair<std::string, std::uint64_t>>{
        {"last_sequence", status->last_sequence},
        {"last_timestamp_us", status->last_timestamp_us},
        {"members", status->members},
        {"uptime_us", status->uptime_us},
        {"connections", status->connections},
    };
  }

 private:
  std::unique_ptr<Client> client_;
};

}  // namespace tally::cli

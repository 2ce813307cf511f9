#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include "address.h"
#include "driver.h"
#include "tally/client.h"
#include "tally/limits.h"

namespace tally::bench {
namespace {

// The commands of an operation: one, or for hold + capture the hold (ten
// minutes) and its capture of every point held, in that order.
void AppendCommands(const Op& op, std::uint32_t chain, std::vector<Command>* commands) {
  Command command;
  command.id = op.id;
  command.chain = chain;
  command.member = op.member;
  command.points = op.points;
  switch (op.kind) {
    case OpKind::kEarn: command.kind = CommandKind::kEarn; break;
    case OpKind::kRedeem: command.kind = CommandKind::kRedeem; break;
    case OpKind::kReverse:
      command.kind = CommandKind::kReverse;
      command.target = op.target;
      break;
    case OpKind::kHoldCapture: {
      command.kind = CommandKind::kHold;
      command.duration_seconds = 600;
      commands->push_back(command);
      command.id = op.capture;
      command.kind = CommandKind::kCapture;
      command.duration_seconds = 0;
      command.target = op.id;
      break;
    }
    case OpKind::kBalance: return;
  }
  commands->push_back(command);
}

// A request's answer: at hand already (a call that waited for it), or to
// come (an ...Async call). Not a promise made ready: its std::call_once
// costs a futex wake, charged to every call timed.
template <typename Value>
class Answer {
 public:
  explicit Answer(Value value) : value_(std::move(value)) {}
  explicit Answer(std::future<Value> future) : future_(std::move(future)) {}
  Value Get() { return value_ ? std::move(*value_) : future_.get(); }

 private:
  std::optional<Value> value_;
  std::future<Value> future_;
};

class TallyDriver final : public Driver {
 public:
  TallyDriver(std::shared_ptr<Client> client, std::size_t batch, std::uint32_t chain)
      : client_(std::move(client)), batch_(batch), chain_(chain) {}

  void Execute(std::span<const Op> ops, std::vector<Outcome>* outcomes) override {
    outcomes->assign(ops.size(), Outcome{});
    // Commands go in apply requests of up to batch_ commands, balance reads
    // in balance requests of up to batch_ members (as a service reading many
    // balances would); everything is in flight at once, then collected.
    std::vector<std::pair<std::vector<std::size_t>, Answer<Result<std::vector<CommandResult>>>>> applies;
    std::vector<std::pair<std::vector<std::size_t>, Answer<Result<std::vector<tally::Balance>>>>> reads;
    std::vector<Command> commands;
    std::vector<std::size_t> indexes;
    std::vector<MemberKey> members;
    std::vector<std::size_t> member_indexes;
    const std::size_t members_max = std::min(batch_, kBalanceMembersMax);
    // One operation alone waits for its answer at once, as a service's
    // request handler would (the client then does its own I/O when its
    // connection is idle: docs/server.md, "The client library").
    const bool alone = ops.size() == 1;
    auto flush = [&] {
      if (commands.empty()) return;
      applies.emplace_back(std::move(indexes),
                           alone ? Answer(client_->Apply(commands)) : Answer(client_->ApplyAsync(std::move(commands))));
      commands.clear();
      indexes.clear();
    };
    auto flush_reads = [&] {
      if (members.empty()) return;
      reads.emplace_back(std::move(member_indexes),
                         alone ? Answer(client_->GetBalances(members)) : Answer(client_->GetBalancesAsync(std::move(members))));
      members.clear();
      member_indexes.clear();
    };
    for (std::size_t index = 0; index < ops.size(); ++index) {
      if (ops[index].kind == OpKind::kBalance) {
        members.push_back({chain_, ops[index].member});
        member_indexes.push_back(index);
        if (members.size() >= members_max) flush_reads();
        continue;
      }
      // The commands of one operation stay in one request, in order.
      if (!commands.empty() && commands.size() + static_cast<std::size_t>(CommandsOf(ops[index])) > batch_) flush();
      AppendCommands(ops[index], chain_, &commands);
      indexes.resize(commands.size(), index);
      if (commands.size() >= batch_) flush();
    }
    flush();
    flush_reads();
    for (auto& [batch_indexes, answer] : applies) {
      auto results = answer.Get();
      for (std::size_t position = 0; position < batch_indexes.size(); ++position) {
        const std::size_t index = batch_indexes[position];
        Outcome& outcome = (*outcomes)[index];
        if (!results.ok()) {
          outcome.error = results.status().ToString();
          continue;
        }
        // A hold + capture's outcome is its capture's (the later command).
        outcome.result = (*results)[position];
        outcome.rejected = outcome.result.code != ResultCode::kOk;
        outcome.applied = !outcome.rejected && !ops[index].retry;
        // What the ledger moved: a return takes back only what the member
        // still has (docs/loyalty.md), so it can be less than asked.
        outcome.delta = ops[index].kind == OpKind::kEarn ? outcome.result.points : -outcome.result.points;
        outcome.duplicate = ops[index].retry;
      }
    }
    for (auto& [read_indexes, answer] : reads) {
      auto balances = answer.Get();
      if (balances.ok()) continue;
      for (std::size_t index : read_indexes) (*outcomes)[index].error = balances.status().ToString();
    }
  }

  Status ReadBalances(std::span<const std::uint64_t> members, std::vector<std::int64_t>* balances) override {
    balances->clear();
    std::vector<std::future<Result<std::vector<tally::Balance>>>> futures;  // pipelined
    for (std::size_t first = 0; first < members.size(); first += kBalanceMembersMax) {
      std::vector<MemberKey> keys;
      for (std::size_t index = first; index < std::min(members.size(), first + kBalanceMembersMax); ++index) {
        keys.push_back({chain_, members[index]});
      }
      futures.push_back(client_->GetBalancesAsync(std::move(keys)));
    }
    for (auto& future : futures) {
      auto read = future.get();
      if (!read.ok()) return read.status();
      for (const tally::Balance& balance : *read) balances->push_back(balance.points);
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<Client> client_;
  std::size_t batch_;
  std::uint32_t chain_;
};

}  // namespace

std::shared_ptr<Client> Connect(const Target& target, std::string* error) {
  const auto server = ParseAddress(target.address);
  if (!server) {
    *error = "--server is HOST:PORT, not " + target.address;
    return nullptr;
  }
  ClientOptions options;
  options.host = server->host;
  options.port = server->port;
  options.call_timeout = std::chrono::seconds(30);
  options.client_name = "tally-bench";
  options.tls = !target.tls_ca.empty();
  options.tls_ca_file = target.tls_ca;
  auto client = Client::Connect(options);
  if (!client.ok()) {
    *error = client.status().ToString();
    return nullptr;
  }
  return std::shared_ptr<Client>(std::move(client.value()));
}

std::unique_ptr<Driver> MakeTallyDriver(const Target& target, int thread, std::string* error) {
  std::shared_ptr<Client> client;
  if (target.clients <= 0) {
    client = Connect(target, error);
  } else {
    // Threads share clients, as the threads of one service would: their calls
    // are coalesced into shared requests on one connection.
    static std::mutex mutex;
    static std::map<int, std::shared_ptr<Client>> pool;
    std::lock_guard lock(mutex);
    std::shared_ptr<Client>& shared = pool[thread % target.clients];
    if (!shared) shared = Connect(target, error);
    client = shared;
  }
  if (!client) return nullptr;
  return std::make_unique<TallyDriver>(std::move(client), std::max<std::size_t>(1, target.batch), target.chain);
}

}  // namespace tally::bench

// A Driver runs bench operations against one system over one connection:
// tally through its client library, PostgreSQL through libpq, Redis through
// hiredis. Each generator thread owns one driver.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tally/status.h"
#include "tally/types.h"
#include "workload.h"

namespace tally::bench {

struct Outcome {
  bool applied = false;    // the operation changed a balance (ok, and not a replay)
  bool rejected = false;   // refused by the system's rules (insufficient points, …)
  bool duplicate = false;  // a retry the system recognised
  std::int64_t delta = 0;  // the change to the member's balance when applied
  CommandResult result;    // tally only: the full result, to compare retries
  std::string error;       // non-empty: the operation failed (connection, timeout)
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Runs `ops` as this system's users would at their best (tally: batched and
  // pipelined; Redis: pipelined when asked; PostgreSQL: one transaction each)
  // and fills one outcome per op.
  virtual void Execute(std::span<const Op> ops, std::vector<Outcome>* outcomes) = 0;
  // The balances of `members`, for the exactness check.
  virtual Status ReadBalances(std::span<const std::uint64_t> members, std::vector<std::int64_t>* balances) = 0;
};

struct Target {
  std::string system;  // tally | postgres | redis
  std::string address; // HOST:PORT (postgres: a libpq connection string)
  std::size_t batch = 1;  // tally: commands per apply request; redis: commands per pipeline
  std::uint32_t chain = 1; // tally: a chain of its own per run, so every balance starts at 0
  int clients = 0;         // tally: client connections shared by the generator threads; 0: one each
  std::string tls_ca;      // tally: speak TLS, trusting this CA file (empty: in the clear)
};

// nullptr and a message when the system is not built in or not reachable.
// `thread` picks the shared client when target.clients > 0.
std::unique_ptr<Driver> MakeTallyDriver(const Target& target, int thread, std::string* error);
std::unique_ptr<Driver> MakePostgresDriver(const Target& target, std::string* error);
std::unique_ptr<Driver> MakeRedisDriver(const Target& target, std::string* error);
// Start a run from empty: PostgreSQL's tables are recreated, Redis is flushed.
Status PreparePostgres(const Target& target);
Status PrepareRedis(const Target& target);

}  // namespace tally::bench

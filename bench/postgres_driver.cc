// PostgreSQL as its users would run this ledger at their best: a table of
// events keyed by command id, a table of balances, and one PL/pgSQL function
// that inserts the event (ON CONFLICT DO NOTHING) and updates the balance in
// one transaction and one round trip, with synchronous_commit on.
#include <libpq-fe.h>

#include <cstring>

#include "driver.h"

namespace tally::bench {
namespace {

constexpr char kSchema[] = R"sql(
DROP TABLE IF EXISTS events, balances, holds;
CREATE TABLE events (id bytea PRIMARY KEY, member bigint NOT NULL, delta bigint NOT NULL);
CREATE TABLE balances (member bigint PRIMARY KEY, balance bigint NOT NULL, held bigint NOT NULL DEFAULT 0);
CREATE TABLE holds (id bytea PRIMARY KEY, member bigint NOT NULL, points bigint NOT NULL);
CREATE OR REPLACE FUNCTION apply_points(p_id bytea, p_member bigint, p_delta bigint) RETURNS bigint AS $$
DECLARE
  new_balance bigint;
BEGIN
  INSERT INTO events VALUES (p_id, p_member, p_delta) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN RETURN -2; END IF;  -- a retry
  INSERT INTO balances (member, balance) VALUES (p_member, 0) ON CONFLICT DO NOTHING;
  UPDATE balances SET balance = balance + p_delta
    WHERE member = p_member AND balance + p_delta >= 0 RETURNING balance INTO new_balance;
  IF new_balance IS NULL THEN RETURN -1; END IF;  -- insufficient points (the event stays, as in tally)
  RETURN new_balance;
END $$ LANGUAGE plpgsql;
-- Checkout: a hold moves points from the balance to held; its capture takes them.
CREATE OR REPLACE FUNCTION hold_points(p_id bytea, p_member bigint, p_points bigint) RETURNS bigint AS $$
DECLARE
  new_balance bigint;
BEGIN
  INSERT INTO events VALUES (p_id, p_member, 0) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN RETURN -2; END IF;
  UPDATE balances SET balance = balance - p_points, held = held + p_points
    WHERE member = p_member AND balance >= p_points RETURNING balance INTO new_balance;
  IF new_balance IS NULL THEN RETURN -1; END IF;
  INSERT INTO holds VALUES (p_id, p_member, p_points);
  RETURN new_balance;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION capture_points(p_id bytea, p_hold bytea, p_member bigint) RETURNS bigint AS $$
DECLARE
  held_points bigint;
BEGIN
  INSERT INTO events VALUES (p_id, p_member, 0) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN RETURN -2; END IF;
  DELETE FROM holds WHERE id = p_hold RETURNING points INTO held_points;
  IF held_points IS NULL THEN RETURN -1; END IF;  -- the hold was refused
  UPDATE balances SET held = held - held_points WHERE member = p_member;
  RETURN held_points;
END $$ LANGUAGE plpgsql;
)sql";

std::string IdBytes(const CommandId& id) {
  std::string bytes(16, '\0');
  std::memcpy(bytes.data(), &id.high, 8);
  std::memcpy(bytes.data() + 8, &id.low, 8);
  return bytes;
}

class PostgresDriver final : public Driver {
 public:
  explicit PostgresDriver(PGconn* connection) : connection_(connection) {}
  ~PostgresDriver() override { PQfinish(connection_); }

  bool Prepare(std::string* error) {
    PGresult* result = PQprepare(connection_, "apply", "SELECT apply_points($1, $2, $3)", 3, nullptr);
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ok) *error = PQerrorMessage(connection_);
    PQclear(result);
    result = PQprepare(connection_, "balance", "SELECT balance FROM balances WHERE member = $1", 1, nullptr);
    PQclear(result);
    result = PQprepare(connection_, "hold", "SELECT hold_points($1, $2, $3)", 3, nullptr);
    PQclear(result);
    result = PQprepare(connection_, "capture", "SELECT capture_points($1, $2, $3)", 3, nullptr);
    PQclear(result);
    return ok;
  }

  void Execute(std::span<const Op> ops, std::vector<Outcome>* outcomes) override {
    outcomes->assign(ops.size(), Outcome{});
    for (std::size_t index = 0; index < ops.size(); ++index) {
      const Op& op = ops[index];
      Outcome& outcome = (*outcomes)[index];
      if (op.kind == OpKind::kBalance) {
        std::int64_t ignored = 0;
        if (!ReadOne(op.member, &ignored)) outcome.error = PQerrorMessage(connection_);
        continue;
      }
      if (op.kind == OpKind::kHoldCapture) {
        HoldCapture(op, &outcome);
        continue;
      }
      // A reverse here takes back points like a redeem; PostgreSQL is not
      // asked to check it against its original, which spares it work tally does.
      const std::int64_t delta = op.kind == OpKind::kEarn ? op.points : -op.points;
      const std::string id = IdBytes(op.id);
      const std::string member = std::to_string(op.member);
      const std::string points = std::to_string(delta);
      const char* values[3] = {id.data(), member.c_str(), points.c_str()};
      const int lengths[3] = {16, 0, 0};
      const int formats[3] = {1, 0, 0};
      PGresult* result = PQexecPrepared(connection_, "apply", 3, values, lengths, formats, 0);
      if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        outcome.error = PQerrorMessage(connection_);
      } else {
        const long long answer = std::atoll(PQgetvalue(result, 0, 0));
        outcome.duplicate = answer == -2;
        outcome.rejected = answer == -1;
        outcome.applied = answer >= 0;
        outcome.delta = delta;
      }
      PQclear(result);
    }
  }

  Status ReadBalances(std::span<const std::uint64_t> members, std::vector<std::int64_t>* balances) override {
    balances->clear();
    for (std::uint64_t member : members) {
      std::int64_t balance = 0;
      if (!ReadOne(member, &balance)) return Status::IOError(PQerrorMessage(connection_));
      balances->push_back(balance);
    }
    return Status::Ok();
  }

 private:
  // Two transactions, as a checkout would run them; the outcome is the capture's.
  void HoldCapture(const Op& op, Outcome* outcome) {
    const std::string hold = IdBytes(op.id);
    const std::string capture = IdBytes(op.capture);
    const std::string member = std::to_string(op.member);
    const std::string points = std::to_string(op.points);
    const char* hold_values[3] = {hold.data(), member.c_str(), points.c_str()};
    const int hold_lengths[3] = {16, 0, 0};
    const int formats[3] = {1, 0, 0};
    long long answer = 0;
    if (!Call("hold", hold_values, hold_lengths, formats, &answer, outcome)) return;
    const char* capture_values[3] = {capture.data(), hold.data(), member.c_str()};
    const int capture_lengths[3] = {16, 16, 0};
    const int capture_formats[3] = {1, 1, 0};
    if (!Call("capture", capture_values, capture_lengths, capture_formats, &answer, outcome)) return;
    outcome->duplicate = answer == -2;
    outcome->rejected = answer == -1;
    outcome->applied = answer >= 0;
    outcome->delta = -op.points;
  }

  bool Call(const char* statement, const char* const* values, const int* lengths, const int* formats,
            long long* answer, Outcome* outcome) {
    PGresult* result = PQexecPrepared(connection_, statement, 3, values, lengths, formats, 0);
    const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
    if (ok) *answer = std::atoll(PQgetvalue(result, 0, 0));
    else outcome->error = PQerrorMessage(connection_);
    PQclear(result);
    return ok;
  }

  bool ReadOne(std::uint64_t member, std::int64_t* balance) {
    const std::string text = std::to_string(member);
    const char* values[1] = {text.c_str()};
    PGresult* result = PQexecPrepared(connection_, "balance", 1, values, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
    *balance = ok && PQntuples(result) == 1 ? std::atoll(PQgetvalue(result, 0, 0)) : 0;
    PQclear(result);
    return ok;
  }

  PGconn* connection_;
};

}  // namespace

Status PreparePostgres(const Target& target) {
  PGconn* connection = PQconnectdb(target.address.c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(connection);
    PQfinish(connection);
    return Status::Unavailable("postgres: " + message);
  }
  PGresult* result = PQexec(connection, kSchema);
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string message = PQerrorMessage(connection);
  PQclear(result);
  PQfinish(connection);
  return ok ? Status::Ok() : Status::IOError("postgres schema: " + message);
}

std::unique_ptr<Driver> MakePostgresDriver(const Target& target, std::string* error) {
  PGconn* connection = PQconnectdb(target.address.c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    *error = PQerrorMessage(connection);
    PQfinish(connection);
    return nullptr;
  }
  auto driver = std::make_unique<PostgresDriver>(connection);
  if (!driver->Prepare(error)) return nullptr;
  return driver;
}

}  // namespace tally::bench

// Redis as its users would run this ledger at their best: a Lua script that
// does SET NX on the command id and INCRBY on the balance (refusing to go
// below zero), with appendfsync always; unpipelined (batch 1) or pipelined.
#include <hiredis/hiredis.h>

#include <cstring>

#include "address.h"
#include "driver.h"

namespace tally::bench {
namespace {

// KEYS: the command id, the balance, the held points, the hold's record.
// ARGV: points (signed for 'a'), and the mode: 'a' apply, 'h' hold (moves
// points from the balance to held), 'c' capture (takes what the hold held).
constexpr char kScript[] = R"lua(
if not redis.call('SET', KEYS[1], '1', 'NX') then return -2 end
local points = tonumber(ARGV[1])
if ARGV[2] == 'h' then
  local balance = tonumber(redis.call('GET', KEYS[2]) or '0')
  if balance < points then return -1 end
  redis.call('SET', KEYS[4], points)
  redis.call('INCRBY', KEYS[3], points)
  return redis.call('DECRBY', KEYS[2], points)
end
if ARGV[2] == 'c' then
  local held = redis.call('GET', KEYS[4])
  if not held then return -1 end
  redis.call('DEL', KEYS[4])
  redis.call('DECRBY', KEYS[3], tonumber(held))
  return tonumber(held)
end
if points < 0 then
  local balance = tonumber(redis.call('GET', KEYS[2]) or '0')
  if balance + points < 0 then return -1 end
end
return redis.call('INCRBY', KEYS[2], points)
)lua";

class RedisDriver final : public Driver {
 public:
  RedisDriver(redisContext* context, std::string sha, std::size_t pipeline)
      : context_(context), sha_(std::move(sha)), pipeline_(pipeline) {}
  ~RedisDriver() override { redisFree(context_); }

  void Execute(std::span<const Op> ops, std::vector<Outcome>* outcomes) override {
    outcomes->assign(ops.size(), Outcome{});
    for (std::size_t first = 0; first < ops.size(); first += pipeline_) {
      const std::size_t end = std::min(ops.size(), first + pipeline_);
      for (std::size_t index = first; index < end; ++index) Append(ops[index]);
      for (std::size_t index = first; index < end; ++index) Collect(ops[index], &(*outcomes)[index]);
    }
  }

  Status ReadBalances(std::span<const std::uint64_t> members, std::vector<std::int64_t>* balances) override {
    balances->clear();
    for (std::uint64_t member : members) {
      auto* reply = static_cast<redisReply*>(redisCommand(context_, "GET b:%llu", static_cast<unsigned long long>(member)));
      if (reply == nullptr) return Status::IOError(std::string("redis: ") + context_->errstr);
      balances->push_back(reply->type == REDIS_REPLY_STRING ? std::atoll(reply->str) : 0);
      freeReplyObject(reply);
    }
    return Status::Ok();
  }

 private:
  void Append(const Op& op) {
    const auto member = static_cast<unsigned long long>(op.member);
    if (op.kind == OpKind::kBalance) {
      redisAppendCommand(context_, "GET b:%llu", member);
      return;
    }
    const auto high = static_cast<unsigned long long>(op.id.high);
    const auto low = static_cast<unsigned long long>(op.id.low);
    if (op.kind == OpKind::kHoldCapture) {  // the hold, then its capture: two commands in the pipeline
      redisAppendCommand(context_, "EVALSHA %s 4 i:%llx%016llx b:%llu h:%llu s:%llx%016llx %lld h", sha_.c_str(), high,
                         low, member, member, high, low, static_cast<long long>(op.points));
      redisAppendCommand(context_, "EVALSHA %s 4 i:%llx%016llx b:%llu h:%llu s:%llx%016llx 0 c", sha_.c_str(),
                         static_cast<unsigned long long>(op.capture.high),
                         static_cast<unsigned long long>(op.capture.low), member, member, high, low);
      return;
    }
    const long long delta = op.kind == OpKind::kEarn ? op.points : -op.points;
    redisAppendCommand(context_, "EVALSHA %s 4 i:%llx%016llx b:%llu h:%llu s:0 %lld a", sha_.c_str(), high, low,
                       member, member, delta);
  }

  void Collect(const Op& op, Outcome* outcome) {
    if (op.kind == OpKind::kHoldCapture) {
      Outcome hold;
      CollectOne(op, &hold);  // its outcome shows in the capture's
      if (!hold.error.empty()) outcome->error = hold.error;
    }
    CollectOne(op, outcome);
  }

  void CollectOne(const Op& op, Outcome* outcome) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      outcome->error = context_->errstr;
      return;
    }
    auto* reply = static_cast<redisReply*>(raw);
    if (reply->type == REDIS_REPLY_ERROR) {
      outcome->error = reply->str;
    } else if (op.kind != OpKind::kBalance && reply->type == REDIS_REPLY_INTEGER) {
      outcome->duplicate = reply->integer == -2;
      outcome->rejected = reply->integer == -1;
      outcome->applied = reply->integer >= 0;
      outcome->delta = op.kind == OpKind::kEarn ? op.points : -op.points;
    }
    freeReplyObject(reply);
  }

  redisContext* context_;
  std::string sha_;
  std::size_t pipeline_;
};

}  // namespace

Status PrepareRedis(const Target& target) {
  const auto server = ParseAddress(target.address);
  if (!server) return Status::InvalidArgument("--server is HOST:PORT, not " + target.address);
  redisContext* context = redisConnect(server->host.c_str(), server->port);
  if (context == nullptr || context->err != 0) {
    if (context != nullptr) redisFree(context);
    return Status::Unavailable("redis: cannot connect to " + target.address);
  }
  auto* reply = static_cast<redisReply*>(redisCommand(context, "FLUSHALL"));
  const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(context);
  return ok ? Status::Ok() : Status::IOError("redis: FLUSHALL failed");
}

std::unique_ptr<Driver> MakeRedisDriver(const Target& target, std::string* error) {
  const auto server = ParseAddress(target.address);
  if (!server) {
    *error = "--server is HOST:PORT, not " + target.address;
    return nullptr;
  }
  redisContext* context = redisConnect(server->host.c_str(), server->port);
  if (context == nullptr || context->err != 0) {
    *error = context != nullptr ? context->errstr : "cannot allocate a redis context";
    if (context != nullptr) redisFree(context);
    return nullptr;
  }
  auto* reply = static_cast<redisReply*>(redisCommand(context, "SCRIPT LOAD %s", kScript));
  if (reply == nullptr || reply->type != REDIS_REPLY_STRING) {
    *error = "redis: SCRIPT LOAD failed";
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(context);
    return nullptr;
  }
  std::string sha = reply->str;
  freeReplyObject(reply);
  return std::make_unique<RedisDriver>(context, std::move(sha), std::max<std::size_t>(1, target.batch));
}

}  // namespace tally::bench

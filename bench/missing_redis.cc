// Built when hiredis is not installed: the Redis driver says so.
#include "driver.h"

namespace tally::bench {

Status PrepareRedis(const Target&) {
  return Status::Unavailable("this tally-bench was built without hiredis (run bench/run-comparison)");
}

std::unique_ptr<Driver> MakeRedisDriver(const Target&, std::string* error) {
  *error = "built without hiredis";
  return nullptr;
}

}  // namespace tally::bench

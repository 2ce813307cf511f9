// Built when libpq is not installed: the PostgreSQL driver says so.
#include "driver.h"

namespace tally::bench {

Status PreparePostgres(const Target&) {
  return Status::Unavailable("this tally-bench was built without libpq (run bench/run-comparison)");
}

std::unique_ptr<Driver> MakePostgresDriver(const Target&, std::string* error) {
  *error = "built without libpq";
  return nullptr;
}

}  // namespace tally::bench

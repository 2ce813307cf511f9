// The child of the crash test: applies the crash workload from batch FIRST on
// and reports each acknowledged batch on stdout, one decimal index a line,
// with a raw write() so nothing sits in a buffer when it is killed.
//
//   crash_child DIR SEED FIRST
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "crash_workload.h"
#include "tally/ledger.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_child DIR SEED FIRST\n");
    return 2;
  }
  const std::uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  const std::uint64_t first = std::strtoull(argv[3], nullptr, 10);
  auto ledger = tally::Ledger::Open(argv[1]);
  if (!ledger.ok()) {
    std::fprintf(stderr, "crash_child: %s\n", ledger.status().ToString().c_str());
    return 3;
  }
  for (std::uint64_t batch = first;; ++batch) {
    const std::vector<tally::Command> commands = tally::testing::CrashBatch(seed, batch);
    auto results = (*ledger)->Apply(commands);
    if (!results.ok()) {
      std::fprintf(stderr, "crash_child: %s\n", results.status().ToString().c_str());
      return 3;
    }
    const std::string line = std::to_string(batch) + "\n";
    if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 4;
  }
}

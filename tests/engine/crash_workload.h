// The deterministic workload of the crash test: batch `index` of run `seed`
// is always the same commands, so the parent can recompute what a killed
// child was doing. Every command passes the stateless checks, so every one
// is logged and can be found by its id.
#pragma once

#include <random>
#include <vector>

#include "tally/types.h"

namespace tally::testing {

inline constexpr std::uint32_t kCrashChain = 9;

inline CommandId CrashCommandId(std::uint64_t seed, std::uint64_t batch, std::uint64_t index) {
  return CommandId{seed, (batch << 16) | (index + 1)};
}

inline std::size_t CrashBatchSize(std::uint64_t seed, std::uint64_t batch) {
  std::mt19937_64 random(seed * 1'000'003 + batch);
  return std::uniform_int_distribution<std::size_t>(1, 48)(random);
}

inline std::vector<Command> CrashBatch(std::uint64_t seed, std::uint64_t batch) {
  std::mt19937_64 random(seed * 7'777'777 + batch);
  auto uniform = [&](std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random);
  };
  std::vector<Command> commands(CrashBatchSize(seed, batch));
  for (std::size_t index = 0; index < commands.size(); ++index) {
    Command& command = commands[index];
    command.id = CrashCommandId(seed, batch, index);
    command.chain = kCrashChain;
    command.member = uniform(1, 30);
    command.points = static_cast<std::int64_t>(uniform(1, 200));
    switch (uniform(0, 9)) {
      case 0: case 1: case 2: case 3: command.kind = CommandKind::kEarn; break;
      case 4: case 5: case 6: command.kind = CommandKind::kRedeem; break;
      case 7: command.kind = CommandKind::kAdjust; command.reason_code = 1; break;
      default:
        command.kind = CommandKind::kReverse;
        if (batch > 0) {
          const std::uint64_t target_batch = uniform(0, batch - 1);
          const std::uint64_t target_index = uniform(0, CrashBatchSize(seed, target_batch) - 1);
          command.target = CrashCommandId(seed, target_batch, target_index);
          command.points = static_cast<std::int64_t>(uniform(1, 60));
        } else {
          command.target = CommandId{1, 1};
        }
        break;
    }
  }
  return commands;
}

}  // namespace tally::testing

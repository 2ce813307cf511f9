// Microbenchmarks of the pieces on every request's path: the wire codec,
// checksums, and the engine's apply per command kind.
//
//   build-test/bench/micro_bench
#include <benchmark/benchmark.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "id_index.h"
#include "member_table.h"
#include "tally/ledger.h"
#include "tally/program.h"
#include "tally/protocol.h"

namespace {

std::vector<tally::Command> Earns(std::size_t count, std::uint64_t first_id) {
  std::vector<tally::Command> commands(count);
  for (std::size_t index = 0; index < count; ++index) {
    commands[index].id = {0xbe, first_id + index};
    commands[index].chain = 1;
    commands[index].member = (first_id + index) % 100'000 + 1;
    commands[index].points = 100;
  }
  return commands;
}

void BM_EncodeApplyRequest(benchmark::State& state) {
  const auto commands = Earns(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) {
    std::string frame;
    tally::wire::AppendFrame(tally::wire::Operation::kApply, 0, 1, tally::wire::EncodeApplyRequest(commands), &frame);
    benchmark::DoNotOptimize(frame);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeApplyRequest)->Arg(1)->Arg(1024);

void BM_DecodeApplyRequest(benchmark::State& state) {
  std::string frame;
  tally::wire::AppendFrame(tally::wire::Operation::kApply, 0, 1,
                           tally::wire::EncodeApplyRequest(Earns(static_cast<std::size_t>(state.range(0)), 1)), &frame);
  std::vector<tally::Command> commands;
  for (auto _ : state) {
    tally::wire::Header header;
    const std::string_view bytes(frame);
    if (!tally::wire::DecodeHeader(bytes.substr(0, tally::wire::kHeaderBytes), &header).ok()) state.SkipWithError("header");
    const std::string_view body = bytes.substr(tally::wire::kHeaderBytes);
    if (!tally::wire::CheckBody(header, body).ok()) state.SkipWithError("body");
    if (!tally::wire::DecodeApplyRequest(body, &commands).ok()) state.SkipWithError("decode");
    benchmark::DoNotOptimize(commands);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeApplyRequest)->Arg(1)->Arg(1024);

void BM_Xxh3(benchmark::State& state) {
  const std::string bytes(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(XXH3_64bits(bytes.data(), bytes.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Xxh3)->Arg(40)->Arg(14880)->Arg(1 << 20);

// Engine apply of 1,024 commands of one kind per group commit (one fsync
// each), so the per-command cost shows beside the fsync. Every member-level
// kind, and programs; an expire sweep's cost depends on how many members
// have something past date, which real time cannot arrange here, so it is
// left out. Captures and releases need open holds: each round opens 1,024
// first, outside the timing.
void BM_EngineApply(benchmark::State& state) {
  using tally::CommandKind;
  const auto kind = static_cast<CommandKind>(state.range(0));
  state.SetLabel(std::string(tally::CommandKindName(kind)));
  const std::string directory = "/tmp/tally-micro-" + std::to_string(::getpid());
  std::filesystem::remove_all(directory);
  auto ledger = std::move(tally::Ledger::Open(directory).value());
  std::uint64_t next_id = 1;
  // A program (for purchases and referrals), then plenty of points for
  // every member, and earns to reverse.
  tally::Program program;
  program.rate_points = 1;
  program.rate_minor = 100;
  program.referral_points = 50;
  tally::Command set_program;
  set_program.id = {0xbe, next_id++};
  set_program.kind = CommandKind::kProgram;
  set_program.chain = 1;
  set_program.program = program.Encode();
  auto setup = Earns(8192, next_id);
  next_id += setup.size();
  for (auto& command : setup) command.points = 1'000'000;
  for (const auto& batch : {std::vector<tally::Command>{set_program}, setup}) {
    auto set_up = ledger->Apply(batch);
    if (!set_up.ok() || set_up->back().code != tally::ResultCode::kOk) {
      state.SkipWithError(set_up.ok() ? std::string(tally::ResultCodeName(set_up->back().code)).c_str()
                                      : set_up.status().ToString().c_str());
      return;
    }
  }
  // The batch of `count` commands of `as`, for members in turn.
  std::size_t turn = 0;
  auto make = [&](CommandKind as, std::size_t count) {
    auto batch = Earns(count, next_id);
    next_id += batch.size();
    for (auto& command : batch) {
      const tally::Command& earned = setup[turn++ % setup.size()];
      command.kind = as;
      command.member = earned.member;
      command.points = 10;
      switch (as) {
        case CommandKind::kAdjust: command.reason_code = 1; break;
        case CommandKind::kReverse: command.target = earned.id; command.points = 1; break;
        case CommandKind::kProgram: command.member = 0; command.points = 0; command.program = set_program.program; break;
        case CommandKind::kEarnPurchase: command.points = 0; command.amount_minor = 12'345; command.order_reference = command.id.low; break;
        case CommandKind::kHold: command.duration_seconds = 600; break;
        case CommandKind::kTransfer: command.counterparty = setup[turn % setup.size()].member; break;
        case CommandKind::kReferral: command.points = 0; command.counterparty = 1'000'000'000 + command.id.low; break;
        default: break;
      }
    }
    return batch;
  };
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<tally::Command> batch;
    if (kind == CommandKind::kCapture || kind == CommandKind::kRelease) {
      const auto holds = make(CommandKind::kHold, 1024);
      auto held = ledger->Apply(holds);
      if (!held.ok() || held->back().code != tally::ResultCode::kOk) state.SkipWithError("hold");
      batch = make(kind, 1024);
      for (std::size_t index = 0; index < batch.size(); ++index) {
        batch[index].member = holds[index].member;
        batch[index].target = holds[index].id;
        batch[index].points = kind == CommandKind::kCapture ? 5 : 0;
      }
    } else {
      batch = make(kind, 1024);
    }
    state.ResumeTiming();
    auto results = ledger->Apply(batch);
    if (!results.ok()) {
      state.SkipWithError(results.status().ToString().c_str());
      break;
    }
    for (const tally::CommandResult& result : *results) {
      if (result.code != tally::ResultCode::kOk) {
        state.SkipWithError(std::string(tally::ResultCodeName(result.code)).c_str());
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  ledger.reset();
  std::filesystem::remove_all(directory);
}
BENCHMARK(BM_EngineApply)
    ->ArgName("kind")
    ->DenseRange(1, 9)
    ->Arg(11)
    ->Arg(12)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A ledger taking N earns, each reversed in part, in group commits of
// 4,096 reversals: the longest group's apply (the reversed totals' table
// growing lands on one) beside the mean.
void BM_LedgerLongestReversalGroup(benchmark::State& state) {
  const auto reversals = static_cast<std::uint64_t>(state.range(0));
  constexpr std::size_t kGroup = 4096;
  const std::string directory = "/tmp/tally-micro-reverse-" + std::to_string(::getpid());
  double longest_ms = 0;
  std::chrono::nanoseconds reversing{0};
  std::uint64_t groups = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(directory);
    auto ledger = std::move(tally::Ledger::Open(directory).value());
    state.ResumeTiming();
    std::chrono::nanoseconds longest{0};
    for (std::uint64_t first = 1; first <= reversals; first += kGroup) {
      auto earns = Earns(kGroup, first);
      auto reverses = Earns(kGroup, first);
      for (std::size_t index = 0; index < kGroup; ++index) {
        reverses[index].id.high = 0xbf;  // ids of their own
        reverses[index].kind = tally::CommandKind::kReverse;
        reverses[index].member = earns[index].member;
        reverses[index].target = earns[index].id;
        reverses[index].points = 1;
      }
      if (!ledger->Apply(earns).ok()) {
        state.SkipWithError("earn");
        return;
      }
      const auto started = std::chrono::steady_clock::now();
      auto results = ledger->Apply(reverses);
      const auto took = std::chrono::steady_clock::now() - started;
      longest = std::max(longest, took);
      reversing += took;
      ++groups;
      if (!results.ok() || results->back().code != tally::ResultCode::kOk) {
        state.SkipWithError("reverse");
        return;
      }
    }
    longest_ms = std::max(longest_ms, std::chrono::duration<double, std::milli>(longest).count());
    state.PauseTiming();
    ledger.reset();
    std::filesystem::remove_all(directory);
    state.ResumeTiming();
  }
  state.counters["longest_group_ms"] = longest_ms;
  state.counters["mean_group_ms"] = std::chrono::duration<double, std::milli>(reversing).count() / static_cast<double>(groups);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(reversals));
}
BENCHMARK(BM_LedgerLongestReversalGroup)->Arg(4'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);

// A table filled to N entries one insert at a time, each insert timed: the
// mean insert, and the longest single one (a table growth lands on one).
template <typename Table, typename Insert>
void LongestInsert(benchmark::State& state, Insert insert) {
  const auto entries = static_cast<std::uint64_t>(state.range(0));
  double longest_ms = 0;
  for (auto _ : state) {
    Table table;
    std::chrono::nanoseconds longest{0};
    for (std::uint64_t entry = 1; entry <= entries; ++entry) {
      const auto started = std::chrono::steady_clock::now();
      insert(table, entry);
      longest = std::max(longest, std::chrono::steady_clock::now() - started);
    }
    benchmark::DoNotOptimize(table.size());
    longest_ms = std::max(longest_ms, std::chrono::duration<double, std::milli>(longest).count());
  }
  state.counters["longest_insert_ms"] = longest_ms;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(entries));
}

// The command-id index (the fingerprint is computed inside the clock, as
// the engine does per command).
void BM_IdIndexLongestInsert(benchmark::State& state) {
  LongestInsert<tally::internal::IdIndex>(state, [](tally::internal::IdIndex& index, std::uint64_t sequence) {
    index.Insert(tally::internal::IdIndex::Fingerprint(1, {0xbe, sequence}), sequence);
  });
}
BENCHMARK(BM_IdIndexLongestInsert)->Arg(30'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);

// The member table, one new member at a time.
void BM_MemberTableLongestInsert(benchmark::State& state) {
  LongestInsert<tally::internal::MemberTable>(state, [](tally::internal::MemberTable& table, std::uint64_t member) {
    benchmark::DoNotOptimize(table.FindOrInsert({1, member}));
  });
}
BENCHMARK(BM_MemberTableLongestInsert)->Arg(13'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

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

#include "id_index.h"
#include "member_table.h"
#include "tally/ledger.h"
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
// each), so the per-command cost shows beside the fsync.
void BM_EngineApply(benchmark::State& state) {
  const auto kind = static_cast<tally::CommandKind>(state.range(0));
  const std::string directory = "/tmp/tally-micro-" + std::to_string(::getpid());
  std::filesystem::remove_all(directory);
  auto ledger = std::move(tally::Ledger::Open(directory).value());
  std::uint64_t next_id = 1;
  // Every member gets plenty of points, and earns to reverse.
  auto setup = Earns(8192, next_id);
  next_id += setup.size();
  for (auto& command : setup) command.points = 1'000'000;
  if (!ledger->Apply(setup).ok()) std::abort();
  std::size_t target = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = Earns(1024, next_id);
    next_id += batch.size();
    for (auto& command : batch) {
      command.kind = kind;
      command.member = setup[target % setup.size()].member;
      if (kind == tally::CommandKind::kAdjust) command.reason_code = 1;
      if (kind == tally::CommandKind::kReverse) {
        command.target = setup[target % setup.size()].id;
        command.points = 1;
      }
      ++target;
    }
    state.ResumeTiming();
    auto results = ledger->Apply(batch);
    if (!results.ok() || results->back().code != tally::ResultCode::kOk) state.SkipWithError("apply");
  }
  state.SetItemsProcessed(state.iterations() * 1024);
  ledger.reset();
  std::filesystem::remove_all(directory);
}
BENCHMARK(BM_EngineApply)->ArgName("kind")->DenseRange(1, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();

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

// Durable earn throughput of the engine, beside the naive RocksDB layout
// (three puts per event: event, id index, balance; synced batches) in the
// same binary, so the ratio comes from one run on one machine.
//
//   build-test/bench/engine_bench --benchmark_filter=Earn --benchmark_repetitions=3
//
// Every iteration applies one batch of earns and returns only after its
// fsync. Members are drawn from 1,000,000, uniform or Zipf (s = 0.99), and
// all exist before timing starts. Data goes under $TALLY_BENCH_DIR or /tmp.
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>

#include "tally/ledger.h"
#include "tally/limits.h"
#include "tally/program.h"
#include "tally/replay.h"
#include "workload.h"

namespace {

constexpr std::uint64_t kMembers = 1'000'000;
constexpr std::uint32_t kChain = 1;
constexpr std::size_t kMemberDrawPool = 1 << 22;

enum Distribution : int { kUniform = 0, kZipf = 1 };

std::string BenchDirectory(const std::string& name) {
  const char* base = std::getenv("TALLY_BENCH_DIR");
  const std::string path = std::string(base != nullptr ? base : "/tmp") + "/tally-bench-" +
                           std::to_string(::getpid()) + "-" + name;
  std::filesystem::remove_all(path);
  return path;
}

// A fixed pool of member draws, so drawing costs nothing while timing.
const std::vector<std::uint64_t>& MemberDraws(Distribution distribution) {
  static std::map<Distribution, std::vector<std::uint64_t>> pools;
  std::vector<std::uint64_t>& pool = pools[distribution];
  if (!pool.empty()) return pool;
  std::mt19937_64 random(distribution + 1);
  pool.resize(kMemberDrawPool);
  if (distribution == kUniform) {
    std::uniform_int_distribution<std::uint64_t> uniform(1, kMembers);
    for (auto& member : pool) member = uniform(random);
    return pool;
  }
  // Zipf by inverse CDF; ranks are scattered over the member space so hot
  // members are not neighbours (workload.h).
  std::vector<double> cdf(kMembers);
  double sum = 0;
  for (std::uint64_t rank = 0; rank < kMembers; ++rank) cdf[rank] = (sum += 1.0 / std::pow(rank + 1.0, 0.99));
  std::uniform_real_distribution<double> uniform(0, sum);
  for (auto& member : pool) {
    const auto rank = static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), uniform(random)) - cdf.begin());
    member = tally::bench::MemberDraw::MemberOfRank(rank, kMembers);
  }
  return pool;
}

// Calls `apply` with batches of 8,192 earns of `points`, one for each member
// 1..members, with command ids {id_high, member}.
template <typename Apply>
void EarnOncePerMember(std::uint64_t members, std::uint64_t id_high, std::int64_t points, Apply&& apply) {
  std::vector<tally::Command> batch;
  for (std::uint64_t member = 1; member <= members;) {
    batch.clear();
    for (; member <= members && batch.size() < 8192; ++member) {
      tally::Command command;
      command.id = tally::CommandId{id_high, member};
      command.chain = kChain;
      command.member = member;
      command.points = points;
      batch.push_back(command);
    }
    apply(batch);
  }
}

class CommandSource {
 public:
  explicit CommandSource(Distribution distribution) : draws_(MemberDraws(distribution)) {}

  void Fill(std::vector<tally::Command>* batch, std::size_t size) {
    batch->resize(size);
    for (tally::Command& command : *batch) {
      command.id = tally::CommandId{0xbe7c4, ++next_id_};
      command.kind = tally::CommandKind::kEarn;
      command.chain = kChain;
      command.member = draws_[next_draw_++ % draws_.size()];
      command.points = 10;
      command.order_reference = next_id_;
    }
  }

 private:
  const std::vector<std::uint64_t>& draws_;
  std::uint64_t next_id_ = 0;
  std::uint64_t next_draw_ = 0;
};

// ---- tally ----

struct TallyFixture {
  std::string directory;
  std::unique_ptr<tally::Ledger> ledger;
  std::unique_ptr<CommandSource> source;
};

// The fixtures live until main() closes them: RocksDB must not be closed
// from a static destructor, after its own statics are gone.
std::map<Distribution, TallyFixture> tally_fixtures;

TallyFixture& Tally(Distribution distribution) {
  TallyFixture& fixture = tally_fixtures[distribution];
  if (fixture.ledger) return fixture;
  fixture.directory = BenchDirectory(std::string("tally-") + (distribution == kZipf ? "zipf" : "uniform"));
  fixture.ledger = std::move(tally::Ledger::Open(fixture.directory).value());
  // Every member exists before timing starts.
  EarnOncePerMember(kMembers, 0x5eed, 1, [&](const std::vector<tally::Command>& batch) {
    if (!fixture.ledger->Apply(batch).ok()) std::abort();
  });
  fixture.source = std::make_unique<CommandSource>(distribution);
  return fixture;
}

void BM_TallyEarn(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  TallyFixture& fixture = Tally(static_cast<Distribution>(state.range(1)));
  std::vector<tally::Command> batch;
  for (auto _ : state) {
    state.PauseTiming();
    fixture.source->Fill(&batch, batch_size);
    state.ResumeTiming();
    auto results = fixture.ledger->Apply(batch);
    if (!results.ok() || results->back().code != tally::ResultCode::kOk) {
      state.SkipWithError("apply failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
  state.counters["members"] = static_cast<double>(fixture.ledger->Stats().members);
}

// ---- the naive layout ----

struct NaiveFixture {
  std::string directory;
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<CommandSource> source;
  std::uint64_t sequence = 0;
};

std::string Key(char prefix, std::uint64_t a, std::uint64_t b) {
  std::string key(1, prefix);
  key.append(reinterpret_cast<const char*>(&a), 8);
  key.append(reinterpret_cast<const char*>(&b), 8);
  return key;
}

// One earn the naive way: read the id index and the balance, then put the
// event, the id and the new balance, in a synced WriteBatch per batch.
void NaiveApply(NaiveFixture& fixture, const std::vector<tally::Command>& batch) {
  rocksdb::WriteBatch write;
  std::unordered_map<std::uint64_t, std::int64_t> batch_balances;
  std::string value;
  for (const tally::Command& command : batch) {
    const std::string id_key = Key('i', command.id.high, command.id.low);
    if (fixture.db->Get(rocksdb::ReadOptions(), id_key, &value).ok()) continue;  // a retry
    const std::string balance_key = Key('b', command.chain, command.member);
    std::int64_t balance = 0;
    if (auto found = batch_balances.find(command.member); found != batch_balances.end()) {
      balance = found->second;
    } else if (fixture.db->Get(rocksdb::ReadOptions(), balance_key, &value).ok()) {
      std::memcpy(&balance, value.data(), 8);
    }
    balance += command.points;
    batch_balances[command.member] = balance;
    const std::uint64_t sequence = ++fixture.sequence;
    std::string event(56, '\0');
    std::memcpy(event.data(), &command, std::min(sizeof(command), event.size()));
    write.Put(Key('e', 0, __builtin_bswap64(sequence)), event);
    write.Put(id_key, rocksdb::Slice(reinterpret_cast<const char*>(&sequence), 8));
    write.Put(balance_key, rocksdb::Slice(reinterpret_cast<const char*>(&balance), 8));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (!fixture.db->Write(sync, &write).ok()) std::abort();
}

std::map<Distribution, NaiveFixture> naive_fixtures;

NaiveFixture& Naive(Distribution distribution) {
  NaiveFixture& fixture = naive_fixtures[distribution];
  if (fixture.db) return fixture;
  fixture.directory = BenchDirectory(std::string("naive-") + (distribution == kZipf ? "zipf" : "uniform"));
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, fixture.directory, &db).ok()) std::abort();
  fixture.db.reset(db);
  EarnOncePerMember(kMembers, 0x5eed, 1, [&](const std::vector<tally::Command>& batch) { NaiveApply(fixture, batch); });
  fixture.source = std::make_unique<CommandSource>(distribution);
  return fixture;
}

void BM_NaiveEarn(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  NaiveFixture& fixture = Naive(static_cast<Distribution>(state.range(1)));
  std::vector<tally::Command> batch;
  for (auto _ : state) {
    state.PauseTiming();
    fixture.source->Fill(&batch, batch_size);
    state.ResumeTiming();
    NaiveApply(fixture, batch);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

void EarnArguments(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgNames({"batch", "zipf"});
  for (int distribution : {kUniform, kZipf}) {
    for (int batch : {1, 64, 1024, 4096, 8192}) benchmark->Args({batch, distribution});
  }
  benchmark->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(1.0);
}

BENCHMARK(BM_TallyEarn)->Apply(EarnArguments);
BENCHMARK(BM_NaiveEarn)->Apply(EarnArguments);

// ---- memory and restart at scale ----

std::uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages_total = 0;
  std::uint64_t pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Loads N members (one earn each, batches of 8,192), then reports resident
// memory per member and the time a reopen takes to rebuild the state.
void BM_MembersAtScale(benchmark::State& state) {
  const auto members = static_cast<std::uint64_t>(state.range(0));
  const std::string directory = BenchDirectory("scale-" + std::to_string(members));
  for (auto _ : state) {
    const std::uint64_t resident_before = ResidentBytes();
    auto ledger = std::move(tally::Ledger::Open(directory).value());
    EarnOncePerMember(members, 0x5ca1e, 100, [&](const std::vector<tally::Command>& batch) {
      if (!ledger->Apply(batch).ok()) std::abort();
    });
    const std::uint64_t resident_loaded = ResidentBytes();
    state.counters["resident_bytes_per_member"] =
        static_cast<double>(resident_loaded - resident_before) / static_cast<double>(members);
    state.counters["table_bytes_per_member"] =
        static_cast<double>(ledger->Stats().memory_bytes) / static_cast<double>(members);
    ledger.reset();
    auto reopened = std::move(tally::Ledger::Open(directory).value());
    state.counters["reopen_seconds"] = reopened->Stats().recovery_seconds;
    state.counters["reopen_events_per_second"] =
        static_cast<double>(reopened->Stats().last_sequence) / reopened->Stats().recovery_seconds;
    reopened.reset();
    // The audit (docs/audit.md): read-only, checksums, hash chain, every outcome re-derived.
    auto audited = tally::Replay(directory);
    if (!audited.ok()) std::abort();
    state.counters["audit_seconds"] = audited->seconds;
  }
  std::filesystem::remove_all(directory);
}

BENCHMARK(BM_MembersAtScale)->Arg(1'000'000)->Arg(10'000'000)->Iterations(1)->Unit(benchmark::kSecond);

// ---- chain-wide segment queries at scale ----

// 1,000,000 members of one chain with a program (tiers, expiry), two
// purchases each spread over 200 days; the queries run 200 days in.
struct SegmentFixture {
  std::unique_ptr<tally::Ledger> ledger;
  std::uint64_t start_us = 0;
  std::uint64_t members = 0;
};

std::unique_ptr<SegmentFixture> segment_fixture;

SegmentFixture& Segments() {
  if (segment_fixture) return *segment_fixture;
  segment_fixture = std::make_unique<SegmentFixture>([] {
    constexpr std::uint64_t kDay = 86'400'000'000;
    static std::atomic<std::uint64_t> now{1'780'000'000'000'000};
    SegmentFixture made;
    made.start_us = now.load();
    made.members = kMembers;  // the same million as the earn benchmarks
    tally::OpenOptions options;
    options.clock_us = [] { return now.load(); };
    made.ledger = std::move(tally::Ledger::Open(BenchDirectory("segments"), options).value());
    tally::Program program;
    program.rate_minor = 100;
    program.expiry = tally::ExpiryKind::kDays;
    program.expiry_value = 365;
    program.tiers = {tally::Tier{"member", 0, 1000}, tally::Tier{"silver", 1000, 1500},
                     tally::Tier{"gold", 5000, 2000}};
    tally::Command set_program;
    set_program.id = {0x5e9, 1};
    set_program.kind = tally::CommandKind::kProgram;
    set_program.chain = 1;
    set_program.program = program.Encode();
    if (!made.ledger->Apply({&set_program, 1}).ok()) std::abort();
    std::mt19937_64 random(7);
    std::uint64_t id = 1;
    // Day by day: the members whose turn it is buy (each member on two days).
    for (std::uint64_t day = 0; day < 200; ++day) {
      now = made.start_us + day * kDay;
      std::vector<tally::Command> batch;
      for (std::uint64_t member = day; member < kMembers; member += 100) {
        tally::Command purchase;
        purchase.id = {0x5e9, ++id};
        purchase.kind = tally::CommandKind::kEarnPurchase;
        purchase.chain = 1;
        purchase.member = member;
        purchase.order_reference = id;
        purchase.amount_minor = 1'000 + random() % 150'000;
        batch.push_back(purchase);
        if (batch.size() == tally::kBatchCommandsMax) {
          if (!made.ledger->Apply(batch).ok()) std::abort();
          batch.clear();
        }
      }
      if (!batch.empty() && !made.ledger->Apply(batch).ok()) std::abort();
    }
    now = made.start_us + 200 * kDay;
    return made;
  }());
  return *segment_fixture;
}

// One full scan of a segment, page by page, as `tally segment` does it.
void BM_Segment(benchmark::State& state) {
  SegmentFixture& fixture = Segments();
  constexpr std::uint64_t kDay = 86'400'000'000;
  tally::SegmentQuery query;
  query.chain = 1;
  query.kind = static_cast<tally::SegmentKind>(state.range(0));
  query.days = 60;                                 // 41 % last bought 60 or more days ago
  query.within_points = 200;                       // near silver or gold
  query.before_us = fixture.start_us + 400 * kDay;  // the lots of the first 35 days
  std::uint64_t matched = 0;
  std::uint64_t pages = 0;
  std::int64_t resident_growth = 0;
  for (auto _ : state) {
    matched = 0;
    pages = 0;
    const std::uint64_t resident_before = ResidentBytes();
    std::string cursor;
    do {
      auto page = fixture.ledger->FindMembers(query, cursor, tally::kSegmentPageMembersMax);
      if (!page.ok()) std::abort();
      matched += page->members.size();
      ++pages;
      cursor = page->next_cursor;
    } while (!cursor.empty());
    resident_growth = static_cast<std::int64_t>(ResidentBytes()) - static_cast<std::int64_t>(resident_before);
  }
  state.counters["members"] = static_cast<double>(fixture.members);
  state.counters["matched"] = static_cast<double>(matched);
  state.counters["pages"] = static_cast<double>(pages);
  state.counters["resident_growth_bytes"] = static_cast<double>(resident_growth);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * fixture.members));
}

BENCHMARK(BM_Segment)
    ->ArgName("kind")
    ->Arg(static_cast<int>(tally::SegmentKind::kInactive))
    ->Arg(static_cast<int>(tally::SegmentKind::kNearNextTier))
    ->Arg(static_cast<int>(tally::SegmentKind::kExpiring))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

// Remove the bench data directories when the run ends.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  tally_fixtures.clear();
  naive_fixtures.clear();
  segment_fixture.reset();
  const char* base = std::getenv("TALLY_BENCH_DIR");
  for (const auto& entry : std::filesystem::directory_iterator(base != nullptr ? base : "/tmp")) {
    if (entry.path().filename().string().starts_with("tally-bench-" + std::to_string(::getpid()))) {
      std::filesystem::remove_all(entry.path());
    }
  }
  return 0;
}

// tally-bench: drives tally (through its client library), PostgreSQL or Redis
// with the same workload, and checks that the balances are exact afterwards.
//
//   tally-bench --system tally --server 127.0.0.1:7411 --duration 10 --connections 4 --window 4 --batch 1024
//   tally-bench --system postgres --server "host=/tmp/pg port=5433 dbname=postgres" --connections 8
//   tally-bench --system redis --server 127.0.0.1:6390 --connections 32 [--batch 64]
//
// Options (defaults): --duration 10 (s, measured), --warmup 1 (s before
// them: the workload runs, its calls are checked for exactness but not
// measured; see docs/bench.md), --connections 4 (generator threads,
// each with its own connection), --clients 0 (tally: if > 0, the threads share
// this many client connections instead), --window 1
// (calls in flight per connection, tally), --batch 1 (tally: commands per
// request; redis: commands per pipeline), --rate 0 (events/s over all
// connections, due at the times of a Poisson process, each call taken by
// the next free thread; 0: closed loop), --members 1000000, --zipf 0 (exponent; 0:
// uniform), --mix earn=70,redeem=15,balance=10,reverse=5[,hold=N] (hold: a
// hold then its capture, two commands), --retry-share 0.02,
// --seed 1, --json, --tls-ca FILE (tally: speak TLS, trusting FILE),
// --latencies FILE (every call's due time, µs from the start, its latency
// in µs, and its thread, one call a line: to plot, or to see when the
// slow calls came),
// --chain N (tally: the chain to use; by default a new one from the clock,
// since the check expects every member of the run to start at zero).
//
// A live progress line goes to stderr; the summary to stdout, and with
// --json the last line is one JSON object. Exit status 0 only when the run
// completed and the exactness check passed.
#include <sys/prctl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "address.h"
#include "driver.h"

namespace tally::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  Target target{"tally", "127.0.0.1:7411", 1, 1, 0, ""};
  int duration_seconds = 10;
  double warmup_seconds = 1;
  int connections = 4;
  int window = 1;
  double rate = 0;
  std::uint64_t members = 1'000'000;
  double zipf = 0;
  Mix mix;
  double retry_share = 0.02;
  std::uint64_t seed = 1;
  std::uint64_t chain = 0;  // 0: a new one
  bool json = false;
  std::string latencies_file;  // empty: none written
};

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr, "tally-bench: %s\n(see the comment at the top of bench/tally_bench.cc)\n", message.c_str());
  std::exit(2);
}

Mix ParseMix(const std::string& text) {
  Mix mix{0, 0, 0, 0};
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, comma - start);
    const std::size_t equals = part.find('=');
    if (equals == std::string::npos) Usage("--mix wants name=weight,…");
    const std::string name = part.substr(0, equals);
    const int weight = std::atoi(part.c_str() + equals + 1);
    if (name == "earn") mix.earn = weight;
    else if (name == "redeem") mix.redeem = weight;
    else if (name == "balance") mix.balance = weight;
    else if (name == "reverse") mix.reverse = weight;
    else if (name == "hold") mix.hold = weight;
    else Usage("unknown operation in --mix: " + name);
    start = comma + 1;
  }
  if (mix.total() <= 0 || mix.earn <= 0) Usage("--mix needs a positive earn weight");
  return mix;
}

Settings Parse(int argc, char** argv) {
  Settings settings;
  for (int index = 1; index < argc; ++index) {
    const std::string flag = argv[index];
    if (flag == "--json") {
      settings.json = true;
      continue;
    }
    if (index + 1 >= argc) Usage(flag + " needs a value");
    const std::string value = argv[++index];
    if (flag == "--system") settings.target.system = value;
    else if (flag == "--server") settings.target.address = value;
    else if (flag == "--tls-ca") settings.target.tls_ca = value;
    else if (flag == "--duration") settings.duration_seconds = std::atoi(value.c_str());
    else if (flag == "--warmup") settings.warmup_seconds = std::atof(value.c_str());
    else if (flag == "--connections") settings.connections = std::atoi(value.c_str());
    else if (flag == "--window") settings.window = std::atoi(value.c_str());
    else if (flag == "--batch") settings.target.batch = static_cast<std::size_t>(std::atoll(value.c_str()));
    else if (flag == "--rate") settings.rate = std::atof(value.c_str());
    else if (flag == "--members") settings.members = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--zipf") settings.zipf = std::atof(value.c_str());
    else if (flag == "--mix") settings.mix = ParseMix(value);
    else if (flag == "--retry-share") settings.retry_share = std::atof(value.c_str());
    else if (flag == "--seed") settings.seed = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--clients") settings.target.clients = std::atoi(value.c_str());
    else if (flag == "--chain") settings.chain = std::strtoull(value.c_str(), nullptr, 10);
    else if (flag == "--latencies") settings.latencies_file = value;
    else Usage("unknown option " + flag);
  }
  if (settings.duration_seconds <= 0 || !(settings.warmup_seconds >= 0) || settings.warmup_seconds > 3600 ||
      settings.connections <= 0 || settings.window <= 0 ||
      settings.target.batch == 0 || settings.members == 0 || settings.retry_share < 0 || settings.retry_share >= 1 ||
      settings.chain > 0xffffffff) {
    Usage("an option is out of range");
  }
  if (settings.target.system != "tally" && settings.target.system != "postgres" && settings.target.system != "redis") {
    Usage("--system is tally, postgres or redis");
  }
  if (settings.target.system != "postgres" && !ParseAddress(settings.target.address)) {
    Usage("--server is HOST:PORT, not " + settings.target.address);
  }
  // A chain of its own for every tally run, so every balance starts at zero.
  settings.target.chain = settings.chain != 0
                              ? static_cast<std::uint32_t>(settings.chain)
                              : static_cast<std::uint32_t>(
                                    (std::chrono::system_clock::now().time_since_epoch().count() / 1000) % 0x7fffffff + 1);
  return settings;
}

std::unique_ptr<Driver> MakeDriver(const Target& target, int thread, std::string* error) {
  if (target.system == "tally") return MakeTallyDriver(target, thread, error);
  if (target.system == "postgres") return MakePostgresDriver(target, error);
  return MakeRedisDriver(target, error);
}

// What one generator thread saw.
struct ThreadReport {
  std::uint64_t events = 0;   // commands answered (ok or rejected, retries included)
  std::uint64_t queries = 0;  // balance reads answered
  std::uint64_t retry_mismatches = 0;
  std::map<std::string, std::uint64_t> errors;     // by result code or failure
  std::array<std::uint64_t, 256> codes{};          // tally's result codes, added to `errors` at the end
  std::vector<std::uint32_t> latencies_us;
  std::vector<std::uint32_t> start_delays_us;  // open loop: due time → the call's start
  std::vector<std::uint64_t> due_us;  // each call's due time from the start, with --latencies
};

// What the generator expects of every member, shared by all threads: a flat
// table indexed by member number, so the bookkeeping stays cheap beside the
// system under test (a hash map here cost the generator a quarter of its CPU).
struct Expectations {
  explicit Expectations(std::uint64_t members) : balance(members + 1), touched(members + 1) {}
  std::vector<std::atomic<std::int64_t>> balance;  // sum of applied deltas
  std::vector<std::atomic<bool>> touched;          // a command was answered for this member
};

// One line per call, in due order: due_us latency_us thread.
void WriteLatencies(const std::string& path, const std::vector<ThreadReport>& reports) {
  struct Call {
    std::uint64_t due_us;
    std::uint32_t latency_us;
    int thread;
  };
  std::vector<Call> calls;
  for (std::size_t thread = 0; thread < reports.size(); ++thread) {
    const ThreadReport& report = reports[thread];
    for (std::size_t index = 0; index < report.due_us.size(); ++index) {
      calls.push_back({report.due_us[index], report.latencies_us[index], static_cast<int>(thread)});
    }
  }
  std::sort(calls.begin(), calls.end(), [](const Call& a, const Call& b) { return a.due_us < b.due_us; });
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    std::fprintf(stderr, "tally-bench: cannot write %s\n", path.c_str());
    return;
  }
  std::fprintf(file, "# due_us latency_us thread\n");
  for (const Call& call : calls) std::fprintf(file, "%" PRIu64 " %u %d\n", call.due_us, call.latency_us, call.thread);
  if (std::fclose(file) != 0) std::fprintf(stderr, "tally-bench: cannot write %s\n", path.c_str());
}

Clock::duration WarmupOf(const Settings& settings) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(settings.warmup_seconds));
}

// The threads get ready (made, their state built) before the clock starts,
// so that the first calls are not late for reasons of the generator's own.
class StartLine {
 public:
  explicit StartLine(int threads) : waiting_(threads) {}
  // A thread is ready; returns the start once every thread is.
  Clock::time_point Ready() {
    std::unique_lock lock(mutex_);
    if (--waiting_ == 0) {
      // A little ahead, so that every thread is awake by the first call.
      start_ = Clock::now() + std::chrono::milliseconds(5);
      started_ = true;
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return started_; });
    return start_;
  }
  // For the main thread, once every thread is ready (or none was made).
  Clock::time_point Start() {
    std::unique_lock lock(mutex_);
    if (waiting_ == 0 && !started_) {
      start_ = Clock::now();
      started_ = true;
    }
    changed_.wait(lock, [&] { return started_; });
    return start_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int waiting_;
  bool started_ = false;
  Clock::time_point start_;
};

void Generate(const Settings& settings, int thread, std::unique_ptr<Driver> driver, StartLine* start_line,
              Timetable* timetable, std::atomic<std::uint64_t>* progress, Expectations* expectations,
              ThreadReport* report) {
  OpSource source(settings.members, settings.zipf, settings.mix, settings.retry_share,
                  static_cast<std::uint64_t>(thread), settings.seed);
  // Room for this thread's share of an open loop's calls and more, so the
  // record does not grow (copying) during the run.
  if (settings.rate > 0) {
    const auto expected = static_cast<std::size_t>(settings.rate * (settings.duration_seconds + settings.warmup_seconds) /
                                                   static_cast<double>(settings.connections));
    report->latencies_us.reserve(expected * 2);
    report->start_delays_us.reserve(expected * 2);
    if (!settings.latencies_file.empty()) report->due_us.reserve(expected * 2);
  }
  // An open loop's thread sleeps until each call is due, and the call's
  // latency counts from then: the kernel's default timer slack (50 µs)
  // would let it wake that much later and charge the wait to the system
  // measured. Woken as close to the due time as the kernel can.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const Clock::time_point start = start_line->Ready();
  const Clock::time_point measured = start + WarmupOf(settings);  // calls due from here on count
  const Clock::time_point end = measured + std::chrono::seconds(settings.duration_seconds);
  std::this_thread::sleep_until(start);  // the clock's start, not synchronization
  const std::size_t ops_per_call = settings.target.batch * static_cast<std::size_t>(settings.window);
  // Open loop: the thread takes the next call of the shared timetable;
  // latency counts from when the call was due, so a slow system is not
  // excused by sending less.
  auto next_due = [&] {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timetable->Take()));
  };
  // tally: the first result of each of the thread's newest commands, by the
  // low half of its id (OpSource numbers them 1, 2, 3 … per thread), in a
  // ring: a retry repeats one of the newest kRetryWindow commands, and
  // outcomes are read in the order the commands were made, so its original
  // is still there. (A table of every command, grown by doubling, took a
  // page fault per 85 commands, ~12 % of the generator's CPU.)
  struct Original {
    std::uint64_t id_low = 0;  // 0: none yet
    CommandResult result;
  };
  constexpr std::size_t kOriginals = 2 * OpSource::kRetryWindow;
  static_assert((kOriginals & (kOriginals - 1)) == 0);
  std::vector<Original> originals(kOriginals);
  std::vector<Op> ops;
  std::vector<Outcome> outcomes;
  Clock::time_point due = settings.rate > 0 ? next_due() : start;
  while (true) {
    const Clock::time_point now = Clock::now();
    if (now >= end) break;
    if (settings.rate > 0) {
      if (due > now) std::this_thread::sleep_until(due);  // pacing the open loop, not synchronization
    } else {
      due = now;
    }
    ops.clear();
    for (std::size_t index = 0; index < ops_per_call; ++index) ops.push_back(source.Next());
    const Clock::time_point started = Clock::now();
    driver->Execute(ops, &outcomes);
    const bool counted = due >= measured;
    if (counted) {
      report->latencies_us.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due).count()));
      if (settings.rate > 0) {
        report->start_delays_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(started - due).count()));
      }
      if (!settings.latencies_file.empty()) {
        report->due_us.push_back(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(due - measured).count()));
      }
    }
    if (settings.rate > 0) due = next_due();
    std::uint64_t answered = 0;
    // The expectations are a table far larger than the caches, touched at
    // random: start loading an op's entries a few ops before its update, as
    // the engine does, so the bookkeeping takes little CPU from the system
    // under test on the same cores.
    constexpr std::size_t kAhead = 16;
    auto prefetch = [&](std::size_t index) {
      if (index >= ops.size()) return;
      __builtin_prefetch(&expectations->balance[ops[index].member], 1);
      __builtin_prefetch(&expectations->touched[ops[index].member], 1);
    };
    for (std::size_t index = 0; index < kAhead; ++index) prefetch(index);
    for (std::size_t index = 0; index < ops.size(); ++index) {
      prefetch(index + kAhead);
      const Op& op = ops[index];
      const Outcome& outcome = outcomes[index];
      if (!outcome.error.empty()) {
        report->errors["failed: " + outcome.error.substr(0, 80)] += 1;
        continue;
      }
      if (op.kind == OpKind::kBalance) {
        if (counted) ++report->queries;
        continue;
      }
      if (counted) report->events += static_cast<std::uint64_t>(CommandsOf(op));
      answered += static_cast<std::uint64_t>(CommandsOf(op));
      if (settings.target.system == "tally") {
        Original& original = originals[op.id.low & (kOriginals - 1)];
        if (original.id_low != op.id.low) {
          original = Original{op.id.low, outcome.result};
        } else if (original.result != outcome.result) {
          ++report->retry_mismatches;
        }
        if (counted && outcome.result.code != ResultCode::kOk) {
          ++report->codes[static_cast<std::uint8_t>(outcome.result.code)];
        }
      } else if (counted && outcome.rejected) {
        report->errors["insufficient_points"] += 1;
      } else if (counted && outcome.duplicate) {
        report->errors["duplicate (retry)"] += 1;
      }
      expectations->touched[op.member].store(true, std::memory_order_relaxed);
      if (outcome.applied) expectations->balance[op.member].fetch_add(outcome.delta, std::memory_order_relaxed);
    }
    progress->fetch_add(answered, std::memory_order_relaxed);
  }
}

std::uint32_t Percentile(std::vector<std::uint32_t>& values, double fraction) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

std::string JsonEscape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  return escaped;
}

int Run(const Settings& settings) {
  if (settings.target.system == "postgres") {
    if (Status status = PreparePostgres(settings.target); !status.ok()) Usage(status.ToString());
  } else if (settings.target.system == "redis") {
    if (Status status = PrepareRedis(settings.target); !status.ok()) Usage(status.ToString());
  }
  std::vector<ThreadReport> reports(static_cast<std::size_t>(settings.connections));
  Expectations expectations(settings.members);
  std::atomic<std::uint64_t> progress{0};
  std::atomic<bool> finished{false};
  // Every connection is made before the clock starts: connecting is not part
  // of the workload, and in an open loop it would make the first calls late.
  std::vector<std::unique_ptr<Driver>> drivers;
  for (int thread = 0; thread < settings.connections; ++thread) {
    std::string error;
    drivers.push_back(MakeDriver(settings.target, thread, &error));
    if (!drivers.back()) reports[static_cast<std::size_t>(thread)].errors["connect: " + error] += 1;
  }
  const std::size_t ops_per_call = settings.target.batch * static_cast<std::size_t>(settings.window);
  Timetable timetable(settings.rate > 0 ? settings.rate / static_cast<double>(ops_per_call) : 1,
                      settings.seed * 0x9E3779B97F4A7C15ULL + 1);
  int made = 0;
  for (const auto& driver : drivers) made += driver ? 1 : 0;
  StartLine start_line(made);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < settings.connections; ++thread) {
    if (!drivers[static_cast<std::size_t>(thread)]) continue;  // its failure is in its report
    threads.emplace_back(Generate, std::cref(settings), thread, std::move(drivers[static_cast<std::size_t>(thread)]),
                         &start_line, &timetable, &progress, &expectations, &reports[static_cast<std::size_t>(thread)]);
  }
  const Clock::time_point start = start_line.Start();
  const Clock::time_point measured = start + WarmupOf(settings);
  std::thread monitor([&] {
    std::uint64_t last = 0;
    for (int second = 1; !finished.load(); ++second) {
      std::this_thread::sleep_until(start + std::chrono::seconds(second));  // a progress display, not synchronization
      const std::uint64_t now = progress.load();
      std::fprintf(stderr, "\r[%3ds] %10" PRIu64 " events  %10" PRIu64 " events/s   ", second, now, now - last);
      last = now;
    }
    std::fprintf(stderr, "\n");
  });
  for (std::thread& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - measured).count();
  finished = true;
  monitor.join();

  if (!settings.latencies_file.empty()) WriteLatencies(settings.latencies_file, reports);

  ThreadReport total;
  for (ThreadReport& report : reports) {
    total.events += report.events;
    total.queries += report.queries;
    total.retry_mismatches += report.retry_mismatches;
    for (const auto& [name, count] : report.errors) total.errors[name] += count;
    for (std::size_t code = 0; code < report.codes.size(); ++code) {
      if (report.codes[code] != 0) {
        total.errors[std::string(ResultCodeName(static_cast<ResultCode>(code)))] += report.codes[code];
      }
    }
    total.latencies_us.insert(total.latencies_us.end(), report.latencies_us.begin(), report.latencies_us.end());
    total.start_delays_us.insert(total.start_delays_us.end(), report.start_delays_us.begin(),
                                 report.start_delays_us.end());
  }

  // The exactness check: every touched member's balance, read back.
  std::string check = "ok";
  std::uint64_t mismatches = 0;
  std::vector<std::uint64_t> members;
  for (std::uint64_t member = 1; member <= settings.members; ++member) {
    if (expectations.touched[member].load()) members.push_back(member);
  }
  std::string error;
  Target own_connection = settings.target;
  own_connection.clients = 0;
  std::unique_ptr<Driver> reader = MakeDriver(own_connection, 0, &error);
  std::vector<std::int64_t> balances;
  if (!reader) {
    check = "cannot read balances back: " + error;
  } else if (Status status = reader->ReadBalances(members, &balances); !status.ok()) {
    check = "cannot read balances back: " + status.ToString();
  } else {
    for (std::size_t index = 0; index < members.size(); ++index) {
      const std::int64_t expected = expectations.balance[members[index]].load();
      if (balances[index] != expected) {
        if (mismatches++ == 0) {
          check = "member " + std::to_string(members[index]) + " has " + std::to_string(balances[index]) +
                  ", expected " + std::to_string(expected);
        }
      }
    }
  }
  for (const auto& [name, count] : total.errors) {
    if (name.starts_with("failed") || name.starts_with("connect")) check = "operations failed: " + name;
  }
  if (total.retry_mismatches != 0) check = "retries returned a result other than the original";
  const bool exact = check == "ok";

  const double events_per_second = static_cast<double>(total.events) / seconds;
  const std::uint32_t p50 = Percentile(total.latencies_us, 0.50);
  const std::uint32_t p90 = Percentile(total.latencies_us, 0.90);
  const std::uint32_t p99 = Percentile(total.latencies_us, 0.99);
  const std::uint32_t p999 = Percentile(total.latencies_us, 0.999);
  const std::uint32_t max = total.latencies_us.empty() ? 0 : *std::max_element(total.latencies_us.begin(), total.latencies_us.end());
  // Open loop: how late calls started (a thread waking at the due time, or
  // every thread busy), part of the latencies above.
  const std::uint32_t start_p50 = Percentile(total.start_delays_us, 0.50);
  const std::uint32_t start_p99 = Percentile(total.start_delays_us, 0.99);

  std::printf("%s: %d connections, window %d, batch %zu, %s loop: %.0f events/s (%" PRIu64 " events, %" PRIu64
              " balance reads in %.1f s, after %.1f s of warm-up)\n",
              settings.target.system.c_str(), settings.connections, settings.window, settings.target.batch,
              settings.rate > 0 ? "open" : "closed", events_per_second, total.events, total.queries, seconds,
              settings.warmup_seconds);
  std::printf("call latency us: p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", p50, p90, p99, p999, max);
  if (settings.rate > 0) std::printf("  of it, due → started us: p50 %u  p99 %u\n", start_p50, start_p99);
  for (const auto& [name, count] : total.errors) std::printf("  %-28s %" PRIu64 "\n", name.c_str(), count);
  std::printf("exactness: %s (%zu members read back, %" PRIu64 " differ)\n", exact ? "PASSED" : "FAILED",
              members.size(), mismatches);
  if (!exact) std::printf("  %s\n", check.c_str());
  if (settings.json) {
    std::printf("{\"system\":\"%s\",\"connections\":%d,\"window\":%d,\"batch\":%zu,\"rate\":%.0f,"
                "\"events_per_second\":%.0f,\"events\":%" PRIu64 ",\"seconds\":%.3f,\"warmup_seconds\":%.3f,"
                "\"latency_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u},",
                settings.target.system.c_str(), settings.connections, settings.window, settings.target.batch,
                settings.rate, events_per_second, total.events, seconds, settings.warmup_seconds, p50, p90, p99, p999,
                max);
    if (settings.rate > 0) std::printf("\"start_delay_us\":{\"p50\":%u,\"p99\":%u},", start_p50, start_p99);
    std::printf("\"errors\":{");
    bool first = true;
    for (const auto& [name, count] : total.errors) {
      std::printf("%s\"%s\":%" PRIu64, first ? "" : ",", JsonEscape(name).c_str(), count);
      first = false;
    }
    std::printf("},\"exact\":%s,\"check\":\"%s\"}\n", exact ? "true" : "false", JsonEscape(check).c_str());
  }
  return exact ? 0 : 1;
}

}  // namespace
}  // namespace tally::bench

int main(int argc, char** argv) { return tally::bench::Run(tally::bench::Parse(argc, argv)); }

// server_load: a small closed-loop load generator for tallyd through the
// client library (the full tally-bench comes later). Each connection has its
// own thread keeping `window` apply requests of `batch` earns in flight.
//
//   server_load --server 127.0.0.1:7411 --connections 4 --batch 1024 --window 4 --seconds 10
//   server_load --server 127.0.0.1:7411 --connections 1 --batch 1 --window 1 --seconds 10   (latency)
//
// Prints events/s and request latency percentiles (µs), and checks that every
// command came back ok.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "address.h"
#include "tally/client.h"

namespace {

struct Settings {
  tally::bench::Address server{"127.0.0.1", 7411};
  int connections = 4;
  int batch = 1024;
  int window = 4;
  int seconds = 10;
  std::uint64_t members = 1'000'000;
};

Settings Parse(int argc, char** argv) {
  Settings settings;
  for (int index = 1; index + 1 < argc; index += 2) {
    const std::string flag = argv[index];
    const std::string value = argv[index + 1];
    if (flag == "--server") {
      const auto server = tally::bench::ParseAddress(value);
      if (!server) {
        std::fprintf(stderr, "server_load: --server is HOST:PORT, not %s\n", value.c_str());
        std::exit(2);
      }
      settings.server = *server;
    } else if (flag == "--connections") {
      settings.connections = std::stoi(value);
    } else if (flag == "--batch") {
      settings.batch = std::stoi(value);
    } else if (flag == "--window") {
      settings.window = std::stoi(value);
    } else if (flag == "--seconds") {
      settings.seconds = std::stoi(value);
    } else if (flag == "--members") {
      settings.members = std::stoull(value);
    } else {
      std::fprintf(stderr, "server_load: unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return settings;
}

struct Outcome {
  std::uint64_t events = 0;
  std::uint64_t failures = 0;
  std::vector<std::uint32_t> latencies_us;
};

void Drive(const Settings& settings, int connection, std::chrono::steady_clock::time_point end, Outcome* outcome) {
  tally::ClientOptions options;
  options.host = settings.server.host;
  options.port = settings.server.port;
  options.call_timeout = std::chrono::seconds(30);
  auto client = tally::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "server_load: %s\n", client.status().ToString().c_str());
    std::exit(3);
  }
  std::mt19937_64 random(static_cast<std::uint64_t>(connection) * 7919 + 1);
  std::uniform_int_distribution<std::uint64_t> member(1, settings.members);
  const std::uint64_t nonce = std::random_device()();
  std::uint64_t next_id = 0;
  using Clock = std::chrono::steady_clock;
  std::deque<std::pair<Clock::time_point, std::future<tally::Result<std::vector<tally::CommandResult>>>>> window;
  auto collect = [&] {
    auto result = window.front().second.get();
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - window.front().first);
    outcome->latencies_us.push_back(static_cast<std::uint32_t>(latency.count()));
    window.pop_front();
    if (!result.ok()) {
      outcome->failures += static_cast<std::uint64_t>(settings.batch);
      return;
    }
    for (const tally::CommandResult& command_result : *result) {
      if (command_result.code == tally::ResultCode::kOk) ++outcome->events;
      else ++outcome->failures;
    }
  };
  while (Clock::now() < end) {
    while (static_cast<int>(window.size()) < settings.window) {
      std::vector<tally::Command> batch(static_cast<std::size_t>(settings.batch));
      for (tally::Command& command : batch) {
        command.id = {nonce ^ (static_cast<std::uint64_t>(connection) << 48), ++next_id};
        command.chain = 1;
        command.member = member(random);
        command.points = 10;
      }
      window.emplace_back(Clock::now(), (*client)->ApplyAsync(std::move(batch)));
    }
    collect();
  }
  while (!window.empty()) collect();
}

std::uint32_t Percentile(std::vector<std::uint32_t>& values, double fraction) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = Parse(argc, argv);
  std::vector<Outcome> outcomes(static_cast<std::size_t>(settings.connections));
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + std::chrono::seconds(settings.seconds);
  std::vector<std::thread> threads;
  for (int connection = 0; connection < settings.connections; ++connection) {
    threads.emplace_back(Drive, std::cref(settings), connection, end, &outcomes[static_cast<std::size_t>(connection)]);
  }
  for (std::thread& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  Outcome total;
  for (Outcome& outcome : outcomes) {
    total.events += outcome.events;
    total.failures += outcome.failures;
    total.latencies_us.insert(total.latencies_us.end(), outcome.latencies_us.begin(), outcome.latencies_us.end());
  }
  const std::uint32_t p50 = Percentile(total.latencies_us, 0.50);
  const std::uint32_t p99 = Percentile(total.latencies_us, 0.99);
  const std::uint32_t p999 = Percentile(total.latencies_us, 0.999);
  const std::uint32_t max = total.latencies_us.empty() ? 0 : *std::max_element(total.latencies_us.begin(), total.latencies_us.end());
  std::printf("connections %d batch %d window %d: %.0f events/s (%" PRIu64 " events in %.1f s), "
              "request latency us p50 %u p99 %u p99.9 %u max %u, failures %" PRIu64 "\n",
              settings.connections, settings.batch, settings.window, static_cast<double>(total.events) / seconds,
              total.events, seconds, p50, p99, p999, max, total.failures);
  return total.failures == 0 ? 0 : 1;
}

// Durability through the server: tallyd runs as a child process, clients
// load it and record every acknowledgement, and it is killed with SIGKILL
// under that load, several times. After each restart every acknowledged
// command is present with its original result, resending every command id
// returns the original results, and balances equal the sum of the commands
// that are present.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "tally/client.h"
#include "../engine/test_util.h"

namespace tally {
namespace {

constexpr int kRestarts = 5;
constexpr int kClientThreads = 8;
constexpr std::uint64_t kMembers = 40;
// Calls failing on a live server this often fail the test instead of hanging it.
constexpr std::size_t kFailuresMax = 200;

// A tallyd child process on an ephemeral port.
class Tallyd {
 public:
  explicit Tallyd(const std::string& directory) {
    int pipe_ends[2];
    TALLY_ASSERT(::pipe(pipe_ends) == 0);
    pid_ = ::fork();
    TALLY_ASSERT(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(pipe_ends[1], STDOUT_FILENO);
      ::close(pipe_ends[0]);
      ::close(pipe_ends[1]);
      ::execl(TALLYD_PATH, TALLYD_PATH, "--data", directory.c_str(), "--listen", "127.0.0.1:0",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(pipe_ends[1]);
    // The first line says where it listens: "tallyd listening on 127.0.0.1:PORT, ...".
    std::string line;
    char byte;
    while (::read(pipe_ends[0], &byte, 1) == 1 && byte != '\n') line += byte;
    ::close(pipe_ends[0]);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) port_ = static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1)));
  }

  ~Tallyd() {
    if (pid_ > 0) Kill();
  }

  void Kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// Calls of the loading clients fail this long after the kill.
std::unique_ptr<Client> ConnectTo(std::uint16_t port, std::chrono::milliseconds call_timeout) {
  ClientOptions options;
  options.port = port;
  options.call_timeout = call_timeout;
  auto client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client.value()) : nullptr;
}

TEST(ServerCrashTest, KilledServerKeepsEveryAcknowledgedCommand) {
  testing::TemporaryDirectory directory;
  std::map<std::uint64_t, Command> sent;                 // every command ever sent, by id
  std::map<std::uint64_t, CommandResult> acknowledged;   // id -> result the client got
  std::uint64_t next_id = 1;

  for (int restart = 0; restart < kRestarts; ++restart) {
    SCOPED_TRACE("restart " + std::to_string(restart));
    Tallyd tallyd(directory.path());
    ASSERT_NE(tallyd.port(), 0) << "tallyd did not start";
    auto client = ConnectTo(tallyd.port(), std::chrono::milliseconds(2'000));
    ASSERT_TRUE(client);

    // Load from several threads until the kill; count acknowledgements. A
    // call that fails while the server lives (its deadline passed on a loaded
    // machine) leaves its command sent but unacknowledged, and the thread goes
    // on: only the kill ends the load. Calls fail by their deadline after the
    // kill (the client keeps reconnecting until then).
    std::mutex mutex;
    std::condition_variable progress;
    std::size_t acknowledged_now = 0;
    std::size_t failed_before_kill = 0;
    Status last_failure;
    bool killed = false;
    const std::size_t kill_after = 300 + 200 * static_cast<std::size_t>(restart);
    std::vector<std::thread> threads;
    for (int thread = 0; thread < kClientThreads; ++thread) {
      threads.emplace_back([&] {
        while (true) {
          Command command;
          {
            std::lock_guard lock(mutex);
            if (killed) return;
            command = testing::Earn(next_id, 3, next_id % kMembers, static_cast<std::int64_t>(next_id % 17 + 1));
            sent[next_id++] = command;
          }
          auto result = client->Submit(command);
          std::lock_guard lock(mutex);
          if (result.ok()) {
            acknowledged[command.id.low] = *result;
            ++acknowledged_now;
          } else if (!killed) {
            ++failed_before_kill;
            last_failure = result.status();
          }
          progress.notify_one();
        }
      });
    }
    {
      std::unique_lock lock(mutex);
      progress.wait(lock, [&] { return acknowledged_now >= kill_after || failed_before_kill >= kFailuresMax; });
      EXPECT_LT(failed_before_kill, kFailuresMax) << "calls keep failing on a live server: " << last_failure.ToString();
      killed = true;
    }
    tallyd.Kill();
    for (std::thread& thread : threads) thread.join();
    client.reset();

    // Restart and check.
    Tallyd restarted(directory.path());
    ASSERT_NE(restarted.port(), 0);
    auto checker = ConnectTo(restarted.port(), std::chrono::milliseconds(30'000));
    ASSERT_TRUE(checker);
    std::map<std::uint64_t, std::int64_t> expected_balances;
    std::vector<std::future<Result<std::optional<CommandResult>>>> finds;  // pipelined
    for (const auto& [id, command] : sent) finds.push_back(checker->FindAsync(command.chain, command.id));
    auto next_find = finds.begin();
    for (const auto& [id, command] : sent) {
      auto found = (next_find++)->get();
      ASSERT_TRUE(found.ok()) << found.status().ToString();
      auto acked = acknowledged.find(id);
      if (acked != acknowledged.end()) {
        ASSERT_TRUE(found->has_value()) << "acknowledged command " << id << " was lost";
        ASSERT_EQ(**found, acked->second) << "command " << id;
      }
      if (found->has_value()) expected_balances[command.member] += command.points;
    }
    // Balances are the sums of exactly the commands that are present: nothing half applied.
    for (std::uint64_t member = 0; member < kMembers; ++member) {
      ASSERT_EQ(checker->GetBalance({3, member})->points, expected_balances[member]) << "member " << member;
    }
    // Resending every command id returns the original results (and applies
    // the ones that never arrived).
    std::vector<std::future<Result<CommandResult>>> resent;
    for (const auto& [id, command] : sent) resent.push_back(checker->SubmitAsync(command));
    auto next_resent = resent.begin();
    for (const auto& [id, command] : sent) {
      auto result = (next_resent++)->get();
      ASSERT_TRUE(result.ok());
      ASSERT_EQ(result->code, ResultCode::kOk);
      auto acked = acknowledged.find(id);
      if (acked != acknowledged.end()) {
        ASSERT_EQ(*result, acked->second);
      }
      acknowledged[id] = *result;
    }
    for (std::uint64_t member = 0; member < kMembers; ++member) {
      std::int64_t all_sent = 0;
      for (const auto& [id, command] : sent) all_sent += command.member == member ? command.points : 0;
      ASSERT_EQ(checker->GetBalance({3, member})->points, all_sent) << "member " << member;
    }
  }
}

}  // namespace
}  // namespace tally

// The bench's workload (bench/workload.h): the same seed gives every system
// the same operations, in the proportions asked for; retries repeat earlier
// commands exactly; reverses name an earlier earn of the same member; Zipf
// skew concentrates draws as the exponent says. And the tools' --server
// addresses (bench/address.h).
#include "workload.h"
#include "address.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace tally::bench {
namespace {

std::vector<Op> Ops(OpSource& source, int count) {
  std::vector<Op> ops;
  for (int index = 0; index < count; ++index) ops.push_back(source.Next());
  return ops;
}

bool SameOp(const Op& a, const Op& b) {
  return a.kind == b.kind && a.member == b.member && a.points == b.points && a.id == b.id && a.target == b.target &&
         a.capture == b.capture && a.retry == b.retry;
}

TEST(Workload, TheSameSeedGivesTheSameOperations) {
  OpSource first(100'000, 0.99, Mix{60, 10, 10, 10, 10}, 0.05, 3, 7);
  OpSource second(100'000, 0.99, Mix{60, 10, 10, 10, 10}, 0.05, 3, 7);
  OpSource other_thread(100'000, 0.99, Mix{60, 10, 10, 10, 10}, 0.05, 4, 7);
  const std::vector<Op> a = Ops(first, 20'000);
  const std::vector<Op> b = Ops(second, 20'000);
  const std::vector<Op> c = Ops(other_thread, 20'000);
  for (std::size_t index = 0; index < a.size(); ++index) ASSERT_TRUE(SameOp(a[index], b[index])) << index;
  // Another thread draws other members and never reuses an id.
  std::set<std::pair<std::uint64_t, std::uint64_t>> ids;
  int same_member = 0;
  for (std::size_t index = 0; index < a.size(); ++index) {
    same_member += a[index].member == c[index].member ? 1 : 0;
    for (const Op* op : {&a[index], &c[index]}) {
      if (op->retry || op->kind == OpKind::kBalance) continue;
      EXPECT_TRUE(ids.insert({op->id.high, op->id.low}).second) << "id reused at " << index;
      if (op->kind == OpKind::kHoldCapture) {
        EXPECT_TRUE(ids.insert({op->capture.high, op->capture.low}).second) << "capture id reused at " << index;
      }
    }
  }
  EXPECT_LT(same_member, 2'000);
}

TEST(Workload, OperationsComeInTheMixsProportions) {
  OpSource source(1'000'000, 0, Mix{70, 15, 10, 5, 0}, 0, 0, 1);
  std::map<OpKind, int> counts;
  const int total = 200'000;
  for (const Op& op : Ops(source, total)) {
    ++counts[op.kind];
    EXPECT_GE(op.member, 1u);
    EXPECT_LE(op.member, 1'000'000u);
    EXPECT_FALSE(op.retry);
  }
  const std::map<OpKind, double> wanted = {
      {OpKind::kEarn, 0.70}, {OpKind::kRedeem, 0.15}, {OpKind::kBalance, 0.10}, {OpKind::kReverse, 0.05}};
  for (const auto& [kind, share] : wanted) {
    EXPECT_NEAR(static_cast<double>(counts[kind]) / total, share, 0.01) << static_cast<int>(kind);
  }
  EXPECT_EQ(counts[OpKind::kHoldCapture], 0);
}

TEST(Workload, RetriesRepeatAnEarlierCommandExactly) {
  OpSource source(1'000, 0, Mix{50, 20, 10, 10, 10}, 0.2, 0, 1);
  std::map<std::pair<std::uint64_t, std::uint64_t>, Op> issued;
  int retries = 0;
  const int total = 50'000;
  for (const Op& op : Ops(source, total)) {
    if (op.kind == OpKind::kBalance) continue;
    const auto key = std::make_pair(op.id.high, op.id.low);
    if (!op.retry) {
      EXPECT_TRUE(issued.emplace(key, op).second);
      continue;
    }
    ++retries;
    const auto original = issued.find(key);
    ASSERT_NE(original, issued.end()) << "a retry of a command never sent";
    // One of the newest kRetryWindow commands (tally-bench keeps only those
    // commands' results to compare a retry's answer with).
    const std::uint64_t newest = issued.rbegin()->first.second;
    EXPECT_LT(newest - op.id.low, OpSource::kRetryWindow) << "a retry from too far back";
    Op as_sent = op;
    as_sent.retry = false;
    EXPECT_TRUE(SameOp(as_sent, original->second));
  }
  EXPECT_NEAR(static_cast<double>(retries) / total, 0.2, 0.01);
}

TEST(Workload, AReverseNamesAnEarlierEarnOfTheSameMember) {
  OpSource source(500, 0, Mix{70, 10, 0, 20, 0}, 0, 0, 1);
  std::map<std::pair<std::uint64_t, std::uint64_t>, Op> earns;
  int reverses = 0;
  for (const Op& op : Ops(source, 50'000)) {
    if (op.kind == OpKind::kEarn) earns.emplace(std::make_pair(op.id.high, op.id.low), op);
    if (op.kind != OpKind::kReverse) continue;
    ++reverses;
    const auto earn = earns.find({op.target.high, op.target.low});
    ASSERT_NE(earn, earns.end()) << "a reverse of no earlier earn";
    EXPECT_EQ(op.member, earn->second.member);
    EXPECT_EQ(op.points, std::max<std::int64_t>(1, earn->second.points / 4));
  }
  EXPECT_GT(reverses, 8'000);
}

TEST(Workload, PopularityRanksMapToMembersOneToOne) {
  for (const std::uint64_t members : {1ull, 7ull, 1'000ull, 1'000'000ull, 10'000'000ull}) {
    std::vector<bool> seen(members + 1);
    for (std::uint64_t rank = 0; rank < members; ++rank) {
      const std::uint64_t member = MemberDraw::MemberOfRank(rank, members);
      ASSERT_GE(member, 1u);
      ASSERT_LE(member, members);
      ASSERT_FALSE(seen[member]) << "ranks merge at member " << member << " of " << members;
      seen[member] = true;
    }
  }
}

TEST(Workload, ZipfSkewConcentratesDrawsAsTheExponentSays) {
  const std::uint64_t members = 1'000;
  const double skew = 0.99;
  double harmonic = 0;
  for (std::uint64_t rank = 1; rank <= members; ++rank) harmonic += 1.0 / std::pow(static_cast<double>(rank), skew);
  MemberDraw skewed(members, skew, 5);
  MemberDraw uniform(members, 0, 5);
  std::map<std::uint64_t, int> skewed_counts;
  std::map<std::uint64_t, int> uniform_counts;
  const int draws = 400'000;
  for (int index = 0; index < draws; ++index) {
    ++skewed_counts[skewed.Next()];
    ++uniform_counts[uniform.Next()];
  }
  std::vector<int> ranked;
  for (const auto& [member, count] : skewed_counts) {
    EXPECT_GE(member, 1u);
    EXPECT_LE(member, members);
    ranked.push_back(count);
  }
  std::sort(ranked.rbegin(), ranked.rend());
  // The hottest member gets 1/H of the draws, the tenth 1/(10^s H).
  EXPECT_NEAR(ranked[0] / static_cast<double>(draws), 1 / harmonic, 0.1 / harmonic);
  EXPECT_NEAR(ranked[9] / static_cast<double>(draws), 1 / (std::pow(10.0, skew) * harmonic),
              0.1 / (std::pow(10.0, skew) * harmonic));
  // Uniform: every member near draws / members.
  ASSERT_EQ(uniform_counts.size(), members);
  for (const auto& [member, count] : uniform_counts) {
    EXPECT_NEAR(count, draws / static_cast<double>(members), 120) << "member " << member;
  }
}

TEST(Workload, OpenLoopCallsArriveAsAPoissonProcess) {
  const double rate = 250;  // calls per second, one thread's share of 2,000/s over 8
  Arrivals arrivals(rate, 7);
  Arrivals again(rate, 7);
  Arrivals other(rate, 8);
  const int draws = 200'000;
  double sum = 0;
  double sum_of_squares = 0;
  int within_a_tenth_of_the_mean = 0;
  int same_as_other_seed = 0;
  for (int index = 0; index < draws; ++index) {
    const double gap = arrivals.NextGapSeconds();
    ASSERT_EQ(gap, again.NextGapSeconds()) << "draw " << index;  // deterministic for a seed
    if (gap == other.NextGapSeconds()) ++same_as_other_seed;
    ASSERT_GE(gap, 0);
    sum += gap;
    sum_of_squares += gap * gap;
    if (std::abs(gap - 1 / rate) < 0.1 / rate) ++within_a_tenth_of_the_mean;
  }
  const double mean = sum / draws;
  const double deviation = std::sqrt(sum_of_squares / draws - mean * mean);
  // Exponential gaps: the mean is 1/rate and so is the standard deviation
  // (a fixed interval would have none); P(|gap - mean| < mean/10) =
  // e^-0.9 - e^-1.1 ~ 0.074.
  EXPECT_NEAR(mean, 1 / rate, 0.01 / rate);
  EXPECT_NEAR(deviation, 1 / rate, 0.02 / rate);
  EXPECT_NEAR(within_a_tenth_of_the_mean / static_cast<double>(draws), 0.0737, 0.005);
  EXPECT_LT(same_as_other_seed, 10);  // threads draw independently
}

TEST(Workload, ThreadsTakeTheCallsOfOneTimetable) {
  const double rate = 2'000;
  Timetable timetable(rate, 11);
  Arrivals alone(rate, 11);
  // Taken in turn, the due times are the Poisson process's, in order.
  double due = 0;
  for (int index = 0; index < 1'000; ++index) {
    due += alone.NextGapSeconds();
    ASSERT_DOUBLE_EQ(timetable.Take(), due) << "call " << index;
  }
  // Taken by several threads at once, every call goes to exactly one of
  // them, and each thread's calls come in order.
  constexpr int kThreads = 4;
  constexpr int kTakes = 20'000;
  std::vector<std::vector<double>> taken(kThreads);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int index = 0; index < kTakes; ++index) taken[thread].push_back(timetable.Take());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<double> all;
  for (const std::vector<double>& mine : taken) {
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  for (int index = 0; index < kThreads * kTakes; ++index) {
    due += alone.NextGapSeconds();
    ASSERT_DOUBLE_EQ(all[static_cast<std::size_t>(index)], due) << "call " << index;
  }
}

// --server for the bench tools: HOST:PORT, anything else refused (not thrown).
TEST(ParseAddress, TakesHostAndPortAndRefusesTheRest) {
  const auto address = ParseAddress("127.0.0.1:7411");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->host, "127.0.0.1");
  EXPECT_EQ(address->port, 7411);
  EXPECT_EQ(ParseAddress("db.example:65535")->port, 65535);
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":7411", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:74x",
                          "127.0.0.1:-1", ""}) {
    EXPECT_FALSE(ParseAddress(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace tally::bench

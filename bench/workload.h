// The workload every system in the bench runs: which member, which operation,
// how many points, and which commands are deliberate retries. Deterministic
// for a seed, so tally and its peers get the same operations.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

#include "tally/types.h"

namespace tally::bench {

// kHoldCapture is the checkout flow: reserve the points, then capture them
// (two commands, two events, in order).
enum class OpKind { kEarn, kRedeem, kBalance, kReverse, kHoldCapture };

struct Mix {
  int earn = 70;
  int redeem = 15;
  int balance = 10;
  int reverse = 5;
  int hold = 0;  // hold + capture
  int total() const { return earn + redeem + balance + reverse + hold; }
};

struct Op {
  OpKind kind = OpKind::kEarn;
  std::uint64_t member = 0;
  std::int64_t points = 0;
  CommandId id;      // earn, redeem, reverse
  CommandId target;  // reverse: an earlier earn of the same member
  CommandId capture; // hold + capture: the capture's id (`id` is the hold's)
  bool retry = false;
};

// The commands (and events) an operation makes.
inline int CommandsOf(const Op& op) { return op.kind == OpKind::kHoldCapture ? 2 : op.kind == OpKind::kBalance ? 0 : 1; }

// Draws members uniformly or by Zipf (exponent `skew` > 0) over 1..members,
// from a precomputed table so drawing is cheap.
class MemberDraw {
 public:
  MemberDraw(std::uint64_t members, double skew, std::uint64_t seed) : members_(members), random_(seed) {
    if (skew <= 0) return;
    cdf_.resize(members);
    double sum = 0;
    for (std::uint64_t rank = 0; rank < members; ++rank) cdf_[rank] = (sum += 1.0 / std::pow(rank + 1.0, skew));
    for (double& value : cdf_) value /= sum;
  }

  std::uint64_t Next() {
    if (cdf_.empty()) return std::uniform_int_distribution<std::uint64_t>(1, members_)(random_);
    const double draw = std::uniform_real_distribution<double>(0, 1)(random_);
    const auto rank = static_cast<std::uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), draw) - cdf_.begin());
    return MemberOfRank(rank, members_);
  }

  // The member (1..members) of popularity rank `rank` (0: the hottest).
  // Ranks spread over the members so that hot members are not neighbours:
  // multiplying by a prime larger than any member count, modulo the count,
  // maps ranks to members one to one (a 64-bit product that wrapped around
  // did not: it reached 875,540 of 1,000,000 members, merging ranks).
  static std::uint64_t MemberOfRank(std::uint64_t rank, std::uint64_t members) {
    return static_cast<std::uint64_t>(static_cast<unsigned __int128>(rank) * kSpread % members) + 1;
  }

  std::mt19937_64& random() { return random_; }

 private:
  static constexpr std::uint64_t kSpread = 4'294'967'311;  // prime, above kMembersMax (2^32)

  std::uint64_t members_;
  std::mt19937_64 random_;
  std::vector<double> cdf_;
};

// The operations of one generator thread.
class OpSource {
 public:
  OpSource(std::uint64_t members, double skew, Mix mix, double retry_share, std::uint64_t thread, std::uint64_t run)
      : draw_(members, skew, thread * 1'000'003 + run), mix_(mix), retry_share_(retry_share),
        id_high_((run << 16) ^ thread) {}

  // A deliberate retry repeats one of the newest kRetryWindow commands.
  static constexpr std::size_t kRetryWindow = 4096;

  Op Next() {
    std::mt19937_64& random = draw_.random();
    if (!issued_.empty() && std::uniform_real_distribution<double>(0, 1)(random) < retry_share_) {
      Op retry = issued_[std::uniform_int_distribution<std::size_t>(0, issued_.size() - 1)(random)];
      retry.retry = true;
      return retry;
    }
    Op op;
    op.member = draw_.Next();
    const int roll = std::uniform_int_distribution<int>(0, mix_.total() - 1)(random);
    const int reverse_end = mix_.earn + mix_.redeem + mix_.balance + mix_.reverse;
    op.kind = roll < mix_.earn                               ? OpKind::kEarn
              : roll < mix_.earn + mix_.redeem                ? OpKind::kRedeem
              : roll < mix_.earn + mix_.redeem + mix_.balance ? OpKind::kBalance
              : roll < reverse_end                            ? OpKind::kReverse
                                                              : OpKind::kHoldCapture;
    op.points = std::uniform_int_distribution<std::int64_t>(1, 100)(random);
    if (op.kind == OpKind::kReverse) {
      if (earns_.empty()) {
        op.kind = OpKind::kEarn;
      } else {
        const Op& earn = earns_[std::uniform_int_distribution<std::size_t>(0, earns_.size() - 1)(random)];
        op.member = earn.member;
        op.target = earn.id;
        op.points = std::max<std::int64_t>(1, earn.points / 4);
      }
    }
    if (op.kind == OpKind::kBalance) return op;
    op.id = CommandId{id_high_, ++next_id_};
    if (op.kind == OpKind::kHoldCapture) op.capture = CommandId{id_high_ | (std::uint64_t{1} << 63), next_id_};
    Remember(op);
    return op;
  }

 private:
  static constexpr std::size_t kRememberedMax = kRetryWindow;

  // Keeps the newest kRememberedMax commands as retry candidates, and the
  // newest earns as reversal targets.
  void Remember(const Op& op) {
    Keep(&issued_, &issued_count_, op);
    if (op.kind == OpKind::kEarn) Keep(&earns_, &earns_count_, op);
  }

  // The newest op replaces the oldest once the ring is full.
  static void Keep(std::vector<Op>* ring, std::uint64_t* count, const Op& op) {
    if (ring->size() < kRememberedMax) {
      ring->push_back(op);
    } else {
      (*ring)[*count % kRememberedMax] = op;
    }
    ++*count;
  }

  MemberDraw draw_;
  Mix mix_;
  double retry_share_;
  std::uint64_t id_high_;
  std::uint64_t next_id_ = 0;
  std::vector<Op> issued_;  // candidates for deliberate retries
  std::vector<Op> earns_;   // candidates for reversal
  std::uint64_t issued_count_ = 0;
  std::uint64_t earns_count_ = 0;
};

// When an open loop's calls are due: a Poisson process of `calls_per_second`
// (independent, exponentially distributed gaps), as the requests of many
// shoppers reach a service. (With a fixed interval from a common start,
// every thread called at the same instants: bursts that let a system batch
// them all into one fsync.)
class Arrivals {
 public:
  Arrivals(double calls_per_second, std::uint64_t seed) : gap_(calls_per_second), random_(seed) {}

  // Seconds from the previous call's due time (or from the start) to the next's.
  double NextGapSeconds() { return gap_(random_); }

 private:
  std::exponential_distribution<double> gap_;
  std::mt19937_64 random_;
};

// The open loop's timetable, shared by the generator's threads: the calls
// of one Poisson process of the whole rate, each taken by the next thread
// that is free, as a service's worker threads take the requests of many
// shoppers from one queue. A call waits past its time (and the wait
// counts) only when every thread is busy; with a timetable per thread, a
// call also waited whenever its own thread's previous call ran late.
class Timetable {
 public:
  Timetable(double calls_per_second, std::uint64_t seed) : arrivals_(calls_per_second, seed) {}

  // Seconds from the start at which the earliest call not yet taken is due.
  double Take() {
    std::lock_guard lock(mutex_);
    next_ += arrivals_.NextGapSeconds();
    return next_;
  }

 private:
  std::mutex mutex_;
  Arrivals arrivals_;
  double next_ = 0;
};

}  // namespace tally::bench

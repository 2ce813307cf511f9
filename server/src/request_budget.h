// RequestBudget: the server-wide bound on the memory that requests in
// flight may hold — their bodies, decoded forms and responses — whatever
// the number of connections. A session charges a request before it reads
// the body and releases the charge once the response is written (or the
// connection is gone); a session that cannot charge stops reading until
// another releases (backpressure across connections).
//
// Large requests (bodies over kLargeRequestBodyBytes) may fill only part of
// the budget, so that a flood of huge frames cannot keep ordinary requests
// waiting: the rest is for small ones.
//
// Thread safety: the I/O thread only, but for the figures (in_use, peak,
// refusals), which any thread may read.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "tally/internal/asio.h"

namespace tally::server {

class RequestBudget {
 public:
  explicit RequestBudget(std::uint64_t bytes_max) : bytes_max_(bytes_max) {}

  // Charges `bytes` if the budget allows it now.
  bool TryCharge(std::uint64_t bytes, bool large) {
    const std::uint64_t limit = large ? bytes_max_ / 4 * 3 : bytes_max_;
    const std::uint64_t in_use = in_use_.load(std::memory_order_relaxed);
    // A charge larger than the budget would wait forever: it may go alone.
    if (in_use + bytes > limit && in_use != 0) {
      refusals_.store(refusals_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    in_use_.store(in_use + bytes, std::memory_order_relaxed);
    if (in_use + bytes > peak_.load(std::memory_order_relaxed)) peak_.store(in_use + bytes, std::memory_order_relaxed);
    return true;
  }

  void Release(std::uint64_t bytes) {
    if (bytes == 0) return;
    in_use_.store(in_use_.load(std::memory_order_relaxed) - bytes, std::memory_order_relaxed);
    // Wake every waiter; each tries again, and those that still do not fit
    // wait again.
    std::vector<asio::steady_timer*> waking;
    waking.swap(waiters_);
    for (asio::steady_timer* timer : waking) timer->cancel();
  }

  // `timer` is cancelled at the next release. REQUIRES: the timer stays
  // alive until then or until Forget(timer).
  void Wait(asio::steady_timer* timer) { waiters_.push_back(timer); }
  void Forget(asio::steady_timer* timer) { std::erase(waiters_, timer); }

  std::uint64_t bytes_max() const { return bytes_max_; }
  std::uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  std::uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  std::uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }  // charges that waited

 private:
  const std::uint64_t bytes_max_;
  std::atomic<std::uint64_t> in_use_{0};
  std::atomic<std::uint64_t> peak_{0};
  std::atomic<std::uint64_t> refusals_{0};
  std::vector<asio::steady_timer*> waiters_;
};

}  // namespace tally::server

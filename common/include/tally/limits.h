// Every limit of the engine, in one place, with the checks that tie them
// together. Wire and disk sizes that depend on these are checked at compile
// time next to their codecs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tally {

// Most commands one Apply() call may carry; a caller's batch is always
// applied in one atomic, durable write.
inline constexpr std::size_t kBatchCommandsMax = 8192;

// Most commands the writer coalesces from waiting callers into one group
// commit (one RocksDB write, one fsync). Whole batches only.
inline constexpr std::size_t kGroupCommandsMax = 4 * kBatchCommandsMax;

// Most events in one log block (one RocksDB value). Small enough that reading
// one event for a history page or a retry reads a few KiB, large enough that
// the per-key cost of RocksDB vanishes.
inline constexpr std::size_t kBlockEventsMax = 128;

// Most members one balance request may ask about.
inline constexpr std::size_t kBalanceMembersMax = 8192;

// Bytes of the newest log blocks the engine keeps in memory for reads.
inline constexpr std::size_t kLogTailBytesMax = 64u << 20;

// Most lots one member status lists (the first in spending order).
inline constexpr std::size_t kStatusLotsMax = 1000;

// Most members one segment page returns, and most member slots one page
// scans (so that a page holds the engine's lock for about a millisecond).
inline constexpr std::size_t kSegmentPageMembersMax = 1000;
inline constexpr std::size_t kSegmentPageSlotsMax = 1u << 16;

// Most entries in one history page.
inline constexpr std::size_t kHistoryPageEntriesMax = 1000;

// Most members and distinct command ids the in-memory tables hold. Both are
// 2^32 so that a table index fits in 32 bits; the real bound is memory.
inline constexpr std::uint64_t kMembersMax = std::uint64_t{1} << 32;
inline constexpr std::uint64_t kCommandIdsMax = std::uint64_t{1} << 32;

// Most tokens a ledger holds, revoked ones included (docs/security.md).
inline constexpr std::size_t kTokensMax = 4096;

// Server: most open connections (more are accepted and closed at once), and
// most requests one connection may have in flight before the server stops
// reading from it (backpressure).
inline constexpr std::size_t kConnectionsMax = 1024;
// Of those, most from one remote address: one host's flood leaves the rest
// for the others.
inline constexpr std::size_t kConnectionsPerAddressMax = 256;
inline constexpr std::size_t kRequestsInFlightPerConnectionMax = 64;
// Server-wide bound on what requests in flight hold, over all connections
// (server/src/request_budget.h): bodies, decoded forms and responses, as
// charged by RequestCharge(). Bodies over kLargeRequestBodyBytes may use
// only three quarters of it, so that huge frames cannot crowd out small
// requests. A hello body is small; a larger one closes the connection.
inline constexpr std::uint64_t kServerRequestBytesMax = 64u << 20;
inline constexpr std::uint32_t kLargeRequestBodyBytes = 64u << 10;
inline constexpr std::uint32_t kHelloBodyBytesMax = 1024;
// Most requests the engine worker takes from its queue at once.
inline constexpr std::size_t kWorkerJobsPerRoundMax = 4096;
// A group of at most this many events that finds the log writer idle is
// written by the thread that applied it (Ledger::SmallWrites); a round of
// at most this many commands that finds the engine idle is run by tallyd's
// I/O thread itself (server/src/engine_worker.h). At light load each spares
// a request a thread's wake-up; anything larger is handed on, so that the
// next group is read and applied while one is written.
inline constexpr std::size_t kWriteHereEventsMax = 64;

// Deadlines, in milliseconds: a connection that sends nothing for the idle
// time is closed; a frame whose body does not arrive, or a response that
// cannot be written, within the I/O time closes the connection.
inline constexpr std::uint32_t kIdleTimeoutMsDefault = 300'000;
inline constexpr std::uint32_t kIoTimeoutMs = 10'000;

static_assert(kGroupCommandsMax >= kBatchCommandsMax, "a group must hold the largest batch");
static_assert(kBlockEventsMax <= kBatchCommandsMax);
static_assert(kHistoryPageEntriesMax > 0);

}  // namespace tally

// The log block and event codecs, without RocksDB: round trips, and every
// way a block can be damaged.
#include "block.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include "store.h"
#include "tally/program.h"
#include "test_util.h"

namespace tally::internal {
namespace {

Event MakeEvent(std::uint64_t sequence, CommandKind kind) {
  Event event;
  event.sequence = sequence;
  event.command = testing::Earn(sequence, 3, 77, 250);
  event.command.kind = kind;
  event.code = ResultCode::kOk;
  event.balance_after = 1000 + static_cast<std::int64_t>(sequence);
  event.moved = event.command.points;
  event.previous_sequence = sequence - 1;
  if (kind == CommandKind::kReverse) {
    event.command.target = testing::Id(1);
    event.target_sequence = 1;
  }
  return event;
}

std::string BuildBlock(std::uint64_t first, const std::vector<Event>& events) {
  BlockBuilder builder;
  builder.Reset(first, 123456789, ChainHash{});
  for (const Event& event : events) EXPECT_TRUE(builder.TryAdd(event));
  return std::string(builder.Finish());
}

// Rewrites the trailing checksum, as someone editing the bytes on purpose would.
void Reseal(std::string* block) {
  const std::size_t body = block->size() - kBlockTrailerBytes;
  StoreFixed64(block->data() + body, XXH3_64bits(block->data(), body));
}

TEST(Block, RoundTripsEveryField) {
  Event full = MakeEvent(5, CommandKind::kReverse);
  full.command.order_reference = 0xfedcba9876543210ULL;
  full.command.store_reference = 12;
  full.command.campaign_reference = 99;
  full.command.reason_code = 4;
  full.code = ResultCode::kInsufficientPoints;
  const Event plain = MakeEvent(6, CommandKind::kRedeem);
  Event adjust = MakeEvent(7, CommandKind::kAdjust);
  adjust.command.points = -40;
  adjust.command.reason_code = 2;
  const std::string bytes = BuildBlock(5, {full, plain, adjust});

  BlockReader reader;
  ASSERT_TRUE(reader.Open(5, bytes).ok());
  EXPECT_EQ(reader.event_count(), 3u);
  EXPECT_EQ(reader.timestamp_us(), 123456789u);
  for (const Event& expected : {full, plain, adjust}) {
    Event decoded;
    ASSERT_TRUE(reader.Next(&decoded).ok());
    EXPECT_EQ(decoded.sequence, expected.sequence);
    EXPECT_EQ(decoded.timestamp_us, 123456789u);
    EXPECT_EQ(decoded.command, expected.command);
    EXPECT_EQ(decoded.code, expected.code);
    EXPECT_EQ(decoded.balance_after, expected.balance_after);
    EXPECT_EQ(decoded.previous_sequence, expected.previous_sequence);
    EXPECT_EQ(decoded.target_sequence, expected.target_sequence);
  }
  EXPECT_TRUE(reader.done());
}

// Every shape of event, found one by one: finding steps over the events
// before it by their sizes alone, so every optional part must be sized right.
TEST(Block, EveryEventShapeIsFoundBehindEveryOther) {
  std::vector<Event> events;
  Event purchase = MakeEvent(1, CommandKind::kEarnPurchase);
  purchase.command.points = 0;
  purchase.command.amount_minor = 12'345;
  purchase.command.order_reference = 5;
  purchase.command.campaigns = {7, 8, 9};
  purchase.moved = 296;
  purchase.program_version = 3;
  purchase.base_points = 123;
  purchase.shares = {{0, 61}, {7, 50}, {8, 62}};
  events.push_back(purchase);
  Event program = MakeEvent(2, CommandKind::kProgram);
  program.command.points = 0;
  Program spec;
  spec.tiers = {Tier{"member", 0, 1000}};
  program.command.program = spec.Encode();
  program.moved = 1;
  events.push_back(program);
  Event transfer = MakeEvent(3, CommandKind::kTransfer);
  transfer.command.counterparty = 99;
  transfer.counterparty_previous_sequence = 2;
  transfer.counterparty_balance_after = 40;
  events.push_back(transfer);
  Event hold = MakeEvent(4, CommandKind::kHold);
  hold.command.duration_seconds = 600;
  events.push_back(hold);
  Event capture = MakeEvent(5, CommandKind::kCapture);
  capture.command.target = testing::Id(4);
  capture.target_sequence = 4;
  capture.moved = 10;
  events.push_back(capture);
  Event sweep = MakeEvent(6, CommandKind::kExpire);
  sweep.command.points = 0;
  sweep.command.limit = 100;
  sweep.moved = 1;
  events.push_back(sweep);
  Event expiry = MakeEvent(7, CommandKind::kExpiry);
  expiry.command.points = 0;
  expiry.derived = true;
  expiry.moved = 77;
  events.push_back(expiry);
  events.push_back(MakeEvent(8, CommandKind::kEarn));
  BlockBuilder builder;
  builder.Reset(1, 123456789, ChainHash{});
  for (const Event& event : events) ASSERT_TRUE(builder.TryAdd(event));
  // The same block read from its bytes alone (verified, stepping over the
  // events before) and as built here (decoded at its offset).
  const EncodedBlock built{1, std::string(builder.Finish()), builder.event_offsets()};
  ASSERT_EQ(built.event_offsets.size(), events.size());
  for (const Event& expected : events) {
    for (const bool offsets_known : {false, true}) {
      Result<Event> found = offsets_known ? FindEventInBlock(built, expected.sequence)
                                          : FindEventInBlock(1, built.bytes, expected.sequence);
      ASSERT_TRUE(found.ok()) << found.status().ToString();
      EXPECT_EQ(found->timestamp_us, 123456789u);
      Event got = *found;
      got.timestamp_us = expected.timestamp_us;
      EXPECT_EQ(got, expected) << "sequence " << expected.sequence << (offsets_known ? ", by offset" : "");
    }
  }
  EXPECT_EQ(FindEventInBlock(built, 9).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(FindEventInBlock(built, 0).status().code(), Status::Code::kNotFound);
}

TEST(Block, CoreEventIsFiftySixBytes) {
  const std::string bytes = BuildBlock(1, {MakeEvent(1, CommandKind::kEarn)});
  EXPECT_EQ(bytes.size(), kBlockHeaderBytes + kEventCoreBytes + kBlockTrailerBytes);
}

TEST(Block, EveryFlippedByteIsCaught) {
  const std::string good = BuildBlock(10, {MakeEvent(10, CommandKind::kEarn), MakeEvent(11, CommandKind::kRedeem)});
  for (std::size_t offset = 0; offset < good.size(); ++offset) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x01);
    BlockReader reader;
    const Status status = reader.Open(10, bad);
    EXPECT_EQ(status.code(), Status::Code::kCorruption) << "byte " << offset;
  }
}

TEST(Block, RejectsTruncationAndAWrongKey) {
  const std::string good = BuildBlock(10, {MakeEvent(10, CommandKind::kEarn)});
  BlockReader reader;
  EXPECT_EQ(reader.Open(10, good.substr(0, good.size() - 1)).code(), Status::Code::kCorruption);
  EXPECT_EQ(reader.Open(10, "").code(), Status::Code::kCorruption);
  EXPECT_EQ(reader.Open(11, good).code(), Status::Code::kCorruption) << "a block moved to another key";
}

TEST(Block, ResealedDamageIsStillCaughtByTheDecoder) {
  std::string bytes = BuildBlock(10, {MakeEvent(10, CommandKind::kEarn)});
  std::string zero_count = bytes;
  StoreFixed32(zero_count.data() + 4, 0);
  Reseal(&zero_count);
  BlockReader reader;
  EXPECT_EQ(reader.Open(10, zero_count).code(), Status::Code::kCorruption);

  std::string bad_kind = bytes;
  bad_kind[kBlockHeaderBytes + 16] = 9;
  Reseal(&bad_kind);
  Event event;
  ASSERT_TRUE(reader.Open(10, bad_kind).ok());
  EXPECT_EQ(reader.Next(&event).code(), Status::Code::kCorruption);

  std::string never_logged = bytes;
  never_logged[kBlockHeaderBytes + 17] = static_cast<char>(ResultCode::kIdConflict);
  Reseal(&never_logged);
  ASSERT_TRUE(reader.Open(10, never_logged).ok());
  EXPECT_EQ(reader.Next(&event).code(), Status::Code::kCorruption);

  std::string extra = bytes;
  extra.insert(extra.size() - kBlockTrailerBytes, "xx");
  Reseal(&extra);
  ASSERT_TRUE(reader.Open(10, extra).ok());
  EXPECT_EQ(reader.Next(&event).code(), Status::Code::kCorruption) << "bytes after the last event";
}

}  // namespace
}  // namespace tally::internal

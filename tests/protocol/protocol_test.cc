// The wire codec without sockets: round trips of every body, and every way a
// frame or body can be malformed.
#include "tally/protocol.h"

#include <gtest/gtest.h>

#include <xxhash.h>

#include <random>

#include "tally/internal/encoding.h"

namespace tally::wire {
namespace {

Command FullCommand(std::uint64_t n) {
  Command command;
  command.id = {0xabcdef, n};
  command.kind = CommandKind::kReverse;
  command.chain = 7;
  command.member = 1234567890123ULL;
  command.points = -42;
  command.order_reference = 1;
  command.store_reference = 2;
  command.campaign_reference = 3;
  command.reason_code = 4;
  command.target = {5, 6};
  return command;
}

std::string Frame(Operation operation, std::string_view body, std::uint64_t request_id = 9) {
  std::string frame;
  AppendFrame(operation, 0, request_id, body, &frame);
  return frame;
}

TEST(WireCodec, FrameRoundTrips) {
  const std::string frame = Frame(Operation::kBalance, "0123456789abcdef", 77);
  ASSERT_EQ(frame.size(), kHeaderBytes + 16);
  Header header;
  ASSERT_TRUE(DecodeHeader(std::string_view(frame).substr(0, kHeaderBytes), &header).ok());
  EXPECT_EQ(header.version, kProtocolVersion);
  EXPECT_EQ(header.operation, Operation::kBalance);
  EXPECT_EQ(header.request_id, 77u);
  EXPECT_EQ(header.body_bytes, 16u);
  EXPECT_TRUE(CheckBody(header, std::string_view(frame).substr(kHeaderBytes)).ok());
}

TEST(WireCodec, EveryFlippedHeaderByteIsRejected) {
  const std::string frame = Frame(Operation::kStatus, "");
  for (std::size_t offset = 0; offset < kHeaderBytes; ++offset) {
    std::string bad = frame;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x04);
    Header header;
    EXPECT_FALSE(DecodeHeader(bad, &header).ok()) << "byte " << offset;
  }
}

TEST(WireCodec, RejectsWrongBodyChecksumAndLength) {
  const std::string frame = Frame(Operation::kBalance, "0123456789abcdef");
  Header header;
  ASSERT_TRUE(DecodeHeader(std::string_view(frame).substr(0, kHeaderBytes), &header).ok());
  std::string body = frame.substr(kHeaderBytes);
  body[3] ^= 1;
  EXPECT_FALSE(CheckBody(header, body).ok());
  EXPECT_FALSE(CheckBody(header, frame.substr(kHeaderBytes, 15)).ok());
}

TEST(WireCodec, RejectsOversizedFrame) {
  // A header announcing one byte more than the limit, with a valid checksum,
  // as a peer that computes checksums but ignores limits would send.
  std::string frame;
  AppendFrame(Operation::kApply, 0, 1, "", &frame);
  const auto too_big = static_cast<std::uint32_t>(kBodyBytesMax + 1);
  internal::StoreFixed32(frame.data() + 16, too_big);
  internal::StoreFixed64(frame.data() + 32, XXH3_64bits(frame.data(), 32));
  Header header;
  const Status status = DecodeHeader(std::string_view(frame).substr(0, kHeaderBytes), &header);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("exceeds"), std::string::npos) << status.ToString();
  EXPECT_FALSE(DecodeHeader(std::string_view(frame).substr(0, kHeaderBytes - 1), &header).ok()) << "short header";
}

TEST(WireCodec, ApplyRoundTripsAndRejectsBadCounts) {
  std::vector<Command> commands = {FullCommand(1), FullCommand(2)};
  std::vector<Command> decoded;
  ASSERT_TRUE(DecodeApplyRequest(EncodeApplyRequest(commands), &decoded).ok());
  EXPECT_EQ(decoded, commands);
  std::string body = EncodeApplyRequest(commands);
  EXPECT_FALSE(DecodeApplyRequest(body.substr(0, body.size() - 1), &decoded).ok()) << "truncated";
  EXPECT_FALSE(DecodeApplyRequest(body + "x", &decoded).ok()) << "trailing byte";
  std::string zero = body;
  zero[0] = 0;
  zero[1] = 0;
  EXPECT_FALSE(DecodeApplyRequest(zero.substr(0, 4), &decoded).ok()) << "an empty batch";
  std::string reserved = body;
  reserved[4 + 17] = 1;  // a reserved byte of the first command
  EXPECT_FALSE(DecodeApplyRequest(reserved, &decoded).ok());

  std::vector<CommandResult> results = {{ResultCode::kOk, 5, 6, 7}, {ResultCode::kIdConflict, 0, 0, 0}};
  std::vector<CommandResult> decoded_results;
  ASSERT_TRUE(DecodeApplyResponse(EncodeApplyResponse(results), &decoded_results).ok());
  EXPECT_EQ(decoded_results, results);
}

TEST(WireCodec, QueriesRoundTrip) {
  std::vector<MemberKey> members;
  ASSERT_TRUE(DecodeBalanceRequest(EncodeBalanceRequest({{3, 99}, {4, 100}}), &members).ok());
  EXPECT_EQ(members, (std::vector<MemberKey>{{3, 99}, {4, 100}}));
  std::string too_many = EncodeBalanceRequest({{3, 99}});
  internal::StoreFixed32(too_many.data(), kBalanceMembersMax + 1);
  EXPECT_FALSE(DecodeBalanceRequest(too_many, &members).ok());
  EXPECT_FALSE(DecodeBalanceRequest(EncodeBalanceRequest({{3, 99}}).substr(0, 8), &members).ok()) << "no members";
  std::vector<Balance> balances;
  ASSERT_TRUE(DecodeBalanceResponse(EncodeBalanceResponse({{-1, 12}, {5, 6}}), &balances).ok());
  ASSERT_EQ(balances.size(), 2u);
  EXPECT_EQ(balances[0].points, -1);
  EXPECT_EQ(balances[0].last_sequence, 12u);
  EXPECT_EQ(balances[1].points, 5);

  HistoryRequest history{{3, 99}, 50, "00000000000000020000000000000003"};
  HistoryRequest decoded_history;
  ASSERT_TRUE(DecodeHistoryRequest(EncodeHistoryRequest(history), &decoded_history).ok());
  EXPECT_EQ(decoded_history.member, history.member);
  EXPECT_EQ(decoded_history.limit, 50u);
  EXPECT_EQ(decoded_history.cursor, history.cursor);

  HistoryPage page;
  HistoryEntry entry;
  entry.sequence = 8;
  entry.timestamp_us = 9;
  entry.command = FullCommand(3);
  entry.code = ResultCode::kNotReversible;
  entry.balance_after = 10;
  entry.target_sequence = 11;
  page.entries.push_back(entry);
  page.next_cursor = "abc";
  HistoryPage decoded_page;
  ASSERT_TRUE(DecodeHistoryResponse(EncodeHistoryResponse(page), &decoded_page).ok());
  ASSERT_EQ(decoded_page.entries.size(), 1u);
  EXPECT_EQ(decoded_page.entries[0].command, page.entries[0].command);
  EXPECT_EQ(decoded_page.entries[0].code, ResultCode::kNotReversible);
  EXPECT_EQ(decoded_page.entries[0].target_sequence, 11u);
  EXPECT_EQ(decoded_page.next_cursor, "abc");

  FindRequest find{4, {1, 2}};
  FindRequest decoded_find;
  ASSERT_TRUE(DecodeFindRequest(EncodeFindRequest(find), &decoded_find).ok());
  EXPECT_EQ(decoded_find.id, find.id);
  std::optional<CommandResult> found;
  ASSERT_TRUE(DecodeFindResponse(EncodeFindResponse(CommandResult{ResultCode::kOk, 1, 2, 3}), &found).ok());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sequence, 1u);
  ASSERT_TRUE(DecodeFindResponse(EncodeFindResponse(std::nullopt), &found).ok());
  EXPECT_FALSE(found.has_value());

  StatusResponse status{1, 2, 3, 4, 5};
  StatusResponse decoded_status;
  ASSERT_TRUE(DecodeStatusResponse(EncodeStatusResponse(status), &decoded_status).ok());
  EXPECT_EQ(decoded_status.connections, 5u);
  EXPECT_TRUE(DecodeStatusRequest("").ok());
  EXPECT_FALSE(DecodeStatusRequest("x").ok());
}

TEST(WireCodec, HelloAndErrorRoundTripAndLimitStrings) {
  HelloRequest hello{1, "checkout", "token"};
  HelloRequest decoded;
  ASSERT_TRUE(DecodeHelloRequest(EncodeHelloRequest(hello), &decoded).ok());
  EXPECT_EQ(decoded.client_name, "checkout");
  EXPECT_EQ(decoded.credentials, "token");
  std::string long_name = EncodeHelloRequest(hello);
  long_name[2] = static_cast<char>(200);  // claims a 200-byte name
  EXPECT_FALSE(DecodeHelloRequest(long_name, &decoded).ok());

  ErrorResponse error{ErrorCode::kUnsupportedVersion, "speak version 1"};
  ErrorResponse decoded_error;
  ASSERT_TRUE(DecodeErrorResponse(EncodeErrorResponse(error), &decoded_error).ok());
  EXPECT_EQ(decoded_error.code, ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(decoded_error.message, "speak version 1");
}

// Random bytes never crash a decoder (a cheap stand-in until the fuzz targets).
TEST(WireCodec, RandomBodiesNeverCrashTheDecoders) {
  std::mt19937_64 random(1);
  for (int round = 0; round < 20000; ++round) {
    std::string body(random() % 300, '\0');
    for (char& byte : body) byte = static_cast<char>(random());
    std::vector<Command> commands;
    std::vector<CommandResult> results;
    HelloRequest hello;
    HistoryRequest history;
    HistoryPage page;
    std::vector<MemberKey> members;
    Header header;
    (void)DecodeApplyRequest(body, &commands);
    (void)DecodeApplyResponse(body, &results);
    (void)DecodeHelloRequest(body, &hello);
    (void)DecodeHistoryRequest(body, &history);
    (void)DecodeHistoryResponse(body, &page);
    (void)DecodeBalanceRequest(body, &members);
    (void)DecodeHeader(body.substr(0, std::min<std::size_t>(body.size(), kHeaderBytes)), &header);
  }
  SUCCEED();
}

}  // namespace
}  // namespace tally::wire

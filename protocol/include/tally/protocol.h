// The wire protocol: frames and the bodies of every request and response, as
// bytes in and values (or an error) out. No I/O: the server and the client
// both use it, and it is tested and fuzzed without sockets.
// docs/protocol.md specifies every byte; this file implements it.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/limits.h"
#include "tally/auth.h"
#include "tally/program.h"
#include "tally/status.h"
#include "tally/types.h"

namespace tally::wire {

inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr char kMagic[4] = {'T', 'L', 'Y', 'W'};
inline constexpr std::size_t kHeaderBytes = 40;
// A command is a fixed core followed by its campaign ids and program bytes.
inline constexpr std::size_t kCommandCoreBytes = 112;
inline constexpr std::size_t kCommandCampaignsMax = 8;
inline constexpr std::size_t kResultBytes = 40;
// A history entry is a command followed by these bytes and 16 per share.
inline constexpr std::size_t kHistoryEntryBytes = kCommandCoreBytes + 56;
inline constexpr std::size_t kSharesMax = kCampaignsMax + 1;  // every campaign and the tier
inline constexpr std::size_t kMemberKeyBytes = 16;
inline constexpr std::size_t kBalanceBytes = 40;
inline constexpr std::size_t kNameBytesMax = 64;
inline constexpr std::size_t kCredentialsBytesMax = 256;
inline constexpr std::size_t kMessageBytesMax = 512;
// The largest body. An apply request of kBatchCommandsMax commands that each
// name the most campaigns fits; program commands are large (up to
// kProgramBytesMax each) and travel a few at a time.
inline constexpr std::size_t kBodyBytesMax = 2u << 20;
static_assert(kBodyBytesMax >= 4 + kBatchCommandsMax * (kCommandCoreBytes + 8 * kCommandCampaignsMax),
              "a full batch of purchases fits");
static_assert(kBodyBytesMax >= 4 + kBatchCommandsMax * kResultBytes, "an apply response fits");
// History never holds program commands (they are chain-level).
static_assert(kBodyBytesMax >= 8 + kHistoryPageEntriesMax * (kHistoryEntryBytes + 8 * kCommandCampaignsMax +
                                                              16 * kSharesMax) + 34,
              "a history page fits");
static_assert(kBodyBytesMax >= 8 + kBalanceMembersMax * kBalanceBytes, "a balance response fits");
static_assert(kBodyBytesMax >= 112 + kTierNameMax + kStatusLotsMax * 32, "a member status fits");
static_assert(kBodyBytesMax >= 16 + kSegmentPageMembersMax * 32 + 34, "a segment page fits");
static_assert(kBodyBytesMax <= (4u << 20), "a frame stays under 4 MiB");

enum class Operation : std::uint8_t {
  kHello = 1,
  kApply = 2,
  kBalance = 3,
  kHistory = 4,
  kFind = 5,
  kStatus = 6,
  kMemberStatus = 7,
  kSegment = 8,
  kBackup = 9,
  kTokenCreate = 10,
  kTokenList = 11,
  kTokenRevoke = 12,
  kError = 15,  // responses only
};

enum FrameFlags : std::uint8_t {
  kResponse = 1 << 0,
};

// Why a request got an error frame instead of its response.
enum class ErrorCode : std::uint16_t {
  kBadFrame = 1,            // magic, checksum, reserved bytes or length are wrong; connection closed
  kUnsupportedVersion = 2,  // the server does not speak the frame's version; connection closed
  kUnknownOperation = 3,    // connection closed
  kHelloRequired = 4,       // the first request must be hello; connection closed
  kBadRequest = 5,          // the body does not decode or breaks a limit; connection closed
  kUnavailable = 6,         // the ledger cannot serve (stopped after a write failure, shutting down)
  kInvalidArgument = 7,     // a well-formed request the ledger refuses (bad cursor, page size)
  kUnauthorized = 8,        // the token does not allow it (after hello: connection open; at hello: closed)
};
std::string_view ErrorCodeName(ErrorCode code);

struct Header {
  std::uint16_t version = kProtocolVersion;
  Operation operation = Operation::kHello;
  std::uint8_t flags = 0;
  std::uint64_t request_id = 0;
  std::uint32_t body_bytes = 0;
  std::uint64_t body_checksum = 0;
};

// Appends a whole frame (header and body) to `out`.
// REQUIRES: body.size() <= kBodyBytesMax.
void AppendFrame(Operation operation, std::uint8_t flags, std::uint64_t request_id, std::string_view body,
                 std::string* out);

// Decodes and checks a header: magic, header checksum, reserved bytes, body
// length limit. The version is returned, not checked: the caller decides.
Status DecodeHeader(std::string_view bytes, Header* header);
// Checks the body against the header's length and checksum.
Status CheckBody(const Header& header, std::string_view body);

struct HelloRequest {
  std::uint16_t version = kProtocolVersion;
  std::string client_name;
  std::string credentials;
};
struct HelloResponse {
  std::uint16_t version = kProtocolVersion;
  std::string server_name;
};
using StatusResponse = ServerStatus;
struct HistoryRequest {
  MemberKey member;
  std::uint32_t limit = 0;
  std::string cursor;
};
struct MemberStatusRequest {
  MemberKey member;
  std::uint64_t expiring_before_us = 0;
};
struct SegmentRequest {
  SegmentQuery query;
  std::uint32_t limit = 0;
  std::string cursor;
};
struct FindRequest {
  std::uint32_t chain = 0;
  CommandId id;
};
struct ErrorResponse {
  ErrorCode code = ErrorCode::kBadRequest;
  std::string message;
};

std::string EncodeHelloRequest(const HelloRequest& request);
Status DecodeHelloRequest(std::string_view body, HelloRequest* request);
std::string EncodeHelloResponse(const HelloResponse& response);
Status DecodeHelloResponse(std::string_view body, HelloResponse* response);

// The bytes `command` takes in an apply request, and a whole request's body.
std::size_t CommandBytes(const Command& command);
std::size_t ApplyRequestBytes(std::span<const Command> commands);
// REQUIRES: 1..kBatchCommandsMax commands, and ApplyRequestBytes() <= kBodyBytesMax.
std::string EncodeApplyRequest(const std::vector<Command>& commands);
Status DecodeApplyRequest(std::string_view body, std::vector<Command>* commands);
std::string EncodeApplyResponse(const std::vector<CommandResult>& results);
Status DecodeApplyResponse(std::string_view body, std::vector<CommandResult>* results);

std::string EncodeBalanceRequest(const std::vector<MemberKey>& members);
Status DecodeBalanceRequest(std::string_view body, std::vector<MemberKey>* members);
std::string EncodeBalanceResponse(const std::vector<Balance>& balances);
Status DecodeBalanceResponse(std::string_view body, std::vector<Balance>* balances);

std::string EncodeHistoryRequest(const HistoryRequest& request);
Status DecodeHistoryRequest(std::string_view body, HistoryRequest* request);
std::string EncodeHistoryResponse(const HistoryPage& page);
Status DecodeHistoryResponse(std::string_view body, HistoryPage* page);

std::string EncodeMemberStatusRequest(const MemberStatusRequest& request);
Status DecodeMemberStatusRequest(std::string_view body, MemberStatusRequest* request);
std::string EncodeMemberStatusResponse(const MemberStatus& status);
Status DecodeMemberStatusResponse(std::string_view body, MemberStatus* status);

std::string EncodeSegmentRequest(const SegmentRequest& request);
Status DecodeSegmentRequest(std::string_view body, SegmentRequest* request);
std::string EncodeSegmentResponse(const SegmentPage& page);
Status DecodeSegmentResponse(std::string_view body, SegmentPage* page);

// backup: the directory on the server's machine; the answer is the chain
// head the copy ends at.
inline constexpr std::size_t kPathBytesMax = 4096;
std::string EncodeBackupRequest(std::string_view directory);
Status DecodeBackupRequest(std::string_view body, std::string* directory);
std::string EncodeBackupResponse(std::uint64_t sequence, std::string_view chain_head);
Status DecodeBackupResponse(std::string_view body, std::uint64_t* sequence, std::string* chain_head);

// Tokens over an admin connection (docs/security.md). A token create
// request names the token, its role and chain; its answer is the secret.
// A list answers at most kTokensMax tokens (the ledger holds no more).
inline constexpr std::size_t kTokenNameBytesMax = 64;
inline constexpr std::size_t kSecretBytesMax = 128;
struct TokenCreateRequest {
  std::string name;
  Role role = Role::kReader;
  std::uint32_t chain = 0;
};
std::string EncodeTokenCreateRequest(const TokenCreateRequest& request);
Status DecodeTokenCreateRequest(std::string_view body, TokenCreateRequest* request);
std::string EncodeTokenCreateResponse(std::string_view secret);
Status DecodeTokenCreateResponse(std::string_view body, std::string* secret);
Status DecodeTokenListRequest(std::string_view body);
std::string EncodeTokenListResponse(const std::vector<TokenInfo>& tokens);
Status DecodeTokenListResponse(std::string_view body, std::vector<TokenInfo>* tokens);
std::string EncodeTokenRevokeRequest(std::string_view name);
Status DecodeTokenRevokeRequest(std::string_view body, std::string* name);
Status DecodeTokenRevokeResponse(std::string_view body);

std::string EncodeFindRequest(const FindRequest& request);
Status DecodeFindRequest(std::string_view body, FindRequest* request);
std::string EncodeFindResponse(const std::optional<CommandResult>& result);
Status DecodeFindResponse(std::string_view body, std::optional<CommandResult>* result);

Status DecodeStatusRequest(std::string_view body);
std::string EncodeStatusResponse(const StatusResponse& response);
Status DecodeStatusResponse(std::string_view body, StatusResponse* response);

std::string EncodeErrorResponse(const ErrorResponse& response);
Status DecodeErrorResponse(std::string_view body, ErrorResponse* response);

}  // namespace tally::wire

// Frame and body codecs. The grammar, from docs/protocol.md:
//
//   frame   := header body
//   header  := magic "TLYW" | version u16 | operation u8 | flags u8
//              | request_id u64 | body_bytes u32 | reserved u32 (0)
//              | body_checksum u64 | header_checksum u64          (40 bytes)
//   string  := length u16 | bytes
//   command := id_high u64 | id_low u64 | kind u8 | campaign_count u8
//              | program_bytes u16 | chain u32 | member u64 | points i64
//              | order u64 | store u64 | campaign u64 | reason u32
//              | duration_seconds u32 | target_high u64 | target_low u64
//              | amount_minor u64 | counterparty u64 | limit u32
//              | reserved u32                                 (112 bytes)
//              | campaign u64{campaign_count} | program{program_bytes}
//   result  := code u8 | reserved u8[7] | sequence u64 | timestamp_us u64
//              | balance i64 | points i64                          (40 bytes)
//   member_key := chain u32 | reserved u32 | member u64              (16 bytes)
//   balance    := points i64 | last_sequence u64 | spendable i64
//                 | pending i64 | held i64                           (40 bytes)
//
// Little-endian throughout; every reserved byte must be zero; a body must be
// consumed exactly.
#include "tally/protocol.h"

#include <xxhash.h>

#include <cstring>

#include "tally/internal/encoding.h"

namespace tally::wire {
namespace {

using internal::PutFixed32;
using internal::PutFixed64;
using internal::Reader;

constexpr std::size_t kHeaderChecksumOffset = 32;

void PutFixed16(std::string* out, std::uint16_t value) {
  out->push_back(static_cast<char>(value & 0xff));
  out->push_back(static_cast<char>(value >> 8));
}

void PutZeros(std::string* out, std::size_t count) { out->append(count, '\0'); }

void PutString(std::string* out, std::string_view text) {
  PutFixed16(out, static_cast<std::uint16_t>(text.size()));
  out->append(text);
}

Status Malformed(std::string_view what) { return Status::InvalidArgument("malformed " + std::string(what)); }

// Reads fields from a body and remembers the first failure, so decoders read
// as a straight list of fields and check once at the end.
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : reader_(body) {}

  std::uint8_t U8() {
    std::uint8_t value = 0;
    ok_ = ok_ && reader_.ReadFixed8(&value);
    return value;
  }
  std::uint16_t U16() {
    std::uint16_t value = 0;
    ok_ = ok_ && reader_.ReadFixed16(&value);
    return value;
  }
  std::uint32_t U32() {
    std::uint32_t value = 0;
    ok_ = ok_ && reader_.ReadFixed32(&value);
    return value;
  }
  std::uint64_t U64() {
    std::uint64_t value = 0;
    ok_ = ok_ && reader_.ReadFixed64(&value);
    return value;
  }
  std::int64_t I64() { return static_cast<std::int64_t>(U64()); }
  void Reserved(std::size_t count) {
    for (std::size_t index = 0; index < count; ++index) {
      // Not `ok_ = ok_ && U8() == 0`: U8() clears ok_ when the bytes run out,
      // and that assignment would set it again (found by scripts/fuzz).
      if (U8() != 0) ok_ = false;
    }
  }
  std::string String(std::size_t max_bytes) {
    const std::uint16_t length = U16();
    if (length > max_bytes) ok_ = false;
    return Bytes(length);
  }
  std::string Bytes(std::size_t count) { return std::string(View(count)); }
  // The next `count` bytes, in place; empty (and failed) when they are not there.
  std::string_view View(std::size_t count) {
    if (!ok_ || count > reader_.remaining()) {
      ok_ = false;
      return {};
    }
    const std::string_view bytes = reader_.rest().substr(0, count);
    reader_ = Reader(reader_.rest().substr(count));
    return bytes;
  }
  void Fail() { ok_ = false; }
  bool ok() const { return ok_; }
  std::size_t remaining() const { return reader_.remaining(); }
  // True when every read succeeded and nothing is left over.
  bool Finish() const { return ok_ && reader_.remaining() == 0; }

 private:
  Reader reader_;
  bool ok_ = true;
};

// Bodies that are one non-empty string (a path, a secret, a token name).
std::string EncodeOneString(std::string_view text, std::size_t max_bytes) {
  TALLY_ASSERT(text.size() <= max_bytes);
  std::string body;
  PutString(&body, text);
  return body;
}

Status DecodeOneString(std::string_view body, std::size_t max_bytes, std::string_view what, std::string* text) {
  BodyReader reader(body);
  *text = reader.String(max_bytes);
  if (!reader.Finish() || text->empty()) return Malformed(what);
  return Status::Ok();
}

// Bodies that must be empty.
Status DecodeEmpty(std::string_view body, std::string_view what) {
  return body.empty() ? Status::Ok() : Malformed(std::string(what) + ": the body must be empty");
}

// The fixed part is laid out on the stack and appended at once: a client
// encodes every command of its batches, in the caller's purchase path.
void PutCommand(std::string* out, const Command& command) {
  TALLY_ASSERT(command.campaigns.size() <= kCommandCampaignsMax && command.program.size() <= kProgramBytesMax);
  char core[kCommandCoreBytes];
  char* at = core;
  auto put8 = [&](std::uint8_t value) { *at++ = static_cast<char>(value); };
  auto put16 = [&](std::uint16_t value) {
    put8(static_cast<std::uint8_t>(value));
    put8(static_cast<std::uint8_t>(value >> 8));
  };
  auto put32 = [&](std::uint32_t value) {
    internal::StoreFixed32(at, value);
    at += 4;
  };
  auto put64 = [&](std::uint64_t value) {
    internal::StoreFixed64(at, value);
    at += 8;
  };
  put64(command.id.high);
  put64(command.id.low);
  put8(static_cast<std::uint8_t>(command.kind));
  put8(static_cast<std::uint8_t>(command.campaigns.size()));
  put16(static_cast<std::uint16_t>(command.program.size()));
  put32(command.chain);
  put64(command.member);
  put64(static_cast<std::uint64_t>(command.points));
  put64(command.order_reference);
  put64(command.store_reference);
  put64(command.campaign_reference);
  put32(command.reason_code);
  put32(command.duration_seconds);
  put64(command.target.high);
  put64(command.target.low);
  put64(command.amount_minor);
  put64(command.counterparty);
  put32(command.limit);
  put32(0);  // reserved
  TALLY_ASSERT(at == core + kCommandCoreBytes);
  out->append(core, kCommandCoreBytes);
  for (std::uint64_t campaign : command.campaigns) PutFixed64(out, campaign);
  out->append(command.program);
}

// The fixed part is read in one piece, as PutCommand writes it: a server
// decodes every command it is sent.
Command ReadCommand(BodyReader& reader) {
  Command command;
  const std::string_view core = reader.View(kCommandCoreBytes);
  if (core.size() != kCommandCoreBytes) return command;  // the reader has failed
  const char* at = core.data();
  auto u8 = [&] { return static_cast<std::uint8_t>(*at++); };
  auto u16 = [&] {
    const std::uint16_t low = u8();
    return static_cast<std::uint16_t>(low | (std::uint16_t{u8()} << 8));
  };
  auto u32 = [&] {
    const std::uint32_t value = internal::LoadFixed32(at);
    at += 4;
    return value;
  };
  auto u64 = [&] {
    const std::uint64_t value = internal::LoadFixed64(at);
    at += 8;
    return value;
  };
  command.id.high = u64();
  command.id.low = u64();
  command.kind = static_cast<CommandKind>(u8());  // unknown kinds are the ledger's to reject
  const std::uint8_t campaign_count = u8();
  const std::uint16_t program_bytes = u16();
  command.chain = u32();
  command.member = u64();
  command.points = static_cast<std::int64_t>(u64());
  command.order_reference = u64();
  command.store_reference = u64();
  command.campaign_reference = u64();
  command.reason_code = u32();
  command.duration_seconds = u32();
  command.target.high = u64();
  command.target.low = u64();
  command.amount_minor = u64();
  command.counterparty = u64();
  command.limit = u32();
  const std::uint32_t reserved = u32();
  if (reserved != 0 || campaign_count > kCommandCampaignsMax || program_bytes > kProgramBytesMax) {
    reader.Fail();
    return command;
  }
  for (std::uint8_t index = 0; index < campaign_count; ++index) command.campaigns.push_back(reader.U64());
  command.program = reader.Bytes(program_bytes);
  return command;
}

void PutResult(std::string* out, const CommandResult& result) {
  out->push_back(static_cast<char>(result.code));
  PutZeros(out, 7);
  PutFixed64(out, result.sequence);
  PutFixed64(out, result.timestamp_us);
  PutFixed64(out, static_cast<std::uint64_t>(result.balance));
  PutFixed64(out, static_cast<std::uint64_t>(result.points));
}

CommandResult ReadResult(BodyReader& reader) {
  CommandResult result;
  result.code = static_cast<ResultCode>(reader.U8());
  reader.Reserved(7);
  result.sequence = reader.U64();
  result.timestamp_us = reader.U64();
  result.balance = reader.I64();
  result.points = reader.I64();
  return result;
}

void PutBalance(std::string* out, const Balance& balance) {
  PutFixed64(out, static_cast<std::uint64_t>(balance.points));
  PutFixed64(out, balance.last_sequence);
  PutFixed64(out, static_cast<std::uint64_t>(balance.spendable));
  PutFixed64(out, static_cast<std::uint64_t>(balance.pending));
  PutFixed64(out, static_cast<std::uint64_t>(balance.held));
}

Balance ReadBalance(BodyReader& reader) {
  Balance balance;
  balance.points = reader.I64();
  balance.last_sequence = reader.U64();
  balance.spendable = reader.I64();
  balance.pending = reader.I64();
  balance.held = reader.I64();
  return balance;
}

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadFrame: return "bad_frame";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kUnknownOperation: return "unknown_operation";
    case ErrorCode::kHelloRequired: return "hello_required";
    case ErrorCode::kBadRequest: return "bad_request";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kUnauthorized: return "unauthorized";
  }
  return "unknown_error";
}

void AppendFrame(Operation operation, std::uint8_t flags, std::uint64_t request_id, std::string_view body,
                 std::string* out) {
  TALLY_ASSERT(body.size() <= kBodyBytesMax);
  const std::size_t start = out->size();
  out->append(kMagic, sizeof(kMagic));
  PutFixed16(out, kProtocolVersion);
  out->push_back(static_cast<char>(operation));
  out->push_back(static_cast<char>(flags));
  PutFixed64(out, request_id);
  PutFixed32(out, static_cast<std::uint32_t>(body.size()));
  PutZeros(out, 4);
  PutFixed64(out, XXH3_64bits(body.data(), body.size()));
  PutFixed64(out, XXH3_64bits(out->data() + start, kHeaderChecksumOffset));
  TALLY_ASSERT(out->size() - start == kHeaderBytes);
  out->append(body);
}

Status DecodeHeader(std::string_view bytes, Header* header) {
  if (bytes.size() != kHeaderBytes) return Status::InvalidArgument("frame header must be 40 bytes");
  if (XXH3_64bits(bytes.data(), kHeaderChecksumOffset) != internal::LoadFixed64(bytes.data() + kHeaderChecksumOffset)) {
    return Status::InvalidArgument("frame header checksum mismatch");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return Status::InvalidArgument("bad frame magic");
  BodyReader reader(bytes.substr(4, kHeaderChecksumOffset - 4));
  header->version = reader.U16();
  header->operation = static_cast<Operation>(reader.U8());
  header->flags = reader.U8();
  header->request_id = reader.U64();
  header->body_bytes = reader.U32();
  reader.Reserved(4);
  header->body_checksum = reader.U64();
  if (!reader.Finish()) return Status::InvalidArgument("frame header reserved bytes are not zero");
  if (header->body_bytes > kBodyBytesMax) {
    return Status::InvalidArgument("frame body of " + std::to_string(header->body_bytes) + " bytes exceeds " +
                                   std::to_string(kBodyBytesMax));
  }
  return Status::Ok();
}

Status CheckBody(const Header& header, std::string_view body) {
  if (body.size() != header.body_bytes) return Status::InvalidArgument("frame body length mismatch");
  if (XXH3_64bits(body.data(), body.size()) != header.body_checksum) {
    return Status::InvalidArgument("frame body checksum mismatch");
  }
  return Status::Ok();
}

std::string EncodeHelloRequest(const HelloRequest& request) {
  TALLY_ASSERT(request.client_name.size() <= kNameBytesMax && request.credentials.size() <= kCredentialsBytesMax);
  std::string body;
  PutFixed16(&body, request.version);
  PutString(&body, request.client_name);
  PutString(&body, request.credentials);
  return body;
}

Status DecodeHelloRequest(std::string_view body, HelloRequest* request) {
  BodyReader reader(body);
  request->version = reader.U16();
  request->client_name = reader.String(kNameBytesMax);
  request->credentials = reader.String(kCredentialsBytesMax);
  return reader.Finish() ? Status::Ok() : Malformed("hello request");
}

std::string EncodeHelloResponse(const HelloResponse& response) {
  TALLY_ASSERT(response.server_name.size() <= kNameBytesMax);
  std::string body;
  PutFixed16(&body, response.version);
  PutString(&body, response.server_name);
  return body;
}

Status DecodeHelloResponse(std::string_view body, HelloResponse* response) {
  BodyReader reader(body);
  response->version = reader.U16();
  response->server_name = reader.String(kNameBytesMax);
  return reader.Finish() ? Status::Ok() : Malformed("hello response");
}

std::size_t CommandBytes(const Command& command) {
  return kCommandCoreBytes + 8 * command.campaigns.size() + command.program.size();
}

std::size_t ApplyRequestBytes(std::span<const Command> commands) {
  std::size_t bytes = 4;
  for (const Command& command : commands) bytes += CommandBytes(command);
  return bytes;
}

std::string EncodeApplyRequest(const std::vector<Command>& commands) {
  TALLY_ASSERT(!commands.empty() && commands.size() <= kBatchCommandsMax);
  std::string body;
  body.reserve(ApplyRequestBytes(commands));
  PutFixed32(&body, static_cast<std::uint32_t>(commands.size()));
  for (const Command& command : commands) PutCommand(&body, command);
  TALLY_ASSERT(body.size() <= kBodyBytesMax);
  return body;
}

Status DecodeApplyRequest(std::string_view body, std::vector<Command>* commands) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  if (count == 0 || count > kBatchCommandsMax || reader.remaining() < std::size_t{count} * kCommandCoreBytes) {
    return Malformed("apply request: 1 to " + std::to_string(kBatchCommandsMax) + " commands of at least " +
                     std::to_string(kCommandCoreBytes) + " bytes");
  }
  commands->clear();
  commands->reserve(count);
  for (std::uint32_t index = 0; index < count; ++index) commands->push_back(ReadCommand(reader));
  return reader.Finish() ? Status::Ok() : Malformed("apply request");
}

std::string EncodeApplyResponse(const std::vector<CommandResult>& results) {
  TALLY_ASSERT(results.size() <= kBatchCommandsMax);
  std::string body;
  body.reserve(4 + results.size() * kResultBytes);
  PutFixed32(&body, static_cast<std::uint32_t>(results.size()));
  for (const CommandResult& result : results) PutResult(&body, result);
  return body;
}

Status DecodeApplyResponse(std::string_view body, std::vector<CommandResult>* results) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  if (count > kBatchCommandsMax || reader.remaining() != std::size_t{count} * kResultBytes) {
    return Malformed("apply response");
  }
  results->clear();
  results->reserve(count);
  for (std::uint32_t index = 0; index < count; ++index) results->push_back(ReadResult(reader));
  return reader.Finish() ? Status::Ok() : Malformed("apply response");
}

std::string EncodeBalanceRequest(const std::vector<MemberKey>& members) {
  TALLY_ASSERT(!members.empty() && members.size() <= kBalanceMembersMax);
  std::string body;
  PutFixed32(&body, static_cast<std::uint32_t>(members.size()));
  PutZeros(&body, 4);
  for (const MemberKey& member : members) {
    PutFixed32(&body, member.chain);
    PutZeros(&body, 4);
    PutFixed64(&body, member.member);
  }
  return body;
}

Status DecodeBalanceRequest(std::string_view body, std::vector<MemberKey>* members) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  reader.Reserved(4);
  if (count == 0 || count > kBalanceMembersMax || reader.remaining() != std::size_t{count} * kMemberKeyBytes) {
    return Malformed("balance request: 1 to " + std::to_string(kBalanceMembersMax) + " members of 16 bytes");
  }
  members->clear();
  for (std::uint32_t index = 0; index < count; ++index) {
    MemberKey member;
    member.chain = reader.U32();
    reader.Reserved(4);
    member.member = reader.U64();
    members->push_back(member);
  }
  return reader.Finish() ? Status::Ok() : Malformed("balance request");
}

std::string EncodeBalanceResponse(const std::vector<Balance>& balances) {
  TALLY_ASSERT(balances.size() <= kBalanceMembersMax);
  std::string body;
  PutFixed32(&body, static_cast<std::uint32_t>(balances.size()));
  PutZeros(&body, 4);
  for (const Balance& balance : balances) PutBalance(&body, balance);
  return body;
}

Status DecodeBalanceResponse(std::string_view body, std::vector<Balance>* balances) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  reader.Reserved(4);
  if (count > kBalanceMembersMax || reader.remaining() != std::size_t{count} * kBalanceBytes) {
    return Malformed("balance response");
  }
  balances->clear();
  for (std::uint32_t index = 0; index < count; ++index) balances->push_back(ReadBalance(reader));
  return reader.Finish() ? Status::Ok() : Malformed("balance response");
}

std::string EncodeHistoryRequest(const HistoryRequest& request) {
  TALLY_ASSERT(request.cursor.size() <= 32);
  std::string body;
  PutFixed32(&body, request.member.chain);
  PutFixed32(&body, request.limit);
  PutFixed64(&body, request.member.member);
  PutString(&body, request.cursor);
  return body;
}

Status DecodeHistoryRequest(std::string_view body, HistoryRequest* request) {
  BodyReader reader(body);
  request->member.chain = reader.U32();
  request->limit = reader.U32();
  request->member.member = reader.U64();
  request->cursor = reader.String(32);
  return reader.Finish() ? Status::Ok() : Malformed("history request");
}

std::string EncodeHistoryResponse(const HistoryPage& page) {
  TALLY_ASSERT(page.entries.size() <= kHistoryPageEntriesMax && page.next_cursor.size() <= 32);
  std::string body;
  PutFixed32(&body, static_cast<std::uint32_t>(page.entries.size()));
  PutZeros(&body, 4);
  for (const HistoryEntry& entry : page.entries) {
    TALLY_ASSERT(entry.shares.size() <= kSharesMax);
    PutCommand(&body, entry.command);
    PutFixed64(&body, entry.sequence);
    PutFixed64(&body, entry.timestamp_us);
    PutFixed64(&body, static_cast<std::uint64_t>(entry.balance_after));
    PutFixed64(&body, entry.target_sequence);
    body.push_back(static_cast<char>(entry.code));
    body.push_back(static_cast<char>(entry.incoming ? 1 : 0));
    body.push_back(static_cast<char>(entry.shares.size()));
    PutZeros(&body, 1);
    PutFixed32(&body, entry.program_version);
    PutFixed64(&body, static_cast<std::uint64_t>(entry.points));
    PutFixed64(&body, static_cast<std::uint64_t>(entry.base_points));
    for (const CampaignShare& share : entry.shares) {
      PutFixed64(&body, share.campaign);
      PutFixed64(&body, static_cast<std::uint64_t>(share.points));
    }
  }
  PutString(&body, page.next_cursor);
  TALLY_ASSERT(body.size() <= kBodyBytesMax);
  return body;
}

Status DecodeHistoryResponse(std::string_view body, HistoryPage* page) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  reader.Reserved(4);
  if (count > kHistoryPageEntriesMax || reader.remaining() < std::size_t{count} * kHistoryEntryBytes) {
    return Malformed("history response");
  }
  page->entries.clear();
  for (std::uint32_t index = 0; index < count; ++index) {
    HistoryEntry entry;
    entry.command = ReadCommand(reader);
    entry.sequence = reader.U64();
    entry.timestamp_us = reader.U64();
    entry.balance_after = reader.I64();
    entry.target_sequence = reader.U64();
    entry.code = static_cast<ResultCode>(reader.U8());
    const std::uint8_t incoming = reader.U8();
    const std::uint8_t share_count = reader.U8();
    reader.Reserved(1);
    entry.program_version = reader.U32();
    entry.points = reader.I64();
    entry.base_points = reader.I64();
    if (incoming > 1 || share_count > kSharesMax) return Malformed("history response");
    entry.incoming = incoming == 1;
    for (std::uint8_t share = 0; share < share_count; ++share) {
      const std::uint64_t campaign = reader.U64();
      entry.shares.push_back({campaign, reader.I64()});
    }
    page->entries.push_back(std::move(entry));
  }
  page->next_cursor = reader.String(32);
  return reader.Finish() ? Status::Ok() : Malformed("history response");
}

std::string EncodeMemberStatusRequest(const MemberStatusRequest& request) {
  std::string body;
  PutFixed32(&body, request.member.chain);
  PutZeros(&body, 4);
  PutFixed64(&body, request.member.member);
  PutFixed64(&body, request.expiring_before_us);
  return body;
}

Status DecodeMemberStatusRequest(std::string_view body, MemberStatusRequest* request) {
  BodyReader reader(body);
  request->member.chain = reader.U32();
  reader.Reserved(4);
  request->member.member = reader.U64();
  request->expiring_before_us = reader.U64();
  return reader.Finish() ? Status::Ok() : Malformed("member status request");
}

std::string EncodeMemberStatusResponse(const MemberStatus& status) {
  TALLY_ASSERT(status.lots.size() <= kStatusLotsMax && status.tier_name.size() <= kTierNameMax);
  std::string body;
  PutBalance(&body, status.balance);
  PutFixed64(&body, static_cast<std::uint64_t>(status.debt));
  PutFixed32(&body, status.tier);
  PutFixed32(&body, status.holds);
  PutFixed64(&body, static_cast<std::uint64_t>(status.qualifying_points));
  PutFixed64(&body, static_cast<std::uint64_t>(status.points_to_next_tier));
  PutFixed64(&body, status.tier_lapses_at_us);
  PutFixed64(&body, status.last_purchase_us);
  PutFixed64(&body, static_cast<std::uint64_t>(status.expiring_points));
  PutFixed32(&body, static_cast<std::uint32_t>(status.lots.size()));
  PutFixed32(&body, status.lots_total);
  PutString(&body, status.tier_name);
  for (const LotInfo& lot : status.lots) {
    PutFixed64(&body, static_cast<std::uint64_t>(lot.points));
    PutFixed64(&body, lot.sequence);
    PutFixed64(&body, lot.spendable_from_us);
    PutFixed64(&body, lot.expires_at_us);
  }
  return body;
}

Status DecodeMemberStatusResponse(std::string_view body, MemberStatus* status) {
  BodyReader reader(body);
  status->balance = ReadBalance(reader);
  status->debt = reader.I64();
  status->tier = reader.U32();
  status->holds = reader.U32();
  status->qualifying_points = reader.I64();
  status->points_to_next_tier = reader.I64();
  status->tier_lapses_at_us = reader.U64();
  status->last_purchase_us = reader.U64();
  status->expiring_points = reader.I64();
  const std::uint32_t lot_count = reader.U32();
  status->lots_total = reader.U32();
  status->tier_name = reader.String(kTierNameMax);
  if (lot_count > kStatusLotsMax || lot_count > status->lots_total) return Malformed("member status response");
  status->lots.clear();
  for (std::uint32_t index = 0; index < lot_count; ++index) {
    LotInfo lot;
    lot.points = reader.I64();
    lot.sequence = reader.U64();
    lot.spendable_from_us = reader.U64();
    lot.expires_at_us = reader.U64();
    status->lots.push_back(lot);
  }
  return reader.Finish() ? Status::Ok() : Malformed("member status response");
}

std::string EncodeSegmentRequest(const SegmentRequest& request) {
  TALLY_ASSERT(request.cursor.size() <= 32);
  const SegmentQuery& query = request.query;
  std::string body;
  PutFixed32(&body, query.chain);
  body.push_back(static_cast<char>(query.kind));
  PutZeros(&body, 3);
  PutFixed32(&body, request.limit);
  PutFixed32(&body, static_cast<std::uint32_t>(query.tier));
  PutFixed32(&body, query.days);
  PutZeros(&body, 4);
  PutFixed64(&body, static_cast<std::uint64_t>(query.within_points));
  PutFixed64(&body, query.before_us);
  PutString(&body, request.cursor);
  return body;
}

Status DecodeSegmentRequest(std::string_view body, SegmentRequest* request) {
  BodyReader reader(body);
  SegmentQuery& query = request->query;
  query.chain = reader.U32();
  query.kind = static_cast<SegmentKind>(reader.U8());  // the ledger checks the kind
  reader.Reserved(3);
  request->limit = reader.U32();
  query.tier = static_cast<std::int32_t>(reader.U32());
  query.days = reader.U32();
  reader.Reserved(4);
  query.within_points = reader.I64();
  query.before_us = reader.U64();
  request->cursor = reader.String(32);
  return reader.Finish() ? Status::Ok() : Malformed("segment request");
}

std::string EncodeSegmentResponse(const SegmentPage& page) {
  TALLY_ASSERT(page.members.size() <= kSegmentPageMembersMax && page.next_cursor.size() <= 32);
  std::string body;
  PutFixed32(&body, static_cast<std::uint32_t>(page.members.size()));
  PutZeros(&body, 4);
  PutFixed64(&body, page.scanned);
  for (const SegmentMember& member : page.members) {
    PutFixed64(&body, member.member);
    PutFixed64(&body, static_cast<std::uint64_t>(member.balance));
    PutFixed64(&body, static_cast<std::uint64_t>(member.value));
    PutFixed32(&body, member.tier);
    PutZeros(&body, 4);
  }
  PutString(&body, page.next_cursor);
  return body;
}

Status DecodeSegmentResponse(std::string_view body, SegmentPage* page) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  reader.Reserved(4);
  page->scanned = reader.U64();
  if (count > kSegmentPageMembersMax || reader.remaining() < std::size_t{count} * 32) {
    return Malformed("segment response");
  }
  page->members.clear();
  for (std::uint32_t index = 0; index < count; ++index) {
    SegmentMember member;
    member.member = reader.U64();
    member.balance = reader.I64();
    member.value = reader.I64();
    member.tier = reader.U32();
    reader.Reserved(4);
    page->members.push_back(member);
  }
  page->next_cursor = reader.String(32);
  return reader.Finish() ? Status::Ok() : Malformed("segment response");
}

std::string EncodeBackupRequest(std::string_view directory) { return EncodeOneString(directory, kPathBytesMax); }

Status DecodeBackupRequest(std::string_view body, std::string* directory) {
  return DecodeOneString(body, kPathBytesMax, "backup request", directory);
}

std::string EncodeBackupResponse(std::uint64_t sequence, std::string_view chain_head) {
  TALLY_ASSERT(chain_head.size() == 64);
  std::string body;
  PutFixed64(&body, sequence);
  body.append(chain_head);
  return body;
}

Status DecodeBackupResponse(std::string_view body, std::uint64_t* sequence, std::string* chain_head) {
  BodyReader reader(body);
  *sequence = reader.U64();
  *chain_head = reader.Bytes(64);
  return reader.Finish() ? Status::Ok() : Malformed("backup response");
}

std::string EncodeTokenCreateRequest(const TokenCreateRequest& request) {
  TALLY_ASSERT(request.name.size() <= kTokenNameBytesMax);
  std::string body;
  PutString(&body, request.name);
  body.push_back(static_cast<char>(request.role));
  PutZeros(&body, 3);
  PutFixed32(&body, request.chain);
  return body;
}

Status DecodeTokenCreateRequest(std::string_view body, TokenCreateRequest* request) {
  BodyReader reader(body);
  request->name = reader.String(kTokenNameBytesMax);
  const std::uint8_t role = reader.U8();
  reader.Reserved(3);
  request->chain = reader.U32();
  if (!reader.Finish() || request->name.empty() || !RoleFromName(RoleName(static_cast<Role>(role)))) {
    return Malformed("token create request");
  }
  request->role = static_cast<Role>(role);
  return Status::Ok();
}

std::string EncodeTokenCreateResponse(std::string_view secret) { return EncodeOneString(secret, kSecretBytesMax); }

Status DecodeTokenCreateResponse(std::string_view body, std::string* secret) {
  return DecodeOneString(body, kSecretBytesMax, "token create response", secret);
}

Status DecodeTokenListRequest(std::string_view body) { return DecodeEmpty(body, "token list request"); }

std::string EncodeTokenListResponse(const std::vector<TokenInfo>& tokens) {
  TALLY_ASSERT(tokens.size() <= kTokensMax);
  std::string body;
  PutFixed32(&body, static_cast<std::uint32_t>(tokens.size()));
  for (const TokenInfo& token : tokens) {
    TALLY_ASSERT(token.name.size() <= kTokenNameBytesMax);
    PutString(&body, token.name);
    body.push_back(static_cast<char>(token.role));
    PutZeros(&body, 3);
    PutFixed32(&body, token.chain);
    PutFixed64(&body, token.created_us);
    PutFixed64(&body, token.revoked_us);
  }
  return body;
}

Status DecodeTokenListResponse(std::string_view body, std::vector<TokenInfo>* tokens) {
  BodyReader reader(body);
  const std::uint32_t count = reader.U32();
  if (count > kTokensMax) return Malformed("token list response");
  tokens->clear();
  for (std::uint32_t index = 0; index < count && reader.ok(); ++index) {
    TokenInfo token;
    token.name = reader.String(kTokenNameBytesMax);
    const std::uint8_t role = reader.U8();
    reader.Reserved(3);
    token.chain = reader.U32();
    token.created_us = reader.U64();
    token.revoked_us = reader.U64();
    if (!RoleFromName(RoleName(static_cast<Role>(role)))) return Malformed("token list response");
    token.role = static_cast<Role>(role);
    tokens->push_back(std::move(token));
  }
  return reader.Finish() ? Status::Ok() : Malformed("token list response");
}

std::string EncodeTokenRevokeRequest(std::string_view name) { return EncodeOneString(name, kTokenNameBytesMax); }

Status DecodeTokenRevokeRequest(std::string_view body, std::string* name) {
  return DecodeOneString(body, kTokenNameBytesMax, "token revoke request", name);
}

Status DecodeTokenRevokeResponse(std::string_view body) { return DecodeEmpty(body, "token revoke response"); }

std::string EncodeFindRequest(const FindRequest& request) {
  std::string body;
  PutFixed32(&body, request.chain);
  PutZeros(&body, 4);
  PutFixed64(&body, request.id.high);
  PutFixed64(&body, request.id.low);
  return body;
}

Status DecodeFindRequest(std::string_view body, FindRequest* request) {
  BodyReader reader(body);
  request->chain = reader.U32();
  reader.Reserved(4);
  request->id.high = reader.U64();
  request->id.low = reader.U64();
  return reader.Finish() ? Status::Ok() : Malformed("find request");
}

std::string EncodeFindResponse(const std::optional<CommandResult>& result) {
  std::string body;
  body.push_back(result.has_value() ? 1 : 0);
  PutZeros(&body, 7);
  PutResult(&body, result.value_or(CommandResult{}));
  return body;
}

Status DecodeFindResponse(std::string_view body, std::optional<CommandResult>* result) {
  BodyReader reader(body);
  const std::uint8_t found = reader.U8();
  reader.Reserved(7);
  const CommandResult decoded = ReadResult(reader);
  if (!reader.Finish() || found > 1 || (found == 0 && !(decoded == CommandResult{}))) {
    return Malformed("find response");  // a result that is not found is all zero
  }
  *result = found == 1 ? std::optional<CommandResult>(decoded) : std::nullopt;
  return Status::Ok();
}

Status DecodeStatusRequest(std::string_view body) { return DecodeEmpty(body, "status request"); }

std::string EncodeStatusResponse(const StatusResponse& response) {
  TALLY_ASSERT(response.chain_head.size() == 64);
  std::string body;
  for (std::uint64_t value : {response.last_sequence, response.last_timestamp_us, response.uptime_us,
                              response.members, response.connections}) {
    PutFixed64(&body, value);
  }
  body.append(response.chain_head);
  PutString(&body, std::string_view(response.stopped).substr(0, kMessageBytesMax));
  return body;
}

Status DecodeStatusResponse(std::string_view body, StatusResponse* response) {
  BodyReader reader(body);
  response->last_sequence = reader.U64();
  response->last_timestamp_us = reader.U64();
  response->uptime_us = reader.U64();
  response->members = reader.U64();
  response->connections = reader.U64();
  response->chain_head = reader.Bytes(64);
  for (char c : response->chain_head) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return Malformed("status response");
  }
  response->stopped = reader.String(kMessageBytesMax);
  return reader.Finish() ? Status::Ok() : Malformed("status response");
}

std::string EncodeErrorResponse(const ErrorResponse& response) {
  std::string body;
  PutFixed16(&body, static_cast<std::uint16_t>(response.code));
  PutString(&body, std::string_view(response.message).substr(0, kMessageBytesMax));
  return body;
}

Status DecodeErrorResponse(std::string_view body, ErrorResponse* response) {
  BodyReader reader(body);
  response->code = static_cast<ErrorCode>(reader.U16());
  response->message = reader.String(kMessageBytesMax);
  return reader.Finish() ? Status::Ok() : Malformed("error response");
}

}  // namespace tally::wire

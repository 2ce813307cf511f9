#include "event.h"

#include <cstring>

#include "tally/internal/encoding.h"

namespace tally::internal {
namespace {

enum EventFlags : std::uint16_t {
  kHasOrder = 1 << 0,
  kHasStore = 1 << 1,
  kHasCampaign = 1 << 2,
  kHasReason = 1 << 3,
  kHasTarget = 1 << 4,
  kHasAmount = 1 << 5,
  kHasCounterparty = 1 << 6,
  kHasCounterpartySide = 1 << 7,
  kHasDuration = 1 << 8,
  kHasLimit = 1 << 9,
  kHasCampaigns = 1 << 10,
  kHasProgram = 1 << 11,
  kHasMoved = 1 << 12,
  kHasPurchase = 1 << 13,
  kDerived = 1 << 14,
  kKnownFlags = (1 << 15) - 1,
};

bool IsKnownKind(std::uint8_t kind) {
  return kind >= static_cast<std::uint8_t>(CommandKind::kEarn) &&
         kind <= static_cast<std::uint8_t>(CommandKind::kExpiry);
}

// Which kinds name a target command.
bool HasTarget(CommandKind kind) {
  return kind == CommandKind::kReverse || kind == CommandKind::kCapture || kind == CommandKind::kRelease;
}

std::uint16_t FlagsOf(const Event& event) {
  const Command& command = event.command;
  std::uint16_t flags = 0;
  if (command.order_reference != 0) flags |= kHasOrder;
  if (command.store_reference != 0) flags |= kHasStore;
  if (command.campaign_reference != 0) flags |= kHasCampaign;
  if (command.reason_code != 0) flags |= kHasReason;
  if (HasTarget(command.kind)) flags |= kHasTarget;
  if (command.amount_minor != 0) flags |= kHasAmount;
  if (command.counterparty != 0) flags |= kHasCounterparty;
  if (command.kind == CommandKind::kTransfer) flags |= kHasCounterpartySide;
  if (command.duration_seconds != 0) flags |= kHasDuration;
  if (command.limit != 0) flags |= kHasLimit;
  if (!command.campaigns.empty()) flags |= kHasCampaigns;
  if (!command.program.empty()) flags |= kHasProgram;
  if (event.moved != command.points) flags |= kHasMoved;
  if (command.kind == CommandKind::kEarnPurchase) flags |= kHasPurchase;
  if (event.derived) flags |= kDerived;
  return flags;
}

// Bytes of the fixed-size optional fields that come before the campaigns.
std::size_t FixedFieldsBeforeCampaigns(std::uint16_t flags) {
  std::size_t size = 0;
  auto fixed = [&](std::uint16_t flag, std::size_t bytes_of_field) {
    if (flags & flag) size += bytes_of_field;
  };
  fixed(kHasOrder, 8);
  fixed(kHasStore, 8);
  fixed(kHasCampaign, 8);
  fixed(kHasReason, 4);
  fixed(kHasTarget, 24);
  fixed(kHasAmount, 8);
  fixed(kHasCounterparty, 8);
  fixed(kHasCounterpartySide, 16);
  fixed(kHasDuration, 4);
  fixed(kHasLimit, 4);
  return size;
}

std::size_t EncodedSize(const Event& event, std::uint16_t flags) {
  std::size_t size = kEventCoreBytes + FixedFieldsBeforeCampaigns(flags);
  if (flags & kHasCampaigns) size += 1 + 8 * event.command.campaigns.size();
  if (flags & kHasProgram) size += 2 + event.command.program.size();
  if (flags & kHasMoved) size += 8;
  if (flags & kHasPurchase) size += 13 + 16 * event.shares.size();
  return size;
}

// Reads `size` bytes from the front of `reader` into `out`.
std::uint16_t LoadFixed16(const char* bytes) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[0]) | (static_cast<unsigned char>(bytes[1]) << 8));
}

bool ReadBytes(Reader& reader, std::size_t size, std::string* out) {
  if (reader.remaining() < size) return false;
  out->assign(reader.rest().substr(0, size));
  reader = Reader(reader.rest().substr(size));
  return true;
}

}  // namespace

void AppendEvent(const Event& event, std::string* out) {
  const Command& command = event.command;
  const std::uint16_t flags = FlagsOf(event);
  TALLY_ASSERT(command.campaigns.size() <= kPurchaseCampaignsMax);
  TALLY_ASSERT(command.program.size() <= kProgramBytesMax);
  TALLY_ASSERT(event.shares.size() <= kCampaignsMax + 1);  // every campaign and the tier

  // Sized once and written in place: an append per field was ~280
  // instructions an event on the engine's hot path.
  const std::size_t start = out->size();
  const std::size_t size = EncodedSize(event, flags);
  TALLY_ASSERT(size <= kEventBytesMax);
  out->resize(start + size);
  char* at = out->data() + start;
  const auto u8 = [&](std::uint8_t value) { *at++ = static_cast<char>(value); };
  const auto u32 = [&](std::uint32_t value) {
    StoreFixed32(at, value);
    at += 4;
  };
  const auto u64 = [&](std::uint64_t value) {
    StoreFixed64(at, value);
    at += 8;
  };
  u64(command.id.high);
  u64(command.id.low);
  u8(static_cast<std::uint8_t>(command.kind));
  u8(static_cast<std::uint8_t>(event.code));
  u8(static_cast<std::uint8_t>(flags & 0xff));
  u8(static_cast<std::uint8_t>(flags >> 8));
  u32(command.chain);
  u64(command.member);
  u64(static_cast<std::uint64_t>(command.points));
  u64(static_cast<std::uint64_t>(event.balance_after));
  u64(event.previous_sequence);
  if (flags & kHasOrder) u64(command.order_reference);
  if (flags & kHasStore) u64(command.store_reference);
  if (flags & kHasCampaign) u64(command.campaign_reference);
  if (flags & kHasReason) u32(command.reason_code);
  if (flags & kHasTarget) {
    u64(command.target.high);
    u64(command.target.low);
    u64(event.target_sequence);
  }
  if (flags & kHasAmount) u64(command.amount_minor);
  if (flags & kHasCounterparty) u64(command.counterparty);
  if (flags & kHasCounterpartySide) {
    u64(event.counterparty_previous_sequence);
    u64(static_cast<std::uint64_t>(event.counterparty_balance_after));
  }
  if (flags & kHasDuration) u32(command.duration_seconds);
  if (flags & kHasLimit) u32(command.limit);
  if (flags & kHasCampaigns) {
    u8(static_cast<std::uint8_t>(command.campaigns.size()));
    for (std::uint64_t campaign : command.campaigns) u64(campaign);
  }
  if (flags & kHasProgram) {
    u8(static_cast<std::uint8_t>(command.program.size() & 0xff));
    u8(static_cast<std::uint8_t>(command.program.size() >> 8));
    std::memcpy(at, command.program.data(), command.program.size());
    at += command.program.size();
  }
  if (flags & kHasMoved) u64(static_cast<std::uint64_t>(event.moved));
  if (flags & kHasPurchase) {
    u32(event.program_version);
    u64(static_cast<std::uint64_t>(event.base_points));
    u8(static_cast<std::uint8_t>(event.shares.size()));
    for (const CampaignShare& share : event.shares) {
      u64(share.campaign);
      u64(static_cast<std::uint64_t>(share.points));
    }
  }
  TALLY_ASSERT(at == out->data() + out->size());
}

Status SkipEvent(Reader& reader) {
  // The size from the flags and the counts of the variable-length parts,
  // without decoding: finding one event in a block steps over up to 127.
  const std::string_view bytes = reader.rest();
  if (bytes.size() < kEventCoreBytes) return Status::Corruption("event record truncated");
  const auto flags = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[18]) |
                                                (static_cast<unsigned char>(bytes[19]) << 8));
  std::size_t size = kEventCoreBytes + FixedFieldsBeforeCampaigns(flags);
  if (flags & kHasCampaigns) {
    if (bytes.size() < size + 1) return Status::Corruption("event record optional fields truncated");
    size += 1 + 8 * static_cast<std::size_t>(static_cast<unsigned char>(bytes[size]));
  }
  if (flags & kHasProgram) {
    if (bytes.size() < size + 2) return Status::Corruption("event record optional fields truncated");
    size += 2 + LoadFixed16(bytes.data() + size);
  }
  if (flags & kHasMoved) size += 8;
  if (flags & kHasPurchase) {
    if (bytes.size() < size + 13) return Status::Corruption("event record optional fields truncated");
    size += 13 + 16 * static_cast<std::size_t>(static_cast<unsigned char>(bytes[size + 12]));
  }
  if (bytes.size() < size) return Status::Corruption("event record optional fields truncated");
  reader = Reader(bytes.substr(size));
  return Status::Ok();
}

Status DecodeEvent(Reader& reader, Event* event) {
  Command& command = event->command;
  std::uint8_t kind = 0;
  std::uint8_t code = 0;
  std::uint16_t flags = 0;
  std::uint64_t points = 0;
  std::uint64_t balance_after = 0;
  if (reader.remaining() < kEventCoreBytes) return Status::Corruption("event record truncated");
  // The size check above makes every read of the core succeed.
  const bool core_read = reader.ReadFixed64(&command.id.high) && reader.ReadFixed64(&command.id.low) &&
               reader.ReadFixed8(&kind) && reader.ReadFixed8(&code) && reader.ReadFixed16(&flags) &&
               reader.ReadFixed32(&command.chain) && reader.ReadFixed64(&command.member) &&
               reader.ReadFixed64(&points) && reader.ReadFixed64(&balance_after) &&
               reader.ReadFixed64(&event->previous_sequence);
  TALLY_ASSERT(core_read);
  if (!IsKnownKind(kind)) return Status::Corruption("event record has unknown kind " + std::to_string(kind));
  if ((flags & ~kKnownFlags) != 0) return Status::Corruption("event record has unknown flags");
  command.kind = static_cast<CommandKind>(kind);
  event->code = static_cast<ResultCode>(code);
  if (!IsLogged(event->code)) return Status::Corruption("event record has an outcome that is never logged");
  if (((flags & kHasTarget) != 0) != HasTarget(command.kind)) {
    return Status::Corruption("event record target flag does not match its kind");
  }
  if (((flags & kHasCounterpartySide) != 0) != (command.kind == CommandKind::kTransfer) ||
      ((flags & kHasPurchase) != 0) != (command.kind == CommandKind::kEarnPurchase)) {
    return Status::Corruption("event record flags do not match its kind");
  }
  command.points = static_cast<std::int64_t>(points);
  event->balance_after = static_cast<std::int64_t>(balance_after);

  command.order_reference = 0;
  command.store_reference = 0;
  command.campaign_reference = 0;
  command.reason_code = 0;
  command.target = CommandId{};
  command.amount_minor = 0;
  command.counterparty = 0;
  command.duration_seconds = 0;
  command.limit = 0;
  command.campaigns.clear();
  command.program.clear();
  event->target_sequence = 0;
  event->counterparty_previous_sequence = 0;
  event->counterparty_balance_after = 0;
  event->moved = command.points;
  event->program_version = 0;
  event->base_points = 0;
  event->shares.clear();
  event->derived = (flags & kDerived) != 0;

  bool complete = true;
  if (flags & kHasOrder) complete = complete && reader.ReadFixed64(&command.order_reference);
  if (flags & kHasStore) complete = complete && reader.ReadFixed64(&command.store_reference);
  if (flags & kHasCampaign) complete = complete && reader.ReadFixed64(&command.campaign_reference);
  if (flags & kHasReason) complete = complete && reader.ReadFixed32(&command.reason_code);
  if (flags & kHasTarget) {
    complete = complete && reader.ReadFixed64(&command.target.high) && reader.ReadFixed64(&command.target.low) &&
               reader.ReadFixed64(&event->target_sequence);
  }
  if (flags & kHasAmount) complete = complete && reader.ReadFixed64(&command.amount_minor);
  if (flags & kHasCounterparty) complete = complete && reader.ReadFixed64(&command.counterparty);
  if (flags & kHasCounterpartySide) {
    std::uint64_t balance = 0;
    complete = complete && reader.ReadFixed64(&event->counterparty_previous_sequence) && reader.ReadFixed64(&balance);
    event->counterparty_balance_after = static_cast<std::int64_t>(balance);
  }
  if (flags & kHasDuration) complete = complete && reader.ReadFixed32(&command.duration_seconds);
  if (flags & kHasLimit) complete = complete && reader.ReadFixed32(&command.limit);
  if (complete && (flags & kHasCampaigns)) {
    std::uint8_t count = 0;
    complete = reader.ReadFixed8(&count) && count > 0 && count <= kPurchaseCampaignsMax;
    for (std::uint8_t index = 0; complete && index < count; ++index) {
      std::uint64_t campaign = 0;
      complete = reader.ReadFixed64(&campaign);
      command.campaigns.push_back(campaign);
    }
  }
  if (complete && (flags & kHasProgram)) {
    std::uint16_t size = 0;
    complete = reader.ReadFixed16(&size) && size > 0 && size <= kProgramBytesMax &&
               ReadBytes(reader, size, &command.program);
  }
  if (complete && (flags & kHasMoved)) {
    std::uint64_t moved = 0;
    complete = reader.ReadFixed64(&moved);
    event->moved = static_cast<std::int64_t>(moved);
  }
  if (complete && (flags & kHasPurchase)) {
    std::uint64_t base = 0;
    std::uint8_t count = 0;
    complete = reader.ReadFixed32(&event->program_version) && reader.ReadFixed64(&base) &&
               reader.ReadFixed8(&count) && count <= kCampaignsMax + 1;
    event->base_points = static_cast<std::int64_t>(base);
    for (std::uint8_t index = 0; complete && index < count; ++index) {
      CampaignShare share;
      std::uint64_t share_points = 0;
      complete = reader.ReadFixed64(&share.campaign) && reader.ReadFixed64(&share_points);
      share.points = static_cast<std::int64_t>(share_points);
      event->shares.push_back(share);
    }
  }
  if (!complete) return Status::Corruption("event record optional fields truncated");
  return Status::Ok();
}

}  // namespace tally::internal

#include "event.h"

#include "tally/internal/encoding.h"

namespace tally::internal {
namespace {

enum EventFlags : std::uint16_t {
  kHasOrder = 1 << 0,
  kHasStore = 1 << 1,
  kHasCampaign = 1 << 2,
  kHasReason = 1 << 3,
  kHasTarget = 1 << 4,
  kKnownFlags = kHasOrder | kHasStore | kHasCampaign | kHasReason | kHasTarget,
};

bool IsKnownKind(std::uint8_t kind) {
  return kind >= static_cast<std::uint8_t>(CommandKind::kEarn) &&
         kind <= static_cast<std::uint8_t>(CommandKind::kReverse);
}

}  // namespace

void AppendEvent(const Event& event, std::string* out) {
  const Command& command = event.command;
  std::uint16_t flags = 0;
  if (command.order_reference != 0) flags |= kHasOrder;
  if (command.store_reference != 0) flags |= kHasStore;
  if (command.campaign_reference != 0) flags |= kHasCampaign;
  if (command.reason_code != 0) flags |= kHasReason;
  if (command.kind == CommandKind::kReverse) flags |= kHasTarget;

  const std::size_t start = out->size();
  PutFixed64(out, command.id.high);
  PutFixed64(out, command.id.low);
  out->push_back(static_cast<char>(command.kind));
  out->push_back(static_cast<char>(event.code));
  out->push_back(static_cast<char>(flags & 0xff));
  out->push_back(static_cast<char>(flags >> 8));
  PutFixed32(out, command.chain);
  PutFixed64(out, command.member);
  PutFixed64(out, static_cast<std::uint64_t>(command.points));
  PutFixed64(out, static_cast<std::uint64_t>(event.balance_after));
  PutFixed64(out, event.previous_sequence);
  TALLY_ASSERT(out->size() - start == kEventCoreBytes);
  if (flags & kHasOrder) PutFixed64(out, command.order_reference);
  if (flags & kHasStore) PutFixed64(out, command.store_reference);
  if (flags & kHasCampaign) PutFixed64(out, command.campaign_reference);
  if (flags & kHasReason) PutFixed32(out, command.reason_code);
  if (flags & kHasTarget) {
    PutFixed64(out, command.target.high);
    PutFixed64(out, command.target.low);
    PutFixed64(out, event.target_sequence);
  }
  TALLY_ASSERT(out->size() - start <= kEventBytesMax);
}

Status SkipEvent(Reader& reader) {
  if (reader.remaining() < kEventCoreBytes) return Status::Corruption("event record truncated");
  const std::string_view rest = reader.rest();
  const auto flags = static_cast<std::uint16_t>(static_cast<unsigned char>(rest[18]) |
                                                (static_cast<unsigned char>(rest[19]) << 8));
  std::size_t size = kEventCoreBytes;
  if (flags & kHasOrder) size += 8;
  if (flags & kHasStore) size += 8;
  if (flags & kHasCampaign) size += 8;
  if (flags & kHasReason) size += 4;
  if (flags & kHasTarget) size += 24;
  if (reader.remaining() < size) return Status::Corruption("event record optional fields truncated");
  reader = Reader(rest.substr(size));
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
  if (((flags & kHasTarget) != 0) != (command.kind == CommandKind::kReverse)) {
    return Status::Corruption("event record target flag does not match its kind");
  }
  command.points = static_cast<std::int64_t>(points);
  event->balance_after = static_cast<std::int64_t>(balance_after);

  bool complete = true;
  command.order_reference = 0;
  command.store_reference = 0;
  command.campaign_reference = 0;
  command.reason_code = 0;
  command.target = CommandId{};
  event->target_sequence = 0;
  if (flags & kHasOrder) complete = complete && reader.ReadFixed64(&command.order_reference);
  if (flags & kHasStore) complete = complete && reader.ReadFixed64(&command.store_reference);
  if (flags & kHasCampaign) complete = complete && reader.ReadFixed64(&command.campaign_reference);
  if (flags & kHasReason) complete = complete && reader.ReadFixed32(&command.reason_code);
  if (flags & kHasTarget) {
    complete = complete && reader.ReadFixed64(&command.target.high) && reader.ReadFixed64(&command.target.low) &&
               reader.ReadFixed64(&event->target_sequence);
  }
  if (!complete) return Status::Corruption("event record optional fields truncated");
  return Status::Ok();
}

}  // namespace tally::internal

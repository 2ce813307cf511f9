#include <cstdio>
#include <cstdlib>

#include "tally/status.h"
#include "tally/types.h"

namespace tally {

std::string Status::ToString() const {
  const char* name = "ok";
  switch (code_) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: name = "invalid argument"; break;
    case Code::kNotFound: name = "not found"; break;
    case Code::kCorruption: name = "corruption"; break;
    case Code::kIOError: name = "I/O error"; break;
    case Code::kFailedPrecondition: name = "failed precondition"; break;
    case Code::kUnavailable: name = "unavailable"; break;
    case Code::kDeadlineExceeded: name = "deadline exceeded"; break;
    case Code::kPermissionDenied: name = "permission denied"; break;
  }
  return std::string(name) + ": " + message_;
}

namespace internal {
void AssertionFailed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "tally: invariant broken at %s:%d: %s\n", file, line, condition);
  std::abort();
}
}  // namespace internal

std::string CommandId::ToHex() const {
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return std::string(text, 32);
}

std::optional<CommandId> CommandId::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  CommandId id;
  for (std::size_t i = 0; i < 32; ++i) {
    const char c = hex[i];
    std::uint64_t digit = 0;
    if (c >= '0' && c <= '9') digit = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') digit = static_cast<std::uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') digit = static_cast<std::uint64_t>(c - 'A' + 10);
    else return std::nullopt;
    std::uint64_t& half = i < 16 ? id.high : id.low;
    half = (half << 4) | digit;
  }
  return id;
}

std::string_view ResultCodeName(ResultCode code) {
  switch (code) {
    case ResultCode::kOk: return "ok";
    case ResultCode::kInsufficientPoints: return "insufficient_points";
    case ResultCode::kOverflow: return "overflow";
    case ResultCode::kUnknownReference: return "unknown_reference";
    case ResultCode::kReversalExceedsOriginal: return "reversal_exceeds_original";
    case ResultCode::kNotReversible: return "not_reversible";
    case ResultCode::kProgramMissing: return "program_missing";
    case ResultCode::kHoldClosed: return "hold_closed";
    case ResultCode::kExceedsHold: return "exceeds_hold";
    case ResultCode::kAlreadyReferred: return "already_referred";
    case ResultCode::kAmountInvalid: return "amount_invalid";
    case ResultCode::kReasonMissing: return "reason_missing";
    case ResultCode::kIdInvalid: return "id_invalid";
    case ResultCode::kChainInvalid: return "chain_invalid";
    case ResultCode::kKindInvalid: return "kind_invalid";
    case ResultCode::kProgramInvalid: return "program_invalid";
    case ResultCode::kFieldInvalid: return "field_invalid";
    case ResultCode::kIdConflict: return "id_conflict";
  }
  return "unknown_result_code";
}

std::string_view CommandKindName(CommandKind kind) {
  switch (kind) {
    case CommandKind::kEarn: return "earn";
    case CommandKind::kRedeem: return "redeem";
    case CommandKind::kAdjust: return "adjust";
    case CommandKind::kReverse: return "reverse";
    case CommandKind::kProgram: return "program";
    case CommandKind::kEarnPurchase: return "earn_purchase";
    case CommandKind::kHold: return "hold";
    case CommandKind::kCapture: return "capture";
    case CommandKind::kRelease: return "release";
    case CommandKind::kExpire: return "expire";
    case CommandKind::kTransfer: return "transfer";
    case CommandKind::kReferral: return "referral";
    case CommandKind::kExpiry: return "expiry";
  }
  return "unknown_kind";
}

bool IsLogged(ResultCode code) {
  switch (code) {
    case ResultCode::kOk:
    case ResultCode::kInsufficientPoints:
    case ResultCode::kOverflow:
    case ResultCode::kUnknownReference:
    case ResultCode::kReversalExceedsOriginal:
    case ResultCode::kNotReversible:
    case ResultCode::kProgramMissing:
    case ResultCode::kHoldClosed:
    case ResultCode::kExceedsHold:
    case ResultCode::kAlreadyReferred:
      return true;
    default:
      return false;
  }
}

}  // namespace tally

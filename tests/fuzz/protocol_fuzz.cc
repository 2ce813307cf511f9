// The fuzz target for every decoder of bytes that arrive over the wire: the
// frame header, every request and response body, and the program record a
// program command carries. The first byte picks the decoder; the rest is
// its input. Whatever decodes must encode back to exactly the same bytes
// (the codec has one encoding per value); anything else is a crash.
//
// Built two ways (tests/fuzz/CMakeLists.txt): with libFuzzer by
// scripts/fuzz, and as a plain program that replays the kept corpus in
// every test run.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tally/program.h"
#include "tally/protocol.h"

namespace {

using namespace tally;
using namespace tally::wire;

// Decodes `body`; when it decodes, checks that encoding gives `body` back.
template <typename Value, typename Decode, typename Encode>
void RoundTrip(std::string_view body, Decode decode, Encode encode) {
  Value value{};
  if (!decode(body, &value).ok()) return;
  if (encode(value) != body) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 21) {
    case 0: {
      Header header;
      if (body.size() >= kHeaderBytes && DecodeHeader(body.substr(0, kHeaderBytes), &header).ok()) {
        (void)CheckBody(header, body.substr(kHeaderBytes));
      }
      break;
    }
    case 1: RoundTrip<HelloRequest>(body, DecodeHelloRequest, EncodeHelloRequest); break;
    case 2: RoundTrip<HelloResponse>(body, DecodeHelloResponse, EncodeHelloResponse); break;
    case 3: RoundTrip<std::vector<Command>>(body, DecodeApplyRequest, EncodeApplyRequest); break;
    case 4: RoundTrip<std::vector<CommandResult>>(body, DecodeApplyResponse, EncodeApplyResponse); break;
    case 5: RoundTrip<std::vector<MemberKey>>(body, DecodeBalanceRequest, EncodeBalanceRequest); break;
    case 6: RoundTrip<std::vector<Balance>>(body, DecodeBalanceResponse, EncodeBalanceResponse); break;
    case 7: RoundTrip<HistoryRequest>(body, DecodeHistoryRequest, EncodeHistoryRequest); break;
    case 8: RoundTrip<HistoryPage>(body, DecodeHistoryResponse, EncodeHistoryResponse); break;
    case 9: RoundTrip<FindRequest>(body, DecodeFindRequest, EncodeFindRequest); break;
    case 10: RoundTrip<std::optional<CommandResult>>(body, DecodeFindResponse, EncodeFindResponse); break;
    case 11: RoundTrip<StatusResponse>(body, DecodeStatusResponse, EncodeStatusResponse); break;
    case 12: RoundTrip<MemberStatusRequest>(body, DecodeMemberStatusRequest, EncodeMemberStatusRequest); break;
    case 13: RoundTrip<MemberStatus>(body, DecodeMemberStatusResponse, EncodeMemberStatusResponse); break;
    case 14: RoundTrip<SegmentRequest>(body, DecodeSegmentRequest, EncodeSegmentRequest); break;
    case 15: RoundTrip<SegmentPage>(body, DecodeSegmentResponse, EncodeSegmentResponse); break;
    case 16: {
      std::string directory;
      if (DecodeBackupRequest(body, &directory).ok() && EncodeBackupRequest(directory) != body) std::abort();
      std::uint64_t sequence = 0;
      std::string head;
      (void)DecodeBackupResponse(body, &sequence, &head);
      ErrorResponse error;
      (void)DecodeErrorResponse(body, &error);
      (void)DecodeStatusRequest(body);
      break;
    }
    case 18: {
      RoundTrip<TokenCreateRequest>(body, DecodeTokenCreateRequest, EncodeTokenCreateRequest);
      (void)DecodeTokenListRequest(body);
      (void)DecodeTokenRevokeResponse(body);
      break;
    }
    case 19: {
      std::string text;
      if (DecodeTokenCreateResponse(body, &text).ok() && EncodeTokenCreateResponse(text) != body) std::abort();
      if (DecodeTokenRevokeRequest(body, &text).ok() && EncodeTokenRevokeRequest(text) != body) std::abort();
      break;
    }
    case 20: RoundTrip<std::vector<TokenInfo>>(body, DecodeTokenListResponse, EncodeTokenListResponse); break;
    default: {
      const std::optional<Program> program = Program::Decode(body);
      if (program && program->Encode() != body) std::abort();
      if (program) (void)program->Validate();
      break;
    }
  }
  return 0;
}

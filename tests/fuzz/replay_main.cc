// Runs the fuzz target once over every file of the corpus directories given,
// without libFuzzer: the test run's check that no kept input crashes.
//   protocol_fuzz_replay DIR...        replay
//   protocol_fuzz_replay --seed DIR    write the seed inputs (valid encodings)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tally/program.h"
#include "tally/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using namespace tally;
using namespace tally::wire;

void Write(const std::filesystem::path& directory, const std::string& name, char selector, const std::string& body) {
  std::ofstream out(directory / name, std::ios::binary);
  out.put(selector);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
}

void Seed(const std::filesystem::path& directory) {
  std::filesystem::create_directories(directory);
  Command earn;
  earn.id = {1, 2};
  earn.chain = 7;
  earn.member = 42;
  earn.points = 100;
  Command purchase = earn;
  purchase.kind = CommandKind::kEarnPurchase;
  purchase.points = 0;
  purchase.order_reference = 9;
  purchase.amount_minor = 12'345;
  purchase.campaigns = {5, 6};
  Program program;
  program.tiers = {Tier{"member", 0, 1000}, Tier{"silver", 1000, 1500}};
  program.campaigns = {Campaign{5, 1, 2, 2000, 0, 0, true}};
  Command set_program = earn;
  set_program.kind = CommandKind::kProgram;
  set_program.member = 0;
  set_program.points = 0;
  set_program.program = program.Encode();
  std::string frame;
  AppendFrame(Operation::kApply, 0, 3, EncodeApplyRequest({earn}), &frame);
  Write(directory, "header", 0, frame);
  Write(directory, "hello-request", 1, EncodeHelloRequest({kProtocolVersion, "seed", "tly_secret"}));
  Write(directory, "hello-response", 2, EncodeHelloResponse({kProtocolVersion, "tallyd"}));
  Write(directory, "apply-request", 3, EncodeApplyRequest({earn, purchase, set_program}));
  Write(directory, "apply-response", 4, EncodeApplyResponse({{ResultCode::kOk, 1, 2, 3, 4}}));
  Write(directory, "balance-request", 5, EncodeBalanceRequest({{7, 42}, {7, 43}}));
  Write(directory, "balance-response", 6, EncodeBalanceResponse({{100, 1, 60, 30, 10}}));
  Write(directory, "history-request", 7, EncodeHistoryRequest({{7, 42}, 10, "00000000000000010000000000000002"}));
  HistoryPage page;
  HistoryEntry entry;
  entry.command = purchase;
  entry.shares = {{5, 10}, {0, 3}};
  page.entries = {entry};
  page.next_cursor = "00000000000000010000000000000002";
  Write(directory, "history-response", 8, EncodeHistoryResponse(page));
  Write(directory, "find-request", 9, EncodeFindRequest({7, {1, 2}}));
  Write(directory, "find-response", 10, EncodeFindResponse(CommandResult{ResultCode::kOk, 1, 2, 3, 4}));
  Write(directory, "status-response", 11, EncodeStatusResponse({1, 2, 3, 4, 5, std::string(64, 'a'), "stopped"}));
  Write(directory, "member-status-request", 12, EncodeMemberStatusRequest({{7, 42}, 99}));
  MemberStatus status;
  status.tier_name = "silver";
  status.lots = {{10, 1, 2, 3}};
  status.lots_total = 2;
  Write(directory, "member-status-response", 13, EncodeMemberStatusResponse(status));
  Write(directory, "segment-request", 14,
        EncodeSegmentRequest({{7, SegmentKind::kInactive, 30, -1, 0, 0}, 100, ""}));
  Write(directory, "segment-response", 15, EncodeSegmentResponse({{{42, 100, 0, 5}}, "abc", 10}));
  Write(directory, "backup-request", 16, EncodeBackupRequest("/tmp/backup"));
  Write(directory, "program", 17, program.Encode());
  Write(directory, "token-create-request", 18, EncodeTokenCreateRequest({"checkout", Role::kWriter, 7}));
  Write(directory, "token-create-response", 19, EncodeTokenCreateResponse("tly_0123"));
  Write(directory, "token-revoke-request", 19, EncodeTokenRevokeRequest("checkout"));
  Write(directory, "token-list-response", 20,
        EncodeTokenListResponse({{"a", Role::kAdmin, 0, 10, 0}, {"b", Role::kReader, 3, 11, 12}}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--seed") {
    Seed(argv[2]);
    return 0;
  }
  std::size_t inputs = 0;
  for (int index = 1; index < argc; ++index) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[index])) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++inputs;
    }
  }
  std::printf("replayed %zu inputs without a crash\n", inputs);
  return inputs > 0 ? 0 : 1;
}

// tally: the command-line tool. It talks to tallyd (`--server HOST:PORT`,
// default 127.0.0.1:7411) or works on a data directory directly (`--data
// DIR`, embedded); `replay` always reads a data directory.
//
//   tally [--server HOST:PORT | --data DIR] [--json] SUBCOMMAND [OPTIONS]
//
// Exit status: 0 ok; 1 the ledger rejected the command; 2 usage error;
// 3 the server could not be reached or did not answer in time; 4 the data
// directory could not be opened, read or written, or replay found a difference.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "backend.h"
#include "tally/limits.h"
#include "tally/program.h"
#include "tally/replay.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnection = 3;
constexpr int kExitData = 4;
constexpr char kDefaultDataDirectory[] = "tally-data";
constexpr char kDefaultServer[] = "127.0.0.1:7411";

constexpr char kUsage[] = R"(usage: tally [--server HOST:PORT | --data DIR] [--json] SUBCOMMAND [OPTIONS]

Talks to tallyd at HOST:PORT (default 127.0.0.1:7411), or, with --data, works
directly on the ledger in DIR (which no server may have open).

subcommands (docs/engine.md and docs/loyalty.md say what each does):
  earn     --chain N --member N --points N [--id HEX32] [--order N] [--store N] [--campaign N] [--reason N]
  redeem   --chain N --member N --points N [--id HEX32] [--order N] [--store N] [--campaign N] [--reason N]
  adjust   --chain N --member N --points N --reason N [--id HEX32]   (points may be negative)
  reverse  --chain N --member N --points N --target HEX32 [--id HEX32] [--reason N]
  purchase --chain N --member N --order N --amount MINOR_UNITS [--store N] [--campaigns ID,ID,...] [--id HEX32]
  hold     --chain N --member N --points N --duration SECONDS [--id HEX32]
  capture  --chain N --member N --hold HEX32 --points N [--id HEX32]
  release  --chain N --member N --hold HEX32 [--id HEX32]
  transfer --chain N --member N --to N --points N [--id HEX32]
  referral --chain N --member N --referred N [--id HEX32]
  program  --chain N [--rate POINTS/MINOR] [--pending-days N] [--expiry none|days:N|month-end:N]
           [--returns claw-back|allow-negative] [--referral-points N]
           [--tier-window-days N] [--tier-keep-days N] [--tier NAME:THRESHOLD:PERMILLE]...
           [--campaign-rule ID:FROM:TO:xPERMILLE|+POINTS[:auto][:tier=K]]... [--id HEX32]
           (a new version of the chain's program; dates are YYYY-MM-DD, UTC)
  expire   --chain N [--limit N]   write off past-date points: sweeps until none are left
  balance  --chain N --member N
  member   --chain N --member N [--expiring-before YYYY-MM-DD]   lots, tier, expiring points
  segment  --chain N (--inactive-days N [--tier-index K] | --near-next-tier POINTS
                      | --expiring-before YYYY-MM-DD)
           every member of the chain that matches, streamed page by page (--json: one
           object per line, then a summary line)
  history  --chain N --member N [--limit N] [--cursor C]
  find     --chain N --id HEX32
  init     create the ledger in DIR if it does not exist, then print its status
  status
  replay   re-derive every outcome and balance from the log in --data DIR (default
           ./tally-data; a backup or a stopped server's directory); exit 4 on any difference
  audit    [--head SEQUENCE:HASH]   replay plus the hash chain, read-only, with progress;
           with --head, prove that the log up to a chain head kept from `status` is unaltered
  balances --chain N --as-of YYYY-MM-DD   the trial balance of --data DIR: every member's balance
           then, CSV (member,balance,last_sequence)
  liability --chain N --from YYYY-MM-DD --to YYYY-MM-DD   outstanding points at both ends and every
           flow between, by store and campaign, reconciled (exit 4 if it does not)
  token create --name NAME --role reader|writer|auditor|admin [--chain N]   prints the secret once;
           no --chain: every chain (on --data DIR, or through tallyd with an admin --token)
  token list | token revoke --name NAME
  backup   --to DIR   a consistent copy of the ledger in DIR, which must not exist (with --server:
           a directory on the server's machine, written by tallyd while it serves)
  export   [--chain N] [--from-sequence N] [--to-sequence N] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
           [--format csv|jsonl]   the events of --data DIR in sequence order (docs/audit.md)

With --server, --token SECRET (or TALLY_TOKEN in the environment) is the token
to present when the server has tokens, and --tls-ca FILE (or TALLY_TLS_CA)
speaks TLS, trusting the CA certificates in FILE ("system": the system's);
the server's certificate must name --tls-name NAME, or the HOST of --server
(docs/security.md).
A command id (--id, 32 hex digits) is generated and printed when not given;
send the same id again to retry safely.
exit status: 0 ok, 1 rejected (or not allowed by the token), 2 usage error, 3 server unreachable or no
answer in time, 4 data error
)";

struct UsageError {
  std::string message;
};

class Arguments {
 public:
  // Flags that take no value.
  static bool IsSwitch(std::string_view name) { return name == "--json" || name == "--help"; }
  // Flags that may be given more than once.
  static bool IsRepeatable(std::string_view name) { return name == "--tier" || name == "--campaign-rule"; }

  static Arguments Parse(int argc, char** argv) {
    Arguments arguments;
    for (int index = 1; index < argc; ++index) {
      std::string_view word = argv[index];
      if (word.starts_with("--")) {
        if (IsSwitch(word)) {
          arguments.values_.emplace(std::string(word), "");
          continue;
        }
        if (index + 1 >= argc) throw UsageError{std::string(word) + " needs a value"};
        if (!IsRepeatable(word) && arguments.values_.contains(std::string(word))) {
          throw UsageError{std::string(word) + " is given twice"};
        }
        arguments.values_.emplace(std::string(word), argv[++index]);
      } else if (arguments.subcommand_.empty()) {
        arguments.subcommand_ = word;
      } else if (arguments.subcommand_ == "token" && arguments.action_.empty()) {
        arguments.action_ = word;
      } else {
        throw UsageError{"unexpected argument '" + std::string(word) + "'"};
      }
    }
    return arguments;
  }

  const std::string& subcommand() const { return subcommand_; }
  const std::string& action() const { return action_; }  // token create|list|revoke
  // Every value of a repeatable flag, in the order given.
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> all;
    for (auto [it, end] = values_.equal_range(name); it != end; ++it) all.push_back(it->second);
    return all;
  }
  bool Has(const std::string& name) const { return values_.contains(name); }
  std::string Text(const std::string& name, const std::string& fallback) const {
    auto found = values_.find(name);
    return found == values_.end() ? fallback : found->second;
  }

  template <typename Integer>
  Integer Number(const std::string& name, std::optional<Integer> fallback = std::nullopt) const {
    auto found = values_.find(name);
    if (found == values_.end()) {
      if (fallback) return *fallback;
      throw UsageError{name + " is required"};
    }
    const std::string& text = found->second;
    errno = 0;
    char* end = nullptr;
    if constexpr (std::is_signed_v<Integer>) {
      const long long value = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE || value < std::numeric_limits<Integer>::min() ||
          value > std::numeric_limits<Integer>::max()) {
        throw UsageError{name + " must be an integer, not '" + text + "'"};
      }
      return static_cast<Integer>(value);
    } else {
      const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE ||
          value > std::numeric_limits<Integer>::max()) {
        throw UsageError{name + " must be a non-negative integer, not '" + text + "'"};
      }
      return static_cast<Integer>(value);
    }
  }

  tally::CommandId Id(const std::string& name) const {
    auto id = tally::CommandId::FromHex(Text(name, ""));
    if (!id) throw UsageError{name + " must be 32 hex digits"};
    return *id;
  }

 private:
  std::string subcommand_;
  std::string action_;
  std::multimap<std::string, std::string> values_;
};

// "12", or "12" + separator + "34"...: the unsigned integers of `text`.
std::vector<std::uint64_t> SplitNumbers(const std::string& flag, const std::string& text, char separator) {
  std::vector<std::uint64_t> numbers;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char* stop = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(part.c_str(), &stop, 10);
    if (part.empty() || part[0] == '-' || *stop != '\0' || errno == ERANGE) {
      throw UsageError{flag + ": '" + part + "' is not a non-negative integer"};
    }
    numbers.push_back(value);
    if (end == std::string::npos) return numbers;
    start = end + 1;
  }
}

// YYYY-MM-DD (00:00 UTC that day) in microseconds since the epoch.
std::uint64_t ParseDate(const std::string& flag, const std::string& text) {
  const std::vector<std::uint64_t> parts = text.size() == 10 && text[4] == '-' && text[7] == '-'
                                               ? SplitNumbers(flag, text, '-')
                                               : std::vector<std::uint64_t>{};
  if (parts.size() != 3) throw UsageError{flag + " wants a date YYYY-MM-DD, not '" + text + "'"};
  const std::chrono::year_month_day date{std::chrono::year{static_cast<int>(parts[0])},
                                         std::chrono::month{static_cast<unsigned>(parts[1])},
                                         std::chrono::day{static_cast<unsigned>(parts[2])}};
  if (!date.ok() || parts[0] < 1970) throw UsageError{flag + ": " + text + " is not a date"};
  const auto days = std::chrono::sys_days{date}.time_since_epoch().count();
  return static_cast<std::uint64_t>(days) * 86'400'000'000ULL;
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

template <typename Integer>
Integer Narrow(const std::string& flag, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<Integer>::max())) {
    throw UsageError{flag + ": " + std::to_string(value) + " is too large"};
  }
  return static_cast<Integer>(value);
}

// The program flags of `tally program`; the ledger checks the ranges.
tally::Program ReadProgram(const Arguments& arguments) {
  tally::Program program;
  if (arguments.Has("--rate")) {
    const std::string text = arguments.Text("--rate", "");
    if (std::count(text.begin(), text.end(), '/') != 1) throw UsageError{"--rate wants POINTS/MINOR_UNITS, e.g. 1/100"};
    const std::vector<std::uint64_t> rate = SplitNumbers("--rate", text, '/');
    program.rate_points = Narrow<std::uint32_t>("--rate", rate[0]);
    program.rate_minor = Narrow<std::uint32_t>("--rate", rate[1]);
  }
  program.pending_days = arguments.Number<std::uint32_t>("--pending-days", 0);
  const std::string expiry = arguments.Text("--expiry", "none");
  if (expiry != "none") {
    const std::size_t colon = expiry.find(':');
    const std::string kind = expiry.substr(0, colon);
    if (colon == std::string::npos || (kind != "days" && kind != "month-end")) {
      throw UsageError{"--expiry is none, days:N or month-end:N"};
    }
    program.expiry = kind == "days" ? tally::ExpiryKind::kDays : tally::ExpiryKind::kMonthEnd;
    program.expiry_value = Narrow<std::uint32_t>("--expiry", SplitNumbers("--expiry", expiry.substr(colon + 1), ':')[0]);
  }
  const std::string returns = arguments.Text("--returns", "claw-back");
  if (returns != "claw-back" && returns != "allow-negative") {
    throw UsageError{"--returns is claw-back or allow-negative"};
  }
  program.return_policy =
      returns == "claw-back" ? tally::ReturnPolicy::kClawBack : tally::ReturnPolicy::kAllowNegative;
  program.referral_points = arguments.Number<std::int64_t>("--referral-points", 0);
  program.tier_window_days = arguments.Number<std::uint32_t>("--tier-window-days", 365);
  program.tier_keep_days = arguments.Number<std::uint32_t>("--tier-keep-days", 0);
  for (const std::string& text : arguments.All("--tier")) {
    const std::vector<std::string> parts = Split(text, ':');
    if (parts.size() != 3) throw UsageError{"--tier wants NAME:THRESHOLD:PERMILLE, e.g. silver:1000:1500"};
    tally::Tier tier;
    tier.name = parts[0];
    tier.threshold = Narrow<std::int64_t>("--tier", SplitNumbers("--tier", parts[1], ':')[0]);
    tier.multiplier_permille = Narrow<std::uint32_t>("--tier", SplitNumbers("--tier", parts[2], ':')[0]);
    program.tiers.push_back(tier);
  }
  for (const std::string& text : arguments.All("--campaign-rule")) {
    const std::vector<std::string> parts = Split(text, ':');
    if (parts.size() < 4 || parts[3].size() < 2 || (parts[3][0] != 'x' && parts[3][0] != '+')) {
      throw UsageError{"--campaign-rule wants ID:FROM:TO:xPERMILLE or ID:FROM:TO:+POINTS, then :auto or :tier=K"};
    }
    tally::Campaign campaign;
    campaign.id = SplitNumbers("--campaign-rule", parts[0], ':')[0];
    campaign.starts_at_us = ParseDate("--campaign-rule", parts[1]);
    campaign.ends_at_us = ParseDate("--campaign-rule", parts[2]);
    const std::uint64_t value = SplitNumbers("--campaign-rule", parts[3].substr(1), ':')[0];
    if (parts[3][0] == 'x') campaign.multiplier_permille = Narrow<std::uint32_t>("--campaign-rule", value);
    else campaign.bonus_points = Narrow<std::int64_t>("--campaign-rule", value);
    for (std::size_t index = 4; index < parts.size(); ++index) {
      if (parts[index] == "auto") {
        campaign.automatic = true;
      } else if (parts[index].starts_with("tier=")) {
        campaign.min_tier = Narrow<std::uint8_t>("--campaign-rule", SplitNumbers("--campaign-rule", parts[index].substr(5), ':')[0]);
      } else {
        throw UsageError{"--campaign-rule: unknown option '" + parts[index] + "'"};
      }
    }
    program.campaigns.push_back(campaign);
  }
  if (program.tiers.size() > tally::kTiersMax || program.campaigns.size() > tally::kCampaignsMax) {
    throw UsageError{"at most " + std::to_string(tally::kTiersMax) + " tiers and " +
                     std::to_string(tally::kCampaignsMax) + " campaign rules"};
  }
  for (const tally::Tier& tier : program.tiers) {
    if (tier.name.size() > tally::kTierNameMax) throw UsageError{"a tier name is at most 15 characters"};
  }
  return program;
}

tally::CommandId RandomCommandId() {
  std::random_device device;
  std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
  tally::CommandId id;
  while (id.IsZero()) id = {generator(), generator()};
  return id;
}

std::string JsonEscape(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char code[8];
      std::snprintf(code, sizeof(code), "\\u%04x", c);
      escaped += code;
      continue;
    }
    escaped += c;
  }
  return escaped;
}

int ReportError(const tally::Status& status, bool json) {
  if (json) {
    std::printf("{\"error\":\"%s\"}\n", JsonEscape(status.ToString()).c_str());
  } else {
    std::fprintf(stderr, "tally: %s\n", status.ToString().c_str());
  }
  switch (status.code()) {
    case tally::Status::Code::kInvalidArgument: return kExitUsage;
    case tally::Status::Code::kPermissionDenied: return kExitRejected;
    case tally::Status::Code::kUnavailable:
    case tally::Status::Code::kDeadlineExceeded: return kExitConnection;
    default: return kExitData;
  }
}

tally::Command ReadCommand(const Arguments& arguments, tally::CommandKind kind) {
  using tally::CommandKind;
  tally::Command command;
  command.kind = kind;
  command.id = arguments.Has("--id") ? arguments.Id("--id") : RandomCommandId();
  command.chain = arguments.Number<std::uint32_t>("--chain");
  if (kind == CommandKind::kProgram) {
    command.program = ReadProgram(arguments).Encode();
    return command;
  }
  command.member = arguments.Number<std::uint64_t>("--member");
  const bool has_points = kind != CommandKind::kEarnPurchase && kind != CommandKind::kRelease &&
                          kind != CommandKind::kReferral;
  if (has_points) command.points = arguments.Number<std::int64_t>("--points");
  command.order_reference = arguments.Number<std::uint64_t>("--order", 0);
  command.store_reference = arguments.Number<std::uint64_t>("--store", 0);
  command.campaign_reference = arguments.Number<std::uint64_t>("--campaign", 0);
  command.reason_code = arguments.Number<std::uint32_t>("--reason", 0);
  switch (kind) {
    case CommandKind::kReverse: command.target = arguments.Id("--target"); break;
    case CommandKind::kCapture:
    case CommandKind::kRelease: command.target = arguments.Id("--hold"); break;
    case CommandKind::kHold: command.duration_seconds = arguments.Number<std::uint32_t>("--duration"); break;
    case CommandKind::kTransfer: command.counterparty = arguments.Number<std::uint64_t>("--to"); break;
    case CommandKind::kReferral: command.counterparty = arguments.Number<std::uint64_t>("--referred"); break;
    case CommandKind::kEarnPurchase:
      command.order_reference = arguments.Number<std::uint64_t>("--order");
      command.amount_minor = arguments.Number<std::uint64_t>("--amount");
      if (arguments.Has("--campaigns")) {
        command.campaigns = SplitNumbers("--campaigns", arguments.Text("--campaigns", ""), ',');
        if (command.campaigns.size() > 8) throw UsageError{"--campaigns names at most 8 campaigns"};
      }
      break;
    default: break;
  }
  return command;
}

int RunCommand(tally::cli::Backend& ledger, const tally::Command& command, bool json) {
  auto results = ledger.Apply({&command, 1});
  if (!results.ok()) return ReportError(results.status(), json);
  const tally::CommandResult& result = results->front();
  const std::string code(tally::ResultCodeName(result.code));
  if (json) {
    std::printf("{\"id\":\"%s\",\"result\":\"%s\",\"sequence\":%" PRIu64 ",\"balance\":%" PRId64
                ",\"points\":%" PRId64 ",\"timestamp_us\":%" PRIu64 "}\n",
                command.id.ToHex().c_str(), code.c_str(), result.sequence, result.balance, result.points,
                result.timestamp_us);
  } else if (result.code == tally::ResultCode::kOk && command.kind == tally::CommandKind::kProgram) {
    std::printf("ok: program version %" PRId64 " of chain %u (sequence %" PRIu64 ", id %s)\n", result.points,
                command.chain, result.sequence, command.id.ToHex().c_str());
  } else if (result.code == tally::ResultCode::kOk) {
    std::printf("ok: %s %" PRId64 " points, balance %" PRId64 " (sequence %" PRIu64 ", id %s)\n",
                std::string(tally::CommandKindName(command.kind)).c_str(), result.points, result.balance,
                result.sequence, command.id.ToHex().c_str());
  } else {
    std::printf("rejected: %s (id %s)\n", code.c_str(), command.id.ToHex().c_str());
  }
  return result.code == tally::ResultCode::kOk ? kExitOk : kExitRejected;
}

int RunBalance(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const tally::MemberKey member{arguments.Number<std::uint32_t>("--chain"), arguments.Number<std::uint64_t>("--member")};
  auto balance = ledger.GetBalance(member);
  if (!balance.ok()) return ReportError(balance.status(), json);
  if (json) {
    std::printf("{\"chain\":%u,\"member\":%" PRIu64 ",\"balance\":%" PRId64 ",\"spendable\":%" PRId64
                ",\"pending\":%" PRId64 ",\"held\":%" PRId64 ",\"last_sequence\":%" PRIu64 "}\n",
                member.chain, member.member, balance->points, balance->spendable, balance->pending, balance->held,
                balance->last_sequence);
  } else {
    std::printf("chain %u member %" PRIu64 ": %" PRId64 " points (spendable %" PRId64 ", pending %" PRId64
                ", held %" PRId64 ")\n",
                member.chain, member.member, balance->points, balance->spendable, balance->pending, balance->held);
  }
  return kExitOk;
}

std::string FormatTime(std::uint64_t microseconds) {
  if (microseconds == 0) return "never";
  const std::chrono::sys_days day{std::chrono::days{static_cast<std::int64_t>(microseconds / 86'400'000'000ULL)}};
  const std::chrono::year_month_day date{day};
  char text[32];
  std::snprintf(text, sizeof(text), "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

int RunMember(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const tally::MemberKey member{arguments.Number<std::uint32_t>("--chain"), arguments.Number<std::uint64_t>("--member")};
  const std::uint64_t before =
      arguments.Has("--expiring-before") ? ParseDate("--expiring-before", arguments.Text("--expiring-before", "")) : 0;
  auto status = ledger.GetMemberStatus(member, before);
  if (!status.ok()) return ReportError(status.status(), json);
  const tally::Balance& balance = status->balance;
  if (json) {
    std::printf("{\"chain\":%u,\"member\":%" PRIu64 ",\"balance\":%" PRId64 ",\"spendable\":%" PRId64
                ",\"pending\":%" PRId64 ",\"held\":%" PRId64 ",\"debt\":%" PRId64
                ",\"tier\":\"%s\",\"qualifying_points\":%" PRId64 ",\"points_to_next_tier\":%" PRId64
                ",\"tier_lapses_at_us\":%" PRIu64 ",\"last_purchase_us\":%" PRIu64 ",\"expiring_points\":%" PRId64
                ",\"holds\":%u,\"lots_total\":%u,\"lots\":[",
                member.chain, member.member, balance.points, balance.spendable, balance.pending, balance.held,
                status->debt, JsonEscape(status->tier_name).c_str(), status->qualifying_points,
                status->points_to_next_tier, status->tier_lapses_at_us, status->last_purchase_us,
                status->expiring_points, status->holds, status->lots_total);
    for (std::size_t index = 0; index < status->lots.size(); ++index) {
      const tally::LotInfo& lot = status->lots[index];
      std::printf("%s{\"points\":%" PRId64 ",\"sequence\":%" PRIu64 ",\"spendable_from_us\":%" PRIu64
                  ",\"expires_at_us\":%" PRIu64 "}",
                  index == 0 ? "" : ",", lot.points, lot.sequence, lot.spendable_from_us, lot.expires_at_us);
    }
    std::printf("]}\n");
    return kExitOk;
  }
  std::printf("chain %u member %" PRIu64 ": %" PRId64 " points (spendable %" PRId64 ", pending %" PRId64
              ", held %" PRId64 ", owed %" PRId64 ")\n",
              member.chain, member.member, balance.points, balance.spendable, balance.pending, balance.held,
              status->debt);
  if (!status->tier_name.empty()) {
    std::printf("tier %s: %" PRId64 " qualifying points, %" PRId64 " to the next tier, lapses %s\n",
                status->tier_name.c_str(), status->qualifying_points, status->points_to_next_tier,
                FormatTime(status->tier_lapses_at_us).c_str());
  }
  std::printf("last purchase %s; %u open holds\n", FormatTime(status->last_purchase_us).c_str(), status->holds);
  if (before != 0) {
    std::printf("%" PRId64 " points expire before %s\n", status->expiring_points, FormatTime(before).c_str());
  }
  for (const tally::LotInfo& lot : status->lots) {
    std::printf("  lot %10" PRId64 " points  from event %" PRIu64 "  spendable %s  expires %s\n", lot.points,
                lot.sequence, FormatTime(lot.spendable_from_us).c_str(), FormatTime(lot.expires_at_us).c_str());
  }
  if (status->lots_total > status->lots.size()) {
    std::printf("  … and %zu more lots\n", status->lots_total - status->lots.size());
  }
  return kExitOk;
}

tally::SegmentQuery ReadSegment(const Arguments& arguments) {
  tally::SegmentQuery query;
  query.chain = arguments.Number<std::uint32_t>("--chain");
  const int given = (arguments.Has("--inactive-days") ? 1 : 0) + (arguments.Has("--near-next-tier") ? 1 : 0) +
                    (arguments.Has("--expiring-before") ? 1 : 0);
  if (given != 1) throw UsageError{"segment wants one of --inactive-days, --near-next-tier, --expiring-before"};
  if (arguments.Has("--inactive-days")) {
    query.kind = tally::SegmentKind::kInactive;
    query.days = arguments.Number<std::uint32_t>("--inactive-days");
    query.tier = arguments.Has("--tier-index") ? static_cast<std::int32_t>(arguments.Number<std::uint8_t>("--tier-index"))
                                               : -1;
  } else if (arguments.Has("--near-next-tier")) {
    query.kind = tally::SegmentKind::kNearNextTier;
    query.within_points = arguments.Number<std::int64_t>("--near-next-tier");
    if (query.within_points <= 0) throw UsageError{"--near-next-tier wants points > 0"};
  } else {
    query.kind = tally::SegmentKind::kExpiring;
    query.before_us = ParseDate("--expiring-before", arguments.Text("--expiring-before", ""));
  }
  if (arguments.Has("--tier-index") && query.kind != tally::SegmentKind::kInactive) {
    throw UsageError{"--tier-index goes with --inactive-days"};
  }
  return query;
}

// Streams every page: memory stays one page whatever the chain's size.
int RunSegment(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const tally::SegmentQuery query = ReadSegment(arguments);
  std::string cursor;
  std::uint64_t matched = 0;
  std::uint64_t scanned = 0;
  do {
    auto page = ledger.FindMembers(query, cursor, tally::kSegmentPageMembersMax);
    if (!page.ok()) return ReportError(page.status(), json);
    for (const tally::SegmentMember& member : page->members) {
      if (json) {
        std::printf("{\"member\":%" PRIu64 ",\"balance\":%" PRId64 ",\"tier\":%u,\"value\":%" PRId64 "}\n",
                    member.member, member.balance, member.tier, member.value);
      } else if (query.kind == tally::SegmentKind::kInactive) {
        std::printf("member %" PRIu64 ": %" PRId64 " points, tier %u, last purchase %s\n", member.member,
                    member.balance, member.tier, FormatTime(static_cast<std::uint64_t>(member.value)).c_str());
      } else {
        std::printf("member %" PRIu64 ": %" PRId64 " points, tier %u, %s %" PRId64 "\n", member.member,
                    member.balance, member.tier,
                    query.kind == tally::SegmentKind::kNearNextTier ? "to the next tier" : "expiring", member.value);
      }
    }
    matched += page->members.size();
    scanned += page->scanned;
    cursor = page->next_cursor;
  } while (!cursor.empty());
  if (json) std::printf("{\"members\":%" PRIu64 ",\"scanned\":%" PRIu64 "}\n", matched, scanned);
  else std::printf("%" PRIu64 " members\n", matched);
  return kExitOk;
}

// Sweeps with fresh command ids until one writes no member.
int RunExpire(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  tally::Command sweep;
  sweep.kind = tally::CommandKind::kExpire;
  sweep.chain = arguments.Number<std::uint32_t>("--chain");
  sweep.limit = arguments.Number<std::uint32_t>("--limit", 8192);
  std::int64_t written = 0;
  int sweeps = 0;
  while (true) {
    sweep.id = RandomCommandId();
    auto results = ledger.Apply({&sweep, 1});
    if (!results.ok()) return ReportError(results.status(), json);
    const tally::CommandResult& result = results->front();
    if (result.code != tally::ResultCode::kOk) {
      const std::string code(tally::ResultCodeName(result.code));
      if (json) std::printf("{\"result\":\"%s\"}\n", code.c_str());
      else std::printf("rejected: %s\n", code.c_str());
      return kExitRejected;
    }
    ++sweeps;
    written += result.points;
    if (result.points == 0) break;
  }
  if (json) std::printf("{\"result\":\"ok\",\"members\":%" PRId64 ",\"sweeps\":%d}\n", written, sweeps);
  else std::printf("ok: wrote off past-date points of %" PRId64 " members in %d sweeps\n", written, sweeps);
  return kExitOk;
}

int RunHistory(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const tally::MemberKey member{arguments.Number<std::uint32_t>("--chain"), arguments.Number<std::uint64_t>("--member")};
  const auto limit = arguments.Number<std::uint32_t>("--limit", 20);
  auto page = ledger.History(member, arguments.Text("--cursor", ""), limit);
  if (!page.ok()) return ReportError(page.status(), json);
  if (json) std::printf("{\"entries\":[");
  bool first = true;
  for (const tally::HistoryEntry& entry : page->entries) {
    const std::string kind(tally::CommandKindName(entry.command.kind));
    const std::string code(tally::ResultCodeName(entry.code));
    const std::string shown_kind = entry.incoming ? "transfer_in" : kind;
    if (json) {
      std::printf("%s{\"sequence\":%" PRIu64 ",\"timestamp_us\":%" PRIu64
                  ",\"kind\":\"%s\",\"result\":\"%s\",\"points\":%" PRId64 ",\"balance\":%" PRId64
                  ",\"id\":\"%s\"",
                  first ? "" : ",", entry.sequence, entry.timestamp_us, shown_kind.c_str(), code.c_str(),
                  entry.points, entry.balance_after, entry.command.id.ToHex().c_str());
      if (entry.command.kind == tally::CommandKind::kEarnPurchase) {
        std::printf(",\"program_version\":%u,\"base_points\":%" PRId64 ",\"shares\":[", entry.program_version,
                    entry.base_points);
        for (std::size_t index = 0; index < entry.shares.size(); ++index) {
          std::printf("%s{\"campaign\":%" PRIu64 ",\"points\":%" PRId64 "}", index == 0 ? "" : ",",
                      entry.shares[index].campaign, entry.shares[index].points);
        }
        std::printf("]");
      }
      std::printf("}");
    } else {
      std::printf("%10" PRIu64 "  %-13s %12" PRId64 "  balance %12" PRId64 "  %s  id %s\n", entry.sequence,
                  shown_kind.c_str(), entry.points, entry.balance_after, code.c_str(),
                  entry.command.id.ToHex().c_str());
    }
    first = false;
  }
  if (json) {
    std::printf("],\"next_cursor\":\"%s\"}\n", page->next_cursor.c_str());
  } else if (!page->next_cursor.empty()) {
    std::printf("more: --cursor %s\n", page->next_cursor.c_str());
  }
  return kExitOk;
}

int RunFind(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const auto chain = arguments.Number<std::uint32_t>("--chain");
  const tally::CommandId id = arguments.Id("--id");
  auto found = ledger.Find(chain, id);
  if (!found.ok()) return ReportError(found.status(), json);
  if (!found->has_value()) {
    if (json) std::printf("{\"id\":\"%s\",\"found\":false}\n", id.ToHex().c_str());
    else std::printf("command %s is not in the ledger\n", id.ToHex().c_str());
    return kExitRejected;
  }
  const tally::CommandResult& result = **found;
  const std::string code(tally::ResultCodeName(result.code));
  if (json) {
    std::printf("{\"id\":\"%s\",\"found\":true,\"result\":\"%s\",\"sequence\":%" PRIu64 ",\"balance\":%" PRId64 "}\n",
                id.ToHex().c_str(), code.c_str(), result.sequence, result.balance);
  } else {
    std::printf("command %s: %s at sequence %" PRIu64 ", balance %" PRId64 "\n", id.ToHex().c_str(), code.c_str(),
                result.sequence, result.balance);
  }
  return kExitOk;
}

int RunStatus(tally::cli::Backend& ledger, const std::string& where, bool json) {
  auto figures = ledger.Status();
  if (!figures.ok()) return ReportError(figures.status(), json);
  auto head = ledger.Head();
  if (!head.ok()) return ReportError(head.status(), json);
  auto stopped = ledger.Stopped();
  if (!stopped.ok()) return ReportError(stopped.status(), json);
  if (json) {
    std::printf("{\"at\":\"%s\"", JsonEscape(where).c_str());
    for (const auto& [name, value] : *figures) std::printf(",\"%s\":%" PRIu64, name.c_str(), value);
    std::printf(",\"chain_head\":\"%" PRIu64 ":%s\",\"stopped\":\"%s\"}\n", head->first, head->second.c_str(),
                JsonEscape(*stopped).c_str());
  } else {
    std::printf("ledger at %s\n", where.c_str());
    for (const auto& [name, value] : *figures) std::printf("%-18s %" PRIu64 "\n", name.c_str(), value);
    std::printf("%-18s %" PRIu64 ":%s\n", "chain_head", head->first, head->second.c_str());
    if (!stopped->empty()) std::printf("%-18s %s\n", "stopped", stopped->c_str());
  }
  return kExitOk;
}

// `--head SEQUENCE:HEX` as the audit takes it.
std::pair<std::uint64_t, std::string> ReadHead(const Arguments& arguments) {
  const std::string text = arguments.Text("--head", "");
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || text.size() - colon - 1 != 64) {
    throw UsageError{"--head wants SEQUENCE:HASH, as tally status prints chain_head"};
  }
  return {SplitNumbers("--head", text.substr(0, colon), ':')[0], text.substr(colon + 1)};
}

int RunAudit(const std::string& directory, const Arguments& arguments, bool json) {
  tally::ReplayOptions options;
  if (arguments.Has("--head")) std::tie(options.head_sequence, options.head_hash) = ReadHead(arguments);
  options.progress = [](std::uint64_t events) {
    std::fprintf(stderr, "audit: %" PRIu64 " events checked\n", events);
  };
  auto report = tally::Replay(directory, options);
  if (!report.ok()) {
    if (!json) std::fprintf(stderr, "audit FAILED\n");
    return ReportError(report.status(), json);
  }
  if (json) {
    std::printf("{\"ok\":true,\"events\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"members\":%zu"
                ",\"points_outstanding\":%s,\"chain_head\":\"%" PRIu64 ":%s\",\"head_checked\":%s"
                ",\"seconds\":%.3f}\n",
                report->events, report->blocks, report->members.size(), report->points_outstanding.c_str(),
                report->last_sequence, report->chain_head.c_str(), options.head_sequence != 0 ? "true" : "false",
                report->seconds);
  } else {
    std::printf("audit ok: %" PRIu64 " events in %" PRIu64 " blocks: checksums, sequence, hash chain%s and every "
                "outcome re-derived; %zu members, %s points outstanding; chain head %" PRIu64 ":%s; %.3f s\n",
                report->events, report->blocks, options.head_sequence != 0 ? " (through the head given)" : "",
                report->members.size(), report->points_outstanding.c_str(), report->last_sequence,
                report->chain_head.c_str(), report->seconds);
  }
  return kExitOk;
}

int RunReplay(const std::string& directory, bool json) {
  auto report = tally::Replay(directory);
  if (!report.ok()) {
    if (!json) std::fprintf(stderr, "replay FAILED\n");
    return ReportError(report.status(), json);
  }
  if (json) {
    std::printf("{\"ok\":true,\"blocks\":%" PRIu64 ",\"events\":%" PRIu64 ",\"rejections_logged\":%" PRIu64
                ",\"last_sequence\":%" PRIu64 ",\"members\":%zu,\"points_outstanding\":%s"
                ",\"seconds\":%.3f}\n",
                report->blocks, report->events, report->rejections_logged, report->last_sequence,
                report->members.size(), report->points_outstanding.c_str(), report->seconds);
  } else {
    std::printf("replay ok: %" PRIu64 " events in %" PRIu64 " blocks (%" PRIu64
                " logged rejections), last sequence %" PRIu64 ", %zu members, %s"
                " points outstanding, %.3f s\n",
                report->events, report->blocks, report->rejections_logged, report->last_sequence,
                report->members.size(), report->points_outstanding.c_str(), report->seconds);
  }
  return kExitOk;
}

// The export's columns, in order (docs/audit.md lists what each holds).
constexpr const char* kExportColumns[] = {
    "sequence", "timestamp_us", "chain", "member", "kind", "result", "points", "moved", "balance_after",
    "id", "order", "store", "campaign", "reason", "target", "target_sequence", "amount_minor", "counterparty",
    "counterparty_balance_after", "duration_seconds", "limit", "campaigns", "program", "program_version",
    "base_points", "shares", "derived"};

// The values of one exported event, as text, in kExportColumns order; `quoted`
// marks the ones that are strings in JSON.
std::vector<std::pair<std::string, bool>> ExportValues(const tally::LoggedEvent& logged) {
  const tally::HistoryEntry& entry = logged.entry;
  const tally::Command& command = entry.command;
  auto number = [](auto value) { return std::pair(std::to_string(value), false); };
  auto text = [](std::string value) { return std::pair(std::move(value), true); };
  std::string campaigns;
  for (std::uint64_t campaign : command.campaigns) campaigns += (campaigns.empty() ? "" : ";") + std::to_string(campaign);
  std::string program;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char byte : command.program) {
    program.push_back(kDigits[byte >> 4]);
    program.push_back(kDigits[byte & 15]);
  }
  std::string shares;
  for (const tally::CampaignShare& share : entry.shares) {
    shares += (shares.empty() ? "" : ";") + std::to_string(share.campaign) + ":" + std::to_string(share.points);
  }
  return {number(entry.sequence),
          number(entry.timestamp_us),
          number(command.chain),
          number(command.member),
          text(std::string(tally::CommandKindName(command.kind))),
          text(std::string(tally::ResultCodeName(entry.code))),
          number(command.points),
          number(entry.points),
          number(entry.balance_after),
          text(command.id.ToHex()),
          number(command.order_reference),
          number(command.store_reference),
          number(command.campaign_reference),
          number(command.reason_code),
          text(command.target.IsZero() ? "" : command.target.ToHex()),
          number(entry.target_sequence),
          number(command.amount_minor),
          number(command.counterparty),
          number(logged.counterparty_balance_after),
          number(command.duration_seconds),
          number(command.limit),
          text(campaigns),
          text(program),
          number(entry.program_version),
          number(entry.base_points),
          text(shares),
          std::pair(std::string(logged.derived ? "true" : "false"), false)};
}

int RunExport(const std::string& directory, const Arguments& arguments, bool json) {
  tally::LogRange range;
  range.chain = arguments.Number<std::uint32_t>("--chain", 0);
  range.from_sequence = arguments.Number<std::uint64_t>("--from-sequence", 1);
  range.to_sequence = arguments.Number<std::uint64_t>("--to-sequence", ~std::uint64_t{0});
  if (arguments.Has("--from")) range.from_us = ParseDate("--from", arguments.Text("--from", ""));
  if (arguments.Has("--to")) range.to_us = ParseDate("--to", arguments.Text("--to", ""));
  const std::string format = arguments.Text("--format", "csv");
  if (format != "csv" && format != "jsonl") throw UsageError{"--format is csv or jsonl"};
  const bool lines = format == "jsonl";
  bool header = lines;  // JSON Lines have none
  auto print_header = [&] {
    if (header) return;
    header = true;
    for (std::size_t index = 0; index < std::size(kExportColumns); ++index) {
      std::printf("%s%s", index == 0 ? "" : ",", kExportColumns[index]);
    }
    std::printf("\n");
  };
  std::uint64_t exported = 0;
  tally::Status status = tally::ReadLog(directory, range, [&](const tally::LoggedEvent& logged) {
    print_header();  // only once the log opened: a failure prints no partial file
    const auto values = ExportValues(logged);
    if (lines) std::printf("{");
    for (std::size_t index = 0; index < values.size(); ++index) {
      const auto& [value, quoted] = values[index];
      if (lines) {
        std::printf("%s\"%s\":%s%s%s", index == 0 ? "" : ",", kExportColumns[index], quoted ? "\"" : "",
                    value.c_str(), quoted ? "\"" : "");
      } else {
        std::printf("%s%s", index == 0 ? "" : ",", value.c_str());  // no value holds a comma or a quote
      }
    }
    std::printf(lines ? "}\n" : "\n");
    ++exported;
    return tally::Status::Ok();
  });
  if (!status.ok()) return ReportError(status, json);
  print_header();
  std::fprintf(stderr, "exported %" PRIu64 " events\n", exported);
  return kExitOk;
}

int RunBalancesAsOf(const std::string& directory, const Arguments& arguments, bool json) {
  const auto chain = arguments.Number<std::uint32_t>("--chain");
  const std::uint64_t as_of = ParseDate("--as-of", arguments.Text("--as-of", ""));
  auto members = tally::BalancesAsOf(directory, chain, as_of);
  if (!members.ok()) return ReportError(members.status(), json);
  __int128 total = 0;
  if (!json) std::printf("member,balance,last_sequence\n");
  for (const tally::ReplayMember& member : *members) {
    if (json) {
      std::printf("{\"member\":%" PRIu64 ",\"balance\":%" PRId64 ",\"last_sequence\":%" PRIu64 "}\n",
                  member.key.member, member.balance, member.last_sequence);
    } else {
      std::printf("%" PRIu64 ",%" PRId64 ",%" PRIu64 "\n", member.key.member, member.balance, member.last_sequence);
    }
    total += member.balance;
  }
  std::fprintf(stderr, "%zu members, %lld points outstanding as of %s\n", members->size(),
               static_cast<long long>(total), FormatTime(as_of).c_str());
  return kExitOk;
}

int RunLiability(const std::string& directory, const Arguments& arguments, bool json) {
  const auto chain = arguments.Number<std::uint32_t>("--chain");
  const std::uint64_t from = ParseDate("--from", arguments.Text("--from", ""));
  const std::uint64_t to = ParseDate("--to", arguments.Text("--to", ""));
  auto report = tally::Liability(directory, chain, from, to);
  if (!report.ok()) return ReportError(report.status(), json);
  const std::pair<const char*, std::int64_t> figures[] = {
      {"start", report->start},
      {"issued", report->issued},
      {"redeemed", report->redeemed},
      {"expired", report->expired},
      {"returned", report->returned},
      {"redemptions_reversed", report->redemptions_reversed},
      {"adjusted", report->adjusted},
      {"end", report->end},
      {"breakage", report->expired},
      {"transferred", report->transferred},
  };
  auto list = [&](const char* name, const std::vector<std::pair<std::uint64_t, std::int64_t>>& rows) {
    std::printf(json ? ",\"%s\":{" : "%s:\n", name);
    for (std::size_t index = 0; index < rows.size(); ++index) {
      if (json) std::printf("%s\"%" PRIu64 "\":%" PRId64, index == 0 ? "" : ",", rows[index].first, rows[index].second);
      else std::printf("  %-10" PRIu64 " %14" PRId64 "\n", rows[index].first, rows[index].second);
    }
    if (json) std::printf("}");
  };
  if (json) {
    std::printf("{\"chain\":%u,\"from\":\"%s\",\"to\":\"%s\",\"events\":%" PRIu64, chain, FormatTime(from).c_str(),
                FormatTime(to).c_str(), report->events);
    for (const auto& [name, value] : figures) std::printf(",\"%s\":%" PRId64, name, value);
  } else {
    std::printf("chain %u, %s to %s (%" PRIu64 " events)\n", chain, FormatTime(from).c_str(), FormatTime(to).c_str(),
                report->events);
    for (const auto& [name, value] : figures) std::printf("%-22s %14" PRId64 "\n", name, value);
  }
  list("issued_by_store", report->issued_by_store);
  list("redeemed_by_store", report->redeemed_by_store);
  list("issued_by_campaign", report->issued_by_campaign);
  list("redeemed_by_campaign", report->redeemed_by_campaign);
  if (json) std::printf(",\"reconciled\":true}\n");
  else std::printf("reconciled: start + issued - redeemed - expired - returned + redemptions reversed + adjusted = end\n");
  return kExitOk;
}

// The usage checks of `token ACTION`, before anything is opened.
void CheckTokenArguments(const Arguments& arguments) {
  const std::string& action = arguments.action();
  if (action == "create") {
    if (!tally::RoleFromName(arguments.Text("--role", ""))) throw UsageError{"--role is reader, writer, auditor or admin"};
    if (arguments.Text("--name", "").empty()) throw UsageError{"token create needs --name"};
    arguments.Number<std::uint32_t>("--chain", 0);
  } else if (action == "revoke") {
    if (arguments.Text("--name", "").empty()) throw UsageError{"token revoke needs --name"};
  } else if (action != "list") {
    throw UsageError{"token create, token list or token revoke"};
  }
}

// Tokens on the data directory, or through tallyd with an admin token.
int RunToken(tally::cli::Backend& ledger, const Arguments& arguments, bool json) {
  const std::string& action = arguments.action();
  if (action == "create") {
    const std::string name = arguments.Text("--name", "");
    const auto chain = arguments.Number<std::uint32_t>("--chain", 0);
    const std::optional<tally::Role> role = tally::RoleFromName(arguments.Text("--role", ""));
    auto secret = ledger.CreateToken(name, *role, chain);
    if (!secret.ok()) return ReportError(secret.status(), json);
    if (json) {
      std::printf("{\"name\":\"%s\",\"role\":\"%s\",\"chain\":%u,\"secret\":\"%s\"}\n", JsonEscape(name).c_str(),
                  std::string(tally::RoleName(*role)).c_str(), chain, secret->c_str());
    } else {
      std::printf("token %s (%s, %s): %s\nkeep the secret: it is not stored and cannot be shown again\n",
                  name.c_str(), std::string(tally::RoleName(*role)).c_str(),
                  chain == 0 ? "every chain" : ("chain " + std::to_string(chain)).c_str(), secret->c_str());
    }
    return kExitOk;
  }
  if (action == "revoke") {
    tally::Status status = ledger.RevokeToken(arguments.Text("--name", ""));
    if (!status.ok()) return ReportError(status, json);
    if (json) std::printf("{\"revoked\":\"%s\"}\n", JsonEscape(arguments.Text("--name", "")).c_str());
    else std::printf("revoked %s\n", arguments.Text("--name", "").c_str());
    return kExitOk;
  }
  auto tokens = ledger.ListTokens();
  if (!tokens.ok()) return ReportError(tokens.status(), json);
  for (const tally::TokenInfo& token : *tokens) {
    if (json) {
      std::printf("{\"name\":\"%s\",\"role\":\"%s\",\"chain\":%u,\"created_us\":%" PRIu64
                  ",\"revoked_us\":%" PRIu64 "}\n",
                  JsonEscape(token.name).c_str(), std::string(tally::RoleName(token.role)).c_str(), token.chain,
                  token.created_us, token.revoked_us);
    } else {
      std::printf("%-20s %-8s %-12s created %s%s\n", token.name.c_str(), std::string(tally::RoleName(token.role)).c_str(),
                  token.chain == 0 ? "every chain" : ("chain " + std::to_string(token.chain)).c_str(),
                  FormatTime(token.created_us).c_str(),
                  token.revoked_us == 0 ? "" : (", revoked " + FormatTime(token.revoked_us)).c_str());
    }
  }
  return kExitOk;
}

int Run(const Arguments& arguments) {
  const bool json = arguments.Has("--json");
  const std::string& subcommand = arguments.subcommand();
  const std::string directory = arguments.Text("--data", kDefaultDataDirectory);
  if (subcommand == "replay") return RunReplay(directory, json);
  if (subcommand == "audit") return RunAudit(directory, arguments, json);
  if (subcommand == "export") return RunExport(directory, arguments, json);
  if (subcommand == "balances") return RunBalancesAsOf(directory, arguments, json);
  if (subcommand == "liability") return RunLiability(directory, arguments, json);

  static const std::map<std::string, tally::CommandKind, std::less<>> kCommands = {
      {"earn", tally::CommandKind::kEarn},
      {"redeem", tally::CommandKind::kRedeem},
      {"adjust", tally::CommandKind::kAdjust},
      {"reverse", tally::CommandKind::kReverse},
      {"purchase", tally::CommandKind::kEarnPurchase},
      {"hold", tally::CommandKind::kHold},
      {"capture", tally::CommandKind::kCapture},
      {"release", tally::CommandKind::kRelease},
      {"transfer", tally::CommandKind::kTransfer},
      {"referral", tally::CommandKind::kReferral},
      {"program", tally::CommandKind::kProgram},
  };
  const auto command_kind = kCommands.find(subcommand);
  const bool known = command_kind != kCommands.end() || subcommand == "balance" || subcommand == "history" ||
                     subcommand == "find" || subcommand == "status" || subcommand == "init" ||
                     subcommand == "member" || subcommand == "expire" || subcommand == "segment" ||
                     subcommand == "backup" || subcommand == "token";
  if (!known) throw UsageError{subcommand.empty() ? "no subcommand" : "unknown subcommand '" + subcommand + "'"};
  // Read every argument before opening the ledger, so a usage error touches nothing.
  std::optional<tally::Command> command;
  if (command_kind != kCommands.end()) command = ReadCommand(arguments, command_kind->second);
  if (subcommand == "balance" || subcommand == "history" || subcommand == "member") {
    arguments.Number<std::uint32_t>("--chain");
    arguments.Number<std::uint64_t>("--member");
  }
  if (subcommand == "member" && arguments.Has("--expiring-before")) {
    ParseDate("--expiring-before", arguments.Text("--expiring-before", ""));
  }
  if (subcommand == "segment") ReadSegment(arguments);
  if (subcommand == "backup" && arguments.Text("--to", "").empty()) throw UsageError{"backup needs --to DIR"};
  if (subcommand == "expire") {
    arguments.Number<std::uint32_t>("--chain");
    arguments.Number<std::uint32_t>("--limit", 8192);
  }
  if (subcommand == "find") arguments.Id("--id");
  if (subcommand == "token") CheckTokenArguments(arguments);

  std::unique_ptr<tally::cli::Backend> backend;
  std::string where;
  if (arguments.Has("--data")) {
    if (arguments.Has("--server")) throw UsageError{"give --server or --data, not both"};
    // Only a command (or init) may create the data directory; a query of a
    // directory that does not exist is an error.
    tally::OpenOptions options;
    options.create_if_missing = command.has_value() || subcommand == "init" || subcommand == "expire" ||
                                (subcommand == "token" && arguments.action() == "create");
    // One command writes little: a small journal file is prepared quicker
    // and needs less free space (docs/journal.md).
    options.journal_file_bytes = 4 << 20;
    auto ledger = tally::Ledger::Open(directory, options);
    if (!ledger.ok()) return ReportError(ledger.status(), json);
    backend = std::make_unique<tally::cli::LedgerBackend>(std::move(ledger.value()));
    where = directory;
  } else {
    if (subcommand == "init") throw UsageError{"init works on a data directory: give --data DIR"};
    tally::ClientOptions options;
    where = arguments.Text("--server", kDefaultServer);
    const std::size_t colon = where.rfind(':');
    char* end = nullptr;
    const unsigned long port = colon == std::string::npos ? 0 : std::strtoul(where.c_str() + colon + 1, &end, 10);
    if (colon == std::string::npos || colon == 0 || *end != '\0' || port == 0 || port > 65535) {
      throw UsageError{"--server wants HOST:PORT, not '" + where + "'"};
    }
    options.host = where.substr(0, colon);
    options.port = static_cast<std::uint16_t>(port);
    options.client_name = "tally-cli";
    const char* environment_token = std::getenv("TALLY_TOKEN");
    options.credentials = arguments.Text("--token", environment_token != nullptr ? environment_token : "");
    const char* environment_ca = std::getenv("TALLY_TLS_CA");
    options.tls_ca_file = arguments.Text("--tls-ca", environment_ca != nullptr ? environment_ca : "");
    options.tls = !options.tls_ca_file.empty();
    if (options.tls_ca_file == "system") options.tls_ca_file.clear();  // the system's CAs
    options.tls_server_name = arguments.Text("--tls-name", "");
    // A backup links the database files and copies the WAL; give it time.
    if (subcommand == "backup") options.call_timeout = std::chrono::minutes(1);
    auto client = tally::Client::Connect(options);
    if (!client.ok()) return ReportError(client.status(), json);
    backend = std::make_unique<tally::cli::ClientBackend>(std::move(client.value()));
  }
  tally::cli::Backend& ledger = *backend;
  if (command) return RunCommand(ledger, *command, json);
  if (subcommand == "token") return RunToken(ledger, arguments, json);
  if (subcommand == "balance") return RunBalance(ledger, arguments, json);
  if (subcommand == "member") return RunMember(ledger, arguments, json);
  if (subcommand == "expire") return RunExpire(ledger, arguments, json);
  if (subcommand == "segment") return RunSegment(ledger, arguments, json);
  if (subcommand == "backup") {
    const std::string to = arguments.Text("--to", "");
    auto head = ledger.Backup(to);
    if (!head.ok()) return ReportError(head.status(), json);
    if (json) std::printf("{\"backup\":\"%s\",\"chain_head\":\"%" PRIu64 ":%s\"}\n", JsonEscape(to).c_str(), head->first, head->second.c_str());
    else std::printf("backup in %s ends at chain head %" PRIu64 ":%s\n", to.c_str(), head->first, head->second.c_str());
    return kExitOk;
  }
  if (subcommand == "history") return RunHistory(ledger, arguments, json);
  if (subcommand == "find") return RunFind(ledger, arguments, json);
  return RunStatus(ledger, where, json);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Arguments arguments = Arguments::Parse(argc, argv);
    if (arguments.Has("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    return Run(arguments);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "tally: %s\n\n%s", error.message.c_str(), kUsage);
    return kExitUsage;
  }
}

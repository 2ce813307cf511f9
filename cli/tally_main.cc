// tally: the command-line tool. It talks to tallyd (`--server HOST:PORT`,
// default 127.0.0.1:7411) or works on a data directory directly (`--data
// DIR`, embedded); `replay` always reads a data directory.
//
//   tally [--server HOST:PORT | --data DIR] [--json] SUBCOMMAND [OPTIONS]
//
// Exit status: 0 ok; 1 the ledger rejected the command; 2 usage error;
// 3 the server could not be reached or did not answer in time; 4 the data
// directory could not be opened, read or written, or replay found a difference.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"
#include "tally/limits.h"
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

subcommands:
  earn     --chain N --member N --points N [--id HEX32] [--order N] [--store N] [--campaign N] [--reason N]
  redeem   --chain N --member N --points N [--id HEX32] [--order N] [--store N] [--campaign N] [--reason N]
  adjust   --chain N --member N --points N --reason N [--id HEX32]   (points may be negative)
  reverse  --chain N --member N --points N --target HEX32 [--id HEX32] [--reason N]
  balance  --chain N --member N
  history  --chain N --member N [--limit N] [--cursor C]
  find     --chain N --id HEX32
  init     create the ledger in DIR if it does not exist, then print its status
  status
  replay   re-derive every outcome and balance from the log in --data DIR (default
           ./tally-data; a backup or a stopped server's directory); exit 4 on any difference

A command id (--id, 32 hex digits) is generated and printed when not given;
send the same id again to retry safely.
exit status: 0 ok, 1 rejected, 2 usage error, 3 server unreachable or no answer in time, 4 data error
)";

struct UsageError {
  std::string message;
};

class Arguments {
 public:
  // Flags that take no value.
  static bool IsSwitch(std::string_view name) { return name == "--json" || name == "--help"; }

  static Arguments Parse(int argc, char** argv) {
    Arguments arguments;
    for (int index = 1; index < argc; ++index) {
      std::string_view word = argv[index];
      if (word.starts_with("--")) {
        if (IsSwitch(word)) {
          arguments.values_[std::string(word)] = "";
          continue;
        }
        if (index + 1 >= argc) throw UsageError{std::string(word) + " needs a value"};
        arguments.values_[std::string(word)] = argv[++index];
      } else if (arguments.subcommand_.empty()) {
        arguments.subcommand_ = word;
      } else {
        throw UsageError{"unexpected argument '" + std::string(word) + "'"};
      }
    }
    return arguments;
  }

  const std::string& subcommand() const { return subcommand_; }
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
  std::map<std::string, std::string> values_;
};

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
    case tally::Status::Code::kUnavailable:
    case tally::Status::Code::kDeadlineExceeded: return kExitConnection;
    default: return kExitData;
  }
}

tally::Command ReadCommand(const Arguments& arguments, tally::CommandKind kind) {
  tally::Command command;
  command.kind = kind;
  command.id = arguments.Has("--id") ? arguments.Id("--id") : RandomCommandId();
  command.chain = arguments.Number<std::uint32_t>("--chain");
  command.member = arguments.Number<std::uint64_t>("--member");
  command.points = arguments.Number<std::int64_t>("--points");
  command.order_reference = arguments.Number<std::uint64_t>("--order", 0);
  command.store_reference = arguments.Number<std::uint64_t>("--store", 0);
  command.campaign_reference = arguments.Number<std::uint64_t>("--campaign", 0);
  command.reason_code = arguments.Number<std::uint32_t>("--reason", 0);
  if (kind == tally::CommandKind::kReverse) command.target = arguments.Id("--target");
  return command;
}

int RunCommand(tally::cli::Backend& ledger, const tally::Command& command, bool json) {
  auto results = ledger.Apply({&command, 1});
  if (!results.ok()) return ReportError(results.status(), json);
  const tally::CommandResult& result = results->front();
  const std::string code(tally::ResultCodeName(result.code));
  if (json) {
    std::printf("{\"id\":\"%s\",\"result\":\"%s\",\"sequence\":%" PRIu64 ",\"balance\":%" PRId64
                ",\"timestamp_us\":%" PRIu64 "}\n",
                command.id.ToHex().c_str(), code.c_str(), result.sequence, result.balance, result.timestamp_us);
  } else if (result.code == tally::ResultCode::kOk) {
    std::printf("ok: %s %" PRId64 " points, balance %" PRId64 " (sequence %" PRIu64 ", id %s)\n",
                std::string(tally::CommandKindName(command.kind)).c_str(), command.points, result.balance,
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
    std::printf("{\"chain\":%u,\"member\":%" PRIu64 ",\"balance\":%" PRId64 ",\"last_sequence\":%" PRIu64 "}\n",
                member.chain, member.member, balance->points, balance->last_sequence);
  } else {
    std::printf("chain %u member %" PRIu64 ": %" PRId64 " points\n", member.chain, member.member, balance->points);
  }
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
    if (json) {
      std::printf("%s{\"sequence\":%" PRIu64 ",\"timestamp_us\":%" PRIu64
                  ",\"kind\":\"%s\",\"result\":\"%s\",\"points\":%" PRId64 ",\"balance\":%" PRId64
                  ",\"id\":\"%s\"}",
                  first ? "" : ",", entry.sequence, entry.timestamp_us, kind.c_str(), code.c_str(),
                  entry.command.points, entry.balance_after, entry.command.id.ToHex().c_str());
    } else {
      std::printf("%10" PRIu64 "  %-8s %12" PRId64 "  balance %12" PRId64 "  %s  id %s\n", entry.sequence,
                  kind.c_str(), entry.command.points, entry.balance_after, code.c_str(),
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
  if (json) {
    std::printf("{\"at\":\"%s\"", JsonEscape(where).c_str());
    for (const auto& [name, value] : *figures) std::printf(",\"%s\":%" PRIu64, name.c_str(), value);
    std::printf("}\n");
  } else {
    std::printf("ledger at %s\n", where.c_str());
    for (const auto& [name, value] : *figures) std::printf("%-18s %" PRIu64 "\n", name.c_str(), value);
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

int Run(const Arguments& arguments) {
  const bool json = arguments.Has("--json");
  const std::string& subcommand = arguments.subcommand();
  const std::string directory = arguments.Text("--data", kDefaultDataDirectory);
  if (subcommand == "replay") return RunReplay(directory, json);

  static const std::map<std::string, tally::CommandKind, std::less<>> kCommands = {
      {"earn", tally::CommandKind::kEarn},
      {"redeem", tally::CommandKind::kRedeem},
      {"adjust", tally::CommandKind::kAdjust},
      {"reverse", tally::CommandKind::kReverse},
  };
  const auto command_kind = kCommands.find(subcommand);
  const bool known = command_kind != kCommands.end() || subcommand == "balance" || subcommand == "history" ||
                     subcommand == "find" || subcommand == "status" || subcommand == "init";
  if (!known) throw UsageError{subcommand.empty() ? "no subcommand" : "unknown subcommand '" + subcommand + "'"};
  // Read every argument before opening the ledger, so a usage error touches nothing.
  std::optional<tally::Command> command;
  if (command_kind != kCommands.end()) command = ReadCommand(arguments, command_kind->second);
  if (subcommand == "balance" || subcommand == "history") {
    arguments.Number<std::uint32_t>("--chain");
    arguments.Number<std::uint64_t>("--member");
  }
  if (subcommand == "find") arguments.Id("--id");

  std::unique_ptr<tally::cli::Backend> backend;
  std::string where;
  if (arguments.Has("--data")) {
    if (arguments.Has("--server")) throw UsageError{"give --server or --data, not both"};
    // Only a command (or init) may create the data directory; a query of a
    // directory that does not exist is an error.
    tally::OpenOptions options;
    options.create_if_missing = command.has_value() || subcommand == "init";
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
    auto client = tally::Client::Connect(options);
    if (!client.ok()) return ReportError(client.status(), json);
    backend = std::make_unique<tally::cli::ClientBackend>(std::move(client.value()));
  }
  tally::cli::Backend& ledger = *backend;
  if (command) return RunCommand(ledger, *command, json);
  if (subcommand == "balance") return RunBalance(ledger, arguments, json);
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

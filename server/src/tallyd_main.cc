// tallyd: the ledger server.
//
//   tallyd [--data DIR] [--listen HOST:PORT] [--idle-timeout-ms N] [--journal-file-mb N]
//          [--tls-cert FILE --tls-key FILE]
//
// SIGINT or SIGTERM: stop cleanly. SIGHUP: read the TLS files again.
//
// Defaults: --data ./tally-data, --listen 127.0.0.1:7411.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server.h"

// Defined when tcmalloc is linked in (CMakeLists.txt, TALLY_TCMALLOC).
extern "C" const char* tc_version(int* major, int* minor, const char** patch) __attribute__((weak));

namespace {

// The allocator in use, for the start line: "tcmalloc (gperftools 2.10)" or "system".
std::string MallocName() {
  if (tc_version == nullptr) return "system";
  return std::string("tcmalloc (") + tc_version(nullptr, nullptr, nullptr) + ")";
}

constexpr char kUsage[] =
    "usage: tallyd [--data DIR] [--listen HOST:PORT] [--idle-timeout-ms N] [--journal-file-mb N]\n"
    "              [--tls-cert FILE --tls-key FILE]\n"
    "defaults: --data tally-data --listen 127.0.0.1:7411, in the clear, --journal-file-mb 64\n"
    "--journal-file-mb: the size of each journal file, 1 to 1024 (docs/journal.md)\n"
    "--tls-cert/--tls-key: speak TLS with this certificate chain and private key (PEM; docs/security.md);\n"
    "SIGHUP reads them again\n";

bool ParseListen(std::string_view text, tally::server::ServerOptions* options) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string port(text.substr(colon + 1));
  char* end = nullptr;
  const unsigned long value = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value > 65535) return false;
  options->host = std::string(text.substr(0, colon));
  options->port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string directory = "tally-data";
  tally::server::ServerOptions options;
  tally::OpenOptions open_options;
  for (int index = 1; index < argc; ++index) {
    const std::string_view flag = argv[index];
    if (flag == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (index + 1 >= argc) {
      std::fprintf(stderr, "tallyd: %s needs a value\n%s", argv[index], kUsage);
      return 2;
    }
    const std::string value = argv[++index];
    if (flag == "--data") {
      directory = value;
    } else if (flag == "--listen") {
      if (!ParseListen(value, &options)) {
        std::fprintf(stderr, "tallyd: --listen wants HOST:PORT, not '%s'\n", value.c_str());
        return 2;
      }
    } else if (flag == "--idle-timeout-ms") {
      options.idle_timeout_ms = static_cast<std::uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
      if (options.idle_timeout_ms == 0) {
        std::fprintf(stderr, "tallyd: --idle-timeout-ms wants a positive number\n");
        return 2;
      }
    } else if (flag == "--journal-file-mb") {
      char* end = nullptr;
      const unsigned long megabytes = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || megabytes < 1 || megabytes > 1024) {
        std::fprintf(stderr, "tallyd: --journal-file-mb wants a number from 1 to 1024, not '%s'\n", value.c_str());
        return 2;
      }
      open_options.journal_file_bytes = std::uint64_t{megabytes} << 20;
    } else if (flag == "--tls-cert") {
      options.tls_certificate_file = value;
    } else if (flag == "--tls-key") {
      options.tls_key_file = value;
    } else {
      std::fprintf(stderr, "tallyd: unknown option %s\n%s", argv[index - 1], kUsage);
      return 2;
    }
  }

  open_options.queries_answer_early = true;  // the server holds each answer until it is durable
  auto ledger = tally::Ledger::Open(directory, std::move(open_options));
  if (!ledger.ok()) {
    std::fprintf(stderr, "tallyd: %s\n", ledger.status().ToString().c_str());
    return 4;
  }
  auto server = tally::server::Server::Bind(**ledger, options);
  if (!server.ok()) {
    std::fprintf(stderr, "tallyd: %s\n", server.status().ToString().c_str());
    return 3;
  }
  const tally::LedgerStats stats = (*ledger)->Stats();
  std::printf("tallyd listening on %s:%u%s, data in %s (last sequence %llu, %llu members, opened in %.3f s; malloc: %s)\n",
              options.host.c_str(), (*server)->port(), options.tls_certificate_file.empty() ? "" : " (TLS)",
              directory.c_str(),
              static_cast<unsigned long long>(stats.last_sequence), static_cast<unsigned long long>(stats.members),
              stats.recovery_seconds, MallocName().c_str());
  std::fflush(stdout);
  (*server)->Run();
  server->reset();
  ledger->reset();
  std::printf("tallyd stopped\n");
  return 0;
}

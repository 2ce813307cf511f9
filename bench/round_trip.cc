// round_trip: what the client library adds to a round trip. One balance
// read at a time, a pause between (so that every thread involved sleeps
// between calls, as at light load), first over a bare socket — a blocking
// write of the frame and a blocking read of the answer, nothing else — then
// through the client library, alternating in rounds; prints the median of
// each round's p50 / p90 / p99 (µs) for both.
//
//   round_trip --server 127.0.0.1:7411 --calls 1500 --pause-us 4000 --rounds 3
//
// Against a running tallyd; the members read need not exist.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "address.h"
#include "tally/client.h"
#include "tally/protocol.h"

namespace {

using Clock = std::chrono::steady_clock;
using tally::MemberKey;
namespace wire = tally::wire;

struct Settings {
  tally::bench::Address server{"127.0.0.1", 7411};
  int calls = 1500;
  int pause_us = 4000;
  int rounds = 3;
};

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};

Percentiles Summarize(std::vector<double> latencies) {
  std::sort(latencies.begin(), latencies.end());
  const std::size_t n = latencies.size();
  return {latencies[n / 2], latencies[n * 9 / 10], latencies[n * 99 / 100]};
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "round_trip: %s\n", what.c_str());
  std::exit(1);
}

void ReadExactly(int socket, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t got = ::read(socket, data, size);
    if (got <= 0) Fail("the connection was lost");
    data += got;
    size -= static_cast<std::size_t>(got);
  }
}

void ReadAnswer(int socket) {
  std::string header_bytes(wire::kHeaderBytes, '\0');
  ReadExactly(socket, header_bytes.data(), header_bytes.size());
  wire::Header header;
  if (!wire::DecodeHeader(header_bytes, &header).ok()) Fail("a malformed answer");
  std::string body(header.body_bytes, '\0');
  ReadExactly(socket, body.data(), body.size());
  if (header.operation == wire::Operation::kError) Fail("the server answered with an error");
}

void Send(int socket, const std::string& frame) {
  if (::write(socket, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) Fail("a short write");
}

std::vector<double> BareSocket(const Settings& settings, std::mt19937_64& random) {
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(settings.server.port);
  if (::inet_pton(AF_INET, settings.server.host.c_str(), &address.sin_addr) != 1) {
    Fail("--server needs an IPv4 address");
  }
  if (::connect(socket, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) Fail("cannot connect");
  const int one = 1;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string hello;
  wire::AppendFrame(wire::Operation::kHello, 0, 0,
                    wire::EncodeHelloRequest({wire::kProtocolVersion, "round_trip", ""}), &hello);
  Send(socket, hello);
  ReadAnswer(socket);
  std::vector<double> latencies;
  for (int call = 0; call < settings.calls; ++call) {
    std::this_thread::sleep_for(std::chrono::microseconds(settings.pause_us));  // pacing, not synchronization
    std::string frame;
    wire::AppendFrame(wire::Operation::kBalance, 0, static_cast<std::uint64_t>(call) + 1,
                      wire::EncodeBalanceRequest({MemberKey{1, random() % 1'000'000 + 1}}), &frame);
    const auto start = Clock::now();
    Send(socket, frame);
    ReadAnswer(socket);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  ::close(socket);
  return latencies;
}

std::vector<double> ClientLibrary(const Settings& settings, std::mt19937_64& random) {
  tally::ClientOptions options;
  options.host = settings.server.host;
  options.port = settings.server.port;
  options.client_name = "round_trip";
  auto client = tally::Client::Connect(options);
  if (!client.ok()) Fail(client.status().ToString());
  std::vector<double> latencies;
  for (int call = 0; call < settings.calls; ++call) {
    std::this_thread::sleep_for(std::chrono::microseconds(settings.pause_us));  // pacing, not synchronization
    const MemberKey member{1, random() % 1'000'000 + 1};
    const auto start = Clock::now();
    auto balance = (*client)->GetBalance(member);
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!balance.ok()) Fail(balance.status().ToString());
  }
  return latencies;
}

Settings Parse(int argc, char** argv) {
  Settings settings;
  for (int index = 1; index < argc; index += 2) {
    const std::string flag = argv[index];
    if (index + 1 >= argc) Fail(flag + " needs a value");
    const std::string value = argv[index + 1];
    if (flag == "--server") {
      const auto server = tally::bench::ParseAddress(value);
      if (!server) Fail("--server is HOST:PORT, not " + value);
      settings.server = *server;
    } else if (flag == "--calls") {
      settings.calls = std::atoi(value.c_str());
    } else if (flag == "--pause-us") {
      settings.pause_us = std::atoi(value.c_str());
    } else if (flag == "--rounds") {
      settings.rounds = std::atoi(value.c_str());
    } else {
      Fail("unknown flag " + flag);
    }
  }
  if (settings.calls < 100 || settings.rounds < 1 || settings.pause_us < 0) {
    Fail("--calls ≥ 100, --rounds ≥ 1, --pause-us ≥ 0");
  }
  return settings;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = Parse(argc, argv);
  std::mt19937_64 random(1);
  std::vector<Percentiles> bare;
  std::vector<Percentiles> library;
  for (int round = 0; round < settings.rounds; ++round) {
    bare.push_back(Summarize(BareSocket(settings, random)));
    library.push_back(Summarize(ClientLibrary(settings, random)));
    std::printf("round %d: bare socket p50 %.0f p90 %.0f p99 %.0f | client library p50 %.0f p90 %.0f p99 %.0f us\n",
                round + 1, bare.back().p50, bare.back().p90, bare.back().p99, library.back().p50,
                library.back().p90, library.back().p99);
  }
  auto median = [](const std::vector<Percentiles>& rounds, double Percentiles::*field) {
    std::vector<double> values;
    for (const Percentiles& round : rounds) values.push_back(round.*field);
    return Median(values);
  };
  std::printf("median of %d rounds, %d calls each, %d us apart:\n", settings.rounds, settings.calls,
              settings.pause_us);
  std::printf("  bare socket     p50 %.0f p90 %.0f p99 %.0f us\n", median(bare, &Percentiles::p50),
              median(bare, &Percentiles::p90), median(bare, &Percentiles::p99));
  std::printf("  client library  p50 %.0f p90 %.0f p99 %.0f us\n", median(library, &Percentiles::p50),
              median(library, &Percentiles::p90), median(library, &Percentiles::p99));
}

// HOST:PORT, as the bench tools take `--server`: split and checked, so that
// a malformed address is an error message rather than an exception.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::bench {

struct Address {
  std::string host;
  std::uint16_t port = 0;
};

// Empty unless `text` is HOST:PORT with a host and a port of 1 to 65535.
inline std::optional<Address> ParseAddress(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view digits = text.substr(colon + 1);
  std::uint16_t port = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (error != std::errc() || end != digits.data() + digits.size() || port == 0) return std::nullopt;
  return Address{std::string(text.substr(0, colon)), port};
}

}  // namespace tally::bench

// Little-endian fixed-width encoding, the byte order of every tally record
// (docs/storage.md). Big-endian is used only for RocksDB keys, so that they
// sort by number.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tally::internal {

inline void StoreFixed32(char* bytes, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
}

inline void StoreFixed64(char* bytes, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
}

inline void PutFixed32(std::string* out, std::uint32_t value) {
  char bytes[4];
  StoreFixed32(bytes, value);
  out->append(bytes, 4);
}

inline void PutFixed64(std::string* out, std::uint64_t value) {
  char bytes[8];
  StoreFixed64(bytes, value);
  out->append(bytes, 8);
}

inline std::uint32_t LoadFixed32(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

inline std::uint64_t LoadFixed64(const char* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

// Reads fixed-width fields from the front of a byte range; every Read*
// returns false, consuming nothing, when too few bytes remain.
class Reader {
 public:
  explicit Reader(std::string_view input) : input_(input) {}

  std::size_t remaining() const { return input_.size(); }
  std::string_view rest() const { return input_; }

  bool ReadFixed8(std::uint8_t* value) {
    if (input_.empty()) return false;
    *value = static_cast<unsigned char>(input_[0]);
    input_.remove_prefix(1);
    return true;
  }
  bool ReadFixed16(std::uint16_t* value) {
    if (input_.size() < 2) return false;
    *value = static_cast<std::uint16_t>(static_cast<unsigned char>(input_[0]) |
                                        (static_cast<unsigned char>(input_[1]) << 8));
    input_.remove_prefix(2);
    return true;
  }
  bool ReadFixed32(std::uint32_t* value) {
    if (input_.size() < 4) return false;
    *value = LoadFixed32(input_.data());
    input_.remove_prefix(4);
    return true;
  }
  bool ReadFixed64(std::uint64_t* value) {
    if (input_.size() < 8) return false;
    *value = LoadFixed64(input_.data());
    input_.remove_prefix(8);
    return true;
  }
  bool ReadSigned64(std::int64_t* value) {
    std::uint64_t raw = 0;
    if (!ReadFixed64(&raw)) return false;
    *value = static_cast<std::int64_t>(raw);
    return true;
  }

 private:
  std::string_view input_;
};

// An 8-byte big-endian key, so RocksDB's bytewise order is numeric order.
inline std::string BigEndianKey(std::uint64_t value) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(value >> (8 * (7 - i)));
  return key;
}

inline std::uint64_t DecodeBigEndianKey(std::string_view key) {
  std::uint64_t value = 0;
  for (char byte : key) value = (value << 8) | static_cast<unsigned char>(byte);
  return value;
}

}  // namespace tally::internal

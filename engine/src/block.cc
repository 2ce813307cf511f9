#include "block.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <cstring>
#include <memory>

#include "store.h"

namespace tally::internal {

// SHA-256 with the algorithm fetched once and a context kept per thread.
// OpenSSL 3's one-shot SHA256() fetches the algorithm from its provider
// store on every call (locks, lookups, a context allocated and freed):
// ~0.4 µs a block hot, and ~12 µs at the median on a CPU gone cold during
// an fsync, where this takes ~0.15 µs hot and touches far less
// (docs/performance-log.md, "The chain hash, cold").
ChainHash HashOfBlock(std::string_view bytes) {
  TALLY_ASSERT(bytes.size() > kBlockTrailerBytes);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                                      &EVP_MD_CTX_free);
  TALLY_ASSERT(sha256 != nullptr && context != nullptr);
  ChainHash hash;
  unsigned int length = 0;
  const bool hashed = EVP_DigestInit_ex2(context.get(), sha256, nullptr) == 1 &&
                      EVP_DigestUpdate(context.get(), bytes.data(), bytes.size() - kBlockTrailerBytes) == 1 &&
                      EVP_DigestFinal_ex(context.get(), hash.data(), &length) == 1;
  TALLY_ASSERT(hashed && length == hash.size());
  return hash;
}

std::string ToHex(const ChainHash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::uint8_t byte : hash) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

std::optional<ChainHash> ChainHashFromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  ChainHash hash;
  for (std::size_t index = 0; index < hash.size(); ++index) {
    const int high = digit(hex[2 * index]);
    const int low = digit(hex[2 * index + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    hash[index] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return hash;
}

void BlockBuilder::Reset(std::uint64_t first_sequence, std::uint64_t timestamp_us, const ChainHash& previous_hash) {
  buffer_.clear();
  buffer_.append(kBlockMagic, sizeof(kBlockMagic));
  PutFixed32(&buffer_, 0);  // event count, patched by Finish()
  PutFixed64(&buffer_, first_sequence);
  PutFixed64(&buffer_, timestamp_us);
  buffer_.append(reinterpret_cast<const char*>(previous_hash.data()), previous_hash.size());
  TALLY_ASSERT(buffer_.size() == kBlockHeaderBytes);
  first_sequence_ = first_sequence;
  event_count_ = 0;
  event_offsets_.clear();
  finished_ = false;
}

bool BlockBuilder::TryAdd(const Event& event) {
  TALLY_ASSERT(!finished_);
  TALLY_ASSERT(event.sequence == first_sequence_ + event_count_);
  if (event_count_ == kBlockEventsMax) return false;
  const std::size_t before = buffer_.size();
  AppendEvent(event, &buffer_);
  if (buffer_.size() + kBlockTrailerBytes > kBlockBytesMax) {
    TALLY_ASSERT(event_count_ > 0);
    buffer_.resize(before);
    return false;
  }
  ++event_count_;
  event_offsets_.push_back(static_cast<std::uint16_t>(before));
  return true;
}

std::string_view BlockBuilder::Finish() {
  TALLY_ASSERT(!finished_);
  TALLY_ASSERT(event_count_ > 0);
  StoreFixed32(buffer_.data() + 4, event_count_);
  PutFixed64(&buffer_, XXH3_64bits(buffer_.data(), buffer_.size()));
  TALLY_ASSERT(buffer_.size() <= kBlockBytesMax);
  finished_ = true;
  return buffer_;
}

Status BlockReader::Open(std::uint64_t key_sequence, std::string_view bytes) {
  const std::string where = "log block " + std::to_string(key_sequence) + ": ";
  if (bytes.size() < kBlockHeaderBytes + kBlockTrailerBytes || bytes.size() > kBlockBytesMax) {
    return Status::Corruption(where + "size " + std::to_string(bytes.size()) + " out of range");
  }
  const std::size_t body_bytes = bytes.size() - kBlockTrailerBytes;
  if (XXH3_64bits(bytes.data(), body_bytes) != LoadFixed64(bytes.data() + body_bytes)) {
    return Status::Corruption(where + "checksum mismatch");
  }
  if (std::memcmp(bytes.data(), kBlockMagic, sizeof(kBlockMagic)) != 0) {
    return Status::Corruption(where + "bad magic");
  }
  event_count_ = LoadFixed32(bytes.data() + 4);
  first_sequence_ = LoadFixed64(bytes.data() + 8);
  timestamp_us_ = LoadFixed64(bytes.data() + 16);
  std::memcpy(previous_hash_.data(), bytes.data() + 24, previous_hash_.size());
  if (first_sequence_ != key_sequence) {
    return Status::Corruption(where + "header says first sequence " + std::to_string(first_sequence_));
  }
  if (event_count_ == 0 || event_count_ > kBlockEventsMax) {
    return Status::Corruption(where + "event count " + std::to_string(event_count_) + " out of range");
  }
  events_ = Reader(bytes.substr(kBlockHeaderBytes, body_bytes - kBlockHeaderBytes));
  next_index_ = 0;
  return Status::Ok();
}

Status BlockReader::Skip() {
  TALLY_ASSERT(!done());
  Status status = SkipEvent(events_);
  if (!status.ok()) {
    return Status::Corruption("event " + std::to_string(first_sequence_ + next_index_) + ": " + status.message());
  }
  ++next_index_;
  return Status::Ok();
}

Status BlockReader::Next(Event* event) {
  TALLY_ASSERT(!done());
  const std::uint64_t sequence = first_sequence_ + next_index_;
  Status status = DecodeEvent(events_, event);
  if (!status.ok()) {
    return Status::Corruption("event " + std::to_string(sequence) + ": " + status.message());
  }
  event->sequence = sequence;
  event->timestamp_us = timestamp_us_;
  ++next_index_;
  if (done() && events_.remaining() != 0) {
    return Status::Corruption("log block " + std::to_string(first_sequence_) + ": bytes after the last event");
  }
  return Status::Ok();
}

Result<Event> FindEventInBlock(std::uint64_t key_sequence, std::string_view bytes, std::uint64_t sequence) {
  BlockReader reader;
  Status status = reader.Open(key_sequence, bytes);
  if (!status.ok()) return status;
  if (sequence < key_sequence || sequence >= key_sequence + reader.event_count()) {
    return Status::NotFound("no log block holds sequence " + std::to_string(sequence));
  }
  // The checksum already vouches for the bytes: step over the events before
  // the one wanted, and decode (and so check) only that one.
  for (std::uint64_t skip = sequence - key_sequence; skip > 0; --skip) {
    status = reader.Skip();
    if (!status.ok()) return status;
  }
  Event event;
  status = reader.Next(&event);
  if (!status.ok()) return status;
  TALLY_ASSERT(event.sequence == sequence);
  return event;
}

Result<Event> FindEventInBlock(const EncodedBlock& block, std::uint64_t sequence) {
  static_assert(kBlockBytesMax <= 65536, "event offsets are 16-bit");
  const std::uint64_t first = block.first_sequence;
  if (block.event_offsets.empty()) return FindEventInBlock(first, block.bytes, sequence);
  if (sequence < first || sequence - first >= block.event_offsets.size()) {
    return Status::NotFound("no log block holds sequence " + std::to_string(sequence));
  }
  const std::size_t index = sequence - first;
  const std::size_t begin = block.event_offsets[index];
  const std::size_t end = index + 1 < block.event_offsets.size() ? block.event_offsets[index + 1]
                                                                   : block.bytes.size() - kBlockTrailerBytes;
  TALLY_ASSERT(begin >= kBlockHeaderBytes && begin < end && end + kBlockTrailerBytes <= block.bytes.size());
  Reader reader(std::string_view(block.bytes).substr(begin, end - begin));
  Event event;
  const Status status = DecodeEvent(reader, &event);
  if (!status.ok() || reader.remaining() != 0) {
    return Status::Corruption("event " + std::to_string(sequence) + " in memory: " +
                              (status.ok() ? std::string("bytes after it") : status.message()));
  }
  event.sequence = sequence;
  event.timestamp_us = LoadFixed64(block.bytes.data() + 16);
  return event;
}

Status LogOrder::Next(const BlockReader& block, std::string_view bytes) {
  if (block.first_sequence() != last_sequence_ + 1) {
    return Status::Corruption("log gap: expected a block at sequence " + std::to_string(last_sequence_ + 1) +
                              ", found one at " + std::to_string(block.first_sequence()));
  }
  if (block.timestamp_us() < last_timestamp_us_) {
    return Status::Corruption("log block " + std::to_string(block.first_sequence()) + ": ledger time goes backwards");
  }
  if (block.previous_hash() != head_) {
    return Status::Corruption("log block " + std::to_string(block.first_sequence()) +
                              ": hash chain broken: it names previous hash " + ToHex(block.previous_hash()) +
                              ", the block before hashes to " + ToHex(head_));
  }
  last_sequence_ = block.first_sequence() + block.event_count() - 1;
  last_timestamp_us_ = block.timestamp_us();
  head_ = HashOfBlock(bytes);
  return Status::Ok();
}

}  // namespace tally::internal

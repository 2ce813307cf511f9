// StableVector: a growing array whose elements never move. Elements live in
// chunks of 2^ChunkBits allocated as needed, so growing costs one chunk at a
// time (no doubling that copies everything, which stopped the writer for a
// second at ten million members), and a pointer or index to an element stays
// valid for the vector's life. Elements are only appended. A chunk of 2 MB
// or more comes from MapTable, in huge pages where the kernel gives them
// (table_memory.h).
//
// Thread safety: none.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "table_memory.h"

namespace tally::internal {

template <typename T, std::size_t ChunkBits = 14>
class StableVector {
 public:
  static constexpr std::size_t kChunkBits = ChunkBits;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;

  // `count` default elements.
  explicit StableVector(std::size_t count = 0) {
    for (std::size_t index = 0; index < count; ++index) emplace_back();
  }

  T& operator[](std::size_t index) { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }
  const T& operator[](std::size_t index) const { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity()) chunks_.push_back(NewChunk());
    T& element = (*this)[size_++];
    element = T(std::forward<Args>(args)...);
    return element;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return chunks_.size() * kChunkSize; }

 private:
  static constexpr std::size_t kChunkBytes = kChunkSize * sizeof(T);
  // Chunks of a huge page or more are mapped on their own; smaller ones
  // come from the allocator (a ledger may have many chains, each with a
  // small list of its members, and the kernel limits how many mappings a
  // process has).
  static constexpr bool kMapped = kChunkBytes >= kHugePageBytes;
  static constexpr std::align_val_t kAlignment{alignof(T)};
  struct DeleteChunk {
    void operator()(T* chunk) const {
      std::destroy_n(chunk, kChunkSize);
      if constexpr (kMapped) {
        UnmapTable(chunk, kChunkBytes);
      } else {
        ::operator delete(chunk, kChunkBytes, kAlignment);
      }
    }
  };
  using Chunk = std::unique_ptr<T[], DeleteChunk>;
  static Chunk NewChunk() {
    static_assert(alignof(T) <= 4096, "mapped chunks are page-aligned");
    T* chunk = static_cast<T*>(kMapped ? MapTable(kChunkBytes) : ::operator new(kChunkBytes, kAlignment));
    std::uninitialized_value_construct_n(chunk, kChunkSize);  // no throw for the tables' types
    return Chunk(chunk);
  }

  std::vector<Chunk> chunks_;
  std::size_t size_ = 0;
};

}  // namespace tally::internal

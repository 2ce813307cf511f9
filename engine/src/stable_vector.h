// StableVector: a growing array whose elements never move. Elements live in
// chunks of 2^14 allocated as needed, so growing costs one chunk at a time
// (no doubling that copies everything, which stopped the writer for a
// second at ten million members), and a pointer or index to an element stays
// valid for the vector's life. Elements are only appended.
//
// Thread safety: none.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace tally::internal {

template <typename T>
class StableVector {
 public:
  static constexpr std::size_t kChunkBits = 14;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;

  // `count` default elements.
  explicit StableVector(std::size_t count = 0) {
    for (std::size_t index = 0; index < count; ++index) emplace_back();
  }

  T& operator[](std::size_t index) { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }
  const T& operator[](std::size_t index) const { return chunks_[index >> kChunkBits][index & (kChunkSize - 1)]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity()) chunks_.push_back(std::make_unique<T[]>(kChunkSize));
    T& element = (*this)[size_++];
    element = T(std::forward<Args>(args)...);
    return element;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return chunks_.size() * kChunkSize; }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::size_t size_ = 0;
};

}  // namespace tally::internal

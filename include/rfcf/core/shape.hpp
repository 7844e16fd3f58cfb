#pragma once
// Shape of a dense row-major (NCHW) tensor, rank <= 8.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  // Dimension with Python-style negative indexing.
  int64_t dim(int i) const {
    const int j = i < 0 ? i + rank_ : i;
    check<ShapeError>(j >= 0 && j < rank_, "dimension ", i, " out of range for shape ", str());
    return dims_[static_cast<size_t>(j)];
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
    return n;
  }

  std::vector<int64_t> vec() const { return {dims_.begin(), dims_.begin() + rank_}; }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<size_t>(i)]);
    }
    return s + "]";
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<size_t>(i)] != b.dims_[static_cast<size_t>(i)]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  template <class It>
  void assign(It begin, It end) {
    const auto n = std::distance(begin, end);
    check<ShapeError>(n <= kMaxRank, "tensor rank ", n, " exceeds the maximum of ", kMaxRank);
    rank_ = static_cast<int>(n);
    int64_t total = 1;
    int i = 0;
    for (auto it = begin; it != end; ++it, ++i) {
      check<ShapeError>(*it >= 0, "negative dimension ", *it, " in shape");
      check<ShapeError>(*it == 0 || total <= std::numeric_limits<int64_t>::max() / *it,
                        "shape overflows int64");
      total *= (*it == 0 ? 1 : *it);
      dims_[static_cast<size_t>(i)] = *it;
    }
  }

  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace rfcf

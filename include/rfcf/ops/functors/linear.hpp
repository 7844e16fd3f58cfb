#pragma once
// Bias helpers of fully connected layers on row-major [rows, cols] matrices.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

template <class T>
struct AddRowBias {  // y[r, c] += bias[c]
  T* y;
  const T* bias;
  int64_t cols;
  RFCF_HD void operator()(int64_t i) const { y[i] += bias[i % cols]; }
};

template <class T>
struct AccumulateColumnSums {  // db[c] += sum over rows of dy[r, c]
  const T* dy;
  T* db;
  int64_t rows, cols;
  RFCF_HD void operator()(int64_t c) const {
    T s = T(0);
    for (int64_t r = 0; r < rows; ++r) s += dy[r * cols + c];
    db[c] += s;
  }
};

}  // namespace rfcf::functors

#pragma once
// Softmax / log-softmax backward over rows of [rows, cols], given per-row reductions.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// dx = y * (dy - (dy . y)_row) for y = softmax(x).
template <class T>
struct SoftmaxBackward {
  const T* y;
  const T* dy;
  const T* row_dot;
  T* dx;
  int64_t cols;
  RFCF_HD void operator()(int64_t i) const { dx[i] = y[i] * (dy[i] - row_dot[i / cols]); }
};

// dx = dy - exp(logp) * (sum dy)_row for logp = log_softmax(x).
template <class T>
struct LogSoftmaxBackward {
  const T* logp;
  const T* dy;
  const T* row_sum;
  T* dx;
  int64_t cols;
  RFCF_HD void operator()(int64_t i) const {
    using std::exp;
    dx[i] = dy[i] - exp(logp[i]) * row_sum[i / cols];
  }
};

}  // namespace rfcf::functors

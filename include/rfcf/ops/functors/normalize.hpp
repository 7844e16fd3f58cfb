#pragma once
// Row-wise L2 normalisation of [N, D]: y = x / (||x|| + eps); a row with ||x|| + eps = 0 maps to 0.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

template <class T>
struct L2NormalizeForward {
  const T* x;
  const T* sum_squares;  // [N]
  T* y;
  T eps;
  int64_t d;
  RFCF_HD void operator()(int64_t i) const {
    using std::sqrt;
    const T s = sqrt(sum_squares[i / d]) + eps;
    y[i] = s > T(0) ? x[i] / s : T(0);
  }
};

// With n = ||x||, s = n + eps: dx = dy / s - x * (dy . x) / (n * s^2).
template <class T>
struct L2NormalizeBackward {
  const T* x;
  const T* dy;
  const T* sum_squares;  // [N]
  const T* row_dot;      // [N]: dy . x
  T* dx;
  T eps;
  int64_t d;
  RFCF_HD void operator()(int64_t i) const {
    using std::sqrt;
    const int64_t r = i / d;
    const T n = sqrt(sum_squares[r]);
    const T s = n + eps;
    if (!(s > T(0))) {
      dx[i] = T(0);
      return;
    }
    dx[i] = dy[i] / s - (n > T(0) ? x[i] * row_dot[r] / (n * s * s) : T(0));
  }
};

}  // namespace rfcf::functors

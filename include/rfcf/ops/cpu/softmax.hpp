#pragma once
// Row-wise (log-)softmax on the host: OpenMP over rows, double accumulation of the exp sum.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/softmax.hpp"

namespace rfcf::ops {

template <>
struct SoftmaxOp<cpu> {
  template <class T>
  static void forward(const T* x, int64_t rows, int64_t cols, T* y, bool log) {
    parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        const T mx = *std::max_element(xr, xr + cols);
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) s += std::exp(static_cast<double>(xr[j] - mx));
        if (log) {
          // (x - max) - log(s), not x - (max + log(s)): the latter loses digits for large logits.
          const T log_s = static_cast<T>(std::log(s));
          for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mx) - log_s;
        } else {
          const T inv = static_cast<T>(1.0 / s);
          for (int64_t j = 0; j < cols; ++j) yr[j] = std::exp(xr[j] - mx) * inv;
        }
      }
    });
  }
};

}  // namespace rfcf::ops

#pragma once
// Batch-norm reductions on the host: OpenMP over channels, double accumulators, two passes
// for the variance (no catastrophic cancellation of E[x^2] - E[x]^2).
#include <algorithm>
#include <cstdint>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/batch_norm.hpp"

namespace rfcf::ops {

template <>
struct BatchNormOp<cpu> {
  template <class T>
  static void stats(const T* x, int64_t outer, int64_t c, int64_t inner, T* mean, T* var) {
    const double m = static_cast<double>(outer * inner);
    for_channels(outer, c, inner, [&](int64_t k) {
      double s = 0.0;
      for (int64_t o = 0; o < outer; ++o) {
        const T* p = x + (o * c + k) * inner;
        for (int64_t j = 0; j < inner; ++j) s += static_cast<double>(p[j]);
      }
      const double mu = m > 0 ? s / m : 0.0;
      double ss = 0.0;
      for (int64_t o = 0; o < outer; ++o) {
        const T* p = x + (o * c + k) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const double d = static_cast<double>(p[j]) - mu;
          ss += d * d;
        }
      }
      mean[k] = static_cast<T>(mu);
      var[k] = static_cast<T>(m > 0 ? ss / m : 0.0);
    });
  }

  template <class T>
  static void backward_reduce(const T* x, const T* dy, const T* mean, const T* invstd, int64_t outer,
                              int64_t c, int64_t inner, T* sum_dy, T* sum_dy_xhat) {
    for_channels(outer, c, inner, [&](int64_t k) {
      const double mu = static_cast<double>(mean[k]);
      double s = 0.0, sx = 0.0;
      for (int64_t o = 0; o < outer; ++o) {
        const int64_t base = (o * c + k) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const double g = static_cast<double>(dy[base + j]);
          s += g;
          sx += g * (static_cast<double>(x[base + j]) - mu);
        }
      }
      sum_dy[k] = static_cast<T>(s);
      sum_dy_xhat[k] = static_cast<T>(sx * static_cast<double>(invstd[k]));
    });
  }

 private:
  template <class F>
  static void for_channels(int64_t outer, int64_t c, int64_t inner, const F& f) {
    const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(outer * inner, 1));
    parallel_for(c, grain, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) f(k);
    });
  }
};

}  // namespace rfcf::ops

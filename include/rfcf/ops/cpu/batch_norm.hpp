#pragma once
// Batch-norm reductions on the host: OpenMP over channels, double accumulators, two passes
// for the variance (no catastrophic cancellation of E[x^2] - E[x]^2). The sums use four
// independent accumulators (one serial chain of double adds is latency-bound: ~4 cycles per value).
// apply / backward_train: the per-element math of ops/functors/batch_norm.hpp run plane by plane
// ([outer, c] planes of `inner` values) with the channel's constants hoisted, so the inner loop
// vectorises (the per-element functors gather the constants through a channel index).
#include <algorithm>
#include <cstdint>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/batch_norm.hpp"
#include "rfcf/ops/functors/batch_norm.hpp"

namespace rfcf::ops {

template <>
struct BatchNormOp<cpu> {
  template <class T>
  static void stats(const T* x, int64_t outer, int64_t c, int64_t inner, T* mean, T* var) {
    const double m = static_cast<double>(outer * inner);
    for_channels(outer, c, inner, [&](int64_t k) {
      double s = 0.0;
      for (int64_t o = 0; o < outer; ++o) s += sum4(x + (o * c + k) * inner, inner, [](double v) { return v; });
      const double mu = m > 0 ? s / m : 0.0;
      double ss = 0.0;
      for (int64_t o = 0; o < outer; ++o)
        ss += sum4(x + (o * c + k) * inner, inner, [mu](double v) { return (v - mu) * (v - mu); });
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
        const T* g = dy + base;
        const T* xv = x + base;
        double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
        int64_t j = 0;
        for (; j + 4 <= inner; j += 4)
          for (int l = 0; l < 4; ++l) {
            const double gl = static_cast<double>(g[j + l]);
            a[l] += gl;
            b[l] += gl * (static_cast<double>(xv[j + l]) - mu);
          }
        for (; j < inner; ++j) {
          const double gl = static_cast<double>(g[j]);
          a[0] += gl;
          b[0] += gl * (static_cast<double>(xv[j]) - mu);
        }
        s += (a[0] + a[1]) + (a[2] + a[3]);
        sx += (b[0] + b[1]) + (b[2] + b[3]);
      }
      sum_dy[k] = static_cast<T>(s);
      sum_dy_xhat[k] = static_cast<T>(sx * static_cast<double>(invstd[k]));
    });
  }

  // y = (x - mean) * scale + bias per channel (bias may be null); same values as functors::BatchNormApply.
  template <class T>
  static void apply(const T* x, const T* mean, const T* scale, const T* bias, T* y, int64_t outer, int64_t c,
                    int64_t inner) {
    for_planes(outer, c, inner, [&](int64_t o, int64_t k) {
      const T m = mean[k], s = scale[k], b = bias ? bias[k] : T(0);
      const T* __restrict xp = x + (o * c + k) * inner;
      T* __restrict yp = y + (o * c + k) * inner;
      for (int64_t j = 0; j < inner; ++j) yp[j] = functors::batch_norm_apply(xp[j], m, s, b);
    });
  }

  // Train-mode dx; same values as functors::BatchNormBackwardTrain.
  template <class T>
  static void backward_train(const T* x, const T* dy, const T* mean, const T* invstd, const T* scale,
                             const T* sum_dy, const T* sum_dy_xhat, T* dx, T inv_m, int64_t outer, int64_t c,
                             int64_t inner) {
    for_planes(outer, c, inner, [&](int64_t o, int64_t k) {
      const T m = mean[k], is = invstd[k], s = scale[k], sd = sum_dy[k], sdx = sum_dy_xhat[k];
      const int64_t base = (o * c + k) * inner;
      const T* __restrict xp = x + base;
      const T* __restrict gp = dy + base;
      T* __restrict dp = dx + base;
      for (int64_t j = 0; j < inner; ++j)
        dp[j] = functors::batch_norm_backward_train(xp[j], gp[j], m, is, s, sd, sdx, inv_m);
    });
  }

 private:
  // Sum of f(p[j]) over n values in double, four independent accumulators.
  template <class T, class F>
  static double sum4(const T* p, int64_t n, const F& f) {
    double a[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
      for (int l = 0; l < 4; ++l) a[l] += f(static_cast<double>(p[j + l]));
    for (; j < n; ++j) a[0] += f(static_cast<double>(p[j]));
    return (a[0] + a[1]) + (a[2] + a[3]);
  }
  // f(o, k) for every [outer, c] plane of `inner` values, in parallel.
  template <class F>
  static void for_planes(int64_t outer, int64_t c, int64_t inner, const F& f) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1));
    parallel_for(outer * c, grain, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) f(p / c, p % c);
    });
  }
  template <class F>
  static void for_channels(int64_t outer, int64_t c, int64_t inner, const F& f) {
    const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(outer * inner, 1));
    parallel_for(c, grain, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) f(k);
    });
  }
};

}  // namespace rfcf::ops

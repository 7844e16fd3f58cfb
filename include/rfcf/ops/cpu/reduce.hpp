#pragma once
// Host reductions: OpenMP over chunks (scalars) or channels, double accumulators.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/reduce.hpp"

namespace rfcf::ops {

template <>
struct ReduceOp<cpu> {
  // Sum of term(i) over [0, n) in double, chunked over threads (fixed chunking: deterministic
  // for a given thread count).
  template <class F>
  static double reduce(int64_t n, const F& term) {
    if (n <= 0) return 0.0;
    constexpr int64_t kGrain = 1 << 15;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / kGrain));
    std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double s = 0.0;
        for (int64_t i = n * c / chunks, end = n * (c + 1) / chunks; i < end; ++i) s += term(i);
        partial[static_cast<size_t>(c)] = s;
      }
    });
    double s = 0.0;
    for (double p : partial) s += p;
    return s;
  }

  template <class T>
  static double sum(const T* x, int64_t n) {
    return reduce(n, [x](int64_t i) { return static_cast<double>(x[i]); });
  }
  template <class T>
  static double dot(const T* a, const T* b, int64_t n) {
    return reduce(n, [a, b](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(b[i]); });
  }
  template <class T>
  static double sum_squares(const T* x, int64_t n) {
    return reduce(n, [x](int64_t i) { return static_cast<double>(x[i]) * static_cast<double>(x[i]); });
  }

  template <class T>
  static void channel_sum(const T* x, int64_t outer, int64_t c, int64_t inner, T* out) {
    per_channel(outer, c, inner, out, [x](int64_t i) { return static_cast<double>(x[i]); });
  }
  template <class T>
  static void channel_dot(const T* a, const T* b, int64_t outer, int64_t c, int64_t inner, T* out) {
    per_channel(outer, c, inner, out,
                [a, b](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(b[i]); });
  }

 private:
  template <class T, class F>
  static void per_channel(int64_t outer, int64_t c, int64_t inner, T* out, const F& term) {
    parallel_for(c, std::max<int64_t>(1, 4096 / std::max<int64_t>(outer * inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        double s = 0.0;
        for (int64_t o = 0; o < outer; ++o) {
          const int64_t base = (o * c + k) * inner;
          for (int64_t j = 0; j < inner; ++j) s += term(base + j);
        }
        out[k] = static_cast<T>(s);
      }
    });
  }
};

}  // namespace rfcf::ops

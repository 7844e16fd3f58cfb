#pragma once
// BatchNormOp<cuda>: per-channel statistics and backward sums, one block per channel, double
// accumulators and two passes for the variance (like the cpu backend: no E[x^2] - E[x]^2).
#include <cuda_runtime.h>

#include <cstdint>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/ops/batch_norm.hpp"
#include "rfcf/ops/cuda/block_reduce.cuh"

namespace rfcf::ops {

namespace cuda_detail {
template <class T>
__global__ void batch_norm_stats_kernel(const T* x, int64_t outer, int64_t c, int64_t inner, T* mean, T* var) {
  const int64_t k = blockIdx.x;
  const double m = static_cast<double>(outer * inner);
  double s = 0.0;
  for_channel_elements(outer, c, inner, k, [&](int64_t i) { s += static_cast<double>(x[i]); });
  const double mu = m > 0 ? block_sum_all<kReduceThreads>(s) / m : 0.0;
  double ss = 0.0;
  for_channel_elements(outer, c, inner, k, [&](int64_t i) {
    const double d = static_cast<double>(x[i]) - mu;
    ss += d * d;
  });
  ss = block_sum_all<kReduceThreads>(ss);
  if (threadIdx.x == 0) {
    mean[k] = static_cast<T>(mu);
    var[k] = static_cast<T>(m > 0 ? ss / m : 0.0);
  }
}

template <class T>
__global__ void batch_norm_backward_reduce_kernel(const T* x, const T* dy, const T* mean, const T* invstd, int64_t outer,
                                                  int64_t c, int64_t inner, T* sum_dy, T* sum_dy_xhat) {
  const int64_t k = blockIdx.x;
  const double mu = static_cast<double>(mean[k]);
  double s = 0.0, sx = 0.0;
  for_channel_elements(outer, c, inner, k, [&](int64_t i) {
    const double g = static_cast<double>(dy[i]);
    s += g;
    sx += g * (static_cast<double>(x[i]) - mu);
  });
  s = block_sum_all<kReduceThreads>(s);
  sx = block_sum_all<kReduceThreads>(sx);
  if (threadIdx.x == 0) {
    sum_dy[k] = static_cast<T>(s);
    sum_dy_xhat[k] = static_cast<T>(sx * static_cast<double>(invstd[k]));
  }
}
}  // namespace cuda_detail

template <>
struct BatchNormOp<cuda> {
  template <class T>
  static void stats(const T* x, int64_t outer, int64_t c, int64_t inner, T* mean, T* var) {
    if (!launchable(c)) return;
    cuda_detail::batch_norm_stats_kernel<T><<<cuda_detail::grid_for_channels(c), cuda_detail::kReduceThreads, 0,
                                              cuda_rt::current_stream()>>>(x, outer, c, inner, mean, var);
    RFCF_CUDA_CHECK(cudaGetLastError());
  }

  template <class T>
  static void backward_reduce(const T* x, const T* dy, const T* mean, const T* invstd, int64_t outer, int64_t c,
                              int64_t inner, T* sum_dy, T* sum_dy_xhat) {
    if (!launchable(c)) return;
    cuda_detail::batch_norm_backward_reduce_kernel<T><<<cuda_detail::grid_for_channels(c), cuda_detail::kReduceThreads,
                                                        0, cuda_rt::current_stream()>>>(x, dy, mean, invstd, outer, c,
                                                                                        inner, sum_dy, sum_dy_xhat);
    RFCF_CUDA_CHECK(cudaGetLastError());
  }

 private:
  static bool launchable(int64_t c) {
    check<ShapeError>(c < (int64_t{1} << 31), "BatchNormOp<cuda>: ", c, " channels exceed the grid limit");
    return c > 0;
  }
};

}  // namespace rfcf::ops

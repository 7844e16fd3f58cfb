#pragma once
// SoftmaxOp<cuda>: one warp per row (rows are short in rfcf: 2 classes for detection, up to
// ~1e5 for recognition logits, where a warp still streams the row once per pass). Max by warp
// shuffle, exp sum in double like the cpu backend.
#include <cuda_runtime.h>

#include <cstdint>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/device.hpp"
#include "rfcf/ops/softmax.hpp"

namespace rfcf::ops {

namespace cuda_detail {
inline constexpr int kSoftmaxRowsPerBlock = 8;

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void softmax_rows_kernel(const T* x, int64_t rows, int64_t cols, T* y, bool log) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kSoftmaxRowsPerBlock + threadIdx.y;
  if (r >= rows) return;  // whole warps leave together: threadIdx.y is per warp
  const int lane = threadIdx.x;
  const T* xr = x + r * cols;
  T* yr = y + r * cols;
  T mx = xr[0];
  for (int64_t j = lane; j < cols; j += 32) mx = xr[j] > mx ? xr[j] : mx;
  mx = warp_max(mx);
  double s = 0.0;
  for (int64_t j = lane; j < cols; j += 32) s += exp(static_cast<double>(xr[j] - mx));
  s = warp_sum(s);
  if (log) {
    const T log_s = static_cast<T>(::log(s));
    for (int64_t j = lane; j < cols; j += 32) yr[j] = (xr[j] - mx) - log_s;
  } else {
    const T inv = static_cast<T>(1.0 / s);
    for (int64_t j = lane; j < cols; j += 32) yr[j] = exp(xr[j] - mx) * inv;
  }
}
}  // namespace cuda_detail

template <>
struct SoftmaxOp<cuda> {
  template <class T>
  static void forward(const T* x, int64_t rows, int64_t cols, T* y, bool log) {
    if (rows <= 0 || cols <= 0) return;
    const int64_t blocks = (rows + cuda_detail::kSoftmaxRowsPerBlock - 1) / cuda_detail::kSoftmaxRowsPerBlock;
    check<ShapeError>(blocks < (int64_t{1} << 31), "SoftmaxOp<cuda>: ", rows, " rows exceed the grid limit");
    cuda_detail::softmax_rows_kernel<T><<<static_cast<unsigned>(blocks), dim3(32, cuda_detail::kSoftmaxRowsPerBlock), 0,
                                          cuda_rt::current_stream()>>>(x, rows, cols, y, log);
    RFCF_CUDA_CHECK(cudaGetLastError());
  }
};

}  // namespace rfcf::ops

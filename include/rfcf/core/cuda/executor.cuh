#pragma once
// Executor<cuda>: runs the same RFCF_HD functors as Executor<cpu> in a grid-stride kernel on
// the current stream. Launch errors are checked at once; execution errors surface at the next
// synchronising call (a copy to the host, synchronize()).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "rfcf/core/cuda/device.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/device.hpp"

namespace rfcf {

namespace cuda_detail {
// Index is int32 when the whole range fits (cheaper index arithmetic), int64 otherwise.
template <class Index, class F>
__global__ void for_each_kernel(Index n, F f) {
  const Index stride = static_cast<Index>(blockDim.x) * static_cast<Index>(gridDim.x);
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
       i < n; i += stride)
    f(static_cast<int64_t>(i));
}
}  // namespace cuda_detail

template <>
struct Executor<cuda> {
  static constexpr int kThreads = 256;
  static constexpr int kBlocksPerSm = 8;  // 2048 resident threads per SM on sm_80..sm_90

  // Calls f(i) for every i in [0, n) on the GPU. F must be trivially copyable (it is passed by
  // value to the kernel) and its pointers must point to device memory.
  template <class F>
  static void for_each(int64_t n, const F& f) {
    static_assert(std::is_trivially_copyable_v<F>, "rfcf: functors run by Executor<cuda> must be trivially copyable");
    if (n <= 0) return;
    const int64_t needed = (n + kThreads - 1) / kThreads;
    const int blocks = static_cast<int>(std::min<int64_t>(needed, int64_t{kBlocksPerSm} * cuda_rt::multiprocessor_count()));
    const cudaStream_t s = cuda_rt::current_stream();
    // int32 only while i + stride cannot overflow.
    if (n <= std::numeric_limits<int32_t>::max() - int64_t{blocks} * kThreads)
      cuda_detail::for_each_kernel<int32_t, F><<<blocks, kThreads, 0, s>>>(static_cast<int32_t>(n), f);
    else
      cuda_detail::for_each_kernel<int64_t, F><<<blocks, kThreads, 0, s>>>(n, f);
    RFCF_CUDA_CHECK(cudaGetLastError());
  }

  // Waits for the work queued on this thread's current stream (and reports its errors).
  static void synchronize() { RFCF_CUDA_CHECK(cudaStreamSynchronize(cuda_rt::current_stream())); }
};

}  // namespace rfcf

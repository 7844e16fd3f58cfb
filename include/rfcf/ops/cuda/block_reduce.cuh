#pragma once
// Shared pieces of the cuda reductions: a double-precision block sum (CUB) and the loop over
// the values of one channel of an [outer, c, inner] view, coalesced along `inner`.
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>
#include <cstdint>

namespace rfcf::ops::cuda_detail {

inline constexpr int kReduceThreads = 256;

// Calls f(index) for every element of channel k, spread over the threads of one block.
// Long rows: thread-strided along `inner` (coalesced). Short rows: strided over the flattened
// outer*inner range (one division per element, but every thread has work).
template <class F>
__device__ __forceinline__ void for_channel_elements(int64_t outer, int64_t c, int64_t inner, int64_t k, F&& f) {
  if (inner >= 64) {
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = (o * c + k) * inner;
      for (int64_t j = threadIdx.x; j < inner; j += blockDim.x) f(base + j);
    }
  } else {
    const int64_t m = outer * inner;
    for (int64_t t = threadIdx.x; t < m; t += blockDim.x) {
      const int64_t o = t / inner;
      f((o * c + k) * inner + (t - o * inner));
    }
  }
}

// Sum of one double per thread; the result is valid in every thread (broadcast via shared memory).
template <int Threads>
__device__ __forceinline__ double block_sum_all(double v) {
  using Reduce = cub::BlockReduce<double, Threads>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ double result;
  const double s = Reduce(tmp).Sum(v);
  if (threadIdx.x == 0) result = s;
  __syncthreads();
  const double r = result;
  __syncthreads();  // tmp and result may be reused by the next call
  return r;
}

inline unsigned grid_for_channels(int64_t c) {
  return static_cast<unsigned>(c);  // one block per channel; gridDim.x allows 2^31 - 1
}

}  // namespace rfcf::ops::cuda_detail

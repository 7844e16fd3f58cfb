#pragma once
// Shared pieces of the cuda reductions: a double-precision block sum (warp shuffles) and the
// loop over the values of one channel of an [outer, c, inner] view, coalesced along `inner`.
// Not CUB: its headers declare a global namespace `cuda` (libcu++), which would make the
// device tag ambiguous in every user TU that says `using namespace rfcf;`.
#include <cuda_runtime.h>

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

// Sum of one double per thread of a 1-D block of Threads (a multiple of 32, at most 1024);
// the result is valid in every thread.
template <int Threads>
__device__ __forceinline__ double block_sum_all(double v) {
  static_assert(Threads % 32 == 0 && Threads <= 1024, "block_sum_all: whole warps, at most 1024 threads");
  constexpr int kWarps = Threads / 32;
  __shared__ double warp_sums[kWarps];
  __shared__ double result;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) result = v;
  }
  __syncthreads();
  const double r = result;
  __syncthreads();  // warp_sums and result are reused by the next call
  return r;
}

inline unsigned grid_for_channels(int64_t c) {
  return static_cast<unsigned>(c);  // one block per channel; gridDim.x allows 2^31 - 1
}

}  // namespace rfcf::ops::cuda_detail

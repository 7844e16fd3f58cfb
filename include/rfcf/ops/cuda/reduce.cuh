#pragma once
// ReduceOp<cuda>: scalar reductions (sum, dot, sum of squares) and per-channel sums in double.
// Scalars: each block reduces a grid-stride slice to one double, the partials are summed on the
// host in a fixed order (deterministic). Channels: one block per channel (block_reduce.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/device.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/ops/cuda/block_reduce.cuh"
#include "rfcf/ops/reduce.hpp"

namespace rfcf::ops {

namespace cuda_detail {
template <class T>
struct SumTerm {
  const T* x;
  __device__ double operator()(int64_t i) const { return static_cast<double>(x[i]); }
};
template <class T>
struct DotTerm {
  const T* a;
  const T* b;
  __device__ double operator()(int64_t i) const { return static_cast<double>(a[i]) * static_cast<double>(b[i]); }
};

template <class F>
__global__ void partial_sums_kernel(int64_t n, F term, double* partial) {
  double s = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    s += term(i);
  s = block_sum_all<kReduceThreads>(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <class T, class F>
__global__ void channel_sums_kernel(int64_t outer, int64_t c, int64_t inner, F term, T* out) {
  const int64_t k = blockIdx.x;
  double s = 0.0;
  for_channel_elements(outer, c, inner, k, [&](int64_t i) { s += term(i); });
  s = block_sum_all<kReduceThreads>(s);
  if (threadIdx.x == 0) out[k] = static_cast<T>(s);
}
}  // namespace cuda_detail

template <>
struct ReduceOp<cuda> {
  template <class T>
  static double sum(const T* x, int64_t n) {
    return reduce(n, cuda_detail::SumTerm<T>{x});
  }
  template <class T>
  static double dot(const T* a, const T* b, int64_t n) {
    return reduce(n, cuda_detail::DotTerm<T>{a, b});
  }
  template <class T>
  static double sum_squares(const T* x, int64_t n) {
    return reduce(n, cuda_detail::DotTerm<T>{x, x});
  }

  template <class T>
  static void channel_sum(const T* x, int64_t outer, int64_t c, int64_t inner, T* out) {
    per_channel(outer, c, inner, cuda_detail::SumTerm<T>{x}, out);
  }
  template <class T>
  static void channel_dot(const T* a, const T* b, int64_t outer, int64_t c, int64_t inner, T* out) {
    per_channel(outer, c, inner, cuda_detail::DotTerm<T>{a, b}, out);
  }

 private:
  template <class F>
  static double reduce(int64_t n, F term) {
    if (n <= 0) return 0.0;
    cuda_rt::check_not_capturing("ReduceOp<cuda>::sum/dot/sum_squares (a scalar result on the host)");
    constexpr int kThreads = cuda_detail::kReduceThreads;
    const int blocks = static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 4 * int64_t{cuda_rt::multiprocessor_count()}));
    const size_t bytes = sizeof(double) * static_cast<size_t>(blocks);
    double* partial = static_cast<double*>(Allocator<cuda>::allocate(bytes));
    std::vector<double> host(static_cast<size_t>(blocks));
    const cudaStream_t s = cuda_rt::current_stream();
    cuda_detail::partial_sums_kernel<<<blocks, kThreads, 0, s>>>(n, term, partial);
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) err = cudaMemcpyAsync(host.data(), partial, bytes, cudaMemcpyDeviceToHost, s);
    if (err == cudaSuccess) err = cudaStreamSynchronize(s);
    Allocator<cuda>::deallocate(partial, bytes);
    RFCF_CUDA_CHECK(err);
    double total = 0.0;
    for (double p : host) total += p;
    return total;
  }

  template <class T, class F>
  static void per_channel(int64_t outer, int64_t c, int64_t inner, F term, T* out) {
    if (c <= 0) return;
    check<ShapeError>(c < (int64_t{1} << 31), "ReduceOp<cuda>: ", c, " channels exceed the grid limit");
    cuda_detail::channel_sums_kernel<T><<<cuda_detail::grid_for_channels(c), cuda_detail::kReduceThreads, 0,
                                          cuda_rt::current_stream()>>>(outer, c, inner, term, out);
    RFCF_CUDA_CHECK(cudaGetLastError());
  }
};

}  // namespace rfcf::ops

#pragma once
// Device memory: a caching allocator over cudaMalloc/cudaFree (core/caching_pool.hpp), so
// per-op tensors avoid cudaMalloc's implicit synchronisation once the pool is warm.
//
// Blocks are not tied to a stream: a freed block is handed out again at once, which is safe
// for work ordered on one stream (the usual case: one current stream per thread). Work that
// reads a tensor on another stream must finish (or be waited on with an Event) before the
// tensor is freed. rfcf uses the device that is current when the pool is first used; one
// process drives one GPU (set it with cudaSetDevice before creating tensors).
//
// While this thread captures a CUDA graph (cuda_rt::Graph::capture), allocations come from the
// capture's private GraphPool instead (graph_pool.cuh) and blocks of graph pools go back to
// their pool when freed, whenever that happens.
#include <cuda_runtime.h>

#include "rfcf/core/caching_pool.hpp"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/graph_pool.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/device.hpp"

namespace rfcf {

namespace cuda_detail {
struct DeviceRawAlloc {
  // nullptr on out-of-memory so that the pool can empty its cache and retry; other errors throw.
  static void* allocate(size_t bytes) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the error so later checks do not see it
      return nullptr;
    }
    RFCF_CUDA_CHECK(e);
    return p;
  }
  // Called from destructors too (also at process exit, after the runtime may be gone): never throws.
  static void release(void* p) {
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
  [[noreturn]] static void out_of_memory(size_t bytes) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    fail<DeviceError>("rfcf: out of GPU memory allocating ", bytes, " bytes (", free_b >> 20, " MiB free of ",
                      total_b >> 20, " MiB after emptying rfcf's cache)");
  }
};
}  // namespace cuda_detail

template <>
struct Allocator<cuda> {
  static detail::CachingPool<cuda_detail::DeviceRawAlloc>& pool() {
    // Cached free blocks are capped; beyond this they go back to the driver.
    static detail::CachingPool<cuda_detail::DeviceRawAlloc> p(size_t{16} << 30);
    return p;
  }
  static void* allocate(size_t bytes) {
    if (cuda_rt::GraphPool* g = cuda_rt::active_capture_pool()) return g->allocate(bytes);
    return pool().allocate(bytes);
  }
  static void deallocate(void* p, size_t bytes) {
    if (p == nullptr || cuda_rt::GraphPool::give_back(p, bytes)) return;
    // A general block freed during a capture may still be read by the graph: the pool keeps it.
    if (cuda_rt::GraphPool* g = cuda_rt::active_capture_pool()) return g->adopt(p, bytes);
    pool().deallocate(p, bytes);
  }
  // Returns cached blocks to the driver (e.g. before handing the GPU to another library).
  static void empty_cache() { pool().release_all(); }
  // The general pool's statistics (graph pools: cuda_rt::graph_pool_raw_allocations()).
  static detail::PoolStats stats() { return pool().stats(); }
};

inline void cuda_rt::detail::release_to_general_pool(void* p, size_t bytes) { Allocator<cuda>::pool().deallocate(p, bytes); }

// Host <-> device copies run on the current stream and return when the copy is complete
// (the host buffer may be reused or freed right after). Device -> device copies are only
// queued (stream-ordered like every other op).
template <>
struct DeviceCopy<cuda, cpu> {
  static void copy(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    cuda_rt::check_not_capturing("a host -> device tensor copy");
    const cudaStream_t s = cuda_rt::current_stream();
    RFCF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    RFCF_CUDA_CHECK(cudaStreamSynchronize(s));
  }
};
template <>
struct DeviceCopy<cpu, cuda> {
  static void copy(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    cuda_rt::check_not_capturing("a device -> host tensor copy");
    const cudaStream_t s = cuda_rt::current_stream();
    RFCF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    RFCF_CUDA_CHECK(cudaStreamSynchronize(s));
  }
};
template <>
struct DeviceCopy<cuda, cuda> {
  static void copy(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    RFCF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_rt::current_stream()));
  }
};

}  // namespace rfcf

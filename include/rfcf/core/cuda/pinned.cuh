#pragma once
// Page-locked host buffers: host <-> device copies from them run at full PCIe/NVLink speed
// and can overlap with kernels (cudaMemcpyAsync on a stream). Blocks come from a caching pool
// because cudaMallocHost is slow (it maps pages for the device).
#include <cstddef>
#include <cuda_runtime.h>

#include "rfcf/core/caching_pool.hpp"
#include "rfcf/core/cuda/error.cuh"

namespace rfcf::cuda_rt {

namespace detail {
struct PinnedRawAlloc {
  static void* allocate(size_t bytes) {
    void* p = nullptr;
    const cudaError_t e = cudaMallocHost(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    RFCF_CUDA_CHECK(e);
    return p;
  }
  static void release(void* p) {
    if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
  }
  [[noreturn]] static void out_of_memory(size_t bytes) {
    fail<DeviceError>("rfcf: cannot allocate ", bytes, " bytes of pinned host memory");
  }
};

inline rfcf::detail::CachingPool<PinnedRawAlloc>& pinned_pool() {
  static rfcf::detail::CachingPool<PinnedRawAlloc> p(size_t{2} << 30);
  return p;
}
}  // namespace detail

// `count` elements of T in pinned host memory (uninitialised). Movable, not copyable.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t count) : count_(count) {
    if (count_) data_ = static_cast<T*>(detail::pinned_pool().allocate(count_ * sizeof(T)));
  }
  ~PinnedBuffer() { reset(); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), count_(o.count_) {
    o.data_ = nullptr;
    o.count_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      count_ = o.count_;
      o.data_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + count_; }

 private:
  void reset() {
    if (data_) detail::pinned_pool().deallocate(data_, count_ * sizeof(T));
    data_ = nullptr;
    count_ = 0;
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace rfcf::cuda_rt

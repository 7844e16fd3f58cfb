#pragma once
// Host memory: 64-byte aligned blocks from a caching pool.
#include <cstdlib>
#include <cstring>
#include <new>

#include "rfcf/core/caching_pool.hpp"
#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"

namespace rfcf {

namespace detail {
struct HostRawAlloc {
  static constexpr size_t kAlignment = 64;
  static void* allocate(size_t bytes) { return std::aligned_alloc(kAlignment, bytes); }
  static void release(void* p) { std::free(p); }
  [[noreturn]] static void out_of_memory(size_t bytes) {
    fail<Error>("rfcf: out of host memory allocating ", bytes, " bytes");
  }
};
}  // namespace detail

template <>
struct Allocator<cpu> {
  static detail::CachingPool<detail::HostRawAlloc>& pool() {
    static detail::CachingPool<detail::HostRawAlloc> p(size_t{4} << 30);
    return p;
  }
  static void* allocate(size_t bytes) { return pool().allocate(bytes); }
  static void deallocate(void* p, size_t bytes) { pool().deallocate(p, bytes); }
  static void empty_cache() { pool().release_all(); }
  static detail::PoolStats stats() { return pool().stats(); }
};

template <>
struct DeviceCopy<cpu, cpu> {
  static void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
};

}  // namespace rfcf

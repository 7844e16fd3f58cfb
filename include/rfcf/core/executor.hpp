#pragma once
// The host executor of RFCF_HD functors. The same functor types run in CUDA kernels
// (core/cuda/executor.cuh), so their math is tested on the CPU.
#include <cstdint>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"

namespace rfcf {

template <>
struct Executor<cpu> {
  // Calls f(i) for every i in [0, n). Iterations must be independent (the CUDA executor runs
  // them concurrently too).
  template <class F>
  static void for_each(int64_t n, const F& f) {
    parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) f(i);
    });
  }
  // Waits for queued work (nothing to wait for on the host).
  static void synchronize() {}
};

}  // namespace rfcf

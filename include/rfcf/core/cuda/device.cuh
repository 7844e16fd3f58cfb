#pragma once
// The cuda device tag becomes usable (device_available<cuda>) once its policies are included;
// plus small queries about the GPUs.
#include <cuda_runtime.h>

#include <string>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/device.hpp"

namespace rfcf {

template <>
struct device_available<cuda> : std::true_type {};

namespace cuda_rt {

// Number of visible GPUs; 0 (not an exception) when there is no driver or no device.
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

inline int current_device() {
  int d = 0;
  RFCF_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// Multiprocessors of the current device (cached per device; used to size grid-stride launches).
inline int multiprocessor_count() {
  constexpr int kMaxDevices = 64;
  thread_local int cached[kMaxDevices] = {};
  const int d = current_device();
  int& c = cached[d < kMaxDevices ? d : 0];
  if (c == 0) RFCF_CUDA_CHECK(cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, d));
  return c;
}

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
inline std::string describe_device(int d) {
  cudaDeviceProp p{};
  RFCF_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
  return rfcf::detail::concat(p.name, " (sm_", p.major, p.minor, ", ", p.multiProcessorCount, " SMs, ",
                        static_cast<double>(p.totalGlobalMem) / double(1 << 30), " GiB)");
}

}  // namespace cuda_rt
}  // namespace rfcf

#pragma once
// Device policies. A device is a tag type; what it can do is given by class templates
// specialised per device (Allocator<D>, Executor<D>, DeviceCopy<Dst, Src>, and the op
// families in rfcf/ops). The cpu specialisations live in plain C++ headers; the cuda
// specialisations live in .cuh files that only nvcc reads (include <rfcf/cuda.cuh>).
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace rfcf {

struct cpu {
  static constexpr const char* name = "cpu";
};
struct cuda {
  static constexpr const char* name = "cuda";
};

template <class D>
inline constexpr bool is_device_v = std::is_same_v<D, cpu> || std::is_same_v<D, cuda>;

// Raw memory of a device. Specialised by each device (cpu: core/allocator.hpp,
// cuda: core/cuda/allocator.cuh). Interface: static void* allocate(size_t bytes);
// static void deallocate(void* p, size_t bytes).
template <class D>
struct Allocator;

// Byte copies between devices; specialised per (destination, source) pair.
template <class Dst, class Src>
struct DeviceCopy;

// Runs RFCF_HD functors over an index range on a device (core/executor.hpp, core/cuda/executor.cuh).
template <class D>
struct Executor;

// True once the device's implementation headers are included. cuda.cuh specialises it.
template <class D>
struct device_available : std::false_type {};
template <>
struct device_available<cpu> : std::true_type {};

template <class D>
constexpr void require_device() {
  static_assert(device_available<D>::value,
                "rfcf: the cuda device is only available in CUDA translation units that include "
                "<rfcf/cuda.cuh> (compile them with nvcc)");
}

}  // namespace rfcf

#pragma once
// SortOp<cuda>: CUB radix sorts (stable, so equal keys keep ascending index order as on the
// cpu) on the current stream; temporary storage comes from the caching allocator.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <cstdint>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/executor.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/sort.hpp"
#include "rfcf/ops/sort.hpp"

namespace rfcf::ops {

template <>
struct SortOp<cuda> {
  template <class K>
  static void sort_descending(const K* keys, int64_t n, K* keys_out, int32_t* index_out) {
    if (n <= 0) return;
    check<ShapeError>(n <= INT32_MAX, "sort_descending: ", n, " keys exceed CUB's int32 item count");
    Tensor<int32_t, cuda> iota(Shape{n});
    Executor<cuda>::for_each(n, functors::IndexInRun{iota.data(), n});
    size_t bytes = 0;
    const int items = static_cast<int>(n);
    RFCF_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(nullptr, bytes, keys, keys_out, iota.data(), index_out,
                                                              items, 0, 8 * sizeof(K), cuda_rt::current_stream()));
    Tensor<uint8_t, cuda> temp(Shape{static_cast<int64_t>(bytes) + 1});
    RFCF_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(temp.data(), bytes, keys, keys_out, iota.data(),
                                                              index_out, items, 0, 8 * sizeof(K), cuda_rt::current_stream()));
  }

  template <class K>
  static void segmented_sort_descending(const K* keys, int64_t segments, int64_t length, K* keys_out,
                                        int32_t* index_out) {
    if (segments <= 0 || length <= 0) return;
    const int64_t n = segments * length;
    check<ShapeError>(n <= INT32_MAX, "segmented_sort_descending: ", n, " keys exceed CUB's int32 item count");
    Tensor<int32_t, cuda> iota(Shape{n}), offsets(Shape{segments + 1});
    Executor<cuda>::for_each(n, functors::IndexInRun{iota.data(), length});
    Executor<cuda>::for_each(segments + 1, functors::RunOffset{offsets.data(), length});
    size_t bytes = 0;
    const int items = static_cast<int>(n), runs = static_cast<int>(segments);
    RFCF_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
        nullptr, bytes, keys, keys_out, iota.data(), index_out, items, runs, offsets.data(), offsets.data() + 1, 0, 8 * sizeof(K),
        cuda_rt::current_stream()));
    Tensor<uint8_t, cuda> temp(Shape{static_cast<int64_t>(bytes) + 1});
    RFCF_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
        temp.data(), bytes, keys, keys_out, iota.data(), index_out, items, runs, offsets.data(), offsets.data() + 1,
        0, 8 * sizeof(K), cuda_rt::current_stream()));
  }
};

}  // namespace rfcf::ops

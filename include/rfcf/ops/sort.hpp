#pragma once
// Stable descending key sorts (float or double keys) with their indices: the top-k of detection post-processing and the
// hard-negative ranking of MultiBoxLoss. Device-independent: SortOp<D> is specialised per device
// (cpu: ops/cpu/sort.hpp, cuda: ops/cuda/sort.cuh, CUB radix sort). Interface of SortOp<D>:
//   // index_out[r] = position of the r-th largest key, keys_out[r] = that key. Equal keys keep
//   // ascending index order (as std::stable_sort with >), on every device.
//   template <class K> (float or double)
//   static void sort_descending(const K* keys, int64_t n, K* keys_out, int32_t* index_out);
//   // The same for `segments` consecutive runs of `length` keys; indices count within a run.
//   template <class K>
//   static void segmented_sort_descending(const K* keys, int64_t segments, int64_t length,
//                                         K* keys_out, int32_t* index_out);
// Keys must not be NaN (callers map unwanted entries to -inf first). -0.0 and +0.0 may order
// differently between devices (CUB compares bit patterns); no caller depends on it.
#include <cstdint>
#include <limits>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::ops {

template <class D>
struct SortOp;

namespace detail {
inline void check_sort_sizes(int64_t segments, int64_t length, const char* what) {
  check<ShapeError>(segments >= 0 && length >= 0, what, ": negative size (", segments, " x ", length, ")");
  check<ShapeError>(length <= std::numeric_limits<int32_t>::max(), what, ": ", length,
                    " keys per run exceed the int32 index range");
}
}  // namespace detail

// Sorted keys and their indices of a 1-d tensor.
template <class K, class D>
void sort_descending(const Tensor<K, D>& keys, Tensor<K, D>& keys_out, Tensor<int32_t, D>& index_out) {
  detail::check_sort_sizes(1, keys.numel(), "sort_descending");
  check<ShapeError>(keys_out.numel() == keys.numel() && index_out.numel() == keys.numel(),
                    "sort_descending: outputs must hold ", keys.numel(), " entries");
  SortOp<D>::sort_descending(keys.data(), keys.numel(), keys_out.data(), index_out.data());
}

// Row-wise sort of a [rows, length] tensor.
template <class K, class D>
void segmented_sort_descending(const Tensor<K, D>& keys, Tensor<K, D>& keys_out,
                               Tensor<int32_t, D>& index_out) {
  check<ShapeError>(keys.rank() == 2, "segmented_sort_descending: keys must be [rows, length], got ",
                    keys.shape().str());
  detail::check_sort_sizes(keys.dim(0), keys.dim(1), "segmented_sort_descending");
  check<ShapeError>(keys_out.numel() == keys.numel() && index_out.numel() == keys.numel(),
                    "segmented_sort_descending: outputs must hold ", keys.numel(), " entries");
  SortOp<D>::segmented_sort_descending(keys.data(), keys.dim(0), keys.dim(1), keys_out.data(), index_out.data());
}

}  // namespace rfcf::ops

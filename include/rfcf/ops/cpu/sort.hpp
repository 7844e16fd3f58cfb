#pragma once
// SortOp<cpu>: std::stable_sort of indices; runs of a segmented sort in parallel.
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/sort.hpp"

namespace rfcf::ops {

template <>
struct SortOp<cpu> {
  template <class K>
  static void sort_descending(const K* keys, int64_t n, K* keys_out, int32_t* index_out) {
    sort_run(keys, n, keys_out, index_out);
  }
  template <class K>
  static void segmented_sort_descending(const K* keys, int64_t segments, int64_t length, K* keys_out,
                                        int32_t* index_out) {
    parallel_for(segments, 1, [&](int64_t b, int64_t e) {
      for (int64_t s = b; s < e; ++s)
        sort_run(keys + s * length, length, keys_out + s * length, index_out + s * length);
    });
  }

 private:
  template <class K>
  static void sort_run(const K* keys, int64_t n, K* keys_out, int32_t* index_out) {
    std::iota(index_out, index_out + n, int32_t(0));
    std::stable_sort(index_out, index_out + n, [&](int32_t a, int32_t b) { return keys[a] > keys[b]; });
    for (int64_t r = 0; r < n; ++r) keys_out[r] = keys[index_out[r]];
  }
};

}  // namespace rfcf::ops

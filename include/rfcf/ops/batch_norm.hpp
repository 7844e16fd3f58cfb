#pragma once
// Batch-norm statistics: the reductions are device-specific, the per-element math lives in
// ops/functors/batch_norm.hpp. cpu: ops/cpu/batch_norm.hpp; cuda: ops/cuda/batch_norm.cuh.
// Tensors are viewed as [outer, c, inner] (outer = N, inner = H*W for [N,C,H,W], 1 for [N,C]).
// Interface of BatchNormOp<D> (T = float or double, all pointers on the device):
//   // mean[k] and biased variance var[k] of channel k over outer*inner values
//   static void stats(const T* x, int64_t outer, int64_t c, int64_t inner, T* mean, T* var);
//   // sum_dy[k] = sum dy, sum_dy_xhat[k] = sum dy * (x - mean[k]) * invstd[k] over channel k
//   static void backward_reduce(const T* x, const T* dy, const T* mean, const T* invstd,
//                               int64_t outer, int64_t c, int64_t inner, T* sum_dy, T* sum_dy_xhat);
#include <cstdint>

namespace rfcf::ops {

template <class D>
struct BatchNormOp;

}  // namespace rfcf::ops

#pragma once
// Softmax and log-softmax over the last dimension (rows of [N, C]), stable by subtracting the
// row maximum. Op family SoftmaxOp<D> (cpu: ops/cpu/softmax.hpp, cuda: ops/cuda/softmax.cuh):
//   static void forward(const T* x, int64_t rows, int64_t cols, T* y, bool log);
#include <cstdint>

#include "rfcf/core/tensor.hpp"

namespace rfcf::ops {

template <class D>
struct SoftmaxOp;

namespace detail {
template <class T, class D>
Tensor<T, D> softmax_last_dim(const Tensor<T, D>& x, bool log, const char* what) {
  check<ShapeError>(x.rank() >= 1, what, ": expected a tensor of rank >= 1, got ", x.shape().str());
  const int64_t cols = x.dim(-1);
  check<ShapeError>(cols > 0 || x.numel() == 0, what, ": the last dimension is empty in ", x.shape().str());
  Tensor<T, D> y(x.shape());
  if (x.numel() > 0) SoftmaxOp<D>::forward(x.data(), x.numel() / cols, cols, y.data(), log);
  return y;
}
}  // namespace detail

// y[r, j] = exp(x[r, j] - max_r) / sum_k exp(x[r, k] - max_r)
template <class T, class D>
Tensor<T, D> softmax(const Tensor<T, D>& x) {
  return detail::softmax_last_dim(x, false, "softmax");
}

// y[r, j] = x[r, j] - max_r - log(sum_k exp(x[r, k] - max_r))
template <class T, class D>
Tensor<T, D> log_softmax(const Tensor<T, D>& x) {
  return detail::softmax_last_dim(x, true, "log_softmax");
}

}  // namespace rfcf::ops

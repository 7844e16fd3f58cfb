#pragma once
// Softmax and log-softmax over the last dimension (rows of [N, C]), stable by subtracting the
// row maximum. Op family SoftmaxOp<D> (cpu: ops/cpu/softmax.hpp, cuda: ops/cuda/softmax.cuh):
//   static void forward(const T* x, int64_t rows, int64_t cols, T* y, bool log);
// The backward functions are device-generic (ReduceOp<D> row sums + functors).
#include <cstdint>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/softmax.hpp"
#include "rfcf/ops/reduce.hpp"

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

// Gradient w.r.t. x of softmax, from its output y and the upstream gradient dy.
template <class T, class D>
Tensor<T, D> softmax_backward(const Tensor<T, D>& y, const Tensor<T, D>& dy) {
  check_same_shape(y, dy, "softmax_backward");
  const int64_t cols = y.numel() > 0 ? y.dim(-1) : 1, rows = y.numel() / cols;
  Tensor<T, D> rd(Shape{rows}), dx(y.shape());
  ReduceOp<D>::channel_dot(y.data(), dy.data(), 1, rows, cols, rd.data());
  Executor<D>::for_each(y.numel(), functors::SoftmaxBackward<T>{y.data(), dy.data(), rd.data(), dx.data(), cols});
  return dx;
}

// Gradient w.r.t. x of log_softmax, from its output logp and the upstream gradient dy.
template <class T, class D>
Tensor<T, D> log_softmax_backward(const Tensor<T, D>& logp, const Tensor<T, D>& dy) {
  check_same_shape(logp, dy, "log_softmax_backward");
  const int64_t cols = logp.numel() > 0 ? logp.dim(-1) : 1, rows = logp.numel() / cols;
  Tensor<T, D> rs(Shape{rows}), dx(logp.shape());
  ReduceOp<D>::channel_sum(dy.data(), 1, rows, cols, rs.data());
  Executor<D>::for_each(logp.numel(), functors::LogSoftmaxBackward<T>{logp.data(), dy.data(), rs.data(), dx.data(), cols});
  return dx;
}

}  // namespace rfcf::ops

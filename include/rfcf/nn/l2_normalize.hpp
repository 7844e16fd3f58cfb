#pragma once
// L2Normalize(eps): y = x / (||x|| + eps) over dim 1 of [N, D] (each row to unit length).
// eps is ADDED to the norm (default 0, the exact normalisation); unlike F.normalize, which
// divides by max(||x||, eps). A row whose norm + eps is 0 (an all-zero row with eps = 0) gives
// y = 0 and dx = 0 instead of NaN.
#include <cstdint>
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/functors/normalize.hpp"
#include "rfcf/ops/reduce.hpp"

namespace rfcf::nn {

template <class T, class D>
class L2Normalize : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit L2Normalize(double eps = 0.0) : eps_(static_cast<T>(eps)) {
    check<ConfigError>(eps >= 0, "L2Normalize: eps must be >= 0, got ", eps);
  }

  tensor_type forward(const tensor_type& x) {
    check<ShapeError>(x.rank() == 2, "L2Normalize: expected [N, D], got ", x.shape().str());
    const int64_t n = x.dim(0), d = x.dim(1);
    tensor_type ss(Shape{n}), y(x.shape());
    ops::ReduceOp<D>::channel_dot(x.data(), x.data(), 1, n, d, ss.data());
    Executor<D>::for_each(x.numel(), functors::L2NormalizeForward<T>{x.data(), ss.data(), y.data(), eps_, d});
    if (grad_enabled()) {
      x_ = x;
      sum_squares_ = ss;
    } else {
      x_ = sum_squares_ = tensor_type();
    }
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_.defined(), "L2Normalize::backward called without a forward in grad mode");
    check_same_shape(dy, x_, "L2Normalize::backward");
    const int64_t n = x_.dim(0), d = x_.dim(1);
    tensor_type rd(Shape{n}), dx(dy.shape());
    ops::ReduceOp<D>::channel_dot(dy.data(), x_.data(), 1, n, d, rd.data());
    Executor<D>::for_each(dy.numel(), functors::L2NormalizeBackward<T>{x_.data(), dy.data(), sum_squares_.data(),
                                                                       rd.data(), dx.data(), eps_, d});
    return dx;
  }

  double eps() const { return static_cast<double>(eps_); }

 private:
  T eps_;
  tensor_type x_, sum_squares_;
};

}  // namespace rfcf::nn

#pragma once
// Nearest-neighbour resizing of NCHW tensors to an explicit size with PyTorch's legacy
// 'nearest' rule (F.interpolate(x, size=(out_h, out_w), mode='nearest')), device-generic.
#include <cstdint>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/upsample.hpp"

namespace rfcf::ops {

template <class T, class D>
Tensor<T, D> upsample_nearest(const Tensor<T, D>& x, int64_t out_h, int64_t out_w) {
  check<ShapeError>(x.rank() == 4 && x.h() > 0 && x.w() > 0, "upsample_nearest: input must be a non-empty [N,C,H,W], got ",
                    x.shape().str());
  check<ShapeError>(out_h > 0 && out_w > 0, "upsample_nearest: output size ", out_h, "x", out_w, " must be positive");
  Tensor<T, D> y(Shape{x.n(), x.c(), out_h, out_w});
  Executor<D>::for_each(y.numel(), functors::UpsampleNearestForward<T>{x.data(), y.data(), x.h(), x.w(), out_h, out_w});
  return y;
}

// Gradient of upsample_nearest: each input element sums the outputs copied from it.
template <class T, class D>
Tensor<T, D> upsample_nearest_backward(const Tensor<T, D>& dy, const Shape& x_shape) {
  check<ShapeError>(x_shape.rank() == 4 && dy.rank() == 4 && dy.n() == x_shape[0] && dy.c() == x_shape[1] &&
                        x_shape[2] > 0 && x_shape[3] > 0,
                    "upsample_nearest_backward: output gradient ", dy.shape().str(), " does not match input ",
                    x_shape.str());
  Tensor<T, D> dx(x_shape);
  Executor<D>::for_each(dx.numel(), functors::UpsampleNearestBackward<T>{dy.data(), dx.data(), x_shape[2], x_shape[3],
                                                                         dy.h(), dy.w()});
  return dx;
}

}  // namespace rfcf::ops

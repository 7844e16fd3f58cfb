#pragma once
// Device-generic 2-D pooling on NCHW tensors (PyTorch semantics, ceil_mode = false):
// max pooling (padding acts as -inf), average pooling (count_include_pad = true) and global
// average pooling. The math lives in functors/pooling.hpp and runs through Executor<D>.
#include <cstdint>
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/pooling.hpp"

namespace rfcf::ops {

struct Pool2dOptions {
  int64_t kernel = 2;
  int64_t stride = 0;  // 0: same as kernel (PyTorch's default)
  int64_t pad = 0;
  int64_t effective_stride() const { return stride > 0 ? stride : kernel; }
};

// Validates the options against x [N,C,H,W] and returns the plane geometry.
inline functors::PoolGeometry pool_geometry(const Pool2dOptions& o, const Shape& x, const char* what) {
  check<ShapeError>(x.rank() == 4, what, ": input must be [N,C,H,W], got ", x.str());
  const int64_t s = o.effective_stride();
  check<ConfigError>(o.kernel > 0 && s > 0 && o.pad >= 0 && 2 * o.pad <= o.kernel, what, ": kernel ", o.kernel,
                    ", stride ", s, ", padding ", o.pad, " is invalid (padding must be at most half the kernel)");
  check<ShapeError>(x[2] + 2 * o.pad >= o.kernel && x[3] + 2 * o.pad >= o.kernel, what, ": input ", x.str(),
                    " is smaller than the ", o.kernel, "x", o.kernel, " window (padding ", o.pad, ")");
  const int64_t Ho = (x[2] + 2 * o.pad - o.kernel) / s + 1, Wo = (x[3] + 2 * o.pad - o.kernel) / s + 1;
  return {x[2], x[3], Ho, Wo, o.kernel, s, o.pad};
}

template <class T, class D>
struct MaxPoolResult {
  Tensor<T, D> y;
  Tensor<int32_t, D> argmax;  // plane index of each output's winner, for the backward
};

template <class T, class D>
MaxPoolResult<T, D> max_pool2d(const Tensor<T, D>& x, const Pool2dOptions& o) {
  const auto g = pool_geometry(o, x.shape(), "max_pool2d");
  check<ShapeError>(g.H * g.W <= INT32_MAX, "max_pool2d: plane of ", x.shape().str(), " too large");
  MaxPoolResult<T, D> r{Tensor<T, D>(Shape{x.n(), x.c(), g.Ho, g.Wo}), Tensor<int32_t, D>(Shape{x.n(), x.c(), g.Ho, g.Wo})};
  Executor<D>::for_each(r.y.numel(), functors::MaxPoolForward<T>{x.data(), r.y.data(), r.argmax.data(), g});
  return r;
}

template <class T, class D>
Tensor<T, D> max_pool2d_backward(const Tensor<T, D>& dy, const Tensor<int32_t, D>& argmax, const Shape& x_shape,
                                 const Pool2dOptions& o) {
  const auto g = pool_geometry(o, x_shape, "max_pool2d_backward");
  const Shape ys{x_shape[0], x_shape[1], g.Ho, g.Wo};
  check<ShapeError>(dy.shape() == ys && argmax.shape() == ys, "max_pool2d_backward: output gradient ",
                    dy.shape().str(), " / argmax ", argmax.shape().str(), " should be ", ys.str());
  Tensor<T, D> dx(x_shape);
  Executor<D>::for_each(dx.numel(), functors::MaxPoolBackward<T>{dy.data(), argmax.data(), dx.data(), g});
  return dx;
}

template <class T, class D>
Tensor<T, D> avg_pool2d(const Tensor<T, D>& x, const Pool2dOptions& o) {
  const auto g = pool_geometry(o, x.shape(), "avg_pool2d");
  Tensor<T, D> y(Shape{x.n(), x.c(), g.Ho, g.Wo});
  Executor<D>::for_each(y.numel(), functors::AvgPoolForward<T>{x.data(), y.data(), g});
  return y;
}

template <class T, class D>
Tensor<T, D> avg_pool2d_backward(const Tensor<T, D>& dy, const Shape& x_shape, const Pool2dOptions& o) {
  const auto g = pool_geometry(o, x_shape, "avg_pool2d_backward");
  const Shape ys{x_shape[0], x_shape[1], g.Ho, g.Wo};
  check<ShapeError>(dy.shape() == ys, "avg_pool2d_backward: output gradient ", dy.shape().str(), " should be ",
                    ys.str());
  Tensor<T, D> dx(x_shape);
  Executor<D>::for_each(dx.numel(), functors::AvgPoolBackward<T>{dy.data(), dx.data(), g});
  return dx;
}

// [N,C,H,W] -> [N,C,1,1] (PyTorch AdaptiveAvgPool2d(1)).
template <class T, class D>
Tensor<T, D> global_avg_pool2d(const Tensor<T, D>& x) {
  check<ShapeError>(x.rank() == 4 && x.h() * x.w() > 0, "global_avg_pool2d: input must be a non-empty [N,C,H,W], got ",
                    x.shape().str());
  Tensor<T, D> y(Shape{x.n(), x.c(), 1, 1});
  Executor<D>::for_each(y.numel(), functors::PlaneMean<T>{x.data(), y.data(), x.h() * x.w()});
  return y;
}

template <class T, class D>
Tensor<T, D> global_avg_pool2d_backward(const Tensor<T, D>& dy, const Shape& x_shape) {
  check<ShapeError>(x_shape.rank() == 4 && dy.shape() == Shape{x_shape[0], x_shape[1], 1, 1},
                    "global_avg_pool2d_backward: output gradient ", dy.shape().str(), " does not match input ",
                    x_shape.str());
  Tensor<T, D> dx(x_shape);
  Executor<D>::for_each(dx.numel(), functors::PlaneMeanBackward<T>{dy.data(), dx.data(), x_shape[2] * x_shape[3]});
  return dx;
}

}  // namespace rfcf::ops

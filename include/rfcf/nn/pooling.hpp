#pragma once
// Pooling layers (torch.nn.MaxPool2d / AvgPool2d with ceil_mode = false, AdaptiveAvgPool2d(1)).
// Device-generic: the ops in ops/pooling.hpp run their functors through Executor<D>.
#include <cstdint>

#include "rfcf/nn/module.hpp"
#include "rfcf/ops/pooling.hpp"

namespace rfcf::nn {

namespace detail {
inline ops::Pool2dOptions pool_options(int64_t kernel, int64_t stride, int64_t pad, const char* what) {
  const ops::Pool2dOptions o{kernel, stride, pad};
  check<ConfigError>(kernel > 0 && stride >= 0 && pad >= 0 && 2 * pad <= kernel, what, "(kernel ", kernel,
                     ", stride ", stride, ", padding ", pad, "): invalid (padding must be at most half the kernel)");
  return o;
}
}  // namespace detail

// Padding acts as -inf. stride 0 means stride = kernel (PyTorch's default).
template <class T, class D>
class MaxPool2d : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t pad = 0)
      : options_(detail::pool_options(kernel, stride, pad, "MaxPool2d")) {}

  tensor_type forward(const tensor_type& x) {
    auto r = ops::max_pool2d(x, options_);
    if (grad_enabled()) x_shape_ = x.shape(), argmax_ = r.argmax;
    return r.y;
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(argmax_.defined(), "MaxPool2d::backward called without a forward in grad mode");
    return ops::max_pool2d_backward(dy, argmax_, x_shape_, options_);
  }
  const ops::Pool2dOptions& options() const { return options_; }

 private:
  ops::Pool2dOptions options_;
  Shape x_shape_;
  Tensor<int32_t, D> argmax_;
};

// Zero padding is counted in the divisor (count_include_pad = true, PyTorch's default).
template <class T, class D>
class AvgPool2d : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t pad = 0)
      : options_(detail::pool_options(kernel, stride, pad, "AvgPool2d")) {}

  tensor_type forward(const tensor_type& x) {
    tensor_type y = ops::avg_pool2d(x, options_);
    if (grad_enabled()) x_shape_ = x.shape();
    return y;
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_shape_.rank() == 4, "AvgPool2d::backward called without a forward in grad mode");
    return ops::avg_pool2d_backward(dy, x_shape_, options_);
  }
  const ops::Pool2dOptions& options() const { return options_; }

 private:
  ops::Pool2dOptions options_;
  Shape x_shape_;
};

// [N,C,H,W] -> [N,C,1,1], the mean of each plane.
template <class T, class D>
class GlobalAvgPool2d : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  tensor_type forward(const tensor_type& x) {
    tensor_type y = ops::global_avg_pool2d(x);
    if (grad_enabled()) x_shape_ = x.shape();
    return y;
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_shape_.rank() == 4, "GlobalAvgPool2d::backward called without a forward in grad mode");
    return ops::global_avg_pool2d_backward(dy, x_shape_);
  }

 private:
  Shape x_shape_;
};

}  // namespace rfcf::nn

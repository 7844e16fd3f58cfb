#pragma once
// nn::UpsampleNearest: resize to an explicit size with PyTorch's legacy 'nearest' rule
// (F.interpolate(x, size=(h, w), mode='nearest')), as the RetinaFace FPN does. Device-generic.
#include <cstdint>

#include "rfcf/nn/module.hpp"
#include "rfcf/ops/upsample.hpp"

namespace rfcf::nn {

template <class T, class D>
class UpsampleNearest : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  // Without a size, use forward(x, out_h, out_w); with one, forward(x) resizes to it.
  UpsampleNearest() = default;
  UpsampleNearest(int64_t out_h, int64_t out_w) : out_h_(out_h), out_w_(out_w) {
    check<ConfigError>(out_h > 0 && out_w > 0, "UpsampleNearest(", out_h, ", ", out_w, "): size must be positive");
  }

  tensor_type forward(const tensor_type& x, int64_t out_h, int64_t out_w) {
    tensor_type y = ops::upsample_nearest(x, out_h, out_w);
    if (grad_enabled()) x_shape_ = x.shape();
    return y;
  }
  tensor_type forward(const tensor_type& x) {
    check<ConfigError>(out_h_ > 0, "UpsampleNearest::forward(x) needs a size: construct with (out_h, out_w) or call "
                                   "forward(x, out_h, out_w)");
    return forward(x, out_h_, out_w_);
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_shape_.rank() == 4, "UpsampleNearest::backward called without a forward in grad mode");
    return ops::upsample_nearest_backward(dy, x_shape_);
  }

 private:
  int64_t out_h_ = 0, out_w_ = 0;
  Shape x_shape_;
};

}  // namespace rfcf::nn

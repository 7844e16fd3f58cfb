#pragma once
// nn::Flatten: [N, d1, d2, ...] -> [N, d1*d2*...] (torch.nn.Flatten()), a view sharing storage.
#include <string>

#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

template <class T, class D>
class Flatten : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  tensor_type forward(const tensor_type& x) {
    check<ShapeError>(x.rank() >= 1, "Flatten: input must have a batch dimension, got ", x.shape().str());
    if (grad_enabled()) x_shape_ = x.shape();
    int64_t inner = 1;
    for (int i = 1; i < x.rank(); ++i) inner *= x.dim(i);
    return x.reshape(Shape{x.dim(0), inner});
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_shape_.rank() > 0, "Flatten::backward called without a forward in grad mode");
    return dy.reshape(x_shape_);
  }

 private:
  Shape x_shape_;
};

}  // namespace rfcf::nn

#pragma once
// LeakyReLU(slope); slope 0 is ReLU. Device-generic: runs its functors through Executor<D>.
#include "rfcf/core/executor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/functors/activation.hpp"

namespace rfcf::nn {

template <class T, class D>
class LeakyReLU : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;

  explicit LeakyReLU(double slope = 0.01) : slope_(static_cast<T>(slope)) {}

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    if (bypass_) return x;  // applied by the preceding fused convolution
    Tensor<T, D> y(x.shape());
    Executor<D>::for_each(x.numel(), functors::LeakyReluForward<T>{x.data(), y.data(), slope_});
    if (grad_enabled()) x_ = x;
    return y;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    check<Error>(x_.defined(), "LeakyReLU::backward called without a forward in grad mode");
    check_same_shape(dy, x_, "LeakyReLU::backward");
    Tensor<T, D> dx(dy.shape());
    Executor<D>::for_each(dy.numel(), functors::LeakyReluBackward<T>{x_.data(), dy.data(), dx.data(), slope_});
    return dx;
  }
  T slope() const { return slope_; }
  // Inference fusion (Conv2d::fuse_leaky_relu): forward becomes the identity.
  void set_bypass(bool on) { bypass_ = on; }
  void train(bool on = true) {
    check<ConfigError>(!(on && bypass_), "LeakyReLU: fused into a convolution for inference; reload the weights to train");
    training_ = on;
  }

 private:
  T slope_;
  bool bypass_ = false;
  Tensor<T, D> x_;
};

template <class T, class D>
class ReLU : public LeakyReLU<T, D> {
 public:
  ReLU() : LeakyReLU<T, D>(0.0) {}
};

}  // namespace rfcf::nn

#pragma once
// Squeeze-and-excitation (IR-SE units of the CurricularFace code, recognition.md 6.2):
// global average pool -> fc1 (1x1 conv, no bias) -> ReLU -> fc2 -> sigmoid -> channel gating.
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/conv2d.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/pooling.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/functors/channel_scale.hpp"

namespace rfcf::nn {

template <class T, class D>
class SqueezeExcitation : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;

  SqueezeExcitation(int64_t channels, int64_t reduction = 16)
      : fc1_(channels, channels / reduction, Conv2dOptions::k(1)), fc2_(channels / reduction, channels, Conv2dOptions::k(1)) {}

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> s = sigmoid_.forward(fc2_.forward(relu_.forward(fc1_.forward(pool_.forward(x)))));
    Tensor<T, D> y(x.shape());
    const int64_t hw = x.h() * x.w();
    Executor<D>::for_each(x.numel(), functors::SampleChannelScale<T>{x.data(), s.data(), y.data(), hw});
    if (grad_enabled()) x_ = x, s_ = s;
    return y;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    const int64_t hw = x_.h() * x_.w();
    Tensor<T, D> dx(dy.shape()), ds(s_.shape());
    Executor<D>::for_each(dy.numel(), functors::SampleChannelScale<T>{dy.data(), s_.data(), dx.data(), hw});
    Executor<D>::for_each(ds.numel(), functors::SampleChannelScaleGrad<T>{x_.data(), dy.data(), ds.data(), hw});
    ops::accumulate(dx, pool_.backward(fc1_.backward(relu_.backward(fc2_.backward(sigmoid_.backward(ds))))));
    return dx;
  }
  void train(bool on = true) {
    training_ = on;
    fc1_.train(on), fc2_.train(on);
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    fc1_.visit(v, join_name(p, "fc1"));
    fc2_.visit(v, join_name(p, "fc2"));
  }

 private:
  GlobalAvgPool2d<T, D> pool_;
  Conv2d<T, D> fc1_, fc2_;
  ReLU<T, D> relu_;
  Sigmoid<T, D> sigmoid_;
  Tensor<T, D> x_, s_;
};

}  // namespace rfcf::nn

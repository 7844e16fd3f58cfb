#pragma once
// One RetinaFace head level (retinaface.md 2.5): a 1x1 conv with bias, output permuted to
// channel-last and flattened to [N, H*W*anchors, k].
#include <string>

#include "rfcf/nn/conv2d.hpp"
#include "rfcf/ops/layout.hpp"

namespace rfcf::models {

template <class T, class D>
class HeadConv {
 public:
  using value_type = T;
  using device_type = D;

  HeadConv(int64_t in, int64_t anchors, int64_t k)
      : conv1x1_(in, anchors * k, nn::Conv2dOptions::k(1).with_bias()), k_(k) {}

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = ops::nchw_to_nhwc(conv1x1_.forward(x));
    nhwc_shape_ = y.shape();
    return y.reshape(Shape{y.dim(0), y.dim(1) * y.dim(2) * y.dim(3) / k_, k_});
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    return conv1x1_.backward(ops::nhwc_to_nchw(dy.reshape(nhwc_shape_)));
  }
  void train(bool on = true) { conv1x1_.train(on); }
  bool is_training() const { return conv1x1_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) { conv1x1_.visit(v, nn::join_name(p, "conv1x1")); }

 private:
  nn::Conv2d<T, D> conv1x1_;
  int64_t k_;
  Shape nhwc_shape_;
};

}  // namespace rfcf::models

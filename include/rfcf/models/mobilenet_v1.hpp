#pragma once
// MobileNetV1 x0.25 as the RetinaFace body (spec retinaface.md 2.2): stage1 (stride 8,
// 64 ch), stage2 (stride 16, 128 ch), stage3 (stride 32, 256 ch).
#include <string>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/models/multiscale.hpp"
#include "rfcf/nn/composite.hpp"

namespace rfcf::models {

template <class T, class D>
class MobileNetV1025 {
 public:
  using value_type = T;
  using device_type = D;
  static constexpr std::array<int64_t, 3> out_channels{64, 128, 256};

  // slope: 0.1 for the official Pytorch_Retinaface weights, 0 (ReLU) for the 1MB family.
  explicit MobileNetV1025(double slope = 0.1)
      : stage1_(conv_bn_act<T, D>(3, 8, 3, 2, slope), conv_dw<T, D>(8, 16, 1, slope), conv_dw<T, D>(16, 32, 2, slope),
                conv_dw<T, D>(32, 32, 1, slope), conv_dw<T, D>(32, 64, 2, slope), conv_dw<T, D>(64, 64, 1, slope)) {
    stage2_.push_back(conv_dw<T, D>(64, 128, 2, slope));
    for (int i = 0; i < 5; ++i) stage2_.push_back(conv_dw<T, D>(128, 128, 1, slope));
    stage3_.push_back(conv_dw<T, D>(128, 256, 2, slope));
    stage3_.push_back(conv_dw<T, D>(256, 256, 1, slope));
    stage1_.template get<0>().template get<0>().set_input_grad(false);  // the image needs no gradient
  }

  FeatureMaps<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3, "MobileNetV1025: expected input [N, 3, H, W], got ",
                      x.shape().str());
    FeatureMaps<T, D> f;
    f[0] = stage1_.forward(x);
    f[1] = stage2_.forward(f[0]);
    f[2] = stage3_.forward(f[1]);
    return f;
  }

  // Gradients w.r.t. the three outputs; returns dL/dx (empty: the stem skips it).
  Tensor<T, D> backward(const FeatureMaps<T, D>& dy) {
    Tensor<T, D> g = stage3_.backward(dy[2]);
    ops::accumulate(g, dy[1]);
    g = stage2_.backward(g);
    ops::accumulate(g, dy[0]);
    return stage1_.backward(g);
  }

  void train(bool on = true) {
    stage1_.train(on);
    stage2_.train(on);
    stage3_.train(on);
  }
  bool is_training() const { return stage1_.is_training(); }
  // Eval-mode inference: batch norms and activations folded into the convolutions.
  void fuse_for_inference() {
    stage1_.fuse_for_inference();
    stage2_.fuse_for_inference();
    stage3_.fuse_for_inference();
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    stage1_.visit(v, nn::join_name(prefix, "stage1"));
    stage2_.visit(v, nn::join_name(prefix, "stage2"));
    stage3_.visit(v, nn::join_name(prefix, "stage3"));
  }

 private:
  nn::Sequential<ConvBnAct<T, D>, ConvDw<T, D>, ConvDw<T, D>, ConvDw<T, D>, ConvDw<T, D>, ConvDw<T, D>> stage1_;
  nn::Repeat<ConvDw<T, D>> stage2_, stage3_;
};

}  // namespace rfcf::models

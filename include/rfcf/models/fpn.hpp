#pragma once
// RetinaFace FPN (retinaface.md 2.3): 1x1 lateral convs, top-down nearest upsampling with
// PyTorch's legacy rule, 3x3 merge convs on the two finer levels.
#include <array>
#include <string>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/models/multiscale.hpp"
#include "rfcf/nn/upsample.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

template <class T, class D>
class FPN {
 public:
  using value_type = T;
  using device_type = D;

  FPN(const std::array<int64_t, 3>& in_channels, int64_t out, double slope)
      : output1_(conv_bn_act<T, D>(in_channels[0], out, 1, 1, slope)),
        output2_(conv_bn_act<T, D>(in_channels[1], out, 1, 1, slope)),
        output3_(conv_bn_act<T, D>(in_channels[2], out, 1, 1, slope)),
        merge1_(conv_bn_act<T, D>(out, out, 3, 1, slope)),
        merge2_(conv_bn_act<T, D>(out, out, 3, 1, slope)) {}

  FeatureMaps<T, D> forward(const FeatureMaps<T, D>& c) {
    FeatureMaps<T, D> o;
    o[0] = output1_.forward(c[0]);
    o[1] = output2_.forward(c[1]);
    o[2] = output3_.forward(c[2]);
    o[1] = merge2_.forward(ops::add(o[1], up3_.forward(o[2], o[1].h(), o[1].w())));
    o[0] = merge1_.forward(ops::add(o[0], up2_.forward(o[1], o[0].h(), o[0].w())));
    return o;
  }

  FeatureMaps<T, D> backward(const FeatureMaps<T, D>& d) {
    Tensor<T, D> g1 = merge1_.backward(d[0]);  // gradient of (o1 + up(o2))
    Tensor<T, D> d2 = up2_.backward(g1);
    ops::accumulate(d2, d[1]);
    Tensor<T, D> g2 = merge2_.backward(d2);  // gradient of (o2 + up(o3))
    Tensor<T, D> d3 = up3_.backward(g2);
    ops::accumulate(d3, d[2]);
    return {output1_.backward(g1), output2_.backward(g2), output3_.backward(d3)};
  }

  void train(bool on = true) {
    output1_.train(on), output2_.train(on), output3_.train(on), merge1_.train(on), merge2_.train(on);
  }
  bool is_training() const { return output1_.is_training(); }
  void fuse_for_inference() {
    for (auto* b : {&output1_, &output2_, &output3_, &merge1_, &merge2_}) b->fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    output1_.visit(v, nn::join_name(p, "output1"));
    output2_.visit(v, nn::join_name(p, "output2"));
    output3_.visit(v, nn::join_name(p, "output3"));
    merge1_.visit(v, nn::join_name(p, "merge1"));
    merge2_.visit(v, nn::join_name(p, "merge2"));
  }

 private:
  ConvBnAct<T, D> output1_, output2_, output3_, merge1_, merge2_;
  nn::UpsampleNearest<T, D> up2_, up3_;
};

}  // namespace rfcf::models

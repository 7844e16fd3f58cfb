#pragma once
// SSH context module (retinaface.md 2.4): three branches of 3x3 convs (receptive fields
// 3, 5 and 7), concatenated and passed through a ReLU. The 7x7 branch starts from the
// output of conv5X5_1, so this is not a plain parallel composite.
#include <string>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/ops/concat.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

template <class T, class D>
class SSH {
 public:
  using value_type = T;
  using device_type = D;

  SSH(int64_t in, int64_t out, double slope)
      : conv3X3_(conv_bn_no_act<T, D>(in, out / 2, 3, 1)),
        conv5X5_1_(conv_bn_act<T, D>(in, out / 4, 3, 1, slope)),
        conv5X5_2_(conv_bn_no_act<T, D>(out / 4, out / 4, 3, 1)),
        conv7X7_2_(conv_bn_act<T, D>(out / 4, out / 4, 3, 1, slope)),
        conv7x7_3_(conv_bn_no_act<T, D>(out / 4, out / 4, 3, 1)) {
    check<ConfigError>(out % 4 == 0, "SSH: out channels must be a multiple of 4, got ", out);
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> a = conv3X3_.forward(x);
    Tensor<T, D> b1 = conv5X5_1_.forward(x);
    Tensor<T, D> b = conv5X5_2_.forward(b1);
    Tensor<T, D> c = conv7x7_3_.forward(conv7X7_2_.forward(b1));
    return relu_.forward(ops::concat_channels<T, D>({a, b, c}));
  }

  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> g = relu_.backward(dy);
    const int64_t half = g.c() / 2, quarter = g.c() / 4;
    Tensor<T, D> dx = conv3X3_.backward(ops::slice_channels(g, 0, half));
    Tensor<T, D> db1 = conv5X5_2_.backward(ops::slice_channels(g, half, quarter));
    ops::accumulate(db1, conv7X7_2_.backward(conv7x7_3_.backward(ops::slice_channels(g, half + quarter, quarter))));
    ops::accumulate(dx, conv5X5_1_.backward(db1));
    return dx;
  }

  void train(bool on = true) {
    conv3X3_.train(on), conv5X5_1_.train(on), conv5X5_2_.train(on), conv7X7_2_.train(on), conv7x7_3_.train(on);
  }
  bool is_training() const { return conv3X3_.is_training(); }
  void fuse_for_inference() {
    conv3X3_.fuse_for_inference(), conv5X5_1_.fuse_for_inference(), conv5X5_2_.fuse_for_inference(),
        conv7X7_2_.fuse_for_inference(), conv7x7_3_.fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    conv3X3_.visit(v, nn::join_name(p, "conv3X3"));
    conv5X5_1_.visit(v, nn::join_name(p, "conv5X5_1"));
    conv5X5_2_.visit(v, nn::join_name(p, "conv5X5_2"));
    conv7X7_2_.visit(v, nn::join_name(p, "conv7X7_2"));
    conv7x7_3_.visit(v, nn::join_name(p, "conv7x7_3"));
  }

 private:
  ConvBn<T, D> conv3X3_;
  ConvBnAct<T, D> conv5X5_1_;
  ConvBn<T, D> conv5X5_2_;
  ConvBnAct<T, D> conv7X7_2_;
  ConvBn<T, D> conv7x7_3_;
  nn::ReLU<T, D> relu_;
};

}  // namespace rfcf::models

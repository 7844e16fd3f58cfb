#pragma once
// MobileFaceNet in the layout of shared/models/mobilefacenet_casia.ckpt (recognition.md 7.3):
// ConvBlocks conv1/dw_conv1/conv2/linear7/linear1 (keys conv/bn/prelu), bottlenecks
// blocks.n.conv.{0..7} with a residual add when stride 1 and channels are unchanged.
// Input 112x96 by default (the linear7 kernel covers the whole final map), 128-d output.
#include <array>
#include <string>
#include <vector>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/conv2d.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

template <class T, class D>
using ConvBnPrelu = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::PReLU<T, D>>;

// A ConvBlock named {conv, bn, prelu} (linear blocks have no prelu).
template <class T, class D>
ConvBnPrelu<T, D> conv_block(int64_t in, int64_t out, nn::Conv2dOptions o) {
  ConvBnPrelu<T, D> b(nn::Conv2d<T, D>(in, out, o), nn::BatchNorm2d<T, D>(out), nn::PReLU<T, D>(out));
  b.named({"conv", "bn", "prelu"});
  return b;
}
template <class T, class D>
ConvBn<T, D> linear_block(int64_t in, int64_t out, nn::Conv2dOptions o) {
  ConvBn<T, D> b(nn::Conv2d<T, D>(in, out, o), nn::BatchNorm2d<T, D>(out));
  b.named({"conv", "bn"});
  return b;
}

// Inverted residual: 1x1 expand + BN + PReLU, depthwise 3x3 + BN + PReLU, 1x1 project + BN.
template <class T, class D>
class MobileFaceBottleneck {
 public:
  using value_type = T;
  using device_type = D;
  using Body = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::PReLU<T, D>, nn::Conv2d<T, D>,
                              nn::BatchNorm2d<T, D>, nn::PReLU<T, D>, nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>>;

  MobileFaceBottleneck(int64_t in, int64_t out, int64_t stride, int64_t expansion)
      : conv_(nn::Conv2d<T, D>(in, in * expansion, nn::Conv2dOptions::k(1)), nn::BatchNorm2d<T, D>(in * expansion),
              nn::PReLU<T, D>(in * expansion),
              nn::Conv2d<T, D>(in * expansion, in * expansion,
                               nn::Conv2dOptions::k(3).strided(stride).padded(1).grouped(in * expansion)),
              nn::BatchNorm2d<T, D>(in * expansion), nn::PReLU<T, D>(in * expansion),
              nn::Conv2d<T, D>(in * expansion, out, nn::Conv2dOptions::k(1)), nn::BatchNorm2d<T, D>(out)),
        residual_(stride == 1 && in == out) {}

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = conv_.forward(x);
    return residual_ ? ops::add(x, y) : y;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> dx = conv_.backward(dy);
    if (residual_) ops::accumulate(dx, dy);
    return dx;
  }
  void train(bool on = true) { conv_.train(on); }
  void fuse_for_inference() { conv_.fuse_for_inference(); }
  bool is_training() const { return conv_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) { conv_.visit(v, nn::join_name(p, "conv")); }

 private:
  Body conv_;
  bool residual_;
};

struct MobileFaceNetOptions {
  int64_t embedding_size = 128;
  int64_t input_h = 112, input_w = 96;
};

template <class T, class D>
class MobileFaceNet {
 public:
  using value_type = T;
  using device_type = D;

  explicit MobileFaceNet(const MobileFaceNetOptions& o = {})
      : options_(o),
        conv1_(conv_block<T, D>(3, 64, nn::Conv2dOptions::k(3).strided(2).padded(1))),
        dw_conv1_(conv_block<T, D>(64, 64, nn::Conv2dOptions::k(3).padded(1).grouped(64))),
        conv2_(conv_block<T, D>(128, 512, nn::Conv2dOptions::k(1))),
        linear7_(linear_block<T, D>(512, 512, linear7_options(o))),
        linear1_(linear_block<T, D>(512, o.embedding_size, nn::Conv2dOptions::k(1))) {
    conv1_.template get<0>().set_input_grad(false);
    // (expansion t, output channels c, repeats n, first stride s) as in the paper's table.
    const std::array<std::array<int64_t, 4>, 5> setting{{{2, 64, 5, 2}, {4, 128, 1, 2}, {2, 128, 6, 1},
                                                         {4, 128, 1, 2}, {2, 128, 2, 1}}};
    int64_t in = 64;
    for (const auto& [t, c, n, s] : setting) {
      for (int64_t i = 0; i < n; ++i) {
        blocks_.push_back(MobileFaceBottleneck<T, D>(in, c, i == 0 ? s : 1, t));
        in = c;
      }
    }
  }

  // x: [N, 3, input_h, input_w] RGB, (x - 127.5) / 128; returns [N, embedding_size].
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3 && x.h() == options_.input_h && x.w() == options_.input_w,
                      "MobileFaceNet: expected input [N, 3, ", options_.input_h, ", ", options_.input_w, "], got ",
                      x.shape().str());
    Tensor<T, D> y = blocks_.forward(dw_conv1_.forward(conv1_.forward(x)));
    y = linear1_.forward(linear7_.forward(conv2_.forward(y)));
    return y.reshape(Shape{y.n(), y.c()});
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> g = linear7_.backward(linear1_.backward(dy.reshape(Shape{dy.dim(0), dy.dim(1), 1, 1})));
    return conv1_.backward(dw_conv1_.backward(blocks_.backward(conv2_.backward(g))));
  }
  void train(bool on = true) {
    conv1_.train(on), dw_conv1_.train(on), blocks_.train(on), conv2_.train(on), linear7_.train(on),
        linear1_.train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return conv1_.is_training(); }
  // Folds the batch norms into the convolutions for eval-mode inference (irreversible).
  void fuse_for_inference() {
    eval();
    conv1_.fuse_for_inference(), dw_conv1_.fuse_for_inference(), blocks_.fuse_for_inference(),
        conv2_.fuse_for_inference(), linear7_.fuse_for_inference(), linear1_.fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    conv1_.visit(v, nn::join_name(p, "conv1"));
    dw_conv1_.visit(v, nn::join_name(p, "dw_conv1"));
    blocks_.visit(v, nn::join_name(p, "blocks"));
    conv2_.visit(v, nn::join_name(p, "conv2"));
    linear7_.visit(v, nn::join_name(p, "linear7"));
    linear1_.visit(v, nn::join_name(p, "linear1"));
  }
  const MobileFaceNetOptions& options() const { return options_; }

 private:
  static nn::Conv2dOptions linear7_options(const MobileFaceNetOptions& o) {
    nn::Conv2dOptions c;
    c.kernel_h = (o.input_h + 15) / 16;
    c.kernel_w = (o.input_w + 15) / 16;
    c.groups = 512;
    return c;
  }
  MobileFaceNetOptions options_;
  ConvBnPrelu<T, D> conv1_, dw_conv1_;
  nn::Repeat<MobileFaceBottleneck<T, D>> blocks_;
  ConvBnPrelu<T, D> conv2_;
  ConvBn<T, D> linear7_, linear1_;
};

}  // namespace rfcf::models

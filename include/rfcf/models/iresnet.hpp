#pragma once
// IResNet-18/34/50/100/200 of insightface's arcface_torch (recognition.md 6.1), with its
// parameter names so its checkpoints load: conv1/bn1/prelu stem, IBasicBlocks
// (bn1-conv1-bn2-prelu-conv2(stride)-bn3 + shortcut, no activation after the add), then
// bn2 -> dropout -> flatten -> fc -> features (BatchNorm1d with its weight fixed at 1).
#include <optional>
#include <string>
#include <vector>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/dropout.hpp"
#include "rfcf/nn/linear.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

struct IResNetOptions {
  int depth = 50;  // 18, 34, 50, 100 or 200
  int64_t embedding_size = 512;
  double dropout = 0.0;
  int64_t input_h = 112, input_w = 112;

  std::vector<int64_t> blocks() const {
    switch (depth) {
      case 18: return {2, 2, 2, 2};
      case 34: return {3, 4, 6, 3};
      case 50: return {3, 4, 14, 3};
      case 100: return {3, 13, 30, 3};
      case 200: return {6, 26, 60, 6};
      default: fail<ConfigError>("IResNet: unsupported depth ", depth, " (use 18, 34, 50, 100 or 200)");
    }
  }
};

template <class T, class D>
class IBasicBlock {
 public:
  using value_type = T;
  using device_type = D;

  IBasicBlock(int64_t in, int64_t planes, int64_t stride)
      : bn1_(in), conv1_(in, planes, nn::Conv2dOptions::k(3).padded(1)), bn2_(planes), prelu_(planes),
        conv2_(planes, planes, nn::Conv2dOptions::k(3).strided(stride).padded(1)), bn3_(planes) {
    if (stride != 1 || in != planes)
      downsample_.emplace(nn::Conv2d<T, D>(in, planes, nn::Conv2dOptions::k(1).strided(stride)),
                          nn::BatchNorm2d<T, D>(planes));
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = bn3_.forward(conv2_.forward(prelu_.forward(bn2_.forward(conv1_.forward(bn1_.forward(x))))));
    return ops::add(y, downsample_ ? downsample_->forward(x) : x);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> dx =
        bn1_.backward(conv1_.backward(bn2_.backward(prelu_.backward(conv2_.backward(bn3_.backward(dy))))));
    ops::accumulate(dx, downsample_ ? downsample_->backward(dy) : dy);
    return dx;
  }
  void train(bool on = true) {
    bn1_.train(on), conv1_.train(on), bn2_.train(on), prelu_.train(on), conv2_.train(on), bn3_.train(on);
    if (downsample_) downsample_->train(on);
  }
  bool is_training() const { return bn1_.is_training(); }
  // bn2 and bn3 follow convolutions and fold into them; bn1 precedes one and stays (folding it
  // would change the zero padding).
  void fuse_for_inference() {
    fuse_conv_bn(conv1_, bn2_);
    fuse_conv_bn(conv2_, bn3_);
    if (downsample_) downsample_->fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    bn1_.visit(v, nn::join_name(p, "bn1"));
    conv1_.visit(v, nn::join_name(p, "conv1"));
    bn2_.visit(v, nn::join_name(p, "bn2"));
    prelu_.visit(v, nn::join_name(p, "prelu"));
    conv2_.visit(v, nn::join_name(p, "conv2"));
    bn3_.visit(v, nn::join_name(p, "bn3"));
    if (downsample_) downsample_->visit(v, nn::join_name(p, "downsample"));
  }

 private:
  nn::BatchNorm2d<T, D> bn1_;
  nn::Conv2d<T, D> conv1_;
  nn::BatchNorm2d<T, D> bn2_;
  nn::PReLU<T, D> prelu_;
  nn::Conv2d<T, D> conv2_;
  nn::BatchNorm2d<T, D> bn3_;
  std::optional<ConvBn<T, D>> downsample_;
};

template <class T, class D>
class IResNet {
 public:
  using value_type = T;
  using device_type = D;

  explicit IResNet(const IResNetOptions& o = {})
      : options_(o), conv1_(3, 64, nn::Conv2dOptions::k(3).padded(1)), bn1_(64), prelu_(64), bn2_(512),
        dropout_(o.dropout), fc_(512 * out_cells(o.input_h) * out_cells(o.input_w), o.embedding_size),
        features_(o.embedding_size) {
    conv1_.set_input_grad(false);
    const std::vector<int64_t> blocks = o.blocks();
    const int64_t widths[4] = {64, 128, 256, 512};
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      for (int64_t b = 0; b < blocks[s]; ++b) {
        layers_[s].push_back(IBasicBlock<T, D>(in, widths[s], b == 0 ? 2 : 1));
        in = widths[s];
      }
    }
    // arcface_torch fixes the feature BN's weight at 1 and does not train it.
    nn::for_each_parameter(features_, [](const std::string& name, nn::Parameter<T, D>& p) {
      if (name == "weight") {
        fill(p.value, T(1));
        p.frozen = true;
      }
    });
  }

  // x: [N, 3, H, W] RGB normalised; returns the embedding [N, embedding_size].
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3 && x.h() == options_.input_h && x.w() == options_.input_w,
                      "IResNet: expected input [N, 3, ", options_.input_h, ", ", options_.input_w, "], got ",
                      x.shape().str());
    Tensor<T, D> y = prelu_.forward(bn1_.forward(conv1_.forward(x)));
    for (auto& l : layers_) y = l.forward(y);
    y = dropout_.forward(bn2_.forward(y));
    map_shape_ = y.shape();
    y = fc_.forward(y.reshape(Shape{y.n(), y.numel() / y.n()}));
    return features_.forward(y);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> g = fc_.backward(features_.backward(dy)).reshape(map_shape_);
    g = bn2_.backward(dropout_.backward(g));
    for (int s = 3; s >= 0; --s) g = layers_[s].backward(g);
    return conv1_.backward(bn1_.backward(prelu_.backward(g)));
  }
  void train(bool on = true) {
    conv1_.train(on), bn1_.train(on), prelu_.train(on), bn2_.train(on), dropout_.train(on), fc_.train(on),
        features_.train(on);
    for (auto& l : layers_) l.train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return bn1_.is_training(); }
  // Folds the batch norms that follow convolutions into them for eval-mode inference
  // (irreversible: reload the weights to train).
  void fuse_for_inference() {
    eval();
    fuse_conv_bn(conv1_, bn1_);
    for (auto& l : layers_) l.fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    conv1_.visit(v, nn::join_name(p, "conv1"));
    bn1_.visit(v, nn::join_name(p, "bn1"));
    prelu_.visit(v, nn::join_name(p, "prelu"));
    for (int s = 0; s < 4; ++s) layers_[s].visit(v, nn::join_name(p, "layer" + std::to_string(s + 1)));
    bn2_.visit(v, nn::join_name(p, "bn2"));
    fc_.visit(v, nn::join_name(p, "fc"));
    features_.visit(v, nn::join_name(p, "features"));
  }
  const IResNetOptions& options() const { return options_; }

 private:
  static int64_t out_cells(int64_t size) {
    for (int i = 0; i < 4; ++i) size = (size + 1) / 2;  // four stride-2 3x3 convs with padding 1
    return size;
  }
  IResNetOptions options_;
  nn::Conv2d<T, D> conv1_;
  nn::BatchNorm2d<T, D> bn1_;
  nn::PReLU<T, D> prelu_;
  nn::Repeat<IBasicBlock<T, D>> layers_[4];
  nn::BatchNorm2d<T, D> bn2_;
  nn::Dropout<T, D> dropout_;
  nn::Linear<T, D> fc_;
  nn::BatchNorm1d<T, D> features_;
  Shape map_shape_;
};

}  // namespace rfcf::models

#pragma once
// torchvision ResNet-50 (v1.5: stride on the 3x3 conv) as the RetinaFace body
// (retinaface.md 2.8). Outputs layer2 (stride 8, 512 ch), layer3 (16, 1024), layer4 (32, 2048).
#include <optional>
#include <string>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/models/multiscale.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/pooling.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

// Folds bn (and an optional following ReLU) into conv for eval-mode inference.
template <class T, class D>
void fuse_conv_bn_relu(nn::Conv2d<T, D>& conv, nn::BatchNorm2d<T, D>& bn, nn::ReLU<T, D>* relu) {
  fuse_conv_bn(conv, bn);
  if (relu) {
    conv.fuse_leaky_relu(T(0));
    relu->set_bypass(true);
  }
}

template <class T, class D>
class Bottleneck {
 public:
  using value_type = T;
  using device_type = D;

  Bottleneck(int64_t in, int64_t width, int64_t stride)
      : conv1_(in, width, nn::Conv2dOptions::k(1)), bn1_(width),
        conv2_(width, width, nn::Conv2dOptions::k(3).strided(stride).padded(1)), bn2_(width),
        conv3_(width, width * 4, nn::Conv2dOptions::k(1)), bn3_(width * 4) {
    if (stride != 1 || in != width * 4)
      downsample_.emplace(nn::Conv2d<T, D>(in, width * 4, nn::Conv2dOptions::k(1).strided(stride)),
                          nn::BatchNorm2d<T, D>(width * 4));
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = relu1_.forward(bn1_.forward(conv1_.forward(x)));
    y = relu2_.forward(bn2_.forward(conv2_.forward(y)));
    y = bn3_.forward(conv3_.forward(y));
    return relu3_.forward(ops::add(y, downsample_ ? downsample_->forward(x) : x));
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> g = relu3_.backward(dy);
    Tensor<T, D> dx = conv1_.backward(bn1_.backward(relu1_.backward(
        conv2_.backward(bn2_.backward(relu2_.backward(conv3_.backward(bn3_.backward(g))))))));
    ops::accumulate(dx, downsample_ ? downsample_->backward(g) : g);
    return dx;
  }
  void train(bool on = true) {
    for_each_layer([&](auto& l) { l.train(on); });
    if (downsample_) downsample_->train(on);
  }
  bool is_training() const { return bn1_.is_training(); }
  void fuse_for_inference() {
    fuse_conv_bn_relu(conv1_, bn1_, &relu1_);
    fuse_conv_bn_relu(conv2_, bn2_, &relu2_);
    fuse_conv_bn_relu(conv3_, bn3_, static_cast<nn::ReLU<T, D>*>(nullptr));  // the ReLU follows the add
    if (downsample_) downsample_->fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    conv1_.visit(v, nn::join_name(p, "conv1"));
    bn1_.visit(v, nn::join_name(p, "bn1"));
    conv2_.visit(v, nn::join_name(p, "conv2"));
    bn2_.visit(v, nn::join_name(p, "bn2"));
    conv3_.visit(v, nn::join_name(p, "conv3"));
    bn3_.visit(v, nn::join_name(p, "bn3"));
    if (downsample_) downsample_->visit(v, nn::join_name(p, "downsample"));
  }

 private:
  template <class F>
  void for_each_layer(F&& f) {
    f(conv1_), f(bn1_), f(relu1_), f(conv2_), f(bn2_), f(relu2_), f(conv3_), f(bn3_), f(relu3_);
  }
  nn::Conv2d<T, D> conv1_;
  nn::BatchNorm2d<T, D> bn1_;
  nn::ReLU<T, D> relu1_;
  nn::Conv2d<T, D> conv2_;
  nn::BatchNorm2d<T, D> bn2_;
  nn::ReLU<T, D> relu2_;
  nn::Conv2d<T, D> conv3_;
  nn::BatchNorm2d<T, D> bn3_;
  nn::ReLU<T, D> relu3_;
  std::optional<ConvBn<T, D>> downsample_;
};

template <class T, class D>
class ResNet50 {
 public:
  using value_type = T;
  using device_type = D;
  static constexpr std::array<int64_t, 3> out_channels{512, 1024, 2048};

  explicit ResNet50(double /*slope: the torchvision body always uses ReLU*/ = 0.0)
      : conv1_(3, 64, nn::Conv2dOptions::k(7).strided(2).padded(3)), bn1_(64), pool_(3, 2, 1) {
    conv1_.set_input_grad(false);
    const int64_t widths[4] = {64, 128, 256, 512}, blocks[4] = {3, 4, 6, 3};
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      for (int64_t b = 0; b < blocks[s]; ++b) {
        layers_[s].push_back(Bottleneck<T, D>(in, widths[s], b == 0 && s > 0 ? 2 : 1));
        in = widths[s] * 4;
      }
    }
  }

  FeatureMaps<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3, "ResNet50: expected input [N, 3, H, W], got ", x.shape().str());
    Tensor<T, D> y = pool_.forward(relu_.forward(bn1_.forward(conv1_.forward(x))));
    y = layers_[0].forward(y);
    FeatureMaps<T, D> f;
    f[0] = layers_[1].forward(y);
    f[1] = layers_[2].forward(f[0]);
    f[2] = layers_[3].forward(f[1]);
    return f;
  }
  Tensor<T, D> backward(const FeatureMaps<T, D>& dy) {
    Tensor<T, D> g = layers_[3].backward(dy[2]);
    ops::accumulate(g, dy[1]);
    g = layers_[2].backward(g);
    ops::accumulate(g, dy[0]);
    g = layers_[0].backward(layers_[1].backward(g));
    return conv1_.backward(bn1_.backward(relu_.backward(pool_.backward(g))));
  }
  void train(bool on = true) {
    conv1_.train(on), bn1_.train(on), relu_.train(on), pool_.train(on);
    for (auto& l : layers_) l.train(on);
  }
  bool is_training() const { return bn1_.is_training(); }
  void fuse_for_inference() {
    fuse_conv_bn_relu(conv1_, bn1_, &relu_);
    for (auto& l : layers_) l.fuse_for_inference();
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    conv1_.visit(v, nn::join_name(p, "conv1"));
    bn1_.visit(v, nn::join_name(p, "bn1"));
    for (int s = 0; s < 4; ++s) layers_[s].visit(v, nn::join_name(p, "layer" + std::to_string(s + 1)));
  }

 private:
  nn::Conv2d<T, D> conv1_;
  nn::BatchNorm2d<T, D> bn1_;
  nn::ReLU<T, D> relu_;
  nn::MaxPool2d<T, D> pool_;
  nn::Repeat<Bottleneck<T, D>> layers_[4];
};

}  // namespace rfcf::models

#pragma once
// IR and IR-SE networks of the CurricularFace repository (recognition.md 6.2), with its parameter
// names so its checkpoints load: input_layer.{0 conv, 1 BN, 2 PReLU}, units body.{n} numbered over
// all stages, output_layer.{0 BN2d, 1 dropout, 2 flatten, 3 Linear, 4 BatchNorm1d without affine}.
// Differs from IResNet (iresnet.hpp): no BN between the PReLU and the second conv, an optional
// SE module at res_layer.5, and a parameter-free MaxPool2d(1, s) shortcut when channels agree.
#include <optional>
#include <string>
#include <vector>

#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/dropout.hpp"
#include "rfcf/nn/flatten.hpp"
#include "rfcf/nn/linear.hpp"
#include "rfcf/nn/pooling.hpp"
#include "rfcf/nn/squeeze_excitation.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

struct IRNetOptions {
  int depth = 50;  // 50, 100 or 152
  bool se = false;  // true: IR-SE
  int64_t embedding_size = 512;
  double dropout = 0.4;  // the repository's Dropout(0.4) before the Linear
  int64_t input_h = 112, input_w = 112;

  std::vector<int64_t> blocks() const {
    switch (depth) {
      case 50: return {3, 4, 14, 3};
      case 100: return {3, 13, 30, 3};
      case 152: return {3, 8, 36, 3};
      default: fail<ConfigError>("IRNet: unsupported depth ", depth, " (use 50, 100 or 152)");
    }
  }
};

// One unit body.n: res_layer (BN, conv3x3, PReLU, conv3x3 stride s, BN [, SE]) + shortcut_layer.
template <class T, class D>
class IRUnit {
 public:
  using value_type = T;
  using device_type = D;
  using ResLayer = nn::Sequential<nn::BatchNorm2d<T, D>, nn::Conv2d<T, D>, nn::PReLU<T, D>, nn::Conv2d<T, D>,
                                  nn::BatchNorm2d<T, D>>;

  IRUnit(int64_t in, int64_t depth, int64_t stride, bool se)
      : res_(nn::BatchNorm2d<T, D>(in), nn::Conv2d<T, D>(in, depth, nn::Conv2dOptions::k(3).padded(1)),
             nn::PReLU<T, D>(depth), nn::Conv2d<T, D>(depth, depth, nn::Conv2dOptions::k(3).strided(stride).padded(1)),
             nn::BatchNorm2d<T, D>(depth)) {
    check<ConfigError>(in > 0 && depth > 0 && stride >= 1, "IRUnit(", in, ", ", depth, ", stride ", stride,
                       "): invalid configuration");
    if (se) se_.emplace(depth, 16);
    if (in != depth) {
      conv_shortcut_.emplace(nn::Conv2d<T, D>(in, depth, nn::Conv2dOptions::k(1).strided(stride)),
                             nn::BatchNorm2d<T, D>(depth));
    } else if (stride != 1) {
      pool_shortcut_.emplace(1, stride);  // MaxPool2d(1, s): plain subsampling
    }
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = res_.forward(x);
    if (se_) y = se_->forward(y);
    Tensor<T, D> s = conv_shortcut_ ? conv_shortcut_->forward(x) : pool_shortcut_ ? pool_shortcut_->forward(x) : x;
    check<ShapeError>(y.shape() == s.shape(), "IRUnit: residual ", y.shape().str(), " and shortcut ",
                      s.shape().str(), " differ");
    return ops::add(y, s);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> dx = res_.backward(se_ ? se_->backward(dy) : dy);
    if (dx.shares_storage_with(dy)) dx = dx.clone();
    ops::accumulate(dx, conv_shortcut_ ? conv_shortcut_->backward(dy)
                        : pool_shortcut_ ? pool_shortcut_->backward(dy)
                                         : dy);
    return dx;
  }
  void train(bool on = true) {
    res_.train(on);
    if (se_) se_->train(on);
    if (conv_shortcut_) conv_shortcut_->train(on);
  }
  bool is_training() const { return res_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) {
    // The repository registers shortcut_layer before res_layer: same state_dict order here.
    if (conv_shortcut_) conv_shortcut_->visit(v, nn::join_name(p, "shortcut_layer"));
    const std::string res = nn::join_name(p, "res_layer");
    res_.visit(v, res);
    if (se_) se_->visit(v, nn::join_name(res, "5"));
  }

 private:
  ResLayer res_;
  std::optional<nn::SqueezeExcitation<T, D>> se_;
  std::optional<ConvBn<T, D>> conv_shortcut_;
  std::optional<nn::MaxPool2d<T, D>> pool_shortcut_;
};

template <class T, class D>
class IRNet {
 public:
  using value_type = T;
  using device_type = D;
  using InputLayer = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::PReLU<T, D>>;
  using OutputLayer = nn::Sequential<nn::BatchNorm2d<T, D>, nn::Dropout<T, D>, nn::Flatten<T, D>, nn::Linear<T, D>,
                                     nn::BatchNorm1d<T, D>>;

  explicit IRNet(const IRNetOptions& o = {})
      : options_(o),
        input_layer_(nn::Conv2d<T, D>(3, 64, nn::Conv2dOptions::k(3).padded(1)), nn::BatchNorm2d<T, D>(64),
                     nn::PReLU<T, D>(64)),
        output_layer_(nn::BatchNorm2d<T, D>(512), nn::Dropout<T, D>(o.dropout), nn::Flatten<T, D>(),
                      nn::Linear<T, D>(512 * out_cells(o.input_h) * out_cells(o.input_w), o.embedding_size),
                      nn::BatchNorm1d<T, D>(o.embedding_size, nn::BatchNormOptions{.affine = false})) {
    check<ConfigError>(o.embedding_size > 0 && o.input_h > 0 && o.input_w > 0, "IRNet: embedding size ",
                       o.embedding_size, " and input ", o.input_h, "x", o.input_w, " must be positive");
    input_layer_.template get<0>().set_input_grad(false);
    const std::vector<int64_t> blocks = o.blocks();
    const int64_t depths[4] = {64, 128, 256, 512};
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      for (int64_t b = 0; b < blocks[s]; ++b) {
        body_.push_back(IRUnit<T, D>(in, depths[s], b == 0 ? 2 : 1, o.se));
        in = depths[s];
      }
    }
  }

  // x: [N, 3, input_h, input_w] RGB, (x - 127.5) / 127.5; returns the embedding [N, embedding_size]
  // (the repository's forward also returns the flattened map; conv_map() gives it after forward).
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3 && x.h() == options_.input_h && x.w() == options_.input_w,
                      "IRNet: expected input [N, 3, ", options_.input_h, ", ", options_.input_w, "], got ",
                      x.shape().str());
    conv_map_ = body_.forward(input_layer_.forward(x));
    return output_layer_.forward(conv_map_);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    return input_layer_.backward(body_.backward(output_layer_.backward(dy)));
  }
  // The last body output [N, 512, h, w] of the latest forward.
  const Tensor<T, D>& conv_map() const { return conv_map_; }

  void train(bool on = true) { input_layer_.train(on), body_.train(on), output_layer_.train(on); }
  void eval() { train(false); }
  bool is_training() const { return input_layer_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) {
    input_layer_.visit(v, nn::join_name(p, "input_layer"));
    body_.visit(v, nn::join_name(p, "body"));
    output_layer_.visit(v, nn::join_name(p, "output_layer"));
  }
  const IRNetOptions& options() const { return options_; }
  IRUnit<T, D>& unit(size_t i) { return body_[i]; }
  size_t units() const { return body_.size(); }

 private:
  static int64_t out_cells(int64_t size) {
    for (int i = 0; i < 4; ++i) size = (size + 1) / 2;  // four stride-2 stages (3x3 pad 1 / 1x1 pool)
    return size;
  }
  IRNetOptions options_;
  InputLayer input_layer_;
  nn::Repeat<IRUnit<T, D>> body_;
  OutputLayer output_layer_;
  Tensor<T, D> conv_map_;
};

}  // namespace rfcf::models

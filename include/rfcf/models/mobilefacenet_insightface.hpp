#pragma once
// arcface_torch's "mbf" MobileFaceNet (recognition.md 6.3), with its parameter names: every conv
// block is a module whose children sit under ".layers", so keys read e.g.
// layers.2.layers.0.layers.0.weight. Layout (scale 2, blocks (1, 4, 6, 2), 512-d):
//   layers.0 conv3x3 s2 3->128 | layers.1 conv3x3 128->128 groups 64 | layers.2..7 DepthWise
//   units and residual stacks | conv_sep 1x1 256->512 | features: GDC 7x7 depthwise + BN,
//   flatten, Linear without bias, affine BatchNorm1d.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/conv2d.hpp"
#include "rfcf/nn/flatten.hpp"
#include "rfcf/nn/linear.hpp"
#include "rfcf/nn/sequential.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::models {

// Puts a child under the name "layers" (arcface_torch wraps each block's nn.Sequential that way).
template <class L>
class LayersWrapper {
 public:
  using value_type = typename L::value_type;
  using device_type = typename L::device_type;
  using tensor_type = Tensor<value_type, device_type>;

  explicit LayersWrapper(L inner) : inner_(std::move(inner)) {}
  tensor_type forward(const tensor_type& x) { return inner_.forward(x); }
  tensor_type backward(const tensor_type& dy) { return inner_.backward(dy); }
  void train(bool on = true) { inner_.train(on); }
  void eval() { train(false); }
  bool is_training() const { return inner_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) { inner_.visit(v, nn::join_name(p, "layers")); }
  L& inner() { return inner_; }

 private:
  L inner_;
};

template <class T, class D>
using MbfConvBlock = LayersWrapper<nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::PReLU<T, D>>>;
template <class T, class D>
using MbfLinearBlock = LayersWrapper<nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>>>;

template <class T, class D>
MbfConvBlock<T, D> mbf_conv_block(int64_t in, int64_t out, nn::Conv2dOptions o) {
  using Inner = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::PReLU<T, D>>;
  return MbfConvBlock<T, D>(Inner(nn::Conv2d<T, D>(in, out, o), nn::BatchNorm2d<T, D>(out), nn::PReLU<T, D>(out)));
}
template <class T, class D>
MbfLinearBlock<T, D> mbf_linear_block(int64_t in, int64_t out, nn::Conv2dOptions o) {
  using Inner = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>>;
  return MbfLinearBlock<T, D>(Inner(nn::Conv2d<T, D>(in, out, o), nn::BatchNorm2d<T, D>(out)));
}

// DepthWise unit: 1x1 in->width (BN, PReLU), depthwise 3x3 stride s (BN, PReLU), 1x1 width->out
// (BN, linear); `residual` adds the input (only used with stride 1 and in == out).
template <class T, class D>
class MbfDepthWise {
 public:
  using value_type = T;
  using device_type = D;
  using Inner = nn::Sequential<MbfConvBlock<T, D>, MbfConvBlock<T, D>, MbfLinearBlock<T, D>>;
  using Body = LayersWrapper<Inner>;

  MbfDepthWise(int64_t in, int64_t out, int64_t width, int64_t stride, bool residual)
      : body_(Inner(mbf_conv_block<T, D>(in, width, nn::Conv2dOptions::k(1)),
               mbf_conv_block<T, D>(width, width, nn::Conv2dOptions::k(3).strided(stride).padded(1).grouped(width)),
               mbf_linear_block<T, D>(width, out, nn::Conv2dOptions::k(1)))),
        residual_(residual) {
    check<ConfigError>(!residual || (stride == 1 && in == out), "MbfDepthWise(", in, "->", out, ", stride ", stride,
                       "): a residual unit needs stride 1 and equal channels");
  }

  Tensor<T, D> forward(const Tensor<T, D>& x) {
    Tensor<T, D> y = body_.forward(x);
    return residual_ ? ops::add(x, y) : y;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    Tensor<T, D> dx = body_.backward(dy);
    if (residual_) {
      if (dx.shares_storage_with(dy)) dx = dx.clone();
      ops::accumulate(dx, dy);
    }
    return dx;
  }
  void train(bool on = true) { body_.train(on); }
  bool is_training() const { return body_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) { body_.visit(v, p); }

 private:
  Body body_;
  bool residual_;
};

// arcface_torch's Residual: n residual DepthWise units under ".layers.{i}".
template <class T, class D>
using MbfResidualStack = LayersWrapper<nn::Repeat<MbfDepthWise<T, D>>>;

template <class T, class D>
MbfResidualStack<T, D> mbf_residual_stack(int64_t channels, int64_t width, int64_t units) {
  nn::Repeat<MbfDepthWise<T, D>> r;
  for (int64_t i = 0; i < units; ++i) r.push_back(MbfDepthWise<T, D>(channels, channels, width, 1, true));
  return MbfResidualStack<T, D>(std::move(r));
}

struct MobileFaceNetInsightfaceOptions {
  std::array<int64_t, 4> blocks{1, 4, 6, 2};  // "mbf"; blocks[0] must be 1 (mbf_large is not supported)
  int64_t scale = 2;
  int64_t embedding_size = 512;
  int64_t input_h = 112, input_w = 112;
};

template <class T, class D>
class MobileFaceNetInsightface {
 public:
  using value_type = T;
  using device_type = D;
  using BodyList = nn::Sequential<MbfConvBlock<T, D>, MbfConvBlock<T, D>, MbfDepthWise<T, D>, MbfResidualStack<T, D>,
                                  MbfDepthWise<T, D>, MbfResidualStack<T, D>, MbfDepthWise<T, D>,
                                  MbfResidualStack<T, D>>;
  using Body = LayersWrapper<BodyList>;
  using Gdc = nn::Sequential<MbfLinearBlock<T, D>, nn::Flatten<T, D>, nn::Linear<T, D>, nn::BatchNorm1d<T, D>>;
  using Features = LayersWrapper<Gdc>;

  explicit MobileFaceNetInsightface(const MobileFaceNetInsightfaceOptions& o = {})
      : options_(validated(o)), body_(make_body(o)),
        conv_sep_(mbf_conv_block<T, D>(128 * o.scale, 512, nn::Conv2dOptions::k(1))),
        features_(Gdc(mbf_linear_block<T, D>(512, 512, gdc_options(o)), nn::Flatten<T, D>(),
                      nn::Linear<T, D>(512, o.embedding_size, false), nn::BatchNorm1d<T, D>(o.embedding_size))) {
    body_.inner().template get<0>().inner().template get<0>().set_input_grad(false);
  }

  // x: [N, 3, input_h, input_w] RGB, (x - 127.5) / 127.5; returns [N, embedding_size].
  Tensor<T, D> forward(const Tensor<T, D>& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == 3 && x.h() == options_.input_h && x.w() == options_.input_w,
                      "MobileFaceNetInsightface: expected input [N, 3, ", options_.input_h, ", ", options_.input_w,
                      "], got ", x.shape().str());
    return features_.forward(conv_sep_.forward(body_.forward(x)));
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy) {
    return body_.backward(conv_sep_.backward(features_.backward(dy)));
  }
  void train(bool on = true) { body_.train(on), conv_sep_.train(on), features_.train(on); }
  void eval() { train(false); }
  bool is_training() const { return body_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& p) {
    body_.visit(v, p);  // the ModuleList "layers"
    conv_sep_.visit(v, nn::join_name(p, "conv_sep"));
    features_.visit(v, nn::join_name(p, "features"));
  }
  const MobileFaceNetInsightfaceOptions& options() const { return options_; }

 private:
  static const MobileFaceNetInsightfaceOptions& validated(const MobileFaceNetInsightfaceOptions& o) {
    check<ConfigError>(o.blocks[0] == 1, "MobileFaceNetInsightface: blocks[0] must be 1 (got ", o.blocks[0],
                       "; the mbf_large layout with a residual stack at layers.1 is not implemented)");
    check<ConfigError>(o.scale >= 1 && o.embedding_size > 0 && o.blocks[1] >= 0 && o.blocks[2] >= 0 &&
                           o.blocks[3] >= 0 && o.input_h > 0 && o.input_w > 0,
                       "MobileFaceNetInsightface: invalid options (scale ", o.scale, ", embedding ",
                       o.embedding_size, ", input ", o.input_h, "x", o.input_w, ")");
    return o;
  }
  // Expansion widths are fixed (128, 256, 512) as in arcface_torch; channels scale with `scale`.
  static Body make_body(const MobileFaceNetInsightfaceOptions& o) {
    const int64_t c1 = 64 * o.scale, c2 = 128 * o.scale;
    return Body(BodyList(mbf_conv_block<T, D>(3, c1, nn::Conv2dOptions::k(3).strided(2).padded(1)),
                 mbf_conv_block<T, D>(c1, c1, nn::Conv2dOptions::k(3).padded(1).grouped(64)),
                 MbfDepthWise<T, D>(c1, c1, 128, 2, false), mbf_residual_stack<T, D>(c1, 128, o.blocks[1]),
                 MbfDepthWise<T, D>(c1, c2, 256, 2, false), mbf_residual_stack<T, D>(c2, 256, o.blocks[2]),
                 MbfDepthWise<T, D>(c2, c2, 512, 2, false), mbf_residual_stack<T, D>(c2, 256, o.blocks[3])));
  }
  // Global depthwise conv over the whole final map (7x7 at 112x112).
  static nn::Conv2dOptions gdc_options(const MobileFaceNetInsightfaceOptions& o) {
    nn::Conv2dOptions c;
    c.kernel_h = (o.input_h + 15) / 16;
    c.kernel_w = (o.input_w + 15) / 16;
    c.groups = 512;
    return c;
  }
  MobileFaceNetInsightfaceOptions options_;
  Body body_;
  MbfConvBlock<T, D> conv_sep_;
  Features features_;
};

}  // namespace rfcf::models

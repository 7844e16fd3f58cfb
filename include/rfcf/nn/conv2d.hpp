#pragma once
// nn::Conv2d: 2-D convolution layer (torch.nn.Conv2d) on any device with a Conv2dOp<D>
// (include <rfcf/cpu.hpp> or <rfcf/cuda.cuh> for the implementation). For T = float it honours
// the thread's compute precision (rfcf::Autocast, core/precision.hpp): bf16 / fp16 tensor-core
// convolutions with fp32 accumulation; backward uses the precision of the forward.
#include <cmath>
#include <cstdint>
#include <string>

#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/fold_batch_norm.hpp"
#include "rfcf/ops/mixed_precision.hpp"
#include "rfcf/ops/functors/activation.hpp"
#include "rfcf/core/executor.hpp"

namespace rfcf::nn {

struct Conv2dOptions {
  int64_t kernel_h = 1, kernel_w = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = false;

  // A square kernel: Conv2dOptions::k(3).padded(1).
  static Conv2dOptions k(int64_t kernel) {
    Conv2dOptions o;
    o.kernel_h = o.kernel_w = kernel;
    return o;
  }
  Conv2dOptions strided(int64_t s) const { return with([&](Conv2dOptions& o) { o.stride = s; }); }
  Conv2dOptions padded(int64_t p) const { return with([&](Conv2dOptions& o) { o.padding = p; }); }
  Conv2dOptions dilated(int64_t d) const { return with([&](Conv2dOptions& o) { o.dilation = d; }); }
  Conv2dOptions grouped(int64_t g) const { return with([&](Conv2dOptions& o) { o.groups = g; }); }
  Conv2dOptions with_bias(bool on = true) const { return with([&](Conv2dOptions& o) { o.bias = on; }); }

  ops::Conv2dGeometry geometry() const {
    ops::Conv2dGeometry g;
    g.kernel_h = kernel_h, g.kernel_w = kernel_w, g.stride_h = g.stride_w = stride;
    g.pad_h = g.pad_w = padding, g.dilation_h = g.dilation_w = dilation, g.groups = groups;
    return g;
  }

 private:
  template <class F>
  Conv2dOptions with(F&& f) const {
    Conv2dOptions o = *this;
    f(o);
    return o;
  }
};

template <class T, class D>
class Conv2d : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  // PyTorch's default initialisation: kaiming_uniform(a = sqrt(5)) on the weight, bias
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  Conv2d(int64_t in_channels, int64_t out_channels, Conv2dOptions o = {}, Generator& gen = default_generator())
      : options_(o), geometry_(o.geometry()) {
    check<ConfigError>(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
                           out_channels % o.groups == 0,
                       "Conv2d(", in_channels, ", ", out_channels, "): channels must be positive multiples of groups = ",
                       o.groups);
    check<ConfigError>(o.kernel_h > 0 && o.kernel_w > 0 && o.stride > 0 && o.padding >= 0 && o.dilation > 0,
                       "Conv2d(", in_channels, ", ", out_channels, "): invalid kernel ", o.kernel_h, "x", o.kernel_w,
                       ", stride ", o.stride, ", padding ", o.padding, ", dilation ", o.dilation);
    weight_ = Parameter<T, D>(Shape{out_channels, in_channels / o.groups, o.kernel_h, o.kernel_w});
    init::kaiming_uniform(weight_.value, gen, std::sqrt(5.0));
    if (o.bias) {
      bias_ = Parameter<T, D>(Shape{out_channels});
      init::bias_uniform(bias_.value, gen, init::fan_in(weight_.shape()));
    }
  }

  tensor_type forward(const tensor_type& x) {
    check<ShapeError>(x.rank() == 4 && x.c() == in_channels(), "Conv2d(", in_channels(), ", ", out_channels(),
                      "): expected input [N,", in_channels(), ",H,W], got ", x.shape().str());
    if (fused_) return fused_forward(x);
    const ComputePrecision p = compute_precision_for<T>();
    tensor_type y = ops::conv2d_forward(p, geometry_, x, weight_.value, has_bias() ? &bias_.value : nullptr);
    if (grad_enabled()) {
      x_ = x;
      precision_ = p;
    }
    return y;
  }

  // Accumulates weight/bias gradients; returns dL/dx, or an empty tensor after set_input_grad(false).
  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_.defined(), "Conv2d::backward called without a forward in grad mode");
    const bool params_frozen = weight_.frozen && (!has_bias() || bias_.frozen);
    if (!params_frozen)
      ops::conv2d_backward_weight(precision_, geometry_, x_, dy, weight_.grad, has_bias() ? &bias_.grad : nullptr);
    tensor_type dx;
    if (input_grad_) dx = ops::conv2d_backward_data(precision_, geometry_, dy, weight_.value, x_.shape());
    return dx;
  }

  // Inference fusion: folds a following batch norm (its running statistics) into this
  // convolution's weight and bias, and optionally applies a following LeakyReLU in place, so
  // that eval-mode inference makes one pass over the activations instead of three. The layer
  // then only runs in eval mode without gradients; reload the weights to train again.
  template <class BN>
  void fuse_batch_norm(const BN& bn) {
    const tensor_type& w = fused_ ? fused_weight_ : weight_.value;
    const tensor_type b = fused_ ? fused_bias_ : (has_bias() ? bias_.value : tensor_type{});
    auto folded = ops::fold_batch_norm(w, b, bn);
    fused_weight_ = folded.weight;
    fused_bias_ = folded.bias;
    fused_ = true;
  }
  void fuse_leaky_relu(T slope) {
    check<ConfigError>(fused_, "Conv2d: fuse a batch norm before an activation");
    fused_act_ = true;
    fused_slope_ = slope;
  }
  bool fused() const { return fused_; }
  void train(bool on = true) {
    check<ConfigError>(!(on && fused_), "Conv2d: this layer was fused for inference; reload its weights to train");
    training_ = on;
  }

  // A first layer does not need dL/dx; turning it off skips that computation.
  void set_input_grad(bool on) { input_grad_ = on; }
  bool input_grad() const { return input_grad_; }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(join_name(prefix, "weight"), weight_);
    if (has_bias()) v.parameter(join_name(prefix, "bias"), bias_);
  }

  Parameter<T, D>& weight() { return weight_; }
  Parameter<T, D>& bias() {
    check<Error>(has_bias(), "Conv2d has no bias (construct it with Conv2dOptions::with_bias())");
    return bias_;
  }
  bool has_bias() const { return options_.bias; }
  const Conv2dOptions& options() const { return options_; }
  const ops::Conv2dGeometry& geometry() const { return geometry_; }
  int64_t in_channels() const { return weight_.shape()[1] * options_.groups; }
  int64_t out_channels() const { return weight_.shape()[0]; }

 private:
  Conv2dOptions options_;
  ops::Conv2dGeometry geometry_;
  Parameter<T, D> weight_, bias_;
  Tensor<T, D> x_;
  ComputePrecision precision_ = ComputePrecision::fp32;  // of the cached forward
  bool fused_ = false, fused_act_ = false;
  T fused_slope_ = T(0);
  tensor_type fused_weight_, fused_bias_;

  tensor_type fused_forward(const tensor_type& x) {
    check<ConfigError>(!training_ && !grad_enabled(), "Conv2d: a layer fused for inference runs in eval mode "
                       "without gradients (use nn::NoGradGuard)");
    tensor_type y = ops::Conv2dOp<D>::forward(geometry_, x, fused_weight_, &fused_bias_);
    if (fused_act_) Executor<D>::for_each(y.numel(), functors::LeakyReluForward<T>{y.data(), y.data(), fused_slope_});
    return y;
  }
  bool input_grad_ = true;
};

}  // namespace rfcf::nn

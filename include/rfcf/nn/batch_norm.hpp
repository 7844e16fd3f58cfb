#pragma once
// BatchNorm2d on [N, C, H, W] and BatchNorm1d on [N, C] (or [N, C, L]), as torch.nn.BatchNorm*d:
//   training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias with the batch statistics
//             (biased variance); running = (1 - momentum) * running + momentum * batch, with the
//             unbiased variance for running_var; num_batches_tracked += 1.
//   eval:     the same with running_mean / running_var.
// Backward is exact in both modes (train mode differentiates through the batch statistics).
// A frozen parameter (Parameter::frozen, e.g. arcface_torch's `features` BN weight fixed at 1)
// gets no gradient: its grad stays zero, as a PyTorch tensor with requires_grad = False has none.
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/batch_norm.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/functors/batch_norm.hpp"

namespace rfcf::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;  // false: no weight/bias (y = xhat)
};

namespace detail {

template <class T, class D>
class BatchNormBase : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  int64_t channels() const { return channels_; }
  const BatchNormOptions& options() const { return options_; }
  bool affine() const { return options_.affine; }
  Parameter<T, D>& weight() { return weight_; }
  Parameter<T, D>& bias() { return bias_; }
  const Parameter<T, D>& weight() const { return weight_; }
  const Parameter<T, D>& bias() const { return bias_; }
  tensor_type& running_mean() { return running_mean_; }
  tensor_type& running_var() { return running_var_; }
  const tensor_type& running_mean() const { return running_mean_; }
  const tensor_type& running_var() const { return running_var_; }
  int64_t num_batches_tracked() const { return num_batches_tracked_; }

  // Sets the weight to `value` and excludes it from training (arcface_torch `features`).
  void freeze_weight(double value = 1.0) {
    check<ConfigError>(options_.affine, name_, ": freeze_weight needs affine = true");
    fill(weight_.value, static_cast<T>(value));
    fill(weight_.grad, T(0));
    weight_.frozen = true;
  }

  tensor_type forward(const tensor_type& x) {
    if (bypass_) return x;  // folded into the preceding convolution (Conv2d::fuse_batch_norm)
    check<ShapeError>(x.rank() >= min_rank_ && x.rank() <= max_rank_ && x.dim(1) == channels_, name_, "(",
                      channels_, "): expected [N, ", channels_, rank_hint_, "], got ", x.shape().str());
    int64_t inner = 1;
    for (int i = 2; i < x.rank(); ++i) inner *= x.dim(i);
    const int64_t outer = x.dim(0), c = channels_, m = outer * inner;
    const T* w = options_.affine ? weight_.value.data() : nullptr;
    const T* b = options_.affine ? bias_.value.data() : nullptr;
    tensor_type mean(Shape{c}), invstd(Shape{c}), scale(Shape{c});
    if (training_) {
      check<ShapeError>(m > 1, name_, ": training needs more than one value per channel, got input ",
                        x.shape().str());
      tensor_type var(Shape{c});
      ops::BatchNormOp<D>::stats(x.data(), outer, c, inner, mean.data(), var.data());
      Executor<D>::for_each(c, functors::BatchNormChannelAffine<T>{mean.data(), var.data(), w, b, invstd.data(),
                                                                   scale.data(), nullptr, eps()});
      Executor<D>::for_each(c, functors::BatchNormRunningUpdate<T>{
                                   mean.data(), var.data(), running_mean_.data(), running_var_.data(),
                                   static_cast<T>(options_.momentum),
                                   static_cast<T>(static_cast<double>(m) / static_cast<double>(m - 1))});
      ++num_batches_tracked_;
    } else {
      mean = running_mean_.clone();  // backward must see the statistics of this forward
      Executor<D>::for_each(c, functors::BatchNormChannelAffine<T>{mean.data(), running_var_.data(), w, b,
                                                                   invstd.data(), scale.data(), nullptr,
                                                                   eps()});
    }
    tensor_type y(x.shape());
    if constexpr (std::is_same_v<D, cpu>) {  // plane-wise host loop, same math (ops/cpu/batch_norm.hpp)
      ops::BatchNormOp<D>::apply(x.data(), mean.data(), scale.data(), b, y.data(), outer, c, inner);
    } else {
      Executor<D>::for_each(x.numel(),
                            functors::BatchNormApply<T>{x.data(), mean.data(), scale.data(), b, y.data(),
                                                         functors::ChannelOf(c, inner, x.numel())});
    }
    if (grad_enabled()) {
      cache_ = Cache{x, mean, invstd, scale, inner, training_};
    } else {
      cache_ = Cache{};
    }
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    check<Error>(cache_.x.defined(), name_, "::backward called without a forward in grad mode");
    check_same_shape(dy, cache_.x, name_ + "::backward");
    const int64_t c = channels_, inner = cache_.inner, m = cache_.x.numel() / c;
    const bool grad_w = options_.affine && !weight_.frozen;
    const bool grad_b = options_.affine && !bias_.frozen;
    tensor_type dx(dy.shape());
    tensor_type sum_dy, sum_dy_xhat;
    if (cache_.training || grad_w || grad_b) {
      sum_dy = tensor_type(Shape{c});
      sum_dy_xhat = tensor_type(Shape{c});
      ops::BatchNormOp<D>::backward_reduce(cache_.x.data(), dy.data(), cache_.mean.data(), cache_.invstd.data(),
                                           cache_.x.dim(0), c, inner, sum_dy.data(), sum_dy_xhat.data());
    }
    if (cache_.training) {
      const T inv_m = static_cast<T>(1.0 / static_cast<double>(m));
      if constexpr (std::is_same_v<D, cpu>) {
        ops::BatchNormOp<D>::backward_train(cache_.x.data(), dy.data(), cache_.mean.data(), cache_.invstd.data(),
                                            cache_.scale.data(), sum_dy.data(), sum_dy_xhat.data(), dx.data(), inv_m,
                                            cache_.x.dim(0), c, inner);
      } else {
        Executor<D>::for_each(dy.numel(), functors::BatchNormBackwardTrain<T>{
                                              cache_.x.data(), dy.data(), cache_.mean.data(), cache_.invstd.data(),
                                              cache_.scale.data(), sum_dy.data(), sum_dy_xhat.data(), dx.data(),
                                              inv_m, functors::ChannelOf(c, inner, dy.numel())});
      }
    } else {
      Executor<D>::for_each(dy.numel(), functors::BatchNormBackwardEval<T>{dy.data(), cache_.scale.data(), dx.data(),
                                                                   functors::ChannelOf(c, inner, dy.numel())});
    }
    if (grad_w) ops::accumulate(weight_.grad, sum_dy_xhat);
    if (grad_b) ops::accumulate(bias_.grad, sum_dy);
    return dx;
  }

  // PyTorch state_dict order: weight, bias, running_mean, running_var, num_batches_tracked.
  template <class V>
  void visit(V& v, const std::string& prefix) {
    if (options_.affine) {
      v.parameter(join_name(prefix, "weight"), weight_);
      v.parameter(join_name(prefix, "bias"), bias_);
    }
    v.buffer(join_name(prefix, "running_mean"), running_mean_);
    v.buffer(join_name(prefix, "running_var"), running_var_);
    v.counter(join_name(prefix, "num_batches_tracked"), num_batches_tracked_);
  }

  // Inference fusion: the preceding convolution applies this normalisation; forward is the identity.
  void set_bypass(bool on) { bypass_ = on; }
  bool bypassed() const { return bypass_; }
  void train(bool on = true) {
    check<ConfigError>(!(on && bypass_), name_, ": folded into a convolution for inference; reload the weights to train");
    this->training_ = on;
  }

 protected:
  BatchNormBase(int64_t channels, BatchNormOptions options, std::string name, int min_rank, int max_rank,
                const char* rank_hint)
      : channels_(channels), options_(options), name_(std::move(name)), min_rank_(min_rank), max_rank_(max_rank),
        rank_hint_(rank_hint) {
    check<ConfigError>(channels > 0, name_, ": channel count must be positive, got ", channels);
    check<ConfigError>(options.eps > 0, name_, ": eps must be positive, got ", options.eps);
    check<ConfigError>(options.momentum >= 0 && options.momentum <= 1, name_, ": momentum must be in [0, 1], got ",
                       options.momentum);
    if (options.affine) {
      weight_ = Parameter<T, D>(Shape{channels});
      bias_ = Parameter<T, D>(Shape{channels});
      fill(weight_.value, T(1));
      fill(bias_.value, T(0));
    }
    running_mean_ = zeros<T, D>(Shape{channels});
    running_var_ = ones<T, D>(Shape{channels});
  }

  bool bypass_ = false;
 private:
  struct Cache {
    tensor_type x, mean, invstd, scale;
    int64_t inner = 1;
    bool training = false;
  };
  T eps() const { return static_cast<T>(options_.eps); }

  int64_t channels_;
  BatchNormOptions options_;
  std::string name_;
  int min_rank_, max_rank_;
  const char* rank_hint_;
  Parameter<T, D> weight_, bias_;
  tensor_type running_mean_, running_var_;
  int64_t num_batches_tracked_ = 0;
  Cache cache_;
};

}  // namespace detail

template <class T, class D>
class BatchNorm2d : public detail::BatchNormBase<T, D> {
 public:
  explicit BatchNorm2d(int64_t channels, BatchNormOptions options = {})
      : detail::BatchNormBase<T, D>(channels, options, "BatchNorm2d", 4, 4, ", H, W") {}
};

// On [N, C] (or [N, C, L], statistics over N and L).
template <class T, class D>
class BatchNorm1d : public detail::BatchNormBase<T, D> {
 public:
  explicit BatchNorm1d(int64_t channels, BatchNormOptions options = {})
      : detail::BatchNormBase<T, D>(channels, options, "BatchNorm1d", 2, 3, "] or [N, C, L") {}
};

}  // namespace rfcf::nn

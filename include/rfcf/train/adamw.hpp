#pragma once
// train::AdamW: torch.optim.AdamW (amsgrad = False) over a model's FlatParameters.
//   p *= 1 - lr*wd                          (decoupled decay, segments with weight_decay only)
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)     (t = 1, 2, ... is the step count)
#include <cmath>
#include <cstdint>
#include <string>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/train/functors.hpp"
#include "rfcf/train/parameter_flags.hpp"

namespace rfcf::train {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

template <class T, class D>
class AdamW {
 public:
  AdamW(nn::FlatParameters<T, D>& params, AdamWOptions options) : params_(&params), options_(options) {
    check<ConfigError>(options.lr >= 0, "AdamW: learning rate must be >= 0, got ", options.lr);
    check<ConfigError>(options.eps >= 0, "AdamW: eps must be >= 0, got ", options.eps);
    check<ConfigError>(options.beta1 >= 0 && options.beta1 < 1, "AdamW: beta1 must be in [0, 1), got ", options.beta1);
    check<ConfigError>(options.beta2 >= 0 && options.beta2 < 1, "AdamW: beta2 must be in [0, 1), got ", options.beta2);
    check<ConfigError>(options.weight_decay >= 0, "AdamW: weight_decay must be >= 0, got ", options.weight_decay);
    flags_ = ParameterFlags<D>(params.segments(), params.numel());
    exp_avg_ = zeros<T, D>(Shape{params.numel()});
    exp_avg_sq_ = zeros<T, D>(Shape{params.numel()});
  }

  void step() {
    ++steps_;
    const int64_t n = params_->numel();
    if (n == 0) return;
    const double t = static_cast<double>(steps_);
    const double bc1 = 1.0 - std::pow(options_.beta1, t);
    const double bc2 = 1.0 - std::pow(options_.beta2, t);
    functors::AdamWStep<T> f{params_->values().data(),
                             params_->grads().data(),
                             exp_avg_.data(),
                             exp_avg_sq_.data(),
                             flags_.data(),
                             static_cast<T>(1.0 - options_.lr * options_.weight_decay),
                             static_cast<T>(options_.beta1),
                             static_cast<T>(options_.beta2),
                             static_cast<T>(options_.lr / bc1),
                             static_cast<T>(std::sqrt(bc2)),
                             static_cast<T>(options_.eps)};
    Executor<D>::for_each(n, f);
  }

  void zero_grad() { params_->zero_grad(); }
  double lr() const { return options_.lr; }
  void set_lr(double lr) {
    check<ConfigError>(lr >= 0, "AdamW: learning rate must be >= 0, got ", lr);
    options_.lr = lr;
  }
  const AdamWOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }
  nn::FlatParameters<T, D>& parameters() { return *params_; }
  Tensor<T, D>& exp_avg() { return exp_avg_; }
  Tensor<T, D>& exp_avg_sq() { return exp_avg_sq_; }

  // State for checkpoints: counter("step"), buffer("<param>.exp_avg"), buffer("<param>.exp_avg_sq").
  template <class V>
  void visit_state(V& v, const std::string& prefix = "optimizer") {
    v.counter(nn::join_name(prefix, "step"), steps_);
    auto emit = [&](const std::string& name, Tensor<T, D>& t) { v.buffer(nn::join_name(prefix, name), t); };
    for_each_state_view(params_->segments(), exp_avg_, "exp_avg", emit);
    for_each_state_view(params_->segments(), exp_avg_sq_, "exp_avg_sq", emit);
  }

 private:
  nn::FlatParameters<T, D>* params_;
  AdamWOptions options_;
  ParameterFlags<D> flags_;
  Tensor<T, D> exp_avg_, exp_avg_sq_;
  int64_t steps_ = 0;
};

}  // namespace rfcf::train

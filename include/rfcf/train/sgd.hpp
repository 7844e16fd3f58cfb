#pragma once
// train::SGD: torch.optim.SGD over a model's FlatParameters, one functor pass per step.
//   g = grad + wd*p                         (only on segments with weight_decay = true)
//   buf = g (first step) or momentum*buf + (1 - dampening)*g
//   g = g + momentum*buf (nesterov) or buf
//   p -= lr*g                               (frozen segments are never touched)
// The learning rate is a runtime value: set it from a schedule with set_lr() before step().
#include <cstdint>
#include <string>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/train/functors.hpp"
#include "rfcf/train/parameter_flags.hpp"

namespace rfcf::train {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <class T, class D>
class SGD {
 public:
  // `params` must outlive the optimizer and keep its layout (build it once, before).
  SGD(nn::FlatParameters<T, D>& params, SGDOptions options) : params_(&params), options_(options) {
    check<ConfigError>(options.lr >= 0, "SGD: learning rate must be >= 0, got ", options.lr);
    check<ConfigError>(options.momentum >= 0, "SGD: momentum must be >= 0, got ", options.momentum);
    check<ConfigError>(options.weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", options.weight_decay);
    check<ConfigError>(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
                       "SGD: Nesterov momentum requires momentum > 0 and dampening 0 (got momentum ",
                       options.momentum, ", dampening ", options.dampening, ")");
    flags_ = ParameterFlags<D>(params.segments(), params.numel());
    if (options.momentum != 0) momentum_buffer_ = zeros<T, D>(Shape{params.numel()});
  }

  void step() {
    const int64_t n = params_->numel();
    if (n == 0) {
      ++steps_;
      return;
    }
    functors::SgdStep<T> f{params_->values().data(),
                           params_->grads().data(),
                           momentum_buffer_.defined() ? momentum_buffer_.data() : nullptr,
                           flags_.data(),
                           static_cast<T>(options_.lr),
                           static_cast<T>(options_.momentum),
                           static_cast<T>(options_.dampening),
                           static_cast<T>(options_.weight_decay),
                           options_.nesterov,
                           steps_ == 0};
    Executor<D>::for_each(n, f);
    ++steps_;
  }

  void zero_grad() { params_->zero_grad(); }
  double lr() const { return options_.lr; }
  void set_lr(double lr) {
    check<ConfigError>(lr >= 0, "SGD: learning rate must be >= 0, got ", lr);
    options_.lr = lr;
  }
  const SGDOptions& options() const { return options_; }
  // Number of step() calls so far (the first step initialises the momentum buffer).
  int64_t steps() const { return steps_; }
  nn::FlatParameters<T, D>& parameters() { return *params_; }
  // The flat momentum buffer (undefined when momentum is 0).
  Tensor<T, D>& momentum_buffer() { return momentum_buffer_; }

  // State for checkpoints, with the layer visitor protocol: buffer("<param>.momentum_buffer",
  // view) per parameter and counter("step", steps). Views alias the flat buffer, so a loader
  // that copies into them restores the state.
  template <class V>
  void visit_state(V& v, const std::string& prefix = "optimizer") {
    v.counter(nn::join_name(prefix, "step"), steps_);
    if (!momentum_buffer_.defined()) return;
    for_each_state_view(params_->segments(), momentum_buffer_, "momentum_buffer",
                        [&](const std::string& name, Tensor<T, D>& t) { v.buffer(nn::join_name(prefix, name), t); });
  }

 private:
  nn::FlatParameters<T, D>* params_;
  SGDOptions options_;
  ParameterFlags<D> flags_;
  Tensor<T, D> momentum_buffer_;
  int64_t steps_ = 0;
};

}  // namespace rfcf::train

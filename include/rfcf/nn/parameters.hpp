#pragma once
// One flat buffer for all parameters (and one for their gradients) of a model, so an
// optimizer updates everything in one pass (one kernel on the GPU). Each layer's
// Parameter tensors become views into the flat buffers.
#include <string>
#include <vector>

#include "rfcf/core/fill.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

struct ParameterSegment {
  std::string name;
  int64_t offset = 0;  // in elements, in the flat buffer
  int64_t numel = 0;
  bool weight_decay = true;
  bool frozen = false;
};

template <class T, class D>
class FlatParameters {
 public:
  FlatParameters() = default;

  // Moves every parameter of `model` into one flat value buffer and one flat gradient
  // buffer (gradients keep their current values). Call again after adding layers.
  template <class Model>
  explicit FlatParameters(Model& model) {
    std::vector<Parameter<T, D>*> params;
    int64_t total = 0;
    for_each_parameter(model, [&](const std::string& name, Parameter<T, D>& p) {
      segments_.push_back({name, total, p.value.numel(), p.weight_decay, p.frozen});
      params.push_back(&p);
      // 16-element alignment keeps every parameter 64-byte aligned for vector loads.
      total += (p.value.numel() + 15) / 16 * 16;
    });
    values_ = zeros<T, D>(Shape{total});
    grads_ = zeros<T, D>(Shape{total});
    for (size_t i = 0; i < params.size(); ++i) {
      Parameter<T, D>& p = *params[i];
      const ParameterSegment& s = segments_[i];
      Tensor<T, D> v = values_.slice_batch(s.offset, s.numel).reshape(p.value.shape());
      Tensor<T, D> g = grads_.slice_batch(s.offset, s.numel).reshape(p.value.shape());
      v.copy_from(p.value);
      if (p.grad.defined()) g.copy_from(p.grad);
      p.value = v;
      p.grad = g;
    }
  }

  Tensor<T, D>& values() { return values_; }
  Tensor<T, D>& grads() { return grads_; }
  const std::vector<ParameterSegment>& segments() const { return segments_; }
  int64_t numel() const { return values_.defined() ? values_.numel() : 0; }
  void zero_grad() {
    if (grads_.defined()) fill(grads_, T(0));
  }

 private:
  Tensor<T, D> values_, grads_;
  std::vector<ParameterSegment> segments_;
};

}  // namespace rfcf::nn

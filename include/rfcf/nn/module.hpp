#pragma once
// The layer concept. A layer owns its parameters and whatever it must remember between
// forward and backward:
//   Tensor forward(const Tensor& x);   caches what backward needs when grad mode is on
//   Tensor backward(const Tensor& dy); returns dL/dx and ACCUMULATES parameter gradients
//   void train(bool); bool is_training() const;
//   template <class V> void visit(V& v, const std::string& prefix);
// The visitor receives v.parameter(name, Parameter&), v.buffer(name, Tensor&) and
// v.counter(name, int64_t&) with PyTorch-style dotted names ("body.stage1.0.1.weight").
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "rfcf/core/fill.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::nn {

// Grad mode: when off (inference), layers cache nothing for backward.
inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool grad_enabled() { return grad_mode_flag(); }

// RAII: disables caching for backward in this thread (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode_flag()) { grad_mode_flag() = false; }
  ~NoGradGuard() { grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// A trainable tensor and its gradient. After flatten_parameters() both are views into one
// flat buffer per model, so optimizers update everything in one pass.
template <class T, class D>
struct Parameter {
  Tensor<T, D> value;
  Tensor<T, D> grad;
  bool weight_decay = true;  // optimizers may skip decay for BN parameters on request
  bool frozen = false;       // a frozen parameter is never updated (e.g. a fixed BN weight)

  Parameter() = default;
  explicit Parameter(const Shape& s) : value(s), grad(zeros<T, D>(s)) {}
  const Shape& shape() const { return value.shape(); }
};

inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  if (name.empty()) return std::string(prefix);
  std::string s(prefix);
  s += '.';
  s += name;
  return s;
}

// Common state of primitive layers: train/eval mode and no parameters by default.
class LayerBase {
 public:
  void train(bool on = true) { training_ = on; }
  void eval() { train(false); }
  bool is_training() const { return training_; }
  template <class V>
  void visit(V&, const std::string&) {}

 protected:
  bool training_ = true;
};

template <class L>
concept Layer = requires(L& l, const Tensor<typename L::value_type, typename L::device_type>& x) {
  { l.forward(x) } -> std::same_as<Tensor<typename L::value_type, typename L::device_type>>;
  { l.backward(x) } -> std::same_as<Tensor<typename L::value_type, typename L::device_type>>;
  l.train(true);
  { l.is_training() } -> std::convertible_to<bool>;
};

// Visitor adaptors: call f(name, Parameter&) / f(name, Tensor&) for one kind only.
template <class F>
struct ParameterVisitor {
  F f;
  template <class P>
  void parameter(const std::string& name, P& p) { f(name, p); }
  template <class B>
  void buffer(const std::string&, B&) {}
  void counter(const std::string&, int64_t&) {}
};
template <class F>
struct BufferVisitor {
  F f;
  template <class P>
  void parameter(const std::string&, P&) {}
  template <class B>
  void buffer(const std::string& name, B& b) { f(name, b); }
  void counter(const std::string&, int64_t&) {}
};

template <class L, class F>
void for_each_parameter(L& layer, F&& f, const std::string& prefix = "") {
  ParameterVisitor<F&> v{f};
  layer.visit(v, prefix);
}
template <class L, class F>
void for_each_buffer(L& layer, F&& f, const std::string& prefix = "") {
  BufferVisitor<F&> v{f};
  layer.visit(v, prefix);
}

// Inference fusion (conv + batch norm + LeakyReLU in one pass): composites forward the call to
// their children; layers without fusion ignore it.
template <class L>
void fuse_for_inference(L& layer) {
  if constexpr (requires { layer.fuse_for_inference(); }) layer.fuse_for_inference();
}

// Sets every parameter gradient of a layer to zero.
template <class L>
void zero_grad(L& layer) {
  for_each_parameter(layer, [](const std::string&, auto& p) { fill(p.grad, typename std::decay_t<decltype(p.grad)>::value_type(0)); });
}

template <class L>
int64_t parameter_count(L& layer) {
  int64_t n = 0;
  for_each_parameter(layer, [&](const std::string&, auto& p) { n += p.value.numel(); });
  return n;
}

}  // namespace rfcf::nn

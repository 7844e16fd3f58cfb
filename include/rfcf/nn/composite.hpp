#pragma once
// Composition templates beyond Sequential: Identity, Residual (add), Concat (parallel
// branches on one input, outputs joined along channels) and a runtime Repeat.
// Each generates its backward from its children.
#include <array>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "rfcf/nn/backward_hook.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/concat.hpp"
#include "rfcf/ops/elementwise.hpp"

namespace rfcf::nn {

template <class T, class D>
class Identity : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  Tensor<T, D> forward(const Tensor<T, D>& x) { return x; }
  Tensor<T, D> backward(const Tensor<T, D>& dy) { return dy; }
};

// y = body(x) + shortcut(x). With the default Identity shortcut this is a plain residual.
template <class Body, class Shortcut = Identity<typename Body::value_type, typename Body::device_type>>
class Residual {
 public:
  using value_type = typename Body::value_type;
  using device_type = typename Body::device_type;
  using tensor_type = Tensor<value_type, device_type>;

  explicit Residual(Body body, Shortcut shortcut = Shortcut{}, std::string body_name = "body",
                    std::string shortcut_name = "shortcut")
      : body_(std::move(body)), shortcut_(std::move(shortcut)), body_name_(std::move(body_name)),
        shortcut_name_(std::move(shortcut_name)) {}

  tensor_type forward(const tensor_type& x) {
    tensor_type a = body_.forward(x);
    tensor_type b = shortcut_.forward(x);
    check<ShapeError>(a.shape() == b.shape(), "Residual '", body_name_, "': body output ", a.shape().str(),
                      " and shortcut output ", b.shape().str(), " differ");
    return ops::add(a, b);
  }
  tensor_type backward(const tensor_type& dy) {
    tensor_type dx = body_.backward(dy);
    backward_done(body_);
    tensor_type ds = shortcut_.backward(dy);
    backward_done(shortcut_);
    if (dx.shares_storage_with(dy)) dx = dx.clone();  // never accumulate into the caller's gradient
    ops::accumulate(dx, ds);
    return dx;
  }
  void train(bool on = true) { body_.train(on); shortcut_.train(on); }
  void eval() { train(false); }
  bool is_training() const { return body_.is_training(); }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    body_.visit(v, join_name(prefix, body_name_));
    shortcut_.visit(v, join_name(prefix, shortcut_name_));
  }
  void fuse_for_inference() {
    nn::fuse_for_inference(body_);
    nn::fuse_for_inference(shortcut_);
  }
  Body& body() { return body_; }
  Shortcut& shortcut() { return shortcut_; }

 private:
  Body body_;
  Shortcut shortcut_;
  std::string body_name_, shortcut_name_;
};

// Parallel branches on the same input; outputs concatenated along channels.
template <class B0, class... Bs>
class Concat {
 public:
  using value_type = typename B0::value_type;
  using device_type = typename B0::device_type;
  using tensor_type = Tensor<value_type, device_type>;
  static constexpr size_t size = 1 + sizeof...(Bs);

  explicit Concat(B0 b0, Bs... bs) : branches_(std::move(b0), std::move(bs)...) {
    for (size_t i = 0; i < size; ++i) names_[i] = std::to_string(i);
  }
  Concat& named(const std::array<std::string, size>& names) {
    names_ = names;
    return *this;
  }
  template <size_t I>
  auto& get() { return std::get<I>(branches_); }

  tensor_type forward(const tensor_type& x) {
    std::vector<tensor_type> outs;
    outs.reserve(size);
    std::apply([&](auto&... b) { (outs.push_back(b.forward(x)), ...); }, branches_);
    channels_.clear();
    for (const auto& o : outs) channels_.push_back(o.dim(1));
    return ops::concat_channels(outs);
  }
  tensor_type backward(const tensor_type& dy) {
    tensor_type dx;
    int64_t offset = 0;
    size_t i = 0;
    auto one = [&](auto& b) {
      tensor_type part = ops::slice_channels(dy, offset, channels_[i]);
      offset += channels_[i++];
      tensor_type g = b.backward(part);
      backward_done(b);
      if (!dx.defined()) dx = g.shares_storage_with(part) ? g : g.clone();
      else ops::accumulate(dx, g);
    };
    std::apply([&](auto&... b) { (one(b), ...); }, branches_);
    return dx;
  }
  void train(bool on = true) {
    std::apply([&](auto&... b) { (b.train(on), ...); }, branches_);
  }
  void fuse_for_inference() {
    std::apply([&](auto&... b) { (nn::fuse_for_inference(b), ...); }, branches_);
  }
  void eval() { train(false); }
  bool is_training() const { return std::get<0>(branches_).is_training(); }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    visit_each(v, prefix, std::make_index_sequence<size>{});
  }

 private:
  template <class V, size_t... I>
  void visit_each(V& v, const std::string& prefix, std::index_sequence<I...>) {
    (std::get<I>(branches_).visit(v, join_name(prefix, names_[I])), ...);
  }
  std::tuple<B0, Bs...> branches_;
  std::array<std::string, size> names_;
  std::vector<int64_t> channels_;
};

// A runtime number of layers of one type (long identical stacks such as IResNet stages).
template <class L>
class Repeat {
 public:
  using value_type = typename L::value_type;
  using device_type = typename L::device_type;
  using tensor_type = Tensor<value_type, device_type>;

  Repeat() = default;
  explicit Repeat(std::vector<L> layers) : layers_(std::move(layers)) {}
  void push_back(L l) { layers_.push_back(std::move(l)); }
  size_t size() const { return layers_.size(); }
  L& operator[](size_t i) { return layers_[i]; }

  tensor_type forward(const tensor_type& x) {
    tensor_type y = x;
    for (auto& l : layers_) y = l.forward(y);
    return y;
  }
  tensor_type backward(const tensor_type& dy) {
    tensor_type g = dy;
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
      g = it->backward(g);
      backward_done(*it);
    }
    return g;
  }
  void train(bool on = true) {
    training_ = on;
    for (auto& l : layers_) l.train(on);
  }
  void fuse_for_inference() {
    for (auto& l : layers_) nn::fuse_for_inference(l);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    for (size_t i = 0; i < layers_.size(); ++i) layers_[i].visit(v, join_name(prefix, std::to_string(i)));
  }

 private:
  std::vector<L> layers_;
  bool training_ = true;
};

}  // namespace rfcf::nn

#pragma once
// Sequential<Ls...>: layers applied in order, stored flat in a std::tuple and walked with
// fold expressions. Children are named "0", "1", ... like torch.nn.Sequential (layers
// without parameters still take an index), or by explicit names via named().
#include <array>
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "rfcf/nn/backward_hook.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

template <class L0, class... Ls>
class Sequential {
 public:
  using value_type = typename L0::value_type;
  using device_type = typename L0::device_type;
  using tensor_type = Tensor<value_type, device_type>;
  static constexpr size_t size = 1 + sizeof...(Ls);

  explicit Sequential(L0 l0, Ls... ls) : layers_(std::move(l0), std::move(ls)...) {
    for (size_t i = 0; i < size; ++i) names_[i] = std::to_string(i);
  }

  // Gives the children names instead of indices (e.g. {"conv", "bn", "prelu"}).
  Sequential& named(const std::array<std::string, size>& names) {
    names_ = names;
    return *this;
  }

  template <size_t I>
  auto& get() { return std::get<I>(layers_); }
  template <size_t I>
  const auto& get() const { return std::get<I>(layers_); }

  tensor_type forward(const tensor_type& x) {
    tensor_type y = x;
    std::apply([&](auto&... l) { ((y = l.forward(y)), ...); }, layers_);
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    return backward_from<size - 1>(dy);
  }

  void train(bool on = true) {
    std::apply([&](auto&... l) { (l.train(on), ...); }, layers_);
  }
  void eval() { train(false); }
  bool is_training() const { return std::get<0>(layers_).is_training(); }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    visit_each(v, prefix, std::make_index_sequence<size>{});
  }

  // Folds every (convolution, batch norm[, LeakyReLU]) run of children into the convolution
  // for eval-mode inference (Conv2d::fuse_batch_norm); other children fuse their own insides.
  void fuse_for_inference() { fuse_from<0>(); }

 private:
  template <size_t I>
  void fuse_from() {
    if constexpr (I < size) {
      if (!fuse_run<I>()) nn::fuse_for_inference(std::get<I>(layers_));
      fuse_from<I + 1>();
    }
  }
  // Folds children I+1 (a batch norm) and I+2 (a LeakyReLU) into child I (a Conv2d) when the
  // types fit; returns whether child I was fused. (Nested `if constexpr`s keep std::get in range.)
  template <size_t I>
  bool fuse_run() {
    if constexpr (I + 1 < size) {
      auto& layer = std::get<I>(layers_);
      auto& bn = std::get<I + 1>(layers_);
      if constexpr (requires { layer.fuse_batch_norm(bn); bn.set_bypass(true); }) {
        layer.fuse_batch_norm(bn);
        bn.set_bypass(true);
        if constexpr (I + 2 < size) {
          auto& act = std::get<I + 2>(layers_);
          if constexpr (requires { act.slope(); act.set_bypass(true); }) {
            layer.fuse_leaky_relu(act.slope());
            act.set_bypass(true);
          }
        }
        return true;
      }
    }
    return false;
  }
  template <size_t I>
  tensor_type backward_from(const tensor_type& dy) {
    tensor_type dx = std::get<I>(layers_).backward(dy);
    backward_done(std::get<I>(layers_));
    if constexpr (I == 0) return dx;
    else return backward_from<I - 1>(dx);
  }
  template <class V, size_t... I>
  void visit_each(V& v, const std::string& prefix, std::index_sequence<I...>) {
    (std::get<I>(layers_).visit(v, join_name(prefix, names_[I])), ...);
  }

  std::tuple<L0, Ls...> layers_;
  std::array<std::string, size> names_;
};

}  // namespace rfcf::nn

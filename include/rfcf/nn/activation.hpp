#pragma once
// PReLU (learned per-channel slope, torch.nn.PReLU) and Sigmoid. ReLU/LeakyReLU: nn/leaky_relu.hpp.
// Device-generic: functors run by Executor<D>; the PReLU weight gradient uses ops::ReduceOp<D>.
// PReLU on the host runs plane functors (one slope per contiguous plane) instead.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/functors/activation.hpp"
#include "rfcf/ops/reduce.hpp"

namespace rfcf::nn {

// y = x if x > 0 else weight[c] * x, on [N, C, ...]. PReLU(1) shares one slope over all
// elements of any shape (torch.nn.PReLU() default). Parameter "weight" [C], initialised to `init`.
template <class T, class D>
class PReLU : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit PReLU(int64_t channels = 1, double init = 0.25) : weight_(Shape{channels}) {
    check<ConfigError>(channels > 0, "PReLU: channel count must be positive, got ", channels);
    fill(weight_.value, static_cast<T>(init));
  }

  tensor_type forward(const tensor_type& x) {
    const int64_t inner = inner_size(x);
    tensor_type y(x.shape());
    if constexpr (std::is_same_v<D, cpu>) {
      const functors::PReluPlaneForward<T> f{x.data(), weight_.value.data(), y.data(), channels(), inner};
      parallel_for(inner > 0 ? x.numel() / inner : 0, plane_grain(inner), [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) f(p);
      });
    } else {
      Executor<D>::for_each(x.numel(), functors::PReluForward<T>{x.data(), weight_.value.data(), y.data(),
                                                                  functors::ChannelOf(channels(), inner, x.numel())});
    }
    x_ = grad_enabled() ? x : tensor_type();
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_.defined(), "PReLU::backward called without a forward in grad mode");
    check_same_shape(dy, x_, "PReLU::backward");
    const int64_t inner = inner_size(x_), c = channels();
    if constexpr (std::is_same_v<D, cpu>) {
      const int64_t planes = inner > 0 ? dy.numel() / inner : 0;
      tensor_type dx(dy.shape()), plane_dw(Shape{planes});
      const functors::PReluPlaneBackward<T> f{x_.data(), weight_.value.data(), dy.data(), dx.data(),
                                              plane_dw.data(), c, inner};
      parallel_for(planes, plane_grain(inner), [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) f(p);
      });
      if (!weight_.frozen) {
        tensor_type dw = zeros<T, D>(Shape{c});
        for (int64_t p = 0; p < planes; ++p) dw.data()[p % c] += plane_dw.data()[p];
        ops::accumulate(weight_.grad, dw);
      }
      return dx;
    }
    tensor_type dx(dy.shape()), terms(dy.shape());
    Executor<D>::for_each(dy.numel(), functors::PReluBackward<T>{x_.data(), weight_.value.data(), dy.data(), dx.data(),
                                                                 terms.data(), functors::ChannelOf(c, inner, dy.numel())});
    if (!weight_.frozen) {
      tensor_type dw(Shape{c});
      ops::ReduceOp<D>::channel_sum(terms.data(), terms.numel() / (c * inner), c, inner, dw.data());
      ops::accumulate(weight_.grad, dw);
    }
    return dx;
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(join_name(prefix, "weight"), weight_);
  }
  Parameter<T, D>& weight() { return weight_; }
  int64_t channels() const { return weight_.value.numel(); }

 private:
  // Planes per host chunk: at least ~16k elements, as the executor's grain.
  static int64_t plane_grain(int64_t inner) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(inner, 1)); }
  // Elements per channel slice: everything after dim 1, or the whole tensor for a shared slope.
  int64_t inner_size(const tensor_type& x) const {
    if (channels() == 1) return std::max<int64_t>(x.numel(), 1);
    check<ShapeError>(x.rank() >= 2 && x.dim(1) == channels(), "PReLU(", channels(), "): expected [N, ",
                      channels(), ", ...], got ", x.shape().str());
    int64_t inner = 1;
    for (int i = 2; i < x.rank(); ++i) inner *= x.dim(i);
    return inner;
  }

  Parameter<T, D> weight_;
  tensor_type x_;
};

template <class T, class D>
class Sigmoid : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  tensor_type forward(const tensor_type& x) {
    tensor_type y(x.shape());
    Executor<D>::for_each(x.numel(), functors::SigmoidForward<T>{x.data(), y.data()});
    y_ = grad_enabled() ? y : tensor_type();
    return y;
  }
  tensor_type backward(const tensor_type& dy) {
    check<Error>(y_.defined(), "Sigmoid::backward called without a forward in grad mode");
    check_same_shape(dy, y_, "Sigmoid::backward");
    tensor_type dx(dy.shape());
    Executor<D>::for_each(dy.numel(), functors::SigmoidBackward<T>{y_.data(), dy.data(), dx.data()});
    return dx;
  }

 private:
  tensor_type y_;
};

}  // namespace rfcf::nn

#pragma once
// nn::Linear: y = x W^T + b on [N, in] inputs (torch.nn.Linear), through Gemm<D>
// (include <rfcf/cpu.hpp> or <rfcf/cuda.cuh> for the implementation). For T = float the three
// GEMMs honour the thread's compute precision (rfcf::Autocast): 16-bit operands, fp32 results.
#include <cmath>
#include <cstdint>
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/functors/linear.hpp"
#include "rfcf/ops/gemm.hpp"
#include "rfcf/ops/mixed_precision.hpp"

namespace rfcf::nn {

template <class T, class D>
class Linear : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  // PyTorch's default initialisation: weight [out, in] kaiming_uniform(a = sqrt(5)), bias U(+-1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator& gen = default_generator())
      : has_bias_(bias) {
    check<ConfigError>(in_features > 0 && out_features > 0, "Linear(", in_features, ", ", out_features,
                       "): feature counts must be positive");
    weight_ = Parameter<T, D>(Shape{out_features, in_features});
    init::kaiming_uniform(weight_.value, gen, std::sqrt(5.0));
    if (bias) {
      bias_ = Parameter<T, D>(Shape{out_features});
      init::bias_uniform(bias_.value, gen, in_features);
    }
  }

  tensor_type forward(const tensor_type& x) {
    check<ShapeError>(x.rank() == 2 && x.dim(1) == in_features(), "Linear(", in_features(), ", ", out_features(),
                      "): expected input [N,", in_features(), "], got ", x.shape().str());
    const int64_t n = x.dim(0), in = in_features(), out = out_features();
    tensor_type y(Shape{n, out});
    const ComputePrecision p = compute_precision_for<T>();
    ops::gemm<D>(p, false, true, n, out, in, T(1), x.data(), in, weight_.value.data(), in, T(0), y.data(), out);
    if (has_bias_) Executor<D>::for_each(y.numel(), functors::AddRowBias<T>{y.data(), bias_.value.data(), out});
    if (grad_enabled()) {
      x_ = x;
      precision_ = p;
    }
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    check<Error>(x_.defined(), "Linear::backward called without a forward in grad mode");
    const int64_t n = x_.dim(0), in = in_features(), out = out_features();
    check<ShapeError>(dy.shape() == Shape{n, out}, "Linear(", in, ", ", out, ")::backward: output gradient ",
                      dy.shape().str(), " should be [", n, ", ", out, "]");
    // dW += dy^T x, db += column sums of dy, dx = dy W.
    ops::gemm<D>(precision_, true, false, out, in, n, T(1), dy.data(), out, x_.data(), in, T(1), weight_.grad.data(), in);
    if (has_bias_) Executor<D>::for_each(out, functors::AccumulateColumnSums<T>{dy.data(), bias_.grad.data(), n, out});
    tensor_type dx(Shape{n, in});
    ops::gemm<D>(precision_, false, false, n, in, out, T(1), dy.data(), out, weight_.value.data(), in, T(0), dx.data(), in);
    return dx;
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(join_name(prefix, "weight"), weight_);
    if (has_bias_) v.parameter(join_name(prefix, "bias"), bias_);
  }

  Parameter<T, D>& weight() { return weight_; }
  Parameter<T, D>& bias() {
    check<Error>(has_bias_, "Linear has no bias (constructed with bias = false)");
    return bias_;
  }
  bool has_bias() const { return has_bias_; }
  int64_t in_features() const { return weight_.shape()[1]; }
  int64_t out_features() const { return weight_.shape()[0]; }

 private:
  bool has_bias_;
  Parameter<T, D> weight_, bias_;
  Tensor<T, D> x_;
  ComputePrecision precision_ = ComputePrecision::fp32;  // of the cached forward
};

}  // namespace rfcf::nn

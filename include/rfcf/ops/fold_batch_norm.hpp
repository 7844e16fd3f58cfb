#pragma once
// Folds an inference-mode batch norm into the convolution (or linear layer) before it:
//   bn(conv(x)) = conv'(x) with w'[o, ...] = w[o, ...] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o],
//   s = gamma / sqrt(running_var + eps).
// Device-generic (functors run by Executor<D>).
#include <cstdint>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/batch_norm.hpp"

namespace rfcf::ops {

template <class T, class D>
struct FoldedConv {
  Tensor<T, D> weight;  // same shape as the conv weight
  Tensor<T, D> bias;    // [Cout]
};

// weight: [Cout, ...]; bias_or_empty: [Cout] or an undefined tensor (conv without bias);
// bn: an nn::BatchNorm2d / BatchNorm1d (anything with channels(), options(), affine(), weight(),
// bias(), running_mean(), running_var()). Uses the running statistics whatever bn's mode.
template <class T, class D, class BN>
FoldedConv<T, D> fold_batch_norm(const Tensor<T, D>& weight, const Tensor<T, D>& bias_or_empty, const BN& bn) {
  check<ShapeError>(weight.rank() >= 1 && weight.dim(0) == bn.channels(), "fold_batch_norm: weight ",
                    weight.shape().str(), " does not have ", bn.channels(), " output channels");
  const int64_t c = bn.channels();
  if (bias_or_empty.defined())
    check<ShapeError>(bias_or_empty.shape() == Shape{c}, "fold_batch_norm: bias ", bias_or_empty.shape().str(),
                      " is not [", c, "]");
  const T* gamma = bn.affine() ? bn.weight().value.data() : nullptr;
  const T* beta = bn.affine() ? bn.bias().value.data() : nullptr;
  Tensor<T, D> invstd(Shape{c}), scale(Shape{c}), shift(Shape{c});
  Executor<D>::for_each(c, functors::BatchNormChannelAffine<T>{bn.running_mean().data(), bn.running_var().data(),
                                                               gamma, beta, invstd.data(), scale.data(),
                                                               shift.data(), static_cast<T>(bn.options().eps)});
  FoldedConv<T, D> out{Tensor<T, D>(weight.shape()), Tensor<T, D>(Shape{c})};
  Executor<D>::for_each(weight.numel(),
                        functors::FoldWeight<T>{weight.data(), scale.data(), out.weight.data(), weight.numel() / c});
  Executor<D>::for_each(c, functors::FoldBias<T>{bias_or_empty.defined() ? bias_or_empty.data() : nullptr,
                                                 scale.data(), shift.data(), out.bias.data()});
  return out;
}

}  // namespace rfcf::ops

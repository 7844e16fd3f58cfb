#pragma once
// Value-type conversion of tensors (ops::cast<bfloat16>(x), ops::cast<float>(h)) and rounding
// of fp32 tensors to a 16-bit precision (the cpu emulation of bf16/fp16 storage).
#include <type_traits>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/cast.hpp"

namespace rfcf::ops {

template <class To, class From, class D>
Tensor<To, D> cast(const Tensor<From, D>& x) {
  Tensor<To, D> out(x.shape());
  Executor<D>::for_each(x.numel(), functors::Cast<From, To>{x.data(), out.data()});
  return out;
}

// x[i] = the value of precision p nearest to x[i] (no-op for fp32).
template <class D>
void round_to_precision(Tensor<float, D>& x, ComputePrecision p) {
  if (p == ComputePrecision::fp32 || x.numel() == 0) return;
  Executor<D>::for_each(x.numel(), functors::RoundToPrecision{x.data(), x.data(), p});
}

// A rounded copy of x (x itself for fp32).
template <class D>
Tensor<float, D> rounded(const Tensor<float, D>& x, ComputePrecision p) {
  if (p == ComputePrecision::fp32) return x;
  Tensor<float, D> out(x.shape());
  Executor<D>::for_each(x.numel(), functors::RoundToPrecision{x.data(), out.data(), p});
  return out;
}

}  // namespace rfcf::ops

#pragma once
// Naive PReLU and sigmoid on host tensors (reference for the functor paths).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/tensor.hpp"

namespace rfcf::ops::reference {

// x [N, C, ...], weight [C] (or one shared slope).
template <class T>
Tensor<T, cpu> prelu_forward(const Tensor<T, cpu>& x, const std::vector<double>& weight) {
  Tensor<T, cpu> y(x.shape());
  const int64_t c = x.rank() > 1 ? x.dim(1) : 1, inner = x.numel() / std::max<int64_t>(x.dim(0) * c, 1);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double w = weight.size() == 1 ? weight[0] : weight[(i / inner) % c];
    y.data()[i] = static_cast<T>(x.data()[i] > 0 ? x.data()[i] : w * x.data()[i]);
  }
  return y;
}

// Returns dx; adds dL/dweight to dweight.
template <class T>
Tensor<T, cpu> prelu_backward(const Tensor<T, cpu>& x, const Tensor<T, cpu>& dy, const std::vector<double>& weight,
                              std::vector<double>& dweight) {
  Tensor<T, cpu> dx(x.shape());
  const int64_t c = x.rank() > 1 ? x.dim(1) : 1, inner = x.numel() / std::max<int64_t>(x.dim(0) * c, 1);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t k = weight.size() == 1 ? 0 : static_cast<size_t>((i / inner) % c);
    const bool pos = x.data()[i] > 0;
    dx.data()[i] = static_cast<T>(pos ? dy.data()[i] : weight[k] * dy.data()[i]);
    if (!pos) dweight[k] += static_cast<double>(dy.data()[i]) * x.data()[i];
  }
  return dx;
}

template <class T>
Tensor<T, cpu> sigmoid(const Tensor<T, cpu>& x) {
  Tensor<T, cpu> y(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = static_cast<T>(1.0 / (1.0 + std::exp(-static_cast<double>(x.data()[i]))));
  return y;
}

// Row-wise y = x / (||x|| + eps) of [N, D].
template <class T>
Tensor<T, cpu> l2_normalize(const Tensor<T, cpu>& x, double eps) {
  Tensor<T, cpu> y(x.shape());
  const int64_t n = x.dim(0), d = x.dim(1);
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j) ss += static_cast<double>(x.data()[r * d + j]) * x.data()[r * d + j];
    const double s = std::sqrt(ss) + eps;
    for (int64_t j = 0; j < d; ++j) y.data()[r * d + j] = static_cast<T>(s > 0 ? x.data()[r * d + j] / s : 0.0);
  }
  return y;
}

}  // namespace rfcf::ops::reference

#pragma once
// Naive softmax, log-softmax, reductions and losses on host tensors, in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/tensor.hpp"

namespace rfcf::ops::reference {

// Rows of the last dimension; log(sum(exp)) computed directly after subtracting the row max.
template <class T>
Tensor<T, cpu> softmax(const Tensor<T, cpu>& x, bool log = false) {
  Tensor<T, cpu> y(x.shape());
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x.data() + r * cols;
    double mx = xr[0];
    for (int64_t j = 1; j < cols; ++j) mx = std::max(mx, static_cast<double>(xr[j]));
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(xr[j] - mx);
    for (int64_t j = 0; j < cols; ++j)
      y.data()[r * cols + j] = static_cast<T>(log ? xr[j] - mx - std::log(s) : std::exp(xr[j] - mx) / s);
  }
  return y;
}

template <class T>
double sum(const Tensor<T, cpu>& x) {
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += x.data()[i];
  return s;
}
template <class T>
double sum_squares(const Tensor<T, cpu>& x) {
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += static_cast<double>(x.data()[i]) * x.data()[i];
  return s;
}
// Per index of dim `axis`.
template <class T>
std::vector<double> channel_sum(const Tensor<T, cpu>& x, int axis) {
  int64_t inner = 1;
  for (int i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
  std::vector<double> out(static_cast<size_t>(x.dim(axis)), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i) out[static_cast<size_t>((i / inner) % x.dim(axis))] += x.data()[i];
  return out;
}

// Mean cross entropy of logits [N, C] and its gradient.
template <class T>
double cross_entropy(const Tensor<T, cpu>& logits, const std::vector<int64_t>& labels, Tensor<T, cpu>* dlogits = nullptr) {
  const auto p = softmax(logits);
  const int64_t n = logits.dim(0), c = logits.dim(1);
  double loss = 0;
  for (int64_t r = 0; r < n; ++r) loss -= std::log(static_cast<double>(p.data()[r * c + labels[r]]));
  if (dlogits) {
    *dlogits = Tensor<T, cpu>(logits.shape());
    for (int64_t i = 0; i < logits.numel(); ++i)
      dlogits->data()[i] = static_cast<T>((p.data()[i] - (i % c == labels[i / c] ? 1.0 : 0.0)) / n);
  }
  return loss / static_cast<double>(n);
}

// Summed smooth L1 (divide by numel for the mean).
template <class T>
double smooth_l1_sum(const Tensor<T, cpu>& pred, const Tensor<T, cpu>& target, double beta) {
  double s = 0;
  for (int64_t i = 0; i < pred.numel(); ++i) {
    const double d = std::abs(static_cast<double>(pred.data()[i]) - target.data()[i]);
    s += d < beta ? 0.5 * d * d / beta : d - 0.5 * beta;
  }
  return s;
}

}  // namespace rfcf::ops::reference

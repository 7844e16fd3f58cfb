#pragma once
// Naive batch norm on host tensors [N, C, ...] (plain loops in double): the reference the
// optimised paths are tested against. weight/bias empty = affine off.
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/tensor.hpp"

namespace rfcf::ops::reference {

template <class T>
struct BatchNormResult {
  Tensor<T, cpu> y;
  std::vector<double> mean, var;  // batch statistics (biased variance) or the running ones in eval
};

template <class T>
struct BatchNormGrads {
  Tensor<T, cpu> dx;
  std::vector<double> dweight, dbias;
};

namespace detail {
template <class T>
void bn_geometry(const Tensor<T, cpu>& x, int64_t& n, int64_t& c, int64_t& inner) {
  n = x.dim(0);
  c = x.dim(1);
  inner = x.numel() / (n * c);
}
}  // namespace detail

// training = true: batch statistics; false: the given running statistics.
template <class T>
BatchNormResult<T> batch_norm_forward(const Tensor<T, cpu>& x, const std::vector<double>& weight,
                                      const std::vector<double>& bias, double eps, bool training,
                                      const std::vector<double>& running_mean = {},
                                      const std::vector<double>& running_var = {}) {
  int64_t n, c, inner;
  detail::bn_geometry(x, n, c, inner);
  auto at = [&](int64_t b, int64_t k, int64_t j) { return (b * c + k) * inner + j; };
  BatchNormResult<T> r{Tensor<T, cpu>(x.shape()), std::vector<double>(c), std::vector<double>(c)};
  for (int64_t k = 0; k < c; ++k) {
    if (training) {
      double s = 0, ss = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < inner; ++j) s += x.data()[at(b, k, j)];
      const double mean = s / static_cast<double>(n * inner);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < inner; ++j) ss += std::pow(x.data()[at(b, k, j)] - mean, 2);
      r.mean[k] = mean;
      r.var[k] = ss / static_cast<double>(n * inner);
    } else {
      r.mean[k] = running_mean[k];
      r.var[k] = running_var[k];
    }
    const double w = weight.empty() ? 1.0 : weight[k], bb = bias.empty() ? 0.0 : bias[k];
    for (int64_t b = 0; b < n; ++b)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = at(b, k, j);
        r.y.data()[i] = static_cast<T>((x.data()[i] - r.mean[k]) / std::sqrt(r.var[k] + eps) * w + bb);
      }
  }
  return r;
}

// Backward of batch_norm_forward: train mode through the batch statistics (textbook formula
// with explicit dvar and dmean terms), eval mode with the fixed statistics.
template <class T>
BatchNormGrads<T> batch_norm_backward(const Tensor<T, cpu>& x, const Tensor<T, cpu>& dy,
                                      const std::vector<double>& weight, double eps, bool training,
                                      const std::vector<double>& running_mean = {},
                                      const std::vector<double>& running_var = {}) {
  int64_t n, c, inner;
  detail::bn_geometry(x, n, c, inner);
  auto at = [&](int64_t b, int64_t k, int64_t j) { return (b * c + k) * inner + j; };
  const auto fwd = batch_norm_forward(x, {}, {}, eps, training, running_mean, running_var);
  BatchNormGrads<T> g{Tensor<T, cpu>(x.shape()), std::vector<double>(c), std::vector<double>(c)};
  const double m = static_cast<double>(n * inner);
  for (int64_t k = 0; k < c; ++k) {
    const double w = weight.empty() ? 1.0 : weight[k], mean = fwd.mean[k], var = fwd.var[k];
    const double is = 1.0 / std::sqrt(var + eps);
    double dvar = 0, dmean = 0, dxc_sum = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = at(b, k, j);
        const double xhat = (x.data()[i] - mean) * is;
        g.dweight[k] += dy.data()[i] * xhat;
        g.dbias[k] += dy.data()[i];
        const double dxhat = dy.data()[i] * w;
        dvar += dxhat * (x.data()[i] - mean) * -0.5 * std::pow(var + eps, -1.5);
        dmean += -dxhat * is;
        dxc_sum += -2.0 * (x.data()[i] - mean);
      }
    dmean += dvar * dxc_sum / m;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = at(b, k, j);
        const double dxhat = dy.data()[i] * w;
        double dx = dxhat * is;
        if (training) dx += dvar * 2.0 * (x.data()[i] - mean) / m + dmean / m;
        g.dx.data()[i] = static_cast<T>(dx);
      }
  }
  return g;
}

}  // namespace rfcf::ops::reference

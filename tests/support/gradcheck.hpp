#pragma once
// Finite-difference gradient checks for layers in double precision on the CPU.
// loss(x, params) = sum(r * layer.forward(x)) for a fixed random r; the analytic gradients
// (eps 1e-5: smaller steps let the rounding of O(100) losses dominate small gradients)
// from backward(r) are compared with central differences of that loss.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "rfcf/core/random.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::testing {

using TensorD = Tensor<double, cpu>;

inline TensorD random_tensor(const Shape& s, Generator& g, double lo = -1.0, double hi = 1.0) {
  TensorD t(s);
  init::uniform(t, g, lo, hi);
  return t;
}

inline double dot(const TensorD& a, const TensorD& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

// max |a - b| / max(max |b|, floor): the relative error used by every numeric test.
template <class T>
double relative_error(const T* a, const T* b, int64_t n, double floor = 1e-12) {
  double diff = 0, scale = floor;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}
template <class T, class D>
double relative_error(const Tensor<T, D>& a, const Tensor<T, D>& b, double floor = 1e-12) {
  check_same_shape(a, b, "relative_error");
  auto va = a.to_vector(), vb = b.to_vector();
  return relative_error(va.data(), vb.data(), a.numel(), floor);
}

struct GradCheckResult {
  double input_error = 0;
  double param_error = 0;
  std::string worst_param;
  double max_error() const { return std::max(input_error, param_error); }
};

// Checks dL/dx and dL/dparams of `layer` at input x. `max_probes` limits how many elements of
// each tensor are probed (evenly spaced) to keep large layers fast.
template <class L>
GradCheckResult gradcheck(L& layer, const TensorD& x, uint64_t seed = 7, double eps = 1e-5,
                          int64_t max_probes = 400) {
  Generator g(seed);
  TensorD y = layer.forward(x);
  TensorD r = random_tensor(y.shape(), g);
  nn::zero_grad(layer);
  y = layer.forward(x);
  TensorD dx = layer.backward(r);

  auto loss = [&](const TensorD& input) { return dot(r, layer.forward(input)); };
  auto probe = [&](double* values, int64_t n, const double* analytic) {
    const int64_t step = std::max<int64_t>(1, n / max_probes);
    double diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; i += step) {
      const double saved = values[i];
      values[i] = saved + eps;
      const double lp = loss(x);
      values[i] = saved - eps;
      const double lm = loss(x);
      values[i] = saved;
      const double numeric = (lp - lm) / (2 * eps);
      diff = std::max(diff, std::abs(numeric - analytic[i]));
      scale = std::max(scale, std::abs(numeric));
    }
    return diff / scale;
  };

  GradCheckResult res;
  TensorD xm = x;  // shares storage: probing perturbs x in place and restores it
  res.input_error = probe(xm.data(), xm.numel(), dx.data());
  nn::for_each_parameter(layer, [&](const std::string& name, nn::Parameter<double, cpu>& p) {
    std::vector<double> analytic = p.grad.to_vector();
    const double e = probe(p.value.data(), p.value.numel(), analytic.data());
    if (e >= res.param_error) {
      res.param_error = e;
      res.worst_param = name;
    }
  });
  return res;
}

}  // namespace rfcf::testing

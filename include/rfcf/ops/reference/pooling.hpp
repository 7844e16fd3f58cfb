#pragma once
// Naive pooling on host tensors (PyTorch semantics, ceil_mode = false): plain loops over each
// window, backward by scattering into the input. The device-generic ops are tested against it.
#include <cmath>
#include <cstdint>
#include <limits>

#include "rfcf/core/fill.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::ops::reference {

namespace detail {
inline int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

// Calls f(plane, oh, ow, ih, iw) for every in-bounds element of every window.
template <class F>
void for_each_window_element(const Shape& x, int64_t k, int64_t s, int64_t p, F&& f) {
  const int64_t Ho = pool_out(x[2], k, s, p), Wo = pool_out(x[3], k, s, p);
  for (int64_t plane = 0; plane < x[0] * x[1]; ++plane)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow)
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t ih = oh * s - p + i, iw = ow * s - p + j;
            if (ih >= 0 && ih < x[2] && iw >= 0 && iw < x[3]) f(plane, oh, ow, ih, iw);
          }
}
}  // namespace detail

// Max pooling with -inf padding; dy (when given) is routed to the first maximum of each window.
template <class T>
Tensor<T, cpu> max_pool2d(const Tensor<T, cpu>& x, int64_t k, int64_t s, int64_t p) {
  const int64_t Ho = detail::pool_out(x.h(), k, s, p), Wo = detail::pool_out(x.w(), k, s, p);
  Tensor<T, cpu> y = full<T, cpu>(Shape{x.n(), x.c(), Ho, Wo}, -std::numeric_limits<T>::infinity());
  detail::for_each_window_element(x.shape(), k, s, p, [&](int64_t plane, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    T& out = y.data()[(plane * Ho + oh) * Wo + ow];
    out = std::max(out, x.data()[(plane * x.h() + ih) * x.w() + iw]);
  });
  return y;
}

template <class T>
Tensor<T, cpu> max_pool2d_backward(const Tensor<T, cpu>& x, const Tensor<T, cpu>& dy, int64_t k, int64_t s, int64_t p) {
  const Tensor<T, cpu> y = max_pool2d(x, k, s, p);
  const int64_t Ho = y.h(), Wo = y.w();
  Tensor<T, cpu> dx = zeros<T, cpu>(x.shape());
  Tensor<T, cpu> taken = zeros<T, cpu>(y.shape());  // 1 once a window has routed its gradient
  detail::for_each_window_element(x.shape(), k, s, p, [&](int64_t plane, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    const int64_t o = (plane * Ho + oh) * Wo + ow, i = (plane * x.h() + ih) * x.w() + iw;
    if (taken.data()[o] == T(0) && x.data()[i] == y.data()[o]) {
      dx.data()[i] += dy.data()[o];
      taken.data()[o] = T(1);
    }
  });
  return dx;
}

// Average pooling, zero padding counted in the k*k divisor.
template <class T>
Tensor<T, cpu> avg_pool2d(const Tensor<T, cpu>& x, int64_t k, int64_t s, int64_t p) {
  const int64_t Ho = detail::pool_out(x.h(), k, s, p), Wo = detail::pool_out(x.w(), k, s, p);
  Tensor<T, cpu> y = zeros<T, cpu>(Shape{x.n(), x.c(), Ho, Wo});
  detail::for_each_window_element(x.shape(), k, s, p, [&](int64_t plane, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    y.data()[(plane * Ho + oh) * Wo + ow] += x.data()[(plane * x.h() + ih) * x.w() + iw] / static_cast<T>(k * k);
  });
  return y;
}

template <class T>
Tensor<T, cpu> avg_pool2d_backward(const Tensor<T, cpu>& dy, const Shape& x_shape, int64_t k, int64_t s, int64_t p) {
  const int64_t Ho = dy.h(), Wo = dy.w();
  Tensor<T, cpu> dx = zeros<T, cpu>(x_shape);
  detail::for_each_window_element(x_shape, k, s, p, [&](int64_t plane, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    dx.data()[(plane * x_shape[2] + ih) * x_shape[3] + iw] += dy.data()[(plane * Ho + oh) * Wo + ow] / static_cast<T>(k * k);
  });
  return dx;
}

template <class T>
Tensor<T, cpu> global_avg_pool2d(const Tensor<T, cpu>& x) {
  Tensor<T, cpu> y = zeros<T, cpu>(Shape{x.n(), x.c(), 1, 1});
  const int64_t plane = x.h() * x.w();
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i / plane] += x.data()[i];
  for (int64_t p = 0; p < y.numel(); ++p) y.data()[p] /= static_cast<T>(plane);
  return y;
}

}  // namespace rfcf::ops::reference

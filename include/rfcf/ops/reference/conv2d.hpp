#pragma once
// Naive 2-D convolution (PyTorch cross-correlation) on host tensors: plain loops over every
// output element and kernel tap. Slow and obviously right; the optimised paths are tested
// against it.
#include <cstdint>
#include <type_traits>

#include "rfcf/core/fill.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/conv2d.hpp"

namespace rfcf::ops::reference {

namespace detail {
// Calls f(y_index, w_index, x_index) for every in-bounds multiply of the convolution.
template <class F>
void for_each_conv_tap(const Conv2dGeometry& g, const Shape& xs, int64_t cout, F&& f) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t Ho = g.out_h(H), Wo = g.out_w(W);
  const int64_t cin_g = C / g.groups, cout_g = cout / g.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t grp = co / cout_g;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          for (int64_t cg = 0; cg < cin_g; ++cg)
            for (int64_t i = 0; i < g.kernel_h; ++i)
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
                const int64_t iw = ow * g.stride_w - g.pad_w + j * g.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t ci = grp * cin_g + cg;
                const int64_t y_index = ((n * cout + co) * Ho + oh) * Wo + ow;
                const int64_t w_index = ((co * cin_g + cg) * g.kernel_h + i) * g.kernel_w + j;
                const int64_t x_index = ((n * C + ci) * H + ih) * W + iw;
                f(y_index, w_index, x_index);
              }
    }
}
inline void check_conv_shapes(const Conv2dGeometry& g, const Shape& xs, const Shape& ws) {
  check<ShapeError>(xs.rank() == 4 && ws.rank() == 4, "reference conv2d: x ", xs.str(), ", w ", ws.str());
  check<ShapeError>(xs[1] % g.groups == 0 && ws[0] % g.groups == 0 && ws[1] * g.groups == xs[1] &&
                        ws[2] == g.kernel_h && ws[3] == g.kernel_w,
                    "reference conv2d: x ", xs.str(), " and w ", ws.str(), " do not match the geometry");
}
}  // namespace detail

template <class T>
Tensor<T, cpu> conv2d_forward(const Conv2dGeometry& g, const Tensor<T, cpu>& x, const Tensor<T, cpu>& w,
                              const std::type_identity_t<Tensor<T, cpu>>* bias) {
  detail::check_conv_shapes(g, x.shape(), w.shape());
  const int64_t cout = w.dim(0), Ho = g.out_h(x.h()), Wo = g.out_w(x.w());
  Tensor<T, cpu> y = zeros<T, cpu>(Shape{x.n(), cout, Ho, Wo});
  T* yp = y.data();
  const T *xp = x.data(), *wp = w.data();
  detail::for_each_conv_tap(g, x.shape(), cout,
                            [&](int64_t yi, int64_t wi, int64_t xi) { yp[yi] += wp[wi] * xp[xi]; });
  if (bias)
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] += bias->data()[(i / (Ho * Wo)) % cout];
  return y;
}

template <class T>
Tensor<T, cpu> conv2d_backward_data(const Conv2dGeometry& g, const Tensor<T, cpu>& dy, const Tensor<T, cpu>& w,
                                    const Shape& x_shape) {
  detail::check_conv_shapes(g, x_shape, w.shape());
  Tensor<T, cpu> dx = zeros<T, cpu>(x_shape);
  T* dxp = dx.data();
  const T *dyp = dy.data(), *wp = w.data();
  detail::for_each_conv_tap(g, x_shape, w.dim(0),
                            [&](int64_t yi, int64_t wi, int64_t xi) { dxp[xi] += wp[wi] * dyp[yi]; });
  return dx;
}

// Accumulates into dw (and db when given), like the optimised op.
template <class T>
void conv2d_backward_weight(const Conv2dGeometry& g, const Tensor<T, cpu>& x, const Tensor<T, cpu>& dy,
                            Tensor<T, cpu>& dw, std::type_identity_t<Tensor<T, cpu>>* db) {
  detail::check_conv_shapes(g, x.shape(), dw.shape());
  T* dwp = dw.data();
  const T *dyp = dy.data(), *xp = x.data();
  detail::for_each_conv_tap(g, x.shape(), dw.dim(0),
                            [&](int64_t yi, int64_t wi, int64_t xi) { dwp[wi] += dyp[yi] * xp[xi]; });
  if (db) {
    const int64_t cout = dy.c(), hw = dy.h() * dy.w();
    for (int64_t i = 0; i < dy.numel(); ++i) db->data()[(i / hw) % cout] += dyp[i];
  }
}

}  // namespace rfcf::ops::reference

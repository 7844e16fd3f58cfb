#pragma once
// Naive nearest resizing (PyTorch legacy 'nearest' to an explicit size): the source index of
// each output is computed from the definition, floor(dst * (float)in / out) clamped to in - 1.
#include <cmath>
#include <cstdint>

#include "rfcf/core/fill.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::ops::reference {

inline int64_t legacy_nearest_source(int64_t dst, int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const int64_t src = static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale));
  return std::min(src, in - 1);
}

template <class T>
Tensor<T, cpu> upsample_nearest(const Tensor<T, cpu>& x, int64_t out_h, int64_t out_w) {
  Tensor<T, cpu> y(Shape{x.n(), x.c(), out_h, out_w});
  for (int64_t plane = 0; plane < x.n() * x.c(); ++plane)
    for (int64_t oh = 0; oh < out_h; ++oh)
      for (int64_t ow = 0; ow < out_w; ++ow)
        y.data()[(plane * out_h + oh) * out_w + ow] =
            x.data()[(plane * x.h() + legacy_nearest_source(oh, x.h(), out_h)) * x.w() +
                     legacy_nearest_source(ow, x.w(), out_w)];
  return y;
}

// Scatters every output gradient back to its source.
template <class T>
Tensor<T, cpu> upsample_nearest_backward(const Tensor<T, cpu>& dy, const Shape& x_shape) {
  Tensor<T, cpu> dx = zeros<T, cpu>(x_shape);
  const int64_t H = x_shape[2], W = x_shape[3], Ho = dy.h(), Wo = dy.w();
  for (int64_t plane = 0; plane < dy.n() * dy.c(); ++plane)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow)
        dx.data()[(plane * H + legacy_nearest_source(oh, H, Ho)) * W + legacy_nearest_source(ow, W, Wo)] +=
            dy.data()[(plane * Ho + oh) * Wo + ow];
  return dx;
}

}  // namespace rfcf::ops::reference

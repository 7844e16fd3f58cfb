#pragma once
// Pooling math shared by the host executor and CUDA kernels. Backward passes are gathers
// (each input element sums the outputs whose window covers it), so they need no atomics.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// Square-window pooling geometry on planes of H x W (PyTorch, ceil_mode = false).
struct PoolGeometry {
  int64_t H, W, Ho, Wo, kernel, stride, pad;

  // The outputs [lo, hi) along one axis whose windows contain input index i.
  RFCF_HD void covering(int64_t i, int64_t out, int64_t& lo, int64_t& hi) const {
    const int64_t p = i + pad;  // window o covers p iff o*stride <= p < o*stride + kernel
    lo = p < kernel ? 0 : (p - kernel) / stride + 1;
    hi = p / stride + 1;
    if (hi > out) hi = out;
  }
};

// y = max over the window (padding counts as -inf), argmax = plane index of the winner.
// NaN wins like in PyTorch (the last NaN); ties keep the first element in row-major window order.
template <class T>
struct MaxPoolForward {
  const T* x;
  T* y;
  int32_t* argmax;
  PoolGeometry g;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, plane = i / (g.Wo * g.Ho);
    const T* xp = x + plane * g.H * g.W;
    const int64_t h0 = oh * g.stride - g.pad, w0 = ow * g.stride - g.pad;
    int64_t best_index = -1;
    T best = T(0);
    for (int64_t ih = h0 < 0 ? 0 : h0; ih < h0 + g.kernel && ih < g.H; ++ih)
      for (int64_t iw = w0 < 0 ? 0 : w0; iw < w0 + g.kernel && iw < g.W; ++iw) {
        const T v = xp[ih * g.W + iw];
        if (best_index < 0 || v > best || v != v) {
          best = v;
          best_index = ih * g.W + iw;
        }
      }
    y[i] = best;
    argmax[i] = static_cast<int32_t>(best_index);
  }
};

template <class T>
struct MaxPoolBackward {  // dx[i] = sum of dy over the windows whose argmax is i
  const T* dy;
  const int32_t* argmax;
  T* dx;
  PoolGeometry g;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t iw = i % g.W, ih = (i / g.W) % g.H, plane = i / (g.W * g.H);
    const int64_t self = ih * g.W + iw, base = plane * g.Ho * g.Wo;
    int64_t h_lo, h_hi, w_lo, w_hi;
    g.covering(ih, g.Ho, h_lo, h_hi);
    g.covering(iw, g.Wo, w_lo, w_hi);
    T s = T(0);
    for (int64_t oh = h_lo; oh < h_hi; ++oh)
      for (int64_t ow = w_lo; ow < w_hi; ++ow)
        if (argmax[base + oh * g.Wo + ow] == self) s += dy[base + oh * g.Wo + ow];
    dx[i] = s;
  }
};

// Average with zero padding counted in the divisor (count_include_pad = true): kernel^2.
template <class T>
struct AvgPoolForward {
  const T* x;
  T* y;
  PoolGeometry g;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, plane = i / (g.Wo * g.Ho);
    const T* xp = x + plane * g.H * g.W;
    const int64_t h0 = oh * g.stride - g.pad, w0 = ow * g.stride - g.pad;
    T s = T(0);
    for (int64_t ih = h0 < 0 ? 0 : h0; ih < h0 + g.kernel && ih < g.H; ++ih)
      for (int64_t iw = w0 < 0 ? 0 : w0; iw < w0 + g.kernel && iw < g.W; ++iw) s += xp[ih * g.W + iw];
    y[i] = s / static_cast<T>(g.kernel * g.kernel);
  }
};

template <class T>
struct AvgPoolBackward {
  const T* dy;
  T* dx;
  PoolGeometry g;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t iw = i % g.W, ih = (i / g.W) % g.H, plane = i / (g.W * g.H);
    const int64_t base = plane * g.Ho * g.Wo;
    int64_t h_lo, h_hi, w_lo, w_hi;
    g.covering(ih, g.Ho, h_lo, h_hi);
    g.covering(iw, g.Wo, w_lo, w_hi);
    T s = T(0);
    for (int64_t oh = h_lo; oh < h_hi; ++oh)
      for (int64_t ow = w_lo; ow < w_hi; ++ow) s += dy[base + oh * g.Wo + ow];
    dx[i] = s / static_cast<T>(g.kernel * g.kernel);
  }
};

template <class T>
struct PlaneMean {  // y[p] = mean of plane p (global average pooling)
  const T* x;
  T* y;
  int64_t plane;
  RFCF_HD void operator()(int64_t p) const {
    const T* xp = x + p * plane;
    T s = T(0);
    for (int64_t q = 0; q < plane; ++q) s += xp[q];
    y[p] = s / static_cast<T>(plane);
  }
};

template <class T>
struct PlaneMeanBackward {  // dx[i] = dy[plane of i] / plane size
  const T* dy;
  T* dx;
  int64_t plane;
  RFCF_HD void operator()(int64_t i) const { dx[i] = dy[i / plane] / static_cast<T>(plane); }
};

}  // namespace rfcf::functors

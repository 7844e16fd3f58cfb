#pragma once
// Direct depthwise convolution (groups == Cin == Cout) on the host: each channel is an
// independent 2-D correlation, parallel over N*C (forward, data) or C (weight). The inner
// loops run along an output row, so stride-1 rows vectorise.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/cpu/im2col.hpp"

namespace rfcf::ops::cpu_detail {

struct DepthwisePlane {
  int64_t H, W, Ho, Wo;
};

// Per kernel column j: the valid output columns and the input column offset (iw = ow*stride + shift),
// computed once per call instead of once per output row.
struct KernelColumns {
  std::vector<ValidRange> range;
  std::vector<int64_t> shift;
  KernelColumns(const Conv2dGeometry& g, const DepthwisePlane& p) {
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      range.push_back(valid_outputs(j * g.dilation_w, g.stride_w, g.pad_w, p.W, p.Wo));
      shift.push_back(j * g.dilation_w - g.pad_w);
    }
  }
};

// Calls f(output row index oh, input row ih, kernel row i) for the in-bounds kernel rows.
template <class F>
inline void for_each_kernel_row(const Conv2dGeometry& g, const DepthwisePlane& p, int64_t oh, F&& f) {
  for (int64_t i = 0; i < g.kernel_h; ++i) {
    const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
    if (ih >= 0 && ih < p.H) f(ih, i);
  }
}

// y (one plane) = correlation of x (one plane) with the kh*kw kernel w, plus bias.
template <class T>
void depthwise_plane_forward(const Conv2dGeometry& g, const DepthwisePlane& p, const KernelColumns& kc, const T* x,
                             const T* w, T bias, T* y) {
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    T* yrow = y + oh * p.Wo;
    std::fill(yrow, yrow + p.Wo, bias);
    for_each_kernel_row(g, p, oh, [&](int64_t ih, int64_t i) {
      const T* xrow = x + ih * p.W;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const T wv = w[i * g.kernel_w + j];
        const int64_t shift = kc.shift[j];
        const ValidRange r = kc.range[j];
        if (g.stride_w == 1) {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) yrow[ow] += wv * xrow[ow + shift];
        } else {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) yrow[ow] += wv * xrow[ow * g.stride_w + shift];
        }
      }
    });
  }
}

// dx (one plane, overwritten) from dy (one plane).
template <class T>
void depthwise_plane_backward_data(const Conv2dGeometry& g, const DepthwisePlane& p, const KernelColumns& kc,
                                   const T* dy, const T* w, T* dx) {
  std::fill(dx, dx + p.H * p.W, T(0));
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    const T* dyrow = dy + oh * p.Wo;
    for_each_kernel_row(g, p, oh, [&](int64_t ih, int64_t i) {
      T* dxrow = dx + ih * p.W;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const T wv = w[i * g.kernel_w + j];
        const int64_t shift = kc.shift[j];
        const ValidRange r = kc.range[j];
        if (g.stride_w == 1) {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) dxrow[ow + shift] += wv * dyrow[ow];
        } else {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) dxrow[ow * g.stride_w + shift] += wv * dyrow[ow];
        }
      }
    });
  }
}

// Sum of n contiguous values with independent partial sums (a plain float reduction does not
// vectorise without -ffast-math; eight chains hide the add latency).
template <class T>
T sum_contiguous(const T* p, int64_t n) {
  T part[8] = {};
  int64_t q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; ++k) part[k] += p[q + k];
  T s = 0;
  for (; q < n; ++q) s += p[q];
  for (int k = 0; k < 8; ++k) s += part[k];
  return s;
}

// dw (kh*kw taps of one channel) += correlation of dy with x. acc: scratch of kh*kw*Wo values,
// per-tap partial sums along the row, so that the inner loop is element-wise (vectorises).
template <class T>
void depthwise_plane_backward_weight(const Conv2dGeometry& g, const DepthwisePlane& p, const KernelColumns& kc,
                                     const T* x, const T* dy, T* acc, T* dw) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  std::fill(acc, acc + taps * p.Wo, T(0));
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    const T* dyrow = dy + oh * p.Wo;
    for_each_kernel_row(g, p, oh, [&](int64_t ih, int64_t i) {
      const T* xrow = x + ih * p.W;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t shift = kc.shift[j];
        const ValidRange r = kc.range[j];
        T* a = acc + (i * g.kernel_w + j) * p.Wo;
        if (g.stride_w == 1) {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) a[ow] += dyrow[ow] * xrow[ow + shift];
        } else {
          for (int64_t ow = r.lo; ow < r.hi; ++ow) a[ow] += dyrow[ow] * xrow[ow * g.stride_w + shift];
        }
      }
    });
  }
  for (int64_t t = 0; t < taps; ++t) dw[t] += sum_contiguous(acc + t * p.Wo, p.Wo);
}

template <class T>
void depthwise_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, int64_t N, int64_t C,
                       const DepthwisePlane& p, T* y) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  const KernelColumns kc(g, p);
  parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t c = nc % C;
      depthwise_plane_forward(g, p, kc, x + nc * p.H * p.W, w + c * taps, bias ? bias[c] : T(0), y + nc * p.Ho * p.Wo);
    }
  });
}

template <class T>
void depthwise_backward_data(const Conv2dGeometry& g, const T* dy, const T* w, int64_t N, int64_t C,
                             const DepthwisePlane& p, T* dx) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  const KernelColumns kc(g, p);
  parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc)
      depthwise_plane_backward_data(g, p, kc, dy + nc * p.Ho * p.Wo, w + (nc % C) * taps, dx + nc * p.H * p.W);
  });
}

// Parallel over channels so that each dw/db entry has one writer.
template <class T>
void depthwise_backward_weight(const Conv2dGeometry& g, const T* x, const T* dy, int64_t N, int64_t C,
                               const DepthwisePlane& p, T* dw, T* db) {
  const int64_t taps = g.kernel_h * g.kernel_w, in_plane = p.H * p.W, out_plane = p.Ho * p.Wo;
  const KernelColumns kc(g, p);
  parallel_for(C, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(static_cast<size_t>(taps * p.Wo));
    for (int64_t c = begin; c < end; ++c)
      for (int64_t n = 0; n < N; ++n) {
        const T* dyp = dy + (n * C + c) * out_plane;
        depthwise_plane_backward_weight(g, p, kc, x + (n * C + c) * in_plane, dyp, acc.data(), dw + c * taps);
        if (db) db[c] += sum_contiguous(dyp, out_plane);
      }
  });
}

}  // namespace rfcf::ops::cpu_detail

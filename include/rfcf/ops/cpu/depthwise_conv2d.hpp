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
  std::vector<int64_t> shift, neg_shift;
  KernelColumns(const Conv2dGeometry& g, const DepthwisePlane& p) {
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      range.push_back(valid_outputs(j * g.dilation_w, g.stride_w, g.pad_w, p.W, p.Wo));
      shift.push_back(j * g.dilation_w - g.pad_w);
      neg_shift.push_back(g.pad_w - j * g.dilation_w);
    }
  }
};

// out[q] += sum_j taps[j] * in[q + off[j]] over the j with 0 <= q + off[j] < in_len: one kernel
// row at stride 1. With a compile-time tap count the taps are fused into one vectorised pass
// over the interior, where every tap is in range; the edges are done one by one.
template <int KW, class T>
void row_correlate_fixed(T* out, int64_t out_len, const T* in, int64_t in_len, const T* taps, const int64_t* off) {
  int64_t lo = 0, hi = out_len;
  for (int j = 0; j < KW; ++j) {
    lo = std::max(lo, -off[j]);
    hi = std::min(hi, in_len - off[j]);
  }
  lo = std::min(lo, out_len);
  hi = std::max(hi, lo);
  auto edge = [&](int64_t q) {
    T s = 0;
    for (int j = 0; j < KW; ++j) {
      const int64_t k = q + off[j];
      if (k >= 0 && k < in_len) s += taps[j] * in[k];
    }
    out[q] += s;
  };
  for (int64_t q = 0; q < lo; ++q) edge(q);
  T t[KW];
  int64_t o[KW];
  for (int j = 0; j < KW; ++j) t[j] = taps[j], o[j] = off[j];
  for (int64_t q = lo; q < hi; ++q) {
    T s = out[q];
    for (int j = 0; j < KW; ++j) s += t[j] * in[q + o[j]];
    out[q] = s;
  }
  for (int64_t q = hi; q < out_len; ++q) edge(q);
}

template <class T>
void row_correlate(int64_t kw, T* out, int64_t out_len, const T* in, int64_t in_len, const T* taps,
                   const int64_t* off) {
  switch (kw) {
    case 3: return row_correlate_fixed<3>(out, out_len, in, in_len, taps, off);
    case 5: return row_correlate_fixed<5>(out, out_len, in, in_len, taps, off);
    default:
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t lo = std::clamp<int64_t>(-off[j], 0, out_len);
        const int64_t hi = std::clamp<int64_t>(in_len - off[j], lo, out_len);
        const T w = taps[j];
        for (int64_t q = lo; q < hi; ++q) out[q] += w * in[q + off[j]];
      }
  }
}

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
      if (g.stride_w == 1) return row_correlate(g.kernel_w, yrow, p.Wo, xrow, p.W, w + i * g.kernel_w, kc.shift.data());
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const T wv = w[i * g.kernel_w + j];
        const int64_t shift = kc.shift[j];
        const ValidRange r = kc.range[j];
        for (int64_t ow = r.lo; ow < r.hi; ++ow) yrow[ow] += wv * xrow[ow * g.stride_w + shift];
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
      // at stride 1: dx[iw] += sum_j w[j] * dy[iw - shift_j]
      if (g.stride_w == 1)
        return row_correlate(g.kernel_w, dxrow, p.W, dyrow, p.Wo, w + i * g.kernel_w, kc.neg_shift.data());
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const T wv = w[i * g.kernel_w + j];
        const int64_t shift = kc.shift[j];
        const ValidRange r = kc.range[j];
        for (int64_t ow = r.lo; ow < r.hi; ++ow) dxrow[ow * g.stride_w + shift] += wv * dyrow[ow];
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

// ---- stride 1: padded planes. With the input zero-padded so that every tap of every output is
// in range, output (oh, ow) and tap (i, j) read the padded plane at flat index
// oh * Wp + ow + (i * dh * Wp + j * dw). Computing all Wp columns of each output row (the extra
// columns are dropped) turns every tap into one long contiguous multiply-add over the plane.

// dst [Hd, Wd] = src [Hs, Ws] shifted by (top, left) (either may be negative), zeros elsewhere.
template <class T>
void pad_plane(const T* src, int64_t Hs, int64_t Ws, int64_t top, int64_t left, T* dst, int64_t Hd, int64_t Wd) {
  std::fill(dst, dst + Hd * Wd, T(0));
  const int64_t c0 = std::max<int64_t>(0, left), c1 = std::min(Wd, Ws + left);
  for (int64_t a = std::max<int64_t>(0, top); a < std::min(Hd, Hs + top); ++a)
    if (c1 > c0) std::copy(src + (a - top) * Ws + (c0 - left), src + (a - top) * Ws + (c1 - left), dst + a * Wd + c0);
}

// out[q] += w[t] * in[q + off[t]] for every tap t and q < n (three taps per pass over out).
template <class T>
void flat_taps(T* out, int64_t n, const T* in, const T* w, const int64_t* off, int64_t taps) {
  int64_t t = 0;
  for (; t + 3 <= taps; t += 3) {
    const T w0 = w[t], w1 = w[t + 1], w2 = w[t + 2];
    const T *s0 = in + off[t], *s1 = in + off[t + 1], *s2 = in + off[t + 2];
    for (int64_t q = 0; q < n; ++q) out[q] += w0 * s0[q] + w1 * s1[q] + w2 * s2[q];
  }
  for (; t < taps; ++t) {
    const T wv = w[t];
    const T* src = in + off[t];
    for (int64_t q = 0; q < n; ++q) out[q] += wv * src[q];
  }
}

template <class T>
T dot_contiguous(const T* a, const T* b, int64_t n) {
  T part[8] = {};
  int64_t q = 0;
  for (; q + 8 <= n; q += 8)
    for (int k = 0; k < 8; ++k) part[k] += a[q + k] * b[q + k];
  T s = 0;
  for (; q < n; ++q) s += a[q] * b[q];
  for (int k = 0; k < 8; ++k) s += part[k];
  return s;
}

// Geometry of the stride-1 padded-plane path for one op call.
struct PaddedDepthwise {
  int64_t Wp, Hp;                // padded input (forward / weight): rows include one spare row
  int64_t Wq, Hq, top_q, left_q; // padded output gradient (backward data)
  std::vector<int64_t> off_x, off_dy;
  PaddedDepthwise(const Conv2dGeometry& g, const DepthwisePlane& p) {
    const int64_t ext_h = (g.kernel_h - 1) * g.dilation_h, ext_w = (g.kernel_w - 1) * g.dilation_w;
    Wp = p.W + 2 * g.pad_w, Hp = p.Ho + ext_h + 1;
    Wq = p.W + ext_w, Hq = p.H + ext_h + 1, top_q = ext_h - g.pad_h, left_q = ext_w - g.pad_w;
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        off_x.push_back(i * g.dilation_h * Wp + j * g.dilation_w);
        off_dy.push_back((ext_h - i * g.dilation_h) * Wq + (ext_w - j * g.dilation_w));
      }
  }
};

template <class T>
void depthwise_forward(const Conv2dGeometry& g, const T* x, const T* w, const T* bias, int64_t N, int64_t C,
                       const DepthwisePlane& p, T* y) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  if (g.stride_h == 1 && g.stride_w == 1) {
    const PaddedDepthwise pd(g, p);
    parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> xp(static_cast<size_t>(pd.Hp * pd.Wp)), yp(static_cast<size_t>(p.Ho * pd.Wp));
      for (int64_t nc = begin; nc < end; ++nc) {
        const int64_t c = nc % C;
        pad_plane(x + nc * p.H * p.W, p.H, p.W, g.pad_h, g.pad_w, xp.data(), pd.Hp, pd.Wp);
        std::fill(yp.begin(), yp.end(), bias ? bias[c] : T(0));
        flat_taps(yp.data(), p.Ho * pd.Wp, xp.data(), w + c * taps, pd.off_x.data(), taps);
        T* yc = y + nc * p.Ho * p.Wo;
        for (int64_t oh = 0; oh < p.Ho; ++oh) std::copy(yp.data() + oh * pd.Wp, yp.data() + oh * pd.Wp + p.Wo, yc + oh * p.Wo);
      }
    });
    return;
  }
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
  if (g.stride_h == 1 && g.stride_w == 1) {
    // dx = dy (padded) correlated with the flipped kernel
    const PaddedDepthwise pd(g, p);
    parallel_for(N * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> dyp(static_cast<size_t>(pd.Hq * pd.Wq)), dxp(static_cast<size_t>(p.H * pd.Wq));
      for (int64_t nc = begin; nc < end; ++nc) {
        pad_plane(dy + nc * p.Ho * p.Wo, p.Ho, p.Wo, pd.top_q, pd.left_q, dyp.data(), pd.Hq, pd.Wq);
        std::fill(dxp.begin(), dxp.end(), T(0));
        flat_taps(dxp.data(), p.H * pd.Wq, dyp.data(), w + (nc % C) * taps, pd.off_dy.data(), taps);
        T* dxc = dx + nc * p.H * p.W;
        for (int64_t ih = 0; ih < p.H; ++ih) std::copy(dxp.data() + ih * pd.Wq, dxp.data() + ih * pd.Wq + p.W, dxc + ih * p.W);
      }
    });
    return;
  }
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
  if (g.stride_h == 1 && g.stride_w == 1) {
    // dw[t] += sum over the plane of dy (widened to Wp columns, zeros beyond Wo) * padded x shifted by tap t
    const PaddedDepthwise pd(g, p);
    parallel_for(C, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> xp(static_cast<size_t>(pd.Hp * pd.Wp)), dyw(static_cast<size_t>(p.Ho * pd.Wp));
      for (int64_t c = begin; c < end; ++c)
        for (int64_t n = 0; n < N; ++n) {
          const T* dyc = dy + (n * C + c) * out_plane;
          pad_plane(x + (n * C + c) * in_plane, p.H, p.W, g.pad_h, g.pad_w, xp.data(), pd.Hp, pd.Wp);
          pad_plane(dyc, p.Ho, p.Wo, 0, 0, dyw.data(), p.Ho, pd.Wp);
          for (int64_t t = 0; t < taps; ++t)
            dw[c * taps + t] += dot_contiguous(dyw.data(), xp.data() + pd.off_x[t], p.Ho * pd.Wp);
          if (db) db[c] += sum_contiguous(dyc, out_plane);
        }
    });
    return;
  }
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

#pragma once
// PyTorch's legacy 'nearest' interpolation to an explicit size (not 'nearest-exact'):
// along each axis src = min(floor(dst * (float)in / out), in - 1), the scale in float32.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

RFCF_HD inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const int64_t src = static_cast<int64_t>(static_cast<float>(dst) * scale);  // >= 0, so truncation is floor
  return src < in - 1 ? src : in - 1;
}

// The destinations [lo, hi) whose source is `src` (the mapping is monotone; a small window around
// the exact preimage is searched with the same float arithmetic as the forward).
RFCF_HD inline void nearest_preimage(int64_t src, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  int64_t d = src * out / in - 2;
  if (d < 0) d = 0;
  while (d < out && nearest_source(d, in, out) < src) ++d;
  lo = d;
  while (d < out && nearest_source(d, in, out) == src) ++d;
  hi = d;
}

template <class T>
struct UpsampleNearestForward {
  const T* x;
  T* y;
  int64_t H, W, Ho, Wo;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ow = i % Wo, oh = (i / Wo) % Ho, plane = i / (Wo * Ho);
    y[i] = x[(plane * H + nearest_source(oh, H, Ho)) * W + nearest_source(ow, W, Wo)];
  }
};

template <class T>
struct UpsampleNearestBackward {  // dx[i] = sum of dy over the outputs copied from input i
  const T* dy;
  T* dx;
  int64_t H, W, Ho, Wo;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t iw = i % W, ih = (i / W) % H, plane = i / (W * H);
    int64_t h_lo, h_hi, w_lo, w_hi;
    nearest_preimage(ih, H, Ho, h_lo, h_hi);
    nearest_preimage(iw, W, Wo, w_lo, w_hi);
    T s = T(0);
    for (int64_t oh = h_lo; oh < h_hi; ++oh)
      for (int64_t ow = w_lo; ow < w_hi; ++ow) s += dy[(plane * Ho + oh) * Wo + ow];
    dx[i] = s;
  }
};

}  // namespace rfcf::functors

#pragma once
// im2col / col2im for a band of output rows of one image and one channel group.
// Column matrix layout: row r = (c, i, j) (channel, kernel row, kernel column), column
// q = (oh - oh_begin) * Wo + ow; entries outside the padded input are zero.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "rfcf/ops/conv2d.hpp"

namespace rfcf::ops::cpu_detail {

// The output columns [lo, hi) whose input column ow*stride - pad + offset lies in [0, W).
struct ValidRange {
  int64_t lo, hi;
};
inline ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t pad, int64_t W, int64_t Wo) {
  // iw = ow * stride + (offset - pad) in [0, W)
  const int64_t shift = offset - pad;
  int64_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  int64_t hi = W - shift <= 0 ? 0 : (W - shift + stride - 1) / stride;
  lo = std::min(lo, Wo);
  hi = std::clamp(hi, lo, Wo);
  return {lo, hi};
}

// x: channels [C, H, W] of one group; col: [C*kh*kw, (oh_end-oh_begin)*Wo].
template <class T>
void im2col_rows(const Conv2dGeometry& g, const T* x, int64_t C, int64_t H, int64_t W, int64_t oh_begin,
                 int64_t oh_end, int64_t Wo, T* col) {
  const int64_t cols = (oh_end - oh_begin) * Wo;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        T* out = col + ((c * g.kernel_h + i) * g.kernel_w + j) * cols;
        const ValidRange r = valid_outputs(j * g.dilation_w, g.stride_w, g.pad_w, W, Wo);
        const int64_t shift = j * g.dilation_w - g.pad_w;
        for (int64_t oh = oh_begin; oh < oh_end; ++oh, out += Wo) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= H) {
            std::fill(out, out + Wo, T(0));
            continue;
          }
          const T* row = x + (c * H + ih) * W;
          std::fill(out, out + r.lo, T(0));
          if (g.stride_w == 1) {
            std::memcpy(out + r.lo, row + r.lo + shift, static_cast<size_t>(r.hi - r.lo) * sizeof(T));
          } else {
            for (int64_t ow = r.lo; ow < r.hi; ++ow) out[ow] = row[ow * g.stride_w + shift];
          }
          std::fill(out + r.hi, out + Wo, T(0));
        }
      }
}

// Adds the column matrix back into dx [C, H, W] (the adjoint of im2col_rows).
template <class T>
void col2im_rows_add(const Conv2dGeometry& g, const T* col, int64_t C, int64_t H, int64_t W, int64_t oh_begin,
                     int64_t oh_end, int64_t Wo, T* dx) {
  const int64_t cols = (oh_end - oh_begin) * Wo;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const T* in = col + ((c * g.kernel_h + i) * g.kernel_w + j) * cols;
        const ValidRange r = valid_outputs(j * g.dilation_w, g.stride_w, g.pad_w, W, Wo);
        const int64_t shift = j * g.dilation_w - g.pad_w;
        for (int64_t oh = oh_begin; oh < oh_end; ++oh, in += Wo) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= H) continue;
          T* row = dx + (c * H + ih) * W;
          if (g.stride_w == 1) {
            for (int64_t ow = r.lo; ow < r.hi; ++ow) row[ow + shift] += in[ow];
          } else {
            for (int64_t ow = r.lo; ow < r.hi; ++ow) row[ow * g.stride_w + shift] += in[ow];
          }
        }
      }
}

}  // namespace rfcf::ops::cpu_detail

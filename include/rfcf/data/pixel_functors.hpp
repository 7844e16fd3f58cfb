#pragma once
// Per-pixel math of the recognition augmentation (recognition_augment.hpp), written once as
// RFCF_HD functors over interleaved 8-bit pixels so that the same bodies can run in a CUDA
// kernel. The host augmentation calls them in a plain serial loop (for_each_serial): it already
// runs inside the loader's worker threads, where an OpenMP team per image would oversubscribe.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::data::functors {

// Calls f(i) for i in [0, n) on the calling thread.
template <class F>
inline void for_each_serial(int64_t n, const F& f) {
  for (int64_t i = 0; i < n; ++i) f(i);
}

// dst[i] = lut[src[i]]: brightness/contrast/gamma are all 256-entry tables on 8-bit values.
struct ApplyLut {
  const uint8_t* src;
  uint8_t* dst;
  const uint8_t* lut;
  RFCF_HD void operator()(int64_t i) const { dst[i] = lut[src[i]]; }
};

// One output value of a 2-D correlation with a kh x kw float kernel (centre at (kh/2, kw/2)),
// replicated border, rounded to nearest and saturated. Index i runs over height*width*channels.
struct Convolve2dU8 {
  const uint8_t* src;
  uint8_t* dst;
  const float* kernel;
  int height, width, channels, kh, kw;
  RFCF_HD void operator()(int64_t i) const {
    const int c = static_cast<int>(i % channels);
    const int64_t p = i / channels;
    const int x = static_cast<int>(p % width), y = static_cast<int>(p / width);
    float acc = 0.f;
    for (int dy = 0; dy < kh; ++dy) {
      int sy = y + dy - kh / 2;
      sy = sy < 0 ? 0 : (sy >= height ? height - 1 : sy);
      for (int dx = 0; dx < kw; ++dx) {
        int sx = x + dx - kw / 2;
        sx = sx < 0 ? 0 : (sx >= width ? width - 1 : sx);
        acc += kernel[dy * kw + dx] * static_cast<float>(src[(static_cast<int64_t>(sy) * width + sx) * channels + c]);
      }
    }
    const float r = acc + 0.5f;
    dst[i] = r <= 0.f ? uint8_t(0) : (r >= 255.f ? uint8_t(255) : static_cast<uint8_t>(r));
  }
};

// Normalised float planes from an interleaved RGB image: dst[c][y][x] = (src[y][x][c] - mean) * scale.
// Index i runs over height*width (one pixel, all three channels).
struct NormalizeToPlanes {
  const uint8_t* src;
  float* dst;
  int64_t plane;
  float mean0, mean1, mean2, scale0, scale1, scale2;
  RFCF_HD void operator()(int64_t i) const {
    const uint8_t* p = src + i * 3;
    dst[i] = (static_cast<float>(p[0]) - mean0) * scale0;
    dst[plane + i] = (static_cast<float>(p[1]) - mean1) * scale1;
    dst[2 * plane + i] = (static_cast<float>(p[2]) - mean2) * scale2;
  }
};

}  // namespace rfcf::data::functors

#pragma once
// Image resizing with OpenCV's cv::resize semantics (pixel centres at half-integers, the
// source pixel grid mapped onto the destination grid by the ratio of sizes).
//
// uint8 accuracy against cv2.resize 4.6 (tests/io/resize_test.cpp):
//   Nearest: exact. Linear: exact (same 11-bit fixed-point weights and rounding).
//   Cubic, Lanczos4: same fixed-point weights and float vertical pass; exact on the test
//   fixtures, allow 1 grey level. Area: exact for whole-number shrink factors, otherwise
//   within 1 grey level (OpenCV accumulates in float, we in double).
// Float bilinear (resize_bilinear): within 1e-4 of cv2.resize on float32 images.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "rfcf/core/allocator.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::io {

enum class Interpolation { Nearest, Linear, Cubic, Area, Lanczos4 };

inline const char* to_string(Interpolation i) {
  switch (i) {
    case Interpolation::Nearest: return "nearest";
    case Interpolation::Linear: return "linear";
    case Interpolation::Cubic: return "cubic";
    case Interpolation::Area: return "area";
    case Interpolation::Lanczos4: return "lanczos4";
  }
  return "?";
}

namespace resize_detail {

constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

// For each destination index along one axis: `ksize` clamped source indices and weights.
struct AxisTaps {
  int ksize = 0;
  std::vector<int> index;
  std::vector<float> weight;
  std::vector<int> iweight;  // weight * 2^11, rounded (OpenCV's fixed-point coefficients)
};

inline void cubic_weights(float x, float* w) {
  const float A = -0.75f;  // Keys' cubic with a = -0.75, as OpenCV
  w[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  w[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  w[3] = 1.f - w[0] - w[1] - w[2];
}

// Lanczos window a = 4: sinc(t) sinc(t / 4) for the 8 taps at distances x + 3 - i,
// normalised to sum 1.
inline void lanczos4_weights(float x, float* w) {
  const double pi = std::numbers::pi;
  float sum = 0;
  for (int i = 0; i < 8; ++i) {
    double t = double(x) + 3 - i;
    double v;
    if (std::abs(t) < 1e-7) {
      v = 1.0;
    } else {
      v = 4.0 * std::sin(pi * t) * std::sin(pi * t / 4.0) / (pi * pi * t * t);
    }
    w[i] = float(v);
    sum += w[i];
  }
  for (int i = 0; i < 8; ++i) w[i] /= sum;
}

inline int round_to_short(float v) {
  long r = std::lrint(v);
  return int(std::clamp<long>(r, -32768, 32767));
}

// Linear / cubic / Lanczos / area-upscale taps (OpenCV's coefficient tables). OpenCV moves
// the 2-tap weights onto the edge pixel only along x; along y both taps read the (clamped)
// edge row, which rounds differently in the fixed-point vertical pass, so we do the same.
enum class Axis { X, Y };
inline AxisTaps make_taps(int src, int dst, Interpolation interp, Axis axis) {
  AxisTaps t;
  const double inv_scale = double(dst) / src, scale = 1.0 / inv_scale;
  t.ksize = interp == Interpolation::Cubic ? 4 : interp == Interpolation::Lanczos4 ? 8 : 2;
  const int k2 = t.ksize / 2 - 1;
  t.index.resize(size_t(dst) * size_t(t.ksize));
  t.weight.resize(t.index.size());
  t.iweight.resize(t.index.size());
  for (int d = 0; d < dst; ++d) {
    float f;
    int s;
    if (interp == Interpolation::Area) {  // only used when upscaling
      s = int(std::floor(d * scale));
      f = float((d + 1) - (s + 1) * inv_scale);
      f = f <= 0 ? 0.f : f - std::floor(f);
    } else {
      f = float((d + 0.5) * scale - 0.5);
      s = int(std::floor(f));
      f -= float(s);
    }
    if (t.ksize == 2 && axis == Axis::X) {
      if (s < 0) f = 0, s = 0;
      if (s >= src - 1) f = 0, s = src - 1;
    }
    float w[8];
    if (t.ksize == 2) {
      w[0] = 1.f - f;
      w[1] = f;
    } else if (t.ksize == 4) {
      cubic_weights(f, w);
    } else {
      lanczos4_weights(f, w);
    }
    for (int k = 0; k < t.ksize; ++k) {
      size_t i = size_t(d) * size_t(t.ksize) + size_t(k);
      t.index[i] = std::clamp(s - k2 + k, 0, src - 1);  // replicated border
      t.weight[i] = w[k];
      t.iweight[i] = round_to_short(w[k] * kCoefScale);
    }
  }
  return t;
}

// Fixed-point separable resampling of uint8 images, OpenCV's arithmetic: horizontal sums in
// int with 2^11 weights, then vertical combination with 2^11 weights and rounding.
inline Image resample_fixed(const Image& src, int dw, int dh, Interpolation interp) {
  AxisTaps tx = make_taps(src.width, dw, interp, Axis::X), ty = make_taps(src.height, dh, interp, Axis::Y);
  const int C = src.channels;
  const size_t rw = size_t(dw) * size_t(C);
  std::vector<int32_t> rows(size_t(src.height) * rw);
  for (int y = 0; y < src.height; ++y) {
    const uint8_t* s = src.row(y);
    int32_t* out = rows.data() + size_t(y) * rw;
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < C; ++c) {
        int32_t acc = 0;
        for (int k = 0; k < tx.ksize; ++k) {
          size_t i = size_t(x) * size_t(tx.ksize) + size_t(k);
          acc += int32_t(s[size_t(tx.index[i]) * size_t(C) + size_t(c)]) * tx.iweight[i];
        }
        out[size_t(x) * size_t(C) + size_t(c)] = acc;
      }
  }
  Image dst(dw, dh, C, src.order);
  for (int y = 0; y < dh; ++y) {
    const int* idx = &ty.index[size_t(y) * size_t(ty.ksize)];
    const int* wt = &ty.iweight[size_t(y) * size_t(ty.ksize)];
    uint8_t* out = dst.row(y);
    for (size_t j = 0; j < rw; ++j) {
      int v;
      if (ty.ksize == 2) {
        // OpenCV's 8-bit linear vertical pass: pre-shifted products, then (+2) >> 2.
        int32_t a = rows[size_t(idx[0]) * rw + j], b = rows[size_t(idx[1]) * rw + j];
        v = (((wt[0] * (a >> 4)) >> 16) + ((wt[1] * (b >> 4)) >> 16) + 2) >> 2;
      } else {
        // OpenCV's cubic/Lanczos vertical pass accumulates in float: each product is rounded
        // to float (explicitly here, so that no FMA contraction can change it) and summed.
        const float unscale = 1.f / float(kCoefScale * kCoefScale);  // a power of two: exact
        float acc = 0.f;
        for (int k = 0; k < ty.ksize; ++k)
          acc += float(int64_t(wt[k]) * rows[size_t(idx[k]) * rw + j]) * unscale;
        v = int(std::lrint(acc));
      }
      out[j] = uint8_t(std::clamp(v, 0, 255));
    }
  }
  return dst;
}

inline Image resample_nearest(const Image& src, int dw, int dh) {
  const double fx = 1.0 / (double(dw) / src.width), fy = 1.0 / (double(dh) / src.height);
  const int C = src.channels;
  std::vector<int> xs(static_cast<size_t>(dw));
  for (int x = 0; x < dw; ++x) xs[size_t(x)] = std::min(int(std::floor(x * fx)), src.width - 1);
  Image dst(dw, dh, C, src.order);
  for (int y = 0; y < dh; ++y) {
    const uint8_t* s = src.row(std::min(int(std::floor(y * fy)), src.height - 1));
    uint8_t* out = dst.row(y);
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < C; ++c) out[size_t(x) * size_t(C) + size_t(c)] = s[size_t(xs[size_t(x)]) * size_t(C) + size_t(c)];
  }
  return dst;
}

// Area weights of one axis for downscaling: destination cell [d*scale, (d+1)*scale) covers
// whole source pixels with weight 1/cell and partial ones with their covered fraction.
struct AreaTaps {
  std::vector<int> begin;           // per destination index: first entry in src/weight
  std::vector<int> src;
  std::vector<double> weight;
};

inline AreaTaps make_area_taps(int src, int dst) {
  AreaTaps t;
  const double scale = double(src) / dst;
  for (int d = 0; d < dst; ++d) {
    t.begin.push_back(int(t.src.size()));
    double f1 = d * scale, f2 = f1 + scale;
    double cell = std::min(scale, src - f1);
    int s1 = int(std::ceil(f1)), s2 = int(std::floor(f2));
    s2 = std::min(s2, src - 1);
    s1 = std::min(s1, s2);
    if (s1 - f1 > 1e-3) {
      t.src.push_back(s1 - 1);
      t.weight.push_back((s1 - f1) / cell);
    }
    for (int s = s1; s < s2; ++s) {
      t.src.push_back(s);
      t.weight.push_back(1.0 / cell);
    }
    if (f2 - s2 > 1e-3) {
      t.src.push_back(s2);
      t.weight.push_back(std::min(std::min(f2 - s2, 1.0), cell) / cell);
    }
  }
  t.begin.push_back(int(t.src.size()));
  return t;
}

// Whole-number shrink factors: block averages, rounded as OpenCV's fast path does.
inline Image resample_area_blocks(const Image& src, int dw, int dh, int fx, int fy) {
  const int C = src.channels, area = fx * fy;
  const float inv_area = 1.f / float(area);
  Image dst(dw, dh, C, src.order);
  for (int y = 0; y < dh; ++y)
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < C; ++c) {
        int sum = 0;
        for (int j = 0; j < fy; ++j)
          for (int i = 0; i < fx; ++i) sum += src.at(x * fx + i, y * fy + j)[c];
        int v = area == 4 ? (sum + 2) >> 2 : int(std::lrint(float(sum) * inv_area));
        dst.at(x, y)[c] = uint8_t(std::clamp(v, 0, 255));
      }
  return dst;
}

inline Image resample_area_down(const Image& src, int dw, int dh) {
  if (src.width % dw == 0 && src.height % dh == 0)
    return resample_area_blocks(src, dw, dh, src.width / dw, src.height / dh);
  AreaTaps tx = make_area_taps(src.width, dw), ty = make_area_taps(src.height, dh);
  const int C = src.channels;
  const size_t rw = size_t(dw) * size_t(C);
  std::vector<double> rows(size_t(src.height) * rw, 0.0);
  for (int y = 0; y < src.height; ++y) {
    const uint8_t* s = src.row(y);
    double* out = rows.data() + size_t(y) * rw;
    for (int x = 0; x < dw; ++x)
      for (int i = tx.begin[size_t(x)]; i < tx.begin[size_t(x) + 1]; ++i)
        for (int c = 0; c < C; ++c)
          out[size_t(x) * size_t(C) + size_t(c)] += tx.weight[size_t(i)] * s[size_t(tx.src[size_t(i)]) * size_t(C) + size_t(c)];
  }
  Image dst(dw, dh, C, src.order);
  std::vector<double> acc(rw);
  for (int y = 0; y < dh; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int i = ty.begin[size_t(y)]; i < ty.begin[size_t(y) + 1]; ++i) {
      const double* r = rows.data() + size_t(ty.src[size_t(i)]) * rw;
      for (size_t j = 0; j < rw; ++j) acc[j] += ty.weight[size_t(i)] * r[j];
    }
    uint8_t* out = dst.row(y);
    for (size_t j = 0; j < rw; ++j) out[j] = uint8_t(std::clamp<long>(std::lrint(acc[j]), 0, 255));
  }
  return dst;
}

}  // namespace resize_detail

// Resizes an 8-bit image to dst_width x dst_height.
inline Image resize(const Image& src, int dst_width, int dst_height, Interpolation interp = Interpolation::Linear) {
  check<ShapeError>(!src.empty(), "resize: empty source image");
  check<ShapeError>(dst_width > 0 && dst_height > 0, "resize: bad destination size ", dst_width, "x", dst_height);
  if (dst_width == src.width && dst_height == src.height) return src;
  switch (interp) {
    case Interpolation::Nearest: return resize_detail::resample_nearest(src, dst_width, dst_height);
    case Interpolation::Area:
      if (dst_width <= src.width && dst_height <= src.height)
        return resize_detail::resample_area_down(src, dst_width, dst_height);
      return resize_detail::resample_fixed(src, dst_width, dst_height, interp);
    default: return resize_detail::resample_fixed(src, dst_width, dst_height, interp);
  }
}

// Bilinear resize of a float image with `channels` interleaved channels (HWC), as
// cv2.resize(INTER_LINEAR) on float32.
inline void resize_bilinear(const float* src, int width, int height, int channels, float* dst, int dst_width,
                            int dst_height) {
  check<ShapeError>(width > 0 && height > 0 && dst_width > 0 && dst_height > 0 && channels > 0,
                    "resize_bilinear: bad sizes ", width, "x", height, " -> ", dst_width, "x", dst_height);
  auto tx = resize_detail::make_taps(width, dst_width, Interpolation::Linear, resize_detail::Axis::X);
  auto ty = resize_detail::make_taps(height, dst_height, Interpolation::Linear, resize_detail::Axis::Y);
  const size_t C = size_t(channels), rw = size_t(dst_width) * C;
  std::vector<float> rows(size_t(height) * rw);
  for (int y = 0; y < height; ++y) {
    const float* s = src + size_t(y) * size_t(width) * C;
    float* out = rows.data() + size_t(y) * rw;
    for (int x = 0; x < dst_width; ++x) {
      size_t i = size_t(x) * 2;
      const float* a = s + size_t(tx.index[i]) * C;
      const float* b = s + size_t(tx.index[i + 1]) * C;
      for (size_t c = 0; c < C; ++c) out[size_t(x) * C + c] = a[c] * tx.weight[i] + b[c] * tx.weight[i + 1];
    }
  }
  for (int y = 0; y < dst_height; ++y) {
    size_t i = size_t(y) * 2;
    const float* a = rows.data() + size_t(ty.index[i]) * rw;
    const float* b = rows.data() + size_t(ty.index[i + 1]) * rw;
    float* out = dst + size_t(y) * rw;
    for (size_t j = 0; j < rw; ++j) out[j] = a[j] * ty.weight[i] + b[j] * ty.weight[i + 1];
  }
}

// Bilinear resize of every plane of an [N, C, H, W] tensor (the same arithmetic per plane).
inline Tensor<float, cpu> resize_bilinear(const Tensor<float, cpu>& x, int out_h, int out_w) {
  check<ShapeError>(x.rank() == 4, "resize_bilinear: expected [N, C, H, W], got ", x.shape().str());
  Tensor<float, cpu> y(Shape{x.dim(0), x.dim(1), out_h, out_w});
  const int64_t planes = x.dim(0) * x.dim(1);
  const size_t in_plane = size_t(x.dim(2) * x.dim(3)), out_plane = size_t(out_h) * size_t(out_w);
  for (int64_t p = 0; p < planes; ++p)
    resize_bilinear(x.data() + size_t(p) * in_plane, int(x.dim(3)), int(x.dim(2)), 1, y.data() + size_t(p) * out_plane,
                    out_w, out_h);
  return y;
}

}  // namespace rfcf::io

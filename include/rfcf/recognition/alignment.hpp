#pragma once
// 5-point face alignment (recognition.md 9): least-squares similarity transform (Umeyama,
// rotation + uniform scale + translation, never a reflection) from detected landmarks to the
// ArcFace / SphereFace templates, and an OpenCV-compatible bilinear affine warp of uint8 images.
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::recognition {

// Five (x, y) points in RetinaFace order: left eye, right eye, nose, left and right mouth corner.
using Landmarks5 = std::array<std::array<double, 2>, 5>;

// 2x3 affine matrix [[a, b, c], [d, e, f]] mapping (x, y) -> (a x + b y + c, d x + e y + f).
struct Affine2x3 {
  std::array<std::array<double, 3>, 2> m{{{1, 0, 0}, {0, 1, 0}}};

  std::array<double, 2> apply(double x, double y) const {
    return {m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2]};
  }
  // Inverse, computed like OpenCV's invertAffineTransform (used by warpAffine).
  Affine2x3 inverse() const {
    double D = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    check<Error>(D != 0 && std::isfinite(D), "Affine2x3::inverse: singular matrix");
    D = 1.0 / D;
    Affine2x3 r;
    r.m[0][0] = m[1][1] * D;
    r.m[0][1] = -m[0][1] * D;
    r.m[1][0] = -m[1][0] * D;
    r.m[1][1] = m[0][0] * D;
    r.m[0][2] = -r.m[0][0] * m[0][2] - r.m[0][1] * m[1][2];
    r.m[1][2] = -r.m[1][0] * m[0][2] - r.m[1][1] * m[1][2];
    return r;
  }
};

// The 96 x 112 (width x height) SphereFace template.
inline Landmarks5 sphereface_template() {
  return {{{30.2946, 51.6963}, {65.5318, 51.5014}, {48.0252, 71.7366}, {33.5493, 92.3655}, {62.7299, 92.2041}}};
}

// The ArcFace template for a square output of `size` pixels: size = 112 k scales the 112 template
// by k; size = 128 k scales by k and shifts x by 8 k (insightface's estimate_norm rule).
inline Landmarks5 arcface_template(int size = 112) {
  check<ConfigError>(size > 0 && (size % 112 == 0 || size % 128 == 0), "arcface_template: output size ", size,
                     " is not a multiple of 112 or 128");
  Landmarks5 t = sphereface_template();
  const double ratio = size % 112 == 0 ? size / 112.0 : size / 128.0;
  const double diff_x = size % 112 == 0 ? 0.0 : 8.0 * ratio;
  for (auto& p : t) {
    p[0] = (p[0] + 8.0) * ratio + diff_x;
    p[1] = p[1] * ratio;
  }
  return t;
}

// Least-squares similarity mapping src[k] -> dst[k] (n >= 2 points). For 2-D points the Umeyama
// solution R = U diag(1, det(U V^T)) V^T, c = tr(diag(d) S) / var(src) reduces to the closed form
// c R = [[a, -b], [b, a]] with a = sum(s.d) / sum|s|^2, b = sum(s x d) / sum|s|^2 over the
// demeaned points: both minimise the same error over proper similarities (reflections
// excluded), so they agree to rounding (checked against an SVD implementation in the tests).
inline Affine2x3 similarity_transform(const double* src, const double* dst, int n) {
  check<ShapeError>(n >= 2, "similarity_transform: need at least 2 points, got ", n);
  double msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (int k = 0; k < n; ++k) {
    msx += src[2 * k];
    msy += src[2 * k + 1];
    mdx += dst[2 * k];
    mdy += dst[2 * k + 1];
  }
  msx /= n;
  msy /= n;
  mdx /= n;
  mdy /= n;
  double ss = 0, dot = 0, cross = 0;
  for (int k = 0; k < n; ++k) {
    const double sx = src[2 * k] - msx, sy = src[2 * k + 1] - msy;
    const double dx = dst[2 * k] - mdx, dy = dst[2 * k + 1] - mdy;
    ss += sx * sx + sy * sy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
  }
  check<Error>(ss > 0 && std::isfinite(ss) && std::isfinite(dot) && std::isfinite(cross),
               "similarity_transform: source points are all equal or not finite");
  const double a = dot / ss, b = cross / ss;
  Affine2x3 M;
  M.m[0] = {a, -b, mdx - (a * msx - b * msy)};
  M.m[1] = {b, a, mdy - (b * msx + a * msy)};
  return M;
}

inline Affine2x3 similarity_transform(const Landmarks5& src, const Landmarks5& dst) {
  return similarity_transform(&src[0][0], &dst[0][0], 5);
}

// Landmarks (10 numbers x0, y0, ..., x4, y4, e.g. detection::Detection::landmarks) to the
// ArcFace template of a size x size crop.
template <class F>
inline Affine2x3 estimate_norm(const F* landmarks10, int size = 112) {
  Landmarks5 src;
  for (int k = 0; k < 5; ++k) src[k] = {static_cast<double>(landmarks10[2 * k]), static_cast<double>(landmarks10[2 * k + 1])};
  return similarity_transform(src, arcface_template(size));
}

enum class WarpInterpolation {
  opencv_fixed_point,  // cv::warpAffine INTER_LINEAR on 8-bit images: 1/32-pixel coordinates, 15-bit weights
  float_bilinear,      // exact bilinear in double, rounded to nearest
};

// dst (out_h x out_w x channels, HWC uint8) = src warped by M (source -> destination), sampling
// src at M^-1 (x, y) for each destination pixel centre (x, y), bilinear, constant black border.
inline void warp_affine(const uint8_t* src, int src_h, int src_w, int channels, const Affine2x3& M, uint8_t* dst,
                        int out_h, int out_w, WarpInterpolation mode = WarpInterpolation::opencv_fixed_point) {
  check<ShapeError>(src_h > 0 && src_w > 0 && channels > 0 && out_h > 0 && out_w > 0, "warp_affine: bad sizes src ",
                    src_h, "x", src_w, "x", channels, " out ", out_h, "x", out_w);
  const Affine2x3 inv = M.inverse();
  const auto& A = inv.m;
  auto pixel = [&](int x, int y, int c) -> int {
    return (x >= 0 && y >= 0 && x < src_w && y < src_h) ? src[(static_cast<int64_t>(y) * src_w + x) * channels + c] : 0;
  };
  if (mode == WarpInterpolation::float_bilinear) {
    for (int y = 0; y < out_h; ++y)
      for (int x = 0; x < out_w; ++x) {
        const double sx = A[0][0] * x + A[0][1] * y + A[0][2], sy = A[1][0] * x + A[1][1] * y + A[1][2];
        const double fx0 = std::floor(sx), fy0 = std::floor(sy);
        uint8_t* o = dst + (static_cast<int64_t>(y) * out_w + x) * channels;
        if (!(std::fabs(sx) < 1e9 && std::fabs(sy) < 1e9)) {
          for (int c = 0; c < channels; ++c) o[c] = 0;
          continue;
        }
        const int x0 = static_cast<int>(fx0), y0 = static_cast<int>(fy0);
        const double ax = sx - fx0, ay = sy - fy0;
        for (int c = 0; c < channels; ++c) {
          const double v = (1 - ay) * ((1 - ax) * pixel(x0, y0, c) + ax * pixel(x0 + 1, y0, c)) +
                           ay * ((1 - ax) * pixel(x0, y0 + 1, c) + ax * pixel(x0 + 1, y0 + 1, c));
          o[c] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::nearbyint(v))));
        }
      }
    return;
  }
  // OpenCV: coordinates in 1/1024 (rounded half to even), reduced to 1/32; weights in 1/32768.
  auto round_int = [](double v) -> int64_t {
    if (!(std::fabs(v) < 2.0e9)) return v > 0 ? INT32_MAX : INT32_MIN;  // saturate like saturate_cast<int>
    return static_cast<int64_t>(std::nearbyint(v));
  };
  constexpr int kAbScale = 1024, kRound = kAbScale / 32 / 2;
  std::vector<int64_t> adelta(static_cast<size_t>(out_w)), bdelta(static_cast<size_t>(out_w));
  for (int x = 0; x < out_w; ++x) {
    adelta[x] = round_int(A[0][0] * x * kAbScale);
    bdelta[x] = round_int(A[1][0] * x * kAbScale);
  }
  for (int y = 0; y < out_h; ++y) {
    const int64_t X0 = round_int((A[0][1] * y + A[0][2]) * kAbScale) + kRound;
    const int64_t Y0 = round_int((A[1][1] * y + A[1][2]) * kAbScale) + kRound;
    for (int x = 0; x < out_w; ++x) {
      uint8_t* o = dst + (static_cast<int64_t>(y) * out_w + x) * channels;
      const int64_t X = (X0 + adelta[x]) >> 5, Y = (Y0 + bdelta[x]) >> 5;
      const int64_t sx = X >> 5, sy = Y >> 5;
      const int fx = static_cast<int>(X & 31), fy = static_cast<int>(Y & 31);
      if (sx >= src_w || sx + 1 < 0 || sy >= src_h || sy + 1 < 0) {
        for (int c = 0; c < channels; ++c) o[c] = 0;
        continue;
      }
      const int w00 = (32 - fy) * (32 - fx) * 32, w01 = (32 - fy) * fx * 32;
      const int w10 = fy * (32 - fx) * 32, w11 = fy * fx * 32;
      const int ix = static_cast<int>(sx), iy = static_cast<int>(sy);
      for (int c = 0; c < channels; ++c) {
        const int v = pixel(ix, iy, c) * w00 + pixel(ix + 1, iy, c) * w01 + pixel(ix, iy + 1, c) * w10 +
                      pixel(ix + 1, iy + 1, c) * w11;
        o[c] = static_cast<uint8_t>(std::min(255, std::max(0, (v + (1 << 14)) >> 15)));
      }
    }
  }
}

// Aligned size x size crop (HWC uint8, same channel order as src) for 10 landmark coordinates.
template <class F>
inline std::vector<uint8_t> align_face(const uint8_t* src, int src_h, int src_w, int channels, const F* landmarks10,
                                       int size = 112,
                                       WarpInterpolation mode = WarpInterpolation::opencv_fixed_point) {
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * channels);
  warp_affine(src, src_h, src_w, channels, estimate_norm(landmarks10, size), out.data(), size, size, mode);
  return out;
}

// 112 (high) x 96 (wide) crop on the SphereFace template (MobileFaceNet-CASIA style input).
template <class F>
inline std::vector<uint8_t> align_face_112x96(const uint8_t* src, int src_h, int src_w, int channels,
                                              const F* landmarks10,
                                              WarpInterpolation mode = WarpInterpolation::opencv_fixed_point) {
  Landmarks5 pts;
  for (int k = 0; k < 5; ++k) pts[k] = {static_cast<double>(landmarks10[2 * k]), static_cast<double>(landmarks10[2 * k + 1])};
  std::vector<uint8_t> out(static_cast<size_t>(112) * 96 * channels);
  warp_affine(src, src_h, src_w, channels, similarity_transform(pts, sphereface_template()), out.data(), 112, 96,
              mode);
  return out;
}

}  // namespace rfcf::recognition

#pragma once
// RetinaFace training augmentation (`preproc`), retinaface.md section 8.3, in the reference order:
// random square crop -> photometric distortion -> pad to square (crop failed) -> horizontal flip ->
// resize (random interpolation) + mean subtraction -> target normalisation.
// Faces are rows of 15 floats [x1, y1, x2, y2, lx0, ly0, ..., lx4, ly4, label] in pixels.
// Every random choice comes from the rfcf::Generator passed in, so a seed fixes the result.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/data/hsv.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/resize.hpp"

namespace rfcf::data {

using FaceRows = std::vector<float>;  // n * 15 values
inline constexpr int kFaceRow = 15;
inline constexpr std::array<float, 3> kRetinaFaceMean = {104.f, 117.f, 123.f};  // B, G, R

struct DetectionAugmentOptions {
  int img_dim = 640;
  std::vector<double> crop_scales = {0.3, 0.45, 0.6, 0.8, 1.0};  // official; empty: uniform(0.3, 1) (1MB repo)
  int crop_tries = 250;
  double min_face = 0.0;  // keep boxes with min(b_w, b_h) > this at the output scale (1MB repo: 5)
  std::array<float, 3> mean = kRetinaFaceMean;
};

struct CropResult {
  io::Image image;
  FaceRows faces;
  bool pad = false;  // no crop was accepted: the original image/targets, to be padded to square
};

// 1. Random square crop (section 8.3 step 1).
inline CropResult random_square_crop(const io::Image& img, const FaceRows& faces, Generator& gen,
                                     const DetectionAugmentOptions& o) {
  check<ShapeError>(img.channels == 3 && !img.empty(), "random_square_crop: need a non-empty 3-channel image, got ",
                    img.width, "x", img.height, "x", img.channels);
  check<ShapeError>(faces.size() % kFaceRow == 0, "random_square_crop: ", faces.size(), " face values");
  const int W = img.width, H = img.height;
  const size_t n = faces.size() / kFaceRow;
  for (int attempt = 0; attempt < o.crop_tries; ++attempt) {
    const double scale = o.crop_scales.empty()
                             ? gen.uniform(0.3, 1.0)
                             : o.crop_scales[static_cast<size_t>(gen.integer(0, static_cast<int64_t>(o.crop_scales.size()) - 1))];
    const int side = static_cast<int>(scale * std::min(W, H));
    if (side <= 0) continue;
    const int left = side == W ? 0 : static_cast<int>(gen.integer(0, W - side - 1));
    const int top = side == H ? 0 : static_cast<int>(gen.integer(0, H - side - 1));
    const float l = static_cast<float>(left), t = static_cast<float>(top);
    const float r = static_cast<float>(left + side), b = static_cast<float>(top + side);
    // Accept only if some gt lies completely inside (intersection / max(area, 1) >= 1).
    bool inside = false;
    for (size_t i = 0; i < n && !inside; ++i) {
      const float* f = faces.data() + i * kFaceRow;
      const float iw = std::min(f[2], r) - std::max(f[0], l), ih = std::min(f[3], b) - std::max(f[1], t);
      const float inter = (iw > 0 && ih > 0) ? iw * ih : 0.f;
      inside = inter / std::max((f[2] - f[0]) * (f[3] - f[1]), 1.f) >= 1.f;
    }
    if (!inside) continue;
    FaceRows kept;
    const float sidef = static_cast<float>(side);
    for (size_t i = 0; i < n; ++i) {
      const float* f = faces.data() + i * kFaceRow;
      const float cx = (f[0] + f[2]) / 2, cy = (f[1] + f[3]) / 2;
      if (!(l < cx && cx < r && t < cy && cy < b)) continue;
      float row[kFaceRow];
      row[0] = std::max(f[0], l) - l;
      row[1] = std::max(f[1], t) - t;
      row[2] = std::min(f[2], r) - l;
      row[3] = std::min(f[3], b) - t;
      for (int k = 0; k < 5; ++k) {
        row[4 + 2 * k] = std::min(std::max(f[4 + 2 * k] - l, 0.f), sidef);
        row[5 + 2 * k] = std::min(std::max(f[5 + 2 * k] - t, 0.f), sidef);
      }
      row[14] = f[14];
      const double bw = (row[2] - row[0] + 1) / sidef * o.img_dim, bh = (row[3] - row[1] + 1) / sidef * o.img_dim;
      if (!(std::min(bw, bh) > o.min_face)) continue;
      kept.insert(kept.end(), row, row + kFaceRow);
    }
    if (kept.empty()) continue;
    CropResult c{io::Image(side, side, 3, img.order), std::move(kept), false};
    for (int y = 0; y < side; ++y)
      std::copy_n(img.at(left, top + y), static_cast<size_t>(side) * 3, c.image.row(y));
    return c;
  }
  return {img, faces, true};
}

namespace detail {
// image = clamp(image * alpha + beta, 0, 255), truncated back to uint8, on every `stride`-th byte from `first`.
inline void convert(io::Image& img, double alpha, double beta, int first = 0, int stride = 1) {
  uint8_t* p = img.data();
  const size_t n = img.pixels.size();
  for (size_t i = static_cast<size_t>(first); i < n; i += static_cast<size_t>(stride)) {
    double v = static_cast<double>(p[i]) * alpha + beta;
    v = v < 0 ? 0 : (v > 255 ? 255 : v);
    p[i] = static_cast<uint8_t>(v);
  }
}
inline void hsv_steps(io::Image& img, Generator& gen) {
  const int64_t count = static_cast<int64_t>(img.width) * img.height;
  hsv::bgr_to_hsv(img.data(), count);
  if (gen.integer(0, 1)) convert(img, gen.uniform(0.5, 1.5), 0.0, 1, 3);  // saturation
  if (gen.integer(0, 1)) {                                                // hue
    const int64_t shift = gen.integer(-18, 18);
    uint8_t* p = img.data();
    for (int64_t i = 0; i < count; ++i) p[3 * i] = static_cast<uint8_t>(((p[3 * i] + shift) % 180 + 180) % 180);
  }
  hsv::hsv_to_bgr(img.data(), count);
}
}  // namespace detail

// 2. Photometric distortion (section 8.3 step 2); BGR uint8 in place.
inline void photometric_distort(io::Image& img, Generator& gen) {
  check<ShapeError>(img.channels == 3, "photometric_distort: need a 3-channel image");
  if (gen.integer(0, 1)) {  // order A: brightness, contrast, HSV steps
    if (gen.integer(0, 1)) detail::convert(img, 1.0, gen.uniform(-32, 32));
    if (gen.integer(0, 1)) detail::convert(img, gen.uniform(0.5, 1.5), 0.0);
    detail::hsv_steps(img, gen);
  } else {  // order B: brightness, HSV steps, contrast
    if (gen.integer(0, 1)) detail::convert(img, 1.0, gen.uniform(-32, 32));
    detail::hsv_steps(img, gen);
    if (gen.integer(0, 1)) detail::convert(img, gen.uniform(0.5, 1.5), 0.0);
  }
}

// 3. Pad to a max(W, H) square with the mean colour, image at the top-left.
inline io::Image pad_to_square(const io::Image& img, const std::array<float, 3>& mean = kRetinaFaceMean) {
  const int side = std::max(img.width, img.height);
  io::Image out(side, side, 3, img.order);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c) out.at(x, y)[c] = static_cast<uint8_t>(mean[static_cast<size_t>(c)]);
  for (int y = 0; y < img.height; ++y) std::copy_n(img.row(y), img.row_bytes(), out.row(y));
  return out;
}

// 4. Horizontal flip of image and faces (x' = W - x, boxes x1' = W - x2; landmarks 0<->1, 3<->4).
inline void horizontal_flip(io::Image& img, FaceRows& faces) {
  for (int y = 0; y < img.height; ++y) {
    uint8_t* row = img.row(y);
    for (int x = 0, z = img.width - 1; x < z; ++x, --z)
      for (int c = 0; c < img.channels; ++c) std::swap(row[x * img.channels + c], row[z * img.channels + c]);
  }
  const float W = static_cast<float>(img.width);
  for (size_t i = 0; i + kFaceRow <= faces.size(); i += kFaceRow) {
    float* f = faces.data() + i;
    const float x1 = W - f[2], x2 = W - f[0];
    f[0] = x1, f[2] = x2;
    for (int k = 0; k < 5; ++k) f[4 + 2 * k] = W - f[4 + 2 * k];
    std::swap(f[4], f[6]), std::swap(f[5], f[7]);      // points 0 <-> 1
    std::swap(f[10], f[12]), std::swap(f[11], f[13]);  // points 3 <-> 4
  }
}

// 5. Resize to dim x dim and subtract the mean -> float CHW [3, dim, dim].
inline Tensor<float, cpu> resize_subtract_mean(const io::Image& img, int dim, io::Interpolation interp,
                                              const std::array<float, 3>& mean = kRetinaFaceMean) {
  const io::Image r = (img.width == dim && img.height == dim) ? img : io::resize(img, dim, dim, interp);
  Tensor<float, cpu> t(Shape{3, dim, dim});
  const int64_t plane = static_cast<int64_t>(dim) * dim;
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) t.data()[c * plane + i] = static_cast<float>(r.pixels[3 * i + c]) - mean[c];
  return t;
}

struct AugmentedSample {
  Tensor<float, cpu> image;  // [3, img_dim, img_dim], BGR minus mean
  FaceRows faces;            // normalised by the pre-resize width / height
  bool padded = false;
  bool flipped = false;
  io::Interpolation interpolation = io::Interpolation::Linear;
};

// The whole pipeline on a BGR uint8 image.
inline AugmentedSample augment_detection(const io::Image& img, const FaceRows& faces, Generator& gen,
                                         const DetectionAugmentOptions& o = {}) {
  check<ShapeError>(!faces.empty(), "augment_detection: an image needs at least one face");
  CropResult c = random_square_crop(img, faces, gen, o);
  photometric_distort(c.image, gen);
  if (c.pad) c.image = pad_to_square(c.image, o.mean);
  AugmentedSample s;
  s.padded = c.pad;
  s.flipped = gen.integer(0, 1) != 0;
  if (s.flipped) horizontal_flip(c.image, c.faces);
  static constexpr io::Interpolation kInterps[5] = {io::Interpolation::Linear, io::Interpolation::Cubic,
                                                    io::Interpolation::Area, io::Interpolation::Nearest,
                                                    io::Interpolation::Lanczos4};
  s.interpolation = kInterps[gen.integer(0, 4)];
  s.image = resize_subtract_mean(c.image, o.img_dim, s.interpolation, o.mean);
  const float W = static_cast<float>(c.image.width), H = static_cast<float>(c.image.height);
  for (size_t i = 0; i + kFaceRow <= c.faces.size(); i += kFaceRow)
    for (int k = 0; k < 14; ++k) c.faces[i + k] /= (k % 2 == 0) ? W : H;
  s.faces = std::move(c.faces);
  return s;
}

}  // namespace rfcf::data

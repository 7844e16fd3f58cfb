#pragma once
// Augmentation for face-recognition training on aligned crops (recognition.md 8.2). insightface and
// the CurricularFace code use a random horizontal flip with p = 0.5 only, which is the default here.
// Mild photometric changes and blur are optional (strong distortions hurt identity features); each
// has a probability and a strength:
//   brightness  v * f,                       f ~ U[1 - b, 1 + b]
//   contrast    (v - m) * f + m,             f ~ U[1 - c, 1 + c], m = mean luma of the image
//   hue/sat.    OpenCV 8-bit HSV (data/hsv.hpp): H + dh (mod 180), S * f; dh ~ U[-hue, hue], f ~ U[1 - s, 1 + s]
//   gamma       255 * (v / 255)^g,           log g ~ U[-log(1 + gamma), log(1 + gamma)]
//   blur        Gaussian, sigma ~ U[sigma_min, sigma_max], kernel 2*ceil(3 sigma) + 1
//   motion blur a line kernel of length L ~ U{min, max} at an angle ~ U[0, 180) degrees
// Results are rounded to nearest and saturated; borders are replicated. Every random number comes
// from the Generator passed in, so a seed fixes the result.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/data/hsv.hpp"
#include "rfcf/data/pixel_functors.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/image_ops.hpp"

namespace rfcf::data {

struct RecognitionAugmentOptions {
  double flip_p = 0.5;
  double brightness_p = 0.0, brightness = 0.2;
  double contrast_p = 0.0, contrast = 0.2;
  double hue_saturation_p = 0.0, hue = 5.0, saturation = 0.2;  // hue in OpenCV units (2 degrees)
  double gamma_p = 0.0, gamma = 0.2;
  double blur_p = 0.0, blur_sigma_min = 0.3, blur_sigma_max = 1.0;
  double motion_blur_p = 0.0;
  int motion_blur_min_length = 3, motion_blur_max_length = 7;

  // Horizontal flip only (insightface / CurricularFace).
  static RecognitionAugmentOptions flip_only() { return {}; }
  // Flip plus every mild distortion with a small probability.
  static RecognitionAugmentOptions mild() {
    RecognitionAugmentOptions o;
    o.brightness_p = o.contrast_p = o.hue_saturation_p = o.gamma_p = 0.2;
    o.blur_p = o.motion_blur_p = 0.1;
    return o;
  }
  // No augmentation at all (evaluation, tests).
  static RecognitionAugmentOptions none() {
    RecognitionAugmentOptions o;
    o.flip_p = 0.0;
    return o;
  }

  void validate() const {
    for (double p : {flip_p, brightness_p, contrast_p, hue_saturation_p, gamma_p, blur_p, motion_blur_p})
      check<ConfigError>(p >= 0 && p <= 1, "RecognitionAugmentOptions: probability ", p, " is not in [0, 1]");
    check<ConfigError>(brightness >= 0 && brightness < 1 && contrast >= 0 && contrast < 1 && saturation >= 0 &&
                           saturation <= 1 && gamma >= 0 && hue >= 0 && hue <= 90,
                       "RecognitionAugmentOptions: strengths must satisfy 0 <= brightness, contrast < 1, "
                       "0 <= saturation <= 1, gamma >= 0, 0 <= hue <= 90 (got ", brightness, ", ", contrast, ", ",
                       saturation, ", ", gamma, ", ", hue, ")");
    check<ConfigError>(blur_sigma_min > 0 && blur_sigma_max >= blur_sigma_min && blur_sigma_max <= 10,
                       "RecognitionAugmentOptions: need 0 < blur_sigma_min <= blur_sigma_max <= 10 (got ",
                       blur_sigma_min, ", ", blur_sigma_max, ")");
    check<ConfigError>(motion_blur_min_length >= 1 && motion_blur_max_length >= motion_blur_min_length &&
                           motion_blur_max_length <= 31,
                       "RecognitionAugmentOptions: need 1 <= motion_blur_min_length <= motion_blur_max_length <= 31 (got ",
                       motion_blur_min_length, ", ", motion_blur_max_length, ")");
  }
};

namespace augment_detail {
inline uint8_t round_saturate(double v) {
  const double r = std::floor(v + 0.5);
  return static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
}
inline io::Image apply_lut(const io::Image& img, const uint8_t (&lut)[256]) {
  io::Image out(img.width, img.height, img.channels, img.order);
  functors::for_each_serial(static_cast<int64_t>(img.pixels.size()), functors::ApplyLut{img.data(), out.data(), lut});
  return out;
}
inline void check_colour(const io::Image& img, const char* what) {
  check<ShapeError>(img.channels == 3 && !img.empty(), what, ": need a non-empty 3-channel image, got ", img.width, "x",
                    img.height, "x", img.channels);
}
}  // namespace augment_detail

// v * factor.
inline io::Image adjust_brightness(const io::Image& img, double factor) {
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = augment_detail::round_saturate(v * factor);
  return augment_detail::apply_lut(img, lut);
}

// Mean luma (0.299 R + 0.587 G + 0.114 B) of a colour image.
inline double mean_luma(const io::Image& img) {
  augment_detail::check_colour(img, "mean_luma");
  const int r = img.order == io::ColorOrder::RGB ? 0 : 2, b = 2 - r;
  double sum = 0;
  const size_t n = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = img.data() + 3 * i;
    sum += 0.299 * p[r] + 0.587 * p[1] + 0.114 * p[b];
  }
  return sum / static_cast<double>(n);
}

// (v - m) * factor + m with m the mean luma.
inline io::Image adjust_contrast(const io::Image& img, double factor) {
  const double m = mean_luma(img);
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = augment_detail::round_saturate((v - m) * factor + m);
  return augment_detail::apply_lut(img, lut);
}

// 255 * (v / 255)^gamma.
inline io::Image adjust_gamma(const io::Image& img, double gamma) {
  check<ConfigError>(gamma > 0, "adjust_gamma: gamma must be > 0, got ", gamma);
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = augment_detail::round_saturate(255.0 * std::pow(v / 255.0, gamma));
  return augment_detail::apply_lut(img, lut);
}

// Hue shift (OpenCV units, H in [0, 180)) and saturation factor in OpenCV's 8-bit HSV.
inline io::Image adjust_hue_saturation(const io::Image& img, double hue_shift, double saturation_factor) {
  augment_detail::check_colour(img, "adjust_hue_saturation");
  io::Image out = io::to_bgr(img);
  const int64_t n = static_cast<int64_t>(out.width) * out.height;
  hsv::bgr_to_hsv(out.data(), n);
  const int shift = static_cast<int>(std::lround(hue_shift));
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* p = out.data() + 3 * i;
    p[0] = static_cast<uint8_t>(((p[0] + shift) % 180 + 180) % 180);
    p[1] = augment_detail::round_saturate(p[1] * saturation_factor);
  }
  hsv::hsv_to_bgr(out.data(), n);
  return io::with_order(out, img.order);
}

// A 2-D correlation kernel (row-major, odd sizes, centre at the middle).
struct ImageKernel {
  int height = 1, width = 1;
  std::vector<float> weights{1.f};
};

// Correlation with a kernel, replicated border, rounded and saturated.
inline io::Image convolve(const io::Image& img, const ImageKernel& k) {
  check<ShapeError>(!img.empty(), "convolve: empty image");
  check<ShapeError>(k.height % 2 == 1 && k.width % 2 == 1 &&
                        k.weights.size() == static_cast<size_t>(k.height) * static_cast<size_t>(k.width),
                    "convolve: kernel must have odd sizes and height*width weights (got ", k.height, "x", k.width, ", ",
                    k.weights.size(), " weights)");
  io::Image out(img.width, img.height, img.channels, img.order);
  functors::for_each_serial(static_cast<int64_t>(img.pixels.size()),
                            functors::Convolve2dU8{img.data(), out.data(), k.weights.data(), img.height, img.width,
                                                   img.channels, k.height, k.width});
  return out;
}

// Normalised 1-D Gaussian of 2*ceil(3 sigma) + 1 taps.
inline std::vector<float> gaussian_kernel_1d(double sigma) {
  check<ConfigError>(sigma > 0 && sigma <= 10, "gaussian_kernel_1d: sigma must be in (0, 10], got ", sigma);
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<double> w(static_cast<size_t>(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += w[static_cast<size_t>(i + r)] = std::exp(-0.5 * i * i / (sigma * sigma));
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = static_cast<float>(w[i] / sum);
  return out;
}

// The separable Gaussian as one 2-D kernel (outer product; one rounding per pixel).
inline ImageKernel gaussian_kernel(double sigma) {
  const std::vector<float> g = gaussian_kernel_1d(sigma);
  const int n = static_cast<int>(g.size());
  ImageKernel k{n, n, std::vector<float>(static_cast<size_t>(n) * n)};
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) k.weights[static_cast<size_t>(y * n + x)] = g[static_cast<size_t>(y)] * g[static_cast<size_t>(x)];
  return k;
}

inline io::Image gaussian_blur(const io::Image& img, double sigma) { return convolve(img, gaussian_kernel(sigma)); }

// A line of `length` pixels through the centre at `angle_deg` (0: horizontal, 90: vertical, counted
// anticlockwise on screen), rasterised by sampling and normalised to sum 1. Size: the smallest odd
// square holding the line.
inline ImageKernel motion_blur_kernel(int length, double angle_deg) {
  check<ConfigError>(length >= 1 && length <= 31, "motion_blur_kernel: length must be in [1, 31], got ", length);
  const int size = length % 2 == 1 ? length : length + 1;
  const int c = size / 2;
  ImageKernel k{size, size, std::vector<float>(static_cast<size_t>(size) * size, 0.f)};
  const double a = angle_deg * 3.14159265358979323846 / 180.0;
  const double dx = std::cos(a), dy = -std::sin(a);  // image y grows downwards
  const int samples = 8 * length;
  for (int s = 0; s < samples; ++s) {
    const double t = length == 1 ? 0.0 : -(length - 1) / 2.0 + (length - 1) * s / static_cast<double>(samples - 1);
    const int x = c + static_cast<int>(std::lround(t * dx)), y = c + static_cast<int>(std::lround(t * dy));
    k.weights[static_cast<size_t>(y * size + x)] += 1.f;
  }
  for (float& w : k.weights) w /= static_cast<float>(samples);
  return k;
}

inline io::Image motion_blur(const io::Image& img, int length, double angle_deg) {
  return convolve(img, motion_blur_kernel(length, angle_deg));
}

// Applies the enabled augmentations in a fixed order: flip, brightness, contrast, hue/saturation,
// gamma, Gaussian blur, motion blur. Each one first draws its coin from `gen`.
inline io::Image augment_recognition(const io::Image& img, Generator& gen, const RecognitionAugmentOptions& o) {
  augment_detail::check_colour(img, "augment_recognition");
  io::Image out = img;
  auto coin = [&](double p) { return p > 0 && gen.uniform() < p; };
  if (coin(o.flip_p)) out = io::flip_horizontal(out);
  if (coin(o.brightness_p)) out = adjust_brightness(out, gen.uniform(1 - o.brightness, 1 + o.brightness));
  if (coin(o.contrast_p)) out = adjust_contrast(out, gen.uniform(1 - o.contrast, 1 + o.contrast));
  if (coin(o.hue_saturation_p)) {
    const double dh = gen.uniform(-o.hue, o.hue);
    out = adjust_hue_saturation(out, dh, gen.uniform(1 - o.saturation, 1 + o.saturation));
  }
  if (coin(o.gamma_p)) {
    const double l = std::log1p(o.gamma);
    out = adjust_gamma(out, std::exp(gen.uniform(-l, l)));
  }
  if (coin(o.blur_p)) out = gaussian_blur(out, gen.uniform(o.blur_sigma_min, o.blur_sigma_max));
  if (coin(o.motion_blur_p)) {
    const int len = static_cast<int>(gen.integer(o.motion_blur_min_length, o.motion_blur_max_length));
    out = motion_blur(out, len, gen.uniform(0.0, 180.0));
  }
  return out;
}

}  // namespace rfcf::data

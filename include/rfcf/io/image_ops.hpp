#pragma once
// Pixel-level conversions of io::Image: channel order, crop, flip, pad, and the conversion to
// a float NCHW tensor that the networks take.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "rfcf/core/allocator.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::io {

// The same pixels with the channel bytes in `order` (grey images are returned unchanged).
inline Image with_order(const Image& img, ColorOrder order) {
  Image out = img;
  if (img.channels == 3 && img.order != order) detail::swap_red_blue(out);
  out.order = order;
  return out;
}
inline Image to_rgb(const Image& img) { return with_order(img, ColorOrder::RGB); }
inline Image to_bgr(const Image& img) { return with_order(img, ColorOrder::BGR); }

// Float tensor [1, C, H, W] with value = (pixel - mean[c]) * scale[c], channels in the
// image's own order (a BGR image gives B, G, R planes). RetinaFace: BGR, mean (104, 117,
// 123), scale 1. insightface recognition: RGB, mean 127.5, scale 1/127.5.
inline void to_tensor_into(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& scale,
                           float* dst) {
  const size_t plane = size_t(img.width) * size_t(img.height);
  const int C = img.channels;
  for (int c = 0; c < C; ++c) {
    const float m = mean[size_t(c)], s = scale[size_t(c)];
    float* out = dst + size_t(c) * plane;
    const uint8_t* in = img.pixels.data() + c;
    for (size_t i = 0; i < plane; ++i) out[i] = (float(in[i * size_t(C)]) - m) * s;
  }
}

inline Tensor<float, cpu> to_tensor(const Image& img, const std::array<float, 3>& mean = {0.f, 0.f, 0.f},
                                    const std::array<float, 3>& scale = {1.f, 1.f, 1.f}) {
  check<ShapeError>(!img.empty(), "to_tensor: empty image");
  Tensor<float, cpu> t(Shape{1, img.channels, img.height, img.width});
  to_tensor_into(img, mean, scale, t.data());
  return t;
}

// The rectangle [x, x + w) x [y, y + h); it must lie inside the image.
inline Image crop(const Image& img, int x, int y, int w, int h) {
  check<ShapeError>(x >= 0 && y >= 0 && w >= 0 && h >= 0 && int64_t(x) + w <= img.width &&
                        int64_t(y) + h <= img.height,
                    "crop: rectangle (", x, ", ", y, ", ", w, "x", h, ") is not inside the ", img.width, "x",
                    img.height, " image");
  Image out(w, h, img.channels, img.order);
  for (int r = 0; r < h; ++r)
    std::memcpy(out.row(r), img.at(x, y + r), size_t(w) * size_t(img.channels));
  return out;
}

inline Image flip_horizontal(const Image& img) {
  Image out(img.width, img.height, img.channels, img.order);
  const int C = img.channels;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) std::memcpy(out.at(img.width - 1 - x, y), img.at(x, y), size_t(C));
  return out;
}

inline Image flip_vertical(const Image& img) {
  Image out(img.width, img.height, img.channels, img.order);
  for (int y = 0; y < img.height; ++y) std::memcpy(out.row(img.height - 1 - y), img.row(y), img.row_bytes());
  return out;
}

// Constant border; `fill` is in the image's channel order (only fill[0] for grey images).
inline Image pad(const Image& img, int top, int bottom, int left, int right,
                 const std::array<uint8_t, 3>& fill = {0, 0, 0}) {
  check<ShapeError>(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "pad: negative padding (", top, ", ",
                    bottom, ", ", left, ", ", right, ")");
  Image out(img.width + left + right, img.height + top + bottom, img.channels, img.order);
  const int C = img.channels;
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = fill[i % size_t(C)];
  for (int y = 0; y < img.height; ++y) std::memcpy(out.at(left, top + y), img.row(y), img.row_bytes());
  return out;
}

}  // namespace rfcf::io

#pragma once
// 8-bit BGR <-> HSV with OpenCV's conventions (H in [0, 180), S and V in [0, 255]), as used by the
// RetinaFace photometric distortion (retinaface.md 8.3). BGR->HSV uses OpenCV's fixed-point
// division tables (12-bit shift, rounded; bit-exact); HSV->BGR goes through float sectors and
// truncates (within 1 of cv2 4.6, exact for all but a few values).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace rfcf::data::hsv {

namespace detail {
inline constexpr int kShift = 12;
struct Tables {
  std::array<int, 256> sdiv{}, hdiv{};
  Tables() {
    for (int i = 1; i < 256; ++i) {
      sdiv[i] = static_cast<int>(std::lround((255 << kShift) / (1.0 * i)));
      hdiv[i] = static_cast<int>(std::lround((180 << kShift) / (6.0 * i)));
    }
  }
};
inline const Tables& tables() {
  static const Tables t;
  return t;
}
}  // namespace detail

// In place on interleaved 3-channel pixels.
inline void bgr_to_hsv(uint8_t* px, int64_t count) {
  const auto& t = detail::tables();
  constexpr int round = 1 << (detail::kShift - 1);
  for (int64_t i = 0; i < count; ++i, px += 3) {
    const int b = px[0], g = px[1], r = px[2];
    const int v = std::max(b, std::max(g, r));
    const int vmin = std::min(b, std::min(g, r));
    const int diff = v - vmin;
    const int s = (diff * t.sdiv[v] + round) >> detail::kShift;
    int h = v == r ? g - b : (v == g ? b - r + 2 * diff : r - g + 4 * diff);
    h = (h * t.hdiv[diff] + round) >> detail::kShift;
    if (h < 0) h += 180;
    px[0] = static_cast<uint8_t>(h);
    px[1] = static_cast<uint8_t>(s);
    px[2] = static_cast<uint8_t>(v);
  }
}

// Truncation reproduces cv2 4.6 in all but ~2 of 12288 channel values (each off by 1); rounding
// would differ in a third of them.
inline uint8_t saturate_trunc(float x) {
  const int v = static_cast<int>(x);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

inline void hsv_to_bgr(uint8_t* px, int64_t count) {
  static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
  for (int64_t i = 0; i < count; ++i, px += 3) {
    float h = static_cast<float>(px[0]);
    const float s = static_cast<float>(px[1]) * (1.f / 255.f);
    const float v = static_cast<float>(px[2]) * (1.f / 255.f);
    float b = v, g = v, r = v;
    if (s != 0.f) {
      h *= 6.f / 180.f;
      while (h < 0) h += 6;
      while (h >= 6) h -= 6;
      int sector = static_cast<int>(std::floor(h));
      h -= static_cast<float>(sector);
      if (sector < 0 || sector >= 6) sector = 0, h = 0.f;
      const float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
      b = tab[sector_data[sector][0]];
      g = tab[sector_data[sector][1]];
      r = tab[sector_data[sector][2]];
    }
    px[0] = saturate_trunc(b * 255.f);
    px[1] = saturate_trunc(g * 255.f);
    px[2] = saturate_trunc(r * 255.f);
  }
}

}  // namespace rfcf::data::hsv

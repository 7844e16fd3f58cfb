#pragma once
// Drawing on io::Image: lines, rectangles, filled circles, text (rfcf/io/font.hpp), and
// draw_detections for annotated face detections. Everything is clipped to the image (or
// to an explicit clip rectangle), so shapes may extend past the border.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/font.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::io {

// An RGB colour; drawing writes it in the image's channel order (grey: the luma).
struct Color {
  uint8_t r = 0, g = 0, b = 0;
};

namespace colors {
inline constexpr Color black{0, 0, 0}, white{255, 255, 255}, red{230, 25, 25}, green{30, 180, 60},
    blue{30, 90, 220}, yellow{250, 210, 0}, cyan{0, 190, 210}, magenta{210, 40, 200}, orange{245, 130, 20},
    grey{128, 128, 128}, light_grey{225, 225, 225};
}  // namespace colors

// Half-open pixel rectangle [x0, x1) x [y0, y1).
struct ClipRect {
  int x0, y0, x1, y1;
};

inline ClipRect full_rect(const Image& img) { return {0, 0, img.width, img.height}; }

namespace draw_detail {
// Pixel coordinate for possibly wild doubles (huge or NaN): clamped into int range.
inline int to_px(double v) {
  if (!(v == v)) return -1000000;
  return int(std::lround(std::clamp(v, -1.0e6, 1.0e6)));
}
}  // namespace draw_detail

inline void put_pixel(Image& img, int x, int y, Color c, const ClipRect& clip) {
  if (x < clip.x0 || y < clip.y0 || x >= clip.x1 || y >= clip.y1) return;
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  uint8_t* p = img.at(x, y);
  if (img.channels == 1) {
    p[0] = static_cast<uint8_t>((299 * c.r + 587 * c.g + 114 * c.b + 500) / 1000);
  } else if (img.order == ColorOrder::RGB) {
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  } else {
    p[0] = c.b, p[1] = c.g, p[2] = c.r;
  }
}
inline void put_pixel(Image& img, int x, int y, Color c) { put_pixel(img, x, y, c, full_rect(img)); }

// Axis-aligned filled rectangle with corners (x0, y0) and (x1, y1), both inclusive.
inline void fill_rectangle(Image& img, int x0, int y0, int x1, int y1, Color c, const ClipRect* clip = nullptr) {
  ClipRect r = clip ? *clip : full_rect(img);
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  x0 = std::max({x0, r.x0, 0});
  y0 = std::max({y0, r.y0, 0});
  x1 = std::min({x1, r.x1 - 1, img.width - 1});
  y1 = std::min({y1, r.y1 - 1, img.height - 1});
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) put_pixel(img, x, y, c, r);
}

inline void fill_circle(Image& img, double cx, double cy, double radius, Color c, const ClipRect* clip = nullptr) {
  ClipRect r = clip ? *clip : full_rect(img);
  if (!std::isfinite(cx) || !std::isfinite(cy) || !std::isfinite(radius)) return;
  radius = std::min(radius, 1.0e5);
  int x0 = draw_detail::to_px(std::floor(cx - radius)), x1 = draw_detail::to_px(std::ceil(cx + radius));
  int y0 = draw_detail::to_px(std::floor(cy - radius)), y1 = draw_detail::to_px(std::ceil(cy + radius));
  double r2 = radius * radius;
  for (int y = std::max(y0, r.y0); y <= std::min(y1, r.y1 - 1); ++y)
    for (int x = std::max(x0, r.x0); x <= std::min(x1, r.x1 - 1); ++x)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r2) put_pixel(img, x, y, c, r);
}

// Line from (x0, y0) to (x1, y1) with a square pen of `thickness` pixels.
inline void draw_line(Image& img, double x0, double y0, double x1, double y1, Color c, int thickness = 1,
                      const ClipRect* clip = nullptr) {
  ClipRect r = clip ? *clip : full_rect(img);
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  // Keep the step count bounded for wild coordinates: clamp to a margin around the image.
  const double lim = 4.0 * (img.width + img.height) + 16;
  auto clampd = [&](double v) { return std::clamp(v, -lim, lim); };
  x0 = clampd(x0), y0 = clampd(y0), x1 = clampd(x1), y1 = clampd(y1);
  int steps = int(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))) + 1;
  int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int i = 0; i < steps; ++i) {
    double t = steps == 1 ? 0.0 : double(i) / (steps - 1);
    int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
    for (int dy = lo; dy <= hi; ++dy)
      for (int dx = lo; dx <= hi; ++dx) put_pixel(img, x + dx, y + dy, c, r);
  }
}

// Outline of the box with corners (x1, y1) and (x2, y2).
inline void draw_rectangle(Image& img, double x1, double y1, double x2, double y2, Color c, int thickness = 1) {
  draw_line(img, x1, y1, x2, y1, c, thickness);
  draw_line(img, x2, y1, x2, y2, c, thickness);
  draw_line(img, x2, y2, x1, y2, c, thickness);
  draw_line(img, x1, y2, x1, y1, c, thickness);
}

// Text with its top-left corner at (x, y), each font pixel drawn as a scale x scale block.
inline void draw_text(Image& img, int x, int y, std::string_view text, Color c, int scale = 1,
                      const ClipRect* clip = nullptr) {
  ClipRect r = clip ? *clip : full_rect(img);
  scale = std::max(scale, 1);
  for (size_t i = 0; i < text.size(); ++i) {
    const font::Glyph& g = font::glyph(text[i]);
    int gx = x + int(i) * font::kAdvance * scale;
    for (int row = 0; row < font::kGlyphHeight; ++row)
      for (int col = 0; col < font::kGlyphWidth; ++col)
        if (font::ink(g, col, row))
          for (int sy = 0; sy < scale; ++sy)
            for (int sx = 0; sx < scale; ++sx) put_pixel(img, gx + col * scale + sx, y + row * scale + sy, c, r);
  }
}

// Text on a filled background box with a 2-pixel margin (readable on photos).
inline void draw_label(Image& img, int x, int y, std::string_view text, Color fg, Color bg, int scale = 1) {
  fill_rectangle(img, x, y, x + font::text_width(text, scale) + 3, y + font::text_height(scale) + 3, bg);
  draw_text(img, x + 2, y + 2, text, fg, scale);
}

// Boxes [x1, y1, x2, y2] in pixels, one score per box, optional 5-point landmarks
// [x0, y0, ..., x4, y4]. Landmark colours follow the usual RetinaFace demo order: left eye,
// right eye, nose, left and right mouth corner.
inline void draw_detections(Image& img, const std::vector<std::array<float, 4>>& boxes,
                            const std::vector<float>& scores,
                            const std::vector<std::array<float, 10>>& landmarks = {}, Color box_color = colors::red) {
  check<ShapeError>(scores.empty() || scores.size() == boxes.size(), "draw_detections: ", boxes.size(), " boxes but ",
                    scores.size(), " scores");
  check<ShapeError>(landmarks.empty() || landmarks.size() == boxes.size(), "draw_detections: ", boxes.size(),
                    " boxes but ", landmarks.size(), " landmark sets");
  const int short_side = std::min(img.width, img.height);
  const int thickness = std::max(1, short_side / 300);
  const int scale = std::max(1, short_side / 400);
  const Color point_colors[5] = {colors::red, colors::yellow, colors::magenta, colors::green, colors::blue};
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    draw_rectangle(img, b[0], b[1], b[2], b[3], box_color, thickness);
    if (!landmarks.empty())
      for (int k = 0; k < 5; ++k)
        fill_circle(img, landmarks[i][size_t(2 * k)], landmarks[i][size_t(2 * k + 1)], 1.5 + thickness, point_colors[k]);
    if (!scores.empty()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", double(scores[i]));
      int ty = draw_detail::to_px(b[1]) - font::text_height(scale) - 4;
      if (ty < 0) ty = draw_detail::to_px(b[1]) + thickness;
      draw_label(img, draw_detail::to_px(b[0]), ty, buf, colors::white, box_color, scale);
    }
  }
}

}  // namespace rfcf::io

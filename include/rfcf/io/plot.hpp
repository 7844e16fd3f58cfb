#pragma once
// Line plots rendered to an io::Image (save with write_png): PR curves, ROC curves, loss
// curves. Axes with "nice" ticks (1, 2, 5 x 10^k), tick labels, grid, title, axis labels
// and a legend; optional logarithmic x axis (ROC curves over false-positive rates).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/draw.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::io {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::optional<Color> color;  // default: a fixed palette by series index
};

enum class LegendPosition { TopRight, TopLeft, BottomRight, BottomLeft, None };

struct PlotOptions {
  std::string title, x_label, y_label;
  std::optional<double> x_min, x_max, y_min, y_max;  // default: the data range
  int width = 640, height = 480;
  bool log_x = false;  // x must then be > 0 (non-positive points are skipped)
  LegendPosition legend = LegendPosition::TopRight;
  int line_thickness = 2;
};

namespace plot_detail {

inline const Color kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

// About `target` round tick values covering [lo, hi].
inline std::vector<double> nice_ticks(double lo, double hi, int target, double* step_out) {
  double span = hi - lo, raw = span / std::max(target, 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  *step_out = step;
  return ticks;
}

inline std::string format_tick(double v, double step) {
  int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  char buf[48];
  if (std::abs(v) >= 1e6 || (v != 0 && std::abs(v) < 1e-4))
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), v);
  return buf;
}

inline std::string format_power(int e) {
  char buf[24];
  if (e >= 0 && e <= 3) std::snprintf(buf, sizeof buf, "%d", int(std::lround(std::pow(10, e))));
  else std::snprintf(buf, sizeof buf, "1e%d", e);
  return buf;
}

// Text running bottom-to-top with its lower-left corner at (x, y).
inline void draw_text_up(Image& img, int x, int y, std::string_view text, Color c, int scale) {
  for (size_t i = 0; i < text.size(); ++i) {
    const font::Glyph& g = font::glyph(text[i]);
    for (int row = 0; row < font::kGlyphHeight; ++row)
      for (int col = 0; col < font::kGlyphWidth; ++col)
        if (font::ink(g, col, row))
          for (int s1 = 0; s1 < scale; ++s1)
            for (int s2 = 0; s2 < scale; ++s2) {
              int u = int(i) * font::kAdvance * scale + col * scale + s1;  // along the text
              int v = row * scale + s2;                                     // across the text
              put_pixel(img, x + v, y - u, c);
            }
  }
}

}  // namespace plot_detail

inline Image plot_lines(const std::vector<Series>& series, const PlotOptions& opt = {}) {
  using namespace plot_detail;
  check<ConfigError>(opt.width >= 160 && opt.height >= 120 && opt.width <= 8192 && opt.height <= 8192,
                     "plot_lines: size ", opt.width, "x", opt.height, " outside [160, 8192] x [120, 8192]");
  for (const Series& s : series)
    check<ShapeError>(s.x.size() == s.y.size(), "plot_lines: series '", s.name, "' has ", s.x.size(), " x and ",
                      s.y.size(), " y values");
  auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!opt.log_x || x > 0); };
  // Data range over finite points; the options override it.
  double dx0 = std::numeric_limits<double>::infinity(), dx1 = -dx0, dy0 = dx0, dy1 = -dx0;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size(); ++i)
      if (usable(s.x[i], s.y[i])) {
        dx0 = std::min(dx0, s.x[i]), dx1 = std::max(dx1, s.x[i]);
        dy0 = std::min(dy0, s.y[i]), dy1 = std::max(dy1, s.y[i]);
      }
  if (!std::isfinite(dx0)) dx0 = opt.log_x ? 1e-3 : 0, dx1 = 1, dy0 = 0, dy1 = 1;
  double x0 = opt.x_min.value_or(dx0), x1 = opt.x_max.value_or(dx1);
  double y0 = opt.y_min.value_or(dy0), y1 = opt.y_max.value_or(dy1);
  check<ConfigError>(std::isfinite(x0) && std::isfinite(x1) && std::isfinite(y0) && std::isfinite(y1),
                     "plot_lines: non-finite axis range");
  check<ConfigError>(!opt.log_x || (x0 > 0 && x1 > 0), "plot_lines: log x axis needs a positive range");
  if (x1 <= x0) x0 -= opt.log_x ? x0 * 0.5 : 0.5, x1 = x0 * (opt.log_x ? 4 : 1) + (opt.log_x ? 0 : 1);
  if (y1 <= y0) y0 -= 0.5, y1 = y0 + 1;
  if (!opt.y_min && !opt.y_max) {  // a little headroom for auto ranges
    double pad = (y1 - y0) * 0.04;
    y0 -= pad, y1 += pad;
  }
  const double lx0 = opt.log_x ? std::log10(x0) : x0, lx1 = opt.log_x ? std::log10(x1) : x1;

  const int big = std::max(1, std::min(opt.width, opt.height) / 300);  // text scale
  const int small = std::max(1, big - (big > 1 ? 1 : 0));
  const int title_scale = big + (opt.width >= 480 ? 1 : 0);
  const int left = 14 + font::text_height(big) + 8 * font::kAdvance * small;
  const int right = 20, top = 16 + (opt.title.empty() ? 0 : font::text_height(title_scale) + 10);
  const int bottom = 20 + font::text_height(small) + (opt.x_label.empty() ? 0 : font::text_height(big) + 10);
  const int pw = opt.width - left - right, ph = opt.height - top - bottom;
  check<ConfigError>(pw > 20 && ph > 20, "plot_lines: ", opt.width, "x", opt.height, " leaves no room to plot");
  const ClipRect area{left, top, left + pw, top + ph};
  auto px = [&](double x) {
    double t = ((opt.log_x ? std::log10(x) : x) - lx0) / (lx1 - lx0);
    return left + std::clamp(t, -10.0, 10.0) * (pw - 1);
  };
  auto py = [&](double y) { return top + (1.0 - std::clamp((y - y0) / (y1 - y0), -10.0, 10.0)) * (ph - 1); };

  Image img(opt.width, opt.height, 3, ColorOrder::RGB, 255);
  // Grid, ticks and tick labels.
  std::vector<std::pair<double, std::string>> xt, yt;
  if (opt.log_x) {
    for (int e = int(std::ceil(lx0 - 1e-9)); e <= int(std::floor(lx1 + 1e-9)); ++e)
      xt.push_back({std::pow(10.0, e), format_power(e)});
  } else {
    double step = 1;
    for (double t : nice_ticks(x0, x1, std::max(3, pw / 90), &step)) xt.push_back({t, format_tick(t, step)});
  }
  double ystep = 1;
  for (double t : nice_ticks(y0, y1, std::max(3, ph / 60), &ystep)) yt.push_back({t, format_tick(t, ystep)});
  for (const auto& [v, label] : xt) {
    int x = int(std::lround(px(v)));
    draw_line(img, x, top, x, top + ph - 1, colors::light_grey);
    draw_line(img, x, top + ph, x, top + ph + 4, colors::black);
    draw_text(img, x - font::text_width(label, small) / 2, top + ph + 8, label, colors::black, small);
  }
  for (const auto& [v, label] : yt) {
    int y = int(std::lround(py(v)));
    draw_line(img, left, y, left + pw - 1, y, colors::light_grey);
    draw_line(img, left - 5, y, left - 1, y, colors::black);
    draw_text(img, left - 8 - font::text_width(label, small), y - font::text_height(small) / 2, label, colors::black,
              small);
  }
  // Series, clipped to the plot area.
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    Color c = s.color.value_or(kPalette[k % std::size(kPalette)]);
    bool have_prev = false;
    double qx = 0, qy = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i])) {
        have_prev = false;
        continue;
      }
      double cx = px(s.x[i]), cy = py(s.y[i]);
      if (have_prev) draw_line(img, qx, qy, cx, cy, c, opt.line_thickness, &area);
      else if (s.x.size() == 1) fill_circle(img, cx, cy, opt.line_thickness + 1, c, &area);
      qx = cx, qy = cy, have_prev = true;
    }
  }
  draw_rectangle(img, left - 1, top - 1, left + pw, top + ph, colors::black);
  // Title, axis labels.
  if (!opt.title.empty())
    draw_text(img, (opt.width - font::text_width(opt.title, title_scale)) / 2, 10, opt.title, colors::black,
              title_scale);
  if (!opt.x_label.empty())
    draw_text(img, left + (pw - font::text_width(opt.x_label, big)) / 2, opt.height - 8 - font::text_height(big),
              opt.x_label, colors::black, big);
  if (!opt.y_label.empty())
    draw_text_up(img, 8, top + (ph + font::text_width(opt.y_label, big)) / 2, opt.y_label, colors::black, big);
  // Legend: a framed box with a line sample per named series.
  size_t named = 0;
  int name_w = 0;
  for (const Series& s : series)
    if (!s.name.empty()) ++named, name_w = std::max(name_w, font::text_width(s.name, small));
  if (named > 0 && opt.legend != LegendPosition::None) {
    const int row_h = font::text_height(small) + 6, sample = 22;
    const int bw = 8 + sample + 6 + name_w + 8, bh = 6 + int(named) * row_h + 2;
    bool rightside = opt.legend == LegendPosition::TopRight || opt.legend == LegendPosition::BottomRight;
    bool topside = opt.legend == LegendPosition::TopRight || opt.legend == LegendPosition::TopLeft;
    int bx = rightside ? left + pw - bw - 8 : left + 8, by = topside ? top + 8 : top + ph - bh - 8;
    fill_rectangle(img, bx, by, bx + bw, by + bh, colors::white);
    draw_rectangle(img, bx, by, bx + bw, by + bh, colors::grey);
    int row = 0;
    for (size_t k = 0; k < series.size(); ++k) {
      if (series[k].name.empty()) continue;
      Color c = series[k].color.value_or(kPalette[k % std::size(kPalette)]);
      int ry = by + 6 + row * row_h;
      int mid = ry + font::text_height(small) / 2;
      draw_line(img, bx + 8, mid, bx + 8 + sample, mid, c, opt.line_thickness);
      draw_text(img, bx + 8 + sample + 6, ry, series[k].name, colors::black, small);
      ++row;
    }
  }
  return img;
}

}  // namespace rfcf::io

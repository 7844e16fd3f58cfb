#pragma once
// PR curves of a WIDER FACE evaluation as a PNG (precision over recall, one line per setting,
// AP in the legend), rendered with io::plot_lines.
#include <cstdio>
#include <string>
#include <vector>

#include "rfcf/detection/widerface_eval.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/plot.hpp"

namespace rfcf::detection {

inline io::Image plot_pr_curves(const WiderEvalResult& r, const std::string& title = "WIDER FACE val",
                                int width = 640, int height = 480) {
  std::vector<io::Series> series;
  for (size_t s = 0; s < 3; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "%s AP %.4f", kWiderSettings[s], r.ap[s]);
    // NaN precisions (thresholds with no proposals) are skipped by plot_lines.
    series.push_back({name, r.curves[s].recall, r.curves[s].precision, std::nullopt});
  }
  io::PlotOptions o;
  o.title = title;
  o.x_label = "recall";
  o.y_label = "precision";
  o.x_min = 0;
  o.x_max = 1;
  o.y_min = 0;
  o.y_max = 1;
  o.width = width;
  o.height = height;
  o.legend = io::LegendPosition::BottomLeft;
  return io::plot_lines(series, o);
}

inline void write_pr_curves_png(const std::string& path, const WiderEvalResult& r,
                                const std::string& title = "WIDER FACE val") {
  io::write_png(path, plot_pr_curves(r, title));
}

}  // namespace rfcf::detection

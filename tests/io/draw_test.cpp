// Drawing primitives, the bitmap font, draw_detections and plot_lines. Set
// RFCF_TEST_OUTPUT_DIR to keep the rendered PNGs for a visual check.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "io/io_test_support.hpp"
#include "rfcf/io/draw.hpp"
#include "rfcf/io/plot.hpp"

using namespace rfcf;
using namespace rfcf::io;

static bool is(const Image& img, int x, int y, Color c) {
  const uint8_t* p = img.at(x, y);
  return img.order == ColorOrder::RGB ? (p[0] == c.r && p[1] == c.g && p[2] == c.b)
                                      : (p[0] == c.b && p[1] == c.g && p[2] == c.r);
}
static size_t count(const Image& img, Color c) {
  size_t n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) n += is(img, x, y, c);
  return n;
}
static void keep(const Image& img, const std::string& name) {
  if (const char* dir = std::getenv("RFCF_TEST_OUTPUT_DIR")) write_png(std::string(dir) + "/" + name, img);
}

TEST_CASE("rectangles, lines and circles are drawn and clipped", "[io][draw]") {
  Image img(40, 30, 3, ColorOrder::BGR);
  draw_rectangle(img, 5, 5, 20, 15, colors::red);
  CHECK(is(img, 5, 5, colors::red));
  CHECK(is(img, 20, 15, colors::red));
  CHECK(is(img, 12, 5, colors::red));
  CHECK(is(img, 5, 10, colors::red));
  CHECK(is(img, 12, 10, colors::black));  // interior untouched
  CHECK(img.at(5, 5)[0] == colors::red.b);  // BGR byte order
  CHECK(count(img, colors::red) == 2 * 16 + 2 * 9);

  Image c(21, 21, 3);
  fill_circle(c, 10, 10, 3, colors::green);
  CHECK(count(c, colors::green) == 29);  // lattice points with x^2 + y^2 <= 9
  fill_circle(c, -100, 1e30, 5, colors::green);  // far outside / wild: no effect, no crash
  CHECK(count(c, colors::green) == 29);

  Image l(10, 10, 1);
  draw_line(l, -5, 4, 50, 4, colors::white);  // clipped horizontal line
  size_t ink = 0;
  for (auto v : l.pixels) ink += v == 255;
  CHECK(ink == 10);
  draw_line(l, 0, 0, 9, 9, colors::white, 3);
  CHECK(l.at(9, 9)[0] == 255);
  CHECK(l.at(1, 0)[0] == 255);  // thick pen
}

TEST_CASE("bitmap font renders every character of labels", "[io][draw]") {
  Image img(200, 12, 3);
  draw_text(img, 1, 1, "0123456789", colors::white);
  size_t digits_ink = count(img, colors::white);
  size_t expected = 0;
  for (char ch : std::string("0123456789"))
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 5; ++x) expected += font::ink(font::glyph(ch), x, y);
  CHECK(digits_ink == expected);
  for (char ch : std::string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.%-:")) {
    INFO(ch);
    CHECK(font::glyph(ch).ch == ch);
  }
  CHECK(font::glyph('q').ch == 'Q');
  CHECK(font::glyph('~').ch == '?');
  // All glyphs are distinct.
  for (const auto& a : font::kGlyphs)
    for (const auto& b : font::kGlyphs)
      if (a.ch != b.ch) CHECK(std::string(a.rows) != std::string(b.rows));
  CHECK(font::text_width("ab", 2) == 22);
  Image big(100, 30, 3);
  draw_text(big, 0, 0, "8", colors::white, 3);
  CHECK(count(big, colors::white) == 9 * size_t(std::count(font::glyph('8').rows, font::glyph('8').rows + 35, '#')));
}

TEST_CASE("draw_detections draws boxes, scores and landmarks", "[io][draw]") {
  Image img = read_image(rfcf_test::io_fixture("synthetic.png"), ColorOrder::BGR);
  img = Image(160, 120, 3, ColorOrder::BGR, 90);
  std::vector<std::array<float, 4>> boxes = {{20, 30, 80, 100}, {100.5f, 10, 150, 60}};
  std::vector<float> scores = {0.998f, 0.51f};
  std::vector<std::array<float, 10>> marks = {{35, 55, 65, 55, 50, 70, 38, 85, 62, 85},
                                              {115, 25, 135, 25, 125, 35, 117, 48, 133, 48}};
  draw_detections(img, boxes, scores, marks);
  CHECK(is(img, 20, 60, colors::red));
  CHECK(is(img, 80, 60, colors::red));
  CHECK(is(img, 35, 55, colors::red));      // left eye point
  CHECK(is(img, 65, 55, colors::yellow));   // right eye point
  CHECK(is(img, 50, 70, colors::magenta));  // nose
  CHECK(count(img, colors::white) > 20);    // score label text
  keep(img, "detections.png");
  CHECK_THROWS_AS(draw_detections(img, boxes, {0.5f}), ShapeError);
  // Non-finite boxes are skipped silently instead of crashing.
  std::vector<std::array<float, 4>> wild = {{NAN, 0, 1e30f, -1e30f}};
  draw_detections(img, wild, {0.1f});
}

TEST_CASE("plot_lines renders axes, curves and legend", "[io][plot]") {
  Series a{"model A", {}, {}, {}}, b{"model B", {}, {}, {}};
  for (int i = 0; i <= 100; ++i) {
    double r = i / 100.0;
    a.x.push_back(r);
    a.y.push_back(1.0 - 0.6 * r * r * r);
    b.x.push_back(r);
    b.y.push_back(1.0 - 0.9 * r * r);
  }
  PlotOptions po;
  po.title = "PR curve - easy: 0.906";
  po.x_label = "recall";
  po.y_label = "precision";
  po.x_min = 0, po.x_max = 1, po.y_min = 0, po.y_max = 1;
  po.legend = LegendPosition::BottomLeft;
  Image pr = plot_lines({a, b}, po);
  REQUIRE(pr.width == 640);
  REQUIRE(pr.height == 480);
  CHECK(count(pr, plot_detail::kPalette[0]) > 300);  // curve A drawn
  CHECK(count(pr, plot_detail::kPalette[1]) > 300);
  CHECK(count(pr, colors::black) > 1500);            // frame, ticks, labels
  keep(pr, "pr_curve.png");

  Series roc{"ArcFace", {}, {}, {}};
  for (int i = -60; i <= 0; ++i) {
    double fpr = std::pow(10.0, i / 10.0);
    roc.x.push_back(fpr);
    roc.y.push_back(std::min(1.0, 0.9 + 0.02 * (6 + i / 10.0)));
  }
  roc.x.push_back(0.0);  // skipped on a log axis
  roc.y.push_back(0.5);
  PlotOptions ro;
  ro.title = "ROC";
  ro.x_label = "false positive rate";
  ro.y_label = "true positive rate";
  ro.log_x = true;
  ro.legend = LegendPosition::BottomRight;
  Image r = plot_lines({roc}, ro);
  CHECK(count(r, plot_detail::kPalette[0]) > 200);
  keep(r, "roc_curve.png");

  Series loss{"train loss", {}, {}, {}};
  for (int i = 0; i < 500; ++i) {
    loss.x.push_back(i * 10);
    loss.y.push_back(40.0 * std::exp(-i / 120.0) + 2.0 + 0.5 * std::sin(i * 0.7));
  }
  PlotOptions lo;
  lo.title = "Loss";
  lo.x_label = "iteration";
  lo.y_label = "loss";
  lo.width = 800, lo.height = 400;
  Image l = plot_lines({loss}, lo);
  CHECK(l.width == 800);
  keep(l, "loss_curve.png");

  CHECK_THROWS_AS(plot_lines({Series{"bad", {1, 2}, {1}, {}}}), ShapeError);
  PlotOptions tiny;
  tiny.width = 10;
  CHECK_THROWS_AS(plot_lines({a}, tiny), ConfigError);
  Image empty = plot_lines({});  // no data: axes only
  CHECK(count(empty, colors::black) > 100);
}

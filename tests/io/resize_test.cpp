// Resizing against cv2.resize fixtures (tests/fixtures/io/make_image_fixtures.py) and the
// pixel conversions (channel order, tensor, crop, flip, pad) against naive expectations.
#include <catch2/catch.hpp>

#include <cstring>

#include "io/io_test_support.hpp"
#include "rfcf/io/image_ops.hpp"
#include "rfcf/io/resize.hpp"

using namespace rfcf;
using namespace rfcf::io;
using rfcf_test::io_fixture;

static Image pattern_bgr() { return read_image(io_fixture("synthetic.png"), ColorOrder::BGR); }

static int max_diff(const Image& a, const std::vector<uint8_t>& b, int* count_off = nullptr) {
  REQUIRE(a.pixels.size() == b.size());
  int m = 0, n = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    int d = std::abs(int(a.pixels[i]) - int(b[i]));
    m = std::max(m, d);
    n += d != 0;
  }
  if (count_off) *count_off = n;
  return m;
}

TEST_CASE("uint8 resize matches cv2.resize", "[io][resize]") {
  Image src = pattern_bgr();
  struct Case {
    const char* name;
    Interpolation interp;
    int tolerance;
  };
  const Case cases[] = {{"nearest", Interpolation::Nearest, 0}, {"linear", Interpolation::Linear, 0},
                        {"cubic", Interpolation::Cubic, 1},     {"area", Interpolation::Area, 1},
                        {"lanczos4", Interpolation::Lanczos4, 1}};
  const int sizes[][2] = {{31, 23}, {24, 20}, {16, 10}, {77, 61}, {96, 80}};
  for (const auto& c : cases)
    for (const auto& s : sizes) {
      std::string file = std::string("resize_") + c.name + "_" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + ".bin";
      std::vector<uint8_t> expected = rfcf_test::slurp(io_fixture(file));
      Image out = resize(src, s[0], s[1], c.interp);
      REQUIRE(out.width == s[0]);
      REQUIRE(out.height == s[1]);
      int off = 0;
      int d = max_diff(out, expected, &off);
      INFO(file << ": max diff " << d << ", " << off << " values differ");
      CHECK(d <= c.tolerance);
      if (c.tolerance > 0) CHECK(off * 20 < int(expected.size()));  // off by one only rarely
    }
  CHECK(resize(src, 48, 40, Interpolation::Cubic).pixels == src.pixels);
  CHECK_THROWS_AS(resize(src, 0, 5), ShapeError);
  CHECK_THROWS_AS(resize(Image(), 5, 5), ShapeError);
}

TEST_CASE("float bilinear resize matches cv2.resize", "[io][resize]") {
  Image src = pattern_bgr();
  std::vector<float> f(src.pixels.size());
  const float mean[3] = {104, 117, 123};
  for (size_t i = 0; i < f.size(); ++i) f[i] = float(src.pixels[i]) - mean[i % 3];
  for (auto [w, h] : {std::pair{31, 23}, std::pair{77, 61}}) {
    std::vector<uint8_t> raw = rfcf_test::slurp(io_fixture("resize_float_linear_" + std::to_string(w) + "x" + std::to_string(h) + ".bin"));
    std::vector<float> expected(raw.size() / 4);
    std::memcpy(expected.data(), raw.data(), raw.size());
    std::vector<float> out(size_t(w) * size_t(h) * 3);
    resize_bilinear(f.data(), 48, 40, 3, out.data(), w, h);
    REQUIRE(out.size() == expected.size());
    float m = 0;
    for (size_t i = 0; i < out.size(); ++i) m = std::max(m, std::abs(out[i] - expected[i]));
    CHECK(m < 1e-4f);
    // The NCHW tensor version resizes each plane the same way.
    Tensor<float, cpu> t = to_tensor(src, {104, 117, 123});
    Tensor<float, cpu> r = resize_bilinear(t, h, w);
    REQUIRE(r.shape() == Shape{1, 3, h, w});
    float mt = 0;
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < w * h; ++i) mt = std::max(mt, std::abs(r.data()[c * w * h + i] - expected[size_t(i) * 3 + size_t(c)]));
    CHECK(mt < 1e-4f);
  }
}

TEST_CASE("channel order, tensor conversion, crop, flip, pad", "[io][image]") {
  Image bgr = pattern_bgr();
  Image rgb = to_rgb(bgr);
  CHECK(rgb.order == ColorOrder::RGB);
  CHECK(rgb.at(5, 7)[0] == bgr.at(5, 7)[2]);
  CHECK(rgb.at(5, 7)[1] == bgr.at(5, 7)[1]);
  CHECK(to_bgr(rgb).pixels == bgr.pixels);
  CHECK(to_rgb(rgb).pixels == rgb.pixels);

  Tensor<float, cpu> t = to_tensor(bgr, {104.f, 117.f, 123.f}, {1.f, 0.5f, 2.f});
  REQUIRE(t.shape() == Shape{1, 3, 40, 48});
  for (int c = 0; c < 3; ++c) {
    const float mean[3] = {104.f, 117.f, 123.f}, scale[3] = {1.f, 0.5f, 2.f};
    for (int y : {0, 13, 39})
      for (int x : {0, 29, 47})
        CHECK(t.data()[(c * 40 + y) * 48 + x] == (float(bgr.at(x, y)[c]) - mean[c]) * scale[c]);
  }

  Image c = crop(bgr, 3, 4, 10, 6);
  REQUIRE(c.width == 10);
  REQUIRE(c.height == 6);
  CHECK(std::memcmp(c.at(2, 5), bgr.at(5, 9), 3) == 0);
  CHECK_THROWS_AS(crop(bgr, 40, 0, 10, 5), ShapeError);
  CHECK_THROWS_AS(crop(bgr, -1, 0, 2, 2), ShapeError);

  Image fh = flip_horizontal(bgr);
  CHECK(std::memcmp(fh.at(0, 3), bgr.at(47, 3), 3) == 0);
  CHECK(flip_horizontal(fh).pixels == bgr.pixels);
  Image fv = flip_vertical(bgr);
  CHECK(std::memcmp(fv.at(4, 0), bgr.at(4, 39), 3) == 0);

  Image p = pad(bgr, 1, 2, 3, 4, {104, 117, 123});
  REQUIRE(p.width == 55);
  REQUIRE(p.height == 43);
  CHECK(p.at(0, 0)[0] == 104);
  CHECK(p.at(54, 42)[2] == 123);
  CHECK(std::memcmp(p.at(3, 1), bgr.at(0, 0), 3) == 0);
  CHECK(std::memcmp(p.at(50, 40), bgr.at(47, 39), 3) == 0);
  CHECK_THROWS_AS(pad(bgr, -1, 0, 0, 0), ShapeError);
}
